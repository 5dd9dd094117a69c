"""Run `baodao kiosk run` as a real process and read its headless JSON lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BAODAO = [sys.executable, "-c", "from checkin.cli import main; main()"]


class KioskProcess:
    """A kiosk subprocess; its stdout events are collected in `events`."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = [*BAODAO, "kiosk", "run", *args]
        self.events: list[dict[str, Any]] = []
        self.result: tuple[int, str] | None = None
        self.stray: list[str] = []  # stdout lines that are not JSON (must stay empty)
        self._cond = threading.Condition()
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                self.stray.append(line)
                continue
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()

    def of(self, name: str) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.events if e["event"] == name]

    def wait_for(self, pred: Callable[[list[dict[str, Any]]], bool], timeout: float = 60) -> None:
        """Wait until pred(events) holds; fails with the events so far otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred(self.events):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    break
                self._cond.wait(min(left, 0.2))
            if not pred(self.events):
                raise AssertionError(
                    f"condition not met; exit={self.proc.poll()} events={self.events} "
                    f"stderr={self._stderr_now()}"
                )

    def _stderr_now(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return "(running)"
        return self.proc.stderr.read()

    def wait(self, timeout: float = 60) -> tuple[int, str]:
        """Wait for exit; returns (exit code, stderr)."""
        if self.result is not None:
            return self.result
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"kiosk did not exit; events={self.events}") from None
        self._reader.join(5)
        assert self.proc.stderr is not None and self.proc.stdout is not None
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        self.proc.stdout.close()
        self.result = (code, err)
        return code, err

    def kill(self) -> None:
        """Hard kill (SIGKILL), as a power cut would."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait(10)


def face_folder(faces_dir: Path, dest: Path, names: list[str]) -> Path:
    """A folder of symlinks to fixture photos (no copies of face images)."""
    dest.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        src = faces_dir / "fixtures" / "single" / name
        (dest / f"{i:03d}{src.suffix}").symlink_to(src)
    return dest
