"""The kiosk main loop: capture → local face check → send (or buffer on disk) → show results.

Headless event lines (``--headless``): one JSON object per line on stdout, UTF-8, with
``"event"`` and ``"at"`` (the kiosk's local time, ISO 8601 with offset) in every line::

  started        source, server, meeting_id, queued
  connected      kiosk, meeting_id, meeting, window_open, queued, server
  disconnected   reason, queued                         (once per outage, not per retry)
  buffered       frame_id, captured_at, queued          (a face frame stored while offline)
  dropped        frame_ids, queued                      (offline queue full: oldest dropped)
  uploaded       frame_id, captured_at, queued          (server answered a buffered frame)
  checkin        checkin_id, person{id,number,name,role}, checked_in_at, late, delayed, frame_id
  already        person, checked_in_at, frame_id, track_id, buffered
  not_on_roster  person, frame_id, track_id, buffered
  not_open       person, frame_id, track_id, buffered
  unknown        frame_id, track_id, buffered
  rejected       reason, frame_id, track_id, buffered
  error          code, message, frame_id                (server error message; stays connected)
  fatal          code, message                          (then exit code 2)
  end            reason                                 (finite source done, queue drained)

Face events are emitted once per track and state (not once per frame).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Generic, TextIO, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from checkin.protocol import CheckIn, Error, ErrorCode, FaceResult, FaceState, FrameHeader, Result
from kiosk_client import messages as msgs
from kiosk_client.presence import FaceDetector, Presence, check, downscale, encode_jpeg
from kiosk_client.queue import DiskQueue
from kiosk_client.screen import Display, FaceMark, ScreenRenderer, ScreenView, save_png
from kiosk_client.sources import FrameSource
from kiosk_client.transport import Backoff, ConnectionLost, Transport

logger = logging.getLogger(__name__)

Event = dict[str, Any]
EventSink = Callable[[Event], None]
T = TypeVar("T")


@dataclass(frozen=True)
class KioskConfig:
    """Tunables of the main loop (the CLI fills them from options)."""

    fps: float = 5.0  # frames captured and checked per second
    width: int = 640  # frames are downscaled to this width before checking and sending
    jpeg_quality: int = 80
    idle_interval: float = 2.0  # without a local face, still send one frame this often
    buffer_rate: float = 2.0  # offline: best face frames stored per second
    min_face_px: int = 40  # local check ignores smaller faces
    live_timeout: float = 5.0  # a live frame without result after this is forgotten
    upload_window: int = 4  # buffered frames in flight at once
    upload_timeout: float = 30.0  # a buffered frame without result after this is re-sent
    linger: float = 2.0  # after a finite source is done, wait this long for late events
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    screen_interval: float = 0.5  # --screen-out file refresh period


@dataclass
class Captured:
    """A frame ready to send: downscaled picture, JPEG, local check."""

    frame_id: int
    captured_at: datetime
    image: np.ndarray
    jpeg: bytes
    presence: Presence


class BestFrameSelector(Generic[T]):
    """Keeps the best-scoring item per time window: a few good frames per second, not all."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._best: tuple[float, T] | None = None
        self._started = 0.0

    def __bool__(self) -> bool:
        return self._best is not None

    def offer(self, item: T, score: float, now: float) -> T | None:
        """Consider an item; returns the best of the previous window when that window closed."""
        out = self.flush(now)
        if self._best is None:
            self._started = now
            self._best = (score, item)
        elif score > self._best[0]:
            self._best = (score, item)
        return out

    def flush(self, now: float | None = None) -> T | None:
        """The best item if its window is over (or always, when now is None)."""
        if self._best is None or (now is not None and now - self._started < self.window_s):
            return None
        item = self._best[1]
        self._best = None
        return item


class FrameIds:
    """Frame ids: milliseconds since the epoch, strictly increasing, unique across restarts."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._last = 0

    def next(self) -> int:
        self._last = max(self._last + 1, int(self._clock() * 1000))
        return self._last


def json_line_sink(stream: TextIO | None = None) -> EventSink:
    """An event sink printing one JSON line per event (stdout by default)."""

    def sink(event: Event) -> None:
        out = stream or sys.stdout
        out.write(json.dumps(event, ensure_ascii=False, default=str) + "\n")
        out.flush()

    return sink


def log_sink(event: Event) -> None:
    """An event sink for screen mode: events go to the log."""
    logger.info("%s", json.dumps(event, ensure_ascii=False, default=str))


_FACE_TONE = {
    FaceState.CONFIRMED: msgs.Tone.OK,
    FaceState.ALREADY: msgs.Tone.INFO,
    FaceState.MATCHING: msgs.Tone.INFO,
    FaceState.UNKNOWN: msgs.Tone.STOP,
    FaceState.NOT_ON_ROSTER: msgs.Tone.STOP,
    FaceState.NOT_OPEN: msgs.Tone.STOP,
    FaceState.REJECTED: msgs.Tone.WARN,
    FaceState.LIVENESS: msgs.Tone.INFO,
}
_PRIORITY = {msgs.Tone.OK: 3, msgs.Tone.STOP: 2, msgs.Tone.INFO: 1, msgs.Tone.WARN: 0}


def _person(p: Any) -> dict[str, Any] | None:
    return p.model_dump() if p is not None else None


def _zone(name: str | None) -> tzinfo | None:
    """The meeting's time zone from the welcome (None: the kiosk's own local zone)."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown time zone %r from the server: the kiosk's own is used", name)
        return None


def face_event(face: FaceResult, *, frame_id: int, buffered: bool) -> Event | None:
    """The headless event for one face of a result (None for matching/confirmed)."""
    base: Event = {"frame_id": frame_id, "track_id": face.track_id, "buffered": buffered}
    if face.state == FaceState.ALREADY:
        return {
            "event": "already",
            "person": _person(face.person),
            "checked_in_at": face.checked_in_at,
            **base,
        }
    if face.state in (FaceState.NOT_ON_ROSTER, FaceState.NOT_OPEN):
        return {"event": face.state.value, "person": _person(face.person), **base}
    if face.state == FaceState.UNKNOWN:
        return {"event": "unknown", **base}
    if face.state == FaceState.REJECTED:
        return {"event": "rejected", "reason": face.reason, **base}
    if face.state == FaceState.LIVENESS:
        return {"event": "liveness", "action": face.action, **base}
    return None


class KioskApp:
    """Capture, check, send or buffer, and show; `start()` runs until `stop()` or the end."""

    def __init__(
        self,
        *,
        source: FrameSource,
        transport: Transport,
        queue: DiskQueue,
        detector: FaceDetector,
        config: KioskConfig = KioskConfig(),
        sink: EventSink = log_sink,
        renderer: ScreenRenderer | None = None,
        display: Display | None = None,
        screen_out: Path | None = None,
        meeting_id: int = 0,
        describe: str = "",
    ) -> None:
        self.source = source
        self.transport = transport
        self.queue = queue
        self.detector = detector
        self.config = config
        self._sink = sink
        self._renderer = renderer
        self._display = display
        self._screen_out = screen_out
        self._meeting_id = meeting_id
        self._describe = describe
        self._ids = FrameIds()
        self._selector: BestFrameSelector[Captured] = BestFrameSelector(1.0 / config.buffer_rate)
        self._online = False
        self._ever_disconnected = False
        self._meeting_title = ""
        self._latest: Captured | None = None
        self._live_inflight: tuple[int, float] | None = None
        self._live_cap: Captured | None = None  # the live frame awaiting its answer
        self._q_inflight: dict[int, float] = {}
        self._last_live_sent = -1e9
        self._source_done = False
        self._seen_checkins: set[int] = set()
        self._track_state: dict[int, tuple[Any, ...]] = {}
        self._unknown_since: dict[int, float] = {}  # track id → first `unknown` (monotonic)
        self._tz: tzinfo | None = None  # the meeting's zone, from the welcome
        self._message: msgs.Message | None = None
        self._message_until = 0.0
        self._marks: tuple[FaceMark, ...] = ()
        self._marks_at = -1e9
        self._last_screen_save = -1e9
        self._stop_event: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---- events -------------------------------------------------------------------------
    def emit(self, event: str, **fields: Any) -> None:
        """Send one event to the sink, stamped with the local time."""
        self._sink({"event": event, "at": datetime.now().astimezone().isoformat(), **fields})

    # ---- lifecycle ----------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to finish (safe from another thread or a signal handler)."""
        if self._loop is not None and self._stop_event is not None:
            self._loop.call_soon_threadsafe(self._stop_event.set)

    async def start(self) -> int:
        """Run until stopped or a finite source is done and uploaded; returns the exit code.

        Raises KioskError (ServerRefused, SourceError, …) for conditions that must not be retried.
        """
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._wake = asyncio.Event()
        self.emit(
            "started",
            source=self._describe or self.source.name,
            meeting_id=self._meeting_id,
            queued=len(self.queue),
        )
        tasks: set[asyncio.Task[Any]] = {
            asyncio.create_task(self._capture_loop(), name="capture"),
            asyncio.create_task(self._connection_loop(), name="connection"),
        }
        stopper: asyncio.Task[Any] = asyncio.create_task(self._stop_event.wait(), name="stop")
        try:
            pending: set[asyncio.Task[Any]] = set(tasks)
            while pending:
                done, pending = await asyncio.wait(
                    pending | {stopper}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done - {stopper}:
                    task.result()  # re-raise a fatal error
                if stopper in done:
                    break
                pending -= {stopper}
        finally:
            for task in (*tasks, stopper):
                task.cancel()
            await asyncio.gather(*tasks, stopper, return_exceptions=True)
            await self.transport.close()
            self.source.close()
            if self._display is not None:
                self._display.close()
        return 0

    # ---- capture ------------------------------------------------------------------------
    def _capture_once(self) -> Captured | None:
        frame = self.source.read()
        if frame is None:
            return None
        small = downscale(frame.image, self.config.width)
        presence = check(small, self.detector, min_face_px=self.config.min_face_px)
        return Captured(
            self._ids.next(),
            frame.captured_at,
            small,
            encode_jpeg(small, self.config.jpeg_quality),
            presence,
        )

    async def _capture_loop(self) -> None:
        period = 1.0 / self.config.fps
        next_at = time.monotonic()
        while True:
            cap = await asyncio.to_thread(self._capture_once)
            if cap is None:
                break
            await self._on_captured(cap)
            await self._refresh_screen(cap)
            if self.source.stepped:  # frame by frame: the next once this one is answered
                while self._online and (self._latest is cap or self._live_inflight is not None):
                    await asyncio.sleep(0.01)
            next_at += period
            delay = next_at - time.monotonic()
            if delay < 0:
                next_at = time.monotonic()  # fell behind: do not try to catch up
            await asyncio.sleep(max(0.0, delay))
        best = self._selector.flush()
        if best is not None:
            await self._buffer(best)
        self._source_done = True
        self._poke()

    async def _on_captured(self, cap: Captured) -> None:
        now = time.monotonic()
        if self._online:
            if cap.presence.has_face or now - self._last_live_sent >= self.config.idle_interval:
                self._latest = cap  # newest only: an unsent older frame is simply replaced
                self._poke()
            return
        best = (
            self._selector.offer(cap, cap.presence.score, now)
            if cap.presence.has_face
            else self._selector.flush(now)
        )
        if best is not None:
            await self._buffer(best)

    async def _buffer(self, cap: Captured) -> None:
        header = FrameHeader(frame_id=cap.frame_id, captured_at=cap.captured_at, buffered=True)
        dropped = await asyncio.to_thread(self.queue.put, header, cap.jpeg)
        queued = len(self.queue)
        self.emit(
            "buffered",
            frame_id=cap.frame_id,
            captured_at=cap.captured_at.isoformat(),
            queued=queued,
        )
        if dropped:
            self.emit("dropped", frame_ids=dropped, queued=queued)

    # ---- connection ---------------------------------------------------------------------
    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _all_done(self) -> bool:
        return (
            self._source_done
            and not self._selector
            and self._latest is None
            and self._live_inflight is None
            and not self._q_inflight
            and len(self.queue) == 0
        )

    async def _sleep_or_stop(self, seconds: float) -> None:
        assert self._stop_event is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), seconds)

    async def _offline(self, reason: str) -> None:
        """Went offline: the live frame on its way and the next one are kept in the queue
        (when they show a face), so a server dying mid-frame loses nobody: they upload to
        whichever server answers next."""
        rescue = [c for c in (self._live_cap, self._latest) if c is not None]
        self._went_offline(reason)
        for cap in rescue:
            if cap.presence.has_face:
                await self._buffer(cap)

    def _went_offline(self, reason: str) -> None:
        was_online = self._online
        self._online = False
        self._latest = None
        self._live_cap = None
        self._live_inflight = None
        self._q_inflight.clear()
        if was_online or not self._ever_disconnected:
            self._ever_disconnected = True
            self.emit("disconnected", reason=reason, queued=len(self.queue))

    async def _connection_loop(self) -> None:
        backoff = Backoff(self.config.backoff_base, self.config.backoff_cap)
        while True:
            if self._all_done() and not self._online:
                self.emit("end", reason="source_ended")
                self.stop()
                return
            try:
                welcome = await self.transport.connect()
            except ConnectionLost as exc:
                await self._offline(str(exc))
                delay = backoff.next()
                logger.info("服务器连接失败（%s），%.1f 秒后重试", exc, delay)
                await self._sleep_or_stop(delay)
                continue
            backoff.reset()
            self._online = True
            self._meeting_title = welcome.meeting.title
            self._tz = _zone(welcome.timezone)
            best = self._selector.flush()  # frames captured offline stay offline frames
            if best is not None:
                await self._buffer(best)
            self.emit(
                "connected",
                kiosk=welcome.kiosk,
                meeting_id=welcome.meeting.id,
                meeting=welcome.meeting.title,
                window_open=welcome.meeting.window_open,
                queued=len(self.queue),
                server=getattr(self.transport, "url", ""),
            )
            try:
                finished = await self._session()
            except ConnectionLost as exc:
                await self._offline(str(exc))
                await self._sleep_or_stop(backoff.next())
                continue
            finally:
                if not self._online:
                    await self.transport.close()
            if finished:
                self.emit("end", reason="source_ended")
                self.stop()
                return

    async def _session(self) -> bool:
        """Send and receive until the connection drops (raises) or all is done (True)."""
        receiver = asyncio.create_task(self._receiver())
        sender = asyncio.create_task(self._sender())
        try:
            done, _ = await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            # The sender returned: everything is answered. Linger for late check-in events.
            with contextlib.suppress(TimeoutError, ConnectionLost):
                await asyncio.wait_for(asyncio.shield(receiver), self.config.linger)
            return True
        finally:
            for task in (receiver, sender):
                task.cancel()
            await asyncio.gather(receiver, sender, return_exceptions=True)

    async def _sender(self) -> None:
        assert self._wake is not None
        cfg = self.config
        while True:
            self._wake.clear()
            now = time.monotonic()
            if self._live_inflight and now - self._live_inflight[1] > cfg.live_timeout:
                self._live_inflight = None
                self._live_cap = None
            for fid, sent in list(self._q_inflight.items()):
                if now - sent > cfg.upload_timeout:
                    del self._q_inflight[fid]  # no answer: send it again
            ids = self.queue.ids()
            waiting = [i for i in ids if i not in self._q_inflight]
            if waiting and len(self._q_inflight) < cfg.upload_window:
                item = await asyncio.to_thread(self.queue.load, waiting[0])
                if item is not None:
                    header, jpeg = item
                    self._q_inflight[header.frame_id] = now
                    await self.transport.send_frame(header, jpeg)
                continue
            if not ids and self._latest is not None and self._live_inflight is None:
                cap, self._latest = self._latest, None
                header = FrameHeader(frame_id=cap.frame_id, captured_at=cap.captured_at)
                self._live_inflight = (cap.frame_id, now)
                self._live_cap = cap
                self._last_live_sent = now
                await self.transport.send_frame(header, cap.jpeg)
                continue
            if self._all_done():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.25)

    async def _receiver(self) -> None:
        while True:
            msg = await self.transport.recv()
            if isinstance(msg, Result):
                await self._on_result(msg)
            elif isinstance(msg, CheckIn):
                await self._on_checkin(msg)
            elif isinstance(msg, Error):
                await self._on_error(msg)
            self._poke()

    async def _settle(self, frame_id: int) -> bool:
        """Forget a frame the server answered; True if it was a buffered one."""
        if self._live_inflight and self._live_inflight[0] == frame_id:
            self._live_inflight = None
            self._live_cap = None
            return False
        was_queued = self._q_inflight.pop(frame_id, None) is not None
        if was_queued or frame_id in self.queue.ids():
            # Removed here, without yielding to the sender: otherwise it could see the file
            # still queued but no longer in flight, and upload it a second time.
            self.queue.remove(frame_id)
            return True
        return False

    async def _on_result(self, result: Result) -> None:
        buffered = await self._settle(result.frame_id)
        if buffered:
            self.emit(
                "uploaded",
                frame_id=result.frame_id,
                captured_at=result.captured_at.isoformat(),
                queued=len(self.queue),
            )
        for face in result.faces:
            key = (face.state, face.person.id if face.person else None, face.reason)
            if self._track_state.get(face.track_id) != key:
                self._track_state[face.track_id] = key
                event = face_event(face, frame_id=result.frame_id, buffered=buffered)
                if event is not None:
                    self._sink({**event, "at": datetime.now().astimezone().isoformat()})
        if len(self._track_state) > 500:
            self._track_state.clear()
        if not buffered:  # the screen speaks to whoever stands there now, not to the past
            now = time.monotonic()
            for f in result.faces:
                if f.state == FaceState.UNKNOWN:
                    self._unknown_since.setdefault(f.track_id, now)
                else:
                    self._unknown_since.pop(f.track_id, None)
            if len(self._unknown_since) > 500:
                self._unknown_since.clear()
            failed = frozenset(
                t for t, since in self._unknown_since.items() if now - since >= msgs.UNKNOWN_FAIL_S
            )
            self._marks = tuple(
                FaceMark(f.box, _FACE_TONE[f.state], f.person.name if f.person else "")
                for f in result.faces
            )
            self._marks_at = time.monotonic()
            self._say(msgs.pick_message(result.faces, failed=failed, tz=self._tz))

    async def _on_checkin(self, event: CheckIn) -> None:
        await self.transport.send_ack(event.checkin_id)
        if event.checkin_id in self._seen_checkins:
            return  # re-sent after a reconnect: already shown
        self._seen_checkins.add(event.checkin_id)
        self.emit(
            "checkin",
            checkin_id=event.checkin_id,
            person=event.person.model_dump(),
            checked_in_at=event.checked_in_at.isoformat(),
            late=event.late,
            delayed=event.delayed,
            frame_id=event.frame_id,
        )
        if not event.delayed:
            self._say(
                msgs.checkin_message(event.person, event.checked_in_at, tz=self._tz), force=True
            )

    async def _on_error(self, err: Error) -> None:
        self.emit("error", code=err.code.value, message=err.message, frame_id=err.frame_id)
        if err.frame_id is None:
            return
        if err.code in (ErrorCode.BAD_FRAME, ErrorCode.FRAME_TOO_LARGE):
            await self._settle(err.frame_id)  # re-sending it would fail the same way
        elif self._live_inflight and self._live_inflight[0] == err.frame_id:
            self._live_inflight = None

    # ---- screen -------------------------------------------------------------------------
    def _say(self, message: msgs.Message | None, *, force: bool = False) -> None:
        if message is None:
            return
        now = time.monotonic()
        current = self._message if now < self._message_until else None
        if (
            force
            or message.decisive
            or current is None
            or (not current.decisive and _PRIORITY[message.tone] >= _PRIORITY[current.tone])
        ):
            self._message = message
            self._message_until = now + message.hold_s

    def view(self, cap: Captured | None) -> ScreenView:
        """What the screen shows now."""
        now = time.monotonic()
        message = self._message if now < self._message_until else None
        queued = len(self.queue) if self._renderer is not None else 0
        if message is None:
            message = msgs.UPLOADING if self._online and queued else msgs.IDLE
        if now - self._marks_at < 1.0:
            marks = self._marks
        elif cap is not None:
            marks = tuple(FaceMark(b, msgs.Tone.INFO) for b in cap.presence.boxes)
        else:
            marks = ()
        return ScreenView(
            meeting=self._meeting_title,
            online=self._online,
            queued=queued,
            marks=marks,
            message=message,
            clock=datetime.now(self._tz).strftime("%H:%M"),
        )

    async def _refresh_screen(self, cap: Captured) -> None:
        if self._renderer is None or (self._display is None and self._screen_out is None):
            return
        view = self.view(cap)
        size = self._display.size() if self._display is not None else None
        if size is not None:  # drawn for the window as it is (1280×800, 1920×1080, …)
            self._renderer.size = size
        rgb = await asyncio.to_thread(self._renderer.render, cap.image, view)
        if self._display is not None and not self._display.show(rgb):
            self.stop()  # the window was closed
        now = time.monotonic()
        if (
            self._screen_out is not None
            and now - self._last_screen_save >= self.config.screen_interval
        ):
            self._last_screen_save = now
            await asyncio.to_thread(save_png, rgb, self._screen_out)
