"""The kiosk WebSocket in process: handshake, bad input, and check-in on real photos."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from checkin.accounts.scope import Scope
from checkin.accounts.service import register_kiosk, revoke_kiosk
from checkin.settings import Settings
from checkin.web.app import create_app
from models import Attendance, AuditEvent, Kiosk, Meeting
from models.crypto import TemplateCipher
from models.db import make_session_factory, session_scope
from tests.checkin.people import enrol, frame, jpeg_of, meeting_with_roster


@dataclass
class World:
    client: TestClient
    engine: Engine
    token: str
    revoked: str
    meeting: int  # Hu Jintao on the roster, window open
    other: int  # Wen Jiabao on the roster only
    early: int  # Hu Jintao on the roster, window not yet open
    photos: dict[str, Path]


@pytest.fixture
def world(settings: Settings, sqlite_engine: Engine, faces_dir: Path) -> Iterator[World]:
    settings = settings.model_copy(
        update={
            "workers": 1,
            "hello_timeout_s": 1.0,
            "max_frame_bytes": 200_000,
            "confirm_frames": 3,
            "liveness": "off",  # still photos stand in for deputies (liveness: own tests)
        },  # the consensus tests below count three frames
    )
    photos = {
        "hu": faces_dir / "dev" / "Hu_Jintao" / "1.jpg",
        "wen": faces_dir / "dev" / "Wen_Jiabao" / "1.jpg",
        "stranger": faces_dir / "dev" / "Colin_Powell" / "1.jpg",
    }
    cipher = TemplateCipher(settings.resolved_secret())
    with session_scope(make_session_factory(sqlite_engine)) as s:
        hu = enrol(s, cipher, number="001", name="胡代表", photo=photos["hu"])
        wen = enrol(s, cipher, number="002", name="温代表", photo=photos["wen"])
        meeting = meeting_with_roster(s, [hu]).id
        other = meeting_with_roster(s, [wen], title="主席团会议").id
        early = meeting_with_roster(s, [hu], title="明天的会", opens_in=timedelta(hours=20)).id
        body = s.get(Meeting, meeting).body_id  # type: ignore[union-attr]
        kiosk, token = register_kiosk(s, name="东门", body_id=body, scope=Scope.everything())
        _, revoked = register_kiosk(s, name="旧终端", body_id=body, scope=Scope.everything())
        revoke_kiosk(s, name="旧终端", scope=Scope.everything())
        # Registered two hours ago and last seen then: offline ever since, as far as the
        # server knows (the buffered-frame test uploads frames from that outage).
        kiosk.created_at = kiosk.last_seen_at = datetime.now(UTC) - timedelta(hours=2)
    with TestClient(create_app(settings, engine=sqlite_engine)) as client:
        yield World(client, sqlite_engine, token, revoked, meeting, other, early, photos)


def hello(ws: WebSocketTestSession, token: str, meeting_id: int) -> dict[str, Any]:
    ws.send_json({"type": "hello", "token": token, "meeting_id": meeting_id, "client": "test"})
    return ws.receive_json()  # type: ignore[no-any-return]


def closed(ws: WebSocketTestSession) -> WebSocketDisconnect:
    with pytest.raises(WebSocketDisconnect) as info:
        ws.receive_json()
    return info.value


def next_of(ws: WebSocketTestSession, kind: str) -> dict[str, Any]:
    """The next message of a type, skipping others (e.g. results before a checkin)."""
    for _ in range(20):
        msg = ws.receive_json()
        if msg["type"] == kind:
            return msg  # type: ignore[no-any-return]
    raise AssertionError(f"no {kind} message")


def attendance_count(engine: Engine) -> int:
    with make_session_factory(engine)() as s:
        return s.scalar(select(func.count()).select_from(Attendance)) or 0


def test_bad_or_revoked_token_closes_with_4401(world: World) -> None:
    for token in ("bk_not-a-token", world.revoked):
        with world.client.websocket_connect("/ws/kiosk") as ws:
            ws.send_json({"type": "hello", "token": token, "meeting_id": world.meeting})
            info = closed(ws)
            assert (info.code, info.reason) == (4401, "bad or revoked kiosk token")


def test_unknown_meeting_closes_with_4404(world: World) -> None:
    with world.client.websocket_connect("/ws/kiosk") as ws:
        ws.send_json({"type": "hello", "token": world.token, "meeting_id": 9999})
        assert closed(ws).code == 4404


def test_no_hello_in_time_closes_with_4408(world: World) -> None:
    with world.client.websocket_connect("/ws/kiosk") as ws:
        assert closed(ws).code == 4408


def test_messages_before_hello_get_errors_then_hello_works(world: World) -> None:
    with world.client.websocket_connect("/ws/kiosk") as ws:
        ws.send_bytes(frame(1, jpeg_of(world.photos["hu"])))
        assert ws.receive_json()["code"] == "no_hello"
        ws.send_text("hello?")
        assert ws.receive_json()["code"] == "bad_message"
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["code"] == "no_hello"
        welcome = hello(ws, world.token, world.meeting)
        assert welcome["type"] == "welcome" and welcome["kiosk"] == "东门"
        assert welcome["meeting"]["window_open"] is True
    with make_session_factory(world.engine)() as s:
        kiosk = s.scalar(select(Kiosk).where(Kiosk.name == "东门"))
        assert kiosk is not None and kiosk.last_seen_at is not None


def test_bad_input_after_hello_gets_error_messages_and_the_socket_stays(world: World) -> None:
    good = jpeg_of(world.photos["stranger"])
    with world.client.websocket_connect("/ws/kiosk") as ws:
        hello(ws, world.token, world.meeting)
        cases: list[tuple[str | bytes, str]] = [
            ("{not json", "bad_message"),
            (json.dumps({"type": "launch"}), "bad_message"),
            (json.dumps({"type": "hello", "token": world.token, "meeting_id": 1}), "bad_message"),
            (json.dumps({"type": "ack", "checkin_id": 12345}), "unknown_checkin"),
            (b"\x00\x01", "bad_frame"),  # shorter than the length prefix
            (b"\x00\x00\x00\x05{bad}" + good, "bad_frame"),  # header is not JSON
            (frame(2, b"\x89PNG\r\n\x1a\n" + b"0" * 100), "bad_frame"),  # not a JPEG
            (frame(3, good + b"0" * 200_000), "frame_too_large"),  # over max_frame_bytes
        ]
        for message, code in cases:
            if isinstance(message, bytes):
                ws.send_bytes(message)
            else:
                ws.send_text(message)
            reply = ws.receive_json()
            assert (reply["type"], reply["code"]) == ("error", code), message[:40]
        ws.send_bytes(frame(4, b"\xff\xd8\xff" + b"garbage" * 10))  # JPEG magic, corrupt body
        reply = ws.receive_json()
        assert (reply["code"], reply["frame_id"]) == ("bad_frame", 4)
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}
        ws.send_bytes(frame(5, good))  # still served: a stranger is unknown
        result = next_of(ws, "result")
        assert result["frame_id"] == 5
        assert [f["state"] for f in result["faces"]] == ["unknown"]


def test_frame_over_the_pixel_limit(world: World, settings: Settings) -> None:
    world.client.app.state.settings.max_frame_pixels = 10_000  # type: ignore[attr-defined]
    with world.client.websocket_connect("/ws/kiosk") as ws:
        hello(ws, world.token, world.meeting)
        ws.send_bytes(frame(7, jpeg_of(world.photos["hu"])))  # 250x250 = 62,500 pixels
        reply = ws.receive_json()
        assert (reply["code"], reply["frame_id"]) == ("frame_too_large", 7)


def main_face(result: dict[str, Any]) -> dict[str, Any]:
    """The largest face of a result: the deputy in front (YuNet also reports the partial face
    of a bystander cut by the top edge of Hu_Jintao/1.jpg)."""
    return max(
        result["faces"], key=lambda f: (f["box"][2] - f["box"][0]) * (f["box"][1] - f["box"][3])
    )


@pytest.mark.slow
def test_k_frames_check_in_once_then_already(world: World) -> None:
    jpeg = jpeg_of(world.photos["hu"])
    with world.client.websocket_connect("/ws/kiosk") as ws:
        hello(ws, world.token, world.meeting)
        states = []
        for i in range(3):
            ws.send_bytes(frame(i, jpeg))
            result = next_of(ws, "result")
            face = main_face(result)
            states.append((face["state"], face["progress"]))
        assert states == [("matching", 0.333), ("matching", 0.667), ("confirmed", 1.0)]
        checkin = ws.receive_json()
        assert checkin["type"] == "checkin" and checkin["person"]["number"] == "001"
        assert checkin["late"] is False and checkin["delayed"] is False
        ws.send_json({"type": "ack", "checkin_id": checkin["checkin_id"]})
        ws.send_bytes(frame(3, jpeg))  # the same track stays confirmed, no second row
        assert main_face(next_of(ws, "result"))["state"] == "confirmed"
    with world.client.websocket_connect("/ws/kiosk") as ws:  # later, a new track
        hello(ws, world.token, world.meeting)
        for i in range(3):
            ws.send_bytes(frame(10 + i, jpeg))
            face = main_face(next_of(ws, "result"))
        assert face["state"] == "already" and face["checked_in_at"] == checkin["checked_in_at"]
    assert attendance_count(world.engine) == 1
    with make_session_factory(world.engine)() as s:
        row = s.scalars(select(Attendance)).one()
        assert row.evidence is not None and row.evidence["frames"] == [0, 1, 2]
        assert row.evidence["kiosk"] == "东门" and max(row.evidence["distances"]) < 0.45
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 1


@pytest.mark.slow
def test_not_on_roster_and_window_not_open(world: World) -> None:
    with world.client.websocket_connect("/ws/kiosk") as ws:
        hello(ws, world.token, world.other)  # Hu is enrolled but not on this roster
        for i in range(4):
            ws.send_bytes(frame(i, jpeg_of(world.photos["hu"])))
            face = main_face(next_of(ws, "result"))
            assert face["state"] == "not_on_roster" and face["person"] is None  # no name
    with world.client.websocket_connect("/ws/kiosk") as ws:
        hello(ws, world.token, world.early)
        states = []
        for i in range(3):
            ws.send_bytes(frame(i, jpeg_of(world.photos["hu"])))
            states.append(main_face(next_of(ws, "result"))["state"])
        assert states == ["matching", "matching", "not_open"]
    assert attendance_count(world.engine) == 0


@pytest.mark.slow
def test_buffered_frames_are_checked_in_at_their_capture_time(world: World) -> None:
    at = datetime.now(UTC) - timedelta(minutes=30)
    jpeg = jpeg_of(world.photos["hu"])
    with world.client.websocket_connect("/ws/kiosk") as ws:
        hello(ws, world.token, world.meeting)
        for i in range(3):
            ws.send_bytes(frame(i, jpeg, buffered=True, at=at + timedelta(seconds=i)))
        checkin = next_of(ws, "checkin")
        assert checkin["delayed"] is True
        assert datetime.fromisoformat(checkin["checked_in_at"]) == at + timedelta(seconds=2)
    with make_session_factory(world.engine)() as s:
        assert s.scalars(select(Attendance)).one().delayed
