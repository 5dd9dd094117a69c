"""Liveness end to end: real clips played through the kiosk program to a real server.

Helpers for test_e2e_liveness_*.py: a frame of a clip to enrol, a clip at the kiosk's 5
frames/s after a lead-in, the site (deputies, meeting, kiosk token), one kiosk run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
from kiosk_proc import KioskProcess
from sqlalchemy import select

from models import Attendance, CheckinMethod
from models.db import make_engine, make_session_factory
from tests.server import Server

CLIPS = "fixtures/liveness"
FPS = 5.0


def frame_at(clip: Path, at_s: float, out: Path) -> Path:
    cap = cv2.VideoCapture(str(clip))
    cap.set(cv2.CAP_PROP_POS_MSEC, at_s * 1000)
    ok, img = cap.read()
    cap.release()
    assert ok, clip
    cv2.imwrite(str(out), img)
    return out


def with_lead_in(
    faces_dir: Path, clip: Path, out: Path, *, loops: int = 1, seconds: float = 60.0
) -> Path:
    """The clip's first `seconds` at the kiosk's 5 frames/s after 3 s of a stranger's photo in
    the frame's corner (the server loads the meeting's gallery and warms up on those frames,
    as it would while the previous person walks off), played `loops` times. The kiosk plays
    it frame by frame (--no-realtime: each frame once the last is answered, stamped with the
    clip's own clock), so a busy machine slows the clip down instead of skipping the frames
    that carry the blink or the turn."""
    cap = cv2.VideoCapture(str(clip))
    src = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames, i, due = [], 0, 0.0
    while i / src < seconds:
        ok, img = cap.read()
        if not ok:
            break
        if i / src + 0.5 / src >= due:
            frames.append(img)
            due += 1 / FPS
        i += 1
    cap.release()
    fps = FPS
    h, w = frames[0].shape[:2]
    stranger = cv2.imread(str(faces_dir / "dev" / "Colin_Powell" / "1.jpg"))
    side = min(h, w) // 3
    lead = np.full_like(frames[0], 128)
    lead[:side, :side] = cv2.resize(stranger, (side, side))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for img in [lead] * round(3 * fps) + frames * loops:
        writer.write(img)
    writer.release()
    return out


def play(server: Server, meeting: int, token: str, clip: Path, queue: Path) -> KioskProcess:
    k = KioskProcess(
        "--server", server.url, "--token", token, "--meeting", str(meeting),
        "--source", str(clip), "--headless", "--queue-dir", str(queue), "--retry-max", "2",
        "--fps", "5", "--no-realtime",
    )  # fmt: skip
    code, err = k.wait(180)
    assert code == 0, err
    return k


def face_checkins(env: dict[str, str]) -> dict[str, tuple[int, dict[str, Any]]]:
    """Face check-ins by 代表编号: the row's id and the evidence stored with it."""
    engine = make_engine(env["BAODAO_DATABASE_URL"])
    try:
        with make_session_factory(engine)() as s:
            rows = s.scalars(select(Attendance).where(Attendance.method == CheckinMethod.FACE))
            return {r.deputy.number: (r.id, r.evidence or {}) for r in rows}
    finally:
        engine.dispose()


def start_server(env: dict[str, str], **extra: str) -> Server:
    # The workers load the 68-point model too: on a busy 2-core machine start-up is slow.
    return Server(env | extra).start(timeout=240)
