"""The kiosk frame pipeline: frames in, per-frame results and check-ins out, no socket.

One `KioskPipeline` per connected kiosk keeps only its newest live frame waiting (older ones
are dropped and counted), while buffered (offline) frames are all processed in order, within
a byte budget. Before each frame the kiosk's standing (token, binding, meeting state) is
checked again. Each frame goes to the worker pool (`MatchService.analyze`), its faces to the
kiosk's tracker, each usable encoding to `classify` against the meeting's gallery; a track
whose votes agree and whose liveness check (`liveness`, `BAODAO_LIVENESS`; the face's 68
points come with the analysis) has passed is recorded through `record_face_checkin` (one
transaction: standing again, attendance, evidence, audit) at the time
`meetings.kiosks.checkin_time` believes. The socket layer (`checkin.web.kiosk_socket`) only
decodes messages and sends what `send` gets.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from checkin import audit
from checkin.errors import NotFound
from checkin.faces.engine import FrameAnalysis, FrameJob
from checkin.meetings.attendance import WindowClosed, record_attendance
from checkin.meetings.events import DeputyCheckedIn, EventBus
from checkin.meetings.kiosks import KioskRefused, Outage, Refused, checkin_time, standing
from checkin.protocol import CheckIn, Error, ErrorCode, FaceResult, FaceState, FrameHeader, Result
from checkin.recognition.decision import Decision, Gallery, decide, rank
from checkin.recognition.gallery import MeetingGallery
from checkin.recognition.liveness import Action, LivenessCheck, LivenessConfig, Observation
from checkin.recognition.tracker import Settled, Track, Tracker, TrackerConfig, Vote
from checkin.settings import Settings
from models import CheckinMethod, Meeting, utcnow
from models.db import session_scope

logger = logging.getLogger(__name__)


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
    time: str = "server",
    time_note: str | None = None,
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
        "captured_at": captured_at,  # as the kiosk stated it
        "time": time,  # what the check-in time is: server, capture or arrival
        "time_note": time_note,
        "track_id": track_id,
    }


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


@dataclass(frozen=True)
class KioskIdentity:
    id: int
    name: str


@dataclass(frozen=True)
class Outcome:
    """What recording a confirmed face did: confirmed, already, not_open or not_on_roster;
    `refused` when the kiosk may no longer serve the meeting (nothing was recorded)."""

    state: FaceState
    attendance_id: int | None = None
    checked_in_at: datetime | None = None
    late: bool = False
    refused: Refused | None = None


def _aware(value: datetime) -> datetime:
    """Kiosk times without a zone are taken as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Confirmation:
    """A track that agreed on a person, to be recorded as a face check-in."""

    meeting_id: int
    person_id: int
    at: datetime
    kiosk: KioskIdentity
    evidence: dict[str, Any]
    delayed: bool
    connection: str | None = None  # the kiosk connection id, re-checked in the transaction


Recorder = Callable[[Confirmation], Awaitable[Outcome]]


def record_face_checkin(sessions: sessionmaker[Session], c: Confirmation) -> Outcome:
    """Write the attendance row, its evidence and the audit event in one transaction."""
    with session_scope(sessions) as session:
        refused = standing(
            session, kiosk_id=c.kiosk.id, meeting_id=c.meeting_id, connection=c.connection
        )
        if refused is not None:  # revoked, rebound, replaced or closed since the frame came
            return Outcome(FaceState.NOT_OPEN, refused=refused)
        meeting = session.get(Meeting, c.meeting_id)
        assert meeting is not None  # standing checked it
        try:
            rec = record_attendance(
                session,
                meeting=meeting,
                deputy_id=c.person_id,
                at=c.at,
                method=CheckinMethod.FACE,
                actor=audit.Actor(c.kiosk.name, kiosk_id=c.kiosk.id),
                evidence=c.evidence,
                delayed=c.delayed,
            )
        except WindowClosed:
            return Outcome(FaceState.NOT_OPEN)
        except NotFound:
            return Outcome(FaceState.NOT_ON_ROSTER)
        row = rec.attendance
        state = FaceState.CONFIRMED if rec.created else FaceState.ALREADY
        return Outcome(state, row.id, row.checked_in_at, row.late)


def database_recorder(sessions: sessionmaker[Session], events: EventBus) -> Recorder:
    """Record confirmations in the database (off the event loop), then publish the change."""

    async def record(c: Confirmation) -> Outcome:
        outcome = await asyncio.to_thread(record_face_checkin, sessions, c)
        if outcome.state is FaceState.CONFIRMED:
            events.publish(DeputyCheckedIn(c.meeting_id, c.person_id))
            logger.info(
                "checked in person %s at meeting %s from kiosk %s (attendance %s)",
                c.person_id, c.meeting_id, c.kiosk.name, outcome.attendance_id,
            )  # fmt: skip
        return outcome

    return record


class KioskPipeline:
    """One kiosk's frames: a newest-only live slot, a buffered queue, one worker task."""

    def __init__(
        self,
        *,
        settings: Settings,
        meeting_id: int,
        kiosk: KioskIdentity,
        analyze: Callable[[FrameJob], Awaitable[FrameAnalysis]],
        gallery: Callable[[], Awaitable[MeetingGallery]],
        record: Recorder,
        send: Callable[[BaseModel], Awaitable[None]],
        check: Callable[[], Awaitable[Refused | None]] | None = None,
        outage: Outage | None = None,
        connection: str | None = None,
    ) -> None:
        """`analyze` runs the face work (the worker pool), `gallery` gives the meeting's
        current gallery, `record` stores a confirmation, `send` delivers each message,
        `check` re-checks the kiosk's standing before each frame (a refusal raises
        KioskRefused out of `run`). `outage` is the kiosk's outage before this connection:
        buffered frames captured inside it count at their capture time (None: never)."""
        self.settings = settings
        self.check = check
        self.outage = outage
        self.connection = connection
        self.analyze = analyze
        self.gallery = gallery
        self.record = record
        self.meeting_id = meeting_id
        self.kiosk = kiosk
        self.send = send
        config = tracker_config(settings)
        self.liveness_config = LivenessConfig(time_limit_s=settings.liveness_seconds)
        self.live = Tracker(config)
        self.offline = Tracker(config)  # buffered frames are another timeline
        self._slot: tuple[FrameHeader, bytes, datetime] | None = None
        self._buffered: deque[tuple[FrameHeader, bytes, datetime]] = deque()
        self.buffered_bytes = 0  # JPEG bytes waiting in `_buffered`
        self.stopped = False
        self._space = asyncio.Condition()
        self._wake = asyncio.Event()
        self.dropped = 0  # since the last result
        self.dropped_total = 0
        self.processed = 0
        self.sent_checkins: set[int] = set()

    def _room_for(self, size: int) -> bool:
        s = self.settings
        return (
            self.stopped
            or not self._buffered
            or (
                len(self._buffered) < s.max_buffered_frames
                and self.buffered_bytes + size <= s.max_buffered_bytes
            )
        )

    async def offer(self, header: FrameHeader, jpeg: bytes) -> None:
        """Queue a frame: live frames replace a waiting one; buffered ones wait for room
        (frame count and bytes), which holds the socket's reader and so the kiosk."""
        received = utcnow()
        if header.buffered:
            async with self._space:
                await self._space.wait_for(lambda: self._room_for(len(jpeg)))
                if self.stopped:
                    return
                self._buffered.append((header, jpeg, received))
                self.buffered_bytes += len(jpeg)
        else:
            if self._slot is not None:
                self.dropped += 1
                self.dropped_total += 1
            self._slot = (header, jpeg, received)
        self._wake.set()

    async def run(self) -> None:
        """Process frames until cancelled: buffered ones first (in order), then the newest live.

        Raises KioskRefused when the kiosk may no longer serve the meeting. Once stopped, a
        waiting `offer` returns (its frame is dropped) so the socket's reader is not stuck.
        """
        try:
            await self._run()
        finally:
            self.stopped = True
            async with self._space:
                self._space.notify_all()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if self._buffered:
                header, jpeg, received = self._buffered.popleft()
                async with self._space:
                    self.buffered_bytes -= len(jpeg)
                    self._space.notify_all()
                await self.process(header, jpeg, received)
            elif self._slot is not None:
                header, jpeg, received = self._slot
                self._slot = None
                await self.process(header, jpeg, received)
            if not self._buffered and self._slot is None:
                self._wake.clear()

    async def process(
        self, header: FrameHeader, jpeg: bytes, received: datetime | None = None
    ) -> None:
        """Process one frame now (buffered frames on their own timeline); a failure is logged
        and the kiosk keeps being served. KioskRefused passes: the connection must end."""
        tracker = self.offline if header.buffered else self.live
        try:
            await self._process(header, jpeg, tracker, received or utcnow())
        except (asyncio.CancelledError, KioskRefused):
            raise
        except Exception:
            logger.exception("kiosk %s: frame %s failed", self.kiosk.name, header.frame_id)

    async def _process(
        self, header: FrameHeader, jpeg: bytes, tracker: Tracker, received: datetime
    ) -> None:
        s = self.settings
        if self.check is not None:
            refused = await self.check()
            if refused is not None:
                raise KioskRefused(refused)
        gallery = await self.gallery()
        job = FrameJob(
            jpeg=jpeg,
            max_pixels=s.max_frame_pixels,
            min_face_px=s.kiosk_min_face_px,
            jitters=s.live_jitters,
            model=s.face_model,
            skip_boxes=tuple(tracker.skip_boxes()),
            skip_iou=s.track_min_iou,
            regions=tuple(tracker.focus(s.full_detect_frames)),
            largest_only=s.kiosk_faces == "largest",
            shapes=s.liveness != "off",
        )
        analysis = await self.analyze(job)
        self.processed += 1
        if analysis.error is not None:
            code = (
                ErrorCode.FRAME_TOO_LARGE
                if analysis.error == "image_too_large"
                else (ErrorCode.BAD_FRAME)
            )
            message = (
                f"画面超过 {s.max_frame_pixels:,} 像素上限 (frame over the pixel limit)"
                if code is ErrorCode.FRAME_TOO_LARGE
                else "无法解码的图像 (frame is not a decodable JPEG)"
            )
            await self.send(Error(code=code, message=message, frame_id=header.frame_id))
            return
        captured_at = _aware(header.captured_at)
        tracks = tracker.update([f.box for f in analysis.faces], at=captured_at.timestamp())
        faces: list[FaceResult] = []
        checkins: list[CheckIn] = []
        at = captured_at.timestamp()
        for face, track in zip(analysis.faces, tracks, strict=True):
            result = FaceResult(box=face.box, track_id=track.id, state=FaceState.UNKNOWN)
            check = self._liveness(track, face.shape, at)
            if face.encoding is None:
                if track.settled is not None:
                    result = self._settled(result, track, gallery)
                elif check is not None and check.failed:
                    result.state, result.reason = FaceState.REJECTED, "liveness"
                elif not face.skipped:
                    result.state, result.reason = FaceState.REJECTED, face.reason
                # else: a resting track, far from everyone a frame ago: still unknown
                faces.append(result)
                continue
            verdict = classify(
                gallery.roster,
                gallery.everyone,
                track.pooled(face.encoding, s.track_pool_frames),
                threshold=s.match_threshold,
                margin=s.match_margin,
                lookalikes=gallery.lookalikes,
                lookalike_margin=s.lookalike_margin,
            )
            d = verdict.decision
            pid = verdict.person_id if verdict.kind == "match" else None
            ready = tracker.vote(track, Vote(pid, header.frame_id, d.distance, d.margin))
            if check is not None and pid is not None and track.settled is None:
                if check.person_id not in (None, pid):
                    check.restart()  # the track now shows someone else: start again
                check.person_id = pid
                check.start(at)
                check.evaluate(at)
                if not check.passed:
                    track.pending = False  # consensus waits for the liveness action
                    ready = False
                    if check.failed:
                        result.state, result.reason = FaceState.REJECTED, "liveness"
                    else:
                        result.state, result.action = FaceState.LIVENESS, check.action
                        result.progress = check.progress()
                        remaining = check.remaining_s(at)
                        if remaining is not None:
                            result.deadline_ms = round(remaining * 1000)
                    faces.append(result)
                    continue
            if ready and pid is not None:
                outcome = await self._confirm(track, header, captured_at, received, d)
                if outcome.refused is not None:
                    raise KioskRefused(outcome.refused)
                person = gallery.persons.get(pid)
                if outcome.state in (FaceState.CONFIRMED, FaceState.ALREADY):
                    tracker.settle(track.id, Settled(pid, outcome.state, outcome.checked_in_at))
                    if outcome.state is FaceState.CONFIRMED and person is not None:
                        assert outcome.attendance_id is not None and outcome.checked_in_at
                        self.sent_checkins.add(outcome.attendance_id)
                        checkins.append(
                            CheckIn(
                                checkin_id=outcome.attendance_id,
                                person=person,
                                checked_in_at=outcome.checked_in_at,
                                late=outcome.late,
                                delayed=header.buffered,
                                frame_id=header.frame_id,
                            )
                        )
                else:
                    tracker.settle(track.id, None)  # try again later (window may open)
                result.state, result.person = outcome.state, person
                result.checked_in_at = outcome.checked_in_at
                if outcome.state in (FaceState.CONFIRMED, FaceState.ALREADY):
                    result.progress = 1.0
            elif track.settled is not None:
                result = self._settled(result, track, gallery)
            elif verdict.kind == "match" and pid is not None:
                result.state, result.person = FaceState.MATCHING, gallery.persons.get(pid)
                result.progress = round(track.agreeing / s.confirm_frames, 3)
            elif verdict.kind == "outsider":
                result.state = FaceState.NOT_ON_ROSTER  # enrolled, off the roster: no name
            faces.append(result)
        dropped, self.dropped = self.dropped, 0
        await self.send(
            Result(
                frame_id=header.frame_id, captured_at=header.captured_at, faces=faces,
                dropped=dropped,
            )
        )  # fmt: skip
        for checkin in checkins:
            await self.send(checkin)

    def _liveness(
        self, track: Track, shape: Sequence[tuple[float, float]] | None, at: float
    ) -> LivenessCheck | None:
        """The track's liveness check with this frame's landmarks added (None when off)."""
        s = self.settings
        if s.liveness == "off":
            return None
        if track.liveness is None:
            action: Action = (
                "blink" if s.liveness == "blink" else secrets.choice(s.liveness_actions)
            )
            track.liveness = LivenessCheck(action, self.liveness_config)
        check = track.liveness
        assert isinstance(check, LivenessCheck)
        if shape is not None:
            check.observe(Observation(at, np.asarray(shape, dtype=np.float64)))
            check.evaluate(at)
        return check

    def _settled(self, result: FaceResult, track: Track, gallery: MeetingGallery) -> FaceResult:
        assert track.settled is not None
        result.state = FaceState(track.settled.state)
        result.person = gallery.persons.get(track.settled.person_id)  # 「张三 代表，已报到 08:41」
        result.progress = 1.0
        result.checked_in_at = track.settled.checked_in_at  # type: ignore[assignment]
        return result

    async def _confirm(
        self,
        track: Track,
        header: FrameHeader,
        captured_at: datetime,
        received: datetime,
        decision: Any,
    ) -> Outcome:
        s = self.settings
        votes = [(v.frame_id, v.distance, v.margin) for v in track.votes]
        second = decision.candidates[1].person_id if len(decision.candidates) > 1 else None
        # Live: the server's clock decides; buffered: the capture time only inside the
        # kiosk's own outage, else the time the frame arrived.
        when = checkin_time(
            captured_at,
            buffered=header.buffered,
            outage=self.outage,
            now=received if header.buffered else utcnow(),
        )
        proof = evidence(
            votes,
            kiosk=self.kiosk.name,
            kiosk_id=self.kiosk.id,
            captured_at=captured_at.isoformat(),
            time=when.source.value,
            time_note=when.note,
            track_id=track.id,
            threshold=s.match_threshold,
            margin=s.match_margin,
            second=second,
        )
        if isinstance(track.liveness, LivenessCheck):
            proof["liveness"] = {"mode": s.liveness, **track.liveness.evidence()}
        assert track.candidate is not None
        return await self.record(
            Confirmation(
                meeting_id=self.meeting_id,
                person_id=track.candidate,
                at=when.at,
                kiosk=self.kiosk,
                evidence=proof,
                delayed=header.buffered,
                connection=self.connection,
            )
        )
