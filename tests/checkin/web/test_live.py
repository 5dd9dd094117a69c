"""The live hub: dead sockets never break a broadcast; changes made elsewhere still arrive."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from checkin.accounts.scope import Scope
from checkin.accounts.service import create_user
from checkin.audit import Actor
from checkin.meetings import service
from checkin.meetings.quorum import CheckIn, RosterPerson, Rule, compute_status
from checkin.meetings.status import MeetingFacts, MeetingStatus
from checkin.settings import Settings
from checkin.web.app import create_app
from checkin.web.live import LiveHub, _Meeting
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

    async def close(self, code: int = 1000) -> None:
        self.closed = True


def test_a_dead_socket_is_dropped_and_the_others_still_get_the_message(
    settings: Settings, sqlite_engine: Engine
) -> None:
    def status(_: Any, meeting_id: int) -> MeetingStatus:
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

    hub = LiveHub(make_session_factory(sqlite_engine), settings, status=status)
    good, dead, other = FakeSocket(), FakeSocket(fail=True), FakeSocket()

    async def scenario() -> None:
        m = hub._meetings.setdefault(5, _Meeting())
        m.sockets |= {good, dead, other}  # type: ignore[arg-type]
        await hub._push(5, "checkin", 1.0)
        await hub._push(5, "undo", 2.0)

    asyncio.run(scenario())
    assert dead.closed and hub.watchers(5) == 2
    for sock in (good, other):
        msgs = [json.loads(t) for t in sock.sent]
        assert [(m["seq"], m["kind"], m["payload"]["present"]) for m in msgs] == [
            (1, "checkin", 7),
            (2, "undo", 7),
        ]


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
