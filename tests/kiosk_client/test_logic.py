"""Pure pieces: backoff, best-frame selection, frame ids, URLs, messages, headless events."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from checkin.protocol import FaceResult, FaceState, Person
from kiosk_client.app import BestFrameSelector, FrameIds, face_event
from kiosk_client.errors import BadServerUrl
from kiosk_client.messages import Tone, checkin_message, face_message, hhmm, pick_message
from kiosk_client.transport import Backoff, kiosk_url

ZHANG = Person(id=7, number="D007", name="张三", role="deputy")
AT = datetime(2026, 3, 1, 8, 52).astimezone()


def test_backoff_grows_to_cap_with_jitter():
    b = Backoff(0.5, 8.0, rng=random.Random(1))
    delays = [b.next() for _ in range(10)]
    for n, d in enumerate(delays):
        assert 0.5 <= d <= min(8.0, 0.5 * 2**n)
    assert max(delays[5:]) > 4.0  # reaches the cap region
    b.reset()
    assert b.next() == 0.5  # first delay after a success is the base
    other = Backoff(0.5, 8.0, rng=random.Random(2))
    assert [other.next() for _ in range(10)][3:] != delays[3:]  # kiosks do not move in lockstep
    with pytest.raises(ValueError):
        Backoff(0, 1)


def test_selector_keeps_best_per_window():
    sel: BestFrameSelector[str] = BestFrameSelector(0.5)
    assert sel.offer("a", 1.0, 0.0) is None
    assert sel.offer("b", 3.0, 0.2) is None
    assert sel.offer("c", 2.0, 0.4) is None
    assert sel.offer("d", 1.0, 0.6) == "b"  # window [0, 0.5) closed: its best
    assert sel.flush(0.7) is None  # window of "d" still open
    assert sel.flush(1.2) == "d" and not sel
    sel.offer("e", 0.0, 2.0)
    assert sel.flush() == "e"  # forced


def test_frame_ids_increase_and_follow_time():
    t = [1000.0]
    ids = FrameIds(lambda: t[0])
    a, b = ids.next(), ids.next()
    assert a == 1_000_000 and b == a + 1
    t[0] = 999.0  # clock stepped back: ids still increase
    assert ids.next() > b


def test_kiosk_url():
    assert kiosk_url("http://10.0.0.5:8000") == "ws://10.0.0.5:8000/ws/kiosk"
    assert kiosk_url("https://bd.example/") == "wss://bd.example/ws/kiosk"
    assert kiosk_url("ws://h:1/custom") == "ws://h:1/custom"
    for bad in ("ftp://x", "localhost:8000", ""):
        with pytest.raises(BadServerUrl):
            kiosk_url(bad)


def test_welcome_text():
    msg = checkin_message(ZHANG, AT)
    assert msg.title == "张三 代表，报到成功 08:52" and msg.tone == Tone.OK
    assert hhmm(datetime(2026, 3, 1, 8, 41)) == "08:41"
    staff = Person(id=1, number="S1", name="李四", role="staff")
    assert checkin_message(staff, AT).title.startswith("李四 工作人员")


def face(state: FaceState, **kw) -> FaceResult:
    return FaceResult(box=(10, 110, 110, 10), track_id=1, state=state, **kw)


def test_prompts():
    assert face_message(face(FaceState.REJECTED, reason="face_too_small")).title == "请靠近一点"
    assert face_message(face(FaceState.NOT_ON_ROSTER, person=ZHANG)).detail == "请到服务台"
    # Unknown is neutral until the track has really failed (UNKNOWN_FAIL_S of unknown).
    assert face_message(face(FaceState.UNKNOWN)).title == "正在识别…"
    assert face_message(face(FaceState.UNKNOWN), failed=True).detail == "请到服务台"
    assert face_message(face(FaceState.LIVENESS, action="turn_left")).title == "请向左转头"
    assert face_message(face(FaceState.REJECTED, reason="liveness")).detail == "请到服务台"
    already = face_message(
        face(FaceState.ALREADY, person=ZHANG, checked_in_at=datetime(2026, 3, 1, 8, 41))
    )
    assert already.title == "张三 代表，已报到 08:41"
    # The largest face decides; a tiny face in the background does not.
    small = FaceResult(box=(0, 20, 20, 0), track_id=2, state=FaceState.UNKNOWN)
    assert (
        pick_message([small, face(FaceState.REJECTED, reason="face_too_small")]).title
        == "请靠近一点"
    )
    assert pick_message([]) is None


def test_face_events():
    ev = face_event(
        face(FaceState.ALREADY, person=ZHANG, checked_in_at=AT.astimezone(UTC)),
        frame_id=5,
        buffered=False,
    )
    assert ev["event"] == "already" and ev["person"]["name"] == "张三" and ev["frame_id"] == 5
    assert face_event(face(FaceState.REJECTED, reason="too_blurry"), frame_id=1, buffered=True) == {
        "event": "rejected",
        "reason": "too_blurry",
        "frame_id": 1,
        "track_id": 1,
        "buffered": True,
    }
    assert face_event(face(FaceState.MATCHING), frame_id=1, buffered=False) is None
