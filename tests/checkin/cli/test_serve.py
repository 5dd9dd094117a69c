"""`baodao serve` as a real process: migrations, first admin, health, readiness."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.server import Server, baodao_env


def test_serve_creates_the_database_and_a_first_admin(tmp_path: Path) -> None:
    env = baodao_env(tmp_path / "var")
    with Server(env) as server:
        assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
        assert httpx.get(server.url + "/readyz").json()["status"] == "ready"
        assert (tmp_path / "var" / "baodao.db").exists()
        log = server.log.read_text()
        password = re.search(r"one-time admin password: (\S+)", log)
        assert password, log
        headers = server.login("admin", password.group(1))
        assert httpx.get(server.url + "/api/auth/me", headers=headers).json()["role"] == "admin"
        assert httpx.get(server.url + "/api/users").status_code == 401
    with Server(env) as second:  # a second start on the same database: no new admin
        assert "one-time admin password" not in second.log.read_text()
