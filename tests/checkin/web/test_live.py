"""The live hub: dead sockets never break a broadcast; changes made elsewhere still arrive."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from checkin.accounts.scope import Scope
from checkin.accounts.service import create_user
from checkin.audit import Actor
from checkin.meetings import service
from checkin.meetings.delta import COUNT_KEYS
from checkin.meetings.quorum import CheckIn, RosterPerson, Rule, compute_status
from checkin.meetings.status import MeetingFacts, MeetingStatus, to_json
from checkin.settings import Settings
from checkin.web.app import create_app
from checkin.web.live import OUTBOX, LiveHub, _Meeting, _Outbox
from models import Body, Deputy, Role
from models.db import make_session_factory, session_scope
from tests.conftest import PASSWORD, login


class FakeSocket:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[str] = []
        self.closed = False

    async def send_text(self, text: str) -> None:
        if self.fail:
            raise RuntimeError("connection reset")
        self.sent.append(text)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True


def _status(_: Any, meeting_id: int) -> MeetingStatus:
    now = datetime.now(UTC)
    counts = compute_status(
        [RosterPerson(i) for i in range(10)], [CheckIn(i, now) for i in range(7)], Rule()
    )
    facts = MeetingFacts(meeting_id, "会议", "某镇人大", None, None, None, "open", "open")
    return MeetingStatus(
        **vars(counts),
        meeting=facts,
        rule_label="",
        staff_expected=0,
        staff_present=0,
        latest_arrivals=[],
        not_arrived=[],
        departed=[],
    )


def _delta(model: dict[str, Any], mark: int, present: int, deputy_id: int | None = None) -> Any:
    counts = {k: model[k] for k in COUNT_KEYS} | {"present": present}
    return {
        "mark": mark,
        "counts": counts,
        "meeting": model["meeting"],
        "latest_arrivals": [],
        "deputy_id": deputy_id,
        "line": None,
    }


def test_a_dead_socket_is_dropped_and_the_others_still_get_the_message(
    settings: Settings, sqlite_engine: Engine
) -> None:
    hub = LiveHub(make_session_factory(sqlite_engine), settings, status=_status)
    good, dead, other = FakeSocket(), FakeSocket(fail=True), FakeSocket()

    async def scenario() -> None:
        m = hub._meetings.setdefault(5, _Meeting())
        m.model = to_json(_status(None, 5))
        for ws in (good, dead, other):
            m.sockets[ws] = _Outbox(ws, 1.0, hub._drop)  # type: ignore[arg-type]
        hub._apply(m, "checkin", 1.0, _delta(m.model, 1, 8))
        hub._apply(m, "undo", 2.0, _delta(m.model, 2, 7))
        await asyncio.sleep(0.05)
        for box in m.sockets.values():
            box.task.cancel()

    asyncio.run(scenario())
    assert dead.closed and hub.watchers(5) == 2
    for sock in (good, other):
        msgs = [json.loads(t) for t in sock.sent]
        assert [(m["seq"], m["kind"], m["payload"]["counts"]["present"]) for m in msgs] == [
            (1, "checkin", 8),
            (2, "undo", 7),
        ]


def test_a_stale_delta_does_not_overwrite_newer_counts(
    settings: Settings, sqlite_engine: Engine
) -> None:
    hub = LiveHub(make_session_factory(sqlite_engine), settings, status=_status)
    ws = FakeSocket()

    async def scenario() -> None:
        m = hub._meetings.setdefault(5, _Meeting())
        m.model = to_json(_status(None, 5))
        m.sockets[ws] = _Outbox(ws, 1.0, hub._drop)  # type: ignore[arg-type]
        hub._apply(m, "checkin", 1.0, _delta(m.model, 10, 9))  # read after two changes
        hub._apply(m, "checkin", 1.0, _delta(m.model, 9, 8))  # read after one, arrives late
        await asyncio.sleep(0.05)
        m.sockets[ws].task.cancel()
        assert m.model["present"] == 9

    asyncio.run(scenario())
    msgs = [json.loads(t) for t in ws.sent]
    assert [m["payload"]["counts"]["present"] for m in msgs] == [9]


def test_a_socket_that_falls_behind_is_closed_not_waited_for(
    settings: Settings, sqlite_engine: Engine
) -> None:
    hub = LiveHub(make_session_factory(sqlite_engine), settings, status=_status)

    class Stuck(FakeSocket):
        async def send_text(self, text: str) -> None:
            await asyncio.sleep(3600)

    stuck, fine = Stuck(), FakeSocket()

    async def scenario() -> None:
        m = hub._meetings.setdefault(5, _Meeting())
        m.model = to_json(_status(None, 5))
        for ws in (stuck, fine):
            m.sockets[ws] = _Outbox(ws, 3600, hub._drop)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        for i in range(OUTBOX + 2):
            hub._apply(m, "checkin", 1.0, _delta(m.model, i, 7))
            await asyncio.sleep(0)  # the healthy socket's outbox drains
        assert time.perf_counter() - t0 < 1.0  # queuing never waits for a socket
        await asyncio.sleep(0.05)
        assert stuck not in m.sockets and fine in m.sockets
        for box in m.sockets.values():
            box.task.cancel()

    asyncio.run(scenario())
    assert stuck.closed and len(fine.sent) == OUTBOX + 2


def test_a_change_committed_by_another_process_arrives_by_polling(
    settings: Settings, sqlite_engine: Engine
) -> None:
    settings = settings.model_copy(update={"live_poll_seconds": 0.2})
    factory = make_session_factory(sqlite_engine)
    with session_scope(factory) as s:
        create_user(s, username="clerk", password=PASSWORD, role=Role.SECRETARIAT)
        s.add(Body(name="某镇人大"))
        s.flush()
        s.add(Deputy(number="D0", name="代表0", body_id=1))
        s.flush()
        mid = service.create_meeting(
            s,
            body_id=1,
            title="会议",
            starts_at=datetime(2026, 12, 1, tzinfo=UTC),
            actor=Actor("t"),
            scope=Scope.everything(),
        ).id
    with TestClient(create_app(settings, engine=sqlite_engine)) as client:
        h = login(client, "clerk")
        with client.websocket_connect(f"/ws/meetings/{mid}/live", headers=h) as ws:
            snap = ws.receive_json()
            with session_scope(factory) as s:  # like the CLI: committed, never published here
                m = service.get_meeting(s, mid, scope=Scope.everything())
                service.manual_checkin(s, meeting=m, deputy_id=1, reason="补签", actor=Actor("cli"))
            msg = ws.receive_json()
            assert msg["kind"] == "refresh" and msg["seq"] == snap["seq"] + 1
            assert msg["payload"]["present"] == 1 and msg["payload"]["quorum_met"]
