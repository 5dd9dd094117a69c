"""No 500s: ids beyond 64 bits are 422 (and a close code on sockets), parallel creates of the
same thing are one 201 and 409s, all in the one error shape."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.websockets import WebSocketDisconnect

from checkin.accounts.service import create_user
from models import Role
from models.db import make_session_factory, session_scope
from tests.conftest import PASSWORD, login
from tests.server import Server, baodao_env

HUGE = 2**70


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"/api/meetings/{HUGE}", None),
        ("GET", f"/api/meetings/{-HUGE}/status", None),
        ("GET", f"/api/meetings/{2**63}/sheet.csv", None),
        ("DELETE", f"/api/meetings/1/roster/{HUGE}", None),
        ("POST", f"/api/users/{HUGE}/deactivate", None),
        ("POST", "/api/meetings", {"body_id": HUGE, "title": "t", "starts_at": "2026-12-01T09:00"}),
        (
            "POST",
            "/api/meetings",
            {"body_id": 1, "title": "t", "starts_at": "2026-12-01T09:00", "deputy_ids": [HUGE]},
        ),
        ("POST", "/api/meetings/1/checkin", {"deputy_id": HUGE, "reason": "r"}),
        ("POST", "/api/meetings/1/leave", {"deputy_id": -HUGE, "reason": "r"}),
        ("GET", f"/meetings/{HUGE}/screen", None),
    ],
)
def test_ids_beyond_64_bits_are_422(
    app_client: TestClient, method: str, path: str, body: dict[str, object] | None
) -> None:
    admin = login(app_client, "admin")
    r = app_client.request(method, path, json=body, headers=admin)
    assert r.status_code == 422, r.text
    assert set(r.json()) == {"error", "message"} and r.json()["error"] == "invalid_input"


def test_the_largest_64_bit_id_is_simply_not_found(app_client: TestClient) -> None:
    admin = login(app_client, "admin")
    r = app_client.get(f"/api/meetings/{2**63 - 1}", headers=admin)
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_a_kiosk_hello_with_a_huge_meeting_id_gets_an_error_not_a_dropped_socket(
    app_client: TestClient,
) -> None:
    with app_client.websocket_connect("/ws/kiosk") as ws:
        ws.send_json({"type": "hello", "token": "bk_x", "meeting_id": HUGE})
        assert ws.receive_json()["code"] == "bad_message"
        ws.send_json({"type": "hello", "token": "bk_unknown", "meeting_id": 1})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4401  # the socket lived on to the next hello


def test_the_live_socket_of_a_huge_meeting_id_closes_with_4404(app_client: TestClient) -> None:
    admin = login(app_client, "admin")
    with app_client.websocket_connect(f"/ws/meetings/{HUGE}/live", headers=admin) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4404


# --- races on a real server, SQLite and PostgreSQL ----------------------------------------


@pytest.fixture
def served(engine: Engine, tmp_path: Path) -> Iterator[Server]:
    """`baodao serve` on the test database (SQLite file or PostgreSQL) with user `admin`."""
    with session_scope(make_session_factory(engine)) as s:
        create_user(s, username="admin", password=PASSWORD, role=Role.ADMIN)
    url = engine.url.render_as_string(hide_password=False)
    with Server(baodao_env(tmp_path / "var", BAODAO_DATABASE_URL=url)) as server:
        yield server


CREATES: dict[str, tuple[str, dict[str, Any]]] = {
    "body": ("/api/bodies", {"name": "青山镇第十八届人民代表大会"}),
    "deputy": ("/api/deputies", {"number": "D001", "name": "张伟"}),
    "kiosk": ("/api/kiosks", {"name": "东门", "body_id": 1}),  # the body made just above
    "user": ("/api/users", {"username": "wang", "password": "temporary-pass-1", "role": "admin"}),
}


@pytest.mark.slow
def test_twenty_parallel_creates_of_the_same_thing_are_one_201_and_409s(served: Server) -> None:
    headers = served.login("admin", PASSWORD)

    def create(path: str, body: dict[str, Any], barrier: threading.Barrier, out: list[Any]) -> None:
        with httpx.Client(base_url=served.url, headers=headers, timeout=60) as client:
            barrier.wait()
            out.append(client.post(path, json=body))

    for kind, (path, body) in CREATES.items():
        barrier = threading.Barrier(20)
        answers: list[httpx.Response] = []
        threads = [
            threading.Thread(target=create, args=(path, body, barrier, answers)) for _ in range(20)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(r.status_code for r in answers)
        errors = [r.text for r in answers if r.status_code >= 500]
        assert codes == [201] + [409] * 19, (kind, errors)
        for r in answers:
            assert r.headers["content-type"].startswith("application/json")
            if r.status_code == 409:
                assert set(r.json()) == {"error", "message"} and r.json()["error"] == "conflict"
    assert "Traceback" not in served.log.read_text()
