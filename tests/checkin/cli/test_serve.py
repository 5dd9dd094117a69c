"""`baodao serve` as a real process: migrations, first admin, health, readiness, clean logs."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.server import Server, baodao_env

FIRST_PASSWORD = "admin-initial-password.txt"


def test_serve_creates_the_database_and_a_first_admin(tmp_path: Path) -> None:
    env = baodao_env(tmp_path / "var")
    with Server(env) as server:
        assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
        assert httpx.get(server.url + "/readyz").json()["status"] == "ready"
        assert (tmp_path / "var" / "baodao.db").exists()
        secret = tmp_path / "var" / FIRST_PASSWORD
        assert secret.stat().st_mode & 0o777 == 0o600
        password = secret.read_text().strip()
        log = server.log.read_text()
        assert str(secret.resolve()) in log and "必须修改密码" in log
        assert password not in log
        headers = server.login("admin", password)
        me = httpx.get(server.url + "/api/auth/me", headers=headers).json()
        assert me["role"] == "admin" and me["must_change_password"] is True
        r = httpx.get(server.url + "/api/users", headers=headers)
        assert r.status_code == 403 and r.json()["error"] == "password_change_required"
        assert httpx.get(server.url + "/api/users").status_code == 401
    with Server(env) as second:  # a second start on the same database: no new admin
        assert FIRST_PASSWORD not in second.log.read_text()


@pytest.mark.slow
def test_no_password_or_token_reaches_the_serve_output(tmp_path: Path) -> None:
    env = baodao_env(tmp_path / "var", BAODAO_LOG_LEVEL="DEBUG")
    with Server(env) as server:
        first = (tmp_path / "var" / FIRST_PASSWORD).read_text().strip()
        r = httpx.post(
            server.url + "/api/auth/login", data={"username": "admin", "password": first}
        )
        old_token = r.json()["token"]
        new_password = "my-own-admin-password"
        r = httpx.post(
            server.url + "/api/auth/password",
            json={"old_password": first, "new_password": new_password},
            headers={"Authorization": f"Bearer {old_token}"},
        )
        token = r.json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        body = httpx.post(server.url + "/api/bodies", json={"name": "某镇人大"}, headers=bearer)
        kiosk_token = httpx.post(
            server.url + "/api/kiosks",
            json={"name": "东门", "body_id": body.json()["id"]},
            headers=bearer,
        ).json()["token"]
        # tokens where logs see them: in URLs (HTTP and WebSocket), headers, cookies
        httpx.get(server.url + f"/api/auth/me?token={token}", headers=bearer)
        httpx.get(server.url + f"/healthz?token={kiosk_token}")
        httpx.get(server.url + "/api/auth/me", cookies={"baodao_session": token})
        try:
            with connect(server.ws_url + f"/ws/meetings/999/live?token={token}") as ws:
                ws.recv(timeout=5)
        except Exception:  # closed with 4404: the URL is logged all the same
            pass
        with pytest.raises(InvalidStatus):  # a refused handshake logs its URL too
            with connect(server.ws_url + f"/nowhere?token={kiosk_token}"):
                pass
        httpx.post(server.url + "/api/auth/login", data={"username": "admin", "password": "x"})
    log = server.log.read_text()
    assert "token=[redacted]" in log  # the access log saw those URLs
    for secret in (first, new_password, old_token, token, kiosk_token):
        assert secret not in log
