"""A change to a meeting as a small delta: the counts, the facts, the latest arrivals and
the one changed roster line, instead of the whole status.

`change_delta` reads it once, right after the commit (≈ 1,300 light rows for the counts,
12 for the arrivals, 1 for the line); the live hub ships it through Redis and every process
fans it out. `apply_delta` is what a screen does with it (live.js mirrors it), so applying
the deltas to a snapshot gives the status a fresh read would give.

`mark` orders deltas computed by different processes: the number of audit events of the
meeting the read saw. Every change is audited in its own transaction and audit rows are
never deleted, so a read that saw more changes has a larger mark; a delta whose mark is
below what a screen already shows is stale and its counts are not applied.
"""

from __future__ import annotations

import bisect
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from checkin.accounts.scope import Scope
from checkin.meetings.quorum import CUSTOM, Rule, announcement, required_count
from checkin.meetings.service import get_meeting
from checkin.meetings.status import (
    LATEST_ARRIVALS,
    RosterLine,
    arrival,
    line_view,
    meeting_facts,
    meeting_rule,
)
from models import Attendance, AuditEvent, Deputy, DeputyStatus, RosterEntry, RosterRole

Json = dict[str, Any]
COUNT_KEYS = (
    "expected",
    "present",
    "on_leave",
    "absent",
    "late",
    "left_early",
    "nonvoting_expected",
    "nonvoting_present",
    "rule",
    "required",
    "quorum_met",
    "announcement",
    "rule_label",
    "staff_expected",
    "staff_present",
)


def _active() -> Any:
    return (
        (Attendance.meeting_id == RosterEntry.meeting_id)
        & (Attendance.deputy_id == RosterEntry.deputy_id)
        & Attendance.undone_at.is_(None)
    )


def audit_mark(session: Session, meeting_id: int) -> int:
    """How many audit events of the meeting this transaction sees (grows with every change)."""
    return int(
        session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.meeting_id == meeting_id)
        )
        or 0
    )


def consistent_reads(session: Session) -> None:
    """Make the statements of this (read) transaction see one snapshot (PostgreSQL; SQLite's
    read transactions already do). Call before the first statement."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _counts(session: Session, meeting_id: int, rule_label: str, rule: Rule) -> Json:
    """The counts by one grouped query (a few rows, whatever the roster's size), with the
    rules of `quorum.compute_status` (the tests hold the two to the same answers)."""
    left = RosterEntry.left_at.is_not(None)
    checked = Attendance.id.is_not(None)
    late = func.coalesce(Attendance.late, False)
    rows = session.execute(
        select(
            RosterEntry.role, Deputy.status, RosterEntry.on_leave, left, checked, late, func.count()
        )
        .join(Deputy, Deputy.id == RosterEntry.deputy_id)
        .outerjoin(Attendance, _active())
        .where(RosterEntry.meeting_id == meeting_id)
        .group_by(RosterEntry.role, Deputy.status, RosterEntry.on_leave, left, checked, late)
    ).all()
    expected = present = on_leave = n_late = left_early = nv_expected = nv_present = 0
    staff_expected = staff_present = 0
    for role, st, is_on_leave, has_left, has_checked, is_late, n in rows:
        if role is RosterRole.STAFF:
            staff_expected += n
            staff_present += n if has_checked else 0
        if role is RosterRole.NONVOTING:
            nv_expected += n
            nv_present += n if has_checked and not has_left else 0
            continue
        if role is not RosterRole.DEPUTY or st is not DeputyStatus.SEATED:
            continue
        expected += n
        if not has_checked:
            on_leave += n if is_on_leave else 0
            continue
        n_late += n if is_late else 0
        if has_left:
            left_early += n
        else:
            present += n
    absent = max(0, expected - present - on_leave)
    fraction = (rule.numerator, rule.denominator) if rule.kind == CUSTOM else None
    required = required_count(rule.kind, expected, fraction)  # type: ignore[arg-type]
    met = expected > 0 and present >= required
    return {
        "expected": expected,
        "present": present,
        "on_leave": on_leave,
        "absent": absent,
        "late": n_late,
        "left_early": left_early,
        "nonvoting_expected": nv_expected,
        "nonvoting_present": nv_present,
        "rule": rule.kind,
        "required": required,
        "quorum_met": met,
        "announcement": announcement(
            expected=expected, present=present, on_leave=on_leave, absent=absent, met=met
        ),
        "rule_label": rule_label,
        "staff_expected": staff_expected,
        "staff_present": staff_present,
    }


def _lines(session: Session, meeting_id: int, *where: Any, limit: int | None = None) -> Any:
    query = (
        select(RosterEntry, Deputy, Attendance)
        .join(Deputy, Deputy.id == RosterEntry.deputy_id)
        .outerjoin(Attendance, _active())
        .where(RosterEntry.meeting_id == meeting_id, *where)
    )
    if limit is not None:
        query = query.order_by(
            Attendance.checked_in_at.desc(), RosterEntry.role, Deputy.number
        ).limit(limit)
    return [RosterLine(e, d, a) for e, d, a in session.execute(query).all()]


def change_delta(
    session: Session, meeting_id: int, deputy_id: int | None, *, zone: ZoneInfo | str
) -> Json:
    """The delta of a change to `meeting_id` (about `deputy_id`, if any), as JSON-ready data.

    `line` is the person's roster line now (None: not on the roster, e.g. just removed)."""
    zone = ZoneInfo(zone) if isinstance(zone, str) else zone
    consistent_reads(session)
    mark = audit_mark(session, meeting_id)
    meeting = get_meeting(
        session, meeting_id, scope=Scope.everything()
    )  # read after a scoped change
    rule = meeting_rule(meeting)
    arrived = _lines(
        session,
        meeting_id,
        Attendance.id.is_not(None),
        RosterEntry.role != RosterRole.STAFF,
        limit=LATEST_ARRIVALS,
    )
    line: Json | None = None
    if deputy_id is not None:
        found = _lines(session, meeting_id, RosterEntry.deputy_id == deputy_id)
        if found:
            v = line_view(found[0], zone)
            line = {
                "deputy_id": v.deputy_id,
                "number": v.number,
                "name": v.name,
                "unit": v.unit,
                "role": v.role,
                "state": v.state,
                "delegation": v.delegation,
            }
    facts = meeting_facts(meeting, zone)
    return {
        "mark": mark,
        "counts": _counts(session, meeting_id, rule.label, rule),
        "meeting": vars(facts).copy(),
        "latest_arrivals": [vars(arrival(line_view(ln, zone))).copy() for ln in arrived],
        "deputy_id": deputy_id,
        "line": line,
    }


def _brief(line: Json) -> Json:
    return {k: line[k] for k in ("deputy_id", "number", "name", "unit", "delegation")}


def _put(people: list[Json], deputy_id: int, line: Json | None) -> list[Json]:
    out = [p for p in people if p["deputy_id"] != deputy_id]
    if line is not None:
        numbers = [p["number"] for p in out]
        out.insert(bisect.bisect_right(numbers, line["number"]), _brief(line))
    return out


def apply_delta(status: Json, delta: Json, *, counts: bool = True, line: bool = True) -> Json:
    """The status JSON after `delta` (a new dict; `status` is not changed).

    `counts=False` keeps the counts, facts and arrivals (a stale delta); `line=False` keeps
    the lists as they are for the person."""
    out = dict(status)
    if counts:
        out.update({k: delta["counts"][k] for k in COUNT_KEYS})
        out["meeting"] = delta["meeting"]
        out["latest_arrivals"] = delta["latest_arrivals"]
    did = delta.get("deputy_id")
    if line and did is not None:
        ln = delta.get("line")
        absent = ln if ln is not None and ln["state"] == "absent" else None
        left = ln if ln is not None and ln["state"] == "left" and ln["role"] == "deputy" else None
        out["not_arrived"] = _put(status["not_arrived"], did, absent)
        out["departed"] = _put(status["departed"], did, left)
    return out
