"""The kiosk screen for liveness and the fixes of issue 13, checked on the rendered screen.

Screenshots go to docs/screenshots/kiosk-*.png.
"""

from __future__ import annotations

import asyncio
import types
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest

from checkin.protocol import FaceResult, FaceState, Person, Result
from kiosk_client import app as app_module
from kiosk_client.app import KioskApp
from kiosk_client.errors import FontMissing
from kiosk_client.messages import UNKNOWN_FAIL_S, Tone, face_message
from kiosk_client.presence import downscale
from kiosk_client.queue import DiskQueue
from kiosk_client.screen import (
    TONE_RGB,
    FontChoice,
    ScreenRenderer,
    ScreenView,
    find_cjk_font,
    save_png,
)

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ZHANG = Person(id=7, number="D007", name="张三", role="deputy")
BOX = (60, 420, 300, 180)


@pytest.fixture(scope="module")
def font() -> FontChoice:
    try:
        return find_cjk_font()
    except FontMissing as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def frame(faces_dir: Path) -> np.ndarray:
    return downscale(cv2.imread(str(faces_dir / "fixtures" / "single" / "obama.jpg")), 640)


def band(rgb: np.ndarray) -> np.ndarray:
    return rgb[-190:, :, :]


def face(state: FaceState, track: int = 1, **kw: object) -> FaceResult:
    return FaceResult(box=BOX, track_id=track, state=state, **kw)  # type: ignore[arg-type]


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


@pytest.fixture
def kiosk(
    tmp_path: Path, font: FontChoice, monkeypatch: pytest.MonkeyPatch
) -> tuple[KioskApp, Clock]:
    clock = Clock()
    monkeypatch.setattr(
        app_module, "time", types.SimpleNamespace(monotonic=clock.monotonic, time=clock.time)
    )
    k = KioskApp(
        source=None, transport=None, queue=DiskQueue(tmp_path / "q"), detector=None,  # type: ignore[arg-type]
        renderer=ScreenRenderer(font), sink=lambda e: None,
    )  # fmt: skip
    k._online = True
    return k, clock


def feed(k: KioskApp, *faces: FaceResult) -> None:
    result = Result(frame_id=1, captured_at=datetime.now(UTC), faces=list(faces))
    asyncio.run(k._on_result(result))


def shot(rgb: np.ndarray, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    save_png(rgb, SHOTS / name)


@pytest.mark.parametrize(
    ("action", "prompt"),
    [("blink", "请眨眨眼"), ("turn_left", "请向左转头"), ("turn_right", "请向右转头")],
)
def test_the_liveness_prompt_is_large_and_says_the_action(font, frame, action, prompt) -> None:
    msg = face_message(face(FaceState.LIVENESS, action=action, progress=0.3))
    assert msg is not None and msg.title == prompt and msg.tone == Tone.INFO
    r = ScreenRenderer(font)
    rgb = r.render(frame, ScreenView(meeting="第三次会议", online=True, message=msg, clock="08:40"))
    assert tuple(band(rgb)[5, 5]) == TONE_RGB[Tone.INFO]
    # The prompt is drawn in big white glyphs, and each action draws differently.
    assert (band(rgb).min(axis=2) > 240).sum() > 3000
    other = face_message(
        face(FaceState.LIVENESS, action="turn_right" if action != "turn_right" else "blink")
    )
    assert not np.array_equal(band(rgb), band(r.render(frame, ScreenView(message=other))))
    shot(rgb, f"kiosk-liveness-{action.replace('_', '-')}.png")


def test_a_failed_liveness_check_sends_the_person_to_the_desk(font, frame) -> None:
    msg = face_message(face(FaceState.REJECTED, reason="liveness"))
    assert msg is not None and msg.detail == "请到服务台" and msg.tone == Tone.STOP
    rgb = ScreenRenderer(font).render(frame, ScreenView(online=True, message=msg, clock="08:41"))
    assert tuple(band(rgb)[5, 5]) == TONE_RGB[Tone.STOP]
    shot(rgb, "kiosk-liveness-failed.png")


def test_unknown_is_neutral_until_the_track_really_failed(kiosk, frame) -> None:
    k, clock = kiosk
    feed(k, face(FaceState.UNKNOWN))
    rgb = k._renderer.render(frame, k.view(None))  # type: ignore[union-attr]
    assert k.view(None).message.title == "正在识别…"  # type: ignore[union-attr]
    assert tuple(band(rgb)[5, 5]) == TONE_RGB[Tone.INFO]  # not the red of 请到服务台
    shot(rgb, "kiosk-recognising.png")
    clock.now += UNKNOWN_FAIL_S - 1
    feed(k, face(FaceState.UNKNOWN))
    assert tuple(band(k._renderer.render(frame, k.view(None)))[5, 5]) == TONE_RGB[Tone.INFO]  # type: ignore[union-attr]
    clock.now += 1.5
    feed(k, face(FaceState.UNKNOWN))
    rgb = k._renderer.render(frame, k.view(None))  # type: ignore[union-attr]
    assert tuple(band(rgb)[5, 5]) == TONE_RGB[Tone.STOP]
    # A new track (someone else stepping up) starts neutral again.
    clock.now += 4
    feed(k, face(FaceState.UNKNOWN, track=2))
    assert k.view(None).message.title == "正在识别…"  # type: ignore[union-attr]


def test_already_replaces_a_red_screen_and_shows_the_time(kiosk, frame) -> None:
    k, clock = kiosk
    feed(k, face(FaceState.UNKNOWN))
    clock.now += UNKNOWN_FAIL_S + 0.5
    feed(k, face(FaceState.UNKNOWN))
    assert k.view(None).message.tone == Tone.STOP  # type: ignore[union-attr]
    k._tz = ZoneInfo("Asia/Shanghai")
    at = datetime(2026, 3, 1, 0, 41, tzinfo=UTC)  # 08:41 in Shanghai
    feed(k, face(FaceState.ALREADY, person=ZHANG, checked_in_at=at))
    clock.now += 0.3
    feed(k, face(FaceState.ALREADY, person=ZHANG, checked_in_at=at))  # the settled track
    assert face_message(face(FaceState.ALREADY, checked_in_at=at), tz=k._tz).title == "已报到 08:41"
    view = k.view(None)
    assert view.message is not None and view.message.title == "张三 代表，已报到 08:41"
    rgb = k._renderer.render(frame, view)  # type: ignore[union-attr]
    assert tuple(band(rgb)[5, 5]) == TONE_RGB[Tone.INFO]
    shot(rgb, "kiosk-already.png")


def test_the_clock_is_the_meetings_time_zone_from_the_welcome(kiosk) -> None:
    k, _ = kiosk
    assert app_module._zone("Asia/Shanghai") == ZoneInfo("Asia/Shanghai")
    assert app_module._zone("Mars/Olympus") is None and app_module._zone(None) is None
    k._tz = app_module._zone("Asia/Shanghai")
    before = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%H:%M")
    clock = k.view(None).clock
    after = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%H:%M")
    assert clock in (before, after)
    assert clock != datetime.now(UTC).strftime("%H:%M")  # UTC+8: never the same HH:MM


class Window:
    """A display whose window is 1280×800 (a common kiosk screen)."""

    def __init__(self) -> None:
        self.shown: list[np.ndarray] = []

    def show(self, rgb: np.ndarray) -> bool:
        self.shown.append(rgb)
        return True

    def size(self) -> tuple[int, int] | None:
        return (1280, 800)

    def close(self) -> None:
        pass


def test_the_screen_is_drawn_at_the_windows_size_with_the_clock_whole(
    kiosk, frame, tmp_path: Path
) -> None:
    k, _ = kiosk
    window = Window()
    k._display = window
    k._meeting_title = "第十七届人民代表大会第三次会议"
    feed(k, face(FaceState.LIVENESS, action="blink"))
    cap = app_module.Captured(1, datetime.now(UTC), frame, b"", None)  # type: ignore[arg-type]
    asyncio.run(k._refresh_screen(cap))
    [rgb] = window.shown
    assert rgb.shape == (800, 1280, 3)
    bar = rgb[:64]
    white = bar.min(axis=2) > 240
    cols = np.flatnonzero(white.any(axis=0))
    # The clock's glyphs end inside the window with a margin, right of the status text.
    assert cols.max() < 1280 - 10 and cols.max() > 1280 - 80
    shot(rgb, "kiosk-1280x800.png")
