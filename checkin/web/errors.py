"""The one error shape of the API, and the one place where error classes become HTTP statuses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from checkin.errors import (
    BaodaoError,
    ConfigError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooLarge,
    TooManyAttempts,
    Unauthorized,
)
from checkin.faces.errors import FaceEngineError, ModelFileError

# Most specific first: the first class an error is an instance of decides its status.
STATUS: tuple[tuple[type[BaodaoError], int], ...] = (
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (TooLarge, 413),
    (TooManyAttempts, 429),
    (InvalidInput, 422),
    (FaceEngineError, 422),
    (ModelFileError, 500),
    (ConfigError, 500),
)


def status_for(exc: BaodaoError) -> int:
    """The HTTP status of a Baodao error (400 for any error not listed)."""
    return next((status for cls, status in STATUS if isinstance(exc, cls)), 400)


def error_body(code: str, message: str) -> dict[str, str]:
    """The one error response shape of the API."""
    return {"error": code, "message": message}


def install(app: FastAPI) -> None:
    """Answer every error, ours, Starlette's and validation's, in the one shape."""

    @app.exception_handler(BaodaoError)
    async def _baodao_error(_: Request, exc: BaodaoError) -> JSONResponse:
        headers = {}
        if isinstance(exc, TooManyAttempts):
            headers["Retry-After"] = str(exc.retry_after)
        return JSONResponse(
            error_body(exc.code, exc.message), status_code=status_for(exc), headers=headers
        )

    @app.exception_handler(IntegrityError)
    async def _integrity_error(_: Request, exc: IntegrityError) -> JSONResponse:
        # Services check for duplicates first; a unique constraint still fires when a
        # concurrent request created the same thing between that check and the commit.
        return JSONResponse(
            error_body("conflict", "与已有数据冲突，请刷新后重试 (conflicts with existing data)"),
            status_code=409,
        )

    @app.exception_handler(PoolTimeout)
    async def _pool_timeout(_: Request, exc: PoolTimeout) -> JSONResponse:
        # Every database connection of this process stayed busy for db_pool_timeout seconds:
        # say so at once (the client may retry) instead of stalling.
        return JSONResponse(
            error_body("busy", "服务器繁忙，请稍后重试 (no free database connection)"),
            status_code=503,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return JSONResponse(
            error_body("invalid_input", f"{where}: {first['msg']}"), status_code=422
        )
