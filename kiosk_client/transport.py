"""The connection to the server: a `Transport` protocol, its WebSocket implementation, backoff."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from checkin.protocol import (
    Ack,
    CloseCode,
    FrameHeader,
    Hello,
    Ping,
    ServerMessage,
    Welcome,
    encode_frame,
    server_message,
)
from kiosk_client.errors import BadServerUrl, ServerRefused

logger = logging.getLogger(__name__)

KIOSK_PATH = "/ws/kiosk"


class ConnectionLost(Exception):
    """The server could not be reached or the connection dropped: retry later."""


class Transport(Protocol):
    """How the kiosk talks to the server; tests may substitute their own."""

    async def connect(self) -> Welcome: ...

    async def send_frame(self, header: FrameHeader, jpeg: bytes) -> None: ...

    async def send_ack(self, checkin_id: int) -> None: ...

    async def recv(self) -> ServerMessage: ...

    async def close(self) -> None: ...


class Backoff:
    """Exponential backoff with full jitter: delay n is uniform in [base, min(cap, base·2ⁿ)].

    Jitter keeps many kiosks of one township from reconnecting in lockstep when the
    network comes back.
    """

    def __init__(
        self, base: float = 0.5, cap: float = 30.0, *, rng: random.Random | None = None
    ) -> None:
        if not 0 < base <= cap:
            raise ValueError("need 0 < base <= cap")
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The delay before the next attempt."""
        high = min(self.cap, self.base * 2.0**self.attempt)
        self.attempt += 1
        return self._rng.uniform(self.base, high)

    def reset(self) -> None:
        """Called after a successful connection."""
        self.attempt = 0


def kiosk_url(server: str) -> str:
    """The WebSocket URL for --server: http(s)→ws(s); a bare host gets the /ws/kiosk path."""
    parts = urlsplit(server.strip())
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise BadServerUrl(
            f"服务器地址无效：{server}（应为 http://主机:端口 或 ws://主机:端口/ws/kiosk）"
        )
    path = parts.path if parts.path not in ("", "/") else KIOSK_PATH
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


_REFUSALS = {
    CloseCode.BAD_TOKEN: ("bad_token", "服务器拒绝了本报到机：令牌（token）无效或已被吊销"),
    CloseCode.UNKNOWN_MEETING: (
        "unknown_meeting",
        "服务器上没有这个会议（会议编号错误或会议已结束）",
    ),
    CloseCode.FORBIDDEN: (
        "not_bound",
        "本报到机不属于该会议的会议机构，请管理员用 baodao kiosk bind 绑定",
    ),
    # Another kiosk PC uses the same token: only the newest connection is served.
    CloseCode.REPLACED: ("replaced", "同一令牌已在另一台报到机上连接，本机停止运行"),
}


def _refusal(exc: ConnectionClosed) -> ServerRefused | None:
    code = exc.rcvd.code if exc.rcvd is not None else None
    if code in _REFUSALS:
        name, text = _REFUSALS[CloseCode(code)]
        reason = exc.rcvd.reason if exc.rcvd is not None else ""
        return ServerRefused(f"{text}" + (f"（{reason}）" if reason else ""), code=name)
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed):
        frame = exc.rcvd
        return f"连接已断开（{frame.code} {frame.reason}）" if frame else "连接已断开"
    if isinstance(exc, InvalidStatus):
        return f"服务器返回 HTTP {exc.response.status_code}"
    if isinstance(exc, ConnectionRefusedError):
        return "服务器无法连接（拒绝连接）"
    if isinstance(exc, TimeoutError):
        return "连接超时"
    return f"网络错误：{exc.__class__.__name__} {exc}"


def server_urls(servers: str | Sequence[str]) -> list[str]:
    """The kiosk URLs of one or several servers (repeated, or comma-separated)."""
    items = [servers] if isinstance(servers, str) else list(servers)
    urls = [kiosk_url(part) for item in items for part in item.split(",") if part.strip()]
    if not urls:
        raise BadServerUrl("没有服务器地址（--server）")
    return list(dict.fromkeys(urls))


class WebSocketTransport:
    """The kiosk protocol over one WebSocket connection at a time, to one of several servers.

    With several servers (`baodao serve` processes sharing one database), `connect` tries
    them in turn, beginning after the one that was lost, each with a short opening timeout:
    a server killed mid-stream refuses at once and the next one answers within a second.
    Attendance is idempotent in the database, so a frame the lost server already counted
    only repeats "already checked in" on the next.
    """

    def __init__(
        self,
        server: str | Sequence[str],
        *,
        token: str,
        meeting_id: int,
        client: str = "baodao-kiosk",
        open_timeout: float = 10.0,
        ping_interval: float = 5.0,
        failover_timeout: float = 3.0,
    ) -> None:
        self.urls = server_urls(server)
        self._at = 0
        self._hello = Hello(token=token, meeting_id=meeting_id, client=client[:100])
        self._open_timeout = open_timeout if len(self.urls) == 1 else failover_timeout
        self._ping_interval = ping_interval
        self._ws: ClientConnection | None = None
        self._lost = False

    @property
    def url(self) -> str:
        """The server in use (or tried next)."""
        return self.urls[self._at]

    async def connect(self) -> Welcome:
        """Open, say hello, wait for welcome; ServerRefused for a 4401/4403/4404/4409 close.

        With several servers: the first that answers; ConnectionLost when none does."""
        if self._lost:  # the last one dropped us: begin with the next
            self._at = (self._at + 1) % len(self.urls)
            self._lost = False
        last: ConnectionLost | None = None
        for _ in range(len(self.urls)):
            try:
                return await self._connect_one()
            except ConnectionLost as exc:
                last = exc
                if len(self.urls) > 1:
                    logger.info("服务器 %s 无法连接（%s），尝试下一个", self.url, exc)
                self._at = (self._at + 1) % len(self.urls)
        assert last is not None
        raise last

    async def _connect_one(self) -> Welcome:
        await self.close()
        try:
            ws = await connect(
                self.url,
                open_timeout=self._open_timeout,
                ping_interval=self._ping_interval,
                ping_timeout=self._ping_interval * 2,
                max_size=2**22,
            )
        except InvalidURI as exc:
            raise BadServerUrl(f"服务器地址无效：{self.url}") from exc
        except InvalidStatus as exc:
            if exc.response.status_code in (401, 403, 404):
                raise BadServerUrl(
                    f"服务器地址不是报到服务：{self.url} 返回 HTTP {exc.response.status_code}"
                ) from exc
            raise ConnectionLost(_describe(exc)) from exc
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise ConnectionLost(_describe(exc)) from exc
        self._ws = ws
        try:
            await ws.send(self._hello.model_dump_json())
            while True:
                msg = await asyncio.wait_for(self._recv_raw(ws), self._open_timeout)
                if isinstance(msg, Welcome):
                    return msg
                logger.warning("握手时收到意外消息 %s", msg.type)
        except ConnectionClosed as exc:
            self._ws = None
            raise _ended(exc) from exc
        except (OSError, TimeoutError) as exc:
            await self.close()
            raise ConnectionLost(_describe(exc)) from exc

    async def _recv_raw(self, ws: ClientConnection) -> ServerMessage:
        while True:
            data = await ws.recv()
            if isinstance(data, bytes):
                logger.warning("忽略服务器发来的二进制消息")
                continue
            try:
                return server_message.validate_json(data)
            except ValidationError:
                logger.warning("忽略无法识别的服务器消息：%.200s", data)

    def _live(self) -> ClientConnection:
        if self._ws is None:
            raise ConnectionLost("未连接")
        return self._ws

    async def send_frame(self, header: FrameHeader, jpeg: bytes) -> None:
        """Send one binary frame message."""
        await self._send(encode_frame(header, jpeg))

    async def send_ack(self, checkin_id: int) -> None:
        """Acknowledge a check-in event."""
        await self._send(Ack(checkin_id=checkin_id).model_dump_json())

    async def send_ping(self) -> None:
        """Application-level ping (the WebSocket layer pings on its own too)."""
        await self._send(Ping().model_dump_json())

    async def _send(self, data: str | bytes) -> None:
        ws = self._live()
        try:
            await ws.send(data)
        except ConnectionClosed as exc:
            self._ws = None
            self._lost = True
            raise _ended(exc) from exc

    async def recv(self) -> ServerMessage:
        """The next server message; ConnectionLost or ServerRefused when the connection ends."""
        ws = self._live()
        try:
            return await self._recv_raw(ws)
        except ConnectionClosed as exc:
            self._ws = None
            self._lost = True
            raise _ended(exc) from exc

    async def close(self) -> None:
        """Close the connection if open."""
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                await ws.close()
            except Exception:  # closing a dead socket may fail in many ways; nothing to do
                logger.debug("close failed", exc_info=True)


def _ended(exc: ConnectionClosed) -> ServerRefused | ConnectionLost:
    """What a closed connection means to the kiosk: refused for good (4401/4403/4404/4409), or
    lost."""
    return _refusal(exc) or ConnectionLost(_describe(exc))
