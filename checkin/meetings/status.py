"""What a meeting looks like now: the roster with each person's state, and the status object
(the quorum counts, the meeting's facts and the lists the pages show).

Typed all the way: `MeetingStatus` and `LineView` are frozen dataclasses, serialised once at
the edge (REST, the live socket, the CLI's --json) with `to_json`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session

from checkin.accounts.scope import Scope
from checkin.meetings.attendance import window_state
from checkin.meetings.quorum import CheckIn, QuorumStatus, RosterPerson, Rule, compute_status
from checkin.meetings.service import get_meeting
from models import Attendance, Deputy, DeputyStatus, Meeting, RosterEntry, RosterRole, utcnow

ROLE_LABELS = {"deputy": "代表", "nonvoting": "列席", "staff": "工作人员"}
METHOD_LABELS = {"face": "人脸识别", "manual": "手动补签到"}
STATE_LABELS = {
    "present": "已到",
    "late": "迟到",
    "leave": "请假",
    "absent": "缺席",
    "left": "中途退场",
    "missing": "未到",
}
LATEST_ARRIVALS = 12


@dataclass(frozen=True)
class RosterLine:
    """One roster entry with its attendance, as loaded from the database."""

    entry: RosterEntry
    person: Deputy
    attendance: Attendance | None  # active (not undone) check-in only

    @property
    def state(self) -> str:
        """present / late / leave / absent / left (列席 and staff never 'absent': 'missing')."""
        a = self.attendance
        if a is not None:
            if self.entry.left_at is not None:
                return "left"
            return "late" if a.late else "present"
        if self.entry.on_leave:
            return "leave"
        counted = self.entry.role is RosterRole.DEPUTY and self.person.status is DeputyStatus.SEATED
        return "absent" if counted else "missing"


@dataclass(frozen=True)
class LineView:
    """A roster line as the API, the operator page and the sheet show it (local times)."""

    deputy_id: int
    number: str
    name: str
    unit: str
    role: str
    role_label: str
    seated: bool
    state: str
    state_label: str
    checked_in_at: str | None
    time: str
    method: str | None
    method_label: str
    reason: str
    late: bool
    on_leave: bool
    leave_reason: str
    left_at: str | None
    delegation: str  # 代表团


@dataclass(frozen=True)
class PersonBrief:
    """Who, for the lists on the big screen."""

    deputy_id: int
    number: str
    name: str
    unit: str
    delegation: str  # 代表团 (the big screen of a county plenary groups by it)


@dataclass(frozen=True)
class Arrival(PersonBrief):
    """A recent check-in."""

    role_label: str
    time: str
    method: str | None
    late: bool


@dataclass(frozen=True)
class MeetingFacts:
    id: int
    title: str
    body: str
    starts_at: str | None
    window_opens_at: str | None
    window_closes_at: str | None
    state: str
    window: str  # not_open / open / closed


@dataclass(frozen=True)
class MeetingStatus(QuorumStatus):
    """The quorum counts (QuorumStatus) plus the meeting's facts and the pages' lists."""

    meeting: MeetingFacts
    rule_label: str
    staff_expected: int
    staff_present: int
    latest_arrivals: list[Arrival]
    not_arrived: list[PersonBrief]
    departed: list[PersonBrief]


_STATUS = TypeAdapter(MeetingStatus)
_LINES = TypeAdapter(list[LineView])


def to_json(status: MeetingStatus) -> dict[str, Any]:
    """The status as JSON-ready data (what REST, the live socket and --json send)."""
    data: dict[str, Any] = _STATUS.dump_python(status, mode="json")
    return data


def lines_json(lines: list[LineView]) -> list[dict[str, Any]]:
    """Roster lines as JSON-ready data."""
    data: list[dict[str, Any]] = _LINES.dump_python(lines, mode="json")
    return data


def roster_lines(session: Session, meeting_id: int) -> list[RosterLine]:
    """Every roster entry with the person and the active check-in, by number."""
    rows = session.execute(
        select(RosterEntry, Deputy, Attendance)
        .join(Deputy, Deputy.id == RosterEntry.deputy_id)
        .outerjoin(
            Attendance,
            (Attendance.meeting_id == RosterEntry.meeting_id)
            & (Attendance.deputy_id == RosterEntry.deputy_id)
            & Attendance.undone_at.is_(None),
        )
        .where(RosterEntry.meeting_id == meeting_id)
        .order_by(RosterEntry.role, Deputy.number)
    ).all()
    return [RosterLine(e, d, a) for e, d, a in rows]


def meeting_rule(meeting: Meeting) -> Rule:
    """The meeting's quorum rule."""
    return Rule(meeting.quorum_rule.value, meeting.quorum_numerator, meeting.quorum_denominator)


def _local(t: datetime | None, zone: ZoneInfo) -> str | None:
    return t.astimezone(zone).isoformat(timespec="seconds") if t is not None else None


def _hhmm(t: datetime | None, zone: ZoneInfo) -> str:
    return t.astimezone(zone).strftime("%H:%M:%S") if t is not None else ""


def line_view(line: RosterLine, zone: ZoneInfo) -> LineView:
    """A roster line for the API, the operator page and the sheet."""
    a, e, p = line.attendance, line.entry, line.person
    return LineView(
        deputy_id=p.id,
        number=p.number,
        name=p.name,
        unit=p.unit or "",
        role=e.role.value,
        role_label=ROLE_LABELS[e.role.value],
        seated=p.status is DeputyStatus.SEATED,
        state=line.state,
        state_label=STATE_LABELS[line.state],
        checked_in_at=_local(a.checked_in_at, zone) if a else None,
        time=_hhmm(a.checked_in_at, zone) if a else "",
        method=a.method.value if a else None,
        method_label=METHOD_LABELS[a.method.value] if a else "",
        reason=(a.reason or "") if a else "",
        late=bool(a and a.late),
        on_leave=e.on_leave,
        leave_reason=e.leave_reason or "",
        left_at=_local(e.left_at, zone),
        delegation=p.delegation or "",
    )


def _brief(v: LineView) -> PersonBrief:
    return PersonBrief(v.deputy_id, v.number, v.name, v.unit, v.delegation)


def meeting_facts(meeting: Meeting, zone: ZoneInfo) -> MeetingFacts:
    """The meeting's facts as the pages show them (local times, the window now)."""
    return MeetingFacts(
        id=meeting.id,
        title=meeting.title,
        body=meeting.body.name,
        starts_at=_local(meeting.starts_at, zone),
        window_opens_at=_local(meeting.window_opens_at, zone),
        window_closes_at=_local(meeting.window_closes_at, zone),
        state=meeting.state.value,
        window=window_state(meeting, utcnow()),
    )


def arrival(v: LineView) -> Arrival:
    """A checked-in line as the big screen's latest arrivals show it."""
    return Arrival(
        **vars(_brief(v)), role_label=v.role_label, time=v.time, method=v.method, late=v.late
    )


def status(
    session: Session, meeting_id: int, *, zone: ZoneInfo | str = "Asia/Shanghai"
) -> MeetingStatus:
    """The quorum status plus the meeting's facts and the lists for the pages.

    Not scoped itself: callers read the meeting through `get_meeting` with their scope first
    (routes, the live hub at connect, the CLI with the whole tree).
    """
    zone = ZoneInfo(zone) if isinstance(zone, str) else zone
    meeting = get_meeting(session, meeting_id, scope=Scope.everything())
    lines = roster_lines(session, meeting_id)
    rule = meeting_rule(meeting)
    counts = compute_status(
        [
            RosterPerson(
                deputy_id=ln.person.id,
                role=ln.entry.role.value,
                seated=ln.person.status is DeputyStatus.SEATED,
                on_leave=ln.entry.on_leave,
                left_at=ln.entry.left_at,
            )
            for ln in lines
        ],
        [
            CheckIn(ln.person.id, ln.attendance.checked_in_at, late=ln.attendance.late)
            for ln in lines
            if ln.attendance is not None
        ],
        rule,
    )
    views = {ln.person.id: line_view(ln, zone) for ln in lines}
    arrived = sorted(
        (ln for ln in lines if ln.attendance is not None and ln.entry.role is not RosterRole.STAFF),
        key=lambda ln: ln.attendance.checked_in_at,  # type: ignore[union-attr]
        reverse=True,
    )
    staff = [ln for ln in lines if ln.entry.role is RosterRole.STAFF]
    return MeetingStatus(
        **vars(counts),
        meeting=meeting_facts(meeting, zone),
        rule_label=rule.label,
        staff_expected=len(staff),
        staff_present=sum(ln.attendance is not None for ln in staff),
        latest_arrivals=[arrival(views[ln.person.id]) for ln in arrived[:LATEST_ARRIVALS]],
        not_arrived=[_brief(views[ln.person.id]) for ln in lines if ln.state == "absent"],
        departed=[
            _brief(views[ln.person.id])
            for ln in lines
            if ln.state == "left" and ln.entry.role is RosterRole.DEPUTY
        ],
    )
