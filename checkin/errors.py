"""One root exception with typed subclasses; the web layer maps them to HTTP in one place.

The classes say what went wrong, never how a transport reports it: `checkin.web.errors`
turns them into HTTP answers, the CLI into one line and exit code 2.
"""

from __future__ import annotations


class BaodaoError(Exception):
    """Root of every error Baodao raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ConfigError(BaodaoError):
    """Settings, database URL or data folder unusable."""

    code = "config_error"


class NotFound(BaodaoError):
    code = "not_found"


class Conflict(BaodaoError):
    code = "conflict"


class InvalidInput(BaodaoError):
    code = "invalid_input"


class TooLarge(BaodaoError):
    """An upload or request body over its limit."""

    code = "payload_too_large"


class Unauthorized(BaodaoError):
    code = "unauthorized"


class Forbidden(BaodaoError):
    code = "forbidden"


class PasswordChangeRequired(Forbidden):
    """The account's password was chosen by someone else and must be changed first."""

    code = "password_change_required"


class TooManyAttempts(BaodaoError):
    """Too many wrong passwords: wait `retry_after` seconds."""

    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
