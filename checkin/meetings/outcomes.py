"""The term record's rules, pure: a deputy's outcome at a meeting, at a session, and the §49 flag.

No database, no I/O: plain dataclasses in, plain dataclasses out (`history` loads the data).

- **A meeting** (one cell of the term matrix): 出席 ✓, 迟到 迟, 手动补签 补,
  中途退场 退 (checked in, left and did not return), 请假 假 (approved leave, no check-in),
  缺席 缺 (no check-in, no leave). One mark per cell; when several facts hold, the one that
  matters most for supervision shows: 退 > 补 > 迟 > ✓ (leaving is the largest shortfall; a
  make-up check-in is the exception supervision looks at, and its time is when staff entered
  it, not when the deputy came, so it is not read as lateness). Every fact is
  kept in the outcome and counted on its own. A deputy on leave who checks in attended.
  "—": the meeting lies outside the deputy's mandate (补选 later, 离任 earlier) or the deputy
  is not on its roster; blank: the meeting has not started yet. Neither counts anywhere.
- **A session** (第N次会议) is judged on its plenaries (全体会议) only, under one of three rules
  (`BAODAO_SESSION_ABSENCE_RULE`), with A plenaries attended, X missed without leave, out of
  the E the deputy was expected at:
  `any_plenary` (default) absent without approval iff A = 0 and X ≥ 1;
  `all_plenaries` iff X ≥ 1; `majority` iff 2·X > E. Otherwise attended if A ≥ 1, else on
  leave. A session whose plenaries are not all held yet is pending; without an expected
  plenary it does not count.
- **§49** (代表法 第四十九条: 未经批准两次不出席本级人民代表大会会议): one session absent without
  approval in the term → 提醒; two or more → 资格终止风险. Baodao informs; it never changes a
  deputy's status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Mark(StrEnum):
    """A deputy's outcome at one meeting."""

    PRESENT = "present"
    LATE = "late"
    MANUAL = "manual"
    LEFT = "left"
    LEAVE = "leave"
    ABSENT = "absent"
    NONE = "none"  # outside the mandate or not on the roster
    PENDING = "pending"  # the meeting has not started


MARK_SYMBOLS = {
    Mark.PRESENT: "✓",
    Mark.LATE: "迟",
    Mark.MANUAL: "补",
    Mark.LEFT: "退",
    Mark.LEAVE: "假",
    Mark.ABSENT: "缺",
    Mark.NONE: "—",
    Mark.PENDING: "",
}
MARK_LABELS = {
    Mark.PRESENT: "出席",
    Mark.LATE: "迟到",
    Mark.MANUAL: "手动补签",
    Mark.LEFT: "中途退场",
    Mark.LEAVE: "请假",
    Mark.ABSENT: "缺席",
    Mark.NONE: "不在任期或名单",
    Mark.PENDING: "未开始",
}
ATTENDED = frozenset({Mark.PRESENT, Mark.LATE, Mark.MANUAL, Mark.LEFT})
COUNTED = ATTENDED | {Mark.LEAVE, Mark.ABSENT}


class SessionMark(StrEnum):
    """A deputy's outcome at one session (第N次会议)."""

    ATTENDED = "attended"
    LEAVE = "leave"
    ABSENT = "absent"  # absent without approval: counts toward §49
    PENDING = "pending"
    NONE = "none"


SESSION_LABELS = {
    SessionMark.ATTENDED: "出席",
    SessionMark.LEAVE: "请假",
    SessionMark.ABSENT: "未经批准缺席",
    SessionMark.PENDING: "进行中",
    SessionMark.NONE: "—",
}
SESSION_SYMBOLS = {
    SessionMark.ATTENDED: "出",
    SessionMark.LEAVE: "假",
    SessionMark.ABSENT: "缺",
    SessionMark.PENDING: "…",
    SessionMark.NONE: "—",
}


class AbsenceRule(StrEnum):
    """When a deputy who missed plenaries of a session did not attend that session."""

    ANY_PLENARY = "any_plenary"
    ALL_PLENARIES = "all_plenaries"
    MAJORITY = "majority"


RULE_LABELS = {
    AbsenceRule.ANY_PLENARY: "出席任一全体会议即视为出席本次会议",
    AbsenceRule.ALL_PLENARIES: "未经批准缺席任一全体会议即视为未出席本次会议",
    AbsenceRule.MAJORITY: "未经批准缺席过半数全体会议即视为未出席本次会议",
}


class Flag(StrEnum):
    """The §49 warning of a deputy over the term."""

    NONE = "none"
    REMINDER = "reminder"  # 提醒: one session absent without approval
    AT_RISK = "at_risk"  # 资格终止风险: two or more


FLAG_LABELS = {Flag.NONE: "", Flag.REMINDER: "提醒", Flag.AT_RISK: "资格终止风险"}


@dataclass(frozen=True, slots=True)
class Presence:
    """What the records say about one deputy at one meeting (a roster entry + its check-in)."""

    on_roster: bool = True
    checked_in_at: datetime | None = None  # an active (not undone) check-in
    late: bool = False
    manual: bool = False
    manual_reason: str | None = None
    on_leave: bool = False
    leave_reason: str | None = None
    left_at: datetime | None = None  # 中途退场, cleared on return


ABSENT_FROM_ROSTER = Presence(on_roster=False)


@dataclass(frozen=True, slots=True)
class Mandate:
    """A deputy's mandate: from `elected_at` (None: the term's start) until `retired_at`."""

    elected_at: datetime | None = None
    retired_at: datetime | None = None

    def covers(self, t: datetime) -> bool:
        """True if a meeting starting at `t` lies within the mandate."""
        return (self.elected_at is None or t >= self.elected_at) and (
            self.retired_at is None or t < self.retired_at
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """One cell of the term matrix: the mark and every fact behind it."""

    mark: Mark
    checked_in_at: datetime | None = None
    late: bool = False
    manual: bool = False
    manual_reason: str = ""
    leave_reason: str = ""
    left_at: datetime | None = None

    @property
    def attended(self) -> bool:
        return self.mark in ATTENDED

    @property
    def counted(self) -> bool:
        """Expected at a meeting that was held."""
        return self.mark in COUNTED


NOT_EXPECTED = Outcome(Mark.NONE)
NOT_HELD = Outcome(Mark.PENDING)


def meeting_outcome(presence: Presence, *, in_mandate: bool, held: bool) -> Outcome:
    """A deputy's outcome at one meeting.

    Args:
        presence: the roster entry and check-in facts (`on_roster=False` if not on it).
        in_mandate: the meeting starts within the deputy's mandate.
        held: the meeting has started (as of the report).
    Returns:
        The Outcome; NONE outside the mandate or roster, PENDING before the meeting.
    """
    p = presence
    if not (in_mandate and p.on_roster):
        return NOT_EXPECTED
    if not held:
        return NOT_HELD
    if p.checked_in_at is None:
        if p.on_leave:
            return Outcome(Mark.LEAVE, leave_reason=p.leave_reason or "")
        return Outcome(Mark.ABSENT)
    mark = (
        Mark.LEFT
        if p.left_at is not None
        else Mark.MANUAL
        if p.manual
        else Mark.LATE
        if p.late
        else Mark.PRESENT
    )
    return Outcome(
        mark,
        checked_in_at=p.checked_in_at,
        late=p.late,
        manual=p.manual,
        manual_reason=(p.manual_reason or "") if p.manual else "",
        left_at=p.left_at,
    )


def session_outcome(plenaries: Iterable[Outcome], rule: AbsenceRule) -> SessionMark:
    """A deputy's outcome at a session from their outcomes at its plenaries.

    Args:
        plenaries: the deputy's outcome at each plenary of the session (any order).
        rule: any_plenary, all_plenaries or majority (see the module docstring).
    Returns:
        ATTENDED, LEAVE, ABSENT (without approval), PENDING (a plenary not yet held) or
        NONE (no plenary the deputy was expected at).
    """
    marks = [o.mark for o in plenaries if o.mark is not Mark.NONE]
    if not marks:
        return SessionMark.NONE
    if Mark.PENDING in marks:
        return SessionMark.PENDING
    expected = len(marks)
    attended = sum(m in ATTENDED for m in marks)
    unapproved = sum(m is Mark.ABSENT for m in marks)
    if rule is AbsenceRule.ANY_PLENARY:
        absent = attended == 0 and unapproved >= 1
    elif rule is AbsenceRule.ALL_PLENARIES:
        absent = unapproved >= 1
    else:
        absent = 2 * unapproved > expected
    if absent:
        return SessionMark.ABSENT
    return SessionMark.ATTENDED if attended else SessionMark.LEAVE


def flag_for(absent_sessions: int) -> Flag:
    """The §49 flag for a number of sessions absent without approval in the term."""
    if absent_sessions >= 2:
        return Flag.AT_RISK
    return Flag.REMINDER if absent_sessions == 1 else Flag.NONE


@dataclass(frozen=True)
class Tally:
    """Counts over some cells: each fact on its own; the rate is attended / expected."""

    expected: int = 0
    attended: int = 0  # 出席: checked in (late, made up or left early included)
    late: int = 0
    manual: int = 0
    left: int = 0
    leave: int = 0
    absent: int = 0

    @property
    def rate(self) -> float | None:
        """出席率, or None when nobody was expected."""
        return self.attended / self.expected if self.expected else None


def tally(outcomes: Iterable[Outcome]) -> Tally:
    """Count the outcomes that were expected at meetings held (NONE and PENDING skipped)."""
    expected = attended = late = manual = left = leave = absent = 0
    for o in outcomes:
        mark = o.mark
        if mark is Mark.LEAVE:
            leave += 1
        elif mark is Mark.ABSENT:
            absent += 1
        elif mark in ATTENDED:
            attended += 1
            late += o.late
            manual += o.manual
            left += o.left_at is not None
        else:
            continue
        expected += 1
    return Tally(expected, attended, late, manual, left, leave, absent)


@dataclass(frozen=True)
class SessionTally:
    """A session's outcomes over the deputies expected at it."""

    expected: int = 0
    attended: int = 0
    leave: int = 0
    absent: int = 0
    pending: int = 0

    @property
    def rate(self) -> float | None:
        return self.attended / self.expected if self.expected else None


def session_tally(marks: Iterable[SessionMark]) -> SessionTally:
    """Count session outcomes (NONE skipped; PENDING counted apart, not expected yet)."""
    counts = dict.fromkeys(SessionMark, 0)
    for m in marks:
        counts[m] += 1
    return SessionTally(
        expected=counts[SessionMark.ATTENDED]
        + counts[SessionMark.LEAVE]
        + counts[SessionMark.ABSENT],
        attended=counts[SessionMark.ATTENDED],
        leave=counts[SessionMark.LEAVE],
        absent=counts[SessionMark.ABSENT],
        pending=counts[SessionMark.PENDING],
    )


@dataclass(frozen=True, slots=True)
class MeetingRef:
    """A meeting as the record sees it."""

    id: int
    starts_at: datetime
    session_id: int | None = None
    plenary: bool = True


@dataclass
class Record:
    """The whole term, computed once: every cell, every session outcome, the §49 flags."""

    cells: dict[tuple[int, int], Outcome] = field(default_factory=dict)  # (deputy, meeting)
    sessions: dict[tuple[int, int], SessionMark] = field(default_factory=dict)  # (deputy, session)
    absent_sessions: dict[int, list[int]] = field(default_factory=dict)  # deputy -> session ids
    flags: dict[int, Flag] = field(default_factory=dict)

    def cell(self, deputy_id: int, meeting_id: int) -> Outcome:
        return self.cells[(deputy_id, meeting_id)]


def term_record(
    *,
    meetings: Sequence[MeetingRef],
    session_ids: Sequence[int],
    mandates: Mapping[int, Mandate],
    presences: Mapping[tuple[int, int], Presence],
    rule: AbsenceRule,
    as_of: datetime,
) -> Record:
    """Every deputy's outcome at every meeting and session of a term, and the §49 flags.

    Args:
        meetings: the term's meetings (any kind; plenaries decide the sessions).
        session_ids: the term's sessions in order (the order of the listed absences).
        mandates: deputy id -> mandate, for every deputy of the record.
        presences: (deputy id, meeting id) -> facts; a missing key means not on the roster.
        rule: how plenaries decide a session.
        as_of: meetings starting later are not held yet.
    Returns:
        The Record.
    """
    rec = Record()
    plenaries: dict[int, list[MeetingRef]] = {sid: [] for sid in session_ids}
    for m in meetings:
        if m.plenary and m.session_id in plenaries:
            plenaries[m.session_id].append(m)
    held = [m.starts_at <= as_of for m in meetings]
    for deputy_id, mandate in mandates.items():
        whole_term = mandate.elected_at is None and mandate.retired_at is None
        for m, was_held in zip(meetings, held, strict=True):
            rec.cells[(deputy_id, m.id)] = meeting_outcome(
                presences.get((deputy_id, m.id), ABSENT_FROM_ROSTER),
                in_mandate=whole_term or mandate.covers(m.starts_at),
                held=was_held,
            )
        absent: list[int] = []
        for sid in session_ids:
            mark = session_outcome((rec.cells[(deputy_id, m.id)] for m in plenaries[sid]), rule)
            rec.sessions[(deputy_id, sid)] = mark
            if mark is SessionMark.ABSENT:
                absent.append(sid)
        rec.absent_sessions[deputy_id] = absent
        rec.flags[deputy_id] = flag_for(len(absent))
    return rec
