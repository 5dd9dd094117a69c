"""Write and push paths at county scale: a change answered and pushed as a small delta, bulk
roster changes in one request, a clear 503 when no database connection is free."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.exc import TimeoutError as PoolTimeout

from checkin.accounts.service import create_user
from checkin.meetings.delta import apply_delta
from checkin.settings import Settings
from checkin.web.api import meetings as meetings_api
from checkin.web.app import create_app
from models import Body, Deputy, Role
from models.db import PoolSize, make_engine, make_session_factory, session_scope
from tests.conftest import PASSWORD, login


def _people(engine: Engine, n: int) -> None:
    with session_scope(make_session_factory(engine)) as s:
        s.add(Body(name="某县人大"))
        s.flush()
        for i in range(n):
            s.add(Deputy(number=f"C{i:04}", name=f"代表{i}", unit="某乡", body_id=1))


def _meeting(client: TestClient, h: dict[str, str], **extra: object) -> int:
    r = client.post(
        "/api/meetings",
        json={"body_id": 1, "title": "全体会议", "starts_at": "2026-12-01T09:00:00+08:00", **extra},
        headers=h,
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_a_change_is_answered_and_pushed_as_the_same_small_delta(
    app_client: TestClient, sqlite_engine: Engine
) -> None:
    _people(sqlite_engine, 30)
    h = login(app_client, "clerk")
    mid = _meeting(app_client, h)
    with app_client.websocket_connect(f"/ws/meetings/{mid}/live", headers=h) as ws:
        snap = ws.receive_json()
        assert snap["topic"] == "snapshot" and len(snap["payload"]["not_arrived"]) == 30
        r = app_client.post(
            f"/api/meetings/{mid}/checkin?reply=delta",
            json={"number": "C0007", "reason": "补签"},
            headers=h,
        )
        assert r.status_code == 200, r.text
        reply = r.json()
        assert reply["kind"] == "checkin" and reply["counts"]["present"] == 1
        assert reply["line"]["number"] == "C0007" and reply["line"]["state"] in ("present", "late")
        msg = ws.receive_json()
        assert (msg["topic"], msg["seq"], msg["kind"]) == ("delta", snap["seq"] + 1, "checkin")
        assert msg["payload"]["mark"] == reply["mark"]
        assert 0 < msg["committed_at"] <= time.time()
        status = apply_delta(snap["payload"], msg["payload"])
        assert status["present"] == 1 and len(status["not_arrived"]) == 29
        assert all(p["number"] != "C0007" for p in status["not_arrived"])
        # the default reply is still the whole status, and pushes a delta too
        r = app_client.post(
            f"/api/meetings/{mid}/leave", json={"number": "C0008", "reason": "出差"}, headers=h
        )
        assert r.status_code == 200 and r.json()["on_leave"] == 1
        msg = ws.receive_json()
        assert msg["topic"] == "delta" and msg["payload"]["line"]["state"] == "leave"
        status = apply_delta(status, msg["payload"])
        assert status == app_client.get(f"/api/meetings/{mid}/status", headers=h).json()
        ws.send_json({"type": "resync"})
        again = ws.receive_json()
        assert again["topic"] == "snapshot" and again["seq"] == msg["seq"]
        assert again["payload"] == status


def test_a_roster_of_1300_is_added_in_one_request(
    app_client: TestClient, sqlite_engine: Engine
) -> None:
    _people(sqlite_engine, 1300)
    h = login(app_client, "clerk")
    mid = _meeting(app_client, h, deputy_ids=[])
    add = [{"number": f"C{i:04}"} for i in range(1300)]
    with app_client.websocket_connect(f"/ws/meetings/{mid}/live", headers=h) as ws:
        snap = ws.receive_json()
        t0 = time.perf_counter()
        r = app_client.post(f"/api/meetings/{mid}/roster/bulk", json={"add": add}, headers=h)
        took = time.perf_counter() - t0
        assert r.status_code == 200, r.text
        assert r.json() == {
            "added": 1300,
            "removed": 0,
            "already_on": [],
            "not_on": [],
            "roster": 1300,
        }
        msg = ws.receive_json()
        assert (msg["topic"], msg["kind"], msg["seq"]) == ("status", "roster", snap["seq"] + 1)
        assert msg["payload"]["expected"] == 1300
    assert took < 30  # one request, not 1,300 (65–96 s one by one in issue 18)
    r = app_client.post(
        f"/api/meetings/{mid}/roster/bulk",
        json={"add": add[:2], "remove": [{"number": "C0005"}, {"number": "C0005"}]},
        headers=h,
    )
    body = r.json()
    assert (body["added"], body["removed"], body["roster"]) == (0, 1, 1299)
    assert len(body["already_on"]) == 2
    r = app_client.post(
        f"/api/meetings/{mid}/roster/bulk", json={"add": [{"number": "NOPE"}]}, headers=h
    )
    assert r.status_code == 404


def test_no_free_database_connection_is_a_quick_503_not_a_stall(
    settings: Settings, sqlite_engine: Engine
) -> None:
    with session_scope(make_session_factory(sqlite_engine)) as s:
        create_user(s, username="clerk", password=PASSWORD, role=Role.SECRETARIAT)
    tight = make_engine(settings.database_url, PoolSize(size=1, overflow=0, timeout=0.3))
    with TestClient(create_app(settings, engine=tight)) as client:
        h = login(client, "clerk")
        held = tight.connect()  # a transaction that will not let go
        try:
            t0 = time.perf_counter()
            r = client.get("/api/meetings", headers=h)
            took = time.perf_counter() - t0
        finally:
            held.close()
        assert r.status_code == 503 and r.json()["error"] == "busy"
        assert r.headers["retry-after"] == "1" and took < 3
        assert client.get("/api/meetings", headers=h).status_code == 200  # free again


def test_a_commit_is_answered_even_when_the_read_after_it_finds_no_connection(
    app_client: TestClient, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _people(sqlite_engine, 3)
    h = login(app_client, "clerk")
    mid = _meeting(app_client, h)

    def busy(*_: object, **__: object) -> None:
        raise PoolTimeout("QueuePool limit reached")

    monkeypatch.setattr(meetings_api, "status", busy)
    monkeypatch.setattr(meetings_api, "change_delta", busy)
    for reply in ("", "?reply=delta"):
        number = "C0000" if not reply else "C0001"
        r = app_client.post(
            f"/api/meetings/{mid}/checkin{reply}",
            json={"number": number, "reason": "补签"},
            headers=h,
        )
        assert r.status_code == 200, r.text
        assert r.json()["committed"] is True and r.json()["kind"] == "checkin"
    monkeypatch.undo()
    st = app_client.get(f"/api/meetings/{mid}/status", headers=h).json()
    assert st["present"] == 2  # both saved, both answered
