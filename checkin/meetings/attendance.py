"""Recording and undoing check-ins: one row per person per meeting, audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from checkin import audit
from checkin.errors import Conflict, InvalidInput, NotFound
from models import Attendance, CheckinMethod, Meeting, MeetingState, RosterEntry, utcnow


class WindowClosed(Conflict):
    """The meeting is not open for face check-in, or its window is not open at that time."""

    code = "not_open"


@dataclass(frozen=True)
class Recorded:
    attendance: Attendance
    created: bool  # False: already checked in (the earlier row is returned)


def window_state(meeting: Meeting, at: datetime) -> str:
    """'open', 'not_open' (before the window) or 'closed' (after it) at time `at`."""
    if meeting.window_opens_at is not None and at < meeting.window_opens_at:
        return "not_open"
    if meeting.window_closes_at is not None and at > meeting.window_closes_at:
        return "closed"
    return "open"


def record_attendance(
    session: Session,
    *,
    meeting: Meeting,
    deputy_id: int,
    at: datetime,
    method: CheckinMethod,
    actor: audit.Actor,
    evidence: dict[str, Any] | None = None,
    reason: str | None = None,
    delayed: bool = False,
) -> Recorded:
    """Check a person in (face or manual); a second check-in is a no-op returning the first.

    Raises NotFound if the person is not on the roster, WindowClosed for a face check-in
    when the meeting is not open (a draft or closed meeting) or `at` lies outside its window
    (staff may make up a check-in at any time), InvalidInput for a manual check-in without a
    reason. `late` is judged from `at`. The caller commits, then publishes MeetingChanged.
    """
    entry = session.scalar(
        select(RosterEntry).where(
            RosterEntry.meeting_id == meeting.id, RosterEntry.deputy_id == deputy_id
        )
    )
    if entry is None:
        raise NotFound(f"person {deputy_id} is not on the roster of meeting {meeting.id}")
    if method is CheckinMethod.MANUAL and not (reason and reason.strip()):
        raise InvalidInput("手动补签到必须填写原因 (a manual check-in needs a reason)")
    if method is CheckinMethod.FACE and meeting.state is not MeetingState.OPEN:
        raise WindowClosed(f"meeting {meeting.id} is {meeting.state.value}, not open")
    if method is CheckinMethod.FACE and window_state(meeting, at) != "open":
        raise WindowClosed(f"check-in window of meeting {meeting.id} is not open")
    existing = _current(session, meeting.id, deputy_id)
    if existing is not None and existing.undone_at is None:
        return Recorded(existing, created=False)
    late = at > meeting.starts_at
    fields: dict[str, Any] = {
        "checked_in_at": at,
        "method": method,
        "kiosk_id": actor.kiosk_id,
        "user_id": actor.user_id,
        "reason": reason,
        "evidence": evidence,
        "late": late,
        "delayed": delayed,
        "undone_at": None,
        "undone_by": None,
        "undo_reason": None,
    }
    if existing is not None:  # re-check-in after an undo reuses the row (one per meeting)
        for key, value in fields.items():
            setattr(existing, key, value)
        row = existing
    else:
        row = Attendance(meeting_id=meeting.id, deputy_id=deputy_id, **fields)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:  # a concurrent check-in won the race: that one stands
            winner = _current(session, meeting.id, deputy_id)
            if winner is None:
                raise
            return Recorded(winner, created=False)
    audit.record(
        session,
        actor=actor,
        action=f"checkin.{method.value}",
        meeting_id=meeting.id,
        deputy_id=deputy_id,
        detail={
            "at": at.isoformat(),
            "late": late,
            "delayed": delayed,
            "reason": reason,
            "evidence": evidence,
        },
    )
    session.flush()
    return Recorded(row, created=True)


def undo_attendance(
    session: Session, *, meeting: Meeting, deputy_id: int, actor: audit.Actor, reason: str
) -> Attendance:
    """Undo a check-in (reason required); the row stays, marked undone, and is audited."""
    if not reason.strip():
        raise InvalidInput("撤销签到必须填写原因 (undo needs a reason)")
    row = _current(session, meeting.id, deputy_id)
    if row is None or row.undone_at is not None:
        raise NotFound(f"person {deputy_id} is not checked in to meeting {meeting.id}")
    row.undone_at = utcnow()
    row.undone_by = actor.user_id
    row.undo_reason = reason
    audit.record(
        session,
        actor=actor,
        action="checkin.undo",
        meeting_id=meeting.id,
        deputy_id=deputy_id,
        detail={"reason": reason, "was": row.checked_in_at.isoformat(), "method": row.method.value},
    )
    session.flush()
    return row


def _current(session: Session, meeting_id: int, deputy_id: int) -> Attendance | None:
    return session.scalar(
        select(Attendance).where(
            Attendance.meeting_id == meeting_id, Attendance.deputy_id == deputy_id
        )
    )
