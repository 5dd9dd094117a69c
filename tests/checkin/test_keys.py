"""`baodao secret rotate`: templates re-encrypted in one transaction, never left unreadable."""

from __future__ import annotations

import asyncio
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, select

from checkin import keys
from checkin.audit import Actor
from checkin.errors import ConfigError
from checkin.faces.model import info
from checkin.meetings.events import GalleryChanged
from checkin.settings import Settings
from checkin.web.app import create_app
from models import AuditEvent, Deputy, FaceTemplate
from models.crypto import TemplateCipher
from models.db import make_session_factory, session_scope
from tests.checkin.people import meeting_with_roster
from tests.server import BAODAO, baodao, baodao_env

CLI = Actor.cli()


@pytest.fixture
def file_settings(settings: Settings) -> Settings:
    """Settings whose key lives in the data folder (no BAODAO_SECRET_KEY)."""
    return settings.model_copy(update={"secret_key": None})


def store(engine: Engine, cipher: TemplateCipher) -> dict[int, np.ndarray]:
    """Three deputies on a meeting's roster with one template each; their vectors."""
    vectors: dict[int, np.ndarray] = {}
    with session_scope(make_session_factory(engine)) as s:
        people = []
        for i in range(3):
            d = Deputy(number=f"00{i}", name=f"代表{i}")
            s.add(d)
            s.flush()
            vectors[d.id] = np.random.default_rng(i).normal(size=128)
            s.add(
                FaceTemplate(
                    subject=d.face_subject,
                    encoding=cipher.encrypt(vectors[d.id]),
                    model_id=info("sface").template_id,  # the default model's gallery
                    photo_sha256=str(i) * 64,
                )
            )
            people.append(d)
        meeting_with_roster(s, people)
    return vectors


@pytest.fixture
def stored(file_settings: Settings, sqlite_engine: Engine) -> dict[int, np.ndarray]:
    """Templates encrypted with the key in the data folder."""
    return store(sqlite_engine, TemplateCipher(file_settings.resolved_secret()))


def templates(engine: Engine) -> dict[int, bytes]:
    with make_session_factory(engine)() as s:
        rows = s.execute(
            select(Deputy.id, FaceTemplate.encoding).join(
                FaceTemplate, FaceTemplate.subject == Deputy.face_subject
            )
        )
        return dict(rows.all())


def readable(engine: Engine, vectors: dict[int, np.ndarray], cipher: TemplateCipher) -> bool:
    try:
        return all(
            np.array_equal(cipher.decrypt(t), vectors[p]) for p, t in templates(engine).items()
        )
    except ValueError:
        return False


def rotate(settings: Settings, engine: Engine, **kw: object) -> keys.Rotation:
    return keys.rotate(settings, engine, make_session_factory(engine), actor=CLI, **kw)  # type: ignore[arg-type]


def test_rotation_re_encrypts_every_template_and_replaces_the_key(
    file_settings: Settings, sqlite_engine: Engine, stored: dict[int, np.ndarray]
) -> None:
    old = file_settings.resolved_secret()
    done = rotate(file_settings, sqlite_engine)
    new = file_settings.resolved_secret()
    key_file = file_settings.data_dir / keys.KEY_FILE
    assert done == keys.Rotation(3, key_file, resumed=False) and new != old
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not (file_settings.data_dir / keys.NEXT_FILE).exists()
    assert readable(sqlite_engine, stored, TemplateCipher(new))
    assert not readable(sqlite_engine, stored, TemplateCipher(old))
    with make_session_factory(sqlite_engine)() as s:
        assert s.scalar(select(AuditEvent.action)) == "secret.rotate"


def test_a_running_service_keeps_matching_after_a_rotation(
    file_settings: Settings, sqlite_engine: Engine, stored: dict[int, np.ndarray]
) -> None:
    app = create_app(file_settings, engine=sqlite_engine)
    matcher = app.state.matcher

    async def before_and_after() -> tuple[int, int]:
        before = len((await matcher.gallery(1)).roster)
        rotate(file_settings, sqlite_engine)  # as `baodao secret rotate` in another process
        app.state.events.publish(GalleryChanged())  # e.g. an enrollment: gallery rebuilt
        return before, len((await matcher.gallery(1)).roster)

    # decrypted after the rotation with the new key, which the service read from the file
    assert asyncio.run(before_and_after()) == (3, 3)
    token = app.state.cipher.encrypt(np.zeros(128))  # new templates use the new key
    TemplateCipher(file_settings.resolved_secret()).decrypt(token)


def test_a_failure_in_the_middle_leaves_the_old_key_and_old_ciphertexts(
    file_settings: Settings,
    sqlite_engine: Engine,
    stored: dict[int, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old_key, before = file_settings.resolved_secret(), templates(sqlite_engine)
    calls = 0
    reencrypt = TemplateCipher.reencrypt

    def fail_on_the_second(self: TemplateCipher, token: bytes) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("disk pulled out mid-rotation")
        return reencrypt(self, token)

    monkeypatch.setattr(TemplateCipher, "reencrypt", fail_on_the_second)
    with pytest.raises(OSError):
        rotate(file_settings, sqlite_engine)
    assert calls == 2  # it did fail in the middle, after one template was re-encrypted
    assert file_settings.resolved_secret() == old_key
    assert not (file_settings.data_dir / keys.NEXT_FILE).exists()
    assert templates(sqlite_engine) == before  # byte for byte
    assert readable(sqlite_engine, stored, keys.template_cipher(file_settings))


def test_a_crash_after_the_commit_is_readable_and_finished_by_the_next_run(
    file_settings: Settings,
    sqlite_engine: Engine,
    stored: dict[int, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old_key = file_settings.resolved_secret()

    replace = keys.os.replace

    def crash(src: Path, dst: Path) -> None:
        if Path(dst).name == keys.KEY_FILE:  # dies before the new key replaces the old one
            raise KeyboardInterrupt
        replace(src, dst)

    monkeypatch.setattr(keys.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        rotate(file_settings, sqlite_engine)
    monkeypatch.undo()
    pending = (file_settings.data_dir / keys.NEXT_FILE).read_text()
    assert file_settings.resolved_secret() == old_key
    assert readable(sqlite_engine, stored, TemplateCipher(pending))  # committed: new key
    assert readable(sqlite_engine, stored, keys.template_cipher(file_settings))  # both known
    done = rotate(file_settings, sqlite_engine)
    assert done.resumed and file_settings.resolved_secret() == pending
    assert readable(sqlite_engine, stored, TemplateCipher(pending))


def test_with_the_key_in_the_environment_rotation_needs_a_file_for_the_new_key(
    settings: Settings, sqlite_engine: Engine, tmp_path: Path
) -> None:
    assert settings.secret_key is not None
    stored = store(sqlite_engine, TemplateCipher(settings.secret_key.get_secret_value()))
    with pytest.raises(ConfigError, match="--new-key-file"):
        rotate(settings, sqlite_engine)
    assert readable(sqlite_engine, stored, TemplateCipher(settings.secret_key.get_secret_value()))
    out = tmp_path / "new.key"
    done = rotate(settings, sqlite_engine, new_key_file=out)
    assert done.key_file == out and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert readable(sqlite_engine, stored, TemplateCipher(out.read_text()))


def test_the_cli(tmp_path: Path) -> None:
    env = baodao_env(tmp_path / "var")
    baodao(["db", "upgrade"], env)
    r = subprocess.run([BAODAO, "secret", "rotate"], env=env, capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "--new-key-file" in r.stderr
    out = baodao(["secret", "rotate", "--new-key-file", str(tmp_path / "k")], env)
    assert "BAODAO_SECRET_KEY" in out and (tmp_path / "k").exists()
    del env["BAODAO_SECRET_KEY"]
    out = baodao(["secret", "rotate"], env)
    assert "secret.key" in out
