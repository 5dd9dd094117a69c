"""`baodao calibrate` over the enrolled gallery in the database and `--apply`, run as a user.

The synthetic encodings are dlib-like (Euclidean distances), so these runs use the dlib model
(`BAODAO_FACE_MODEL=dlib`); the value is stored for that model only (`dlib:match_threshold`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from checkin.faces.model import info
from checkin.runtime import open_runtime
from checkin.settings import Settings
from models import AuditEvent, ConfigValue, Deputy, DeputyStatus, FaceTemplate
from models.crypto import TemplateCipher
from models.db import session_scope

BAODAO = str(Path(sys.executable).parent / "baodao")
DLIB = info("dlib").template_id
SECRET = "calibrate-secret-key-0123456789"


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("BAODAO_")} | env
    return subprocess.run(
        [BAODAO, *args], env=full, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "BAODAO_DATA_DIR": str(tmp_path / "var"),
        "BAODAO_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'baodao.db'}",
        "BAODAO_SECRET_KEY": SECRET,
        "BAODAO_FACE_MODEL": "dlib",
        "COLUMNS": "200",
    }


def _settings(env: dict[str, str]) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=Path(env["BAODAO_DATA_DIR"]),
        database_url=env["BAODAO_DATABASE_URL"],
        secret_key=SECRET,
        face_model=env.get("BAODAO_FACE_MODEL", "sface"),
    )


def _enrol(env: dict[str, str], deputies: int, *, retired_lookalike: bool = False) -> None:
    """Deputies with synthetic encodings: D02/D03 look alike (0.30 apart), the rest ≈0.8."""
    rng = np.random.default_rng(7)
    base = [rng.normal(0, 0.05, 128) for _ in range(deputies)]
    if deputies >= 3:
        step = rng.normal(0, 1, 128)
        base[2] = base[1] + 0.30 * step / np.linalg.norm(step)
    rt = open_runtime(_settings(env))
    cipher = TemplateCipher(SECRET)
    with session_scope(rt.sessions) as s:
        for i, enc in enumerate(base, start=1):
            d = Deputy(number=f"D{i:02d}", name=f"代表{i}")
            s.add(d)
            s.flush()
            encs = [enc, enc + rng.normal(0, 0.01, 128)] if i == 1 else [enc]
            for j, e in enumerate(encs):
                s.add(
                    FaceTemplate(
                        subject=d.face_subject, encoding=cipher.encrypt(e), model_id=DLIB,
                        quality=1.0, photo_sha256=f"{i:032d}{j:032d}",
                    )
                )  # fmt: skip
        if retired_lookalike:  # a retired deputy identical to D01 must not count
            r = Deputy(number="R01", name="离任", status=DeputyStatus.RETIRED)
            s.add(r)
            s.flush()
            s.add(
                FaceTemplate(
                    subject=r.face_subject, encoding=cipher.encrypt(base[0]), model_id=DLIB,
                    quality=1.0, photo_sha256="r" * 64,
                )
            )  # fmt: skip
    rt.engine.dispose()


def test_calibrate_from_the_database_lists_lookalikes_and_applies(
    env: dict[str, str], tmp_path: Path
) -> None:
    _enrol(env, 8, retired_lookalike=True)
    r = run(["calibrate", "--target-far", "0.01", "--pairs", "3"], env, tmp_path)
    assert r.returncode == 0, r.stderr + r.stdout
    assert "D02 代表2" in r.stdout and "D03 代表3" in r.stdout and "0.300" in r.stdout
    assert "R01" not in r.stdout
    assert "28 对" in r.stdout  # 8 seated deputies -> 28 pairs; the retired one is left out
    with open_runtime(_settings(env)).sessions() as s:
        assert s.scalars(select(ConfigValue)).all() == []  # no --apply, nothing stored

    r = run(["calibrate", "--target-far", "0.01", "--apply"], env, tmp_path)
    assert r.returncode == 0, r.stderr + r.stdout
    assert "dlib 模型的 match_threshold 0.43 →" in r.stdout
    rt = open_runtime(_settings(env))
    with rt.sessions() as s:
        row = s.get(ConfigValue, "dlib:match_threshold")
        assert row is not None
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "settings.calibrate")).one()
    new = float(row.value)
    assert new <= 0.30  # never above the closest different pair with so few pairs
    assert rt.settings.match_threshold == new  # the next runtime uses it
    assert event.actor == "cli" and event.detail is not None
    assert event.detail["changes"] == {"dlib:match_threshold": {"old": None, "new": row.value}}
    assert event.detail["model"] == "dlib"
    assert event.detail["effective_before"] == {"match_threshold": 0.43}
    assert event.detail["deputies"] == 8
    assert f"{new:.3f}" in r.stdout


def test_calibrate_needs_three_enrolled_deputies(env: dict[str, str], tmp_path: Path) -> None:
    _enrol(env, 2)
    r = run(["calibrate", "--apply"], env, tmp_path)
    assert r.returncode == 2
    assert "只有 2 位" in r.stdout and "Traceback" not in r.stdout + r.stderr
    with open_runtime(_settings(env)).sessions() as s:
        assert s.scalars(select(ConfigValue)).all() == []


def test_calibrate_no_db_needs_a_folder(env: dict[str, str], tmp_path: Path) -> None:
    r = run(["calibrate", "--no-db"], env, tmp_path)
    assert r.returncode == 2 and "--faces" in r.stdout


def test_the_sface_model_does_not_see_dlib_templates_nor_their_stored_threshold(
    env: dict[str, str], tmp_path: Path
) -> None:
    _enrol(env, 8)
    assert run(["calibrate", "--apply"], env, tmp_path).returncode == 0
    sface = env | {"BAODAO_FACE_MODEL": "sface"}
    r = run(["calibrate", "--apply"], sface, tmp_path)
    assert r.returncode == 2 and "只有 0 位" in r.stdout  # dlib templates are not SFace's
    assert open_runtime(_settings(sface)).settings.match_threshold == 0.55
    assert open_runtime(_settings(env)).settings.match_threshold <= 0.30
