"""Browser pages: login, password change, meetings, the big screen, the operator page, the
printable sheet, the term record (terms, the term report and its A4 print, a deputy's
出席记录), and the API docs (local assets, staff only)."""

from __future__ import annotations

import re
from html import escape
from importlib.resources import files
from itertools import groupby
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from checkin.accounts.scope import Scope, scope_of
from checkin.accounts.service import user_for_token
from checkin.errors import BaodaoError, NotFound
from checkin.meetings import history, plots, reports, service, terms
from checkin.meetings.history import meeting_columns_by_session
from checkin.meetings.outcomes import MARK_LABELS, MARK_SYMBOLS, Mark
from checkin.meetings.overview import attendance_counts
from checkin.meetings.status import status
from checkin.protocol import Int64
from checkin.web.api.terms import build_record, build_report
from checkin.web.deps import SESSION_COOKIE, session_token
from checkin.web.errors import error_body, status_for
from models import Role, User, utcnow

HERE = Path(__file__).parent
# Swagger UI and ReDoc as shipped inside the pinned fastapi-offline wheel (MIT; the bundles
# carry their own licence headers): the docs work on an intranet without internet.
DOCS_ASSETS = Path(str(files("fastapi_offline") / "static"))
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["cell"] = reports.cell_text
LEGEND = [
    (m.value, MARK_SYMBOLS[m], MARK_LABELS[m])
    for m in (Mark.PRESENT, Mark.LATE, Mark.MANUAL, Mark.LEFT, Mark.LEAVE, Mark.ABSENT, Mark.NONE)
]
router = APIRouter(include_in_schema=False)
NAV = [
    ("/meetings", "会议"),
    ("/console/meetings/new", "新建会议"),
    ("/console/deputies", "代表管理"),
    ("/console/import", "批量导入"),
    ("/console/bodies", "会议机构"),
    ("/console/kiosks", "签到终端"),
    ("/console/accounts", "账号"),
    ("/terms", "届次"),
]
ADMIN_ONLY = frozenset(
    (
        "/console/deputies",
        "/console/import",
        "/console/bodies",
        "/console/kiosks",
        "/console/accounts",
    )
)


def console_nav(user: User) -> list[tuple[str, str]]:
    """The console's menu for this account (admin pages only for admins)."""
    admin = user.role is Role.ADMIN
    return [(href, label) for href, label in NAV if admin or href not in ADMIN_ONLY]


WINDOW_LABELS = {"not_open": "未开始", "open": "进行中", "closed": "已结束"}
STATE_LABELS = {"draft": "未开始签到", "open": "签到中", "closed": "已结束"}
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


def _scope(request: Request, user: User) -> Scope:
    with request.app.state.sessions() as session:
        return scope_of(session, user)


def _meeting_page(request: Request, meeting_id: int, template: str) -> Response:
    user = _staff(request)
    if isinstance(user, RedirectResponse):
        return user
    settings = request.app.state.settings
    with request.app.state.sessions() as session:
        try:
            meeting = service.get_meeting(session, meeting_id, scope=scope_of(session, user))
            st = status(session, meeting_id, zone=settings.timezone)
        except NotFound:
            return HTMLResponse("<h1>没有这个会议</h1>", status_code=404)
        starts = meeting.starts_at
    local = starts.astimezone(ZoneInfo(settings.timezone))
    return _page(
        request,
        template,
        {
            "user": user,
            "meeting_id": meeting_id,
            "status": st,
            "heartbeat_ms": int(settings.live_heartbeat_seconds * 1000),
            "timezone": settings.timezone,
            "started": utcnow() >= starts,
            "starts_label": f"{local.month}月{local.day}日 {local:%H:%M} 开始",
            "window_label": WINDOW_LABELS.get(st.meeting.window, st.meeting.window),
            "live_hosts": ",".join(settings.live_hosts),
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
    """The meetings of the account's scope: local start time, state, 应到/实到."""
    user = _staff(request)
    if isinstance(user, RedirectResponse):
        return user
    zone = ZoneInfo(request.app.state.settings.timezone)
    with request.app.state.sessions() as session:
        meetings = service.get_all_meetings(session, scope=scope_of(session, user))
        counts = attendance_counts(session, [m.id for m in meetings])
        rows = [
            {
                "id": m.id,
                "title": m.title,
                "body": m.body.name,
                "starts_at": m.starts_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                "state": STATE_LABELS.get(m.state.value, m.state.value),
                "state_key": m.state.value,
                "expected": counts.get(m.id, (0, 0))[0],
                "present": counts.get(m.id, (0, 0))[1],
            }
            for m in meetings
        ]
    return _page(
        request, "meetings.html", {"user": user, "meetings": rows, "nav": console_nav(user)}
    )


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
                session,
                meeting_id,
                scope=scope_of(session, user),
                zone=request.app.state.settings.timezone,
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


def _error_page(exc: BaodaoError) -> HTMLResponse:
    return HTMLResponse(
        f"<h1>{escape(exc.message)}</h1><p><a href='/terms'>返回届次列表</a></p>",
        status_code=status_for(exc),
    )


@router.get("/terms")
def terms_page(request: Request, body_id: str = "") -> Response:
    """Terms with their sessions and meetings; links to each term's report."""
    user = _staff(request)
    if isinstance(user, RedirectResponse):
        return user
    with request.app.state.sessions() as session:
        scope = scope_of(session, user)
        bodies = service.get_all_bodies(session, scope=scope)
        chosen = int(body_id) if body_id.isdigit() else None
        rows = [
            {
                "term": t,
                "name": terms.term_name(t),
                "sessions": [
                    (cs, terms.meetings_of(session, cs.id))
                    for cs in terms.sessions_of(session, t.id)
                ],
            }
            for t in terms.get_all_terms(session, scope=scope, body_id=chosen)
        ]
        return _page(
            request,
            "terms.html",
            {"user": user, "rows": rows, "bodies": bodies, "body_id": chosen},
        )


PLAIN = {Mark.PRESENT.value, Mark.ABSENT.value}  # the mark says it all: no tooltip
COUNT_KEYS = ("expected", "attended", "late", "manual", "left", "leave", "absent")


def _matrix_body(report: history.TermReport, sizes: list[int], ncols: int) -> Markup:
    """The matrix's rows as HTML (group lines, marks, session conclusions, counts), built here
    rather than in the template: escaping 40,000 cells one by one in Jinja took most of the
    page's time."""
    out: list[str] = []
    term = report.term.id
    index = 0
    for group, members in groupby(report.rows, lambda r: r.delegation):
        people = list(members)
        if report.grouped:
            label = escape(f"{group}（{len(people)} 人）")
            out.append(f'<tr class="group-row"><th colspan="{ncols}">{label}</th></tr>')
        for row in people:
            index += 1
            number, name = escape(row.number), escape(row.name)
            out.append(
                f'<tr data-number="{number}" data-flag="{row.flag}"><td>{index}</td>'
                f'<td>{number}</td><td><a href="/deputies/{number}/record?term_id={term}">'
                f'{name}</a></td><td class="mandate">{escape(row.mandate)}</td>'
            )
            start = 0
            for size, sc in zip(sizes, row.sessions, strict=True):
                for c in row.cells[start : start + size]:
                    title = "" if c.mark in PLAIN else f' title="{escape(c.detail)}"'
                    out.append(f'<td class="m m-{c.mark}"{title}>{c.symbol}</td>')
                out.append(f'<td class="s s-{sc.mark}" title="{sc.label}">{sc.symbol}</td>')
                start += size
            counts = row.counts
            out.extend(f'<td data-key="{k}">{getattr(counts, k)}</td>' for k in COUNT_KEYS)
            out.append(
                f'<td data-key="rate">{counts.rate_label}</td>'
                f'<td data-key="absent_sessions">{len(row.absent_sessions)}</td>'
                f'<td data-key="flag" class="flag-{row.flag}">{row.flag_label}</td></tr>'
            )
    return Markup("".join(out))


def render_term_report(request: Request, report: history.TermReport, *, printable: bool) -> str:
    """The term report page (or its A4 print) as HTML, the plot inlined as SVG."""
    svg = plots.attendance_plot(report, "svg").decode()
    svg = svg[svg.index("<svg") :]  # drop the XML prolog and DOCTYPE inside HTML
    blocks = list(meeting_columns_by_session(report))
    ncols = 4 + sum(len(ms) + 1 for _, ms in blocks) + 10
    return templates.get_template("term_report.html").render(
        report=report,
        blocks=blocks,
        body=_matrix_body(report, [len(ms) for _, ms in blocks], ncols),
        legend=LEGEND,
        plot_svg=svg,
        printable=printable,
        query=request.url.query,
        filter_text=reports.filter_text(report),
    )


def _term_report_page(request: Request, term_id: int, *, printable: bool) -> Response:
    user = _staff(request)
    if isinstance(user, RedirectResponse):
        return user
    with request.app.state.sessions() as session:
        try:
            report = build_report(request, session, term_id, scope_of(session, user))
        except BaodaoError as exc:
            return _error_page(exc)
    return HTMLResponse(render_term_report(request, report, printable=printable))


@router.get("/terms/{term_id}/report")
def term_report_page(request: Request, term_id: Int64) -> Response:
    """The term report: flags, rates, the plot and the deputies × meetings matrix."""
    return _term_report_page(request, term_id, printable=False)


@router.get("/terms/{term_id}/report/print")
def term_report_print(request: Request, term_id: Int64) -> Response:
    """The term report laid out for A4 landscape paper."""
    return _term_report_page(request, term_id, printable=True)


@router.get("/deputies/{number}/record")
def deputy_record_page(request: Request, number: str, term_id: str = "") -> Response:
    """A deputy's 出席记录 for the 履职档案 (A4 portrait)."""
    user = _staff(request)
    if isinstance(user, RedirectResponse):
        return user
    with request.app.state.sessions() as session:
        try:
            record = build_record(
                request,
                session,
                number,
                int(term_id) if term_id.isdigit() else None,
                scope_of(session, user),
            )
        except BaodaoError as exc:
            return _error_page(exc)
    return _page(request, "deputy_record.html", {"record": record})


KIOSK_DIR = HERE / "static" / "kiosk"


def _kiosk_csp(request: Request) -> str:
    host = request.headers.get("host", "")
    sockets = f" ws://{host} wss://{host}" if re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", host) else ""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"media-src 'self' blob: mediastream:; worker-src 'self'; connect-src 'self'{sockets}; "
        "frame-ancestors 'none'"
    )


@router.get("/kiosk")
def kiosk_page(request: Request) -> Response:
    """The browser kiosk: no staff login; it pairs with a kiosk token (static, cacheable by
    its service worker for a reload during an outage)."""
    page = FileResponse(KIOSK_DIR / "index.html", media_type="text/html; charset=utf-8")
    page.headers["Cache-Control"] = "no-cache"
    page.headers["Content-Security-Policy"] = _kiosk_csp(request)
    page.headers["Referrer-Policy"] = "no-referrer"
    return page


@router.get("/kiosk-sw.js")
def kiosk_service_worker() -> Response:
    """The kiosk's service worker, served from the root so it may control /kiosk."""
    worker = FileResponse(KIOSK_DIR / "sw.js", media_type="text/javascript; charset=utf-8")
    worker.headers["Cache-Control"] = "no-cache"
    return worker


def mount(app: FastAPI) -> None:
    """Add the pages, the static files and the docs' assets to the app."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    app.include_router(router)
