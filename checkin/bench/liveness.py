"""Liveness on real footage: which clips pass which action, and how long a walk-up takes.

The clips are `fixtures/liveness/` of the shared face data (its MANIFEST says what each
shows). Each clip is sampled at a kiosk's frame rate, every sampled frame goes through the
frame analysis the workers run (`analyze_frame`, with dlib's 68 points) and the largest
face's points through one `LivenessCheck` per action. `walkup` measures the walk-up time: a
deputy arriving at any moment of a genuine clip, how long until the track would be confirmed
(the liveness action done and `confirm_frames` frames seen), plus the frame's CPU time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from checkin.faces.engine import FrameJob, analyze_frame
from checkin.recognition.liveness import (
    ACTIONS,
    Action,
    LivenessCheck,
    LivenessConfig,
    Observation,
)

CLIPS = "fixtures/liveness"
# Blinks checked by eye, from the clips' MANIFEST (seconds into each clip).
BLINKS = {
    "genuine/blink_person1.mp4": (6.5, 9.9, 12.2, 14.2),
    "genuine/blink_talk_person2.mp4": (1.5, 2.7, 3.5, 10.5),
    "genuine/blink_wink_person3.mp4": (0.5, 1.7, 3.1, 9.5),
    "genuine/blink_expressions_person4.mp4": (6.9, 12.7, 15.1),
}
BLINK_CLIPS = (
    "genuine/blink_person1.mp4",
    "genuine/blink_talk_person2.mp4",
    "genuine/blink_wink_person3.mp4",
    "genuine/blink_expressions_person4.mp4",
)


@dataclass(frozen=True)
class Sampled:
    """One clip at a frame rate: each sampled frame's time and the largest face's points."""

    clip: str
    fps: float
    times: tuple[float, ...]
    shapes: tuple[np.ndarray | None, ...]  # None: no face in that frame
    cpu_s: float  # CPU time of the frame analysis, all frames


def frames(path: Path, fps: float, *, phase: float = 0.0) -> list[tuple[float, bytes]]:
    """The clip's frames at `fps` (nearest source frame), from `phase` seconds on, as JPEGs."""
    cap = cv2.VideoCapture(str(path))
    src = cap.get(cv2.CAP_PROP_FPS) or 25.0
    out: list[tuple[float, bytes]] = []
    due, i = phase, 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        t = i / src
        if t + 0.5 / src >= due:
            out.append((t, cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()))
            due += 1.0 / fps
        i += 1
    cap.release()
    return out


def sample(faces_dir: Path, clip: str, fps: float, *, phase: float = 0.0) -> Sampled:
    """Run the workers' frame analysis over the clip at `fps` (no encoding: points only)."""
    times, shapes = [], []
    started = time.process_time()
    for t, jpeg in frames(faces_dir / CLIPS / clip, fps, phase=phase):
        h = w = 100_000  # every face counts as settled: the points, not the embedding
        job = FrameJob(
            jpeg, 4_000_000, 48, 1, "sface", skip_boxes=((0, w, h, 0),), skip_iou=0.0,
            largest_only=True, shapes=True,
        )  # fmt: skip
        found = [f for f in analyze_frame(job).faces if f.shape is not None]
        times.append(t)
        shapes.append(np.asarray(found[0].shape) if found else None)
    return Sampled(clip, fps, tuple(times), tuple(shapes), time.process_time() - started)


def passes(
    sampled: Sampled,
    action: Action,
    *,
    start: float = 0.0,
    confirm_frames: int = 2,
    config: LivenessConfig = LivenessConfig(),
) -> float | None:
    """When a face arriving at `start` would be confirmed doing `action` (None: never).

    The clock starts at the arrival; the track must have `confirm_frames` frames and the
    action done, within the time limit. A frame without a face ends nothing (the tracker
    keeps a track for up to 3 s).
    """
    check = LivenessCheck(action, config)
    seen = 0
    for t, shape in zip(sampled.times, sampled.shapes, strict=True):
        if t < start or shape is None:
            continue
        check.start(t)
        check.observe(Observation(t, shape))
        seen += 1
        if check.evaluate(t) and seen >= confirm_frames:
            return t
        if check.failed:
            return None
    return None


def clip_table(faces_dir: Path, fps: float) -> list[dict[str, object]]:
    """Every clip of the manifest: the time each action first passes from the clip's start
    (no time limit), or None."""
    rows = []
    unlimited = LivenessConfig(time_limit_s=60.0)
    for path in sorted((faces_dir / CLIPS).glob("*/*.mp4")):
        clip = f"{path.parent.name}/{path.name}"
        s = sample(faces_dir, clip, fps)
        row: dict[str, object] = {"clip": clip}
        for action in ACTIONS:
            row[action] = passes(s, action, config=unlimited)
        rows.append(row)
    return rows


def walkup(
    faces_dir: Path, *, fps: float = 5.0, clips: Sequence[str] = BLINK_CLIPS, every_s: float = 0.5
) -> dict[str, float]:
    """Median and 90th percentile of the walk-up time to check-in with a blink at `fps`.

    A deputy arrives at every `every_s` of each genuine blink clip (up to 8 s before its
    end); the time is from the arrival to the frame that confirms, plus one frame's CPU time
    (the server's analysis of that frame). Arrivals that never pass count as the time limit.
    """
    config = LivenessConfig()
    waits: list[float] = []
    frames_n, cpu = 0, 0.0
    for clip in clips:
        s = sample(faces_dir, clip, fps)
        frames_n += len(s.times)
        cpu += s.cpu_s
        end = s.times[-1] if s.times else 0.0
        start = 0.0
        while start <= end - config.time_limit_s:
            done = passes(s, "blink", start=start, config=config)
            waits.append(config.time_limit_s if done is None else done - start)
            start += every_s
    return _summary(waits, frames_n, cpu, fps=fps, limit_s=config.time_limit_s)


def _summary(
    waits: list[float], frames_n: int, cpu: float, *, fps: float, limit_s: float
) -> dict[str, float]:
    """Walk-up times (each plus one frame's CPU time) as median, p90 and misses."""
    per_frame = cpu / max(1, frames_n)
    waits = [w + per_frame for w in waits]
    return {
        "fps": fps,
        "arrivals": float(len(waits)),
        "median_s": round(statistics.median(waits), 3),
        "p90_s": round(float(np.percentile(waits, 90)), 3),
        "never": float(sum(1 for w in waits if w >= limit_s)),
        "frame_cpu_ms": round(per_frame * 1000, 1),
    }


def prompted(
    faces_dir: Path, *, fps: float = 5.0, lead_s: float = 1.0, phases: int = 3
) -> dict[str, float]:
    """The walk-up time when the deputy blinks because the kiosk asked (请眨眨眼).

    For every blink the MANIFEST lists, a deputy arrives `lead_s` before it (recognised on the
    first frames, the prompt shown, the blink about a second later); the time runs from the
    arrival to the frame that confirms, at `fps` with `phases` different frame offsets, plus
    one frame's CPU time. Misses (the sampled frames caught no closed eye) count as the time
    limit.
    """
    config = LivenessConfig()
    waits: list[float] = []
    frames_n, cpu = 0, 0.0
    for clip, blinks in BLINKS.items():
        for k in range(phases):
            s = sample(faces_dir, clip, fps, phase=k / (fps * phases))
            frames_n += len(s.times)
            cpu += s.cpu_s
            for blink in blinks:
                start = max(0.0, blink - lead_s)
                done = passes(s, "blink", start=start, config=config)
                waits.append(config.time_limit_s if done is None else done - start)
    return _summary(waits, frames_n, cpu, fps=fps, limit_s=config.time_limit_s)
