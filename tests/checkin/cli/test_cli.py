"""The `baodao` command as a user runs it: real subprocesses, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import User
from models.db import make_engine, make_session_factory

BAODAO = str(Path(sys.executable).parent / "baodao")


def run(
    args: list[str], env: dict[str, str], cwd: Path, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("BAODAO_")} | env
    return subprocess.run(
        [BAODAO, *args], env=full, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "BAODAO_DATA_DIR": str(tmp_path / "var"),
        "BAODAO_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'baodao.db'}",
    }


def test_help_lists_the_subcommands(tmp_path: Path, env: dict[str, str]) -> None:
    out = run(["--help"], env, tmp_path).stdout
    for sub in ("serve", "db", "user"):
        assert sub in out


def test_db_upgrade_is_idempotent_and_user_create(tmp_path: Path, env: dict[str, str]) -> None:
    for _ in range(2):
        r = run(["db", "upgrade"], env, tmp_path)
        assert r.returncode == 0, r.stderr
    assert (tmp_path / "var" / "baodao.db").exists()
    key = tmp_path / "var" / "secret.key"
    assert key.stat().st_mode & 0o777 == 0o600
    r = run(
        ["user", "create", "clerk", "--role", "secretariat"], env, tmp_path, stdin="pass-word-1\n"
    )
    assert r.returncode == 0, r.stderr
    r = run(
        ["user", "create", "clerk", "--role", "secretariat"], env, tmp_path, stdin="pass-word-1\n"
    )
    assert r.returncode == 2 and r.stderr.strip() == "baodao: user 'clerk' already exists"
    engine = make_engine(env["BAODAO_DATABASE_URL"])
    with make_session_factory(engine)() as s:
        assert s.scalar(select(func.count()).select_from(User)) == 1


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"BAODAO_DATABASE_URL": "nosuchdb://x"}, "cannot be used"),
        (
            {"BAODAO_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x"},
            "cannot reach the database",
        ),
        ({"BAODAO_DATA_DIR": "/proc/baodao"}, "not writable"),
        ({"BAODAO_MATCH_THRESHOLD": "5"}, "BAODAO_MATCH_THRESHOLD"),
        ({"BAODAO_FACE_MODEL": "arcface"}, "BAODAO_FACE_MODEL"),
        ({"BAODAO_SECRET_KEY": "changeme"}, "placeholder"),
    ],
)
def test_bad_configuration_is_one_line_and_nonzero(
    tmp_path: Path, env: dict[str, str], override: dict[str, str], expected: str
) -> None:
    r = run(["db", "upgrade"], env | override, tmp_path)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], r.stderr
    assert "Traceback" not in r.stderr
