"""End to end with the REAL server process (issue 6, Must show 1 and 2).

Left for the lead to finish once `baodao serve`, `db upgrade`, `enroll add`,
`meeting create` and `kiosk register` exist: the exact options of those commands are
guesses below (marked LEAD). The tests skip until the commands exist.
Only the CLI is used, as an operator would.
"""

from __future__ import annotations

import subprocess
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from fake_server import free_port
from kiosk_proc import BAODAO, KioskProcess

pytestmark = pytest.mark.slow

NEEDED = [
    ["serve"],
    ["db", "upgrade"],
    ["enroll", "add"],
    ["meeting", "create"],
    ["kiosk", "register"],
]


def _has(cmd: list[str]) -> bool:
    r = subprocess.run([*BAODAO, *cmd, "--help"], capture_output=True, text=True, check=False)
    return r.returncode == 0


@pytest.fixture(scope="module")
def server_cli():
    missing = [" ".join(c) for c in NEEDED if not _has(c)]
    if missing:
        pytest.skip(f"server commands not built yet: {', '.join(missing)}")


def baodao(env: dict[str, str], *args: str) -> str:
    r = subprocess.run([*BAODAO, *args], capture_output=True, text=True, env=env, check=False)
    assert r.returncode == 0, f"{args}: {r.stderr}"
    return r.stdout.strip()


@pytest.fixture
def setup(server_cli, faces_dir, tmp_path):
    import os

    env = {
        **os.environ,
        "BAODAO_DATA_DIR": str(tmp_path / "var"),
        "BAODAO_DATABASE_URL": f"sqlite:///{tmp_path / 'baodao.db'}",
    }
    baodao(env, "db", "upgrade")
    # LEAD: adjust to the real options; these should print the new ids/token on stdout.
    baodao(
        env,
        "enroll",
        "add",
        "--number",
        "D001",
        "--name",
        "林曼努尔",
        str(faces_dir / "fixtures" / "single" / "lin-manuel-miranda.png"),
    )
    meeting = baodao(
        env, "meeting", "create", "--title", "测试会议", "--roster", "D001", "--open-now"
    )
    token = baodao(env, "kiosk", "register", "--name", "入口 1")
    return env, int(meeting.split()[-1]), token.split()[-1]


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [*BAODAO, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("baodao serve did not start")


def kiosk(port: int, meeting: int, token: str, source: Path, queue: Path) -> KioskProcess:
    return KioskProcess(
        "--server",
        f"http://127.0.0.1:{port}",
        "--token",
        token,
        "--meeting",
        str(meeting),
        "--source",
        str(source),
        "--headless",
        "--queue-dir",
        str(queue),
        "--retry-max",
        "2",
    )


def test_hamilton_clip_checks_in(setup, faces_dir, tmp_path):
    env, meeting, token = setup
    port = free_port()
    server = start_server(env, port)
    try:
        k = kiosk(
            port,
            meeting,
            token,
            faces_dir / "fixtures/video/short_hamilton_clip.mp4",
            tmp_path / "q",
        )
        code, err = k.wait(120)
    finally:
        server.terminate()
        server.wait(20)
    assert code == 0, err
    [checkin] = k.of("checkin")
    assert checkin["person"]["number"] == "D001" and checkin["delayed"] is False


def test_outage_then_server_starts(setup, faces_dir, tmp_path):
    env, meeting, token = setup
    port = free_port()
    clip = faces_dir / "fixtures/video/short_hamilton_clip.mp4"
    k1 = kiosk(port, meeting, token, clip, tmp_path / "q")
    k1.wait_for(lambda ev: sum(e["event"] == "buffered" for e in ev) >= 4, 60)
    k1.kill()  # a kiosk restart in between loses nothing
    k2 = kiosk(port, meeting, token, clip, tmp_path / "q")
    k2.wait_for(
        lambda ev: (
            any(e["event"] == "end" for e in ev) or sum(e["event"] == "buffered" for e in ev) >= 4
        ),
        60,
    )
    server = start_server(env, port)
    try:
        code, err = k2.wait(180)
    finally:
        server.terminate()
        server.wait(20)
    assert code == 0, err
    [checkin] = k2.of("checkin")
    assert checkin["delayed"] is True
    captured = {
        datetime.fromisoformat(e["captured_at"]) for e in k1.of("buffered") + k2.of("buffered")
    }
    assert datetime.fromisoformat(checkin["checked_in_at"]) in captured
    # LEAD: also assert through the API/report that the meeting has exactly one attendance
    # row for D001 with this time and marked delayed (no duplicates after replay).
