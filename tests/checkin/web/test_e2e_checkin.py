"""End to end: `baodao serve` as a real process, kiosks as real WebSocket clients."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from checkin.settings import Settings
from models import Attendance, AuditEvent
from models.crypto import TemplateCipher
from models.db import make_engine, make_session_factory, session_scope
from tests.checkin.people import enrol, frame, jpeg_of, meeting_with_roster, video_jpegs
from tests.server import Server, baodao, baodao_env

pytestmark = pytest.mark.slow

STRANGERS = ("Colin_Powell", "Tony_Blair", "Jackie_Chan", "cn_celeb_002")
BODY = "某镇第十八届人民代表大会"


@dataclass
class Served:
    server: Server
    env: dict[str, str]
    token: str
    meeting: int
    db_url: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("e2e") / "var"
    env = baodao_env(data, BAODAO_LIVENESS="off")  # recognition alone; liveness: own tests
    baodao(["db", "upgrade"], env)
    baodao(["body", "create", BODY], env)  # meeting_with_roster's meetings are this body's
    out = baodao(["kiosk", "register", "东门", "--body", BODY, "--venue", "大会堂"], env)
    token = re.search(r"kiosk token: (\S+)", out)
    assert token, out
    engine = make_engine(env["BAODAO_DATABASE_URL"])
    cipher = TemplateCipher(env["BAODAO_SECRET_KEY"])
    with session_scope(make_session_factory(engine)) as s:
        lin = enrol(
            s,
            cipher,
            number="A01",
            name="林曼努尔",
            photo=faces_dir / "fixtures" / "single" / "lin-manuel-miranda.png",
        )
        hu = enrol(s, cipher, number="B07", name="胡代表", photo=faces_dir / "dev/Hu_Jintao/1.jpg")
        meeting = meeting_with_roster(s, [lin]).id
        meeting_with_roster(s, [hu], title="另一次会议")
    engine.dispose()
    with Server(env) as server:
        yield Served(server, env, token.group(1), meeting, env["BAODAO_DATABASE_URL"])


@contextmanager
def open_kiosk(
    s: Served, token: str | None = None, meeting: int | None = None
) -> Iterator[ClientConnection]:
    """A connected kiosk that has sent its hello."""
    with connect(s.server.ws_url + "/ws/kiosk", open_timeout=10) as ws:
        hello = {"type": "hello", "token": token or s.token, "meeting_id": meeting or s.meeting}
        ws.send(json.dumps(hello))
        yield ws


def stream(ws: ClientConnection, jpegs: list[bytes], first_id: int = 0) -> list[dict[str, Any]]:
    """Send frames one by one, waiting for each one's result; acks check-ins; all messages."""
    seen: list[dict[str, Any]] = []
    for i, jpeg in enumerate(jpegs):
        ws.send(frame(first_id + i, jpeg))
        while True:
            msg = json.loads(ws.recv(timeout=30))
            seen.append(msg)
            if msg["type"] == "checkin":
                ws.send(json.dumps({"type": "ack", "checkin_id": msg["checkin_id"]}))
            if msg["type"] in ("result", "error") and msg.get("frame_id") == first_id + i:
                break
    if seen and seen[-1]["type"] == "result" and seen[-1]["faces"]:
        # a check-in answers right after its frame's result
        try:
            while True:
                seen.append(json.loads(ws.recv(timeout=0.5)))
        except TimeoutError:
            pass
    return seen


def rows(s: Served) -> list[tuple[str, bool]]:
    engine = make_engine(s.db_url)
    with make_session_factory(engine)() as session:
        found = [(a.deputy.number, a.late) for a in session.scalars(select(Attendance))]
    engine.dispose()
    return found


def states(messages: list[dict[str, Any]]) -> set[str]:
    return {f["state"] for m in messages if m["type"] == "result" for f in m["faces"]}


def test_video_checks_in_the_deputy_once_and_nobody_else(served: Served, faces_dir: Path) -> None:
    video = faces_dir / "fixtures" / "video" / "short_hamilton_clip.mp4"
    with open_kiosk(served) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        seen = stream(ws, video_jpegs(video, step=2))
        checkins = [m for m in seen if m["type"] == "checkin"]
        assert [c["person"]["number"] for c in checkins] == ["A01"]
        assert {"matching", "confirmed"} <= states(seen)

        dev = faces_dir / "dev"
        strangers = [jpeg_of(p) for name in STRANGERS for p in sorted((dev / name).glob("*.jpg"))]
        seen = stream(ws, strangers, first_id=1000)
        assert not [m for m in seen if m["type"] == "checkin"]
        assert "unknown" in states(seen) and "confirmed" not in states(seen)

        hu = [jpeg_of(p) for p in sorted((dev / "Hu_Jintao").glob("*.jpg")) for _ in range(2)]
        seen = stream(ws, hu, first_id=2000)
        assert not [m for m in seen if m["type"] == "checkin"]
        assert "not_on_roster" in states(seen)
        people = [f["person"] for m in seen if m["type"] == "result" for f in m["faces"]
                  if f["state"] == "not_on_roster"]  # fmt: skip
        assert people and not any(people)  # enrolled, off the roster: never named
    assert rows(served) == [("A01", False)]
    engine = make_engine(served.db_url)
    with make_session_factory(engine)() as session:
        (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "checkin.face"))
        assert event.detail is not None and event.detail["evidence"]["kiosk"] == "东门"
        assert (
            len(event.detail["evidence"]["frames"])
            == Settings.model_fields["confirm_frames"].default
        )
    engine.dispose()


def test_bad_input_never_stops_a_second_kiosk(served: Served, faces_dir: Path) -> None:
    good = jpeg_of(faces_dir / "dev" / "Tony_Blair" / "1.jpg")
    results: list[dict[str, Any]] = []
    stop = threading.Event()
    out = baodao(["kiosk", "register", "北门", "--body", BODY], served.env)
    north = re.search(r"kiosk token: (\S+)", out)
    assert north  # one connection per token: the second kiosk has its own

    def second_kiosk() -> None:
        with open_kiosk(served, token=north.group(1)) as ws:
            ws.recv(timeout=10)
            i = 0
            while not stop.is_set():
                results.extend(m for m in stream(ws, [good], first_id=5000 + i))
                i += 1

    other = threading.Thread(target=second_kiosk)
    other.start()
    try:
        with open_kiosk(served) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
            bad: list[tuple[str | bytes, str]] = [
                ("garbage {", "bad_message"),
                (b"not a frame", "bad_frame"),
                (frame(1, b"GIF89a" + b"\0" * 64), "bad_frame"),
                (frame(2, b"\xff\xd8\xff" + b"\0" * 64), "bad_frame"),
                (frame(3, good + b"\0" * 2_100_000), "frame_too_large"),
            ]
            for message, code in bad:
                ws.send(message)
                reply = json.loads(ws.recv(timeout=30))
                assert (reply["type"], reply["code"]) == ("error", code)
            assert stream(ws, [good], first_id=10)[-1]["type"] == "result"
        with connect(served.server.ws_url + "/ws/kiosk") as ws:  # a frame before hello
            ws.send(frame(1, good))
            assert json.loads(ws.recv(timeout=10))["code"] == "no_hello"
        with open_kiosk(served, meeting=424242) as ws:
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=10)
            assert info.value.rcvd is not None and info.value.rcvd.code == 4404
        baodao(["kiosk", "register", "西门", "--body", BODY], served.env)
        out = baodao(["kiosk", "register", "临时", "--body", BODY], served.env)
        temp = re.search(r"kiosk token: (\S+)", out)
        assert temp
        baodao(["kiosk", "revoke", "临时"], served.env)
        for token in (temp.group(1), "bk_wrong"):
            with open_kiosk(served, token=token) as ws:
                with pytest.raises(ConnectionClosed) as info:
                    ws.recv(timeout=10)
                assert info.value.rcvd is not None
                assert (info.value.rcvd.code, info.value.rcvd.reason) == (
                    4401,
                    "bad or revoked kiosk token",
                )
        listing = baodao(["kiosk", "list"], served.env)
        assert "临时" in listing and "revoked" in listing
    finally:
        stop.set()
        other.join(timeout=60)
    frames_answered = [m for m in results if m["type"] == "result"]
    assert len(frames_answered) >= 2 and all(m["type"] != "error" for m in results)
