from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from checkin.audit import Actor
from checkin.errors import InvalidInput, NotFound
from checkin.meetings.attendance import WindowClosed, record_attendance, undo_attendance
from models import (
    Attendance,
    AuditEvent,
    Body,
    CheckinMethod,
    Deputy,
    Meeting,
    MeetingState,
    RosterEntry,
)

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
KIOSK = Actor("kiosk-1")
CLERK = Actor("clerk")


@pytest.fixture
def meeting(session: Session) -> Meeting:
    body = Body(name="某镇人大")
    session.add(body)
    session.flush()
    m = Meeting(
        body_id=body.id,
        title="一次会议",
        starts_at=START,
        window_opens_at=START - timedelta(hours=1),
        window_closes_at=START + timedelta(hours=3),
        state=MeetingState.OPEN,
    )
    session.add(m)
    for n in ("001", "002"):
        session.add(Deputy(number=n, name=f"代表{n}"))
    session.flush()
    session.add(RosterEntry(meeting_id=m.id, deputy_id=1))
    session.flush()
    return m


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_second_checkin_is_a_noop(session: Session, meeting: Meeting) -> None:
    first = record_attendance(
        session,
        meeting=meeting,
        deputy_id=1,
        at=START - timedelta(minutes=8),
        method=CheckinMethod.FACE,
        actor=KIOSK,
        evidence={"distance": 0.3},
    )
    again = record_attendance(
        session, meeting=meeting, deputy_id=1, at=START, method=CheckinMethod.FACE, actor=KIOSK
    )
    assert first.created and not again.created
    assert again.attendance.checked_in_at == START - timedelta(minutes=8)
    assert not first.attendance.late
    assert _count(session, Attendance) == 1 and _count(session, AuditEvent) == 1


def test_late_and_window(session: Session, meeting: Meeting) -> None:
    r = record_attendance(
        session,
        meeting=meeting,
        deputy_id=1,
        at=START + timedelta(minutes=5),
        method=CheckinMethod.FACE,
        actor=KIOSK,
    )
    assert r.attendance.late
    with pytest.raises(WindowClosed):
        record_attendance(
            session,
            meeting=meeting,
            deputy_id=1,
            at=START - timedelta(hours=2),
            method=CheckinMethod.FACE,
            actor=KIOSK,
        )


def test_not_on_roster_and_manual_needs_reason(session: Session, meeting: Meeting) -> None:
    with pytest.raises(NotFound):
        record_attendance(
            session, meeting=meeting, deputy_id=2, at=START, method=CheckinMethod.FACE, actor=KIOSK
        )
    with pytest.raises(InvalidInput):
        record_attendance(
            session,
            meeting=meeting,
            deputy_id=1,
            at=START,
            method=CheckinMethod.MANUAL,
            actor=CLERK,
            reason=" ",
        )


def test_undo_then_checkin_again_reuses_the_row(session: Session, meeting: Meeting) -> None:
    record_attendance(
        session, meeting=meeting, deputy_id=1, at=START, method=CheckinMethod.FACE, actor=KIOSK
    )
    undo_attendance(session, meeting=meeting, deputy_id=1, actor=CLERK, reason="认错人")
    with pytest.raises(NotFound):
        undo_attendance(session, meeting=meeting, deputy_id=1, actor=CLERK, reason="again")
    r = record_attendance(
        session,
        meeting=meeting,
        deputy_id=1,
        at=START,
        method=CheckinMethod.MANUAL,
        actor=CLERK,
        reason="摄像头故障",
    )
    assert (
        r.created and r.attendance.undone_at is None and r.attendance.method is CheckinMethod.MANUAL
    )
    assert _count(session, Attendance) == 1 and _count(session, AuditEvent) == 3
