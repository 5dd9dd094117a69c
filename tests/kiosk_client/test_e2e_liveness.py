"""Liveness end to end: the REAL server process and the kiosk program playing real clips.

Persons 5, 6 and 13 of fixtures/liveness each have a genuine clip and a spoof clip. Each is
enrolled at test time from one frame of their genuine clip, then both clips are played
through the kiosk (5 frames/s, real time) to a server with the liveness check on, after 3 s
of a stranger's photo (so a slow first frame on a busy machine does not eat the clip) and
the short spoofs three times over. The
hamilton clip (a real person talking, recognisable for ~0.6 s, no blink) checks nobody in
with the check on; the kiosk is told to ask for a blink.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from kiosk_proc import KioskProcess
from sqlalchemy import select

from models import Attendance, AuditEvent
from models.db import make_engine, make_session_factory
from tests.server import Server, baodao, baodao_env

pytestmark = pytest.mark.slow

CLIPS = "fixtures/liveness"
FPS = 5.0


def _frame(clip: Path, at_s: float, out: Path) -> Path:
    cap = cv2.VideoCapture(str(clip))
    cap.set(cv2.CAP_PROP_POS_MSEC, at_s * 1000)
    ok, img = cap.read()
    cap.release()
    assert ok, clip
    cv2.imwrite(str(out), img)
    return out


def _with_lead_in(faces_dir: Path, clip: Path, out: Path, *, loops: int = 1) -> Path:
    """The clip at the kiosk's 5 frames/s after 3 s of a stranger's photo in the frame's
    corner (the server loads the meeting's gallery and warms up on those frames, as it would
    while the previous person walks off), played `loops` times. The kiosk plays it frame by
    frame (--no-realtime) at 5 frames/s, so a busy machine slows the clip down instead of
    skipping the frames that carry the blink or the turn."""
    cap = cv2.VideoCapture(str(clip))
    src = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames, i, due = [], 0, 0.0
    while True:
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


def _site(env: dict[str, str], photo: Path) -> tuple[int, str]:
    """One deputy enrolled from `photo`, on the roster of an open meeting; a kiosk token."""
    baodao(["enroll", "add", "D001", str(photo), "--name", "测试代表", "--workers", "1"], env)
    baodao(["body", "create", "测试镇人大"], env)
    starts = (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="seconds")
    out = baodao(
        ["meeting", "create", "--body", "测试镇人大", "--title", "测试会议",
         "--starts-at", starts, "--json"],
        env,
    )  # fmt: skip
    meeting = int(json.loads(out)["id"])
    baodao(["meeting", "roster", "add", str(meeting), "D001", "--role", "deputy"], env)
    baodao(["meeting", "open", str(meeting)], env)
    token = baodao(["kiosk", "register", "入口1", "--body", "测试镇人大"], env).split()[-1]
    return meeting, token


def _play(env: dict[str, str], meeting: int, token: str, clip: Path, queue: Path) -> KioskProcess:
    # The workers load the 68-point model too: on a busy 2-core machine start-up is slow.
    server = Server(env).start(timeout=240)
    try:
        k = KioskProcess(
            "--server", f"http://127.0.0.1:{server.port}", "--token", token,
            "--meeting", str(meeting), "--source", str(clip), "--headless",
            "--queue-dir", str(queue), "--retry-max", "2", "--fps", "5", "--no-realtime",
        )  # fmt: skip
        code, err = k.wait(180)
    finally:
        server.stop()
    assert code == 0, err
    return k


def _face_checkins(env: dict[str, str]) -> list[tuple[Attendance, dict[str, object]]]:
    engine = make_engine(env["BAODAO_DATABASE_URL"])
    try:
        with make_session_factory(engine)() as s:
            rows = list(s.scalars(select(Attendance)))
            events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "checkin.face")))
            return [(r, e.detail["evidence"]) for r, e in zip(rows, events, strict=True)]  # type: ignore[index]
    finally:
        engine.dispose()


# person, genuine clip, the frame to enrol (s), spoof clip, liveness mode and challenge actions,
# whether the genuine clip checks in (13 sits still for 3.7 s without blinking: it does not).
CASES = [
    ("5", "genuine/turn_head_person5.mp4", 1.0, "spoof/screen_replay_phone_person5.mp4",
     "challenge", "turn_right", True),
    ("6", "genuine/turn_head_nod_person6.mp4", 1.0, None, "challenge", "turn_left", True),
    ("13", "genuine/still_look_person13.mp4", 1.0, "spoof/photo_on_phone_screen_person13.mp4",
     "blink", "blink", False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("person", "genuine", "at_s", "spoof", "mode", "actions", "checks_in"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_genuine_and_spoof_clip_of_one_person(
    faces_dir: Path,
    tmp_path: Path,
    person: str,
    genuine: str,
    at_s: float,
    spoof: str | None,
    mode: str,
    actions: str,
    checks_in: bool,
) -> None:
    clips = faces_dir / CLIPS
    # 20 s for the action: the clip plays slower than real time when the machine is busy.
    env = baodao_env(
        tmp_path / "var",
        BAODAO_LIVENESS=mode,
        BAODAO_LIVENESS_ACTIONS=actions,
        BAODAO_LIVENESS_SECONDS="20",
    )
    meeting, token = _site(env, _frame(clips / genuine, at_s, tmp_path / f"p{person}.png"))
    if spoof is not None:  # the spoof first: the genuine check-in would make it "already"
        looped = _with_lead_in(faces_dir, clips / spoof, tmp_path / "spoof.mp4", loops=3)
        k = _play(env, meeting, token, looped, tmp_path / "q1")
        assert not k.of("checkin") and not _face_checkins(env)
        assert k.of("liveness"), "the spoof was recognised and asked for the action"
    played = _with_lead_in(faces_dir, clips / genuine, tmp_path / "genuine.mp4")
    k = _play(env, meeting, token, played, tmp_path / "q2")
    assert k.of("liveness") and k.of("liveness")[0]["action"] == actions
    if checks_in:
        [checkin] = k.of("checkin")
        [(row, evidence)] = _face_checkins(env)
        assert row.id == checkin["checkin_id"]
        proof = evidence["liveness"]
        assert isinstance(proof, dict)
        assert proof["mode"] == mode and proof["action"] == actions and proof["passed"] is True
    else:
        assert not k.of("checkin") and not _face_checkins(env)


def test_hamilton_clip_with_liveness_checks_nobody_in(faces_dir: Path, tmp_path: Path) -> None:
    env = baodao_env(tmp_path / "var")  # BAODAO_LIVENESS at its default: blink
    photo = faces_dir / "fixtures" / "single" / "lin-manuel-miranda.png"
    meeting, token = _site(env, photo)
    clip = faces_dir / "fixtures/video/short_hamilton_clip.mp4"
    k = _play(
        env, meeting, token, _with_lead_in(faces_dir, clip, tmp_path / "h.mp4"), tmp_path / "q"
    )
    assert [e["action"] for e in k.of("liveness")][:1] == ["blink"]
    assert not k.of("checkin") and not _face_checkins(env)
