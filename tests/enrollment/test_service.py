"""Persistence without the face engine: idempotence, transactions, removal, look-alikes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from checkin.accounts.scope import Scope
from checkin.audit import Actor
from checkin.errors import NotFound
from checkin.runtime import Runtime
from enrollment import pipeline, service
from enrollment.pipeline import EngineParams, PhotoJob, PhotoOutcome
from enrollment.roster import RosterRow
from models import (
    Attendance,
    AuditEvent,
    Body,
    CheckinMethod,
    Deputy,
    DeputyStatus,
    FaceTemplate,
    LookalikePair,
    Meeting,
)
from models.db import session_scope
from tests.enrollment.conftest import near, unit

ACTOR = Actor.cli()


def ok(number: str, label: str, enc: np.ndarray, sha: str | None = None) -> PhotoOutcome:
    return PhotoOutcome(number, label, sha or f"sha-{label}", True, encoding=enc, quality=0.9)


def store(
    rt: Runtime, number: str, outcomes: list[PhotoOutcome], name: str = "张三"
) -> service.DeputyResult:
    return service.store_one(
        rt.sessions,
        cipher=rt.cipher,
        model=rt.settings.face_model,
        number=number,
        outcomes=outcomes,
        threshold=rt.settings.match_threshold,
        actor=ACTOR,
        row=RosterRow(2, number, name),
    )


def count(rt: Runtime, model: type) -> int:
    with session_scope(rt.sessions) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_same_photo_twice_is_stored_once(rt: Runtime) -> None:
    me = unit(1)
    first = store(rt, "1", [ok("1", "a.jpg", me), ok("1", "b.jpg", near(me, 0.2, 2))])
    assert first.status == "created" and [p.status for p in first.photos] == ["enrolled"] * 2
    again = store(rt, "1", [ok("1", "a.jpg", me), ok("1", "copy-of-a.jpg", me, sha="sha-a.jpg")])
    assert again.status == "unchanged"
    assert [p.status for p in again.photos] == ["duplicate", "duplicate"]
    assert count(rt, FaceTemplate) == 2 and count(rt, Deputy) == 1
    with session_scope(rt.sessions) as s:
        stored = s.scalars(select(FaceTemplate.encoding)).all()
        assert any(np.allclose(rt.cipher.decrypt(t), me) for t in stored)
        assert all(me.tobytes() not in t for t in stored)  # encrypted at rest


def test_new_deputy_without_a_usable_photo_is_not_created(rt: Runtime) -> None:
    bad = PhotoOutcome("1", "a.jpg", "sha", False, "no_face")
    result = store(rt, "1", [bad])
    assert result.status == "failed" and result.photos[0].reason == "no_face"
    assert count(rt, Deputy) == 0 and count(rt, AuditEvent) == 0


def test_existing_deputy_gets_roster_changes_and_flags(rt: Runtime) -> None:
    me = unit(1)
    store(rt, "1", [ok("1", "a.jpg", me), ok("1", "b.jpg", near(me, 0.1, 3))])
    result = store(rt, "1", [ok("1", "c.jpg", unit(50))], name="张三丰")
    assert result.status == "updated" and result.templates == 3
    assert result.photos[0].flagged
    with session_scope(rt.sessions) as s:
        assert s.scalar(select(Deputy.name)) == "张三丰"
        assert s.scalar(select(func.count()).where(FaceTemplate.flagged)) == 1


def test_database_failure_mid_deputy_stores_nothing_of_it(rt: Runtime) -> None:
    inserts = {"n": 0}

    # The deputy row is already written when the templates fail (PostgreSQL inserts both
    # templates in one statement, so fail the first template INSERT, after the deputy's).
    def fail_second_template(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        upper = statement.lstrip().upper()
        if upper.startswith("INSERT INTO DEPUTIES"):
            inserts["n"] += 1
        if upper.startswith("INSERT INTO FACE_TEMPLATES") and inserts["n"] == 1:
            raise OperationalError(statement, {}, Exception("disk full (simulated)"))

    me = unit(1)
    event.listen(rt.engine, "before_cursor_execute", fail_second_template)
    try:
        result = store(rt, "1", [ok("1", "a.jpg", me), ok("1", "b.jpg", near(me, 0.1, 2))])
    finally:
        event.remove(rt.engine, "before_cursor_execute", fail_second_template)
    assert result.status == "failed"
    assert {p.reason for p in result.photos} == {"storage_error"}
    assert count(rt, Deputy) == 0 and count(rt, FaceTemplate) == 0 and count(rt, AuditEvent) == 0
    assert store(rt, "2", [ok("2", "c.jpg", unit(2))]).status == "created"


def test_import_continues_after_a_database_failure(
    rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import-level view of a failing deputy, with a fake engine (workers=1, in-process)."""
    for n in ("1", "2", "3"):
        (tmp_path / f"{n}.jpg").write_bytes(f"photo {n}".encode())
        (tmp_path / f"{n}_2.jpg").write_bytes(f"photo {n} again".encode())

    def fake(job: PhotoJob, params: EngineParams) -> PhotoOutcome:
        assert job.path is not None
        sha = pipeline.sha256_file(job.path)
        return PhotoOutcome(
            job.key,
            job.label,
            sha,
            True,
            encoding=near(unit(int(job.key)), 0.1, hash(job.label) % 1000),
            quality=1.0,
        )

    monkeypatch.setattr(pipeline, "process_photo", fake)
    real_persist = service.persist_deputy

    def flaky(session, **kw):  # type: ignore[no-untyped-def]
        result = real_persist(session, **kw)
        if kw["number"] == "2":
            session.flush()
            raise OperationalError("COMMIT", {}, Exception("connection lost (simulated)"))
        return result

    monkeypatch.setattr(service, "persist_deputy", flaky)
    rows = [RosterRow(i + 2, n, f"代表{n}") for i, n in enumerate(("1", "2", "3"))]
    report = service.import_roster(
        rt.sessions,
        cipher=rt.cipher,
        settings=rt.settings,
        rows=rows,
        photos_dir=tmp_path,
        workers=1,
        actor=ACTOR,
        scope=Scope.everything(),
    )
    assert [d.status for d in report.deputies] == ["created", "failed", "created"]
    assert report.totals()["failed_photos"] == 2
    with session_scope(rt.sessions) as s:
        assert s.scalars(select(Deputy.number).order_by(Deputy.number)).all() == ["1", "3"]
        assert s.scalar(select(func.count()).select_from(FaceTemplate)) == 4


def test_remove_face_data_keeps_deputy_and_attendance(rt: Runtime) -> None:
    store(rt, "1", [ok("1", "a.jpg", unit(1))])
    with session_scope(rt.sessions) as s:
        deputy = s.scalar(select(Deputy))
        assert deputy is not None
        body = Body(name="某镇第十八届人民代表大会")
        s.add(body)
        s.flush()
        meeting = Meeting(body_id=body.id, title="第一次会议", starts_at=datetime.now(UTC))
        s.add(meeting)
        s.flush()
        s.add(
            Attendance(
                meeting_id=meeting.id,
                deputy_id=deputy.id,
                checked_in_at=datetime.now(UTC),
                method=CheckinMethod.FACE,
            )
        )
        old_subject = deputy.face_subject
    with session_scope(rt.sessions) as s:
        assert service.remove_face_data(s, number="1", actor=ACTOR, scope=Scope.everything()) == 1
    with session_scope(rt.sessions) as s:
        deputy = s.scalar(select(Deputy))
        assert deputy is not None and deputy.face_subject != old_subject
        assert s.scalar(select(func.count()).select_from(FaceTemplate)) == 0
        assert s.scalar(select(func.count()).select_from(Attendance)) == 1
        actions = s.scalars(select(AuditEvent.action)).all()
        assert "deputy.face_delete" in actions
    with session_scope(rt.sessions) as s, pytest.raises(NotFound):
        service.remove_face_data(s, number="nobody", actor=ACTOR, scope=Scope.everything())


def test_lookalikes_are_stored_and_retired_deputies_leave_the_gallery(rt: Runtime) -> None:
    a = unit(1)
    store(rt, "1", [ok("1", "a.jpg", a)])
    store(rt, "2", [ok("2", "b.jpg", near(a, 0.47, 5))])  # within 0.45 + 0.05
    store(rt, "3", [ok("3", "c.jpg", unit(3))])
    with session_scope(rt.sessions) as s:
        pairs = service.refresh_lookalikes(s, cipher=rt.cipher, settings=rt.settings)
    assert [(p["a"]["number"], p["b"]["number"]) for p in pairs] == [("1", "2")]
    assert count(rt, LookalikePair) == 1
    with session_scope(rt.sessions) as s:
        service.retire(s, number="2", actor=ACTOR, scope=Scope.everything())
    with session_scope(rt.sessions) as s:
        assert (
            service.get_lookalikes(s, model=rt.settings.face_model, scope=Scope.everything()) == []
        )
        gallery, deputies = service.load_gallery(s, cipher=rt.cipher, model=rt.settings.face_model)
        assert sorted(d.number for d in deputies.values()) == ["1", "3"]
        assert s.scalar(select(Deputy.status).where(Deputy.number == "2")) == DeputyStatus.RETIRED
