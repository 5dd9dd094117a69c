"""The liveness logic on made-up 68-point sequences: blinks, head turns, photos moved about."""

from __future__ import annotations

import math

import numpy as np
import pytest

from checkin.recognition.liveness import (
    LivenessCheck,
    LivenessConfig,
    Observation,
    eye_aspect_ratio,
    find_blink,
    find_turn,
    openness,
    rigid_change,
    yaw,
)

CONFIG = LivenessConfig()


def _head(eye_open: float = 1.0, eye_height: float = 0.07, mouth_open: float = 0.0) -> np.ndarray:
    """A 3-D head, eye centres at x = ±0.5, y down, z toward the camera (68 × 3)."""
    p = np.zeros((68, 3))
    for i, t in enumerate(np.linspace(math.pi, 0, 17)):  # jaw, ear to ear under the face
        p[i] = (0.95 * math.cos(t), 0.1 + 0.9 * math.sin(t) - 0.1, -0.35 * abs(math.cos(t)))
    for i, x in enumerate(np.linspace(-0.85, -0.15, 5)):
        p[17 + i] = (x, -0.3, 0.05)
        p[22 + i] = (x + 1.0, -0.3, 0.05)
    for i, (y, z) in enumerate([(-0.05, 0.15), (0.08, 0.3), (0.2, 0.45), (0.33, 0.6)]):
        p[27 + i] = (0.0, y, z)
    for i, x in enumerate(np.linspace(-0.2, 0.2, 5)):
        p[31 + i] = (x, 0.45, 0.3 + 0.1 * (1 - abs(x) / 0.2))
    # In a blink the upper lid comes down; the lower one rises a little.
    up, low = 1.2 * eye_height * eye_open, 0.8 * eye_height * (0.8 + 0.2 * eye_open)
    for base, cx in ((36, -0.5), (42, 0.5)):
        p[base + 0] = (cx - 0.2, 0.0, 0.0)
        p[base + 1] = (cx - 0.07, -up, 0.02)
        p[base + 2] = (cx + 0.07, -up, 0.02)
        p[base + 3] = (cx + 0.2, 0.0, 0.0)
        p[base + 4] = (cx + 0.07, low, 0.02)
        p[base + 5] = (cx - 0.07, low, 0.02)
    for i, t in enumerate(np.linspace(0, 2 * math.pi, 12, endpoint=False)):
        p[48 + i] = (0.4 * math.cos(t + math.pi), 0.8 + (0.1 + mouth_open) * math.sin(t), 0.1)
    for i, t in enumerate(np.linspace(0, 2 * math.pi, 8, endpoint=False)):
        p[60 + i] = (0.3 * math.cos(t + math.pi), 0.8 + (0.03 + mouth_open) * math.sin(t), 0.1)
    return p


def _project(
    p3: np.ndarray,
    *,
    yaw_deg: float = 0.0,
    scale: float = 100.0,
    shift: tuple[float, float] = (320.0, 240.0),
    roll_deg: float = 0.0,
) -> np.ndarray:
    """The head turned by `yaw_deg` (positive: to the person's left), seen by the camera."""
    a = math.radians(yaw_deg)
    x = p3[:, 0] * math.cos(a) + p3[:, 2] * math.sin(a)
    y = p3[:, 1]
    r = math.radians(roll_deg)
    xr, yr = x * math.cos(r) - y * math.sin(r), x * math.sin(r) + y * math.cos(r)
    return np.stack([xr * scale + shift[0], yr * scale + shift[1]], axis=1)


def _warp(points: np.ndarray, h: np.ndarray) -> np.ndarray:
    """A flat picture's points under the homography `h` (a print tilted, moved, zoomed)."""
    ones = np.ones((len(points), 1))
    q = np.hstack([points, ones]) @ h.T
    return q[:, :2] / q[:, 2:3]


def _tilt(points: np.ndarray, *, pitch_deg: float = 0.0, yaw_deg: float = 0.0) -> np.ndarray:
    """A flat picture turned about its horizontal (pitch) or vertical (yaw) axis at its centre,
    seen in perspective from 5 face-widths away."""
    c = points.mean(axis=0)
    d = points - c
    z = np.zeros(len(points))
    pa, ya = math.radians(pitch_deg), math.radians(yaw_deg)
    y2, z2 = d[:, 1] * math.cos(pa), d[:, 1] * math.sin(pa)
    x3, z3 = d[:, 0] * math.cos(ya), z2 + d[:, 0] * math.sin(ya) + z
    f = 500.0
    k = f / (f + z3)
    return np.stack([x3 * k, y2 * k], axis=1) + c


def _seq(frames: list[np.ndarray], fps: float = 5.0, noise: float = 0.3) -> list[Observation]:
    rng = np.random.default_rng(7)
    return [Observation(i / fps, f + rng.normal(0, noise, f.shape)) for i, f in enumerate(frames)]


def test_measures_are_what_they_say() -> None:
    open_, closed = _project(_head()), _project(_head(eye_open=0.1))
    assert openness(closed) < 0.45 * openness(open_)
    assert abs(yaw(open_)) < 1e-9
    assert yaw(_project(_head(), yaw_deg=25)) > 0.25 > 0 > yaw(_project(_head(), yaw_deg=-25))
    moved = _project(_head(), scale=140, shift=(100, 50), roll_deg=20)
    assert rigid_change(open_, moved) < 1e-6


def test_a_blink_passes() -> None:
    frames = [_project(_head())] * 4 + [_project(_head(eye_open=0.15))] + [_project(_head())] * 2
    blink = find_blink(_seq(frames), CONFIG)
    assert blink is not None and blink.before == 3 and blink.closed == (4,) and blink.after == 5


def test_narrow_eyes_blink_against_their_own_level() -> None:
    narrow = [_project(_head(eye_height=0.035))] * 4
    frames = [*narrow, _project(_head(eye_height=0.035, eye_open=0.2)), *narrow[:2]]
    assert find_blink(_seq(frames, noise=0.1), CONFIG) is not None
    # Narrow open eyes alone (what a fixed EAR bar would call closed) are no blink.
    assert find_blink(_seq(narrow * 3, noise=0.1), CONFIG) is None


def test_open_eyes_with_noise_and_a_smile_are_no_blink() -> None:
    frames = [_project(_head(mouth_open=0.1 * (i % 3)), yaw_deg=i % 4) for i in range(30)]
    assert find_blink(_seq(frames, noise=0.4), CONFIG) is None


def test_a_blink_slower_than_the_limit_is_not_one() -> None:
    frames = [_project(_head())] * 3 + [_project(_head(eye_open=0.1))] * 9 + [_project(_head())]
    assert find_blink(_seq(frames), CONFIG) is None  # 2 s closed at 5 frames/s


def test_eyes_closed_and_opened_over_several_frames_pass() -> None:
    steps = [1.0, 1.0, 1.0, 0.6, 0.15, 0.1, 0.5, 1.0, 1.0]
    frames = [_project(_head(eye_open=s)) for s in steps]
    assert find_blink(_seq(frames, fps=10), CONFIG) is not None


def test_a_print_tilted_away_does_not_close_its_eyes() -> None:
    flat = _project(_head())
    frames = [_tilt(flat, pitch_deg=a) for a in (0, 0, 0, 0, 55, 60, 0, 0)]
    # The classic eye aspect ratio falls by 40 % and more: a fixed or relative EAR bar blinks.
    assert eye_aspect_ratio(frames[5]) < 0.6 * eye_aspect_ratio(frames[0])
    assert find_blink(_seq(frames), CONFIG) is None


def test_eyes_from_another_photo_move_the_eye_corners() -> None:
    base = _head()
    other = _head(eye_open=0.1)
    other[36:48, 0] *= 1.15  # the pasted eyes sit a little wider: another photo, another pose
    other[36:48, 1] += 0.05
    frames = [_project(base)] * 4 + [_project(other)] + [_project(base)] * 2
    assert rigid_change(frames[0], frames[4]) > CONFIG.max_rigid_change
    assert find_blink(_seq(frames), CONFIG) is None


def test_eyes_narrowed_from_below_are_no_blink() -> None:
    narrowed = _head()
    narrowed[[40, 41, 46, 47], 1] -= 0.05  # the lower lids rise: a squint, or pasted eyes
    narrowed[[37, 38, 43, 44], 1] += 0.03
    frames = [_project(_head())] * 4 + [_project(narrowed)] + [_project(_head())] * 2
    assert openness(frames[4]) < CONFIG.close_ratio * openness(frames[0])
    assert find_blink(_seq(frames), CONFIG) is None


def test_a_cut_between_two_photos_is_no_blink() -> None:
    a = _project(_head())
    b = _project(_head(eye_open=0.4), yaw_deg=15, roll_deg=5)  # another photo, narrower eyes
    frames = [a, a, a, a, b, a, a]
    assert find_blink(_seq(frames), CONFIG) is None


def test_a_head_turn_passes_its_direction_only() -> None:
    frames = [_project(_head(), yaw_deg=d) for d in (0, 0, 0, 8, 18, 28, 30)]
    obs = _seq(frames)
    assert find_turn(obs, "turn_left", CONFIG) is not None
    assert find_turn(obs, "turn_right", CONFIG) is None
    right = _seq([_project(_head(), yaw_deg=-d) for d in (0, 0, 10, 20, 30)])
    assert find_turn(right, "turn_right", CONFIG) is not None


def test_a_flat_picture_turned_and_moved_never_turns() -> None:
    flat = _project(_head())
    frames = [
        _tilt(flat, yaw_deg=a) + np.array([dx, 0.0])
        for a, dx in ((0, 0), (15, 20), (35, 40), (55, 60), (60, 80), (30, -40), (-50, -90))
    ]
    obs = _seq(frames)
    assert find_turn(obs, "turn_left", CONFIG) is None
    assert find_turn(obs, "turn_right", CONFIG) is None


def test_a_jump_between_a_frontal_and_a_turned_photo_is_no_turn() -> None:
    a, b = _project(_head()), _project(_head(), yaw_deg=35)
    assert find_turn(_seq([a, a, a, b, b, b]), "turn_left", CONFIG) is None


@pytest.mark.parametrize("action", ["blink", "turn_left"])
def test_the_check_fails_after_its_time_limit_and_says_how_far(action: str) -> None:
    check = LivenessCheck(action, LivenessConfig(time_limit_s=2.0))  # type: ignore[arg-type]
    check.start(0.0)
    for i in range(15):
        check.observe(Observation(i * 0.2, _project(_head())))
        check.evaluate(i * 0.2)
    assert check.failed and not check.passed
    assert check.progress() == 0.0


def test_the_check_passes_with_evidence_and_restarts_for_someone_else() -> None:
    check = LivenessCheck("blink", CONFIG)
    check.start(0.0)
    steps = [1.0, 1.0, 1.0, 0.5]
    for i, s in enumerate(steps):
        check.observe(Observation(i * 0.2, _project(_head(eye_open=s))))
        assert not check.evaluate(i * 0.2)
    assert 0.5 < check.progress() < 1.0  # eyes half shut
    check.restart()
    assert check.observations == [] and check.started_at is None
    for i, s in enumerate([1.0, 1.0, 1.0, 0.1, 1.0]):
        check.observe(Observation(i * 0.2, _project(_head(eye_open=s))))
        check.evaluate(i * 0.2)
    assert check.passed and check.progress() == 1.0
    proof = check.evidence()
    assert proof["action"] == "blink" and proof["passed"] is True
    assert proof["closed_frames"] == 1
