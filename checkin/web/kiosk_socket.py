"""The kiosk WebSocket `/ws/kiosk`: hello, frames in, results and check-ins out.

See checkin/protocol.py for the messages. This module owns the socket only: it checks the
hello, decodes frames and text, and hands frames to the kiosk's `KioskPipeline`
(checkin.recognition.pipeline), which sends the results. Routes never run inference.
One connection per kiosk token: a newer one closes the older with 4409. The kiosk's standing
(`meetings.kiosks.standing`) is checked at hello and again before every frame.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from checkin.accounts.service import hash_kiosk_token, kiosk_for_token
from checkin.meetings.attendance import window_state
from checkin.meetings.kiosks import (
    KioskRefused,
    Outage,
    Refusal,
    Refused,
    begin_connection,
    end_connection,
    judge,
    standing,
    touch,
)
from checkin.protocol import (
    Ack,
    CloseCode,
    Error,
    ErrorCode,
    FrameFormatError,
    Hello,
    MeetingInfo,
    Ping,
    Pong,
    Welcome,
    decode_frame,
    kiosk_message,
)
from checkin.recognition.pipeline import KioskIdentity, KioskPipeline, database_recorder
from checkin.recognition.workers import MatchService
from checkin.settings import Settings
from checkin.web.gate import origin_allowed
from models import Meeting, MeetingState, utcnow
from models.db import session_scope

logger = logging.getLogger(__name__)
router = APIRouter()

JPEG_MAGIC = b"\xff\xd8\xff"
LAST_SEEN_EVERY_S = 10.0
CLOSE_CODES = {
    Refusal.BAD_TOKEN: CloseCode.BAD_TOKEN,
    Refusal.NOT_BOUND: CloseCode.FORBIDDEN,
    Refusal.REPLACED: CloseCode.REPLACED,
    Refusal.UNKNOWN_MEETING: CloseCode.UNKNOWN_MEETING,
}


def _admit(
    sessions: sessionmaker[Session], hello: Hello, since: datetime | None
) -> tuple[KioskIdentity, MeetingInfo, Outage, str] | Refused:
    """Check the hello; on success start the kiosk's connection (its outage ends now)."""
    with session_scope(sessions) as session:
        kiosk = kiosk_for_token(session, hello.token)
        meeting = session.get(Meeting, hello.meeting_id)
        refused = judge(kiosk, meeting)
        if refused is not None:
            return refused
        assert kiosk is not None and meeting is not None
        now = utcnow()
        outage = begin_connection(kiosk, at=now, since=since)
        assert kiosk.connection is not None
        info = MeetingInfo(
            id=meeting.id,
            title=meeting.title,
            window_open=meeting.state is MeetingState.OPEN and window_state(meeting, now) == "open",
            opens_at=meeting.window_opens_at,
            closes_at=meeting.window_closes_at,
        )
        return KioskIdentity(kiosk.id, kiosk.name), info, outage, kiosk.connection


def _standing(
    sessions: sessionmaker[Session], kiosk_id: int, meeting_id: int, connection: str
) -> Refused | None:
    with sessions() as session:
        return standing(session, kiosk_id=kiosk_id, meeting_id=meeting_id, connection=connection)


def _touch(sessions: sessionmaker[Session], kiosk_id: int, at: datetime) -> None:
    with session_scope(sessions) as session:
        touch(session, kiosk_id=kiosk_id, at=at)


def _ended(sessions: sessionmaker[Session], kiosk_id: int, at: datetime) -> None:
    try:
        with session_scope(sessions) as session:
            end_connection(session, kiosk_id=kiosk_id, last_message_at=at)
    except Exception:
        logger.exception("could not record the end of kiosk %s's connection", kiosk_id)


def _reason(text: str) -> str:
    """A close reason within the protocol's 123 bytes (UTF-8), cut at a character."""
    return text.encode()[:123].decode(errors="ignore")


class _Conn:
    """One kiosk socket: serialised sends (the reader and the pipeline both send), the time
    of the last message received, and one close."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self._lock = asyncio.Lock()
        self.closed = False
        self.last_received = utcnow()

    async def send(self, message: BaseModel) -> None:
        async with self._lock:
            if not self.closed:
                await self.ws.send_text(message.model_dump_json())

    async def error(self, code: ErrorCode, message: str, frame_id: int | None = None) -> None:
        await self.send(Error(code=code, message=message, frame_id=frame_id))

    async def close(self, code: int, reason: str) -> None:
        async with self._lock:
            if self.closed:
                return
            self.closed = True
            try:
                await self.ws.close(code, _reason(reason))
            except Exception:  # the kiosk may be gone already; nothing left to tell it
                logger.debug("closing a kiosk socket failed", exc_info=True)


class _Registry:
    """This process's kiosk sockets by token hash (one per token), and the end-of-connection
    writes still running."""

    def __init__(self) -> None:
        self.open: dict[str, _Conn] = {}
        self.ending: dict[str, asyncio.Task[None]] = {}


def _registry(state: Any) -> _Registry:
    found: _Registry | None = getattr(state, "kiosk_registry", None)
    if found is None:
        found = state.kiosk_registry = _Registry()
    return found


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
    origin = ws.headers.get("origin")  # kiosk programs send none; a browser always does
    if origin and not origin_allowed(origin, ws.headers.get("host", ""), settings.allowed_origins):
        await ws.close(CloseCode.FORBIDDEN, "来源不被允许 (origin not allowed)")
        return
    conn = _Conn(ws)
    hello = await _await_hello(conn, settings.hello_timeout_s)
    if hello is None:
        return
    registry = _registry(state)
    conns, ending = registry.open, registry.ending
    key = hash_kiosk_token(hello.token)
    previous_end = ending.pop(key, None)
    if previous_end is not None:
        await asyncio.wait({previous_end})  # it logs its own errors
    previous = conns.get(key)
    since = previous.last_received if previous is not None else None
    admitted = await asyncio.to_thread(_admit, sessions, hello, since)
    if isinstance(admitted, Refused):
        await conn.close(CLOSE_CODES[admitted.kind], admitted.message)
        return
    kiosk, meeting, outage, connection = admitted
    previous = conns.get(key)  # again: another hello with this token may have come meanwhile
    conns[key] = conn
    if previous is not None:
        await previous.close(CloseCode.REPLACED, "replaced by a newer connection of this kiosk")
    await conn.send(
        Welcome(kiosk=kiosk.name, meeting=meeting, server_time=utcnow(), timezone=settings.timezone)
    )
    matcher: MatchService = state.matcher
    meeting_id = meeting.id

    async def check() -> Refused | None:
        return await asyncio.to_thread(_standing, sessions, kiosk.id, meeting_id, connection)

    pipeline = KioskPipeline(
        settings=settings,
        meeting_id=meeting_id,
        kiosk=kiosk,
        analyze=matcher.analyze,
        gallery=lambda: matcher.gallery(meeting_id),
        record=database_recorder(sessions, state.events),
        send=conn.send,
        check=check,
        outage=outage,
        connection=connection,
    )

    async def work() -> None:
        try:
            await pipeline.run()
        except KioskRefused as exc:  # revoked, rebound, replaced or closed: end the socket
            logger.info("kiosk %s refused mid-connection: %s", kiosk.name, exc.refused.message)
            await conn.close(CLOSE_CODES[exc.refused.kind], exc.refused.message)

    worker = asyncio.create_task(work())
    loop = asyncio.get_running_loop()
    last_touch = loop.time()
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            conn.last_received = utcnow()
            data = message.get("bytes")
            if data is not None:
                await _on_frame(conn, pipeline, settings, data)
            else:
                await _on_text(conn, pipeline, message.get("text") or "")
            if loop.time() - last_touch > LAST_SEEN_EVERY_S:
                last_touch = loop.time()
                await asyncio.to_thread(_touch, sessions, kiosk.id, conn.last_received)
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
        if conns.get(key) is conn:
            del conns[key]
        # Not awaited here (this handler may be cancelled): the kiosk's next hello in this
        # process waits for it, so its outage starts at this connection's last message.
        ending[key] = asyncio.create_task(
            asyncio.to_thread(_ended, sessions, kiosk.id, conn.last_received)
        )
        logger.info(
            "kiosk %s left meeting %s: %s frames processed, %s dropped",
            kiosk.name, meeting_id, pipeline.processed, pipeline.dropped_total,
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
