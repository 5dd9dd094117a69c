"""The term record's REST API: terms, sessions, meetings attached to a session, the term report
(JSON, XLSX, plot) and a deputy's 出席记录."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from checkin import audit
from checkin.accounts.scope import Scope
from checkin.errors import InvalidInput, NotFound
from checkin.meetings import history, plots, reports, terms
from checkin.meetings.history import ReportFilter
from checkin.protocol import Int64
from checkin.web.deps import AdminUser, ScopeDep, SessionDep, StaffUser
from checkin.web.files import download
from enrollment.service import get_deputy
from models import CongressSession, Meeting, MeetingKind, Term, User

router = APIRouter(prefix="/api", tags=["terms"])


class TermCreate(BaseModel):
    body_id: Int64
    number: int = Field(ge=1, le=999)
    starts_on: date
    ends_on: date | None = None
    title: str | None = Field(None, max_length=100)


class SessionRead(BaseModel):
    id: Int64
    term_id: Int64
    number: int
    title: str
    starts_on: date
    ends_on: date | None
    meeting_ids: list[Int64] = []


class TermRead(BaseModel):
    id: Int64
    body_id: Int64
    body: str
    number: int
    title: str
    name: str
    starts_on: date
    ends_on: date | None
    sessions: list[SessionRead] = []


class SessionCreate(BaseModel):
    number: int = Field(ge=1, le=999)
    starts_on: date
    ends_on: date | None = None
    title: str | None = Field(None, max_length=100)


class AttachMeeting(BaseModel):
    meeting_id: Int64
    kind: MeetingKind | None = None  # None: keep the meeting's kind (plenary by default)


class AttachedRead(BaseModel):
    meeting_id: Int64
    congress_session_id: Int64 | None
    kind: MeetingKind


def _actor(user: User) -> audit.Actor:
    return audit.Actor(user.username, user_id=user.id)


def _session_read(cs: CongressSession, meeting_ids: list[int] | None = None) -> SessionRead:
    return SessionRead(
        id=cs.id,
        term_id=cs.term_id,
        number=cs.number,
        title=cs.title,
        starts_on=cs.starts_on,
        ends_on=cs.ends_on,
        meeting_ids=meeting_ids or [],
    )


def _term_read(t: Term, sessions: list[SessionRead] | None = None) -> TermRead:
    return TermRead(
        id=t.id,
        body_id=t.body_id,
        body=t.body.name,
        number=t.number,
        title=t.title,
        name=terms.term_name(t),
        starts_on=t.starts_on,
        ends_on=t.ends_on,
        sessions=sessions or [],
    )


def _attached(m: Meeting) -> AttachedRead:
    return AttachedRead(meeting_id=m.id, congress_session_id=m.congress_session_id, kind=m.kind)


def _int(params: Mapping[str, str], key: str) -> int | None:
    value = (params.get(key) or "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise InvalidInput(f"{key} 须为正整数 (got {value!r})")
    return int(value)


def _date(params: Mapping[str, str], key: str) -> date | None:
    value = (params.get(key) or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{key} 日期格式应为 2026-03-09 (got {value!r})") from None


def report_filter(params: Mapping[str, str]) -> ReportFilter:
    """The report's filters from query parameters (an empty value means no limit)."""
    return ReportFilter(
        congress_session_id=_int(params, "session_id"),
        date_from=_date(params, "date_from"),
        date_to=_date(params, "date_to"),
        body_id=_int(params, "body_id"),
        delegation=(params.get("delegation") or "").strip() or None,
    )


def build_report(
    request: Request, session: Session, term_id: int, scope: Scope
) -> history.TermReport:
    """The term report for this request's filters, under the configured session rule;
    NotFound when the term's body is outside the scope."""
    terms.get_term(session, term_id, scope=scope)
    settings = request.app.state.settings
    return history.term_report(
        session,
        term_id,
        zone=settings.timezone,
        rule=settings.session_absence_rule,
        filters=report_filter(request.query_params),
    )


def build_record(
    request: Request, session: Session, number: str, term_id: int | None, scope: Scope
) -> history.DeputyRecord:
    """A deputy's record; NotFound for a deputy (or a term) outside the scope."""
    get_deputy(session, number=number, scope=scope)
    if term_id is not None:
        terms.get_term(session, term_id, scope=scope)
    settings = request.app.state.settings
    return history.deputy_record(
        session,
        number,
        term_id=term_id,
        zone=settings.timezone,
        rule=settings.session_absence_rule,
    )


@router.get("/terms")
def list_terms(
    _: StaffUser, scope: ScopeDep, session: SessionDep, body_id: Int64 | None = None
) -> list[TermRead]:
    """Terms in the scope, newest first (optionally of one body)."""
    return [_term_read(t) for t in terms.get_all_terms(session, scope=scope, body_id=body_id)]


@router.post("/terms", status_code=201)
def create_term(
    body: TermCreate, admin: AdminUser, scope: ScopeDep, session: SessionDep
) -> TermRead:
    """A term (届) of a congress; 409 if the number exists or the dates overlap another term."""
    t = terms.create_term(
        session,
        body_id=body.body_id,
        number=body.number,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        title=body.title,
        actor=_actor(admin),
        scope=scope,
    )
    return _term_read(t)


@router.get("/terms/{term_id}")
def get_term(term_id: Int64, _: StaffUser, scope: ScopeDep, session: SessionDep) -> TermRead:
    """A term with its sessions and their meetings."""
    t = terms.get_term(session, term_id, scope=scope)
    return _term_read(
        t,
        [
            _session_read(cs, [m.id for m in terms.meetings_of(session, cs.id)])
            for cs in terms.sessions_of(session, term_id)
        ],
    )


@router.post("/terms/{term_id}/sessions", status_code=201)
def create_session(
    term_id: Int64, body: SessionCreate, user: StaffUser, scope: ScopeDep, session: SessionDep
) -> SessionRead:
    """A session (第N次会议) of the term, within its dates."""
    cs = terms.create_session(
        session,
        term_id=term_id,
        number=body.number,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        title=body.title,
        actor=_actor(user),
        scope=scope,
    )
    return _session_read(cs)


@router.post("/sessions/{session_id}/meetings")
def attach_meeting(
    session_id: Int64,
    body: AttachMeeting,
    request: Request,
    user: StaffUser,
    scope: ScopeDep,
    session: SessionDep,
) -> AttachedRead:
    """Put a meeting into the session (its body and date must fit)."""
    m = terms.attach_meeting(
        session,
        congress_session_id=session_id,
        meeting_id=body.meeting_id,
        kind=body.kind,
        zone=request.app.state.settings.timezone,
        actor=_actor(user),
        scope=scope,
    )
    return _attached(m)


@router.delete("/sessions/{session_id}/meetings/{meeting_id}")
def detach_meeting(
    session_id: Int64, meeting_id: Int64, user: StaffUser, scope: ScopeDep, session: SessionDep
) -> AttachedRead:
    """Take a meeting out of the session; it stays a valid meeting."""
    m = session.get(Meeting, meeting_id)
    if m is None or m.congress_session_id != session_id or not scope.covers(m.body_id):
        raise NotFound(f"这次会议没有会议 {meeting_id} (meeting not in session {session_id})")
    return _attached(terms.detach_meeting(session, meeting_id=meeting_id, actor=_actor(user)))


@router.get("/terms/{term_id}/report")
def term_report(
    term_id: Int64, request: Request, _: StaffUser, scope: ScopeDep, session: SessionDep
) -> Any:
    """The term matrix, counts, rates and §49 flags. Query: session_id, date_from, date_to
    (YYYY-MM-DD), body_id, delegation."""
    return history.to_json(build_report(request, session, term_id, scope))


@router.get("/terms/{term_id}/report.xlsx")
def term_report_xlsx(
    term_id: Int64, request: Request, _: StaffUser, scope: ScopeDep, session: SessionDep
) -> Response:
    """The term report as a print-ready workbook (matrix, statistics, flags, plot)."""
    report = build_report(request, session, term_id, scope)
    data = reports.term_report_xlsx(
        report,
        zone=request.app.state.settings.timezone,
        plot_png=plots.attendance_plot(report, "png"),
    )
    return download(
        data, f"{report.term.name}-出席情况.xlsx", reports.XLSX_TYPE, fallback="term-report"
    )


@router.get("/terms/{term_id}/report/plot.{fmt}")
def term_report_plot(
    term_id: Int64,
    fmt: Literal["png", "svg"],
    request: Request,
    _: StaffUser,
    scope: ScopeDep,
    session: SessionDep,
) -> Response:
    """The attendance plot of the term (PNG or SVG)."""
    report = build_report(request, session, term_id, scope)
    media = "image/png" if fmt == "png" else "image/svg+xml"
    data = plots.attendance_plot(report, fmt)
    name = f"{report.term.name}-出席率.{fmt}"
    return download(data, name, media, fallback="attendance", inline=True)


@router.get("/deputies/{number}/record")
def deputy_record(
    number: str,
    request: Request,
    _: StaffUser,
    scope: ScopeDep,
    session: SessionDep,
    term_id: Int64 | None = None,
) -> Any:
    """A deputy's 出席记录 over a term (default: their latest term that has begun)."""
    return history.to_json(build_record(request, session, number, term_id, scope))


@router.get("/deputies/{number}/record.xlsx")
def deputy_record_xlsx(
    number: str,
    request: Request,
    _: StaffUser,
    scope: ScopeDep,
    session: SessionDep,
    term_id: Int64 | None = None,
) -> Response:
    """A deputy's 出席记录 as a print-ready workbook (for the 履职档案)."""
    record = build_record(request, session, number, term_id, scope)
    data = reports.deputy_record_xlsx(record, zone=request.app.state.settings.timezone)
    return download(
        data, f"{record.name}-出席记录.xlsx", reports.XLSX_TYPE, fallback=f"record-{number}"
    )
