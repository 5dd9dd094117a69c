"""Migration 0003_term_record upgrades a database holding meetings made before it."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, inspect, text

from checkin.meetings.status import status
from models import Meeting, MeetingKind
from models.db import _alembic_config, current_revision, head_revision, make_session_factory


def test_existing_meetings_survive_the_upgrade(engine: Engine) -> None:
    cfg = _alembic_config(engine)
    command.downgrade(cfg, "0001")
    assert "terms" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO bodies (id, name, kind, created_at, updated_at) "
                "VALUES (1, '老镇人大', 'congress', :t, :t)"
            ),
            {"t": "2024-01-01 00:00:00"},
        )
        conn.execute(
            text(
                "INSERT INTO deputies (id, number, name, kind, status, face_subject, body_id, "
                "created_at, updated_at) VALUES (1, 'A1', '老代表', 'deputy', 'seated', 'f1', 1, "
                ":t, :t)"
            ),
            {"t": "2024-01-01 00:00:00"},
        )
        conn.execute(
            text(
                "INSERT INTO meetings (id, body_id, title, starts_at, quorum_rule, state, "
                "created_at, updated_at) VALUES (1, 1, 'old', :t, 'two_thirds', 'closed', :t, :t)"
            ),
            {"t": "2024-03-01 01:00:00"},
        )
        conn.execute(
            text(
                "INSERT INTO roster_entries (id, meeting_id, deputy_id, role, on_leave) "
                "VALUES (1, 1, 1, 'deputy', false)"
            )
        )
    command.upgrade(cfg, "head")
    assert current_revision(engine) == head_revision()
    columns = {c["name"] for c in inspect(engine).get_columns("meetings")}
    assert {"congress_session_id", "kind"} <= columns
    assert {"elected_at", "delegation"} <= {
        c["name"] for c in inspect(engine).get_columns("deputies")
    }
    with make_session_factory(engine)() as session:
        m = session.get(Meeting, 1)
        assert m is not None and m.kind is MeetingKind.PLENARY and m.congress_session_id is None
        st = status(session, 1)
        assert (st.expected, st.absent) == (1, 1)
