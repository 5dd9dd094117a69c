"""County topology, short form: two `baodao serve` processes on PostgreSQL with Redis, two
kiosk programs that know both, a kill -9 of one process mid-stream. The attendance is exactly
the deputies shown (none lost, none twice), the kiosk on the dead process is served by the
other within 5 s, and the dead process's face workers are gone."""

from __future__ import annotations

import json
import os
import random
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from checkin.bench.county import alive, children_of, recognisable, seed, stream
from models import Attendance
from tests.kiosk_client.kiosk_proc import KioskProcess
from tests.server import Server, baodao_env

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]
MODEL = "sface"


def _empty(engine: Engine) -> None:
    with engine.begin() as conn:
        tables = [
            t
            for t in conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname='public'")
            ).scalars()
            if t != "alembic_version"
        ]
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


def _folder(frames: list[tuple[int, bytes]], folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i, (_, jpeg) in enumerate(frames):
        (folder / f"{i:05}.jpg").write_bytes(jpeg)
    return folder


def test_two_processes_on_postgres_a_kill_9_loses_and_doubles_nobody(
    postgres_engine: Engine, redis_url: str, faces_dir: Path, tmp_path: Path
) -> None:
    shown = recognisable(faces_dir, MODEL, limit=12)[:6]
    assert len(shown) == 6
    _empty(postgres_engine)
    url = postgres_engine.url.render_as_string(hide_password=False)
    seeded = seed(
        url,
        shown,
        MODEL,
        deputies=40,
        meetings=[(40, 2)],
        shown_per_meeting=[list(range(6))],
        rng=random.Random(18),
    )
    [meeting] = seeded.meetings
    env = baodao_env(
        tmp_path / "var",
        BAODAO_DATABASE_URL=url,
        BAODAO_SECRET_KEY="county-bench-secret-0123456789",
        BAODAO_REDIS_URL=redis_url,
        BAODAO_REDIS_PREFIX=f"test-county-{os.getpid()}-{tmp_path.name}",
        BAODAO_FACE_MODEL=MODEL,
        BAODAO_LIVENESS="off",  # frames made from still photos; liveness has its own tests
    )
    with Server(env) as a, Server(env) as b:
        kiosks = []
        for k, servers in enumerate(((a, b), (b, a))):
            frames = stream([(i, shown[i]) for i in range(3 * k, 3 * k + 3)], dwell=15, gap=5)
            folder = _folder(frames, tmp_path / f"frames-{k}")
            kiosks.append(
                KioskProcess(
                    "--server",
                    ",".join(s.url for s in servers),
                    "--token",
                    seeded.tokens[k][1],
                    "--meeting",
                    str(meeting),
                    "--source",
                    str(folder),
                    "--headless",
                    "--fps",
                    "5",
                    "--queue-dir",
                    str(tmp_path / f"q{k}"),
                    "--retry-max",
                    "30",
                    "--buffer-rate",
                    "5",
                )  # fmt: skip
            )
        try:
            # mid-stream: the first deputy of kiosk 0 is checked in, the others not yet; the
            # process kiosk 0 is connected to (its first URL, unless that was slow to answer)
            # is killed
            kiosks[0].wait_for(lambda ev: any(e["event"] == "checkin" for e in ev), 120)
            on = kiosks[0].of("connected")[-1]["server"]
            victim, survivor = (a, b) if on.startswith(a.ws_url) else (b, a)
            assert victim.proc is not None
            workers = children_of(victim.proc.pid)
            assert workers, "serve has face workers"
            victim.stop(kill=True)  # SIGKILL
            killed_at = time.time()
            codes = [k.wait(300) for k in kiosks]
        finally:
            for k in kiosks:
                k.kill()
        time.sleep(2.0)
        assert [p for p in workers if alive(p)] == []  # no orphan face workers
    for code, err in codes:
        assert code == 0, err
    (tmp_path / "events.json").write_text(json.dumps([k.events for k in kiosks], indent=1))
    connected = kiosks[0].of("connected")
    assert len(connected) == 2, kiosks[0].events
    again = connected[1]
    assert again["server"].startswith(survivor.ws_url)
    reconnect = datetime.fromisoformat(again["at"]).timestamp()
    assert reconnect - killed_at <= 5.0
    with postgres_engine.connect() as conn:
        rows = conn.execute(
            select(Attendance.deputy_id, func.count())
            .where(Attendance.meeting_id == meeting, Attendance.undone_at.is_(None))
            .group_by(Attendance.deputy_id)
        ).all()
    counted = dict(rows)
    assert set(counted) == {seeded.shown_ids[i] for i in range(6)}  # nobody lost, nobody else
    assert set(counted.values()) == {1}  # nobody twice
