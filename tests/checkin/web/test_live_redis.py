"""Live status fan-out across processes through Redis: two servers, one database."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from checkin.accounts.service import create_user
from models import Body, Deputy, Role
from models.db import make_engine, make_session_factory, session_scope, upgrade
from tests.server import Server, baodao, baodao_env

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_a_checkin_on_one_process_reaches_a_dashboard_on_another(
    tmp_path: Path, redis_url: str
) -> None:
    # polling off: only Redis can carry the change from A (and from the CLI) to B
    env = baodao_env(
        tmp_path / "var",
        BAODAO_REDIS_URL=redis_url,
        BAODAO_REDIS_PREFIX=f"test-{tmp_path.name}-{os.getpid()}",
        BAODAO_LIVE_POLL_SECONDS="0",
    )
    engine = make_engine(env["BAODAO_DATABASE_URL"])
    upgrade(engine)
    with session_scope(make_session_factory(engine)) as s:
        create_user(s, username="clerk", password="clerk-password-1", role=Role.SECRETARIAT)
        s.add(Body(name="某镇人大"))
        s.flush()
        for i in range(3):
            s.add(Deputy(number=f"D{i}", name=f"代表{i}", body_id=1))
    engine.dispose()
    with Server(env) as a, Server(env) as b:
        headers = a.login("clerk", "clerk-password-1")
        mid = httpx.post(
            a.url + "/api/meetings",
            json={"body_id": 1, "title": "一次会议", "starts_at": "2026-12-01T09:00:00+08:00"},
            headers=headers,
        ).json()["id"]
        with connect(
            f"{b.ws_url}/ws/meetings/{mid}/live", additional_headers=headers, open_timeout=10
        ) as ws:
            snap = json.loads(ws.recv(timeout=10))
            assert snap["topic"] == "snapshot" and snap["payload"]["present"] == 0
            r = httpx.post(
                f"{a.url}/api/meetings/{mid}/checkin",
                json={"number": "D0", "reason": "补签"},
                headers=headers,
            )
            assert r.status_code == 200, r.text
            msg = json.loads(ws.recv(timeout=10))
            assert (msg["topic"], msg["kind"], msg["seq"]) == ("delta", "checkin", snap["seq"] + 1)
            assert msg["payload"]["counts"]["present"] == 1
            assert msg["payload"]["line"]["number"] == "D0"
            baodao(["meeting", "checkin", str(mid), "D1", "--reason", "命令行补签"], env)
            msg = json.loads(ws.recv(timeout=10))
            while msg["topic"] == "heartbeat":  # the CLI may take longer than a heartbeat
                msg = json.loads(ws.recv(timeout=10))
            assert msg["topic"] == "delta" and msg["kind"] == "checkin"
            assert msg["payload"]["counts"]["present"] == 2
