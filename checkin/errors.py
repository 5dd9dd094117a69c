"""One root exception with typed subclasses; the app maps them to HTTP in one handler."""

from __future__ import annotations


class BaodaoError(Exception):
    """Root of every error Baodao raises on purpose."""

    status_code = 400
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
    status_code = 404
    code = "not_found"


class Conflict(BaodaoError):
    status_code = 409
    code = "conflict"


class InvalidInput(BaodaoError):
    status_code = 422
    code = "invalid_input"


class Unauthorized(BaodaoError):
    status_code = 401
    code = "unauthorized"


class Forbidden(BaodaoError):
    status_code = 403
    code = "forbidden"
