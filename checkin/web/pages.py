"""Browser pages: login, meetings, the big screen, the operator page, the printable sheet."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from checkin.errors import NotFound
from checkin.meetings import reports, service
from checkin.meetings.status import status
from checkin.web.deps import SESSION_COOKIE
from models import Role, User

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)


def _staff(request: Request) -> User | None:
    """The logged-in staff user of the cookie, or None."""
    token = request.cookies.get(SESSION_COOKIE)
    uid = request.app.state.signer.user_id(token) if token else None
    if uid is None:
        return None
    with request.app.state.sessions() as session:
        user = session.get(User, uid)
        ok = user is not None and user.active and user.role in (Role.ADMIN, Role.SECRETARIAT)
        return user if ok else None


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _meeting_page(request: Request, meeting_id: int, template: str) -> Response:
    user = _staff(request)
    if user is None:
        return _to_login(request)
    settings = request.app.state.settings
    with request.app.state.sessions() as session:
        try:
            st = status(session, meeting_id, zone=settings.timezone)
        except NotFound:
            return HTMLResponse("<h1>没有这个会议</h1>", status_code=404)
    return templates.TemplateResponse(
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
def login_page(request: Request, next: str = "/meetings") -> Response:
    if not next.startswith("/") or next.startswith("//"):
        next = "/meetings"
    return templates.TemplateResponse(request, "login.html", {"next": next})


@router.get("/")
def index() -> RedirectResponse:
    return RedirectResponse("/meetings", status_code=303)


@router.get("/meetings")
def meetings_page(request: Request) -> Response:
    user = _staff(request)
    if user is None:
        return _to_login(request)
    with request.app.state.sessions() as session:
        rows = [
            {"id": m.id, "title": m.title, "body": m.body.name, "starts_at": m.starts_at}
            for m in service.get_all_meetings(session)
        ]
    return templates.TemplateResponse(request, "service.html", {"user": user, "meetings": rows})


@router.get("/meetings/{meeting_id}/screen")
def screen_page(request: Request, meeting_id: int) -> Response:
    """The big screen (大屏): counts, quorum line, arrivals, who is missing."""
    return _meeting_page(request, meeting_id, "screen.html")


@router.get("/meetings/{meeting_id}/operator")
def operator_page(request: Request, meeting_id: int) -> Response:
    """The operator page: the same data plus leave, make-up, undo, departure."""
    return _meeting_page(request, meeting_id, "operator.html")


@router.get("/meetings/{meeting_id}/sheet")
def sheet_page(request: Request, meeting_id: int) -> Response:
    """The printable attendance sheet."""
    user = _staff(request)
    if user is None:
        return _to_login(request)
    with request.app.state.sessions() as session:
        try:
            sheet = reports.build_sheet(
                session, meeting_id, zone=request.app.state.settings.timezone
            )
        except NotFound:
            return HTMLResponse("<h1>没有这个会议</h1>", status_code=404)
    return templates.TemplateResponse(
        request, "sheet.html", {"sheet": sheet, "headers": reports.HEADERS}
    )


def mount(app: FastAPI) -> None:
    """Add the pages and the static files to the app."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)
