"""Live status hub: per-meeting WebSocket subscribers, a snapshot on connect, then deltas.

Messages are `{"topic", "seq", ...}` JSON objects:
- `snapshot` on connect (and on a client's `{"type": "resync"}`), with the current `seq`;
  `payload` is the whole status (`meetings.status.to_json`);
- `delta` after every committed change to one person or to the meeting's window: `payload`
  is `{mark, counts, meeting, latest_arrivals, deputy_id, line}` (`meetings.delta`): the
  counts and facts replace the status's, `line` (the person's roster line, null when off the
  roster) moves the person in or out of `not_arrived` / `departed`;
- `status` (whole status, like a snapshot) when a delta cannot say it: a bulk roster change,
  or a re-read that found the screens' status out of date;
- `heartbeat` every `live_heartbeat_seconds`, carrying the current `seq`.
`delta` and `status` carry `kind` and `committed_at` (the server's wall-clock time, epoch
seconds, right after the commit). `seq` increases by exactly one per message per meeting and
process, so a client that sees a gap asks for a resync.

A change is read once, by the process that committed it (`change_delta`, in a thread, with
its own short transaction), and sent through Redis (`redis_url`) to every `baodao serve`
process, or straight to this process's hub without Redis. Each hub keeps the meeting's status
(the snapshot it read once, with the deltas applied), so a screen's snapshot costs no database
read, and every socket has its own outbox: a broadcast only queues text, no lock is held
across I/O, and a socket that falls behind is closed (it reconnects and gets a snapshot).
Deltas from several processes may arrive out of order: their `mark` (the audit events the
read saw) keeps an older delta from overwriting newer counts. Meetings with watchers are
re-read every `live_poll_seconds`: a change made elsewhere without Redis, a delta lost with a
killed process, or the window opening by the clock then shows up as a `status`.

Before each heartbeat the accounts behind the sockets are read again: a socket whose session
was revoked since (logout, deactivation, password change) is closed with 4401.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from checkin.accounts.scope import Scope, scope_of
from checkin.accounts.service import user_for_token
from checkin.errors import NotFound
from checkin.meetings.delta import (
    COUNT_KEYS,
    apply_delta,
    audit_mark,
    change_delta,
    consistent_reads,
)
from checkin.meetings.events import Event, MeetingChanged, meeting_event
from checkin.meetings.service import get_meeting
from checkin.meetings.status import MeetingStatus, meeting_facts, to_json
from checkin.meetings.status import status as read_status
from checkin.settings import Settings
from checkin.web.deps import SESSION_COOKIE, bearer
from checkin.web.gate import origin_allowed
from models import Role, User

logger = logging.getLogger(__name__)


def redis_channel(prefix: str) -> str:
    """The Redis pub/sub channel of changes (pub/sub ignores database numbers: the prefix
    keeps services that share a Redis apart)."""
    return f"{prefix}:meeting-changed"


CLOSE_LOGIN_REQUIRED = 4401
CLOSE_FOREIGN_ORIGIN = 4403
CLOSE_UNKNOWN_MEETING = 4404
CLOSE_TOO_SLOW = 4408
OUTBOX = 256  # messages queued for one socket before it counts as too slow
Json = dict[str, Any]


def needs_full_read(event: MeetingChanged) -> bool:
    """A change no delta can describe: a bulk roster change or a plain refresh."""
    return event.deputy_id is None and event.kind in ("roster", "refresh")


def encode_change(event: MeetingChanged, committed_at: float, delta: Json | None = None) -> str:
    """The Redis wire form of a change (without `delta`, receivers read the status)."""
    return json.dumps(
        {
            "meeting_id": event.meeting_id,
            "kind": event.kind,
            "deputy_id": event.deputy_id,
            "committed_at": committed_at,
            "delta": delta,
        },
        ensure_ascii=False,
    )


def publish_to_redis(settings: Settings, event: MeetingChanged, delta: Json | None = None) -> None:
    """Publish a committed change from a process without a hub (the CLI)."""
    import redis

    client = redis.Redis.from_url(str(settings.redis_url), socket_timeout=2)
    try:
        channel = redis_channel(settings.redis_prefix)
        client.publish(channel, encode_change(event, time.time(), delta))
    finally:
        client.close()


class _Outbox:
    """One socket's messages in order; sending never blocks the hub."""

    def __init__(self, ws: WebSocket, timeout: float, dead: Callable[[WebSocket], None]) -> None:
        self.ws = ws
        self._queue: asyncio.Queue[str] = asyncio.Queue(OUTBOX)
        self._timeout = timeout
        self._dead = dead
        self.task = asyncio.create_task(self._run())

    def put(self, text: str) -> bool:
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            return False
        return True

    async def _run(self) -> None:
        while True:
            text = await self._queue.get()
            try:
                await asyncio.wait_for(self.ws.send_text(text), self._timeout)
            except asyncio.CancelledError:
                raise
            except Exception:  # gone, or too slow: it reconnects and gets a snapshot
                self._dead(self.ws)
                with contextlib.suppress(Exception):
                    await self.ws.close(code=1011)
                return


class _Meeting:
    """Subscribers, sequence and the status the screens of one meeting show."""

    def __init__(self) -> None:
        self.sockets: dict[WebSocket, _Outbox] = {}
        self.seq = 0
        self.model: Json | None = None  # the status with every delta applied
        self.mark = -1  # audit mark of the counts in `model`
        self.base_mark = -1  # mark of the last whole read
        self.line_marks: dict[int, int] = {}
        self.loading: asyncio.Future[None] | None = None
        self.pending: list[tuple[str, float | None, Json]] = []
        self.snapshot: tuple[int, str] | None = None  # (seq, text) cache
        self.strikes = 0


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
        self._zone = ZoneInfo(settings.timezone)
        self._meetings: dict[int, _Meeting] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._changes: set[asyncio.Task[None]] = set()
        self._redis: Any = None
        self._accounts: dict[WebSocket, tuple[int, int]] = {}  # socket → (user id, token version)
        self.published = 0  # changes this process read and sent on (for the bench and tests)

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
        tasks = [*self._tasks, *self._changes]
        for m in self._meetings.values():
            tasks.extend(box.task for box in m.sockets.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
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
        committed_at = event.committed_at or time.time()
        self._loop.call_soon_threadsafe(self._start_change, event, committed_at)

    def _start_change(self, event: MeetingChanged, committed_at: float) -> None:
        task = asyncio.create_task(self._change(event, committed_at))
        self._changes.add(task)
        task.add_done_callback(self._changes.discard)

    def _read_delta(self, event: MeetingChanged) -> Json:
        with self._sessions() as session:
            return change_delta(
                session, event.meeting_id, event.deputy_id, zone=self._settings.timezone
            )

    async def _change(self, event: MeetingChanged, committed_at: float) -> None:
        """Read the change once, then send it to every process (Redis) or to this one."""
        delta: Json | None = event.delta
        if delta is None and not needs_full_read(event):
            try:
                delta = await asyncio.to_thread(self._read_delta, event)
            except NotFound:
                return
            except Exception:
                logger.exception("change to meeting %s could not be read", event.meeting_id)
        self.published += 1
        if self._redis is not None:
            try:
                channel = redis_channel(self._settings.redis_prefix)
                await self._redis.publish(channel, encode_change(event, committed_at, delta))
                return
            except Exception:
                logger.exception("Redis publish failed; pushing to this process's dashboards only")
        self._arrive(event.meeting_id, event.kind, committed_at, delta)

    async def _redis_listen(self) -> None:
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(redis_channel(self._settings.redis_prefix))
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    data = json.loads(message["data"])
                    event = meeting_event(
                        str(data["kind"]), int(data["meeting_id"]), data.get("deputy_id")
                    )
                    delta = data.get("delta")
                    self._arrive(event.meeting_id, event.kind, float(data["committed_at"]), delta)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Redis subscription lost; retrying in 1 s")
                await asyncio.sleep(1)

    def _arrive(
        self, meeting_id: int, kind: str, committed_at: float | None, delta: Json | None
    ) -> None:
        m = self._meetings.get(meeting_id)
        if m is None:
            return
        if delta is None:  # say it with a whole status, read here
            task = asyncio.create_task(self._reload(meeting_id, kind, committed_at))
            self._changes.add(task)
            task.add_done_callback(self._changes.discard)
        elif m.model is None:
            if m.loading is not None:
                m.pending.append((kind, committed_at, delta))
        else:
            self._apply(m, kind, committed_at, delta)

    def _apply(self, m: _Meeting, kind: str, committed_at: float | None, delta: Json) -> None:
        """Apply a delta to the meeting's status and queue it for every socket (no await)."""
        assert m.model is not None
        mark = int(delta["mark"])
        did = delta.get("deputy_id")
        counts_ok = mark >= m.mark
        line_ok = did is not None and mark >= max(m.base_mark, m.line_marks.get(did, -1))
        if not counts_ok and not line_ok:
            return
        m.model = apply_delta(m.model, delta, counts=counts_ok, line=line_ok)
        if counts_ok:
            m.mark = mark
        if line_ok and did is not None:
            m.line_marks[did] = mark
        model = m.model
        payload = {
            "mark": m.mark,
            "counts": {k: model[k] for k in COUNT_KEYS},
            "meeting": model["meeting"],
            "latest_arrivals": model["latest_arrivals"],
            "deputy_id": did if line_ok else None,
            "line": delta.get("line") if line_ok else None,
        }
        self._send(m, "delta", kind, committed_at, payload)

    def _send(
        self, m: _Meeting, topic: str, kind: str, committed_at: float | None, payload: Json
    ) -> None:
        m.seq += 1
        message = {
            "topic": topic,
            "seq": m.seq,
            "kind": kind,
            "committed_at": committed_at,
            "payload": payload,
        }
        self._broadcast(m, json.dumps(message, ensure_ascii=False))

    # --- whole reads --------------------------------------------------------------------

    def _read_whole(self, meeting_id: int) -> tuple[int, Json]:
        with self._sessions() as session:
            consistent_reads(session)
            mark = audit_mark(session, meeting_id)
            return mark, to_json(self._status_fn(session, meeting_id))

    def _replace(self, m: _Meeting, mark: int, model: Json) -> None:
        m.model = model
        m.mark = m.base_mark = mark
        m.line_marks.clear()
        m.strikes = 0

    async def _load(self, meeting_id: int) -> None:
        """Make sure the hub holds the meeting's status (one read however many connect)."""
        m = self._meetings[meeting_id]
        while m.model is None:
            if m.loading is None:
                m.loading = asyncio.get_running_loop().create_future()
                try:
                    mark, model = await asyncio.to_thread(self._read_whole, meeting_id)
                except BaseException as exc:
                    m.loading.set_exception(exc)
                    m.loading.exception()  # retrieved: every waiter re-raises its own copy
                    m.loading = None
                    m.pending.clear()
                    raise
                self._replace(m, mark, model)
                pending, m.pending = m.pending, []
                done, m.loading = m.loading, None
                for kind, committed_at, delta in pending:
                    self._apply(m, kind, committed_at, delta)
                done.set_result(None)
            else:
                await asyncio.shield(m.loading)

    async def _reload(self, meeting_id: int, kind: str, committed_at: float | None) -> None:
        """Read the whole status again and send it as a `status` message."""
        m = self._meetings.get(meeting_id)
        if m is None or m.model is None:
            return
        try:
            mark, model = await asyncio.to_thread(self._read_whole, meeting_id)
        except NotFound:
            return
        except Exception:
            logger.exception("status of meeting %s could not be read", meeting_id)
            return
        if m.model is None:
            return
        self._replace(m, mark, model)
        self._send(m, "status", kind, committed_at, model)

    def _read_quick(self, meeting_id: int) -> tuple[int, Json]:
        """The audit mark and the meeting's facts: two small reads, whatever the roster."""
        with self._sessions() as session:
            consistent_reads(session)
            mark = audit_mark(session, meeting_id)
            facts = meeting_facts(
                get_meeting(session, meeting_id, scope=Scope.everything()), self._zone
            )  # scope was checked when the screen connected
            return mark, dict(vars(facts))

    async def _poll_one(self, meeting_id: int, m: _Meeting) -> None:
        """Re-read the meeting when something the deltas did not say may have changed: a
        change no delta reached this process with (the mark moved on and stays ahead), or the
        window opening or closing by the clock. The check itself is two small reads, so it
        never holds the event loop's interpreter long (a whole read of 1,300 rows would)."""
        try:
            mark, facts = await asyncio.to_thread(self._read_quick, meeting_id)
        except Exception:
            logger.exception("meeting %s could not be checked", meeting_id)
            return
        if m.model is None or mark < m.mark:
            return
        same_facts = facts == m.model["meeting"]
        if mark == m.mark and same_facts:
            m.strikes = 0
            return
        if same_facts and m.strikes == 0:  # deltas may be on their way: look again next time
            m.strikes = 1
            return
        try:
            mark, fresh = await asyncio.to_thread(self._read_whole, meeting_id)
        except Exception:
            logger.exception("status of meeting %s could not be read", meeting_id)
            return
        if m.model is None or mark < m.mark:
            return
        if fresh == m.model:
            m.mark = mark
            m.strikes = 0
            return
        self._replace(m, mark, fresh)
        self._send(m, "status", "refresh", None, fresh)

    # --- pushing ----------------------------------------------------------------------

    def _broadcast(self, m: _Meeting, text: str) -> None:
        for ws, box in list(m.sockets.items()):
            if not box.put(text):
                self._drop(ws)
                box.task.cancel()
                asyncio.create_task(self._close(ws, CLOSE_TOO_SLOW, "too slow"))

    @staticmethod
    async def _close(ws: WebSocket, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await ws.close(code=code, reason=reason)

    def _drop(self, ws: WebSocket) -> None:
        for mid, m in self._meetings.items():
            if m.sockets.pop(ws, None) is not None and not m.sockets:
                self._forget(mid)

    def _forget(self, meeting_id: int) -> None:
        """Nobody here watches the meeting any more: its status may go stale, drop it."""
        m = self._meetings.get(meeting_id)
        if m is not None and not m.sockets and m.loading is None:
            m.model = None
            m.snapshot = None

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
            self._drop(ws)
            with contextlib.suppress(Exception):
                await ws.close(code=CLOSE_LOGIN_REQUIRED, reason="登录已失效 (session revoked)")

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._settings.live_heartbeat_seconds)
            await self._close_revoked()
            for m in list(self._meetings.values()):
                text = json.dumps({"topic": "heartbeat", "seq": m.seq, "at": time.time()})
                self._broadcast(m, text)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._settings.live_poll_seconds)
            for meeting_id, m in list(self._meetings.items()):
                if m.sockets and m.model is not None:
                    await self._poll_one(meeting_id, m)

    # --- subscribers ------------------------------------------------------------------

    def watchers(self, meeting_id: int) -> int:
        m = self._meetings.get(meeting_id)
        return len(m.sockets) if m else 0

    def _snapshot_text(self, m: _Meeting) -> str:
        if m.snapshot is None or m.snapshot[0] != m.seq:
            text = json.dumps(
                {"topic": "snapshot", "seq": m.seq, "payload": m.model}, ensure_ascii=False
            )
            m.snapshot = (m.seq, text)
        return m.snapshot[1]

    async def serve(
        self, ws: WebSocket, meeting_id: int, account: tuple[int, int] | None = None
    ) -> None:
        """Run one accepted dashboard connection until it goes away.

        `account` (user id, token version) is re-checked before every heartbeat.
        """
        m = self._meetings.setdefault(meeting_id, _Meeting())
        if account is not None:
            self._accounts[ws] = account
        box: _Outbox | None = None
        try:
            await self._load(meeting_id)
            # No await from here to the registration: the snapshot and the deltas after it
            # go through the one outbox, in order.
            box = _Outbox(ws, self._settings.live_send_timeout_seconds, self._drop)
            box.put(self._snapshot_text(m))
            m.sockets[ws] = box
            while True:
                text = await ws.receive_text()
                try:
                    wanted = json.loads(text).get("type")
                except (ValueError, AttributeError):
                    wanted = None
                if ws not in m.sockets:
                    break
                if wanted == "resync" and m.model is not None:
                    box.put(self._snapshot_text(m))
                elif wanted == "ping":
                    box.put(json.dumps({"topic": "pong", "seq": m.seq}))
        except WebSocketDisconnect:
            pass
        except NotFound:
            await self._close(ws, CLOSE_UNKNOWN_MEETING, f"no meeting {meeting_id}")
        except RuntimeError:  # the socket closed under us (e.g. dropped by a broadcast)
            logger.debug("live socket of meeting %s closed", meeting_id)
        except Exception:
            logger.exception("live socket of meeting %s failed", meeting_id)
            await self._close(ws, 1011, "status unavailable")
        finally:
            if box is not None:
                box.task.cancel()
            self._drop(ws)
            if not m.sockets:
                self._forget(meeting_id)
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
    """Snapshot on connect, then one delta (or status) per committed change, and heartbeats."""
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
    if not await asyncio.to_thread(_meeting_in_scope, ws.app.state.sessions, meeting_id, scope):
        # outside the account's scope it is answered as unknown: no snapshot
        await ws.close(code=CLOSE_UNKNOWN_MEETING, reason=f"no meeting {meeting_id}")
        return
    await ws.app.state.live.serve(ws, meeting_id, (user_id, version))


def _meeting_in_scope(sessions: sessionmaker[Session], meeting_id: int, scope: Scope) -> bool:
    with sessions() as session:
        try:
            get_meeting(session, meeting_id, scope=scope)
        except NotFound:
            return False
        return True
