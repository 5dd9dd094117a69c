"""The kiosk WebSocket `/ws/kiosk`: hello, frames in, results and check-ins out.

See checkin/protocol.py for the messages. This module owns the socket only: it checks the
hello, decodes frames and text, and hands frames to the kiosk's `KioskPipeline`
(checkin.recognition.pipeline), which sends the results. Routes never run inference.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from checkin.accounts.service import kiosk_for_token
from checkin.meetings.attendance import window_state
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
LAST_SEEN_EVERY_S = 30.0


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
    origin = ws.headers.get("origin")  # kiosk programs send none; a browser always does
    if origin and not origin_allowed(origin, ws.headers.get("host", ""), settings.allowed_origins):
        await ws.close(CloseCode.FORBIDDEN, "来源不被允许 (origin not allowed)")
        return
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
    matcher: MatchService = state.matcher
    meeting_id = meeting.id
    pipeline = KioskPipeline(
        settings=settings,
        meeting_id=meeting_id,
        kiosk=kiosk,
        analyze=matcher.analyze,
        gallery=lambda: matcher.gallery(meeting_id),
        record=database_recorder(sessions, state.events),
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
