"""The kiosk WebSocket `/ws/kiosk`: hello, frames in, results and check-ins out.

See checkin/protocol.py for the messages. Routes never run inference: frames go to the
MatchService pool; each kiosk keeps only its newest live frame waiting (older ones are
dropped and counted), while buffered (offline) frames are all processed in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from checkin import audit
from checkin.accounts.service import kiosk_for_token
from checkin.errors import NotFound
from checkin.meetings.attendance import WindowClosed, record_attendance, window_state
from checkin.meetings.events import EventBus, MeetingChanged
from checkin.protocol import (
    Ack,
    CheckIn,
    CloseCode,
    Error,
    ErrorCode,
    FaceResult,
    FaceState,
    FrameFormatError,
    FrameHeader,
    Hello,
    MeetingInfo,
    Ping,
    Pong,
    Result,
    Welcome,
    decode_frame,
    kiosk_message,
)
from checkin.recognition.tracker import Settled, Track, Tracker, Vote
from checkin.recognition.workers import FrameJob, MatchService, classify, evidence, tracker_config
from checkin.settings import Settings
from models import CheckinMethod, Meeting, MeetingState, utcnow
from models.db import session_scope

logger = logging.getLogger(__name__)
router = APIRouter()

JPEG_MAGIC = b"\xff\xd8\xff"
LAST_SEEN_EVERY_S = 30.0


@dataclass(frozen=True)
class KioskIdentity:
    id: int
    name: str


@dataclass(frozen=True)
class Outcome:
    """What recording a confirmed face did: confirmed, already, not_open or not_on_roster."""

    state: FaceState
    attendance_id: int | None = None
    checked_in_at: datetime | None = None
    late: bool = False


def _aware(value: datetime) -> datetime:
    """Kiosk times without a zone are taken as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def record_face_checkin(
    sessions: sessionmaker[Session],
    *,
    meeting_id: int,
    person_id: int,
    at: datetime,
    kiosk: KioskIdentity,
    proof: dict[str, Any],
    delayed: bool,
) -> Outcome:
    """Write the attendance row, its evidence and the audit event in one transaction."""
    with session_scope(sessions) as session:
        meeting = session.get(Meeting, meeting_id)
        if meeting is None:
            return Outcome(FaceState.NOT_ON_ROSTER)
        try:
            rec = record_attendance(
                session,
                meeting=meeting,
                deputy_id=person_id,
                at=at,
                method=CheckinMethod.FACE,
                actor=audit.Actor(kiosk.name, kiosk_id=kiosk.id),
                evidence=proof,
                delayed=delayed,
            )
        except WindowClosed:
            return Outcome(FaceState.NOT_OPEN)
        except NotFound:
            return Outcome(FaceState.NOT_ON_ROSTER)
        row = rec.attendance
        state = FaceState.CONFIRMED if rec.created else FaceState.ALREADY
        return Outcome(state, row.id, row.checked_in_at, row.late)


class KioskPipeline:
    """One kiosk's frames: a newest-only live slot, a buffered queue, one worker task."""

    def __init__(
        self,
        *,
        service: MatchService,
        settings: Settings,
        sessions: sessionmaker[Session],
        events: EventBus,
        meeting_id: int,
        kiosk: KioskIdentity,
        send: Callable[[BaseModel], Awaitable[None]],
    ) -> None:
        self.service = service
        self.settings = settings
        self.sessions = sessions
        self.events = events
        self.meeting_id = meeting_id
        self.kiosk = kiosk
        self.send = send
        config = tracker_config(settings)
        self.live = Tracker(config)
        self.offline = Tracker(config)  # buffered frames are another timeline
        self._slot: tuple[FrameHeader, bytes] | None = None
        self._buffered: deque[tuple[FrameHeader, bytes]] = deque()
        self._space = asyncio.Condition()
        self._wake = asyncio.Event()
        self.dropped = 0  # since the last result
        self.dropped_total = 0
        self.processed = 0
        self.sent_checkins: set[int] = set()

    async def offer(self, header: FrameHeader, jpeg: bytes) -> None:
        """Queue a frame: live frames replace a waiting one; buffered ones wait for room."""
        if header.buffered:
            async with self._space:
                await self._space.wait_for(
                    lambda: len(self._buffered) < self.settings.max_buffered_frames
                )
                self._buffered.append((header, jpeg))
        else:
            if self._slot is not None:
                self.dropped += 1
                self.dropped_total += 1
            self._slot = (header, jpeg)
        self._wake.set()

    async def run(self) -> None:
        """Process frames until cancelled: buffered ones first (in order), then the newest live."""
        while True:
            await self._wake.wait()
            if self._buffered:
                header, jpeg = self._buffered.popleft()
                async with self._space:
                    self._space.notify_all()
                await self._safely(header, jpeg, self.offline)
            elif self._slot is not None:
                header, jpeg = self._slot
                self._slot = None
                await self._safely(header, jpeg, self.live)
            if not self._buffered and self._slot is None:
                self._wake.clear()

    async def _safely(self, header: FrameHeader, jpeg: bytes, tracker: Tracker) -> None:
        """Process one frame; a failure is logged and the kiosk keeps being served."""
        try:
            await self._process(header, jpeg, tracker)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("kiosk %s: frame %s failed", self.kiosk.name, header.frame_id)

    async def _process(self, header: FrameHeader, jpeg: bytes, tracker: Tracker) -> None:
        s = self.settings
        gallery = await self.service.gallery(self.meeting_id)
        job = FrameJob(
            jpeg=jpeg,
            max_pixels=s.max_frame_pixels,
            min_face_px=s.kiosk_min_face_px,
            jitters=s.live_jitters,
            skip_boxes=tuple(tracker.skip_boxes()),
            skip_iou=s.track_min_iou,
            regions=tuple(tracker.focus(s.full_detect_frames)),
        )
        analysis = await self.service.analyze(job)
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
        for face, track in zip(analysis.faces, tracks, strict=True):
            result = FaceResult(box=face.box, track_id=track.id, state=FaceState.UNKNOWN)
            if face.encoding is None:
                if track.settled is not None:
                    result = self._settled(result, track)
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
            if ready and pid is not None:
                outcome = await self._confirm(track, header, captured_at, tracker, d)
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
                result = self._settled(result, track)
            elif verdict.kind == "match" and pid is not None:
                result.state, result.person = FaceState.MATCHING, gallery.persons.get(pid)
                result.progress = round(track.agreeing / s.confirm_frames, 3)
            elif verdict.kind == "outsider" and verdict.person_id is not None:
                result.state = FaceState.NOT_ON_ROSTER
                result.person = gallery.persons.get(verdict.person_id)
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

    def _settled(self, result: FaceResult, track: Track) -> FaceResult:
        assert track.settled is not None
        result.state = FaceState(track.settled.state)
        result.progress = 1.0
        result.checked_in_at = track.settled.checked_in_at  # type: ignore[assignment]
        return result

    async def _confirm(
        self,
        track: Track,
        header: FrameHeader,
        captured_at: datetime,
        tracker: Tracker,
        decision: Any,
    ) -> Outcome:
        s = self.settings
        votes = [(v.frame_id, v.distance, v.margin) for v in track.votes]
        second = decision.candidates[1].person_id if len(decision.candidates) > 1 else None
        proof = evidence(
            votes,
            kiosk=self.kiosk.name,
            kiosk_id=self.kiosk.id,
            captured_at=captured_at.isoformat(),
            track_id=track.id,
            threshold=s.match_threshold,
            margin=s.match_margin,
            second=second,
        )
        # Live: the server's clock decides (a kiosk clock may be wrong); buffered: capture time.
        at = captured_at if header.buffered else utcnow()
        assert track.candidate is not None
        person_id = track.candidate
        outcome = await asyncio.to_thread(
            record_face_checkin,
            self.sessions,
            meeting_id=self.meeting_id,
            person_id=person_id,
            at=at,
            kiosk=self.kiosk,
            proof=proof,
            delayed=header.buffered,
        )
        if outcome.state is FaceState.CONFIRMED:
            self.events.publish(MeetingChanged(self.meeting_id, "checkin", person_id))
            logger.info(
                "checked in person %s at meeting %s from kiosk %s (attendance %s)",
                person_id, self.meeting_id, self.kiosk.name, outcome.attendance_id,
            )  # fmt: skip
        return outcome


# --- the endpoint ------------------------------------------------------------------------


def _authenticate(
    sessions: sessionmaker[Session], token: str, meeting_id: int
) -> tuple[KioskIdentity | None, MeetingInfo | None]:
    with session_scope(sessions) as session:
        kiosk = kiosk_for_token(session, token)
        if kiosk is None:
            return None, None
        kiosk.last_seen_at = utcnow()
        identity = KioskIdentity(kiosk.id, kiosk.name)
        meeting = session.get(Meeting, meeting_id)
        if meeting is None or meeting.state is MeetingState.CLOSED:
            return identity, None
        info = MeetingInfo(
            id=meeting.id,
            title=meeting.title,
            window_open=window_state(meeting, utcnow()) == "open",
            opens_at=meeting.window_opens_at,
            closes_at=meeting.window_closes_at,
        )
        return identity, info


def _touch(sessions: sessionmaker[Session], kiosk_id: int) -> None:
    from models import Kiosk

    with session_scope(sessions) as session:
        kiosk = session.get(Kiosk, kiosk_id)
        if kiosk is not None:
            kiosk.last_seen_at = utcnow()


class _Conn:
    """Serialises sends on one socket (the receive loop and the pipeline both send)."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self._lock = asyncio.Lock()

    async def send(self, message: BaseModel) -> None:
        async with self._lock:
            await self.ws.send_text(message.model_dump_json())

    async def error(self, code: ErrorCode, message: str, frame_id: int | None = None) -> None:
        await self.send(Error(code=code, message=message, frame_id=frame_id))


async def _await_hello(conn: _Conn, timeout: float) -> Hello | None:
    """Wait for a valid hello; other messages get an error. None: closed or timed out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        try:
            if remaining <= 0:
                raise TimeoutError
            message = await asyncio.wait_for(conn.ws.receive(), remaining)
        except TimeoutError:
            await conn.ws.close(
                CloseCode.HELLO_TIMEOUT, f"no hello within {timeout:g} s (未及时发送 hello)"
            )
            return None
        if message["type"] == "websocket.disconnect":
            return None
        if message.get("bytes") is not None:
            await conn.error(ErrorCode.NO_HELLO, "请先发送 hello (send hello before frames)")
            continue
        try:
            parsed = kiosk_message.validate_json(message.get("text") or "")
        except ValidationError:
            await conn.error(ErrorCode.BAD_MESSAGE, _bad_message_text())
            continue
        if isinstance(parsed, Hello):
            return parsed
        await conn.error(ErrorCode.NO_HELLO, "请先发送 hello (send hello first)")


def _bad_message_text() -> str:
    return "无法识别的消息 (expected JSON hello, ack or ping)"


@router.websocket("/ws/kiosk")
async def kiosk_socket(ws: WebSocket) -> None:
    """A kiosk's connection: see checkin/protocol.py and the README for the protocol."""
    state = ws.app.state
    settings: Settings = state.settings
    sessions: sessionmaker[Session] = state.sessions
    await ws.accept()
    conn = _Conn(ws)
    hello = await _await_hello(conn, settings.hello_timeout_s)
    if hello is None:
        return
    kiosk, meeting = await asyncio.to_thread(_authenticate, sessions, hello.token, hello.meeting_id)
    if kiosk is None:
        await ws.close(CloseCode.BAD_TOKEN, "bad or revoked kiosk token")
        return
    if meeting is None:
        await ws.close(CloseCode.UNKNOWN_MEETING, f"unknown or closed meeting {hello.meeting_id}")
        return
    await conn.send(Welcome(kiosk=kiosk.name, meeting=meeting, server_time=utcnow()))
    pipeline = KioskPipeline(
        service=state.matcher,
        settings=settings,
        sessions=sessions,
        events=state.events,
        meeting_id=meeting.id,
        kiosk=kiosk,
        send=conn.send,
    )
    worker = asyncio.create_task(pipeline.run())
    loop = asyncio.get_running_loop()
    last_seen = loop.time()
    try:
        while not worker.done():
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("bytes")
            if data is not None:
                await _on_frame(conn, pipeline, settings, data)
            else:
                await _on_text(conn, pipeline, message.get("text") or "")
            if loop.time() - last_seen > LAST_SEEN_EVERY_S:
                last_seen = loop.time()
                await asyncio.to_thread(_touch, sessions, kiosk.id)
    except WebSocketDisconnect:
        pass
    finally:
        worker.cancel()
        try:
            await worker
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("kiosk %s pipeline failed", kiosk.name)
        logger.info(
            "kiosk %s left meeting %s: %s frames processed, %s dropped",
            kiosk.name, meeting.id, pipeline.processed, pipeline.dropped_total,
        )  # fmt: skip


async def _on_frame(conn: _Conn, pipeline: KioskPipeline, settings: Settings, data: bytes) -> None:
    if len(data) > settings.max_frame_bytes:
        await conn.error(
            ErrorCode.FRAME_TOO_LARGE,
            f"画面超过 {settings.max_frame_bytes:,} 字节上限 (frame over the byte limit)",
        )
        return
    try:
        header, jpeg = decode_frame(data)
    except FrameFormatError as exc:
        await conn.error(ErrorCode.BAD_FRAME, f"帧格式错误 (bad frame): {exc}")
        return
    if not jpeg.startswith(JPEG_MAGIC):
        await conn.error(
            ErrorCode.BAD_FRAME, "画面不是 JPEG 图像 (frame is not a JPEG)", header.frame_id
        )
        return
    await pipeline.offer(header, jpeg)


async def _on_text(conn: _Conn, pipeline: KioskPipeline, text: str) -> None:
    try:
        parsed = kiosk_message.validate_json(text)
    except ValidationError:
        await conn.error(ErrorCode.BAD_MESSAGE, _bad_message_text())
        return
    if isinstance(parsed, Ping):
        await conn.send(Pong())
    elif isinstance(parsed, Ack):
        if parsed.checkin_id in pipeline.sent_checkins:
            pipeline.sent_checkins.discard(parsed.checkin_id)
        else:
            await conn.error(
                ErrorCode.UNKNOWN_CHECKIN, f"未发送过编号 {parsed.checkin_id} 的签到 (unknown id)"
            )
    else:
        await conn.error(ErrorCode.BAD_MESSAGE, "已经握手，不能再次发送 hello (hello already sent)")
