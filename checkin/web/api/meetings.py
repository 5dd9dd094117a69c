"""Secretariat REST API: bodies, meetings, rosters, leave, make-up check-in, undo, departure,
the audit trail and the attendance sheet downloads."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from checkin import audit
from checkin.accounts.scope import Scope
from checkin.errors import InvalidInput, NotFound
from checkin.meetings import reports, service, terms
from checkin.meetings.delta import change_delta
from checkin.meetings.events import (
    CheckinUndone,
    DeputyCheckedIn,
    DeputyDeparted,
    DeputyReturned,
    LeaveChanged,
    MeetingChanged,
    RosterChanged,
    WindowChanged,
)
from checkin.meetings.status import LineView, MeetingStatus, line_view, roster_lines, status
from checkin.protocol import Int64
from checkin.web.deps import AdminUser, ScopeDep, SessionDep, StaffUser
from checkin.web.files import download
from models import (
    AuditEvent,
    BodyKind,
    Deputy,
    Meeting,
    MeetingKind,
    QuorumRule,
    RosterEntry,
    RosterRole,
    User,
)

router = APIRouter(prefix="/api", tags=["meetings"])


class BodyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: BodyKind = BodyKind.CONGRESS
    parent_id: Int64 | None = None  # the county congress above a township's, a 主席团's congress


class BodyRead(BaseModel):
    id: int
    name: str
    kind: BodyKind
    parent_id: int | None = None
    depth: int = 0  # in the tree of the bodies listed


class MeetingCreate(BaseModel):
    body_id: Int64
    title: str = Field(min_length=1, max_length=200)
    starts_at: datetime
    window_opens_at: datetime | None = None
    window_closes_at: datetime | None = None
    rule: QuorumRule = QuorumRule.TWO_THIRDS
    numerator: int | None = Field(None, ge=1, le=1000)
    denominator: int | None = Field(None, ge=1, le=1000)
    deputy_ids: list[Int64] | None = None  # None: the body's seated deputies
    congress_session_id: Int64 | None = None  # the session (第N次会议) it belongs to
    kind: MeetingKind = MeetingKind.PLENARY


class MeetingRead(BaseModel):
    id: int
    body_id: int
    title: str
    starts_at: datetime
    window_opens_at: datetime | None
    window_closes_at: datetime | None
    rule: QuorumRule
    numerator: int | None
    denominator: int | None
    state: str
    congress_session_id: int | None
    kind: MeetingKind


class PersonRef(BaseModel):
    """A person by database id or by 代表编号."""

    deputy_id: Int64 | None = None
    number: str | None = Field(None, max_length=40)


class RosterAdd(PersonRef):
    role: RosterRole = RosterRole.DEPUTY


class WithReason(PersonRef):
    reason: str = Field("", max_length=500)


class LeaveUpdate(WithReason):
    on_leave: bool = True


def _actor(user: User) -> audit.Actor:
    return audit.Actor(user.username, user_id=user.id)


def _meeting_read(m: Meeting) -> MeetingRead:
    return MeetingRead(
        id=m.id,
        body_id=m.body_id,
        title=m.title,
        starts_at=m.starts_at,
        window_opens_at=m.window_opens_at,
        window_closes_at=m.window_closes_at,
        rule=m.quorum_rule,
        numerator=m.quorum_numerator,
        denominator=m.quorum_denominator,
        state=m.state.value,
        congress_session_id=m.congress_session_id,
        kind=m.kind,
    )


def _person_id(session: Session, ref: PersonRef, scope: Scope) -> int:
    if ref.deputy_id is not None:
        return service.find_person(session, ref.deputy_id, scope=scope).id
    if ref.number:
        return service.find_person(session, ref.number.strip(), scope=scope).id
    raise InvalidInput("请指定代表 (give deputy_id or number)")


def _on_roster(session: Session, meeting: Meeting, ref: PersonRef) -> int:
    """A person on this meeting's roster (a 列席 from another body included), by id or number;
    NotFound for anyone else (whether they exist elsewhere is not told)."""
    query = (
        select(Deputy.id)
        .join(RosterEntry, RosterEntry.deputy_id == Deputy.id)
        .where(RosterEntry.meeting_id == meeting.id)
    )
    if ref.deputy_id is not None:
        query = query.where(Deputy.id == ref.deputy_id)
    elif ref.number:
        query = query.where(Deputy.number == ref.number.strip())
    else:
        raise InvalidInput("请指定代表 (give deputy_id or number)")
    pid = session.scalar(query)
    if pid is None:
        raise NotFound("此人不在本次会议名单上 (not on the roster)")
    return pid


def _status(request: Request, session: Session, meeting_id: int) -> MeetingStatus:
    return status(session, meeting_id, zone=request.app.state.settings.timezone)


def _done(request: Request, session: Session, event: MeetingChanged) -> MeetingStatus:
    """Commit, publish the change (only now), and answer with the new status.

    With `?reply=delta` the answer is the change's delta (`meetings.delta`: the counts, the
    facts, the latest arrivals and the person's line) instead of the whole status: read once,
    it is also what the live hub sends on, so a burst of changes costs one small read each.

    Every commit is answered: if the read after it cannot get a database connection in time,
    the answer is 200 `{kind, meeting_id, deputy_id, committed: true}` (the change is saved;
    the screens still get it), never an error that would make the clerk do it twice."""
    session.commit()
    committed_at = time.time()
    delta = None
    try:
        if request.query_params.get("reply") != "delta":
            request.app.state.events.publish(event)
            return _status(request, session, event.meeting_id)
        zone = request.app.state.settings.timezone
        delta = change_delta(session, event.meeting_id, event.deputy_id, zone=zone)
        session.commit()  # end the read
    except PoolTimeout:
        session.rollback()
        if delta is None and request.query_params.get("reply") == "delta":
            request.app.state.events.publish(event)
        saved = {"kind": event.kind, "meeting_id": event.meeting_id}
        reply = JSONResponse({**saved, "deputy_id": event.deputy_id, "committed": True})
        return cast(MeetingStatus, reply)
    request.app.state.events.publish(
        dataclasses.replace(event, delta=delta, committed_at=committed_at)
    )
    reply = JSONResponse({"kind": event.kind, "meeting_id": event.meeting_id, **delta})
    return cast(MeetingStatus, reply)  # FastAPI sends a Response as it is (routes stay typed)


@router.post("/bodies", status_code=201)
def create_body(
    body: BodyCreate, admin: AdminUser, scope: ScopeDep, session: SessionDep
) -> BodyRead:
    """A body; an account limited to some bodies creates only below them (`parent_id`)."""
    b = service.create_body(
        session,
        name=body.name,
        kind=body.kind,
        actor=_actor(admin),
        scope=scope,
        parent_id=body.parent_id,
    )
    return BodyRead(id=b.id, name=b.name, kind=b.kind, parent_id=b.parent_id)


@router.get("/bodies")
def list_bodies(_: StaffUser, scope: ScopeDep, session: SessionDep) -> list[BodyRead]:
    """The bodies in the account's scope, in tree order (each after its parent)."""
    bodies = service.get_all_bodies(session, scope=scope)
    return [
        BodyRead(id=b.id, name=b.name, kind=b.kind, parent_id=b.parent_id, depth=depth)
        for b, depth in service.body_paths(bodies)
    ]


@router.post("/meetings", status_code=201)
def create_meeting(
    body: MeetingCreate, request: Request, user: StaffUser, scope: ScopeDep, session: SessionDep
) -> MeetingRead:
    """Create a meeting; the roster defaults to the body's seated deputies; with
    `congress_session_id` it joins that session (its body and date must fit)."""
    m = service.create_meeting(
        session,
        body_id=body.body_id,
        title=body.title,
        starts_at=body.starts_at,
        window_opens_at=body.window_opens_at,
        window_closes_at=body.window_closes_at,
        rule=body.rule,
        numerator=body.numerator,
        denominator=body.denominator,
        deputy_ids=body.deputy_ids,
        actor=_actor(user),
        scope=scope,
    )
    m.kind = body.kind
    if body.congress_session_id is not None:
        terms.attach_meeting(
            session,
            congress_session_id=body.congress_session_id,
            meeting_id=m.id,
            zone=request.app.state.settings.timezone,
            actor=_actor(user),
            scope=scope,
        )
    return _meeting_read(m)


@router.get("/meetings")
def list_meetings(_: StaffUser, scope: ScopeDep, session: SessionDep) -> list[MeetingRead]:
    return [_meeting_read(m) for m in service.get_all_meetings(session, scope=scope)]


@router.get("/meetings/{meeting_id}")
def get_meeting(
    meeting_id: Int64, _: StaffUser, scope: ScopeDep, session: SessionDep
) -> MeetingRead:
    return _meeting_read(service.get_meeting(session, meeting_id, scope=scope))


@router.get("/meetings/{meeting_id}/status")
def meeting_status(
    meeting_id: Int64, request: Request, _: StaffUser, scope: ScopeDep, session: SessionDep
) -> MeetingStatus:
    """应到/实到/请假/缺席…, the required count, the announcement, and lists for pages."""
    service.get_meeting(session, meeting_id, scope=scope)
    return _status(request, session, meeting_id)


@router.get("/meetings/{meeting_id}/roster")
def roster(
    meeting_id: Int64,
    request: Request,
    _: StaffUser,
    scope: ScopeDep,
    session: SessionDep,
    q: str = "",
) -> list[LineView]:
    """Every roster entry with its state; `q` filters by name or number."""
    service.get_meeting(session, meeting_id, scope=scope)
    zone = ZoneInfo(request.app.state.settings.timezone)
    lines = [line_view(ln, zone) for ln in roster_lines(session, meeting_id)]
    q = q.strip()
    return [ln for ln in lines if not q or q in ln.name or ln.number.startswith(q)]


@router.post("/meetings/{meeting_id}/roster", status_code=201)
def roster_add(
    meeting_id: Int64,
    body: RosterAdd,
    request: Request,
    user: StaffUser,
    scope: ScopeDep,
    session: SessionDep,
) -> MeetingStatus:
    m = service.get_meeting(session, meeting_id, scope=scope)
    pid = _person_id(session, body, scope)
    service.add_to_roster(
        session, meeting=m, deputy_id=pid, role=body.role, actor=_actor(user), scope=scope
    )
    return _done(request, session, RosterChanged(meeting_id, pid))


class RosterBulk(BaseModel):
    """Many roster changes in one transaction (by id or 代表编号)."""

    add: list[RosterAdd] = Field(default_factory=list, max_length=5000)
    remove: list[PersonRef] = Field(default_factory=list, max_length=5000)


class RosterBulkResult(BaseModel):
    added: int
    removed: int
    already_on: list[int]  # asked to add, already on the roster (left as they were)
    not_on: list[int]  # asked to remove, not on the roster
    roster: int  # roster size afterwards


@router.post("/meetings/{meeting_id}/roster/bulk")
def roster_bulk(
    meeting_id: Int64,
    body: RosterBulk,
    request: Request,
    user: StaffUser,
    scope: ScopeDep,
    session: SessionDep,
) -> RosterBulkResult:
    """Add and remove many people at once (e.g. 1,300 deputies): one transaction, one push
    (a `status` message to the live screens); every person is audited."""
    m = service.get_meeting(session, meeting_id, scope=scope)
    ids = service.resolve_people(
        session,
        [ref.deputy_id for ref in (*body.add, *body.remove)],
        [ref.number for ref in (*body.add, *body.remove)],
        scope=scope,
    )
    adds = ids[: len(body.add)]
    result = service.bulk_roster(
        session,
        meeting=m,
        add=[(pid, ref.role) for pid, ref in zip(adds, body.add, strict=True)],
        remove=ids[len(body.add) :],
        actor=_actor(user),
    )
    session.commit()
    request.app.state.events.publish(RosterChanged(meeting_id))
    return RosterBulkResult(**vars(result))


@router.delete("/meetings/{meeting_id}/roster/{deputy_id}")
def roster_remove(
    meeting_id: Int64,
    deputy_id: Int64,
    request: Request,
    user: StaffUser,
    scope: ScopeDep,
    session: SessionDep,
) -> MeetingStatus:
    m = service.get_meeting(session, meeting_id, scope=scope)
    service.remove_from_roster(session, meeting=m, deputy_id=deputy_id, actor=_actor(user))
    return _done(request, session, RosterChanged(meeting_id, deputy_id))


@router.post("/meetings/{meeting_id}/open")
def open_window(
    meeting_id: Int64, request: Request, user: StaffUser, scope: ScopeDep, session: SessionDep
) -> MeetingStatus:
    """Open the check-in window now."""
    service.open_window(
        session, meeting=service.get_meeting(session, meeting_id, scope=scope), actor=_actor(user)
    )
    return _done(request, session, WindowChanged(meeting_id))


@router.post("/meetings/{meeting_id}/close")
def close_window(
    meeting_id: Int64, request: Request, user: StaffUser, scope: ScopeDep, session: SessionDep
) -> MeetingStatus:
    """Close the check-in window now."""
    m = service.get_meeting(session, meeting_id, scope=scope)
    service.close_window(session, meeting=m, actor=_actor(user))
    return _done(request, session, WindowChanged(meeting_id))


@router.post("/meetings/{meeting_id}/leave")
def leave(
    meeting_id: Int64,
    body: LeaveUpdate,
    request: Request,
    user: StaffUser,
    scope: ScopeDep,
    session: SessionDep,
) -> MeetingStatus:
    """Register 请假 (reason required), or cancel it with on_leave=false."""
    m = service.get_meeting(session, meeting_id, scope=scope)
    pid = _on_roster(session, m, body)
    service.set_leave(
        session,
        meeting=m,
        deputy_id=pid,
        reason=body.reason,
        on_leave=body.on_leave,
        actor=_actor(user),
    )
    return _done(request, session, LeaveChanged(meeting_id, pid))


@router.post("/meetings/{meeting_id}/checkin")
def manual_checkin(
    meeting_id: Int64,
    body: WithReason,
    request: Request,
    user: StaffUser,
    scope: ScopeDep,
    session: SessionDep,
) -> MeetingStatus:
    """手动补签到 (reason required)."""
    m = service.get_meeting(session, meeting_id, scope=scope)
    pid = _on_roster(session, m, body)
    service.manual_checkin(
        session, meeting=m, deputy_id=pid, reason=body.reason, actor=_actor(user)
    )
    return _done(request, session, DeputyCheckedIn(meeting_id, pid))


@router.post("/meetings/{meeting_id}/undo")
def undo(
    meeting_id: Int64,
    body: WithReason,
    request: Request,
    user: StaffUser,
    scope: ScopeDep,
    session: SessionDep,
) -> MeetingStatus:
    """Undo a check-in (reason required)."""
    m = service.get_meeting(session, meeting_id, scope=scope)
    pid = _on_roster(session, m, body)
    service.undo_checkin(session, meeting=m, deputy_id=pid, reason=body.reason, actor=_actor(user))
    return _done(request, session, CheckinUndone(meeting_id, pid))


@router.post("/meetings/{meeting_id}/departure")
def departure(
    meeting_id: Int64,
    body: WithReason,
    request: Request,
    user: StaffUser,
    scope: ScopeDep,
    session: SessionDep,
) -> MeetingStatus:
    """中途退场."""
    m = service.get_meeting(session, meeting_id, scope=scope)
    pid = _on_roster(session, m, body)
    service.mark_departure(
        session, meeting=m, deputy_id=pid, reason=body.reason or None, actor=_actor(user)
    )
    return _done(request, session, DeputyDeparted(meeting_id, pid))


@router.post("/meetings/{meeting_id}/return")
def came_back(
    meeting_id: Int64,
    body: PersonRef,
    request: Request,
    user: StaffUser,
    scope: ScopeDep,
    session: SessionDep,
) -> MeetingStatus:
    """A departed person is back."""
    m = service.get_meeting(session, meeting_id, scope=scope)
    pid = _on_roster(session, m, body)
    service.mark_return(session, meeting=m, deputy_id=pid, actor=_actor(user))
    return _done(request, session, DeputyReturned(meeting_id, pid))


@router.get("/meetings/{meeting_id}/audit")
def meeting_audit(
    meeting_id: Int64, _: StaffUser, scope: ScopeDep, session: SessionDep
) -> list[dict[str, Any]]:
    """The meeting's audit trail: who did what, when, to whom, newest first."""
    service.get_meeting(session, meeting_id, scope=scope)
    rows = session.execute(
        select(AuditEvent, Deputy.number)
        .outerjoin(Deputy, Deputy.id == AuditEvent.deputy_id)
        .where(AuditEvent.meeting_id == meeting_id)
        .order_by(AuditEvent.id.desc())
    ).all()
    return [
        {
            "at": e.at.isoformat(),
            "action": e.action,
            "actor": e.actor,
            "user_id": e.user_id,
            "kiosk_id": e.kiosk_id,
            "deputy_id": e.deputy_id,
            "number": number,
            "detail": e.detail,
        }
        for e, number in rows
    ]


@router.get("/meetings/{meeting_id}/sheet.xlsx")
def sheet_xlsx(
    meeting_id: Int64, request: Request, _: StaffUser, scope: ScopeDep, session: SessionDep
) -> Response:
    """The attendance sheet as an Excel workbook."""
    sheet = reports.build_sheet(
        session, meeting_id, scope=scope, zone=request.app.state.settings.timezone
    )
    return download(
        reports.sheet_xlsx(sheet), f"{sheet.title}-签到表.xlsx", reports.XLSX_TYPE, fallback="sheet"
    )


@router.get("/meetings/{meeting_id}/sheet.csv")
def sheet_csv(
    meeting_id: Int64, request: Request, _: StaffUser, scope: ScopeDep, session: SessionDep
) -> Response:
    """The attendance sheet as CSV (UTF-8 with BOM, so Excel reads the Chinese)."""
    sheet = reports.build_sheet(
        session, meeting_id, scope=scope, zone=request.app.state.settings.timezone
    )
    return download(
        reports.sheet_csv(sheet).encode("utf-8-sig"),
        f"{sheet.title}-签到表.csv",
        "text/csv; charset=utf-8",
        fallback="sheet",
    )
