"""The term report reads the database in a fixed number of queries, whatever its size."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from checkin.meetings import history
from models import (
    Attendance,
    Body,
    CheckinMethod,
    CongressSession,
    Deputy,
    Meeting,
    RosterEntry,
    Term,
)

AS_OF = datetime(2026, 1, 1, tzinfo=UTC)


def build(session: Session, *, name: str, deputies: int, sessions: int, plenaries: int) -> int:
    body = Body(name=name)
    session.add(body)
    session.flush()
    term = Term(body_id=body.id, number=1, title="第一届", starts_on=date(2025, 1, 1))
    people = [
        Deputy(number=f"{name[:2]}{i:04}", name=f"代表{i}", body_id=body.id)
        for i in range(deputies)
    ]
    session.add_all([term, *people])
    session.flush()
    for s in range(sessions):
        cs = CongressSession(
            term_id=term.id, number=s + 1, title=f"第{s + 1}次会议", starts_on=date(2025, 3, 1)
        )
        session.add(cs)
        session.flush()
        for p in range(plenaries):
            start = datetime(2025, 3 + s, 1 + p, 1, tzinfo=UTC)
            m = Meeting(
                body_id=body.id, title=f"全体会议{p}", starts_at=start, congress_session_id=cs.id
            )
            session.add(m)
            session.flush()
            for i, d in enumerate(people):
                session.add(RosterEntry(meeting_id=m.id, deputy_id=d.id, on_leave=i % 5 == 1))
                if i % 3:
                    session.add(
                        Attendance(
                            meeting_id=m.id,
                            deputy_id=d.id,
                            checked_in_at=start - timedelta(minutes=5),
                            method=CheckinMethod.FACE,
                        )
                    )
    session.commit()
    return term.id


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_queries_do_not_grow_with_deputies_or_meetings(session: Session, engine: Engine) -> None:
    small = build(session, name="小镇人大", deputies=3, sessions=1, plenaries=2)
    large = build(session, name="大镇人大", deputies=40, sessions=3, plenaries=3)
    counts = []
    for term_id, number in ((small, "小镇0001"), (large, "大镇0039")):
        session.expunge_all()  # nothing cached from building
        with counting(engine) as statements:
            report = history.term_report(session, term_id, as_of=AS_OF)
            record = history.deputy_record(session, number, as_of=AS_OF)
        assert report.rows and record.lines
        counts.append(len(statements))
    assert counts[0] == counts[1] == 12, counts  # report 5, record 7 (deputy, terms, 5)
    assert len(report.rows) == 40 and len(report.meetings) == 9
