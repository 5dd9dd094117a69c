"""Browser pages: login, meetings, the big screen, the operator page, the printable sheet,
and the term record (terms, the term report and its A4 print, a deputy's 出席记录)."""

from __future__ import annotations

from html import escape
from itertools import groupby
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from checkin.errors import BaodaoError, NotFound
from checkin.meetings import history, plots, reports, service, terms
from checkin.meetings.history import meeting_columns_by_session
from checkin.meetings.outcomes import MARK_LABELS, MARK_SYMBOLS, Mark
from checkin.meetings.status import status
from checkin.web.api.terms import build_record, build_report
from checkin.web.deps import SESSION_COOKIE
from checkin.web.errors import status_for
from models import Role, User

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["cell"] = reports.cell_text
LEGEND = [
    (m.value, MARK_SYMBOLS[m], MARK_LABELS[m])
    for m in (Mark.PRESENT, Mark.LATE, Mark.MANUAL, Mark.LEFT, Mark.LEAVE, Mark.ABSENT, Mark.NONE)
]
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
    return templates.TemplateResponse(request, "meetings.html", {"user": user, "meetings": rows})


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


def _error_page(exc: BaodaoError) -> HTMLResponse:
    return HTMLResponse(
        f"<h1>{escape(exc.message)}</h1><p><a href='/terms'>返回届次列表</a></p>",
        status_code=status_for(exc),
    )


@router.get("/terms")
def terms_page(request: Request, body_id: str = "") -> Response:
    """Terms with their sessions and meetings; links to each term's report."""
    user = _staff(request)
    if user is None:
        return _to_login(request)
    with request.app.state.sessions() as session:
        bodies = service.get_all_bodies(session)
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
            for t in terms.get_all_terms(session, body_id=chosen)
        ]
        return templates.TemplateResponse(
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
    if _staff(request) is None:
        return _to_login(request)
    with request.app.state.sessions() as session:
        try:
            report = build_report(request, session, term_id)
        except BaodaoError as exc:
            return _error_page(exc)
    return HTMLResponse(render_term_report(request, report, printable=printable))


@router.get("/terms/{term_id}/report")
def term_report_page(request: Request, term_id: int) -> Response:
    """The term report: flags, rates, the plot and the deputies × meetings matrix."""
    return _term_report_page(request, term_id, printable=False)


@router.get("/terms/{term_id}/report/print")
def term_report_print(request: Request, term_id: int) -> Response:
    """The term report laid out for A4 landscape paper."""
    return _term_report_page(request, term_id, printable=True)


@router.get("/deputies/{number}/record")
def deputy_record_page(request: Request, number: str, term_id: str = "") -> Response:
    """A deputy's 出席记录 for the 履职档案 (A4 portrait)."""
    if _staff(request) is None:
        return _to_login(request)
    with request.app.state.sessions() as session:
        try:
            record = build_record(
                request, session, number, int(term_id) if term_id.isdigit() else None
            )
        except BaodaoError as exc:
            return _error_page(exc)
    return templates.TemplateResponse(request, "deputy_record.html", {"record": record})


def mount(app: FastAPI) -> None:
    """Add the pages and the static files to the app."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)
