"""Live matching: per-frame face work (run in worker processes) and the per-kiosk pipeline.

`analyze_frame` is the CPU part: decode, detect at a scale chosen for the smallest face worth
encoding, quality gate, encode the faces that are not settled on their track. It runs in a
process pool. Matching against the meeting's gallery (numpy, ~1 ms) runs in the parent.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing as mp
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from checkin.faces import engine as fe
from checkin.faces.dlib_net import face_net
from checkin.meetings.events import Event, GalleryChanged, MeetingChanged
from checkin.recognition.decision import Decision, Gallery, decide, rank
from checkin.recognition.gallery import MeetingGallery, fingerprint, load_gallery
from checkin.recognition.tracker import Box, TrackerConfig, iou
from checkin.settings import Settings
from models.crypto import TemplateCipher

logger = logging.getLogger(__name__)

# dlib's HOG window finds faces from about 80 px (measured: at 640x360 without upsampling a
# 73 px face is found, a 63 px one is not). The detection image is scaled so a face of
# `min_face_px` becomes HOG_MIN_FACE_PX; smaller faces are too small to encode anyway.
HOG_MIN_FACE_PX = 80
# Cap on the detection image: a 1080p camera with a small min_face_px would otherwise cost
# ~300 ms per frame; beyond this the smallest faces are traded for latency.
DETECT_BUDGET_PIXELS = 1_000_000


def detection_scale(height: int, width: int, *, min_face_px: int) -> float:
    """The resize factor for detection: a `min_face_px` face becomes HOG_MIN_FACE_PX wide.

    Returns:
        The factor (may be > 1 for small frames), reduced so the detection image stays
        within DETECT_BUDGET_PIXELS.
    """
    scale = HOG_MIN_FACE_PX / float(min_face_px)
    area = height * width
    if area * scale * scale > DETECT_BUDGET_PIXELS:
        scale = math.sqrt(DETECT_BUDGET_PIXELS / area)
    return scale


def detect_for_kiosk(
    image: np.ndarray, *, min_face_px: int, regions: Sequence[Box] = ()
) -> list[Box]:
    """HOG detection at the kiosk scale, on the whole frame or only around `regions`.

    A region (a tracked face's last box) is widened by the face's size on every side, so a
    face moving between frames stays inside it; detection there costs a fraction of the frame.
    """
    if not regions:
        return _detect_scaled(image, min_face_px=min_face_px, origin=(0, 0))
    height, width = image.shape[:2]
    found: list[Box] = []
    for top, right, bottom, left in regions:
        pad_y, pad_x = bottom - top, right - left
        y0, y1 = max(0, top - pad_y), min(height, bottom + pad_y)
        x0, x1 = max(0, left - pad_x), min(width, right + pad_x)
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        for box in _detect_scaled(crop, min_face_px=min_face_px, origin=(y0, x0)):
            if all(iou(box, other) < 0.5 for other in found):
                found.append(box)
    found.sort(key=lambda b: (b[3], b[0]))
    return found


def _detect_scaled(image: np.ndarray, *, min_face_px: int, origin: tuple[int, int]) -> list[Box]:
    height, width = image.shape[:2]
    if height < 8 or width < 8:
        return []
    oy, ox = origin
    scale = detection_scale(height, width, min_face_px=min_face_px)
    small = image
    if abs(scale - 1.0) > 0.02:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        small = cv2.resize(image, size, interpolation=interp)
        scale_y, scale_x = small.shape[0] / height, small.shape[1] / width
    else:
        scale_y = scale_x = 1.0
    boxes: list[Box] = []
    for rect in fe._models().face_detector(small, 0):
        top = max(0, round(rect.top() / scale_y))
        right = min(width, round(rect.right() / scale_x))
        bottom = min(height, round(rect.bottom() / scale_y))
        left = max(0, round(rect.left() / scale_x))
        if bottom > top and right > left:
            boxes.append((top + oy, right + ox, bottom + oy, left + ox))
    boxes.sort(key=lambda b: (b[3], b[0]))
    return boxes


@dataclass(frozen=True)
class FrameJob:
    """One frame for a worker, with the boxes of settled tracks that need no encoding."""

    jpeg: bytes
    max_pixels: int
    min_face_px: int
    jitters: int
    skip_boxes: tuple[Box, ...] = ()
    skip_iou: float = 0.3
    regions: tuple[Box, ...] = ()  # search only around these boxes (empty: whole frame)


@dataclass(frozen=True)
class DetectedFace:
    box: Box
    reason: str | None  # a face_engine.REASONS key when the face is not usable
    encoding: np.ndarray | None  # None: unusable, or skipped (settled track)
    skipped: bool = False


@dataclass(frozen=True)
class FrameAnalysis:
    faces: tuple[DetectedFace, ...]
    error: str | None = None  # unreadable_image / image_too_large
    seconds: float = 0.0  # CPU time spent in the worker


def analyze_frame(job: FrameJob) -> FrameAnalysis:
    """Decode, detect, gate and encode one frame (runs in a worker process)."""
    started = time.process_time()
    try:
        image = fe.load_image(job.jpeg, max_pixels=job.max_pixels)
    except fe.UnreadableImage as exc:  # ImageTooLarge is a subclass
        return FrameAnalysis((), exc.code, time.process_time() - started)
    faces: list[DetectedFace] = []
    for box in detect_for_kiosk(image, min_face_px=job.min_face_px, regions=job.regions):
        if any(iou(box, s) >= job.skip_iou for s in job.skip_boxes):
            faces.append(DetectedFace(box, None, None, skipped=True))
            continue
        quality, shape = fe.assess(image, box, min_face_px=job.min_face_px)
        encoding = None
        if quality.ok:
            encoding = fe.describe(image, shape, job.jitters)
        faces.append(DetectedFace(box, quality.reason, encoding))
    return FrameAnalysis(tuple(faces), None, time.process_time() - started)


def warm_worker() -> int:
    """Load the face models in a worker process (pool initializer / warm-up task)."""
    fe._models()
    face_net()
    return 0


@dataclass(frozen=True)
class Verdict:
    """One encoding against a meeting: `kind` is match, outsider or unknown."""

    kind: str
    person_id: int | None
    decision: Decision


def classify(
    roster: Gallery,
    everyone: Gallery,
    probe: np.ndarray,
    *,
    threshold: float,
    margin: float,
    lookalikes: frozenset[int],
    lookalike_margin: float,
) -> Verdict:
    """Decide one encoding against the roster, guarded by the everyone-enrolled gallery.

    Args:
        roster: templates of the people on the meeting's roster.
        everyone: templates of every enrolled person (the roster people included).
        probe: the face's encoding.
        threshold, margin, lookalikes, lookalike_margin: as in `decision.decide`.

    Returns:
        match (person_id on the roster) only when the roster decision accepts the person AND
        nobody enrolled outside the roster is closer (an off-roster look-alike must not be
        checked in as a roster member); outsider (person_id of the enrolled, off-roster person)
        when the everyone gallery accepts someone not on the roster; unknown otherwise.
    """
    kw = {
        "threshold": threshold,
        "margin": margin,
        "lookalikes": lookalikes,
        "lookalike_margin": lookalike_margin,
    }
    decision = decide(roster, probe, **kw)  # type: ignore[arg-type]
    if decision.matched:
        nearest = rank(everyone, probe, top=1)
        if not nearest or nearest[0].person_id == decision.person_id:
            return Verdict("match", decision.person_id, decision)
    overall = decide(everyone, probe, **kw)  # type: ignore[arg-type]
    if overall.matched and overall.person_id not in set(roster.labels.tolist()):
        return Verdict("outsider", overall.person_id, overall)
    return Verdict("unknown", None, decision)


def evidence(
    votes: Sequence[tuple[int, float | None, float | None]],
    *,
    kiosk: str,
    kiosk_id: int,
    captured_at: str,
    track_id: int,
    threshold: float,
    margin: float,
    second: int | None,
) -> dict[str, object]:
    """The evidence stored with a face check-in: what was seen, by whom, against what bar."""
    return {
        "frames": [v[0] for v in votes],
        "distances": [None if v[1] is None else round(v[1], 4) for v in votes],
        "margins": [None if v[2] is None else round(v[2], 4) for v in votes],
        "threshold": threshold,
        "margin_required": margin,
        "second_best": second,
        "kiosk": kiosk,
        "kiosk_id": kiosk_id,
        "captured_at": captured_at,
        "track_id": track_id,
    }


class MatchService:
    """The face worker pool and the per-meeting gallery cache, shared by every kiosk."""

    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], cipher: TemplateCipher
    ) -> None:
        self.settings = settings
        self._sessions = sessions
        self._cipher = cipher
        self.workers = settings.workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None
        self._galleries: dict[int, MeetingGallery] = {}
        self._checked: dict[int, float] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=mp.get_context("spawn"), initializer=warm_worker
            )
        return self._pool

    async def warm(self) -> None:
        """Start every worker and load the face models, so the first kiosk does not wait."""
        loop = asyncio.get_running_loop()
        pool = self._ensure_pool()
        await asyncio.gather(
            *(loop.run_in_executor(pool, warm_worker) for _ in range(self.workers))
        )

    def close(self) -> None:
        """Stop the worker processes."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def analyze(self, job: FrameJob) -> FrameAnalysis:
        """Run `analyze_frame` in the pool (never on the event loop)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._ensure_pool(), analyze_frame, job)

    def invalidate(self, event: Event) -> None:
        """Event-bus subscriber: drop cached galleries that a roster or template change touches."""
        if isinstance(event, GalleryChanged):
            if event.meeting_id is None:
                self._galleries.clear()
            else:
                self._galleries.pop(event.meeting_id, None)
        elif isinstance(event, MeetingChanged) and event.kind == "roster":
            self._galleries.pop(event.meeting_id, None)

    async def gallery(self, meeting_id: int) -> MeetingGallery:
        """The meeting's gallery; rebuilt when invalidated or when its fingerprint changed.

        The fingerprint is read at most every `gallery_check_s` seconds, so changes made by
        another process (the CLI, a second server) are seen without an event.
        """
        lock = self._locks.setdefault(meeting_id, asyncio.Lock())
        async with lock:
            cached = self._galleries.get(meeting_id)
            now = time.monotonic()
            if cached is not None and now - self._checked.get(meeting_id, 0.0) < (
                self.settings.gallery_check_s
            ):
                return cached
            fresh = await asyncio.to_thread(self._load, meeting_id, cached)
            self._galleries[meeting_id] = fresh
            self._checked[meeting_id] = now
            return fresh

    def _load(self, meeting_id: int, cached: MeetingGallery | None) -> MeetingGallery:
        with self._sessions() as session:
            if cached is not None and fingerprint(session, meeting_id) == cached.fingerprint:
                return cached
            built = load_gallery(session, self._cipher, meeting_id)
        logger.info(
            "gallery of meeting %s: %s roster templates (%s persons), %s enrolled templates",
            meeting_id, len(built.roster), built.roster.persons, len(built.everyone),
        )  # fmt: skip
        return built


def tracker_config(settings: Settings) -> TrackerConfig:
    """The tracker parameters of the live service, from settings."""
    return TrackerConfig(
        confirm_frames=settings.confirm_frames,
        min_iou=settings.track_min_iou,
        max_missed_frames=settings.track_max_missed_frames,
        max_missed_s=settings.track_max_missed_s,
        reverify_every=settings.reverify_frames,
        rest_distance=settings.match_threshold + settings.rest_distance_gap,
    )
