"""WebSockets: foreign browser Origins are refused (4403); a revoked session on the live socket
is closed (4401) at the next check; programs without Origin keep working."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.websockets import WebSocketDisconnect

from checkin.accounts.scope import Scope
from checkin.accounts.service import create_user
from checkin.audit import Actor
from checkin.meetings import service
from checkin.settings import Settings
from checkin.web.app import create_app
from models import Body, Role
from models.db import make_session_factory, session_scope
from tests.conftest import PASSWORD, login


@pytest.fixture
def hub(settings: Settings, sqlite_engine: Engine) -> Iterator[tuple[TestClient, int]]:
    """An app with fast heartbeats, users admin/clerk and one meeting."""
    with session_scope(make_session_factory(sqlite_engine)) as s:
        create_user(s, username="admin", password=PASSWORD, role=Role.ADMIN)
        create_user(s, username="clerk", password=PASSWORD, role=Role.SECRETARIAT)
        s.add(Body(name="某镇人大"))
        s.flush()
        starts = datetime(2026, 12, 1, tzinfo=UTC)
        mid = service.create_meeting(
            s, body_id=1, title="会议", starts_at=starts, actor=Actor("t"), scope=Scope.everything()
        ).id
    fast = settings.model_copy(
        update={
            "live_heartbeat_seconds": 1.0,
            "live_poll_seconds": 0.0,
            "allowed_origins": ["https://screen.example"],
        }
    )
    with TestClient(create_app(fast, engine=sqlite_engine)) as client:
        yield client, mid


def _close_code(client: TestClient, url: str, headers: dict[str, str]) -> int:
    with client.websocket_connect(url, headers=headers) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(20):
                ws.receive_json()
    return closed.value.code


def test_the_live_socket_refuses_a_foreign_origin(hub: tuple[TestClient, int]) -> None:
    client, mid = hub
    clerk = login(client, "clerk")
    url = f"/ws/meetings/{mid}/live"
    assert _close_code(client, url, clerk | {"Origin": "http://evil.example"}) == 4403
    assert _close_code(client, url, clerk | {"Origin": "null"}) == 4403
    for origin in ("http://testserver", "https://screen.example"):  # own, and configured
        with client.websocket_connect(url, headers=clerk | {"Origin": origin}) as ws:
            assert ws.receive_json()["topic"] == "snapshot"
    with client.websocket_connect(url, headers=clerk) as ws:  # a program: no Origin
        assert ws.receive_json()["topic"] == "snapshot"


def test_the_kiosk_socket_refuses_a_foreign_browser_origin(hub: tuple[TestClient, int]) -> None:
    client, mid = hub
    hello = {"type": "hello", "token": "bk_unknown", "meeting_id": mid}
    with client.websocket_connect("/ws/kiosk", headers={"Origin": "http://evil.example"}) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4403
    for headers in ({}, {"Origin": "http://testserver"}, {"Origin": "https://screen.example"}):
        with client.websocket_connect("/ws/kiosk", headers=headers) as ws:
            ws.send_json(hello)  # past the origin check: the token is judged next
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
        assert closed.value.code == 4401, headers


@pytest.mark.parametrize("how", ["logout", "deactivate"])
def test_a_revoked_session_is_closed_on_the_live_socket(
    hub: tuple[TestClient, int], how: str
) -> None:
    client, mid = hub
    admin = login(client, "admin")
    clerk = login(client, "clerk")
    client.cookies.clear()
    with client.websocket_connect(f"/ws/meetings/{mid}/live", headers=clerk) as ws:
        assert ws.receive_json()["topic"] == "snapshot"
        if how == "logout":
            assert client.post("/api/auth/logout", headers=clerk).status_code == 200
        else:
            users = {u["username"]: u["id"] for u in client.get("/api/users", headers=admin).json()}
            r = client.post(f"/api/users/{users['clerk']}/deactivate", headers=admin)
            assert r.status_code == 200
        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(10):  # at most a heartbeat or two before the check closes it
                ws.receive_json()
    assert closed.value.code == 4401
    # a socket whose session is still valid is left alone
    with client.websocket_connect(f"/ws/meetings/{mid}/live", headers=admin) as ws:
        topics = [ws.receive_json()["topic"] for _ in range(3)]
    assert topics == ["snapshot", "heartbeat", "heartbeat"]
