"""The browser kiosk's modules in Chromium, against the Python side: the same words as the
kiosk program's messages for every face state, frames the server's decoder reads, backoff
with jitter and the best-frame selector. No server: the page's files are served by Playwright."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from checkin.protocol import FaceResult, FaceState, Person, decode_frame
from kiosk_client import messages

pytestmark = [pytest.mark.browser]
STATIC = Path(__file__).resolve().parents[4] / "checkin" / "web" / "static"
ORIGIN = "https://kiosk.test"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(timezone_id="Asia/Shanghai")
    page = context.new_page()

    def serve(route: Any) -> None:
        path = route.request.url.removeprefix(ORIGIN)
        if path.startswith("/static/kiosk/"):
            file = STATIC / path.removeprefix("/static/")
            kind = "text/javascript" if file.suffix == ".js" else "text/css"
            route.fulfill(status=200, body=file.read_bytes(), content_type=kind)
        else:
            route.fulfill(status=200, body="<!doctype html><p>t", content_type="text/html")

    page.route(f"{ORIGIN}/**", serve)
    page.goto(f"{ORIGIN}/blank")
    yield page
    context.close()


PERSON = Person(id=7, number="D007", name="张三", role="deputy")
FACES = [
    FaceResult(box=(0, 100, 100, 0), track_id=1, state=FaceState.UNKNOWN),
    FaceResult(box=(0, 100, 100, 0), track_id=1, state=FaceState.NOT_ON_ROSTER),
    FaceResult(box=(0, 100, 100, 0), track_id=1, state=FaceState.NOT_OPEN, person=PERSON),
    FaceResult(box=(0, 100, 100, 0), track_id=1, state=FaceState.MATCHING, progress=0.5),
    FaceResult(box=(0, 100, 100, 0), track_id=1, state=FaceState.CONFIRMED),  # settled: no one
    *(
        FaceResult(box=(0, 100, 100, 0), track_id=1, state=FaceState.REJECTED, reason=r)
        for r in ("face_too_small", "too_blurry", "too_dark", "multiple_faces", "not_frontal")
    ),
    FaceResult(
        box=(0, 100, 100, 0),
        track_id=1,
        state=FaceState.ALREADY,
        person=Person(id=8, number="L1", name="李四", role="nonvoting"),
    ),
]


def test_the_page_says_what_the_kiosk_program_says(page: Any) -> None:
    faces = [json.loads(f.model_dump_json()) for f in FACES]
    got = page.evaluate(
        """async (faces) => {
            const m = await import('/static/kiosk/messages.js');
            return faces.map((f) => {
                const r = m.faceMessage(f);
                return r && [r.title, r.detail, r.tone];
            });
        }""",
        faces,
    )
    want = []
    for face in FACES:
        said = messages.face_message(face)
        want.append(said and [said.title, said.detail, said.tone.value])
    assert got == want
    assert ["请靠近一点", "", "warn"] in got and ["正在识别…", "请看着摄像头", "info"] in got
    # a track unknown for UNKNOWN_FAIL_S: only then is the person sent to the service desk
    unknown = next(f for f in FACES if f.state == "unknown")
    failed = page.evaluate(
        """async (face) => {
            const m = await import('/static/kiosk/messages.js');
            const r = m.faceMessage(face, true);
            return [r.title, r.detail, r.tone];
        }""",
        json.loads(unknown.model_dump_json()),
    )
    said = messages.face_message(unknown, failed=True)
    assert said is not None
    assert (
        failed
        == [said.title, said.detail, said.tone.value]
        == ["未能识别您的身份", "请到服务台", "stop"]
    )


def test_times_liveness_prompts_and_the_largest_face(page: Any) -> None:
    at = datetime(2026, 12, 1, 0, 52, tzinfo=UTC).isoformat()  # 08:52 in Shanghai
    got = page.evaluate(
        """async (at) => {
            const m = await import('/static/kiosk/messages.js');
            const person = {id: 7, number: 'D007', name: '张三', role: 'deputy'};
            const face = (state, extra) => ({box: [0, 50, 50, 0], track_id: 1, state, ...extra});
            return {
                success: m.checkinMessage(person, at).title,
                already: m.faceMessage(face('already', {person, checked_in_at: at})).title,
                liveness: ['blink', 'turn_left', 'turn_right'].map(
                    (action) => m.faceMessage(face('liveness', {action})).title),
                largest: m.pickMessage([
                    face('unknown'),
                    {box: [0, 200, 200, 0], track_id: 2, state: 'rejected',
                     reason: 'face_too_small'},
                ]).title,
            };
        }""",
        at,
    )
    assert got == {
        "success": "张三 代表，报到成功 08:52",
        "already": "张三 代表，已报到 08:52",
        "liveness": ["请眨眨眼", "请向左转头", "请向右转头"],
        "largest": "请靠近一点",
    }


def test_frames_are_what_the_server_decodes(page: Any) -> None:
    raw = page.evaluate(
        """async () => {
            const p = await import('/static/kiosk/protocol.js');
            const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
            const frame = p.encodeFrame(
                {frame_id: 1764000000123, captured_at: '2026-12-01T00:52:00.250Z', buffered: true},
                jpeg.buffer);
            return Array.from(new Uint8Array(frame));
        }"""
    )
    header, jpeg = decode_frame(bytes(raw))
    assert header.frame_id == 1764000000123 and header.buffered is True
    assert header.captured_at == datetime(2026, 12, 1, 0, 52, 0, 250000, tzinfo=UTC)
    assert jpeg == bytes([0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3])


def test_backoff_has_full_jitter_up_to_its_cap_and_the_selector_keeps_the_best(page: Any) -> None:
    got = page.evaluate(
        """async () => {
            const p = await import('/static/kiosk/protocol.js');
            const {BestFrameSelector} = await import('/static/kiosk/presence.js');
            const high = new p.Backoff(0.5, 30, () => 1), low = new p.Backoff(0.5, 30, () => 0);
            const highs = Array.from({length: 8}, () => high.next());
            const lows = Array.from({length: 3}, () => low.next());
            high.reset();
            const s = new BestFrameSelector(500), out = [];
            for (const [item, score, now] of [['a', 1, 0], ['b', 3, 100], ['c', 2, 400],
                                                ['d', 1, 600], ['e', 5, 700]]) {
                out.push(s.offer(item, score, now));
            }
            out.push(s.flush(1000), s.flush(1300), s.flush());
            const ids = new p.FrameIds(() => 5);
            return {highs, lows, afterReset: high.next(), out, ids: [ids.next(), ids.next()]};
        }"""
    )
    assert got["highs"] == [0.5, 1, 2, 4, 8, 16, 30, 30] and got["lows"] == [0.5, 0.5, 0.5]
    assert got["afterReset"] == 0.5
    # windows of 500 ms: the best of [a, b, c] leaves when d arrives; [d, e] at the end
    assert got["out"] == [None, None, None, "b", None, None, "e", None]
    assert got["ids"] == [5, 6]  # strictly increasing even on the same millisecond
