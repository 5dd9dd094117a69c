"""Browser pages: login, password change, meetings, the big screen, the operator page, the
printable sheet, and the API docs (local assets, staff only)."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from checkin.accounts.service import user_for_token
from checkin.errors import NotFound
from checkin.meetings import reports, service
from checkin.meetings.status import status
from checkin.protocol import Int64
from checkin.web.deps import SESSION_COOKIE, session_token
from checkin.web.errors import error_body
from models import Role, User

HERE = Path(__file__).parent
# Swagger UI and ReDoc as shipped inside the pinned fastapi-offline wheel (MIT; the bundles
# carry their own licence headers): the docs work on an intranet without internet.
DOCS_ASSETS = Path(str(files("fastapi_offline") / "static"))
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)
HOME = "/meetings"
# The docs pages may load nothing from elsewhere (ReDoc would fetch its logo from a CDN).
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline' blob:; worker-src 'self' blob:; font-src 'self' data:"
)


def safe_next(target: str) -> str:
    """A local path to go to after login, else /meetings.

    Refused: anything with a scheme or host (`https://evil`, `//evil`), backslashes (browsers
    read `/\\evil` as `//evil`), control characters, and the same hidden behind %-encoding.
    """
    decoded = target
    for _ in range(3):  # %255C → %5C → \
        decoded = unquote(decoded)
    for candidate in (target, decoded):
        if (
            not candidate.startswith("/")
            or candidate.startswith("//")
            or "\\" in candidate
            or re.search(r"[\x00-\x1f\x7f]", candidate)
        ):
            return HOME
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return HOME
    return target


def _account(request: Request) -> User | None:
    """The active account of the session cookie (staff roles), or None."""
    with request.app.state.sessions() as session:
        token = request.cookies.get(SESSION_COOKIE)
        user = user_for_token(session, request.app.state.signer, token)
        ok = user is not None and user.role in (Role.ADMIN, Role.SECRETARIAT)
        return user if ok else None


def _here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _to(path: str, request: Request) -> RedirectResponse:
    return RedirectResponse(f"{path}?next={quote(_here(request), safe='')}", status_code=303)


def _staff(request: Request) -> User | RedirectResponse:
    """The logged-in staff user, or the redirect to log in or to change the password first."""
    user = _account(request)
    if user is None:
        return _to("/login", request)
    if user.must_change_password:
        return _to("/password", request)
    return user


def _page(request: Request, template: str, context: dict[str, Any]) -> Response:
    """Render a page; logged-in pages carry the CSRF token their scripts send with writes."""
    token = request.cookies.get(SESSION_COOKIE)
    csrf = request.app.state.signer.csrf_token(token) if token else ""
    return templates.TemplateResponse(request, template, {"csrf_token": csrf, **context})


def _meeting_page(request: Request, meeting_id: int, template: str) -> Response:
    user = _staff(request)
    if isinstance(user, RedirectResponse):
        return user
    settings = request.app.state.settings
    with request.app.state.sessions() as session:
        try:
            st = status(session, meeting_id, zone=settings.timezone)
        except NotFound:
            return HTMLResponse("<h1>没有这个会议</h1>", status_code=404)
    return _page(
        request,
        template,
        {
            "user": user,
            "meeting_id": meeting_id,
            "status": st,
            "heartbeat_ms": int(settings.live_heartbeat_seconds * 1000),
        },
    )


@router.get("/login")
def login_page(request: Request, next: str = HOME) -> Response:
    return _page(request, "login.html", {"next": safe_next(next)})


@router.get("/password")
def password_page(request: Request, next: str = HOME) -> Response:
    """修改密码: required after the first login with a password someone else chose."""
    user = _account(request)
    if user is None:
        return _to("/login", request)
    return _page(
        request,
        "password.html",
        {"user": user, "next": safe_next(next), "forced": user.must_change_password},
    )


@router.get("/")
def index() -> RedirectResponse:
    return RedirectResponse(HOME, status_code=303)


@router.get("/meetings")
def meetings_page(request: Request) -> Response:
    user = _staff(request)
    if isinstance(user, RedirectResponse):
        return user
    with request.app.state.sessions() as session:
        rows = [
            {"id": m.id, "title": m.title, "body": m.body.name, "starts_at": m.starts_at}
            for m in service.get_all_meetings(session)
        ]
    return _page(request, "meetings.html", {"user": user, "meetings": rows})


@router.get("/meetings/{meeting_id}/screen")
def screen_page(request: Request, meeting_id: Int64) -> Response:
    """The big screen (大屏): counts, quorum line, arrivals, who is missing."""
    return _meeting_page(request, meeting_id, "screen.html")


@router.get("/meetings/{meeting_id}/operator")
def operator_page(request: Request, meeting_id: Int64) -> Response:
    """The operator page: the same data plus leave, make-up, undo, departure."""
    return _meeting_page(request, meeting_id, "operator.html")


@router.get("/meetings/{meeting_id}/sheet")
def sheet_page(request: Request, meeting_id: Int64) -> Response:
    """The printable attendance sheet."""
    user = _staff(request)
    if isinstance(user, RedirectResponse):
        return user
    with request.app.state.sessions() as session:
        try:
            sheet = reports.build_sheet(
                session, meeting_id, zone=request.app.state.settings.timezone
            )
        except NotFound:
            return HTMLResponse("<h1>没有这个会议</h1>", status_code=404)
    return _page(request, "sheet.html", {"sheet": sheet, "headers": reports.HEADERS})


@router.get("/openapi.json")
def openapi(request: Request) -> Response:
    """The OpenAPI schema, for logged-in staff (cookie or bearer)."""
    with request.app.state.sessions() as session:
        user = user_for_token(session, request.app.state.signer, session_token(request))
    if user is None:
        return JSONResponse(error_body("unauthorized", "请先登录 (login required)"), 401)
    if user.must_change_password:
        message = "请先修改初始密码 (change your password first)"
        return JSONResponse(error_body("password_change_required", message), 403)
    return JSONResponse(request.app.openapi())


@router.get("/docs")
def swagger_page(request: Request) -> Response:
    """Swagger UI from local assets; its writes carry the CSRF token."""
    user = _staff(request)
    if isinstance(user, RedirectResponse):
        return user
    page = _page(request, "docs.html", {"user": user})
    page.headers["Content-Security-Policy"] = DOCS_CSP
    return page


@router.get("/redoc")
def redoc_page(request: Request) -> Response:
    user = _staff(request)
    if isinstance(user, RedirectResponse):
        return user
    page = get_redoc_html(
        openapi_url="/openapi.json",
        title="Baodao 报到 API",
        redoc_js_url="/docs-assets/redoc.standalone.js",
        redoc_favicon_url="/docs-assets/favicon.png",
        with_google_fonts=False,
    )
    page.headers["Content-Security-Policy"] = DOCS_CSP
    return page


def mount(app: FastAPI) -> None:
    """Add the pages, the static files and the docs' assets to the app."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    app.include_router(router)
