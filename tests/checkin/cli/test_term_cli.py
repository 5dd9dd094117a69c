"""`baodao term|session|report term|report deputy|deputy mandate` on a real SQLite file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from checkin.cli import app
from checkin.errors import Conflict, InvalidInput, NotFound
from models import Body, Deputy
from models.db import make_engine, make_session_factory, session_scope, upgrade
from tests.server import BAODAO, baodao_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = baodao_env(tmp_path / "var")
    engine = make_engine(env["BAODAO_DATABASE_URL"])
    upgrade(engine)
    with session_scope(make_session_factory(engine)) as s:
        body = Body(name="河口镇人民代表大会")
        s.add(body)
        s.flush()
        for i in range(1, 6):
            s.add(Deputy(number=f"H{i:02}", name=f"代表{i}", body_id=body.id))
    engine.dispose()
    return env


def run(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


def fails(env: dict[str, str], *args: str) -> BaseException:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code != 0 and result.exception is not None, result.output
    return result.exception


def test_term_sessions_meetings_and_both_reports(env: dict[str, str], tmp_path: Path) -> None:
    assert run(
        env,
        "term",
        "create",
        "--body",
        "河口镇人民代表大会",
        "--number",
        "18",
        "--starts",
        "2025-01-01",
        "--ends",
        "2029-12-31",
    ).startswith("1\t河口镇第十八届人民代表大会")
    assert run(
        env,
        "session",
        "create",
        "--term",
        "1",
        "--number",
        "1",
        "--starts",
        "2025-03-10",
        "--ends",
        "2025-03-11",
    ).startswith("1\t第一次会议")
    for title, start in (
        ("第一次全体会议", "2025-03-10T09:00"),
        ("第二次全体会议", "2025-03-11T09:00"),
    ):
        run(
            env,
            "meeting",
            "create",
            "--body",
            "1",
            "--title",
            title,
            "--starts-at",
            start,
            "--session",
            "1",
        )
    run(
        env,
        "meeting",
        "create",
        "--body",
        "1",
        "--title",
        "代表小组讨论",
        "--starts-at",
        "2025-03-10T15:00",
        "--kind",
        "group",
    )
    assert "代表团/小组会议" in run(env, "session", "attach", "1", "3")
    listed = json.loads(run(env, "term", "list", "--json"))
    assert [m["id"] for m in listed[0]["sessions"][0]["meetings"]] == [1, 3, 2]
    run(env, "deputy", "mandate", "H05", "--elected-at", "2025-03-11", "--delegation", "一组")
    run(env, "deputy", "retire", "H04", "--at", "2025-03-11")
    for mid in ("1", "2", "3"):
        for number in ("H01", "H02", "H03", "H04", "H05"):
            if (mid, number) not in {("1", "H02"), ("2", "H02"), ("3", "H01")}:
                run(env, "meeting", "checkin", mid, number, "--reason", "测试补签")
    run(env, "meeting", "undo", "2", "H03", "--reason", "误签")
    run(env, "meeting", "leave", "2", "H03", "--reason", "生病")

    report = json.loads(run(env, "report", "term", "1", "--json"))
    marks = {r["number"]: "".join(c["symbol"] for c in r["cells"]) for r in report["rows"]}
    # meetings in order 1 (plenary), 3 (group), 2 (plenary); H04 retired on day 2, H05 elected
    # on day 2: neither was expected on the other day. All check-ins here are make-ups (补).
    assert marks == {
        "H01": "补缺补",
        "H02": "缺补缺",
        "H03": "补补假",
        "H04": "补补—",
        "H05": "——补",
    }
    assert [(f["number"], f["flag_label"]) for f in report["flags"]] == [("H02", "提醒")]
    sessions = {r["number"]: r["sessions"][0]["label"] for r in report["rows"]}
    assert sessions == {
        "H01": "出席",
        "H02": "未经批准缺席",
        "H03": "出席",
        "H04": "出席",
        "H05": "出席",
    }
    assert report["grouped"] and report["rows"][0]["delegation"] == "一组"

    text = run(env, "report", "term", "1", "--out", str(tmp_path / "term.xlsx"))
    assert "提醒\tH02 代表2\t第一次会议" in text
    assert load_workbook(tmp_path / "term.xlsx").sheetnames == [
        "出席矩阵",
        "会议统计",
        "资格提示",
        "出席率图",
    ]
    only_group = json.loads(run(env, "report", "term", "1", "--delegation", "一组", "--json"))
    assert [r["number"] for r in only_group["rows"]] == ["H05"]
    run(env, "report", "term", "1", "--out", str(tmp_path / "plot.svg"))
    assert (tmp_path / "plot.svg").read_text().lstrip().startswith("<?xml")

    record = json.loads(run(env, "report", "deputy", "H05", "--json"))
    assert [ln["meeting_id"] for ln in record["lines"]] == [2]
    assert record["mandate"] == "2025-03-11 补选"
    text = run(env, "report", "deputy", "H02", "--out", str(tmp_path / "h02.xlsx"))
    assert "未经批准缺席会议 1 次：提醒" in text
    assert (tmp_path / "h02.xlsx").stat().st_size > 0


def test_bad_input_is_refused_and_nothing_is_written(env: dict[str, str]) -> None:
    run(
        env,
        "term",
        "create",
        "--body",
        "1",
        "--number",
        "18",
        "--starts",
        "2025-01-01",
        "--ends",
        "2029-12-31",
    )
    cases = [
        (("term", "create", "--body", "1", "--number", "19", "--starts", "2028-01-01"), Conflict),
        (("term", "create", "--body", "1", "--number", "18", "--starts", "2031-01-01"), Conflict),
        (
            ("term", "create", "--body", "1", "--number", "19", "--starts", "2030-13-01"),
            InvalidInput,
        ),
        (("term", "create", "--body", "9", "--number", "1", "--starts", "2030-01-01"), NotFound),
        (
            ("session", "create", "--term", "1", "--number", "1", "--starts", "2024-12-31"),
            InvalidInput,
        ),
        (("session", "attach", "1", "1"), NotFound),
        (("report", "term", "7"), NotFound),
        (("report", "term", "1", "--from", "2026-02-01", "--to", "2026-01-01"), InvalidInput),
        (("report", "term", "1", "--out", "x.pdf"), InvalidInput),
        (("report", "deputy", "NOPE"), NotFound),
        (("deputy", "mandate", "H01"), InvalidInput),
        (("deputy", "mandate", "H01", "--elected-at", "yesterday"), InvalidInput),
    ]
    for args, error in cases:
        assert isinstance(fails(env, *args), error), args
    listed = json.loads(run(env, "term", "list", "--json"))
    assert len(listed) == 1 and listed[0]["sessions"] == []


def test_an_error_is_one_line_and_exit_code_2(env: dict[str, str]) -> None:
    r = subprocess.run(
        [BAODAO, "session", "create", "--term", "5", "--number", "1", "--starts", "2025-01-01"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and r.stderr.strip() == "baodao: 没有这个届次 (no term 5)"
