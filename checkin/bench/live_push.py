"""Benchmark: push latency from an attendance commit to receipt on big-screen WebSockets.

A real `baodao serve` process on localhost with a seeded SQLite database; `clients` live
sockets watch one meeting; check-ins go through the REST API one at a time; every client
measures `receipt time − committed_at` (the server's timestamp right after the commit) of
each check-in's push (a `delta`, or a whole `status` when a delta cannot say it).
The same run first measures a single client as the baseline and prints the ratio.

    python -m checkin.bench.live_push [--clients 50] [--checkins 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

from checkin.accounts.service import create_user
from models import Body, Deputy, Role
from models.db import make_engine, make_session_factory, session_scope, upgrade

PASSWORD = "bench-password-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(url: str, deputies: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with session_scope(make_session_factory(engine)) as s:
        create_user(s, username="bench", password=PASSWORD, role=Role.SECRETARIAT)
        body = Body(name="基准测试人大")
        s.add(body)
        s.flush()
        for i in range(deputies):
            s.add(Deputy(number=f"B{i:04}", name=f"代表{i}", unit="基准村", body_id=body.id))
    engine.dispose()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def _measure(
    base: str, headers: dict[str, str], meeting_id: int, numbers: list[str], clients: int
) -> dict[str, Any]:
    ws_url = base.replace("http://", "ws://") + f"/ws/meetings/{meeting_id}/live"
    latencies: list[float] = []
    gaps = 0
    sockets = [await websockets.connect(ws_url, additional_headers=headers) for _ in range(clients)]
    for ws in sockets:  # the snapshot
        assert json.loads(await ws.recv())["topic"] == "snapshot"

    async def reader(ws: Any, want: int) -> None:
        nonlocal gaps
        last = None
        got = 0
        while got < want:
            msg = json.loads(await ws.recv())
            now = time.time()
            if msg["topic"] not in ("delta", "status") or msg["kind"] != "checkin":
                continue
            if last is not None and msg["seq"] != last + 1:
                gaps += 1
            last = msg["seq"]
            latencies.append((now - msg["committed_at"]) * 1000)
            got += 1

    readers = [asyncio.create_task(reader(ws, len(numbers))) for ws in sockets]
    request_ms: list[float] = []
    async with httpx.AsyncClient(base_url=base, headers=headers) as http:
        for number in numbers:
            t0 = time.perf_counter()
            r = await http.post(
                f"/api/meetings/{meeting_id}/checkin", json={"number": number, "reason": "基准测试"}
            )
            r.raise_for_status()
            request_ms.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.05)  # one change at a time: latency, not throughput
    await asyncio.wait_for(asyncio.gather(*readers), timeout=60)
    for ws in sockets:
        await ws.close()
    return {
        "clients": clients,
        "messages": len(latencies),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(_percentile(latencies, 0.95), 2),
        "max_ms": round(max(latencies), 2),
        "request_p50_ms": round(statistics.median(request_ms), 2),
        "sequence_gaps": gaps,
    }


def run_push_bench(clients: int = 50, checkins: int = 60) -> dict[str, Any]:
    """Measure push latency for 1 client (baseline) and `clients` clients; a dict of numbers."""
    with tempfile.TemporaryDirectory(prefix="baodao-bench-") as tmp:
        data = Path(tmp)
        url = f"sqlite:///{data / 'baodao.db'}"
        _seed(url, 2 * checkins)
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAODAO_")} | {
            "BAODAO_DATA_DIR": str(data),
            "BAODAO_DATABASE_URL": url,
            "BAODAO_SECRET_KEY": "bench-secret-key-0123456789",
            "BAODAO_LOG_LEVEL": "WARNING",
        }
        baodao = str(Path(sys.executable).parent / "baodao")
        log = (data / "serve.log").open("wb")
        proc = subprocess.Popen(
            [baodao, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError((data / "serve.log").read_text())
                time.sleep(0.2)
            token = httpx.post(
                base + "/api/auth/login", data={"username": "bench", "password": PASSWORD}
            ).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            mid = httpx.post(
                base + "/api/meetings",
                json={"body_id": 1, "title": "推送基准", "starts_at": "2030-01-01T09:00:00+08:00"},
                headers=headers,
            ).json()["id"]
            numbers = [f"B{i:04}" for i in range(2 * checkins)]
            baseline = asyncio.run(_measure(base, headers, mid, numbers[: checkins // 2], 1))
            loaded = asyncio.run(_measure(base, headers, mid, numbers[checkins:], clients))
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            log.close()
    return {
        "baseline_1_client": baseline,
        f"{clients}_clients": loaded,
        "p95_ratio_vs_1_client": round(loaded["p95_ms"] / max(baseline["p95_ms"], 1e-6), 2),
        "goal_p95_ms": 100,
        "goal_met": loaded["p95_ms"] <= 100,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--checkins", type=int, default=60)
    args = parser.parse_args()
    result = run_push_bench(clients=args.clients, checkins=args.checkins)
    sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    main()
