"""The liveness check of one tracked face: a blink or a head turn, judged on its 68 points. No I/O.

A face must do something a photo cannot before its track may check anyone in
(`BAODAO_LIVENESS`): `blink` (the default) or, in `challenge`, a random one of blink / turn
the head left / turn it right, within a time limit. Every frame of the track adds one
`Observation` (dlib's 68 landmarks, `checkin.faces.landmarks`); `LivenessCheck` decides.

Blink: eyes open → closed → open within the track, judged against the track's own open-eye
level (its median openness so far), so narrow or smiling eyes are not held to a fixed
number; the closed frame must also be closed outright (lid gap under a fifth of the eye's
width). Openness is the eyelid gap over the nose's length, not over the eye's width:
a photo tilted away from the camera squashes both alike, so tilting a print does not "close"
its eyes. And in a blink only the eyelids move: the nose and the four eye corners keep their
shape (`rigid_change`, after removing position, size and roll) from the open frame before to
the open frame after, through the closed ones. A cut from one photo to another, or eyes
pasted in from another photo, moves them.

Head turn: the nose tip moves sideways against the eyes (`yaw`, nose offset over the eye
distance). A flat picture turned or moved keeps that ratio (an affine map keeps ratios along
a line), so only a head, whose nose stands out of the face, changes it. The change must build
up over at least two frame steps, not jump between two pictures.

Identity: the pipeline restarts the check (`restart`) when the track's frames name another
person, so the person recognised is the one who blinked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Mode = Literal["blink", "challenge", "off"]
Action = Literal["blink", "turn_left", "turn_right"]
ACTIONS: tuple[Action, ...] = ("blink", "turn_left", "turn_right")

# dlib's 68 points (iBUG 300-W order): 27–30 the nose bridge, 30 its tip, 31–35 its base;
# 36–41 the person's right eye (image left), 42–47 the left eye; 36/39 and 42/45 their corners.
RIGHT_EYE = slice(36, 42)
LEFT_EYE = slice(42, 48)
RIGID = (27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45)


@dataclass(frozen=True)
class LivenessConfig:
    """The check's thresholds (the service takes the time limit from settings)."""

    time_limit_s: float = 8.0  # from the first frame that names a roster person
    history_s: float = 10.0  # observations kept per track
    # blink
    close_ratio: float = 0.5  # closed: openness at most this × the open level
    open_ratio: float = 0.85  # open: openness at least this × the open level
    # The open level is the track's typical (median) openness: eyes are open most of the
    # time, so brief wider frames (eyes pasted in from a wider-eyed photo) do not set it.
    open_percentile: float = 50.0
    max_closed_ear: float = 0.2  # closed eyes are closed: lid gap under this × eye width
    min_frames: int = 3  # frames before an open level is trusted
    max_blink_s: float = 1.5  # open → closed → open within this
    max_rigid_change: float = 0.035  # nose + eye corners, RMS over the eye distance
    min_upper_share: float = 0.6  # of the closure made by the upper lid coming down
    # head turn
    turn_yaw: float = 0.25  # change of the nose offset over the eye distance
    turn_min_steps: int = 2  # frame steps the turn builds up over
    turn_max_step_share: float = 0.75  # no single step makes more than this share of it
    max_turn_s: float = 3.0  # the turn happens within this


@dataclass(frozen=True)
class Observation:
    """One frame of a track: capture time (seconds) and the face's 68 points (x, y)."""

    at: float
    points: np.ndarray  # (68, 2)


def _eye_gap(eye: np.ndarray) -> float:
    """Mean distance between the upper and lower lid points of one eye (6 points)."""
    return float((np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])) / 2.0)


def lids(points: np.ndarray) -> tuple[float, float]:
    """Heights of the upper and the lower lid above and below each eye's corner line, over
    the eye's width, both eyes averaged."""
    upper, lower = [], []
    for base in (36, 42):
        c0, c1 = points[base], points[base + 3]
        axis = c1 - c0
        width = float(np.linalg.norm(axis))
        if width < 1e-6:
            return 0.0, 0.0
        normal = np.array([-axis[1], axis[0]]) / width  # points down the face
        upper.append(-float(((points[base + 1] + points[base + 2]) / 2 - c0) @ normal) / width)
        lower.append(float(((points[base + 4] + points[base + 5]) / 2 - c0) @ normal) / width)
    return float(np.mean(upper)), float(np.mean(lower))


def upper_share(open_points: np.ndarray, closed_points: np.ndarray) -> float:
    """Share of the eye's closing made by the upper lid (a blink: most of it, ≈0.8)."""
    (u0, l0), (u1, l1) = lids(open_points), lids(closed_points)
    total = (u0 - u1) + (l0 - l1)
    return (u0 - u1) / total if total > 1e-6 else 0.0


def eye_distance(points: np.ndarray) -> float:
    """Distance between the centres of the two eyes."""
    return float(np.linalg.norm(points[RIGHT_EYE].mean(axis=0) - points[LEFT_EYE].mean(axis=0)))


def openness(points: np.ndarray) -> float:
    """Mean eyelid gap of both eyes over the nose's length (27 → 33)."""
    nose = float(np.linalg.norm(points[33] - points[27]))
    if nose < 1e-6:
        return 0.0
    return (_eye_gap(points[RIGHT_EYE]) + _eye_gap(points[LEFT_EYE])) / 2.0 / nose


def eye_aspect_ratio(points: np.ndarray) -> float:
    """The classic EAR (lid gap over eye width), both eyes averaged; for the evidence."""
    out = []
    for eye in (points[RIGHT_EYE], points[LEFT_EYE]):
        width = float(np.linalg.norm(eye[3] - eye[0]))
        out.append(_eye_gap(eye) / width if width > 1e-6 else 0.0)
    return float(np.mean(out))


def yaw(points: np.ndarray) -> float:
    """Nose-tip offset from the eyes' midpoint along the eye line, over the eye distance
    (eyes by their corners, which a blink does not move).

    About 0 facing the camera; positive when the nose points to image-right, which is the
    person's left when the camera faces them (a turn to their left).
    """
    right, left = (points[36] + points[39]) / 2.0, (points[42] + points[45]) / 2.0
    axis = left - right
    span = float(np.linalg.norm(axis))
    if span < 1e-6:
        return 0.0
    return float((points[30] - (right + left) / 2.0) @ (axis / span)) / span


def rigid_change(a: np.ndarray, b: np.ndarray) -> float:
    """How much the nose and eye corners of `b` differ in shape from `a`'s.

    RMS distance after the best similarity transform (position, size, roll) of `b` onto `a`,
    over `a`'s eye distance.
    """
    p = np.asarray(a, dtype=np.float64)[list(RIGID)]
    q = np.asarray(b, dtype=np.float64)[list(RIGID)]
    p0, q0 = p - p.mean(axis=0), q - q.mean(axis=0)
    pc, qc = p0[:, 0] + 1j * p0[:, 1], q0[:, 0] + 1j * q0[:, 1]
    denom = complex(np.vdot(qc, qc)).real
    if denom < 1e-9:
        return float("inf")
    s = complex(np.vdot(qc, pc)) / denom  # the complex scale-rotation minimising |pc - s·qc|
    rms = float(np.sqrt(np.mean(np.abs(pc - s * qc) ** 2)))
    span = eye_distance(a)
    return rms / span if span > 1e-6 else float("inf")


@dataclass(frozen=True)
class Blink:
    """Where a blink was seen: indices of the open frame before, the closed, the open after."""

    before: int
    closed: tuple[int, ...]
    after: int
    open_level: float
    depth: float  # lowest openness over the open level
    rigid: float  # largest rigid change across it
    upper: float  # share of the closing made by the upper lid


def find_blink(obs: Sequence[Observation], config: LivenessConfig) -> Blink | None:
    """The first real blink in a track's observations, or None.

    The open level is the `open_percentile` of the openness seen so far; a blink is an open
    frame, then one or more closed frames (frames in between allowed), then an open frame, all
    within `max_blink_s`, with the nose and eye corners unchanged in shape throughout and
    the closing made mostly by the upper lid.
    """
    if len(obs) < config.min_frames:
        return None
    values = np.array([openness(o.points) for o in obs])
    level = float(np.percentile(values, config.open_percentile))
    if level <= 0:
        return None
    closed = values <= config.close_ratio * level
    opened = values >= config.open_ratio * level
    n = len(obs)
    for j in range(1, n - 1):
        if not closed[j] or closed[j - 1]:
            continue  # j is the first closed frame of a run
        before = next((i for i in range(j - 1, -1, -1) if opened[i]), None)
        if before is None:
            continue
        k = j
        while k + 1 < n and not opened[k + 1]:
            k += 1
        after = k + 1
        if after >= n or obs[after].at - obs[before].at > config.max_blink_s:
            continue
        run = tuple(i for i in range(j, after) if closed[i])
        base = obs[before].points
        rigid = max(rigid_change(base, obs[i].points) for i in range(before + 1, after + 1))
        if rigid > config.max_rigid_change:
            continue
        deepest = min(run, key=lambda i: values[i])
        upper = upper_share(base, obs[deepest].points)
        if upper < config.min_upper_share:
            continue
        if eye_aspect_ratio(obs[deepest].points) > config.max_closed_ear:
            continue
        depth = float(values[deepest]) / level
        return Blink(before, run, after, level, round(depth, 3), round(rigid, 4), round(upper, 3))
    return None


@dataclass(frozen=True)
class Turn:
    """A head turn: the frames it went from and to and how far the yaw moved."""

    start: int
    end: int
    change: float


def find_turn(obs: Sequence[Observation], action: Action, config: LivenessConfig) -> Turn | None:
    """The first head turn in the asked direction (turn_left: yaw rises), or None.

    From some frame to a later one the yaw must move by `turn_yaw` in that direction, over at
    least `turn_min_steps` frame steps, no single step making more than `turn_max_step_share`
    of the change.
    """
    sign = 1.0 if action == "turn_left" else -1.0
    ys = [sign * yaw(o.points) for o in obs]
    for end in range(len(ys)):
        for start in range(end - config.turn_min_steps, -1, -1):
            if obs[end].at - obs[start].at > config.max_turn_s:
                break
            if ys[end] - ys[start] < config.turn_yaw:
                continue
            steps = [ys[i + 1] - ys[i] for i in range(start, end)]
            if max(steps) <= config.turn_max_step_share * (ys[end] - ys[start]):
                return Turn(start, end, round(ys[end] - ys[start], 3))
    return None


@dataclass
class LivenessCheck:
    """One track's liveness: its observations, the asked action, the clock, the result."""

    action: Action
    config: LivenessConfig
    observations: list[Observation] = field(default_factory=list)
    started_at: float | None = None  # the first frame that named a roster person
    person_id: int | None = None  # whom the track's frames name while it is checked
    passed: bool = False
    failed: bool = False
    proof: dict[str, object] | None = None

    def observe(self, observation: Observation) -> None:
        """Add one frame of the track (older frames beyond `history_s` are forgotten)."""
        if self.passed or self.failed:
            return
        self.observations.append(observation)
        horizon = observation.at - self.config.history_s
        while self.observations and self.observations[0].at < horizon:
            self.observations.pop(0)

    def restart(self) -> None:
        """Forget what was seen: the track now shows someone else."""
        self.observations.clear()
        self.started_at = None
        self.person_id = None
        self.passed = False
        self.failed = False
        self.proof = None

    def start(self, at: float) -> None:
        """Start the clock (the first frame that names a roster person); idempotent."""
        if self.started_at is None:
            self.started_at = at

    def evaluate(self, at: float) -> bool:
        """Decide with what was seen up to `at`; True once passed. Past the time limit
        without passing, `failed` is set."""
        if self.passed or self.failed:
            return self.passed
        obs = self.observations
        if self.action == "blink":
            blink = find_blink(obs, self.config)
            if blink is not None:
                self.passed = True
                self.proof = {
                    "frames": len(obs),
                    "open_level": round(blink.open_level, 4),
                    "closed_depth": blink.depth,
                    "closed_frames": len(blink.closed),
                    "rigid_change": blink.rigid,
                    "upper_lid_share": blink.upper,
                    "seconds": round(obs[blink.after].at - obs[blink.before].at, 3),
                }
        else:
            turn = find_turn(obs, self.action, self.config)
            if turn is not None:
                self.passed = True
                self.proof = {
                    "frames": len(obs),
                    "yaw_change": turn.change,
                    "seconds": round(obs[turn.end].at - obs[turn.start].at, 3),
                }
        if (
            not self.passed
            and self.started_at is not None
            and at - self.started_at > self.config.time_limit_s
        ):
            self.failed = True
        return self.passed

    def progress(self) -> float:
        """0..1 for the kiosk: how far the asked action has got (1 when passed)."""
        if self.passed:
            return 1.0
        obs = self.observations
        if not obs:
            return 0.0
        if self.action == "blink":
            if len(obs) < self.config.min_frames:
                return 0.0
            values = np.array([openness(o.points) for o in obs])
            level = float(np.percentile(values, self.config.open_percentile))
            if level <= 0:
                return 0.0
            drop = (1.0 - float(values[-1]) / level) / (1.0 - self.config.close_ratio)
            return round(float(np.clip(drop, 0.0, 0.9)), 3)
        sign = 1.0 if self.action == "turn_left" else -1.0
        ys = [sign * yaw(o.points) for o in obs]
        return round(float(np.clip((ys[-1] - min(ys)) / self.config.turn_yaw, 0.0, 0.9)), 3)

    def remaining_s(self, at: float) -> float | None:
        """Seconds left before the time limit (None before the clock started)."""
        if self.started_at is None:
            return None
        return max(0.0, self.config.time_limit_s - (at - self.started_at))

    def evidence(self) -> dict[str, object]:
        """What is stored with a check-in: the check, the action and what proved it."""
        return {"action": self.action, "passed": self.passed, **(self.proof or {})}
