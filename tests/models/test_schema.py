from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Attendance, Body, CheckinMethod, Deputy, Meeting, RosterEntry
from models.crypto import TemplateCipher
from models.db import current_revision, head_revision, upgrade


def _meeting_with_deputy(session: Session) -> tuple[Meeting, Deputy]:
    body = Body(name="某镇第十八届人民代表大会")
    deputy = Deputy(number="001", name="张三")
    session.add_all([body, deputy])
    session.flush()
    meeting = Meeting(
        body_id=body.id, title="第一次会议", starts_at=datetime(2026, 12, 1, 9, tzinfo=UTC)
    )
    session.add(meeting)
    session.flush()
    session.add(RosterEntry(meeting_id=meeting.id, deputy_id=deputy.id))
    return meeting, deputy


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_attendance_is_unique_per_meeting_and_deputy(session: Session) -> None:
    meeting, deputy = _meeting_with_deputy(session)
    now = datetime.now(UTC)
    session.add(
        Attendance(
            meeting_id=meeting.id, deputy_id=deputy.id, checked_in_at=now, method=CheckinMethod.FACE
        )
    )
    session.flush()
    session.add(
        Attendance(
            meeting_id=meeting.id,
            deputy_id=deputy.id,
            checked_in_at=now,
            method=CheckinMethod.MANUAL,
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_roster_entry_needs_an_existing_deputy(session: Session) -> None:
    meeting, _ = _meeting_with_deputy(session)
    session.add(RosterEntry(meeting_id=meeting.id, deputy_id=99999))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_datetimes_come_back_timezone_aware(session: Session) -> None:
    meeting, _ = _meeting_with_deputy(session)
    session.commit()
    session.expire_all()
    assert session.get(Meeting, meeting.id).starts_at == datetime(2026, 12, 1, 9, tzinfo=UTC)


def test_template_cipher_round_trip_and_wrong_key() -> None:
    import numpy as np

    vec = np.linspace(-0.2, 0.2, 128)
    token = TemplateCipher("a" * 20).encrypt(vec)
    assert vec.tobytes() not in token
    assert np.array_equal(TemplateCipher("a" * 20).decrypt(token), vec)
    with pytest.raises(ValueError, match="cannot be decrypted"):
        TemplateCipher("b" * 20).decrypt(token)


def test_the_migrations_build_the_models_schema(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from models import Base

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


BEFORE_0005 = "0004_kiosk_binding"  # the revision the face-model migration follows


def test_templates_per_model_migration_keeps_data_and_moves_dlib_settings(engine: Engine) -> None:
    """0005 on a database with data: dlib templates stay, the same photo may get a template of
    each model (not twice of one), and a threshold stored before models existed becomes
    dlib's. Downgrading goes back (dropping the other models' templates)."""
    from alembic import command
    from sqlalchemy import text

    from models.db import _alembic_config

    command.downgrade(_alembic_config(engine), BEFORE_0005)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO face_templates (subject, encoding, model_id, quality, photo_sha256,"
                " flagged, created_at) VALUES ('s1', :e, 'dlib_resnet_v1_mirror', 1.0, 'h1',"
                " false, CURRENT_TIMESTAMP)"
            ),
            {"e": b"x"},
        )
        conn.execute(
            text(
                "INSERT INTO config_values (key, value, updated_at) VALUES"
                " ('match_threshold', '0.41', CURRENT_TIMESTAMP),"
                " ('timezone', 'UTC', CURRENT_TIMESTAMP)"
            )
        )
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    insert = text(
        "INSERT INTO face_templates (subject, encoding, model_id, quality, photo_sha256, flagged,"
        " created_at) VALUES ('s1', :e, :m, 1.0, 'h1', false, CURRENT_TIMESTAMP)"
    )
    with engine.begin() as conn:
        conn.execute(insert, {"e": b"y", "m": "sface_2021dec+yunet_2023mar_mirror"})
        keys = dict(conn.execute(text("SELECT key, value FROM config_values")).all())
    assert keys == {"dlib:match_threshold": "0.41", "timezone": "UTC"}
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert, {"e": b"z", "m": "dlib_resnet_v1_mirror"})  # same photo, same model
    command.downgrade(_alembic_config(engine), BEFORE_0005)
    with engine.begin() as conn:
        models = conn.execute(text("SELECT model_id FROM face_templates")).scalars().all()
        keys = dict(conn.execute(text("SELECT key, value FROM config_values")).all())
        conn.execute(text("DELETE FROM face_templates"))
        conn.execute(text("DELETE FROM config_values"))
    upgrade(engine)
    assert models == ["dlib_resnet_v1_mirror"]
    assert keys == {"match_threshold": "0.41", "timezone": "UTC"}
