"""Benchmark: the term report for a county (1,300 deputies × 30 meetings) renders in < 2 s.

Builds the data at run time (synthetic deputies in 17 代表团, 6 sessions × 5 plenaries, every
deputy on every roster, ~92 % checked in with late, make-up, departure, leave and absence mixed
in, some who miss whole sessions, by-elections and retirements; no face data), then times,
each the median of `repeat` runs:

- baseline: the plain query of the rows (roster entries joined with their check-ins);
- build: the report as data (`history.term_report`: five queries and the rules);
- page: GET of the report page through the app's own route (matrix + inlined SVG plot);
- xlsx: GET of the report's workbook (matrix, statistics, flags, PNG plot).

Wall-clock times are the measure; CPU seconds and the load average are printed beside them,
because on a shared machine other work stretches the first and not the second.

The page and the workbook are fetched by a callable the caller hands in (the `baodao bench
term` command passes the real app, in-process), so this module stays below the web floor.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from checkin.meetings import history
from checkin.meetings.terms import chinese_numeral
from models import (
    Attendance,
    Body,
    CheckinMethod,
    CongressSession,
    Deputy,
    Meeting,
    MeetingState,
    RosterEntry,
    RosterRole,
    Term,
)
from models.db import make_session_factory, session_scope

GOAL_S = 2.0
TOWNSHIPS = 17


def seed(engine: Engine, *, deputies: int = 1300, meetings: int = 30, sessions: int = 6) -> int:
    """A county term with `deputies` × `meetings` of attendance; returns the term's id."""
    rng = random.Random(16)
    per_session = max(1, meetings // sessions)
    with session_scope(make_session_factory(engine)) as s:
        body = Body(name="某县第十七届人民代表大会")
        s.add(body)
        s.flush()
        term = Term(body_id=body.id, number=17, title="第十七届", starts_on=date(2022, 1, 1))
        s.add(term)
        s.flush()
        start = datetime(2022, 1, 10, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
        s.execute(
            insert(Deputy),
            [
                {
                    "number": f"C{i:04}",
                    "name": f"代表{i:04}",
                    "unit": f"第{i % 40 + 1}单位",
                    "delegation": f"第{i % TOWNSHIPS + 1:02}代表团",
                    "body_id": body.id,
                    "face_subject": f"bench{i:026}",
                    # a few by-elections (mandate from the third session) and retirements
                    "elected_at": start + timedelta(days=400) if i % 97 == 5 else None,
                    "retired_at": start + timedelta(days=700) if i % 89 == 7 else None,
                }
                for i in range(deputies)
            ],
        )
        ids = list(s.scalars(select(Deputy.id).where(Deputy.body_id == body.id)))
        made = 0
        for n in range(sessions):
            day = start + timedelta(days=182 * n)
            cs = CongressSession(
                term_id=term.id,
                number=n + 1,
                title=f"第{chinese_numeral(n + 1)}次会议",
                starts_on=(day + timedelta(hours=8)).date(),
                ends_on=(day + timedelta(days=per_session, hours=8)).date(),
            )
            s.add(cs)
            s.flush()
            count = per_session if n < sessions - 1 else meetings - made
            for p in range(count):
                t = day + timedelta(days=p)
                m = Meeting(
                    body_id=body.id,
                    title=f"第{chinese_numeral(p + 1)}次全体会议",
                    starts_at=t,
                    window_opens_at=t - timedelta(hours=1),
                    window_closes_at=t + timedelta(hours=3),
                    state=MeetingState.CLOSED,
                    congress_session_id=cs.id,
                )
                s.add(m)
                s.flush()
                made += 1
                roster, checkins = [], []
                for k, d in enumerate(ids):
                    roll = rng.random()
                    # a few miss whole sessions without leave: §49 flags (1 → 提醒, 2 → 风险)
                    if (k % 157 == 11 and n in (1, 3)) or (k % 131 == 9 and n == 2):
                        roll = 0.99
                    leave = 0.92 <= roll < 0.95
                    roster.append(
                        {
                            "meeting_id": m.id,
                            "deputy_id": d,
                            "role": RosterRole.DEPUTY,
                            "on_leave": leave,
                            "leave_reason": "公务" if leave else None,
                            "left_at": t + timedelta(hours=2) if roll < 0.01 else None,
                        }
                    )
                    if roll < 0.92:
                        late = 0.85 <= roll < 0.88
                        manual = 0.88 <= roll < 0.9
                        checkins.append(
                            {
                                "meeting_id": m.id,
                                "deputy_id": d,
                                "checked_in_at": t + timedelta(minutes=12 if late else -8),
                                "method": CheckinMethod.MANUAL if manual else CheckinMethod.FACE,
                                "reason": "人脸未识别" if manual else None,
                                "late": late,
                            }
                        )
                s.execute(insert(RosterEntry), roster)
                s.execute(insert(Attendance), checkins)
        return term.id


def baseline_rows(session: Session, term_id: int) -> int:
    """The plain query of the report's rows: roster entries with their check-ins."""
    meeting_ids = select(Meeting.id).where(
        Meeting.congress_session_id.in_(
            select(CongressSession.id).where(CongressSession.term_id == term_id)
        )
    )
    rows = session.execute(
        select(
            RosterEntry.meeting_id,
            RosterEntry.deputy_id,
            RosterEntry.on_leave,
            RosterEntry.left_at,
            Attendance.checked_in_at,
            Attendance.late,
            Attendance.method,
        )
        .outerjoin(
            Attendance,
            (Attendance.meeting_id == RosterEntry.meeting_id)
            & (Attendance.deputy_id == RosterEntry.deputy_id),
        )
        .where(RosterEntry.meeting_id.in_(meeting_ids))
    ).all()
    return len(rows)


def _median(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Median wall-clock and CPU seconds of `repeat` calls (CPU: this process, all threads,
    so a busy machine shows in the first and not the second), and the last result."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), result


def run(
    engine: Engine,
    term_id: int,
    *,
    fetch: Callable[[str], bytes],
    zone: str = "Asia/Shanghai",
    repeat: int = 5,
) -> dict[str, Any]:
    """Time the baseline, the report data, the page and the workbook (medians, seconds)."""
    sessions = make_session_factory(engine)
    fetch(f"/terms/{term_id}/report")  # warm: templates compiled, matplotlib fonts loaded
    load_before = os.getloadavg()[0]
    with sessions() as s:
        baseline_s, baseline_cpu, rows = _median(lambda: baseline_rows(s, term_id), repeat)
    with sessions() as s:
        build_s, build_cpu, report = _median(
            lambda: history.term_report(s, term_id, zone=zone), repeat
        )
    page_s, page_cpu, page = _median(lambda: fetch(f"/terms/{term_id}/report"), repeat)
    xlsx_s, xlsx_cpu, book = _median(lambda: fetch(f"/api/terms/{term_id}/report.xlsx"), repeat)
    result: dict[str, Any] = {
        "deputies": len(report.rows),
        "meetings": len(report.meetings),
        "rows": rows,
        "flags": len(report.flags),
        "repeat": repeat,
        "baseline_query_s": round(baseline_s, 4),
        "build_s": round(build_s, 4),
        "page_s": round(page_s, 4),
        "page_bytes": len(page),
        "xlsx_s": round(xlsx_s, 4),
        "xlsx_bytes": len(book),
        "cpu_s": {
            "baseline_query": round(baseline_cpu, 4),
            "build": round(build_cpu, 4),
            "page": round(page_cpu, 4),
            "xlsx": round(xlsx_cpu, 4),
        },
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cores": os.cpu_count(),
        "goal_s": GOAL_S,
        "page_meets_goal": page_s < GOAL_S,
    }
    for key in ("build", "page", "xlsx"):
        result[f"{key}_vs_baseline"] = round(result[f"{key}_s"] / baseline_s, 1)
    return result
