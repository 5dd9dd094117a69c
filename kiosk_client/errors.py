"""Kiosk errors: each one is a single clear line for the person at the kiosk PC."""

from __future__ import annotations

# Exit code for any bad configuration (token, meeting, source, font): not retried.
EXIT_CONFIG = 2


class KioskError(Exception):
    """Root of every error the kiosk raises on purpose; str() is the one line to show."""

    code = "kiosk_error"
    exit_code = EXIT_CONFIG

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class SourceError(KioskError):
    """The camera, video file or image folder cannot be opened or read."""

    code = "source_error"


class FontMissing(KioskError):
    """No font with Chinese glyphs was found for the screen."""

    code = "font_missing"


class ServerRefused(KioskError):
    """The server refused this kiosk for good (bad token, not bound, unknown or closed meeting,
    replaced by another kiosk with the same token): never retried."""

    code = "server_refused"


class BadServerUrl(KioskError):
    """The --server address is not a usable http(s):// or ws(s):// URL."""

    code = "bad_server_url"


class DisplayError(KioskError):
    """No screen window can be opened (no graphical desktop)."""

    code = "display_error"
