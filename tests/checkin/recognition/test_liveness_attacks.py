"""Photo attacks made at test time from the dev set's still photos of enrolled deputies.

Each attack is a stream of kiosk frames (5 per second) made from photos of a deputy enrolled
from another photo: the photo held in front of the camera and moved, zoomed, rotated and
tilted (a perspective warp, as a hand-held print or phone is); the photo with its eye region
pasted in from another photo of the same person on some frames; the deputy's different photos
one after another. Every stream goes through the real kiosk pipeline (`KioskPipeline`, the
workers' `analyze_frame`, the tracker, the decision) with `BAODAO_LIVENESS` at its default:
the face is recognised (the `liveness` state is reached) and nobody is checked in.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import BaseModel

from checkin.faces.engine import FrameAnalysis, FrameJob, analyze_frame, enroll_photo, face_model
from checkin.faces.image import load_image
from checkin.faces.landmarks import hog_like_box, shape68
from checkin.protocol import FaceState, FrameHeader, Person, Result
from checkin.recognition.decision import Gallery
from checkin.recognition.gallery import MeetingGallery
from checkin.recognition.liveness import RIGID, LivenessCheck, LivenessConfig, Observation
from checkin.recognition.pipeline import Confirmation, KioskIdentity, KioskPipeline, Outcome
from checkin.settings import Settings

pytestmark = pytest.mark.slow

DEPUTIES = ["Wen_Jiabao", "Zhu_Rongji", "Roh_Moo-hyun", "Tony_Blair"]
W, H, F = 640, 480, 700.0  # the camera frame and its focal length in pixels
EYES_AT, EYE_SPAN = (320.0, 210.0), 64.0  # where the photo's eyes sit on the frame


def _rgb(path: Path) -> np.ndarray:
    return load_image(path, max_pixels=40_000_000)


@cache
def _photo(faces_dir: Path, name: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Photo k of a deputy placed on a grey 640×480 frame (eyes level, at a fixed spot) and
    its 68 points there."""
    image = _rgb(sorted((faces_dir / "dev" / name).glob("*.jpg"))[k])
    [face] = sorted(face_model("sface").detect(image), key=lambda f: f.box[1] - f.box[3])[-1:]
    assert face.landmarks is not None
    right, left = face.landmarks[0], face.landmarks[1]
    angle = math.degrees(math.atan2(left[1] - right[1], left[0] - right[0]))
    scale = EYE_SPAN / float(np.linalg.norm(left - right))
    m = cv2.getRotationMatrix2D(tuple(map(float, (right + left) / 2)), angle, scale)
    m[:, 2] += np.array(EYES_AT) - (right + left) / 2
    placed = cv2.warpAffine(image, m, (W, H), borderValue=(128, 128, 128))
    faces = face_model("sface").detect(placed)
    face = max(faces, key=lambda f: f.box[1] - f.box[3])
    assert face.landmarks is not None
    return placed, shape68(placed, hog_like_box(face.landmarks))


def _held(image: np.ndarray, t: float) -> np.ndarray:
    """The picture as a hand holds it at time t (0..1): moved, zoomed, rotated, tilted."""
    yaw = math.radians(40 * math.sin(2 * math.pi * t))
    pitch = math.radians(35 * math.sin(4 * math.pi * t + 1.0))
    roll = math.radians(15 * math.sin(3 * math.pi * t))
    zoom = 1.0 + 0.3 * math.sin(1.4 * math.pi * t)
    shift = (50 * math.sin(2.6 * math.pi * t), 30 * math.sin(1.8 * math.pi * t + 0.5))
    k = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1.0]])
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), math.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    r = rz @ ry @ rx
    # The picture is a plane through the frame's centre, F/zoom from the camera, turned by r.
    plane = np.column_stack([r[:, 0], r[:, 1], [0.0, 0.0, F / zoom]])
    centre = np.array([[1, 0, -W / 2], [0, 1, -H / 2], [0, 0, 1.0]])
    move = np.array([[1, 0, shift[0]], [0, 1, shift[1]], [0, 0, 1.0]])
    h = move @ k @ plane @ centre
    return cv2.warpPerspective(image, h, (W, H), borderValue=(90, 90, 90))


def _eyes_from(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Photo a with its eye region replaced by photo b's, aligned on the nose and eye corners."""
    (img_a, pts_a), (img_b, pts_b) = a, b
    m, _ = cv2.estimateAffinePartial2D(pts_b[list(RIGID)], pts_a[list(RIGID)])
    warped = cv2.warpAffine(img_b, m, (W, H))
    mask = np.zeros((H, W), np.float32)
    for eye in (slice(36, 42), slice(42, 48)):
        pts = pts_a[eye]
        centre, width = pts.mean(axis=0), float(np.linalg.norm(pts[3] - pts[0]))
        size = (int(width * 0.9), int(width * 0.55))
        cv2.ellipse(mask, tuple(map(int, centre)), size, 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 3)[..., None]
    return (img_a * (1 - mask) + warped * mask).astype(np.uint8)


def _jpeg(rgb: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


@cache
def _gallery(faces_dir: Path) -> MeetingGallery:
    """The deputies enrolled from their photo 0; attacks use their other photos."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    rows = []
    for pid, name in enumerate(DEPUTIES, start=1):
        face = enroll_photo(
            _rgb(sorted((faces_dir / "dev" / name).glob("*.jpg"))[0]),
            model="sface", min_face_px=settings.enroll_min_face_px, jitters=1,
        )  # fmt: skip
        assert face.encoding is not None
        rows.append((pid, face.encoding))
    g = Gallery.build(rows, metric="cosine")
    persons = {
        pid: Person(id=pid, number=f"{pid:03d}", name=n) for pid, n in enumerate(DEPUTIES, 1)
    }
    return MeetingGallery(1, g, g, frozenset(), persons, ())  # type: ignore[arg-type]


def _run(faces_dir: Path, frames: list[np.ndarray]) -> tuple[list[Confirmation], set[FaceState]]:
    """The frames through a kiosk pipeline at 5 frames/s; what it recorded and the states seen."""
    settings = Settings(_env_file=None, secret_key="attack-test-key-0123456789")  # type: ignore[call-arg]
    assert settings.liveness == "blink"  # the default
    gallery = _gallery(faces_dir)
    recorded: list[Confirmation] = []
    states: set[FaceState] = set()

    async def analyze(job: FrameJob) -> FrameAnalysis:
        return analyze_frame(job)

    async def current() -> MeetingGallery:
        return gallery

    async def record(c: Confirmation) -> Outcome:
        recorded.append(c)
        return Outcome(FaceState.CONFIRMED, len(recorded), datetime.now(UTC))

    async def send(message: BaseModel) -> None:
        if isinstance(message, Result):
            states.update(f.state for f in message.faces)

    pipe = KioskPipeline(
        settings=settings, meeting_id=1, kiosk=KioskIdentity(1, "东门"), analyze=analyze,
        gallery=current, record=record, send=send,
    )  # fmt: skip
    start = datetime.now(UTC)

    async def play() -> None:
        for i, rgb in enumerate(frames):
            at = start + timedelta(seconds=i / 5)
            await pipe.process(FrameHeader(frame_id=i, captured_at=at), _jpeg(rgb), at)

    asyncio.run(play())
    return recorded, states


@pytest.mark.parametrize("name", DEPUTIES[:2])
def test_a_photo_moved_zoomed_rotated_and_tilted_checks_nobody_in(
    faces_dir: Path, name: str
) -> None:
    for k in (1, 2):
        image, _ = _photo(faces_dir, name, k)
        frames = [_held(image, i / 50) for i in range(50)]  # 10 s
        recorded, states = _run(faces_dir, frames)
        assert FaceState.LIVENESS in states  # recognised, asked to blink
        assert recorded == []
        assert FaceState.REJECTED in states  # the time limit ran out: 请到服务台


def _swap_stream(
    a: tuple[np.ndarray, np.ndarray], swapped: np.ndarray, frames: int = 30
) -> Iterator[np.ndarray]:
    """A, A, A, swapped, A, … with the small sway of a hand-held picture."""
    for i in range(frames):
        image = swapped if i % 4 == 3 else a[0]
        yield _held(image, 0.02 * math.sin(i / 3))


@pytest.mark.parametrize("name", DEPUTIES[:2])
def test_eyes_swapped_between_two_photos_check_nobody_in(faces_dir: Path, name: str) -> None:
    a, b = _photo(faces_dir, name, 1), _photo(faces_dir, name, 2)
    recorded, states = _run(faces_dir, list(_swap_stream(a, _eyes_from(a, b))))
    assert FaceState.LIVENESS in states and recorded == []


def test_eye_swaps_over_many_photo_pairs_never_blink(faces_dir: Path) -> None:
    """Every ordered pair of 5 photos of 4 deputies (80 pairs), on the landmark path alone;
    4 swaps each (16 frames): every swap is a chance for open → closed → open."""
    passed, narrowed = [], 0
    for name in DEPUTIES:
        photos = [_photo(faces_dir, name, k) for k in range(1, 6)]
        for a, b in itertools.permutations(photos, 2):
            check = LivenessCheck("blink", LivenessConfig(time_limit_s=60))
            for i, frame in enumerate(_swap_stream(a, _eyes_from(a, b), frames=16)):
                job = FrameJob(
                    _jpeg(frame), 4_000_000, 48, 1, "sface", skip_boxes=((0, W, H, 0),),
                    skip_iou=0.0, largest_only=True, shapes=True,
                )  # fmt: skip
                found = [f.shape for f in analyze_frame(job).faces if f.shape is not None]
                if found:
                    check.observe(Observation(i / 5, np.asarray(found[0])))
                    check.evaluate(i / 5)
            if check.passed:
                passed.append((name, check.evidence()))
            narrowed += 1
    assert narrowed == 80 and passed == []


@pytest.mark.parametrize("name", DEPUTIES[:2])
def test_a_sequence_of_a_deputys_different_photos_checks_nobody_in(
    faces_dir: Path, name: str
) -> None:
    photos = [_photo(faces_dir, name, k)[0] for k in range(1, 8)]
    frames = [_held(photos[(i // 2) % len(photos)], 0.03 * math.sin(i / 4)) for i in range(50)]
    recorded, states = _run(faces_dir, frames)
    assert FaceState.LIVENESS in states and recorded == []
