"""A real `baodao serve` process on a free port, for end-to-end tests, and a site to serve."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

import httpx

BAODAO = str(Path(sys.executable).parent / "baodao")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def baodao_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for a `baodao` subprocess using `data_dir` (SQLite inside it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAODAO_")}
    env |= {
        "BAODAO_DATA_DIR": str(data_dir),
        "BAODAO_DATABASE_URL": f"sqlite:///{data_dir / 'baodao.db'}",
        "BAODAO_SECRET_KEY": "e2e-secret-key-0123456789",
        "BAODAO_WORKERS": "1",
    }
    return env | extra


def baodao(args: list[str], env: dict[str, str], stdin: str = "", timeout: float = 300) -> str:
    """Run a `baodao` command; its stdout, or AssertionError with stderr."""
    r = subprocess.run(
        [BAODAO, *args], env=env, input=stdin, capture_output=True, text=True, timeout=timeout
    )
    assert r.returncode == 0, f"baodao {' '.join(args)} -> {r.returncode}: {r.stderr}"
    return r.stdout


class Server:
    """`baodao serve` as a child process; `with Server(env) as s:` waits for /healthz."""

    def __init__(self, env: dict[str, str], port: int | None = None) -> None:
        self.env = env
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.log = Path(env["BAODAO_DATA_DIR"]) / f"serve-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Server:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [BAODAO, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start: {self.log.read_text()}")

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def login(self, username: str, password: str) -> dict[str, str]:
        r = httpx.post(
            self.url + "/api/auth/login", data={"username": username, "password": password}
        )
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['token']}"}


def kiosk_site(env: dict[str, str], photos: dict[str, Path]) -> tuple[int, str]:
    """Set up through the CLI, as an operator would: deputies enrolled from one photo each
    (代表<number>), on the roster of an open meeting of 测试镇人大; (meeting id, kiosk token)."""
    for number, photo in photos.items():
        baodao(
            ["enroll", "add", number, str(photo), "--name", f"代表{number}", "--workers", "1"], env
        )
    baodao(["body", "create", "测试镇人大"], env)
    starts = (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="seconds")
    out = baodao(
        ["meeting", "create", "--body", "测试镇人大", "--title", "测试会议",
         "--starts-at", starts, "--json"],
        env,
    )  # fmt: skip
    meeting = int(json.loads(out)["id"])
    for number in photos:
        baodao(["meeting", "roster", "add", str(meeting), number, "--role", "deputy"], env)
    baodao(["meeting", "open", str(meeting)], env)
    token = baodao(["kiosk", "register", "入口1", "--body", "测试镇人大"], env).split()[-1]
    return meeting, token
