"""Live status hub: per-meeting WebSocket subscribers, a snapshot on connect, then changes.

Messages are `{"topic", "seq", ...}` JSON objects:
- `snapshot` on connect (and on a client's `{"type": "resync"}`), with the current `seq`;
- `status` after every committed change: `seq` increases by exactly one per meeting, so a
  client that sees a gap asks for a resync; `committed_at` is the server's wall-clock time
  (epoch seconds) at which the change was published, right after its commit;
- `heartbeat` every `live_heartbeat_seconds`, carrying the current `seq`.

Before each heartbeat the accounts behind the sockets are read again: a socket whose session
was revoked since (logout, deactivation, password change) is closed with 4401.

Changes arrive from the in-process EventBus (routes and the face matcher publish after
commit). With `redis_url` set they go through Redis pub/sub instead, so every `baodao serve`
process (and the CLI) reaches every dashboard. Meetings with watchers are also re-read every
`live_poll_seconds`, so a change made elsewhere without Redis still shows up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from checkin.accounts.scope import Scope, scope_of
from checkin.accounts.service import user_for_token
from checkin.errors import NotFound
from checkin.meetings.events import Event, MeetingChanged, meeting_event
from checkin.meetings.service import get_meeting
from checkin.meetings.status import MeetingStatus, to_json
from checkin.meetings.status import status as read_status
from checkin.settings import Settings
from checkin.web.deps import SESSION_COOKIE, bearer
from checkin.web.gate import origin_allowed
from models import Role, User

logger = logging.getLogger(__name__)
REDIS_CHANNEL = "baodao:meeting-changed"
CLOSE_LOGIN_REQUIRED = 4401
CLOSE_FOREIGN_ORIGIN = 4403
CLOSE_UNKNOWN_MEETING = 4404
CHANGE_FIELDS = ("expected", "present", "on_leave", "absent", "late", "left_early")


def encode_change(event: MeetingChanged, committed_at: float) -> str:
    """The Redis wire form of a change."""
    return json.dumps(
        {
            "meeting_id": event.meeting_id,
            "kind": event.kind,
            "deputy_id": event.deputy_id,
            "committed_at": committed_at,
        }
    )


def publish_to_redis(redis_url: str, event: MeetingChanged) -> None:
    """Publish a committed change from a process without a hub (the CLI)."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    try:
        client.publish(REDIS_CHANNEL, encode_change(event, time.time()))
    finally:
        client.close()


class _Meeting:
    """Subscribers and sequence of one meeting."""

    def __init__(self) -> None:
        self.sockets: set[WebSocket] = set()
        self.seq = 0
        self.last: MeetingStatus | None = None
        self.lock = asyncio.Lock()


class LiveHub:
    """Fans meeting status out to dashboards; dead sockets never break a broadcast."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        *,
        status: Callable[[Session, int], MeetingStatus] | None = None,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._status_fn = status or (lambda s, mid: read_status(s, mid, zone=settings.timezone))
        self._meetings: dict[int, _Meeting] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._redis: Any = None
        self._accounts: dict[WebSocket, tuple[int, int]] = {}  # socket → (user id, token version)

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._tasks.append(asyncio.create_task(self._heartbeat()))
        if self._settings.live_poll_seconds > 0:
            self._tasks.append(asyncio.create_task(self._poll()))
        if self._settings.redis_url:
            import redis.asyncio as aioredis

            self._redis = aioredis.Redis.from_url(self._settings.redis_url)
            self._tasks.append(asyncio.create_task(self._redis_listen()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    # --- incoming changes -------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """EventBus subscriber; called right after a commit, from any thread."""
        if not isinstance(event, MeetingChanged) or self._loop is None:
            return
        committed_at = time.time()
        self._loop.call_soon_threadsafe(self._dispatch, event, committed_at)

    def _dispatch(self, event: MeetingChanged, committed_at: float) -> None:
        if self._redis is not None:
            asyncio.create_task(self._publish_redis(event, committed_at))
        else:
            self._schedule(event, committed_at)

    async def _publish_redis(self, event: MeetingChanged, committed_at: float) -> None:
        try:
            await self._redis.publish(REDIS_CHANNEL, encode_change(event, committed_at))
        except Exception:
            logger.exception("Redis publish failed; pushing to this process's dashboards only")
            self._schedule(event, committed_at)

    async def _redis_listen(self) -> None:
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(REDIS_CHANNEL)
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    data = json.loads(message["data"])
                    event = meeting_event(
                        str(data["kind"]), int(data["meeting_id"]), data.get("deputy_id")
                    )
                    self._schedule(event, float(data["committed_at"]))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Redis subscription lost; retrying in 1 s")
                await asyncio.sleep(1)

    def _schedule(self, event: MeetingChanged, committed_at: float | None) -> None:
        if event.meeting_id in self._meetings:
            asyncio.create_task(self._push(event.meeting_id, event.kind, committed_at))

    # --- pushing ----------------------------------------------------------------------

    def _read_status(self, meeting_id: int) -> MeetingStatus:
        with self._sessions() as session:
            return self._status_fn(session, meeting_id)

    async def _push(
        self,
        meeting_id: int,
        kind: str,
        committed_at: float | None,
        *,
        only_if_changed: bool = False,
    ) -> None:
        m = self._meetings.get(meeting_id)
        if m is None:
            return
        async with m.lock:  # one push at a time per meeting keeps seq in order
            try:
                snap = await asyncio.to_thread(self._read_status, meeting_id)
            except NotFound:
                return
            except Exception:
                logger.exception("status of meeting %s could not be read", meeting_id)
                return
            if only_if_changed and snap == m.last:
                return
            m.seq += 1
            m.last = snap
            message = {
                "topic": "status",
                "seq": m.seq,
                "kind": kind,
                "committed_at": committed_at,
                "payload": to_json(snap),
            }
            await self._broadcast(m, json.dumps(message, ensure_ascii=False))

    async def _broadcast(self, m: _Meeting, text: str) -> None:
        sockets = list(m.sockets)
        if not sockets:
            return
        timeout = self._settings.live_send_timeout_seconds
        results = await asyncio.gather(
            *(asyncio.wait_for(ws.send_text(text), timeout) for ws in sockets),
            return_exceptions=True,
        )
        for ws, result in zip(sockets, results, strict=True):
            if isinstance(result, BaseException):
                m.sockets.discard(ws)
                with contextlib.suppress(Exception):
                    await ws.close(code=1011)

    def _revoked(self, accounts: dict[WebSocket, tuple[int, int]]) -> list[WebSocket]:
        """The sockets whose account was deactivated or whose token was revoked."""
        ids = {uid for uid, _ in accounts.values()}
        with self._sessions() as session:
            rows = session.execute(
                select(User.id, User.token_version).where(User.id.in_(ids), User.active)
            ).all()
        valid = {(uid, version) for uid, version in rows}
        return [ws for ws, account in accounts.items() if account not in valid]

    async def _close_revoked(self) -> None:
        accounts = dict(self._accounts)
        if not accounts:
            return
        try:
            revoked = await asyncio.to_thread(self._revoked, accounts)
        except Exception:
            logger.exception("live sockets' sessions could not be checked")
            return
        for ws in revoked:
            self._accounts.pop(ws, None)
            for m in self._meetings.values():
                m.sockets.discard(ws)
            with contextlib.suppress(Exception):
                await ws.close(code=CLOSE_LOGIN_REQUIRED, reason="登录已失效 (session revoked)")

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._settings.live_heartbeat_seconds)
            await self._close_revoked()
            for m in list(self._meetings.values()):
                text = json.dumps({"topic": "heartbeat", "seq": m.seq, "at": time.time()})
                await self._broadcast(m, text)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._settings.live_poll_seconds)
            for meeting_id, m in list(self._meetings.items()):
                if m.sockets:
                    await self._push(meeting_id, "refresh", None, only_if_changed=True)

    # --- subscribers ------------------------------------------------------------------

    def watchers(self, meeting_id: int) -> int:
        m = self._meetings.get(meeting_id)
        return len(m.sockets) if m else 0

    async def _snapshot(self, ws: WebSocket, meeting_id: int) -> None:
        m = self._meetings[meeting_id]
        async with m.lock:
            snap = await asyncio.to_thread(self._read_status, meeting_id)
            m.last = snap
            text = json.dumps(
                {"topic": "snapshot", "seq": m.seq, "payload": to_json(snap)}, ensure_ascii=False
            )
            await ws.send_text(text)

    async def serve(
        self, ws: WebSocket, meeting_id: int, account: tuple[int, int] | None = None
    ) -> None:
        """Run one accepted dashboard connection until it goes away.

        `account` (user id, token version) is re-checked before every heartbeat.
        """
        m = self._meetings.setdefault(meeting_id, _Meeting())
        if account is not None:
            self._accounts[ws] = account
        try:
            await self._snapshot(ws, meeting_id)
            m.sockets.add(ws)
            while True:
                text = await ws.receive_text()
                try:
                    wanted = json.loads(text).get("type")
                except (ValueError, AttributeError):
                    wanted = None
                if wanted == "resync":
                    await self._snapshot(ws, meeting_id)
                elif wanted == "ping":
                    await ws.send_text(json.dumps({"topic": "pong", "seq": m.seq}))
        except WebSocketDisconnect:
            pass
        except RuntimeError:  # the socket closed under us (e.g. dropped by a broadcast)
            logger.debug("live socket of meeting %s closed", meeting_id)
        finally:
            m.sockets.discard(ws)
            self._accounts.pop(ws, None)


# --- the socket --------------------------------------------------------------------------

router = APIRouter(tags=["live"])


def _ws_account(ws: WebSocket) -> tuple[int, int, Scope] | None:
    """(user id, token version, scope) of a staff session on the socket (bearer, ?token=,
    cookie)."""
    token = bearer(ws.headers) or ws.query_params.get("token") or ws.cookies.get(SESSION_COOKIE)
    with ws.app.state.sessions() as session:
        user = user_for_token(session, ws.app.state.signer, token)
        if (
            user is None
            or user.role not in (Role.ADMIN, Role.SECRETARIAT)
            or user.must_change_password
        ):
            return None
        return user.id, user.token_version, scope_of(session, user)


@router.websocket("/ws/meetings/{meeting_id}/live")
async def live(ws: WebSocket, meeting_id: int) -> None:
    """Snapshot on connect, then one message per committed change, and heartbeats."""
    await ws.accept()
    origin = ws.headers.get("origin")
    settings: Settings = ws.app.state.settings
    if origin and not origin_allowed(origin, ws.headers.get("host", ""), settings.allowed_origins):
        await ws.close(code=CLOSE_FOREIGN_ORIGIN, reason="来源不被允许 (origin not allowed)")
        return
    account = await asyncio.to_thread(_ws_account, ws)
    if account is None:
        await ws.close(code=CLOSE_LOGIN_REQUIRED, reason="login required")
        return
    if not -(2**63) <= meeting_id < 2**63:
        await ws.close(code=CLOSE_UNKNOWN_MEETING, reason=f"no meeting {meeting_id}")
        return
    user_id, version, scope = account
    with ws.app.state.sessions() as session:
        try:  # a meeting outside the account's scope is answered as unknown: no snapshot
            get_meeting(session, meeting_id, scope=scope)
        except NotFound:
            await ws.close(code=CLOSE_UNKNOWN_MEETING, reason=f"no meeting {meeting_id}")
            return
    await ws.app.state.live.serve(ws, meeting_id, (user_id, version))
