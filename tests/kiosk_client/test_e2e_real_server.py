"""End to end with the REAL server process and the kiosk as a real process (issue 6).

Set up only through the CLI, as an operator would: enrol, create a body and a meeting, put
the deputy on the roster, open the window, register a kiosk.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from fake_server import free_port
from kiosk_proc import KioskProcess
from sqlalchemy import select

from models import Attendance
from models.db import make_engine, make_session_factory
from tests.server import Server, baodao_env, kiosk_site

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(faces_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    """The site, made once for the module's tests: its data folder, meeting id, kiosk token.

    The server runs with BAODAO_LIVENESS=off: the clip has no blink (docs/liveness.md), so
    these tests of the kiosk's transport run without the check (test_e2e_liveness with it).
    """
    data_dir = tmp_path_factory.mktemp("site") / "var"
    env = baodao_env(data_dir)
    photo = faces_dir / "fixtures" / "single" / "lin-manuel-miranda.png"
    meeting, token = kiosk_site(env, {"D001": photo})
    assert token.startswith("bk_")
    return data_dir, meeting, token


@pytest.fixture
def setup(site: tuple[Path, int, str], tmp_path: Path) -> tuple[dict[str, str], int, str]:
    """A fresh copy of the site's data folder (database and keys) for one test."""
    data_dir, meeting, token = site
    shutil.copytree(data_dir, tmp_path / "var")
    return baodao_env(tmp_path / "var", BAODAO_LIVENESS="off"), meeting, token


def attendance_rows(env: dict[str, str]) -> list[Attendance]:
    engine = make_engine(env["BAODAO_DATABASE_URL"])
    try:
        with make_session_factory(engine)() as s:
            return list(s.scalars(select(Attendance)))
    finally:
        engine.dispose()


def kiosk(
    port: int, meeting: int, token: str, source: Path, queue: Path, *extra: str
) -> KioskProcess:
    return KioskProcess(
        "--server", f"http://127.0.0.1:{port}", "--token", token, "--meeting", str(meeting),
        "--source", str(source), "--headless", "--queue-dir", str(queue), "--retry-max", "2",
        *extra,
    )  # fmt: skip


def test_hamilton_clip_checks_in(setup, faces_dir: Path, tmp_path: Path) -> None:
    env, meeting, token = setup
    with Server(env) as server:
        k = kiosk(
            server.port,
            meeting,
            token,
            faces_dir / "fixtures/video/short_hamilton_clip.mp4",
            tmp_path / "q",
        )
        code, err = k.wait(120)
    assert code == 0, err
    [checkin] = k.of("checkin")
    assert checkin["person"]["number"] == "D001" and checkin["delayed"] is False
    [row] = attendance_rows(env)
    assert row.id == checkin["checkin_id"] and not row.delayed


def test_outage_then_server_starts(setup, faces_dir: Path, tmp_path: Path) -> None:
    env, meeting, token = setup
    port = free_port()
    clip = faces_dir / "fixtures/video/short_hamilton_clip.mp4"
    # The clip shows the face well for only ~0.6 s (frames 147-165), so buffer at 10 frames/s
    # to keep enough of them; a deputy at a real kiosk stands still for longer.
    offline = ("--buffer-rate", "10")
    k1 = kiosk(port, meeting, token, clip, tmp_path / "q", *offline)
    k1.wait_for(lambda ev: sum(e["event"] == "buffered" for e in ev) >= 4, 60)
    k1.kill()  # a kiosk restart in between loses nothing
    k2 = kiosk(port, meeting, token, clip, tmp_path / "q", *offline)
    time.sleep(11)  # the clip (9.2 s, played in real time) runs out while the server is down
    assert len(k2.of("buffered")) >= 10 and not k2.of("connected")
    with Server(env, port=port):
        code, err = k2.wait(180)
    assert code == 0, err
    [checkin] = k2.of("checkin")
    assert checkin["delayed"] is True
    captured = {
        datetime.fromisoformat(e["captured_at"]) for e in k1.of("buffered") + k2.of("buffered")
    }
    assert datetime.fromisoformat(checkin["checked_in_at"]) in captured
    [row] = attendance_rows(env)  # one row after the replay, at the original capture time
    assert row.delayed and row.checked_in_at == datetime.fromisoformat(checkin["checked_in_at"])


def face_workers(data_dir: Path) -> list[int]:
    """Running multiprocessing children (face workers, their resource tracker) of any
    `baodao` process using `data_dir`, found by command line and environment."""
    marker = f"BAODAO_DATA_DIR={data_dir}".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if b"multiprocessing" in cmdline and marker in environ.split(b"\0") and state != "Z":
            found.append(int(proc.name))
    return sorted(found)


def children(pid: int) -> list[int]:
    """Direct children of `pid` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def gone_within(seconds: float, probe: Callable[[], list[int]]) -> list[int]:
    """Poll until `probe` finds nothing; what it still finds at the deadline."""
    deadline = time.monotonic() + seconds
    while (left := probe()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_kill_9_of_serve_mid_stream_then_restart(setup, faces_dir: Path, tmp_path: Path) -> None:
    env, meeting, token = setup
    data_dir = Path(env["BAODAO_DATA_DIR"])
    port = free_port()
    clip = faces_dir / "fixtures/video/short_hamilton_clip.mp4"
    first = Server(env, port=port).start()
    assert first.proc is not None
    workers = face_workers(data_dir)
    assert workers and set(children(first.proc.pid)) >= set(workers) - {first.proc.pid}
    k = kiosk(port, meeting, token, clip, tmp_path / "q", "--buffer-rate", "10")
    try:
        k.wait_for(lambda ev: any(e["event"] == "connected" for e in ev), 60)
        k.wait_for(lambda ev: len(ev) >= 3, 60)  # streaming: face events after `connected`
        assert not k.of("checkin")  # the deputy has not reached the kiosk yet
        first.proc.kill()  # SIGKILL: no shutdown code runs in serve
        first.proc.wait()
        first.proc = None
        assert gone_within(15, lambda: face_workers(data_dir)) == []  # no orphan worker
        k.wait_for(lambda ev: any(e["event"] == "buffered" for e in ev), 60)
        with Server(env, port=port) as second:
            code, err = k.wait(180)  # reconnects, uploads its queue, finishes the clip
            assert second.proc is not None and face_workers(data_dir)
        assert gone_within(15, lambda: face_workers(data_dir)) == []  # clean stop: none left
    finally:
        first.stop(kill=True)
        k.kill()
        for pid in face_workers(data_dir):  # only if the assertion above failed
            os.kill(pid, signal.SIGKILL)
    assert code == 0, err
    [checkin] = k.of("checkin")
    [row] = attendance_rows(env)  # exactly one, whichever frames carried it
    assert row.id == checkin["checkin_id"] and checkin["person"]["number"] == "D001"
    if row.delayed:  # from the offline queue: captured inside the outage, so believed
        assert row.evidence is not None and row.evidence["time"] == "capture"
