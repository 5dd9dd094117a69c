"""Worker pools die with their parent, even when the parent gets SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PARENT = """
import os, sys, threading, time
from concurrent.futures import ProcessPoolExecutor
from checkin.lifeline import process_pool

pools = []  # a pool that is garbage-collected shuts its workers down


def start() -> None:
    kind = sys.argv[1]
    if kind == "plain":
        pool = ProcessPoolExecutor(2)
    else:
        pool = process_pool(2, fork=kind == "fork")
    pools.append(pool)
    futures = [pool.submit(time.sleep, 0.3) for _ in range(2)]  # both workers start
    [f.result() for f in futures]
    print(" ".join(str(p) for p in pool._processes), flush=True)

if __name__ == "__main__":
    if sys.argv[2] == "thread":  # as the web server's upload pool, from a worker thread
        t = threading.Thread(target=start)
        t.start()
        t.join()  # the thread that started the workers is gone; they must stay alive
        time.sleep(1.5)
    else:
        start()
    print("ready", flush=True)
    time.sleep(600)
"""


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def wait_gone(pids: list[int], seconds: float = 15.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize(
    ("kind", "where"),
    [("spawn", "main"), ("spawn", "thread"), ("fork", "main"), ("plain", "main")],
)
def test_workers_exit_when_the_parent_is_killed(kind: str, where: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, kind, where],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    pids: list[int] = []
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert parent.stdout.readline().strip() == "ready"
        assert len(pids) == 2 and all(alive(p) for p in pids)  # alive while the parent is
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        left = wait_gone(pids, 3.0 if kind == "plain" else 15.0)
        if kind == "plain":  # the control: without the lifeline they outlive the parent
            assert left == pids
        else:
            assert left == []
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
