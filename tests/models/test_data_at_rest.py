"""Data at rest: private files and folder; a deleted face template leaves no bytes behind."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import select

from checkin.runtime import open_runtime
from checkin.settings import Settings
from models import Deputy, FaceTemplate
from models.crypto import TemplateCipher
from models.db import make_engine, make_session_factory, session_scope
from tests.conftest import login
from tests.server import baodao, baodao_env


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_files_are_0600_and_the_data_folder_0700(tmp_path: Path) -> None:
    data = tmp_path / "var"
    settings = Settings(
        database_url=f"sqlite:///{data / 'baodao.db'}",
        data_dir=data,
        _env_file=None,  # type: ignore[call-arg]
    ).model_copy(update={"secret_key": None})
    rt = open_runtime(settings)  # creates the folder, the database (migrated) and the key
    with session_scope(rt.sessions) as s:  # a write, with a reader open: -wal and -shm exist
        s.add(Deputy(number="1", name="甲"))
    with rt.engine.connect() as reader:
        reader.exec_driver_sql("SELECT count(*) FROM deputies").one()
        files = [data / n for n in ("baodao.db", "baodao.db-wal", "baodao.db-shm", "secret.key")]
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert mode(data) == 0o700
    rt.engine.dispose()


def test_files_left_readable_by_an_older_version_are_made_private(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    db = data / "baodao.db"
    make_engine(f"sqlite:///{db}").dispose()
    for p in (data, db):
        p.chmod(0o755 if p.is_dir() else 0o644)  # as the old version left them
    settings = Settings(
        database_url=f"sqlite:///{db}",
        data_dir=data,
        secret_key="test-secret-key-0123456789",  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )
    open_runtime(settings).engine.dispose()
    assert (mode(data), mode(db)) == (0o700, 0o600)


def _enrol(settings: Settings, number: str) -> bytes:
    """One deputy with one template; returns the template's ciphertext."""
    engine = make_engine(settings.database_url)
    token = TemplateCipher(settings.resolved_secret()).encrypt(
        np.random.default_rng(7).normal(size=128)
    )
    with session_scope(make_session_factory(engine)) as s:
        deputy = Deputy(number=number, name="甲")
        s.add(deputy)
        s.flush()
        s.add(
            FaceTemplate(
                subject=deputy.face_subject, encoding=token, model_id="m", photo_sha256="0" * 64
            )
        )
    engine.dispose()
    return token


def _where(db: Path, needle: bytes) -> list[str]:
    """The database files (db, -wal, -shm) that contain `needle`."""
    files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    return [f.name for f in files if f.exists() and needle in f.read_bytes()]


def test_deleted_face_data_is_in_neither_the_database_nor_the_wal(
    app_client: TestClient, settings: Settings
) -> None:
    db = Path(settings.database_url.removeprefix("sqlite:///"))
    token = _enrol(settings, "1001")
    assert _where(db, token)  # stored: the bytes are somewhere in the files
    admin = login(app_client, "admin")
    r = app_client.delete("/api/deputies/1001/face", headers=admin)
    assert r.status_code == 200 and r.json()["templates_deleted"] == 1
    assert _where(db, token) == []
    assert _where(db, token[:40]) == []  # not even a piece of it


def test_enroll_remove_from_the_cli_leaves_no_bytes_either(tmp_path: Path) -> None:
    env = baodao_env(tmp_path / "var")
    baodao(["db", "upgrade"], env)
    settings = Settings(
        database_url=env["BAODAO_DATABASE_URL"],
        data_dir=tmp_path / "var",
        secret_key=env["BAODAO_SECRET_KEY"],  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )
    token = _enrol(settings, "1001")
    db = tmp_path / "var" / "baodao.db"
    assert _where(db, token)
    baodao(["enroll", "remove", "1001"], env)
    assert _where(db, token) == []
    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as s:  # the deputy stays, the template is gone
        assert s.scalar(select(Deputy.number)) == "1001" and s.scalar(select(FaceTemplate)) is None
    engine.dispose()


def test_secure_delete_is_on_and_is_what_zeroes_deleted_bytes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    with engine.connect() as conn:  # ours, whatever the SQLite build's default
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    engine.dispose()
    secret = b"template-ciphertext-" * 20
    found = {}
    for setting in ("OFF", "ON"):  # the control shows the test could fail
        path = tmp_path / f"{setting}.db"
        conn = sqlite3.connect(path)
        conn.execute(f"PRAGMA secure_delete={setting}")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)")
        conn.execute("INSERT INTO t (b) VALUES (?), (?)", (secret, b"other"))
        conn.commit()
        conn.execute("DELETE FROM t WHERE b = ?", (secret,))
        conn.commit()
        conn.close()
        found[setting] = secret in path.read_bytes()
    assert found == {"OFF": True, "ON": False}
