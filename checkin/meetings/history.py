"""The term record read from the database: the term matrix report and each deputy's 出席记录.

Loading takes a fixed number of queries whatever the size of the term (term, sessions,
meetings, roster entries with their check-ins, deputies); the rules are applied by the pure
`outcomes.term_record`. Results are frozen dataclasses, serialised once at the edge
(`to_json`), with times in the configured zone.

Which deputies a report lists: everyone on the roster (as a deputy) of a meeting of the term,
and the deputies of the term's body whose mandate overlaps the term. The §49 counts and flags
always cover the whole term; the filters (session, dates, body, 代表团) narrow the matrix,
the counts and the rates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from checkin.errors import InvalidInput, NotFound
from checkin.meetings import outcomes as oc
from checkin.meetings.terms import KIND_LABELS, get_term, term_name
from models import (
    Attendance,
    Body,
    CheckinMethod,
    CongressSession,
    Deputy,
    DeputyStatus,
    Meeting,
    MeetingKind,
    PersonKind,
    RosterEntry,
    RosterRole,
    Term,
    utcnow,
)

NO_DELEGATION = "未分代表团"


@dataclass(frozen=True)
class ReportFilter:
    """What a clerk narrows the matrix to; None means no limit."""

    congress_session_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    body_id: int | None = None
    delegation: str | None = None

    def __post_init__(self) -> None:
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise InvalidInput("结束日期不能早于开始日期 (date_to before date_from)")


@dataclass(frozen=True)
class Counts:
    """A Tally as shown: each fact counted on its own, the rate as a number and as text."""

    expected: int
    attended: int
    late: int
    manual: int
    left: int
    leave: int
    absent: int
    rate: float | None
    rate_label: str


@dataclass(frozen=True)
class SessionCounts:
    """Session outcomes over the deputies expected at it."""

    expected: int
    attended: int
    leave: int
    absent: int
    pending: int
    rate: float | None
    rate_label: str


@dataclass(frozen=True)
class TermFacts:
    id: int
    number: int
    title: str
    name: str  # 某镇第十八届人民代表大会
    body_id: int
    body: str
    starts_on: date
    ends_on: date | None


@dataclass(frozen=True)
class SessionColumn:
    id: int
    number: int
    title: str
    starts_on: date
    ends_on: date | None
    meeting_ids: list[int]  # the visible meetings of the session, in order
    counts: SessionCounts


@dataclass(frozen=True)
class MeetingColumn:
    id: int
    title: str
    kind: str
    kind_label: str
    body: str
    session_id: int
    session_title: str
    starts_at: datetime  # local time
    held: bool
    counts: Counts


@dataclass(frozen=True, slots=True)
class Cell:
    """One mark of the matrix; `detail` is every fact behind it, in words."""

    mark: str
    symbol: str
    detail: str


@dataclass(frozen=True, slots=True)
class SessionCell:
    mark: str
    symbol: str
    label: str


@dataclass(frozen=True)
class DeputyRow:
    deputy_id: int
    number: str
    name: str
    unit: str
    delegation: str
    mandate: str  # 补选 / 离任 dates, or ""
    cells: list[Cell]  # aligned with TermReport.meetings
    sessions: list[SessionCell]  # aligned with TermReport.sessions
    counts: Counts
    absent_sessions: list[str]  # over the whole term
    flag: str
    flag_label: str


@dataclass(frozen=True)
class FlagLine:
    """A §49 warning for the 代表资格审查委员会: who, and which sessions."""

    deputy_id: int
    number: str
    name: str
    delegation: str
    flag: str
    flag_label: str
    sessions: list[str]


@dataclass(frozen=True)
class Choice:
    """A value of a filter drop-down."""

    value: str
    label: str


@dataclass(frozen=True)
class TermReport:
    """The term matrix: deputies × meetings, session outcomes, counts, rates, §49 flags."""

    term: TermFacts
    rule: str
    rule_label: str
    as_of: datetime
    generated_at: datetime
    filter: ReportFilter
    sessions: list[SessionColumn]
    meetings: list[MeetingColumn]  # by session, then by start
    rows: list[DeputyRow]
    grouped: bool  # some deputy has a 代表团: rows are grouped by it
    total: Counts
    flags: list[FlagLine]
    session_choices: list[Choice] = field(default_factory=list)
    body_choices: list[Choice] = field(default_factory=list)
    delegation_choices: list[Choice] = field(default_factory=list)


@dataclass(frozen=True)
class RecordLine:
    """One meeting of a deputy's 出席记录."""

    meeting_id: int
    session_title: str
    title: str
    kind_label: str
    starts_at: datetime
    mark: str
    symbol: str
    label: str
    checked_in_at: datetime | None
    method_label: str
    manual_reason: str
    leave_reason: str
    left_at: datetime | None


@dataclass(frozen=True)
class SessionLine:
    id: int
    title: str
    mark: str
    label: str


@dataclass(frozen=True)
class DeputyRecord:
    """A deputy's attendance over a term, for the 履职档案."""

    deputy_id: int
    number: str
    name: str
    unit: str
    delegation: str
    status: str
    mandate: str
    elected_at: datetime | None
    retired_at: datetime | None
    term: TermFacts
    rule: str
    rule_label: str
    as_of: datetime
    generated_at: datetime
    lines: list[RecordLine]
    sessions: list[SessionLine]
    counts: Counts
    absent_sessions: list[str]
    flag: str
    flag_label: str
    terms: list[Choice]


_REPORT = TypeAdapter(TermReport)
_RECORD = TypeAdapter(DeputyRecord)


def to_json(report: TermReport | DeputyRecord) -> dict[str, Any]:
    """The report or record as JSON-ready data."""
    adapter: TypeAdapter[Any] = _REPORT if isinstance(report, TermReport) else _RECORD
    data: dict[str, Any] = adapter.dump_python(report, mode="json")
    return data


# --- loading ------------------------------------------------------------------------


@dataclass
class _Loaded:
    term: Term
    body: Body  # held, so term.body is found in the session instead of queried again
    sessions: list[CongressSession]
    meetings: list[tuple[Meeting, str]]  # with the body's name
    deputies: dict[int, Deputy]
    body_deputies: set[int]  # of the term's body, mandate overlapping the term
    presences: dict[tuple[int, int], oc.Presence]


def _start(d: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(d, time(), tzinfo=zone).astimezone(UTC)


def _load(session: Session, term_id: int, zone: ZoneInfo, deputy_id: int | None) -> _Loaded:
    """The term's sessions, meetings, roster facts and deputies in five queries."""
    row = session.execute(
        select(Term, Body).join(Body, Body.id == Term.body_id).where(Term.id == term_id)
    ).first()
    if row is None:
        raise NotFound(f"没有这个届次 (no term {term_id})")
    term, body = row
    sessions = list(
        session.scalars(
            select(CongressSession)
            .where(CongressSession.term_id == term.id)
            .order_by(CongressSession.number)
        )
    )
    session_ids = select(CongressSession.id).where(CongressSession.term_id == term.id)
    meetings = [
        (m, name)
        for m, name in session.execute(
            select(Meeting, Body.name)
            .join(Body, Body.id == Meeting.body_id)
            .where(Meeting.congress_session_id.in_(session_ids))
            .order_by(Meeting.starts_at, Meeting.id)
        )
    ]
    meeting_ids = select(Meeting.id).where(Meeting.congress_session_id.in_(session_ids))
    facts = (
        select(
            RosterEntry.meeting_id,
            RosterEntry.deputy_id,
            RosterEntry.on_leave,
            RosterEntry.leave_reason,
            RosterEntry.left_at,
            Attendance.checked_in_at,
            Attendance.late,
            Attendance.method,
            Attendance.reason,
        )
        .outerjoin(
            Attendance,
            (Attendance.meeting_id == RosterEntry.meeting_id)
            & (Attendance.deputy_id == RosterEntry.deputy_id)
            & Attendance.undone_at.is_(None),
        )
        .where(RosterEntry.meeting_id.in_(meeting_ids), RosterEntry.role == RosterRole.DEPUTY)
    )
    if deputy_id is not None:
        facts = facts.where(RosterEntry.deputy_id == deputy_id)
    presences = {
        (did, mid): oc.Presence(
            checked_in_at=at,
            late=bool(late),
            manual=method is CheckinMethod.MANUAL,
            manual_reason=reason,
            on_leave=on_leave,
            leave_reason=leave_reason,
            left_at=left_at if at is not None else None,
        )
        for mid, did, on_leave, leave_reason, left_at, at, late, method, reason in session.execute(
            facts
        )
    }
    term_start = _start(term.starts_on, zone)
    term_end = _start(term.ends_on, zone) if term.ends_on else None
    of_body = (
        (Deputy.body_id == term.body_id)
        & (Deputy.kind == PersonKind.DEPUTY)
        & (Deputy.retired_at.is_(None) | (Deputy.retired_at > term_start))
    )
    if term_end is not None:
        of_body &= Deputy.elected_at.is_(None) | (Deputy.elected_at <= term_end)
    on_rosters = Deputy.id.in_(
        select(RosterEntry.deputy_id).where(
            RosterEntry.meeting_id.in_(meeting_ids), RosterEntry.role == RosterRole.DEPUTY
        )
    )
    who = select(Deputy).where(or_(of_body, on_rosters))
    if deputy_id is not None:
        who = who.where(Deputy.id == deputy_id)
    deputies: dict[int, Deputy] = {}
    body_deputies: set[int] = set()
    for d in session.scalars(who):
        deputies[d.id] = d
        if d.body_id == term.body_id and d.kind is PersonKind.DEPUTY:
            overlaps = (d.retired_at is None or d.retired_at > term_start) and (
                term_end is None or d.elected_at is None or d.elected_at <= term_end
            )
            if overlaps:
                body_deputies.add(d.id)
    return _Loaded(term, body, sessions, meetings, deputies, body_deputies, presences)


def _record(data: _Loaded, rule: oc.AbsenceRule, as_of: datetime) -> oc.Record:
    return oc.term_record(
        meetings=[
            oc.MeetingRef(
                id=m.id,
                starts_at=m.starts_at,
                session_id=m.congress_session_id,
                plenary=m.kind is MeetingKind.PLENARY,
            )
            for m, _ in data.meetings
        ],
        session_ids=[s.id for s in data.sessions],
        mandates={
            d.id: oc.Mandate(elected_at=d.elected_at, retired_at=d.retired_at)
            for d in data.deputies.values()
        },
        presences=data.presences,
        rule=rule,
        as_of=as_of,
    )


# --- presentation -------------------------------------------------------------------


def _rate(rate: float | None) -> str:
    return f"{rate * 100:.1f}%" if rate is not None else "—"


def counts(t: oc.Tally) -> Counts:
    """A tally as shown."""
    return Counts(
        expected=t.expected,
        attended=t.attended,
        late=t.late,
        manual=t.manual,
        left=t.left,
        leave=t.leave,
        absent=t.absent,
        rate=t.rate,
        rate_label=_rate(t.rate),
    )


def session_counts(t: oc.SessionTally) -> SessionCounts:
    return SessionCounts(
        expected=t.expected,
        attended=t.attended,
        leave=t.leave,
        absent=t.absent,
        pending=t.pending,
        rate=t.rate,
        rate_label=_rate(t.rate),
    )


def _hhmm(t: datetime, zone: ZoneInfo) -> str:
    local = t.astimezone(zone)
    return f"{local.hour:02}:{local.minute:02}"  # strftime costs 5× this, 40,000 cells a report


def detail(o: oc.Outcome, zone: ZoneInfo) -> str:
    """Every fact of a cell in words: 「09:12 签到（迟到；手动补签：戴口罩）；10:30 中途退场」;
    "" for a plain ✓ (on time, by face, stayed: the time is in the deputy's record)."""
    if o.mark is oc.Mark.PRESENT:
        return ""
    if o.mark is oc.Mark.LEAVE:
        return f"请假：{o.leave_reason}" if o.leave_reason else "请假"
    if o.checked_in_at is None:
        return oc.MARK_LABELS[o.mark]
    notes = (["迟到"] if o.late else []) + ([f"手动补签：{o.manual_reason}"] if o.manual else [])
    text = f"{_hhmm(o.checked_in_at, zone)} 签到" + (f"（{'；'.join(notes)}）" if notes else "")
    if o.left_at is not None:
        text += f"；{_hhmm(o.left_at, zone)} 中途退场"
    return text


def _cell(o: oc.Outcome, zone: ZoneInfo) -> Cell:
    return Cell(o.mark.value, oc.MARK_SYMBOLS[o.mark], detail(o, zone))


def mandate_note(d: Deputy, term: Term, zone: ZoneInfo) -> str:
    """「2027-03-01 补选」「2027-06-01 离任」: where the mandate does not span the term."""
    notes = []
    if d.elected_at is not None and d.elected_at.astimezone(zone).date() > term.starts_on:
        notes.append(f"{d.elected_at.astimezone(zone).date()} 补选")
    if d.retired_at is not None:
        notes.append(f"{d.retired_at.astimezone(zone).date()} 离任")
    return "；".join(notes)


def _facts(term: Term) -> TermFacts:
    return TermFacts(
        id=term.id,
        number=term.number,
        title=term.title,
        name=term_name(term),
        body_id=term.body_id,
        body=term.body.name,
        starts_on=term.starts_on,
        ends_on=term.ends_on,
    )


def by_delegation(people: Iterable[Deputy]) -> Callable[[Deputy], tuple[bool, str, str]]:
    """A sort key: 代表团 in the order of their first member's number, then by number;
    deputies without one last."""
    first: dict[str, str] = {}
    for d in people:
        if d.delegation and (d.delegation not in first or d.number < first[d.delegation]):
            first[d.delegation] = d.number
    return lambda d: (d.delegation is None, first.get(d.delegation or "", ""), d.number)


def _visible(m: Meeting, f: ReportFilter, zone: ZoneInfo) -> bool:
    if f.congress_session_id is not None and m.congress_session_id != f.congress_session_id:
        return False
    if f.body_id is not None and m.body_id != f.body_id:
        return False
    day = m.starts_at.astimezone(zone).date()
    return not ((f.date_from and day < f.date_from) or (f.date_to and day > f.date_to))


def term_report(
    session: Session,
    term_id: int,
    *,
    zone: str = "Asia/Shanghai",
    rule: oc.AbsenceRule | str = oc.AbsenceRule.ANY_PLENARY,
    filters: ReportFilter | None = None,
    as_of: datetime | None = None,
) -> TermReport:
    """The term matrix report (whole-term §49 flags; the filters narrow matrix and counts)."""
    tz = ZoneInfo(zone)
    f = filters or ReportFilter()
    rule = oc.AbsenceRule(rule)
    as_of = as_of or utcnow()
    data = _load(session, term_id, tz, None)
    term = data.term
    if f.congress_session_id is not None and f.congress_session_id not in {
        s.id for s in data.sessions
    }:
        raise NotFound(f"{term.title}没有这次会议 (no session {f.congress_session_id} in term)")
    rec = _record(data, rule, as_of)
    titles = {s.id: s.title for s in data.sessions}
    order = {s.id: i for i, s in enumerate(data.sessions)}
    shown_meetings = sorted(
        ((m, body) for m, body in data.meetings if _visible(m, f, tz)),
        key=lambda mb: (order[mb[0].congress_session_id or 0], mb[0].starts_at, mb[0].id),
    )
    shown_sessions = [
        s for s in data.sessions if any(m.congress_session_id == s.id for m, _ in shown_meetings)
    ]
    grouped = any(d.delegation for d in data.deputies.values())
    # cells whose text depends on the mark alone are shared: most cells are a plain ✓
    plain = (oc.Mark.PRESENT, oc.Mark.ABSENT, oc.Mark.NONE, oc.Mark.PENDING)
    same = {m: _cell(oc.Outcome(m), tz) for m in plain}
    meeting_ids = [m.id for m, _ in shown_meetings]
    rows: list[DeputyRow] = []
    per_meeting: dict[int, list[oc.Outcome]] = {m.id: [] for m, _ in shown_meetings}
    per_session: dict[int, list[oc.SessionMark]] = {s.id: [] for s in shown_sessions}
    everyone: list[oc.Outcome] = []
    flags: list[FlagLine] = []
    ordered = sorted(data.deputies.values(), key=by_delegation(data.deputies.values()))
    for d in ordered:
        if f.delegation and (d.delegation or NO_DELEGATION) != f.delegation:
            continue
        did = d.id
        outcomes = [rec.cells[(did, mid)] for mid in meeting_ids]
        flag = rec.flags[d.id]
        absent_titles = [titles[sid] for sid in rec.absent_sessions[d.id]]
        if flag is not oc.Flag.NONE:
            flags.append(
                FlagLine(
                    deputy_id=d.id,
                    number=d.number,
                    name=d.name,
                    delegation=d.delegation or "",
                    flag=flag.value,
                    flag_label=oc.FLAG_LABELS[flag],
                    sessions=absent_titles,
                )
            )
        if d.id not in data.body_deputies and all(o.mark is oc.Mark.NONE for o in outcomes):
            continue
        for mid, o in zip(meeting_ids, outcomes, strict=True):
            per_meeting[mid].append(o)
        everyone.extend(outcomes)
        smarks = [rec.sessions[(d.id, s.id)] for s in shown_sessions]
        for s, sm in zip(shown_sessions, smarks, strict=True):
            per_session[s.id].append(sm)
        rows.append(
            DeputyRow(
                deputy_id=d.id,
                number=d.number,
                name=d.name,
                unit=d.unit or "",
                delegation=d.delegation or (NO_DELEGATION if grouped else ""),
                mandate=mandate_note(d, term, tz),
                cells=[same.get(o.mark) or _cell(o, tz) for o in outcomes],
                sessions=[
                    SessionCell(sm.value, oc.SESSION_SYMBOLS[sm], oc.SESSION_LABELS[sm])
                    for sm in smarks
                ],
                counts=counts(oc.tally(outcomes)),
                absent_sessions=absent_titles,
                flag=flag.value,
                flag_label=oc.FLAG_LABELS[flag],
            )
        )
    flags.sort(key=lambda fl: (fl.flag != oc.Flag.AT_RISK.value, fl.number))
    meeting_columns = [
        MeetingColumn(
            id=m.id,
            title=m.title,
            kind=m.kind.value,
            kind_label=KIND_LABELS[m.kind],
            body=body,
            session_id=m.congress_session_id or 0,
            session_title=titles.get(m.congress_session_id or 0, ""),
            starts_at=m.starts_at.astimezone(tz),
            held=m.starts_at <= as_of,
            counts=counts(oc.tally(per_meeting[m.id])),
        )
        for m, body in shown_meetings
    ]
    session_columns = [
        SessionColumn(
            id=s.id,
            number=s.number,
            title=s.title,
            starts_on=s.starts_on,
            ends_on=s.ends_on,
            meeting_ids=[m.id for m, _ in shown_meetings if m.congress_session_id == s.id],
            counts=session_counts(oc.session_tally(per_session[s.id])),
        )
        for s in shown_sessions
    ]
    bodies = dict.fromkeys((m.body_id, body) for m, body in data.meetings)
    delegations = dict.fromkeys(d.delegation or NO_DELEGATION for d in ordered)
    return TermReport(
        term=_facts(term),
        rule=rule.value,
        rule_label=oc.RULE_LABELS[rule],
        as_of=as_of.astimezone(tz),
        generated_at=utcnow().astimezone(tz),
        filter=f,
        sessions=session_columns,
        meetings=meeting_columns,
        rows=rows,
        grouped=grouped,
        total=counts(oc.tally(everyone)),
        flags=flags,
        session_choices=[Choice(str(s.id), s.title) for s in data.sessions],
        body_choices=[Choice(str(bid), name) for bid, name in bodies],
        delegation_choices=[Choice(d, d) for d in delegations] if grouped else [],
    )


# --- one deputy ---------------------------------------------------------------------


def terms_of_deputy(session: Session, deputy: Deputy) -> list[Term]:
    """The terms a deputy belongs to (their body's, or where they sat), newest first."""
    via_rosters = (
        select(CongressSession.term_id)
        .join(Meeting, Meeting.congress_session_id == CongressSession.id)
        .join(RosterEntry, RosterEntry.meeting_id == Meeting.id)
        .where(RosterEntry.deputy_id == deputy.id, RosterEntry.role == RosterRole.DEPUTY)
    )
    query = select(Term).where(Term.id.in_(via_rosters))
    if deputy.body_id is not None:
        query = select(Term).where(or_(Term.id.in_(via_rosters), Term.body_id == deputy.body_id))
    return list(session.scalars(query.order_by(Term.starts_on.desc(), Term.id.desc())))


def deputy_record(
    session: Session,
    number: str,
    *,
    term_id: int | None = None,
    zone: str = "Asia/Shanghai",
    rule: oc.AbsenceRule | str = oc.AbsenceRule.ANY_PLENARY,
    as_of: datetime | None = None,
) -> DeputyRecord:
    """A deputy's 出席记录 over a term (default: their latest term that has begun)."""
    tz = ZoneInfo(zone)
    rule = oc.AbsenceRule(rule)
    as_of = as_of or utcnow()
    deputy = session.scalar(select(Deputy).where(Deputy.number == number))
    if deputy is None:
        raise NotFound(f"没有编号为 {number} 的代表 (no deputy {number})")
    terms = terms_of_deputy(session, deputy)
    if term_id is None:
        if not terms:
            raise NotFound(f"代表 {number} 不属于任何届次 (deputy {number} is in no term)")
        today = as_of.astimezone(tz).date()
        term_id = next((t.id for t in terms if t.starts_on <= today), terms[-1].id)
    else:
        get_term(session, term_id)
    data = _load(session, term_id, tz, deputy.id)
    data.deputies = {deputy.id: deputy}
    rec = _record(data, rule, as_of)
    titles = {s.id: s.title for s in data.sessions}
    lines: list[RecordLine] = []
    for m, _ in data.meetings:
        o = rec.cells[(deputy.id, m.id)]
        if o.mark is oc.Mark.NONE:
            continue  # outside the mandate, or not on the roster
        lines.append(
            RecordLine(
                meeting_id=m.id,
                session_title=titles.get(m.congress_session_id or 0, ""),
                title=m.title,
                kind_label=KIND_LABELS[m.kind],
                starts_at=m.starts_at.astimezone(tz),
                mark=o.mark.value,
                symbol=oc.MARK_SYMBOLS[o.mark],
                label=oc.MARK_LABELS[o.mark],
                checked_in_at=o.checked_in_at.astimezone(tz) if o.checked_in_at else None,
                method_label=(
                    ("手动补签" if o.manual else "人脸识别") if o.checked_in_at is not None else ""
                ),
                manual_reason=o.manual_reason,
                leave_reason=o.leave_reason,
                left_at=o.left_at.astimezone(tz) if o.left_at else None,
            )
        )
    sessions = [
        SessionLine(
            id=s.id,
            title=s.title,
            mark=(sm := rec.sessions[(deputy.id, s.id)]).value,
            label=oc.SESSION_LABELS[sm],
        )
        for s in data.sessions
    ]
    flag = rec.flags[deputy.id]
    return DeputyRecord(
        deputy_id=deputy.id,
        number=deputy.number,
        name=deputy.name,
        unit=deputy.unit or "",
        delegation=deputy.delegation or "",
        status="在任" if deputy.status is DeputyStatus.SEATED else "已离任",
        mandate=mandate_note(deputy, data.term, tz),
        elected_at=deputy.elected_at.astimezone(tz) if deputy.elected_at else None,
        retired_at=deputy.retired_at.astimezone(tz) if deputy.retired_at else None,
        term=_facts(data.term),
        rule=rule.value,
        rule_label=oc.RULE_LABELS[rule],
        as_of=as_of.astimezone(tz),
        generated_at=utcnow().astimezone(tz),
        lines=lines,
        sessions=sessions,
        counts=counts(oc.tally(rec.cells[(deputy.id, m.id)] for m, _ in data.meetings)),
        absent_sessions=[titles[sid] for sid in rec.absent_sessions[deputy.id]],
        flag=flag.value,
        flag_label=oc.FLAG_LABELS[flag],
        terms=[Choice(str(t.id), term_name(t)) for t in terms],
    )


def meeting_columns_by_session(
    report: TermReport,
) -> Iterable[tuple[SessionColumn, Sequence[MeetingColumn]]]:
    """The visible meetings grouped under their session, in order (for the page and the sheet)."""
    by_id = {m.id: m for m in report.meetings}
    for s in report.sessions:
        yield s, [by_id[mid] for mid in s.meeting_ids]
