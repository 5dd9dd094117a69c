"""The attendance sheet through the CLI: XLSX rows checked against the database, CSV, status."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from checkin.meetings import reports
from models import Attendance, Body, Deputy, RosterEntry
from models.db import make_engine, make_session_factory, session_scope
from tests.server import baodao, baodao_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = baodao_env(tmp_path / "var")
    baodao(["db", "upgrade"], env)
    engine = make_engine(env["BAODAO_DATABASE_URL"])
    with session_scope(make_session_factory(engine)) as s:
        body = Body(name="某镇人大")
        s.add(body)
        s.flush()
        for i in range(5):
            s.add(Deputy(number=f"D{i:03}", name=f"代表{i}", unit=f"第{i}村", body_id=body.id))
        s.add(Deputy(number="G001", name="列席甲", unit="县人大常委会"))
    engine.dispose()
    return env


def test_cli_meeting_flow_and_xlsx_sheet_match_the_database(
    env: dict[str, str], tmp_path: Path
) -> None:
    created = json.loads(
        baodao(
            [
                "meeting",
                "create",
                "--body",
                "某镇人大",
                "--title",
                "第一次会议",
                "--starts-at",
                "2026-12-01T09:00",
                "--json",
            ],
            env,
        )
    )
    mid = str(created["id"])
    assert created["expected"] == 5 and created["required"] == 4
    baodao(["meeting", "roster", "add", mid, "G001", "--role", "nonvoting"], env)
    baodao(["meeting", "open", mid], env)
    for n in ("D000", "D001", "D002", "G001"):
        baodao(["meeting", "checkin", mid, n, "--reason", "人脸未识别"], env)
    baodao(["meeting", "leave", mid, "D004", "--reason", "出差"], env)
    baodao(["meeting", "depart", mid, "D002"], env)
    baodao(["meeting", "undo", mid, "D001", "--reason", "误签"], env)
    status = json.loads(baodao(["meeting", "status", mid, "--json"], env))
    keys = {
        "expected",
        "present",
        "on_leave",
        "absent",
        "late",
        "left_early",
        "nonvoting_expected",
        "nonvoting_present",
        "rule",
        "required",
        "quorum_met",
        "announcement",
    }
    assert keys <= status.keys()
    assert (status["present"], status["on_leave"], status["absent"], status["left_early"]) == (
        1,
        1,
        3,
        1,
    )
    assert (status["nonvoting_expected"], status["nonvoting_present"]) == (1, 1)
    assert (
        status["announcement"] == "本次会议应到代表5名，实到1名，请假1名，缺席3名，不符合法定人数。"
    )

    out = tmp_path / "sheet.xlsx"
    baodao(["report", "sheet", mid, "--out", str(out)], env)
    ws = load_workbook(out).active
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    assert rows[1] == reports.HEADERS
    body_rows = {r[1]: r for r in rows[2:] if isinstance(r[0], int)}
    engine = make_engine(env["BAODAO_DATABASE_URL"])
    with make_session_factory(engine)() as s:
        entries = s.execute(
            select(Deputy, RosterEntry, Attendance)
            .join(RosterEntry, RosterEntry.deputy_id == Deputy.id)
            .outerjoin(Attendance, Attendance.deputy_id == Deputy.id)
            .where(RosterEntry.meeting_id == int(mid))
        ).all()
    engine.dispose()
    assert set(body_rows) == {d.number for d, _, _ in entries}
    for d, entry, att in entries:
        row = body_rows[d.number]
        assert row[2] == d.name and row[3] == d.unit
        active = att is not None and att.undone_at is None
        expected_state = (
            "中途退场"
            if active and entry.left_at
            else "已到"
            if active
            else "请假"
            if entry.on_leave
            else "缺席"
            if entry.role.value == "deputy"
            else "未到"
        )
        assert row[5] == expected_state, d.number
        assert (row[7] == "手动补签到") == active
        assert (row[8] == "人脸未识别") == active
        assert (row[9] == "出差") == (entry.on_leave and not active)
        if active:  # a real date/time cell: the local time (Asia/Shanghai) of the stored UTC
            local = att.checked_in_at.astimezone(ZoneInfo("Asia/Shanghai"))
            assert row[6] == local.replace(tzinfo=None, microsecond=0)
    footer = {r[0]: r[1] for r in rows if r and isinstance(r[0], str) and r[1] is not None}
    assert footer["应到代表"] == 5 and footer["实到"] == 1 and footer["缺席"] == 3
    assert footer["宣布"] == status["announcement"]

    csv_out = tmp_path / "sheet.csv"
    baodao(["report", "sheet", mid, "--out", str(csv_out)], env)
    text = csv_out.read_bytes().decode("utf-8-sig")
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == reports.HEADERS and len([r for r in parsed if r and r[0].isdigit()]) == 6


def test_cli_errors_are_one_clear_line(env: dict[str, str]) -> None:
    import subprocess

    from tests.server import BAODAO

    r = subprocess.run(
        [BAODAO, "meeting", "status", "42"], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and r.stderr.strip() == "baodao: 没有这个会议 (no meeting 42)"
