"""What is decided before a route reads its body: size, credentials, forced password change, CSRF.

FastAPI reads and parses a request body before it solves the route's dependencies, so a
check in a dependency comes too late: a 400 MB JSON body without credentials would be
parsed first. `Gate` is a pure ASGI middleware that answers at once, from the headers:
- 413 when `Content-Length` is over the route's limit; a body without one (chunked) is
  counted as it arrives and cut off at the limit;
- 401 on `/api` without a valid session (cookie or bearer; the kiosk's own routes check
  its kiosk token themselves), and 403
  `password_change_required` while the account must change its password;
- 403 `csrf_failed` for a cookie-authenticated write without the page's `X-CSRF-Token`, or
  from a foreign `Origin`/`Referer` (bearer requests are not affected: browsers never add
  that header on their own);
- 500 in the one error shape, logged with its traceback, for anything unexpected.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from checkin.accounts.service import user_for_token
from checkin.settings import Settings
from checkin.web.api.deputies import MAX_PHOTOS_PER_UPLOAD
from checkin.web.api.kiosk import KIOSK_ROUTES
from checkin.web.deps import CSRF_HEADER, SESSION_COOKIE, bearer

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_API = frozenset({("POST", "/api/auth/login"), ("POST", "/api/auth/logout")})
# What an account that must change its password may still do.
WHILE_CHANGE_REQUIRED = frozenset(
    {("GET", "/api/auth/me"), ("POST", "/api/auth/logout"), ("POST", "/api/auth/password")}
)
MULTIPART_OVERHEAD = 1_000_000


@dataclass(frozen=True)
class BodyLimit:
    """A route class and its largest body; the first matching row wins."""

    name: str
    method: str
    path: re.Pattern[str]
    limit: Callable[[Settings], int]


BODY_LIMITS: tuple[BodyLimit, ...] = (
    BodyLimit(
        "photos",
        "POST",
        re.compile(r"^/api/deputies/[^/]+/photos$"),
        lambda s: MAX_PHOTOS_PER_UPLOAD * s.max_image_bytes + MULTIPART_OVERHEAD,
    ),
    # The bulk import (a roster and a ZIP of photos) will live under /api/imports.
    BodyLimit("import", "POST", re.compile(r"^/api/imports(/.*)?$"), lambda s: s.max_import_bytes),
)


def body_limit(settings: Settings, method: str, path: str) -> int:
    """The largest body accepted for this route: its class's limit, else max_json_bytes."""
    for row in BODY_LIMITS:
        if row.method == method and row.path.match(path):
            return row.limit(settings)
    return settings.max_json_bytes


def _origin_of(url: str) -> str | None:
    """scheme://host[:port] of a URL, lower case, without a default port; None if not one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        return None
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    default = 443 if scheme == "https" else 80
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def origin_allowed(origin: str, host: str, allowed: list[str]) -> bool:
    """Whether a browser `Origin` is this server's own (its Host header) or a configured one."""
    theirs = _origin_of(origin)
    if theirs is None:  # "null" (sandboxed frames, files) and garbage are foreign
        return False
    if theirs in allowed:
        return True
    own_host = host.strip().lower()
    for scheme in ("http", "https"):
        if _origin_of(f"{scheme}://{own_host}") == theirs:
            return True
    return False


def headers_of(scope: Scope) -> dict[str, str]:
    """Request headers (lower-case names; the last of repeated ones)."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    return {"status": status, "code": code, "message": message}


BUSY = _error(503, "busy", "服务器繁忙，请稍后重试 (no free database connection)")


async def send_error(send: Send, err: dict[str, Any]) -> None:
    """Send a complete JSON error response in the one shape."""
    body = json.dumps({"error": err["code"], "message": err["message"]}, ensure_ascii=False)
    data = body.encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
    if err["status"] == 503:
        headers.append((b"retry-after", b"1"))
    # The body is not read: tell the client not to reuse the connection for another request.
    headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": err["status"], "headers": headers})
    await send({"type": "http.response.body", "body": data})


class BodyTooLarge(Exception):
    """Raised to the route when its streamed body passed the limit (it is answered already)."""


class Gate:
    """The ASGI middleware described in the module docstring; reads collaborators from app.state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        settings: Settings = state.settings
        method, path = scope["method"], scope["path"]
        headers = headers_of(scope)
        refusal = await self._refusal(state, settings, method, path, headers)
        if refusal is not None:
            await send_error(send, refusal)
            return
        await self._run(scope, receive, send, body_limit(settings, method, path))

    async def _refusal(
        self, state: Any, settings: Settings, method: str, path: str, headers: dict[str, str]
    ) -> dict[str, Any] | None:
        limit = body_limit(settings, method, path)
        length = headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                return _error(400, "invalid_input", "Content-Length 无效 (bad Content-Length)")
            if int(length) > limit:
                return _too_large(limit)
        token = bearer(headers)
        session_cookie = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE) or None
        # KIOSK_ROUTES authenticate the kiosk token themselves (a bearer, no staff session).
        if (
            path.startswith("/api/")
            and (method, path) not in PUBLIC_API
            and (method, path) not in KIOSK_ROUTES
        ):
            try:
                user = await anyio.to_thread.run_sync(_lookup, state, token or session_cookie)
            except PoolTimeout:  # every connection busy: say so now (errors.py does the same)
                return BUSY
            if user is None:
                return _error(401, "unauthorized", "请先登录 (login required)")
            if user.must_change_password and (method, path) not in WHILE_CHANGE_REQUIRED:
                return _error(
                    403,
                    "password_change_required",
                    "请先修改初始密码 (change your password first: POST /api/auth/password)",
                )
        if method not in SAFE_METHODS and token is None:
            source = headers.get("origin") or headers.get("referer")
            if source and not origin_allowed(
                source, headers.get("host", ""), settings.allowed_origins
            ):
                return _error(403, "csrf_failed", "跨站请求被拒绝 (cross-origin request refused)")
            if session_cookie and path != "/api/auth/login":
                sent = headers.get(CSRF_HEADER, "")
                if not sent or not state.signer.csrf_ok(session_cookie, sent):
                    return _error(
                        403,
                        "csrf_failed",
                        "缺少或无效的 CSRF 令牌，请刷新页面 (missing or bad X-CSRF-Token)",
                    )
        return None

    async def _run(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        started = False
        answered = False  # by the gate itself: the app's own answer is dropped

        async def counted_receive() -> Message:
            nonlocal received, answered
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not started and not answered:
                        answered = True
                        await send_error(send, _too_large(limit))
                    raise BodyTooLarge(f"body over {limit} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if answered:
                return
            logger.exception("unexpected error in %s %s", scope["method"], scope["path"])
            if started:
                raise
            await send_error(
                send, _error(500, "internal_error", "服务器内部错误 (internal server error)")
            )


def _too_large(limit: int) -> dict[str, Any]:
    return _error(
        413,
        "payload_too_large",
        f"请求内容超过 {limit:,} 字节上限 (request body over the limit)",
    )


@dataclass(frozen=True)
class _Account:
    id: int
    must_change_password: bool


def _lookup(state: Any, token: str | None) -> _Account | None:
    if not token:
        return None
    with state.sessions() as session:
        user = user_for_token(session, state.signer, token)
        return _Account(user.id, user.must_change_password) if user is not None else None
