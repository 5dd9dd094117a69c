"""County scale: a 1,300-deputy plenary on PostgreSQL with several serve processes and Redis.

    baodao bench county --json [--short] [--faces ../shared/faces]

Built at run time: every dev identity of `faces/dev` is enrolled from its first photo (the
real face model); the identities whose other photos the model recognises become the deputies
the kiosks show, the rest of the 1,300 get synthetic templates (random unit vectors: nobody's
face). One meeting for all. Then, for each topology (PostgreSQL × N processes + Redis, and
SQLite × 1 as the baseline):
- 8 kiosks stream frames at 5 frames/s: each shown deputy's recognised photos on a 640×480
  canvas for `dwell` frames, faces of successive deputies on alternate sides, blank frames
  between; a kiosk knows every server URL and fails over (kiosk_client's WebSocketTransport),
  keeping the frames it had not had answered and uploading them, marked buffered, after;
- 50 live screens (round-robin over the processes) follow the meeting and reconnect to the
  next process when theirs goes away; every `delta`/`status` message's receipt time minus its
  `committed_at` is the push latency (per change: the slowest screen);
- the secretariat registers and cancels leave on deputies the kiosks never show, at 4/s,
  then at 20/s, through REST (`?reply=delta`), round-robin over the processes;
- with 2+ processes, process 0 is killed (SIGKILL) in the middle of the kiosk stream.
Reported: check-in latency (first frame of a deputy → the check-in event) p50/p95/p99,
push p50/p95, frames dropped, errors (HTTP 5xx, requests without reply, commits without
reply: leave changes in the audit trail beyond the acknowledged ones), peak memory per
process (VmHWM of serve + its face workers), and the failover figures: kiosk reconnect
time, deputies lost (shown, not checked in), duplicates, orphan face workers. Then the
17-townships case: 17 meetings of 40–120 deputies at once, 1–2 kiosks and 2 screens each.
The machine's load average is reported beside the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np

SECRET = "county-bench-secret-0123456789"
PASSWORD = "county-bench-password-1"
FPS = 5.0
CANVAS = (480, 640)


# --- the population -------------------------------------------------------------------------


@dataclass
class Shown:
    """A dev identity the model recognises: its template and the frames a kiosk shows."""

    name: str
    encoding: np.ndarray
    photos: list[np.ndarray]


def recognisable(faces_dir: Path, model: str, limit: int = 0) -> list[Shown]:
    """Enrol every dev identity from its first photo; keep those whose other photos are
    recognised as themselves (under the threshold, against the whole dev gallery)."""
    from checkin.faces import engine as fe
    from checkin.faces.engine import FrameJob, analyze_frame
    from checkin.faces.model import info
    from checkin.recognition.decision import Gallery, decide
    from checkin.settings import Settings

    s = Settings(secret_key=SECRET, face_model=model, _env_file=None)
    folders = sorted(p for p in (faces_dir / "dev").iterdir() if p.is_dir())
    if limit:
        folders = folders[:limit]
    enrolled: list[tuple[str, np.ndarray, list[Path]]] = []
    for folder in folders:
        photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))
        if len(photos) < 2:
            continue
        try:
            face = fe.enroll_photo(
                fe.load_image(photos[0], max_pixels=s.max_image_pixels),
                model=model,
                min_face_px=s.min_face_px,
                jitters=s.enroll_jitters,
            )
        except Exception:  # no usable face in the first photo: not a deputy here
            continue
        if face.encoding is not None:
            enrolled.append((folder.name, face.encoding, photos[1:]))
    gallery = Gallery.build(
        [(i, enc) for i, (_, enc, _) in enumerate(enrolled)], metric=info(model).metric
    )
    shown: list[Shown] = []
    for i, (name, enc, photos) in enumerate(enrolled):
        good: list[np.ndarray] = []
        for photo in photos:
            image = cv2.imread(str(photo))
            if image is None:
                continue
            jpeg = cv2.imencode(".jpg", place(image, 0))[1].tobytes()
            job = FrameJob(jpeg, s.max_frame_pixels, s.kiosk_min_face_px, s.live_jitters, model)
            found = [f.encoding for f in analyze_frame(job).faces if f.encoding is not None]
            if found:
                d = decide(gallery, found[0], threshold=s.match_threshold, margin=s.match_margin)
                if d.person_id == i:
                    good.append(image)
        if len(good) >= 2:
            shown.append(Shown(name, enc, good))
    return shown


def place(image: np.ndarray, side: int) -> np.ndarray:
    """A photo on a grey 640×480 canvas, left (0) or right (1)."""
    canvas = np.full((*CANVAS, 3), 96, np.uint8)
    h, w = image.shape[:2]
    scale = min(1.0, 300 / max(h, w))
    small = cv2.resize(image, (int(w * scale), int(h * scale))) if scale < 1 else image
    h, w = small.shape[:2]
    x = 20 if side == 0 else CANVAS[1] - w - 20
    y = (CANVAS[0] - h) // 2
    canvas[y : y + h, x : x + w] = small
    return canvas


def stream(people: list[tuple[int, Shown]], dwell: int, gap: int = 3) -> list[tuple[int, bytes]]:
    """A kiosk's frames: (deputy index or -1, JPEG), each deputy for `dwell` frames."""
    blank = cv2.imencode(".jpg", np.full((*CANVAS, 3), 96, np.uint8))[1].tobytes()
    out: list[tuple[int, bytes]] = []
    for k, (idx, person) in enumerate(people):
        for f in range(dwell):
            photo = person.photos[f % len(person.photos)]
            out.append((idx, cv2.imencode(".jpg", place(photo, k % 2))[1].tobytes()))
        out.extend((-1, blank) for _ in range(gap))
    return out


@dataclass
class Seeded:
    meetings: list[int]
    tokens: list[tuple[int, str]]  # (meeting, kiosk token)
    shown_ids: dict[int, int]  # shown index → deputy id
    other_ids: dict[int, list[int]]  # meeting → deputy ids never shown (for manual changes)
    rosters: dict[int, int]


def seed(
    url: str,
    shown: list[Shown],
    model: str,
    *,
    deputies: int,
    meetings: list[tuple[int, int]],  # (roster size, kiosks)
    shown_per_meeting: list[list[int]],
    rng: random.Random,
) -> Seeded:
    """A fresh database: the clerk, the deputies (templates real or synthetic), the meetings
    (window open now) and their kiosks, one body per meeting."""
    from checkin.accounts.scope import Scope
    from checkin.accounts.service import create_user, register_kiosk
    from checkin.faces.model import info
    from models import Body, Deputy, FaceTemplate, Meeting, MeetingState, Role, RosterEntry
    from models.crypto import TemplateCipher
    from models.db import make_engine, make_session_factory, session_scope, upgrade

    engine = make_engine(url)
    upgrade(engine)
    cipher = TemplateCipher(SECRET)
    template_id = info(model).template_id
    dim = len(shown[0].encoding) if shown else 128
    now = datetime.now(UTC)
    out = Seeded([], [], {}, {}, {})
    with session_scope(make_session_factory(engine)) as s:
        create_user(s, username="clerk", password=PASSWORD, role=Role.SECRETARIAT)
        people: list[Deputy] = []
        for i in range(deputies):
            d = Deputy(number=f"X{i:05}", name=f"代表{i}", unit=f"第{i % 17 + 1}乡镇")
            people.append(d)
        s.add_all(people)
        s.flush()
        real = dict(enumerate(shown))
        for i, d in enumerate(people):
            if i in real:
                enc = real[i].encoding
                out.shown_ids[i] = d.id
            else:
                v = np.array([rng.gauss(0, 1) for _ in range(dim)])
                enc = v / np.linalg.norm(v)
            s.add(
                FaceTemplate(
                    subject=d.face_subject, encoding=cipher.encrypt(enc), model_id=template_id,
                    quality=1.0, photo_sha256=f"{i:064}",
                )
            )  # fmt: skip
        start = len(shown)
        for k, (size, kiosks) in enumerate(meetings):
            body = Body(name=f"第{k + 1}人大")
            s.add(body)
            s.flush()
            mine = [out.shown_ids[i] for i in shown_per_meeting[k]]
            others = [p.id for p in people[start : start + max(0, size - len(mine))]]
            start += len(others) if len(meetings) > 1 else 0
            m = Meeting(
                body_id=body.id, title=f"全体会议{k + 1}", starts_at=now + timedelta(hours=1),
                window_opens_at=now - timedelta(hours=1),
                window_closes_at=now + timedelta(hours=5), state=MeetingState.OPEN,
            )  # fmt: skip
            s.add(m)
            s.flush()
            s.add_all(RosterEntry(meeting_id=m.id, deputy_id=pid) for pid in mine + others)
            out.meetings.append(m.id)
            out.other_ids[m.id] = others
            out.rosters[m.id] = len(mine) + len(others)
            for j in range(kiosks):
                _, token = register_kiosk(
                    s, name=f"入口{k + 1}-{j + 1}", body_id=body.id, scope=Scope.everything()
                )
                out.tokens.append((m.id, token))
    engine.dispose()
    return out


# --- the processes ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Serve:
    proc: subprocess.Popen[bytes]
    port: int
    peak_mb: float = 0.0
    workers_peak_mb: float = 0.0
    children: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_serve(env: dict[str, str], log: Path) -> Serve:
    import httpx

    port = _free_port()
    baodao = str(Path(sys.executable).parent / "baodao")
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [baodao, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"baodao serve exited with {proc.returncode}: see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return Serve(proc, port)
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"baodao serve did not start: see {log}")


def children_of(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _hwm_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def sample_memory(servers: list[Serve]) -> None:
    for sv in servers:
        if sv.proc.poll() is not None:
            continue
        sv.peak_mb = max(sv.peak_mb, _hwm_mb(sv.proc.pid))
        kids = children_of(sv.proc.pid)
        sv.children |= set(kids)
        sv.workers_peak_mb = max(sv.workers_peak_mb, sum(_hwm_mb(k) for k in kids))


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- the clients ------------------------------------------------------------------------------


@dataclass
class KioskStats:
    latencies: list[float] = field(default_factory=list)
    checked: dict[int, int] = field(default_factory=dict)  # deputy id → check-in events
    dropped: int = 0  # frames the server dropped as stale
    skipped: int = 0  # frames captured while one was still on its way (newest only)
    reconnects: list[float] = field(default_factory=list)
    reconnected_at: list[float] = field(default_factory=list)


async def kiosk(
    urls: list[str],
    token: str,
    meeting: int,
    frames: list[tuple[int, bytes]],
    person_ids: dict[int, int],
    stats: KioskStats,
    stop: asyncio.Event,
) -> None:
    """A kiosk as the kiosk program behaves, through its transport (several servers,
    failover): frames captured at FPS, the newest sent when the previous one is answered;
    offline, face frames are kept (2 a second, plus the one on its way when the server went)
    and uploaded, marked buffered, after the reconnect."""
    from checkin.protocol import CheckIn, FrameHeader, Result
    from kiosk_client.transport import ConnectionLost, WebSocketTransport

    transport = WebSocketTransport(urls, token=token, meeting_id=meeting, ping_interval=2.0)
    by_person = {d: i for i, d in person_ids.items()}
    first_seen: dict[int, float] = {}
    inflight: dict[int, tuple[FrameHeader, bytes, float]] = {}  # frame id → (…, sent at)
    backlog: list[tuple[FrameHeader, bytes]] = []
    online = asyncio.Event()
    wake = asyncio.Event()
    latest: tuple[FrameHeader, bytes] | None = None
    lost_at: float | None = None
    done = False

    async def connect() -> None:
        nonlocal lost_at
        while not stop.is_set():
            try:
                await transport.connect()
            except ConnectionLost:
                await asyncio.sleep(0.5)
                continue
            if lost_at is not None:
                stats.reconnects.append(time.perf_counter() - lost_at)
                stats.reconnected_at.append(time.perf_counter())
                lost_at = None
            online.set()
            wake.set()
            return

    def went_offline() -> None:
        nonlocal lost_at, latest
        if online.is_set():
            online.clear()
            lost_at = time.perf_counter()
            for header, jpeg, _ in sorted(inflight.values(), key=lambda v: v[0].frame_id):
                backlog.append((header, jpeg))
            inflight.clear()
            if latest is not None:
                backlog.append(latest)
                latest = None

    async def receiver() -> None:
        while not stop.is_set():
            await online.wait()
            try:
                msg = await transport.recv()
            except ConnectionLost:
                went_offline()
                await connect()
                continue
            if isinstance(msg, Result):
                stats.dropped += msg.dropped
                inflight.pop(msg.frame_id, None)
                wake.set()
            elif isinstance(msg, CheckIn):
                pid = msg.person.id
                stats.checked[pid] = stats.checked.get(pid, 0) + 1
                idx = by_person.get(pid)
                if idx is not None and idx in first_seen and stats.checked[pid] == 1:
                    stats.latencies.append(time.perf_counter() - first_seen[idx])
                with contextlib.suppress(ConnectionLost):
                    await transport.send_ack(msg.checkin_id)

    async def sender() -> None:
        nonlocal latest
        while not stop.is_set():
            await wake.wait()
            wake.clear()
            if not online.is_set():
                continue
            now = time.perf_counter()
            for fid in [f for f, v in inflight.items() if now - v[2] > 5.0]:
                del inflight[fid]  # no answer: given up (a live frame is not worth more)
            try:
                while backlog:
                    header, jpeg = backlog.pop(0)
                    buffered = FrameHeader(
                        frame_id=header.frame_id, captured_at=header.captured_at, buffered=True
                    )
                    inflight[header.frame_id] = (buffered, jpeg, now)
                    await transport.send_frame(buffered, jpeg)
                if latest is not None and not any(not v[0].buffered for v in inflight.values()):
                    header, jpeg = latest
                    latest = None
                    inflight[header.frame_id] = (header, jpeg, now)
                    await transport.send_frame(header, jpeg)
            except ConnectionLost:  # the receiver reconnects
                went_offline()
            if done and not inflight and not backlog and latest is None:
                return

    await connect()
    tasks = [asyncio.create_task(receiver()), asyncio.create_task(sender())]
    started = time.perf_counter()
    try:
        for i, (idx, jpeg) in enumerate(frames):
            if stop.is_set():
                break
            header = FrameHeader(frame_id=i + 1, captured_at=datetime.now(UTC))
            if idx >= 0:
                first_seen.setdefault(idx, time.perf_counter())
            if online.is_set():
                if idx >= 0 or i % 5 == 0:  # faces, and an idle frame now and then
                    if latest is not None:
                        stats.skipped += 1
                    latest = (header, jpeg)
                    wake.set()
            elif idx >= 0 and i % 3 == 0:
                backlog.append((header, jpeg))
            await asyncio.sleep(max(0.0, started + (i + 1) / FPS - time.perf_counter()))
        done = True
        deadline = time.perf_counter() + 60
        while (inflight or backlog or latest or not online.is_set()) and (
            time.perf_counter() < deadline
        ):
            wake.set()
            await asyncio.sleep(0.2)
        await asyncio.sleep(3.0)  # late check-in events
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await transport.close()


@dataclass
class ScreenStats:
    received: dict[tuple[int, float], list[float]] = field(default_factory=dict)
    snapshots: int = 0
    reconnects: int = 0
    first_snapshot_s: list[float] = field(default_factory=list)


async def screen(
    ws_urls: list[str],
    meeting: int,
    headers: dict[str, str],
    stats: ScreenStats,
    stop: asyncio.Event,
) -> None:
    """A big screen: snapshot, then deltas; on a gap it resyncs; on a close it moves on to
    the next URL."""
    import websockets

    at = 0
    began = time.perf_counter()
    first = True
    while not stop.is_set():
        url = f"{ws_urls[at % len(ws_urls)]}/ws/meetings/{meeting}/live"
        try:
            async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
                seq = -1
                while not stop.is_set():
                    try:
                        text = await asyncio.wait_for(ws.recv(), 0.5)
                    except TimeoutError:
                        continue
                    now = time.time()
                    msg = json.loads(text)
                    if msg["topic"] == "snapshot":
                        seq = msg["seq"]
                        stats.snapshots += 1
                        if first:
                            stats.first_snapshot_s.append(time.perf_counter() - began)
                            first = False
                    elif msg["topic"] in ("delta", "status"):
                        if seq >= 0 and msg["seq"] != seq + 1:
                            await ws.send(json.dumps({"type": "resync"}))
                        seq = msg["seq"]
                        if msg.get("committed_at"):
                            key = (meeting, float(msg["committed_at"]))
                            stats.received.setdefault(key, []).append(now - msg["committed_at"])
        except (OSError, websockets.WebSocketException):
            pass
        if not stop.is_set():
            stats.reconnects += 1
            at += 1
            await asyncio.sleep(0.2)


@dataclass
class ChangeStats:
    sent: int = 0
    ok: int = 0
    http_5xx: int = 0
    no_reply: int = 0
    other: int = 0
    latencies: list[float] = field(default_factory=list)


async def changes(
    urls: list[str],
    meeting: int,
    people: list[int],
    rate: float,
    seconds: float,
    headers: dict[str, str],
    stats: ChangeStats,
) -> None:
    """Leave registered and cancelled at `rate`/s on people no kiosk shows."""
    import httpx

    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        on_leave: set[int] = set()
        tasks = []
        began = time.perf_counter()
        n = int(rate * seconds)

        async def one(i: int) -> None:
            pid = people[i % len(people)]
            leave = pid not in on_leave
            (on_leave.add if leave else on_leave.discard)(pid)
            url = f"{urls[i % len(urls)]}/api/meetings/{meeting}/leave?reply=delta"
            body = {"deputy_id": pid, "reason": "公务", "on_leave": leave}
            stats.sent += 1
            t0 = time.perf_counter()
            try:
                r = await client.post(url, json=body)
            except httpx.HTTPError:
                stats.no_reply += 1
                return
            if r.status_code == 200:
                stats.ok += 1
                stats.latencies.append(time.perf_counter() - t0)
            elif r.status_code >= 500:
                stats.http_5xx += 1
            else:
                stats.other += 1

        for i in range(n):
            tasks.append(asyncio.create_task(one(i)))
            await asyncio.sleep(max(0.0, began + (i + 1) / rate - time.perf_counter()))
        await asyncio.gather(*tasks)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, int(np.ceil(q * len(ordered))) - 1))], 4)


def _login(url: str) -> dict[str, str]:
    import httpx

    r = httpx.post(url + "/api/auth/login", data={"username": "clerk", "password": PASSWORD})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def attendance(url: str) -> dict[int, dict[int, int]]:
    """meeting → deputy → active attendance rows."""
    from sqlalchemy import func, select

    from models import Attendance
    from models.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Attendance.meeting_id, Attendance.deputy_id, func.count())
                .where(Attendance.undone_at.is_(None))
                .group_by(Attendance.meeting_id, Attendance.deputy_id)
            ).all()
    finally:
        engine.dispose()
    out: dict[int, dict[int, int]] = {}
    for mid, did, n in rows:
        out.setdefault(mid, {})[did] = n
    return out


def leave_commits(url: str) -> int:
    from sqlalchemy import func, select

    from models import AuditEvent
    from models.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(AuditEvent)
                    .where(AuditEvent.action.in_(("leave.register", "leave.cancel")))
                ).scalar_one()
            )
    finally:
        engine.dispose()


# --- one run ----------------------------------------------------------------------------------


@dataclass
class Plan:
    name: str
    database: str  # "postgres" or "sqlite"
    processes: int
    meetings: list[tuple[int, int]]  # (roster, kiosks)
    screens_per_meeting: int
    rates: list[float]  # manual changes per second, one phase each
    phase_s: float
    dwell: int
    kill: bool


def run_plan(
    plan: Plan,
    shown: list[Shown],
    *,
    model: str,
    postgres_url: str | None,
    redis_url: str | None,
    workers: int,
    work: Path,
) -> dict[str, Any]:
    rng = random.Random(18)
    kiosk_count = sum(k for _, k in plan.meetings)
    per_kiosk = max(1, len(shown) // kiosk_count)
    assignment: list[list[int]] = []  # kiosk → shown indexes
    for k in range(kiosk_count):
        assignment.append(list(range(k * per_kiosk, min(len(shown), (k + 1) * per_kiosk))))
    shown_per_meeting: list[list[int]] = []
    k = 0
    for _, kiosks in plan.meetings:
        shown_per_meeting.append([i for j in range(kiosks) for i in assignment[k + j]])
        k += kiosks
    deputies = max(sum(size for size, _ in plan.meetings), len(shown))
    data = work / plan.name
    data.mkdir(parents=True, exist_ok=True)
    if plan.database == "postgres":
        assert postgres_url is not None
        from sqlalchemy import text

        from models.db import make_engine

        eng = make_engine(postgres_url)
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        eng.dispose()
        url = postgres_url
    else:
        url = f"sqlite:///{data / 'baodao.db'}"
    seeded = seed(
        url, shown, model, deputies=deputies, meetings=plan.meetings,
        shown_per_meeting=shown_per_meeting, rng=rng,
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAODAO_")}
    env |= {
        "BAODAO_DATA_DIR": str(data),
        "BAODAO_DATABASE_URL": url,
        "BAODAO_SECRET_KEY": SECRET,
        "BAODAO_LOG_LEVEL": "WARNING",
        "BAODAO_FACE_MODEL": model,
        "BAODAO_WORKERS": str(workers),
        "BAODAO_LOGIN_MAX_FAILURES": "100",
        # frames made from still photos would never blink: the bench measures scale, not
        # liveness (`baodao bench liveness` does)
        "BAODAO_LIVENESS": "off",
    }
    if redis_url and plan.processes > 1:
        env["BAODAO_REDIS_URL"] = redis_url
        env["BAODAO_REDIS_PREFIX"] = f"county-bench-{os.getpid()}-{plan.name}"
    servers = [start_serve(env, data / f"serve-{i}.log") for i in range(plan.processes)]
    urls = [sv.url for sv in servers]
    ws_urls = [u.replace("http://", "ws://") for u in urls]
    headers = _login(urls[0])
    result: dict[str, Any] = {
        "database": plan.database,
        "processes": plan.processes,
        "redis": "BAODAO_REDIS_URL" in env,
        "meetings": len(plan.meetings),
        "deputies_on_rosters": sum(seeded.rosters.values()),
        "deputies_shown": sum(len(a) for a in assignment),
        "kiosks": kiosk_count,
        "screens": plan.screens_per_meeting * len(plan.meetings),
        "load_before": load_average(),
    }
    kiosk_stats = [KioskStats() for _ in range(kiosk_count)]
    screen_stats = ScreenStats()
    phase_stats = {rate: ChangeStats() for rate in plan.rates}
    killed: dict[str, Any] = {}
    lags: list[float] = []

    async def main() -> None:
        stop_screens = asyncio.Event()
        stop_kiosks = asyncio.Event()
        screen_tasks = [
            asyncio.create_task(
                screen(
                    ws_urls[j % len(ws_urls) :] + ws_urls[: j % len(ws_urls)],
                    mid,
                    headers,
                    screen_stats,
                    stop_screens,
                )
            )  # fmt: skip
            for mid in seeded.meetings
            for j in range(plan.screens_per_meeting)
        ]
        await asyncio.sleep(3.0)  # screens connected
        kiosk_tasks = []
        for k, (mid, token) in enumerate(seeded.tokens):
            frames = stream([(i, shown[i]) for i in assignment[k]], plan.dwell)
            mine = urls[k % len(urls) :] + urls[: k % len(urls)]
            kiosk_tasks.append(
                asyncio.create_task(
                    kiosk(mine, token, mid, frames, seeded.shown_ids, kiosk_stats[k], stop_kiosks)
                )
            )
        stream_s = max(len(a) for a in assignment) * (plan.dwell + 3) / FPS

        async def killer() -> None:
            await asyncio.sleep(stream_s / 2)
            victim = servers[0]
            sample_memory(servers)
            kids = children_of(victim.proc.pid) or sorted(victim.children)
            killed["at_s"] = round(stream_s / 2, 1)
            killed["_t"] = time.perf_counter()
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait()
            await asyncio.sleep(3.0)
            killed["orphan_workers"] = sum(alive(p) for p in kids)
            killed["workers_before"] = len(kids)

        async def memory() -> None:
            while True:
                sample_memory(servers)
                await asyncio.sleep(1.0)

        async def lag() -> None:  # this process's own delay: it inflates every latency
            while True:
                t = time.perf_counter()
                await asyncio.sleep(0.05)
                lags.append(time.perf_counter() - t - 0.05)

        lag_task = asyncio.create_task(lag())
        mem_task = asyncio.create_task(memory())
        kill_task = asyncio.create_task(killer()) if plan.kill and len(servers) > 1 else None
        live_urls = urls[1:] if plan.kill and len(servers) > 1 else urls
        for rate in plan.rates:
            await changes(
                live_urls, seeded.meetings[0], seeded.other_ids[seeded.meetings[0]], rate,
                plan.phase_s, headers, phase_stats[rate],
            )  # fmt: skip
        await asyncio.gather(*kiosk_tasks)
        if kill_task is not None:
            await kill_task
        await asyncio.sleep(2.0)
        stop_screens.set()
        await asyncio.gather(*screen_tasks)
        mem_task.cancel()
        lag_task.cancel()

    t0 = time.perf_counter()
    try:
        asyncio.run(main())
    finally:
        sample_memory(servers)
        for sv in servers:
            if sv.proc.poll() is None:
                sv.proc.terminate()
        for sv in servers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                sv.proc.wait(timeout=30)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["load_after"] = load_average()
    lat = [x for ks in kiosk_stats for x in ks.latencies]
    result["checkin_latency_s"] = {
        "n": len(lat), "p50": _pct(lat, 0.5), "p95": _pct(lat, 0.95), "p99": _pct(lat, 0.99),
    }  # fmt: skip
    per_change = [max(v) for v in screen_stats.received.values()]
    all_rx = [x for v in screen_stats.received.values() for x in v]
    result["push_ms"] = {
        "changes": len(per_change),
        "p50": None if not per_change else round(1000 * (_pct(per_change, 0.5) or 0), 1),
        "p95": None if not per_change else round(1000 * (_pct(per_change, 0.95) or 0), 1),
        "p95_any_screen": None if not all_rx else round(1000 * (_pct(all_rx, 0.95) or 0), 1),
        "first_snapshot_p95_s": _pct(screen_stats.first_snapshot_s, 0.95),
    }
    result["bench_loop_lag_ms"] = {
        "p50": round(1000 * (_pct(lags, 0.5) or 0), 1),
        "p95": round(1000 * (_pct(lags, 0.95) or 0), 1),
    }
    result["frames_dropped"] = sum(ks.dropped for ks in kiosk_stats)
    result["frames_not_sent_newest_only"] = sum(ks.skipped for ks in kiosk_stats)
    commits = leave_commits(url)
    result["changes"] = {
        f"{rate:g}_per_s": {
            "sent": st.sent,
            "ok": st.ok,
            "http_5xx": st.http_5xx,
            "no_reply": st.no_reply,
            "other": st.other,
            "reply_p95_s": _pct(st.latencies, 0.95),
        }  # fmt: skip
        for rate, st in phase_stats.items()
    }
    acknowledged = sum(st.ok for st in phase_stats.values())
    result["errors"] = {
        "http_5xx": sum(st.http_5xx for st in phase_stats.values()),
        "requests_without_reply": sum(st.no_reply for st in phase_stats.values()),
        "commits_without_reply": commits - acknowledged,
    }
    result["memory_mb"] = [
        {"serve": round(sv.peak_mb), "face_workers": round(sv.workers_peak_mb)} for sv in servers
    ]
    rows = attendance(url)
    lost = dupes = 0
    for m_index, mid in enumerate(seeded.meetings):
        want = {seeded.shown_ids[i] for i in shown_per_meeting[m_index]}
        got = rows.get(mid, {})
        lost += len(want - set(got))
        dupes += sum(n - 1 for n in got.values() if n > 1) + len(set(got) - want)
    events = sum(n - 1 for ks in kiosk_stats for n in ks.checked.values() if n > 1)
    result["attendance"] = {
        "shown": sum(len(s) for s in shown_per_meeting),
        "lost": lost,
        "duplicates": dupes,
        "repeated_checkin_events": events,
    }
    reconnects = [x for ks in kiosk_stats for x in ks.reconnects]
    if killed:
        kill_t = killed.pop("_t")
        since_kill = [t - kill_t for ks in kiosk_stats for t in ks.reconnected_at]
        killed["kiosk_reconnect_s_max"] = round(max(since_kill), 2) if since_kill else None
        killed["kiosk_reconnect_after_noticing_s_max"] = (
            round(max(reconnects), 2) if reconnects else None
        )
        killed["kiosks_reconnected"] = len(reconnects)
        killed["screen_reconnects"] = screen_stats.reconnects
        result["failover"] = killed
    return result


def county_plans(short: bool, processes: int) -> list[Plan]:
    deputies = 300 if short else 1300
    phase = 8.0 if short else 25.0
    dwell = 15
    kiosks = 4 if short else 8
    screens = 10 if short else 50
    plans = [
        Plan("postgres", "postgres", processes, [(deputies, kiosks)], screens, [4, 20], phase,
             dwell, True),
        Plan("sqlite", "sqlite", 1, [(deputies, kiosks)], screens, [4, 20], phase, dwell, False),
    ]  # fmt: skip
    rng = random.Random(17)
    towns = 4 if short else 17
    sizes = [(rng.randint(40, 120), 1 + (i % 2)) for i in range(towns)]
    plans.append(Plan("townships", "postgres", processes, sizes, 2, [4], phase, dwell, False))
    return plans


def run_county_bench(
    faces_dir: Path,
    *,
    short: bool = False,
    processes: int = 2,
    workers: int = 1,
    model: str = "sface",
    postgres_url: str | None = None,
    redis_url: str | None = None,
    only: list[str] | None = None,
) -> dict[str, Any]:
    postgres_url = postgres_url or os.environ.get("BAODAO_BENCH_POSTGRES_URL")
    redis_url = redis_url or os.environ.get("BAODAO_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    t0 = time.perf_counter()
    shown = recognisable(faces_dir, model, limit=24 if short else 0)
    out: dict[str, Any] = {
        "bench": "county",
        "short": short,
        "face_model": model,
        "cpus": os.cpu_count(),
        "recognisable_identities": len(shown),
        "population_s": round(time.perf_counter() - t0, 1),
        "runs": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for plan in county_plans(short, processes):
            if only and plan.name not in only:
                continue
            if plan.database == "postgres" and not postgres_url:
                out["runs"][plan.name] = {"skipped": "no PostgreSQL (BAODAO_BENCH_POSTGRES_URL)"}
                continue
            out["runs"][plan.name] = run_plan(
                plan, shown, model=model, postgres_url=postgres_url, redis_url=redis_url,
                workers=workers, work=Path(tmp),
            )  # fmt: skip
    pg = out["runs"].get("postgres", {})
    if "push_ms" in pg:
        out["goals"] = {
            "checkin_p95_le_1s": (pg["checkin_latency_s"]["p95"] or 99) <= 1.0,
            "push_p95_le_50ms": (pg["push_ms"]["p95"] or 1e9) <= 50,
            "no_5xx_no_unacknowledged_commit": pg["errors"]["http_5xx"] == 0
            and pg["errors"]["commits_without_reply"] == 0,
            "failover_ok": bool(
                pg.get("failover")
                and (pg["failover"]["kiosk_reconnect_s_max"] or 99) <= 5
                and pg["attendance"]["lost"] == 0
                and pg["attendance"]["duplicates"] == 0
                and pg["failover"]["orphan_workers"] == 0
            ),
        }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="County-scale bench (see the module doc)")
    parser.add_argument("--faces", type=Path, default=Path("../shared/faces"))
    parser.add_argument("--short", action="store_true")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args(argv)
    result = run_county_bench(
        args.faces, short=args.short, processes=args.processes, only=args.only
    )
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
