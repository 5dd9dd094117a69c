"""The face worker pool and the per-meeting gallery cache, shared by every kiosk.

Face work (`faces.engine.analyze_frame`: decode, detect, gate, encode) runs in worker
processes, never on the event loop; matching against a gallery (numpy, ~1 ms) runs in the
parent. Galleries are decrypted once and rebuilt when an event or their fingerprint says so.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor

from sqlalchemy.orm import Session, sessionmaker

from checkin.faces.engine import FrameAnalysis, FrameJob, analyze_frame, warm
from checkin.lifeline import process_pool
from checkin.meetings.events import Event, GalleryChanged, RosterChanged
from checkin.recognition.gallery import MeetingGallery, fingerprint, load_gallery
from checkin.settings import Settings
from models.crypto import TemplateCipher

logger = logging.getLogger(__name__)


def warm_worker(model: str, shapes: bool = False) -> int:
    """Load the face model in a worker process (pool initializer / warm-up task); `shapes`:
    the liveness check's 68-point predictor too."""
    warm(model, shapes=shapes)
    return 0


def start_worker(model: str, niceness: int, shapes: bool = False) -> None:
    """Pool initializer: load the face model (and with `shapes` the liveness check's
    68-point predictor), then lower the worker's CPU priority.

    Face work tolerates a few milliseconds of wait; the serve process's event loop (live
    pushes, REST replies, kiosk sockets) does not, so on a busy machine it goes first."""
    warm_worker(model, shapes)  # first, at full priority: serve is not ready until it is done
    if niceness > 0 and hasattr(os, "nice"):
        try:
            os.nice(niceness)
        except OSError:
            logger.warning("could not lower the face worker's priority")


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
            # Workers die with this process, even on SIGKILL (checkin.lifeline).
            self._pool = process_pool(
                self.workers,
                initializer=start_worker,
                initargs=(
                    self.settings.face_model,
                    self.settings.face_worker_nice,
                    self.settings.liveness != "off",
                ),
            )
        return self._pool

    async def warm(self) -> None:
        """Start every worker and load the face models, so the first kiosk does not wait."""
        loop = asyncio.get_running_loop()
        pool = self._ensure_pool()
        await asyncio.gather(
            *(
                loop.run_in_executor(
                    pool, warm_worker, self.settings.face_model, self.settings.liveness != "off"
                )
                for _ in range(self.workers)
            )
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
        elif isinstance(event, RosterChanged):
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
            built = load_gallery(session, self._cipher, meeting_id, model=self.settings.face_model)
        logger.info(
            "gallery of meeting %s: %s roster templates (%s persons), %s enrolled templates",
            meeting_id, len(built.roster), built.roster.persons, len(built.everyone),
        )  # fmt: skip
        return built
