"""Benchmark: does a real `baodao serve` hold under abuse without credentials?

The attack, for `seconds` seconds: `sockets` WebSockets on /ws/kiosk that never send hello
(each reopened as soon as the server closes it), plus `uploads` parallel multipart uploads of
`upload_mb` MB each to the photo route without credentials, each trying to send its whole
body; each of the `uploads` slots starts the next upload as soon as the last one ended.
Measured on the server process: resident memory (sampled, and the kernel's high-water mark)
and `/healthz` latency during the attack, against the same server idle in the same run.

    python -m checkin.bench.abuse [--sockets 200] [--uploads 50] [--upload-mb 100] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets

MB = 1_000_000
CHUNK = 256 * 1024
GOAL_RSS_MB = 400
GOAL_HEALTHZ_MS = 200


# --- one streamed request, answered or not ------------------------------------------------


@dataclass
class Pushed:
    """What became of one streamed request body."""

    status: int
    body: bytes
    sent_before_answer: int  # body bytes the client had handed to its socket by the answer
    total: int
    seconds: float  # from the first byte to the answer


async def _read_answer(sock: socket.socket) -> tuple[int, bytes]:
    """Status and body of the HTTP answer on `sock` (read even after the server reset it:
    the kernel hands out what arrived before the reset)."""
    loop = asyncio.get_running_loop()
    data = b""
    while b"\r\n\r\n" not in data:
        piece = await loop.sock_recv(sock, 65536)
        if not piece:
            raise ConnectionError("closed before an answer")
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(body) < length:
        piece = await loop.sock_recv(sock, 65536)
        if not piece:
            break
        body += piece
    return int(lines[0].split()[1]), body


async def push_body(
    host: str,
    port: int,
    path: str,
    *,
    total: int,
    headers: dict[str, str] | None = None,
    prefix: bytes = b"",
    chunked: bool = False,
    timeout: float = 60.0,
) -> Pushed:
    """POST a `total`-byte body in 256 KB pieces, stopping when the server answers or closes.

    The body is `prefix` followed by zeros; with `chunked` it is sent without Content-Length.
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    await loop.sock_connect(sock, (host, port))
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    t0 = time.perf_counter()
    sent = 0
    sent_at_answer: int | None = None
    zeros = bytes(CHUNK)
    answer = asyncio.ensure_future(_read_answer(sock))
    try:
        await loop.sock_sendall(sock, ("\r\n".join(lines) + "\r\n\r\n").encode())
        while sent < total and not answer.done():
            piece = ((prefix[sent:] if sent < len(prefix) else b"") + zeros)[
                : min(CHUNK, total - sent)
            ]
            framed = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
            sending = asyncio.ensure_future(loop.sock_sendall(sock, framed))
            await asyncio.wait({sending, answer}, return_when=asyncio.FIRST_COMPLETED)
            if answer.done():
                sent_at_answer = sent
                sending.cancel()
                break
            try:
                sending.result()
            except OSError:  # reset or broken pipe: the server stopped listening
                break
            sent += len(piece)
        if sent >= total and chunked and not answer.done():
            await loop.sock_sendall(sock, b"0\r\n\r\n")
        status, body = await asyncio.wait_for(answer, timeout)
    except (OSError, TimeoutError):
        status, body = 0, b""
    finally:
        if not answer.done():
            answer.cancel()
        sock.close()
    seconds = time.perf_counter() - t0
    return Pushed(status, body, sent if sent_at_answer is None else sent_at_answer, total, seconds)


def multipart_prefix(boundary: str = "baodao-bench") -> tuple[dict[str, str], bytes]:
    """Headers and the start of a multipart photo upload (the rest of the body is zeros)."""
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    prefix = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return headers, prefix


# --- the server and its measures ----------------------------------------------------------


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory (or another /proc status field, e.g. VmHWM) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024 / MB
    raise RuntimeError(f"{field} not found for process {pid}")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values), 1),
        "p95_ms": round(_percentile(values, 0.95), 1),
        "max_ms": round(max(values), 1),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _healthz_loop(base: str, stop: asyncio.Event, every: float = 0.05) -> list[float]:
    out: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        while not stop.is_set():
            t0 = time.perf_counter()
            r = await client.get("/healthz")
            r.raise_for_status()
            out.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(every)
    return out


async def _rss_loop(pid: int, stop: asyncio.Event, every: float = 0.05) -> list[float]:
    out: list[float] = []
    while not stop.is_set():
        out.append(rss_mb(pid))
        await asyncio.sleep(every)
    return out


async def _idle(base: str, pid: int, seconds: float) -> dict[str, Any]:
    stop = asyncio.Event()
    health = asyncio.create_task(_healthz_loop(base, stop))
    rss = asyncio.create_task(_rss_loop(pid, stop))
    await asyncio.sleep(seconds)
    stop.set()
    return {"healthz": _summary(await health), "rss_mb": round(max(await rss), 1)}


async def _silent_socket(ws_url: str, stop: asyncio.Event, counts: dict[str, int]) -> None:
    """Hold a kiosk socket open without hello; reopen it whenever the server closes it."""
    while not stop.is_set():
        try:
            async with websockets.connect(ws_url, open_timeout=30) as ws:
                counts["opened"] += 1
                closed = asyncio.ensure_future(ws.wait_closed())
                halt = asyncio.ensure_future(stop.wait())
                await asyncio.wait({closed, halt}, return_when=asyncio.FIRST_COMPLETED)
                halt.cancel()
                if closed.done():
                    counts["closed_by_server"] += 1
                else:
                    closed.cancel()
        except (OSError, websockets.WebSocketException):
            counts["closed_by_server"] += 1
            await asyncio.sleep(0.1)


async def _uploader(port: int, total: int, stop: asyncio.Event, results: list[Pushed]) -> None:
    headers, prefix = multipart_prefix()
    while not stop.is_set():
        results.append(
            await push_body(
                "127.0.0.1", port, "/api/deputies/D001/photos", total=total, headers=headers,
                prefix=prefix,
            )
        )  # fmt: skip


async def _attack(
    base: str, port: int, pid: int, *, sockets: int, uploads: int, upload_mb: int, seconds: float
) -> dict[str, Any]:
    stop = asyncio.Event()
    counts = {"opened": 0, "closed_by_server": 0}
    pushed: list[Pushed] = []
    ws_url = base.replace("http://", "ws://") + "/ws/kiosk"
    tasks = [asyncio.create_task(_silent_socket(ws_url, stop, counts)) for _ in range(sockets)]
    tasks += [
        asyncio.create_task(_uploader(port, upload_mb * MB, stop, pushed)) for _ in range(uploads)
    ]
    health = asyncio.create_task(_healthz_loop(base, stop))
    rss = asyncio.create_task(_rss_loop(pid, stop))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    statuses: dict[str, int] = {}
    for p in pushed:
        statuses[str(p.status)] = statuses.get(str(p.status), 0) + 1
    return {
        "healthz": _summary(await health),
        "rss_mb": round(max(await rss), 1),
        "sockets_opened": counts["opened"],
        "sockets_closed_by_server": counts["closed_by_server"],
        "uploads": len(pushed),
        "upload_statuses": statuses,  # 0: no answer read (connection reset)
        "upload_mb_offered": round(sum(p.total for p in pushed) / MB),
        "upload_mb_written_by_client_before_answer": round(
            sum(p.sent_before_answer for p in pushed) / MB, 1
        ),
        "upload_answer_ms": _summary([p.seconds * 1000 for p in pushed]) if pushed else {},
    }


def run_abuse_bench(
    *, sockets: int = 200, uploads: int = 50, upload_mb: int = 100, seconds: float = 20.0
) -> dict[str, Any]:
    """Start a server, measure it idle, then under the attack; a dict of numbers and goals."""
    with tempfile.TemporaryDirectory(prefix="baodao-abuse-") as tmp:
        data = Path(tmp)
        spool = data / "tmp"
        spool.mkdir()
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAODAO_")} | {
            "BAODAO_DATA_DIR": str(data),
            "BAODAO_DATABASE_URL": f"sqlite:///{data / 'baodao.db'}",
            "BAODAO_SECRET_KEY": secrets.token_urlsafe(24),
            "BAODAO_LOG_LEVEL": "WARNING",
            "BAODAO_WORKERS": "1",
            "TMPDIR": str(spool),  # where a spooled upload would land
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
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError((data / "serve.log").read_text())
                time.sleep(0.2)
            time.sleep(2)  # let the face workers finish starting
            idle = asyncio.run(_idle(base, proc.pid, 5.0))
            before = {p.name for p in spool.iterdir()}  # a native library leaves a small file
            hwm_before = rss_mb(proc.pid, "VmHWM")
            attack = asyncio.run(
                _attack(
                    base, port, proc.pid,
                    sockets=sockets, uploads=uploads, upload_mb=upload_mb, seconds=seconds,
                )
            )  # fmt: skip
            hwm_after = rss_mb(proc.pid, "VmHWM")
            spooled = sorted({p.name for p in spool.iterdir()} - before)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()
    peak = max(attack["rss_mb"], hwm_after)
    return {
        "command": f"python -m checkin.bench.abuse --sockets {sockets} --uploads {uploads} "
        f"--upload-mb {upload_mb} --seconds {seconds:g}",
        "idle": idle,
        "attack": attack,
        "server_vmhwm_mb": {"before_attack": round(hwm_before, 1), "after": round(hwm_after, 1)},
        "files_spooled_to_tmp_during_attack": spooled,
        "healthz_p95_ratio_vs_idle": round(
            attack["healthz"]["p95_ms"] / max(idle["healthz"]["p95_ms"], 0.1), 2
        ),
        "goals": {
            f"peak_rss_under_{GOAL_RSS_MB}_mb": peak < GOAL_RSS_MB,
            f"healthz_p95_under_{GOAL_HEALTHZ_MS}_ms": attack["healthz"]["p95_ms"]
            < GOAL_HEALTHZ_MS,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--upload-mb", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    result = run_abuse_bench(
        sockets=args.sockets, uploads=args.uploads, upload_mb=args.upload_mb, seconds=args.seconds
    )
    sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    main()
