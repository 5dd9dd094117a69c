"""The kiosk socket under attack (issue 14): each test performs the attack the issue found.

Time: the server decides (a buffered frame's capture time counts only inside the kiosk's own
outage and the meeting's window). Revocation, binding, closing and a second connection bite
at the next frame. A kiosk learns only roster names; one face per frame checks in.
Real photos, the real face engine, the app in process (TestClient).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from starlette.testclient import WebSocketTestSession

from checkin.accounts.scope import Scope
from checkin.accounts.service import bind_kiosk, register_kiosk, revoke_kiosk
from checkin.audit import Actor
from checkin.faces import engine as fe
from checkin.meetings import service
from checkin.settings import Settings
from checkin.web.app import create_app
from models import Attendance, Body, Kiosk, Meeting, MeetingState, utcnow
from models.crypto import TemplateCipher
from models.db import make_session_factory, session_scope
from tests.checkin.people import enrol, frame, jpeg_of, meeting_with_roster
from tests.checkin.web.test_kiosk_socket import closed, hello, next_of

pytestmark = pytest.mark.slow


@dataclass
class Site:
    client: TestClient
    engine: Engine
    tokens: dict[str, str]  # kiosk name -> token
    meetings: dict[str, int]
    hu: bytes  # a frame of the deputy on every roster

    def rows(self) -> list[Attendance]:
        with make_session_factory(self.engine)() as s:
            return list(s.scalars(select(Attendance)))

    def change(self, fn: Any) -> None:
        """Change the database as another process (the CLI, an admin) would."""
        with session_scope(make_session_factory(self.engine)) as s:
            fn(s)


def _history(s: Any, name: str, *, last_seen: datetime) -> None:
    kiosk = s.scalar(select(Kiosk).where(Kiosk.name == name))
    kiosk.created_at = utcnow() - timedelta(hours=3)
    kiosk.last_seen_at = kiosk.disconnected_at = last_seen


@pytest.fixture
def site(settings: Settings, sqlite_engine: Engine, faces_dir: Path) -> Iterator[Site]:
    # Still photos stand in for deputies here: these attacks are on time and standing, not
    # on liveness (tests/checkin/web/test_liveness_attacks.py).
    settings = settings.model_copy(update={"workers": 1, "confirm_frames": 2, "liveness": "off"})
    cipher = TemplateCipher(settings.resolved_secret())
    now = utcnow()
    with session_scope(make_session_factory(sqlite_engine)) as s:
        hu = enrol(s, cipher, number="001", name="胡代表", photo=faces_dir / "dev/Hu_Jintao/1.jpg")
        meetings = {
            # started 10 minutes ago: an honest arrival now is late
            "now": meeting_with_roster(s, [hu], starts_in=timedelta(minutes=-10)).id,
            "tomorrow": meeting_with_roster(
                s,
                [hu],
                title="明天的会",
                opens_in=timedelta(hours=20),
                starts_in=timedelta(hours=21),
            ).id,
            "draft": meeting_with_roster(s, [hu], title="草稿", state=MeetingState.DRAFT).id,
        }
        body = s.get(Meeting, meetings["now"]).body_id  # type: ignore[union-attr]
        other = Body(name="乙镇人大")
        s.add(other)
        s.flush()
        meetings["other_body"] = meeting_with_roster(s, [hu], title="乙镇会议").id
        s.get(Meeting, meetings["other_body"]).body_id = other.id  # type: ignore[union-attr]
        tokens = {
            name: register_kiosk(s, name=name, body_id=body, scope=Scope.everything())[1]
            for name in ("东门", "西门", "南门")
        }
        s.flush()
        # 东门 was online until 5 minutes ago; 西门 has been offline for 50 minutes.
        _history(s, "东门", last_seen=now - timedelta(minutes=5))
        _history(s, "西门", last_seen=now - timedelta(minutes=50))
    with TestClient(create_app(settings, engine=sqlite_engine)) as client:
        yield Site(
            client, sqlite_engine, tokens, meetings, jpeg_of(faces_dir / "dev/Hu_Jintao/1.jpg")
        )


def send_until(ws: WebSocketTestSession, frames: list[bytes]) -> list[dict[str, Any]]:
    """Send frames one at a time; every message up to each frame's result (and check-in)."""
    seen: list[dict[str, Any]] = []
    confirmed: set[tuple[bool, int]] = set()  # (buffered timeline, track): checked in
    for data in frames:
        ws.send_bytes(data)
        while True:
            msg = ws.receive_json()
            seen.append(msg)
            if msg["type"] in ("result", "error"):
                break
        if msg["type"] != "result":
            continue
        for face in msg["faces"]:  # a track confirmed for the first time sends a check-in
            key = (b'"buffered":true' in data[:200], face["track_id"])
            if face["state"] == "confirmed" and key not in confirmed:
                confirmed.add(key)
                seen.append(next_of(ws, "checkin"))
    return seen


def main_state(result: dict[str, Any]) -> str:
    """The state of the largest face of a result (a detector may also report a bystander's
    partial face at a photo's edge; with the default policy that one is never matched)."""
    largest = max(
        result["faces"], key=lambda f: (f["box"][2] - f["box"][0]) * (f["box"][1] - f["box"][3])
    )
    return str(largest["state"])


def buffered(jpeg: bytes, at: datetime, n: int = 2) -> list[bytes]:
    return [frame(i, jpeg, buffered=True, at=at + timedelta(seconds=i)) for i in range(n)]


# --- the server decides check-in times ----------------------------------------------------


@pytest.mark.parametrize(
    "stamp",
    [datetime(1999, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)],
    ids=["1999-01-01", "2030-01-01"],
)
def test_an_impossible_capture_time_is_recorded_as_the_arrival_time(
    site: Site, stamp: datetime
) -> None:
    before = utcnow()
    with site.client.websocket_connect("/ws/kiosk") as ws:
        hello(ws, site.tokens["东门"], site.meetings["now"])
        seen = send_until(ws, buffered(site.hu, stamp))
    after = utcnow()
    [checkin] = [m for m in seen if m["type"] == "checkin"]
    [row] = site.rows()
    assert before <= row.checked_in_at <= after and row.late and row.delayed
    assert datetime.fromisoformat(checkin["checked_in_at"]) == row.checked_in_at
    assert row.evidence is not None and row.evidence["time"] == "arrival"
    assert datetime.fromisoformat(row.evidence["captured_at"]) == stamp + timedelta(seconds=1)


def test_thirty_minutes_before_the_start_is_believed_only_inside_the_kiosks_outage(
    site: Site,
) -> None:
    with make_session_factory(site.engine)() as s:
        starts = s.get(Meeting, site.meetings["now"]).starts_at  # type: ignore[union-attr]
    early = starts - timedelta(minutes=30)
    with site.client.websocket_connect("/ws/kiosk") as ws:  # online 5 minutes ago: a lie
        hello(ws, site.tokens["东门"], site.meetings["now"])
        send_until(ws, buffered(site.hu, early))
    [row] = site.rows()
    assert row.late and row.checked_in_at > starts and row.evidence["time"] == "arrival"  # type: ignore[index]
    site.change(lambda s: s.delete(s.get(Attendance, row.id)))
    with site.client.websocket_connect("/ws/kiosk") as ws:  # offline for 50 minutes: true
        hello(ws, site.tokens["西门"], site.meetings["now"])
        seen = send_until(ws, buffered(site.hu, early))
    [row] = site.rows()
    assert not row.late and row.delayed and row.checked_in_at == early + timedelta(seconds=1)
    assert row.evidence is not None and row.evidence["time"] == "capture"
    assert [m["late"] for m in seen if m["type"] == "checkin"] == [False]


def test_a_window_that_opens_tomorrow_takes_no_check_in(site: Site) -> None:
    with make_session_factory(site.engine)() as s:
        opens = s.get(Meeting, site.meetings["tomorrow"]).window_opens_at  # type: ignore[union-attr]
    assert opens is not None
    with site.client.websocket_connect("/ws/kiosk") as ws:
        welcome = hello(ws, site.tokens["西门"], site.meetings["tomorrow"])
        assert welcome["meeting"]["window_open"] is False
        seen = send_until(ws, buffered(site.hu, opens + timedelta(minutes=5)))  # inside it
        seen += send_until(ws, buffered(site.hu, utcnow() - timedelta(minutes=10)))
        seen += send_until(ws, [frame(10 + i, site.hu) for i in range(2)])  # live
    states = [main_state(m) for m in seen if m["type"] == "result"]
    assert states == ["matching", "not_open"] * 3 and site.rows() == []


def test_a_draft_meeting_takes_no_face_check_in(site: Site) -> None:
    with site.client.websocket_connect("/ws/kiosk") as ws:
        welcome = hello(ws, site.tokens["东门"], site.meetings["draft"])
        assert welcome["meeting"]["window_open"] is False  # window times say open; state not
        seen = send_until(ws, [frame(i, site.hu) for i in range(3)])
    assert [main_state(m) for m in seen] == ["matching", "not_open", "matching"]
    assert site.rows() == []


@pytest.mark.parametrize("kind", ["live", "buffered"])
def test_a_meeting_closed_after_hello_takes_no_more_check_ins(site: Site, kind: str) -> None:
    frames = (
        [frame(i, site.hu) for i in range(2)]
        if kind == "live"
        else buffered(site.hu, utcnow() - timedelta(minutes=20))  # 西门's outage, the window
    )
    with site.client.websocket_connect("/ws/kiosk") as ws:
        hello(ws, site.tokens["西门"], site.meetings["now"])
        [first] = send_until(ws, frames[:1])
        assert main_state(first) == "matching"
        site.change(
            lambda s: service.close_window(
                s, meeting=s.get(Meeting, site.meetings["now"]), actor=Actor.cli()
            )
        )
        ws.send_bytes(frames[1])
        info = closed(ws)
        assert info.code == 4404 and "closed" in info.reason
    assert site.rows() == []


# --- revocation, binding, one connection per token ----------------------------------------


def test_a_token_revoked_mid_connection_stops_the_next_frame(site: Site) -> None:
    with site.client.websocket_connect("/ws/kiosk") as ws:
        hello(ws, site.tokens["东门"], site.meetings["now"])
        [first] = send_until(ws, [frame(0, site.hu)])
        assert main_state(first) == "matching"
        site.change(lambda s: revoke_kiosk(s, name="东门", scope=Scope.everything()))
        ws.send_bytes(frame(1, site.hu))  # this frame would have checked him in
        info = closed(ws)
        assert (info.code, info.reason) == (4401, "bad or revoked kiosk token")
    assert site.rows() == []


def test_a_revocation_while_the_frame_is_in_the_worker_still_bites(site: Site) -> None:
    matcher = site.client.app.state.matcher  # type: ignore[attr-defined]
    analyze = matcher.analyze
    frames = 0

    async def analyze_then_revoke(job: Any) -> Any:
        nonlocal frames
        result = await analyze(job)
        frames += 1
        if frames == 2:  # after the per-frame check, before the check-in is written
            site.change(lambda s: revoke_kiosk(s, name="东门", scope=Scope.everything()))
        return result

    matcher.analyze = analyze_then_revoke
    with site.client.websocket_connect("/ws/kiosk") as ws:
        hello(ws, site.tokens["东门"], site.meetings["now"])
        send_until(ws, [frame(0, site.hu)])
        ws.send_bytes(frame(1, site.hu))
        assert closed(ws).code == 4401
    assert site.rows() == []


def test_a_kiosk_checks_in_only_at_its_own_bodys_meetings(site: Site) -> None:
    with site.client.websocket_connect("/ws/kiosk") as ws:
        ws.send_json(
            {
                "type": "hello",
                "token": site.tokens["东门"],
                "meeting_id": site.meetings["other_body"],
            }
        )
        info = closed(ws)
        assert info.code == 4403 and "does not serve" in info.reason
    site.change(lambda s: s.get(Kiosk, 3).__setattr__("body_id", None))  # 南门, as upgraded
    with site.client.websocket_connect("/ws/kiosk") as ws:
        ws.send_json(
            {"type": "hello", "token": site.tokens["南门"], "meeting_id": site.meetings["now"]}
        )
        info = closed(ws)
        assert info.code == 4403 and "baodao kiosk bind 南门" in info.reason
    with site.client.websocket_connect("/ws/kiosk") as ws:  # rebound while connected
        hello(ws, site.tokens["西门"], site.meetings["now"])
        send_until(ws, [frame(0, site.hu)])
        site.change(
            lambda s: bind_kiosk(
                s,
                name="西门",
                body_id=s.get(Meeting, site.meetings["other_body"]).body_id,
                scope=Scope.everything(),
            )
        )
        ws.send_bytes(frame(1, site.hu))
        assert closed(ws).code == 4403
    assert site.rows() == []


def test_a_second_connection_with_the_same_token_replaces_the_first(site: Site) -> None:
    token, meeting = site.tokens["东门"], site.meetings["now"]
    with site.client.websocket_connect("/ws/kiosk") as first:
        hello(first, token, meeting)
        with site.client.websocket_connect("/ws/kiosk") as second:
            assert hello(second, token, meeting)["type"] == "welcome"
            info = closed(first)
            assert info.code == 4409 and "replaced" in info.reason
            [result] = send_until(second, [frame(0, site.hu)])
            assert main_state(result) == "matching"
            # Another server process admits a third connection (a new id in the database):
            site.change(lambda s: s.get(Kiosk, 1).__setattr__("connection", "elsewhere"))
            second.send_bytes(frame(1, site.hu))
            assert closed(second).code == 4409
    assert site.rows() == []


# --- a kiosk token is not a face-lookup tool ------------------------------------------------


def sheet(photos: list[Path], largest: int) -> bytes:
    """Photos side by side on one sheet, the `largest`-th one 1.3 times the others."""
    tiles = []
    for i, p in enumerate(photos):
        img = cv2.cvtColor(fe.load_image(p, max_pixels=10**8), cv2.COLOR_RGB2BGR)
        side = 325 if i == largest else 250
        tiles.append(cv2.resize(img, (side, side)))
    height = max(t.shape[0] for t in tiles)
    canvas = np.full((height, sum(t.shape[1] for t in tiles), 3), 255, np.uint8)
    x = 0
    for t in tiles:
        canvas[: t.shape[0], x : x + t.shape[1]] = t
        x += t.shape[1]
    ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("policy", ["largest", "all"])
def test_a_sheet_of_four_deputies_photos_checks_in_one(
    settings: Settings, sqlite_engine: Engine, faces_dir: Path, policy: str
) -> None:
    names = ["Hu_Jintao", "Wen_Jiabao", "Jiang_Zemin", "Zhu_Rongji"]
    photos = [faces_dir / "dev" / n / "1.jpg" for n in names]
    settings = settings.model_copy(
        update={"workers": 1, "confirm_frames": 2, "kiosk_faces": policy, "liveness": "off"}
    )
    cipher = TemplateCipher(settings.resolved_secret())
    with session_scope(make_session_factory(sqlite_engine)) as s:
        people = [
            enrol(s, cipher, number=f"00{i}", name=n, photo=p)
            for i, (n, p) in enumerate(zip(names, photos, strict=True))
        ]
        meeting = meeting_with_roster(s, people).id
        _, token = register_kiosk(
            s, name="东门", body_id=s.get(Meeting, meeting).body_id, scope=Scope.everything()
        )  # type: ignore[union-attr, arg-type]
    data = sheet(photos, largest=2)
    with TestClient(create_app(settings, engine=sqlite_engine)) as client:
        with client.websocket_connect("/ws/kiosk") as ws:
            hello(ws, token, meeting)
            seen = send_until(ws, [frame(i, data) for i in range(5)])
    checkins = [m["person"]["number"] for m in seen if m["type"] == "checkin"]
    results = [m for m in seen if m["type"] == "result"]
    assert all(len(r["faces"]) >= 4 for r in results)
    if policy == "all":  # the site chose it: every matched face checks in
        assert sorted(checkins) == ["000", "001", "002", "003"]
        return
    assert checkins == ["002"]  # the largest face, closest to the camera
    for r in results:
        others = [f for f in r["faces"] if f["state"] == "rejected"]
        assert len(others) == len(r["faces"]) - 1  # all but the largest, unmatched
        assert all(f["reason"] == "multiple_faces" and f["person"] is None for f in others)
