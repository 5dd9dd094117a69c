"""The liveness check on real footage (fixtures/liveness, see its MANIFEST).

Each clip runs at 10 frames/s through the workers' frame analysis (YuNet, dlib's 68 points)
and the largest face through `LivenessCheck`, with no time limit: which clips pass which
action at all. The kiosk's default 5 frames/s and the replayed videos are in the bench table
(`baodao bench liveness`, docs/liveness.md).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from checkin.bench.liveness import Sampled, passes, sample
from checkin.recognition.liveness import ACTIONS, LivenessConfig

pytestmark = pytest.mark.slow

FPS = 10.0
UNLIMITED = LivenessConfig(time_limit_s=60.0)


@cache
def _sampled(faces_dir: Path, clip: str) -> Sampled:
    return sample(faces_dir, clip, FPS)


def _passes(faces_dir: Path, clip: str, action: str) -> float | None:
    return passes(_sampled(faces_dir, clip), action, config=UNLIMITED)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "clip",
    [
        "genuine/blink_person1.mp4",
        "genuine/blink_talk_person2.mp4",
        "genuine/blink_wink_person3.mp4",
        "genuine/blink_expressions_person4.mp4",
    ],
)
def test_genuine_blinks_pass(faces_dir: Path, clip: str) -> None:
    assert _passes(faces_dir, clip, "blink") is not None


@pytest.mark.parametrize(
    "clip", ["genuine/turn_head_person5.mp4", "genuine/turn_head_nod_person6.mp4"]
)
@pytest.mark.parametrize("action", ["turn_left", "turn_right"])
def test_head_turns_pass_the_turn_challenge(faces_dir: Path, clip: str, action: str) -> None:
    assert _passes(faces_dir, clip, action) is not None


def test_person11_sitting_still_passes_by_her_own_blinks(faces_dir: Path) -> None:
    s = _sampled(faces_dir, "genuine/still_look_person11.mp4")
    assert passes(s, "blink", config=UNLIMITED) is not None
    # Her blinks are at ≈0.45 s and ≈10.4 s: after the first, the second alone passes too.
    late = passes(s, "blink", start=2.0, config=UNLIMITED)
    assert late is not None and 10.0 <= late <= 12.0


@pytest.mark.parametrize(
    "clip", ["genuine/still_look_person12.mp4", "genuine/still_look_person13.mp4"]
)
def test_still_faces_that_do_not_blink_do_not_pass(faces_dir: Path, clip: str) -> None:
    assert _passes(faces_dir, clip, "blink") is None


@pytest.mark.parametrize(
    "clip",
    [
        "spoof/photo_on_phone_screen_person13.mp4",
        "spoof/printed_photo_1.mp4",
        "spoof/printed_photo_2.mp4",
        "spoof/printed_photo_3.mp4",
    ],
)
def test_prints_and_a_photo_on_a_phone_never_pass_any_action(faces_dir: Path, clip: str) -> None:
    s = _sampled(faces_dir, clip)
    assert sum(shape is not None for shape in s.shapes) >= 0.9 * len(s.shapes)  # face seen
    assert {a: passes(s, a, config=UNLIMITED) for a in ACTIONS} == dict.fromkeys(ACTIONS)
