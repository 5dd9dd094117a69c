"""Kiosks and meetings: the binding rule, standing, connection history and the time rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from checkin.accounts.scope import Scope
from checkin.accounts.service import bind_kiosk, register_kiosk, revoke_kiosk
from checkin.errors import NotFound
from checkin.meetings.kiosks import (
    Outage,
    Refusal,
    TimeSource,
    begin_connection,
    checkin_time,
    end_connection,
    judge,
    standing,
)
from models import Body, Kiosk, Meeting, MeetingState
from models.db import make_engine, make_session_factory, session_scope, upgrade

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OUTAGE = Outage(NOW - timedelta(minutes=20), NOW - timedelta(minutes=1))


@pytest.mark.parametrize(
    ("captured", "buffered", "expected", "source"),
    [
        (NOW - timedelta(minutes=10), False, NOW, TimeSource.SERVER),  # live: server clock
        (NOW - timedelta(minutes=10), True, NOW - timedelta(minutes=10), TimeSource.CAPTURE),
        (OUTAGE.start, True, OUTAGE.start, TimeSource.CAPTURE),  # the bounds belong to it
        (OUTAGE.end, True, OUTAGE.end, TimeSource.CAPTURE),
        (datetime(1999, 1, 1, tzinfo=UTC), True, NOW, TimeSource.ARRIVAL),
        (NOW - timedelta(minutes=21), True, NOW, TimeSource.ARRIVAL),  # kiosk was online
        (NOW - timedelta(seconds=30), True, NOW, TimeSource.ARRIVAL),  # after it reconnected
        (datetime(2030, 1, 1, tzinfo=UTC), True, NOW, TimeSource.ARRIVAL),  # the future
    ],
)
def test_a_buffered_capture_time_counts_only_inside_the_kiosks_outage(
    captured: datetime, buffered: bool, expected: datetime, source: TimeSource
) -> None:
    when = checkin_time(captured, buffered=buffered, outage=OUTAGE, now=NOW)
    assert (when.at, when.source) == (expected, source)
    assert (when.note is not None) == (source is TimeSource.ARRIVAL)


def test_without_a_known_outage_no_capture_time_is_believed() -> None:
    when = checkin_time(NOW - timedelta(minutes=5), buffered=True, outage=None, now=NOW)
    assert (when.at, when.source) == (NOW, TimeSource.ARRIVAL)


def _world(session: Session) -> tuple[Kiosk, Meeting, Meeting]:
    home, other = Body(name="甲镇人大"), Body(name="乙镇人大")
    session.add_all([home, other])
    session.flush()
    mine = Meeting(body_id=home.id, title="甲镇会议", starts_at=NOW, state=MeetingState.OPEN)
    theirs = Meeting(body_id=other.id, title="乙镇会议", starts_at=NOW, state=MeetingState.OPEN)
    session.add_all([mine, theirs])
    kiosk, _ = register_kiosk(session, name="东门", body_id=home.id, scope=Scope.everything())
    return kiosk, mine, theirs


def test_standing_token_binding_meeting_state_and_newest_connection(session: Session) -> None:
    kiosk, mine, theirs = _world(session)
    assert judge(kiosk, mine) is None
    assert judge(kiosk, theirs).kind is Refusal.NOT_BOUND  # type: ignore[union-attr]
    assert judge(kiosk, None).kind is Refusal.UNKNOWN_MEETING  # type: ignore[union-attr]
    mine.state = MeetingState.DRAFT
    assert judge(kiosk, mine) is None  # served, but no face check-in (attendance refuses)
    mine.state = MeetingState.CLOSED
    assert judge(kiosk, mine).kind is Refusal.UNKNOWN_MEETING  # type: ignore[union-attr]
    mine.state = MeetingState.OPEN
    begin_connection(kiosk, at=NOW)
    first = kiosk.connection
    begin_connection(kiosk, at=NOW)
    session.flush()
    found = standing(session, kiosk_id=kiosk.id, meeting_id=mine.id, connection=first)
    assert found is not None and found.kind is Refusal.REPLACED
    assert (
        standing(session, kiosk_id=kiosk.id, meeting_id=mine.id, connection=kiosk.connection)
        is None
    )
    bind_kiosk(session, name="东门", body_id=theirs.body_id, scope=Scope.everything())
    assert judge(kiosk, theirs) is None and judge(kiosk, mine).kind is Refusal.NOT_BOUND  # type: ignore[union-attr]
    revoke_kiosk(session, name="东门", scope=Scope.everything())
    assert judge(kiosk, theirs).kind is Refusal.BAD_TOKEN  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        register_kiosk(session, name="西门", body_id=999, scope=Scope.everything())


def test_connection_history_bounds_the_next_outage(session: Session) -> None:
    kiosk, _, _ = _world(session)
    kiosk.created_at = NOW - timedelta(hours=3)
    first = begin_connection(kiosk, at=NOW - timedelta(hours=1))
    assert first == Outage(NOW - timedelta(hours=3), NOW - timedelta(hours=1))  # never seen
    session.flush()
    end_connection(session, kiosk_id=kiosk.id, last_message_at=NOW - timedelta(minutes=30))
    end_connection(session, kiosk_id=kiosk.id, last_message_at=NOW - timedelta(minutes=50))
    session.refresh(kiosk)  # an older connection ending late does not move it back
    assert kiosk.disconnected_at == NOW - timedelta(minutes=30)
    second = begin_connection(kiosk, at=NOW)
    assert second == Outage(NOW - timedelta(minutes=30), NOW)
    # A server killed mid-connection never records the end: the last-seen time bounds it.
    third = begin_connection(kiosk, at=NOW + timedelta(minutes=5))
    assert third.start == NOW


def test_kiosks_from_before_binding_are_refused_after_the_upgrade(tmp_path: object) -> None:
    from alembic import command

    from models.db import _alembic_config

    engine: Engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    command.upgrade(_alembic_config(engine), "0001")
    with engine.begin() as conn:  # a kiosk and a meeting as the old version stored them
        conn.execute(text("INSERT INTO bodies (name, kind) VALUES ('甲镇人大', 'congress')"))
        conn.execute(
            text(
                "INSERT INTO meetings (body_id, title, starts_at, quorum_rule, state)"
                " VALUES (1, '会议', '2026-12-01 09:00:00', 'two_thirds', 'open')"
            )
        )
        conn.execute(
            text("INSERT INTO kiosks (name, token_hash) VALUES ('旧终端', :h)"), {"h": "0" * 64}
        )
    upgrade(engine)
    with session_scope(make_session_factory(engine)) as s:
        kiosk, meeting = s.get(Kiosk, 1), s.get(Meeting, 1)
        assert kiosk is not None and kiosk.body_id is None
        refused = judge(kiosk, meeting)
        assert refused is not None and refused.kind is Refusal.NOT_BOUND
        assert "baodao kiosk bind 旧终端" in refused.message
        bind_kiosk(s, name="旧终端", body_id=1, scope=Scope.everything())
        assert judge(kiosk, meeting) is None
    engine.dispose()
