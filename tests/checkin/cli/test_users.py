"""`baodao user list|deactivate|activate|reset-password`, as an operator runs them; audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from checkin.accounts.service import LoginPolicy, authenticate
from checkin.errors import Unauthorized
from models import AuditEvent, User
from models.db import make_engine, make_session_factory
from tests.checkin.cli.test_cli import run


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "BAODAO_DATA_DIR": str(tmp_path / "var"),
        "BAODAO_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'baodao.db'}",
    }


def _user(env: dict[str, str], name: str) -> User:
    with make_session_factory(make_engine(env["BAODAO_DATABASE_URL"]))() as s:
        user = s.scalar(select(User).where(User.username == name))
        assert user is not None
        return user


def test_the_account_lifecycle_from_the_command_line(tmp_path: Path, env: dict[str, str]) -> None:
    for name, role in (("root", "admin"), ("clerk", "secretariat")):
        r = run(["user", "create", name, "--role", role], env, tmp_path, stdin="pass-word-12\n")
        assert r.returncode == 0, r.stderr
    assert _user(env, "clerk").must_change_password  # chosen by the operator, not the owner
    r = run(["user", "create", "short", "--role", "admin"], env, tmp_path, stdin="short-pw\n")
    assert r.returncode == 2 and "10" in r.stderr and len(r.stderr.strip().splitlines()) == 1

    listing = run(["user", "list"], env, tmp_path)
    assert listing.returncode == 0 and "clerk" in listing.stdout and "root" in listing.stdout

    version = _user(env, "clerk").token_version
    r = run(["user", "deactivate", "clerk"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    clerk = _user(env, "clerk")
    assert not clerk.active and clerk.token_version == version + 1
    assert "停用" in run(["user", "list"], env, tmp_path).stdout
    assert run(["user", "activate", "clerk"], env, tmp_path).returncode == 0
    assert _user(env, "clerk").active

    r = run(["user", "reset-password", "clerk"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    temporary = r.stdout.strip().splitlines()[-1].split(": ", 1)[1]
    with make_session_factory(make_engine(env["BAODAO_DATABASE_URL"]))() as s:
        user = authenticate(s, username="clerk", password=temporary, policy=LoginPolicy())
        assert user.must_change_password
        try:
            authenticate(s, username="clerk", password="pass-word-12", policy=LoginPolicy())
        except Unauthorized:
            pass
        else:
            raise AssertionError("the old password still works")
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions[:5] == [
        "user.create",
        "user.create",
        "user.deactivate",
        "user.activate",
        "user.reset_password",
    ]

    r = run(["user", "deactivate", "root"], env, tmp_path)  # the last active admin
    assert r.returncode == 2 and "last admin" in r.stderr
    r = run(["user", "deactivate", "nobody"], env, tmp_path)
    assert r.returncode == 2 and "nobody" in r.stderr
