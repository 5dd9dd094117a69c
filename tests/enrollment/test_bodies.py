"""Roster import into bodies: the 所属人大/代表团 column, `--body`, unknown bodies as per-row
errors with nothing of the row written, scope limits, and meeting rosters from membership."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from checkin.accounts.scope import Scope, descendants
from checkin.audit import Actor
from checkin.meetings import service as meetings
from checkin.runtime import Runtime
from enrollment import pipeline, service
from enrollment.pipeline import EngineParams, PhotoJob, PhotoOutcome
from enrollment.roster import RosterError, read_roster
from models import AuditEvent, Body, Deputy, FaceTemplate, RosterEntry
from models.db import session_scope
from tests.enrollment.conftest import near, unit, write_csv

ACTOR = Actor.cli()
ALL = Scope.everything()
HEADER = ["代表编号", "姓名", "所属人大/代表团"]
ROWS = [
    ["1", "甲一", "甲镇人大"],
    ["2", "乙一", "乙镇人大"],
    ["3", "丙一", "不存在的镇"],
    ["4", "甲二", ""],
]


@pytest.fixture
def world(rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """County → 甲镇, 乙镇; photos N.jpg for every row; a fake face engine (in-process)."""
    with session_scope(rt.sessions) as s:
        county = meetings.create_body(s, name="县人大", actor=ACTOR, scope=ALL)
        a = meetings.create_body(s, name="甲镇人大", actor=ACTOR, scope=ALL, parent_id=county.id)
        b = meetings.create_body(s, name="乙镇人大", actor=ACTOR, scope=ALL, parent_id=county.id)
        ids = {"county": county.id, "a": a.id, "b": b.id}
    photos = tmp_path / "photos"
    photos.mkdir()
    for n in ("1", "2", "3", "4"):
        (photos / f"{n}.jpg").write_bytes(f"photo {n}".encode())

    def fake(job: PhotoJob, params: EngineParams) -> PhotoOutcome:
        assert job.path is not None
        sha = pipeline.sha256_file(job.path)
        enc = near(unit(int(job.key)), 0.05, 7)
        return PhotoOutcome(job.key, job.label, sha, True, encoding=enc, quality=1.0)

    monkeypatch.setattr(pipeline, "process_photo", fake)
    return ids


def _xlsx(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for r in rows:
        sheet.append([v or None for v in r])
    book.save(path)
    return path


def _import(rt: Runtime, roster: Path, photos: Path, **kw: object) -> service.ImportReport:
    return service.import_roster(
        rt.sessions,
        cipher=rt.cipher,
        settings=rt.settings,
        rows=read_roster(roster),
        photos_dir=photos,
        workers=1,
        actor=ACTOR,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_body_column_puts_each_deputy_in_its_body(
    rt: Runtime, world: dict[str, int], tmp_path: Path, fmt: str
) -> None:
    if fmt == "csv":
        roster = write_csv(tmp_path / "r.csv", HEADER, ROWS)
    else:
        roster = _xlsx(tmp_path / "r.xlsx", HEADER, ROWS)
    report = _import(rt, roster, tmp_path / "photos", scope=ALL, default_body=world["a"])
    by = {d.number: d for d in report.deputies}
    assert [d.number for d in report.deputies] == ["1", "2", "3", "4"]  # roster order
    assert by["3"].status == "failed"
    (bad,) = by["3"].photos
    assert bad.reason == "unknown_body"
    assert "第 4 行" in (bad.message or "") and "不存在的镇" in (bad.message or "")
    with session_scope(rt.sessions) as s:
        placed = dict(s.execute(select(Deputy.number, Deputy.body_id)).all())
        assert placed == {"1": world["a"], "2": world["b"], "4": world["a"]}  # 4: --body
        # nothing of row 3: no deputy, no template, no audit event naming it
        assert s.scalar(select(func.count()).select_from(FaceTemplate)) == 3
        details = [str(e.detail) for e in s.scalars(select(AuditEvent))]
        assert not any("丙一" in d for d in details)
        # a meeting's roster defaults to the body's seated deputies
        m = meetings.create_meeting(
            s,
            body_id=world["a"],
            title="第一次会议",
            starts_at=datetime(2026, 12, 1, 1, tzinfo=UTC),
            actor=ACTOR,
            scope=ALL,
        )
        on_roster = s.scalars(
            select(Deputy.number)
            .join(RosterEntry, RosterEntry.deputy_id == Deputy.id)
            .where(RosterEntry.meeting_id == m.id)
            .order_by(Deputy.number)
        ).all()
        assert on_roster == ["1", "4"]


def test_a_township_account_imports_only_into_its_township(
    rt: Runtime, world: dict[str, int], tmp_path: Path
) -> None:
    roster = write_csv(tmp_path / "r.csv", HEADER, ROWS)
    with rt.sessions() as s:
        township_a = Scope(descendants(s, [world["a"]]))
    report = _import(rt, roster, tmp_path / "photos", scope=township_a)
    by = {d.number: d for d in report.deputies}
    assert by["1"].status == "created"
    # another township's body is "unknown" to it (its existence is not told)
    assert by["2"].photos[0].reason == "unknown_body"
    assert by["3"].photos[0].reason == "unknown_body"
    assert by["4"].photos[0].reason == "body_required"  # would vanish from its own view
    with session_scope(rt.sessions) as s:
        assert s.scalars(select(Deputy.number)).all() == ["1"]
    # the number of a deputy outside the scope cannot be taken over by a re-import
    county = write_csv(
        tmp_path / "c.csv", ["代表编号", "姓名", "所属人大"], [["9", "县一", "县人大"]]
    )
    assert _import(rt, county, tmp_path / "photos", scope=ALL).deputies[0].status == "failed"
    (tmp_path / "photos" / "9.jpg").write_bytes(b"photo 9")
    assert _import(rt, county, tmp_path / "photos", scope=ALL).deputies[0].status == "created"
    again = write_csv(tmp_path / "a.csv", HEADER, [["9", "冒名", "甲镇人大"]])
    (result,) = _import(rt, again, tmp_path / "photos", scope=township_a).deputies
    assert result.photos[0].reason == "number_taken"
    with session_scope(rt.sessions) as s:
        nine = s.scalar(select(Deputy).where(Deputy.number == "9"))
        assert nine is not None and nine.name == "县一" and nine.body_id == world["county"]


def test_moving_a_deputy_needs_both_bodies_in_scope(rt: Runtime, world: dict[str, int]) -> None:
    with session_scope(rt.sessions) as s:
        s.add(Deputy(number="7", name="甲七", body_id=world["a"]))
    with session_scope(rt.sessions) as s:
        township_a = Scope(descendants(s, [world["a"]]))
        with pytest.raises(service.NotFound):
            service.move_deputy(s, number="7", body_id=world["b"], scope=township_a, actor=ACTOR)
    with session_scope(rt.sessions) as s:
        service.move_deputy(s, number="7", body_id=world["b"], scope=ALL, actor=ACTOR)
    with session_scope(rt.sessions) as s:
        d = s.scalar(select(Deputy).where(Deputy.number == "7"))
        assert d is not None and d.body_id == world["b"]
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "deputy.move")) is not None
        assert s.get(Body, world["b"]) is not None


def test_excel_merged_cells_formulas_and_missing_columns_are_named(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["代表编号", "姓名", "所属人大"])
    sheet.append(["1", "甲一", "甲镇人大"])
    sheet.append(["2", "甲二", None])
    sheet.merge_cells("C2:C3")
    book.save(tmp_path / "merged.xlsx")
    with pytest.raises(RosterError, match="合并单元格 C2:C3"):
        read_roster(tmp_path / "merged.xlsx")

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["代表编号", "姓名"])
    sheet.append(["1", "甲一"])
    sheet.append(["=A2+1", "甲二"])
    book.save(tmp_path / "formula.xlsx")
    with pytest.raises(RosterError, match="第 3 行：单元格 A3 是公式"):
        read_roster(tmp_path / "formula.xlsx")

    with pytest.raises(RosterError, match="第 1 行：表头缺少必需的列：姓名"):
        read_roster(write_csv(tmp_path / "no-name.csv", ["代表编号", "单位"], [["1", "x"]]))
    with pytest.raises(RosterError, match="第 3 行：代表编号 1 与第 2 行重复"):
        read_roster(write_csv(tmp_path / "dup.csv", ["代表编号", "姓名"], [["1", "a"], ["1", "b"]]))
