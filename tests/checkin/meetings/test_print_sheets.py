"""Print-ready workbooks, opened with openpyxl: A4 set-up fitted to the width, merged bold title,
borders, real date/time cells, a 代表签名 column, rows grouped by 代表团."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select
from sqlalchemy.orm import Session

from checkin.accounts.scope import Scope
from checkin.meetings import history, plots, reports, terms
from models import Deputy
from tests.checkin.meetings import township
from tests.checkin.meetings.township import AS_OF, CLERK, ZONE, Township

DELEGATIONS = {"T001": "北片代表团", "T002": "北片代表团", "T003": "南片代表团"}


@pytest.fixture
def town(session: Session) -> Township:
    t = township.build(session)
    for number, delegation in DELEGATIONS.items():
        d = session.scalar(select(Deputy).where(Deputy.number == number))
        assert d is not None
        terms.update_mandate(session, deputy=d, delegation=delegation, actor=CLERK)
    session.commit()
    return t


def open_book(data: bytes) -> Any:
    return load_workbook(io.BytesIO(data))


def assert_print_ready(ws: Worksheet, *, landscape: bool, title_cols: int) -> None:
    assert ws.page_setup.paperSize == 9  # A4
    assert ws.page_setup.orientation == ("landscape" if landscape else "portrait")
    assert ws.sheet_properties.pageSetUpPr.fitToPage is True
    assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0)
    title = next(r for r in ws.merged_cells.ranges if r.min_row == 1)
    assert (title.min_col, title.max_col) == (1, title_cols)
    assert ws["A1"].font.bold and ws["A1"].value


def assert_boxed(ws: Worksheet, first_row: int, last_row: int, ncols: int) -> None:
    """Every cell has thin borders; inside a merged range, the range's outline."""
    ranges = {
        (row, col): r
        for r in ws.merged_cells.ranges
        for row in range(r.min_row, r.max_row + 1)
        for col in range(r.min_col, r.max_col + 1)
    }
    for row in ws.iter_rows(min_row=first_row, max_row=last_row, max_col=ncols):
        for c in row:
            r = ranges.get((c.row, c.column))
            b = c.border
            sides = [
                b.left if r is None or c.column == r.min_col else None,
                b.right if r is None or c.column == r.max_col else None,
                b.top if r is None or c.row == r.min_row else None,
                b.bottom if r is None or c.row == r.max_row else None,
            ]
            assert all(s.style == "thin" for s in sides if s is not None), c.coordinate


def test_meeting_sheet_is_print_ready_and_grouped(session: Session, town: Township) -> None:
    sheet = reports.build_sheet(session, town.meetings["1-2"], zone=ZONE, scope=Scope.everything())
    ws = open_book(reports.sheet_xlsx(sheet)).active
    n = len(reports.HEADERS)
    assert_print_ready(ws, landscape=True, title_cols=n)
    assert ws.print_title_rows == "$2:$2"
    headers = [c.value for c in ws[2]]
    assert headers == reports.HEADERS and headers[-1] == "代表签名"
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    last = 2 + next(i for i, r in enumerate(rows) if r[0] is None and r[1] is None)
    assert_boxed(ws, 2, last, n)
    # group rows: a merged, bold line per 代表团, its deputies right below
    groups = [(r.min_row, ws.cell(row=r.min_row, column=1).value) for r in ws.merged_cells.ranges]
    labels = [text for row, text in sorted(groups) if row > 2]
    assert labels == ["北片代表团（2 人）", "南片代表团（1 人）", "未分代表团（39 人）"]
    by_number = {r[1]: r for r in rows if isinstance(r[0], int)}
    assert len(by_number) == 42
    order = [r[1] for r in rows if isinstance(r[0], int)]
    assert order[:3] == ["T001", "T002", "T003"] and order[3] == "T004"
    # times are real date/time cells, in local time
    t003 = next(c for c in ws["B"] if c.value == "T003").row
    checked = ws.cell(row=t003, column=7)
    assert isinstance(checked.value, datetime) and checked.is_date
    assert checked.value == datetime(2025, 3, 10, 14, 50) and "hh:mm" in checked.number_format
    t006 = next(c for c in ws["B"] if c.value == "T006").row
    left = ws.cell(row=t006, column=11)
    assert left.value == datetime(2025, 3, 10, 16, 0) and left.is_date
    assert all(ws.cell(row=t, column=n).value is None for t in (t003, t006))  # room to sign
    csv_text = reports.sheet_csv(sheet)
    assert "北片代表团（2 人）" in csv_text and "2025-03-10 14:50:00" in csv_text


def test_term_report_workbook(session: Session, town: Township) -> None:
    report = history.term_report(session, town.term_id, zone=ZONE, as_of=AS_OF)
    assert report.grouped
    book = open_book(
        reports.term_report_xlsx(report, zone=ZONE, plot_png=plots.attendance_plot(report))
    )
    assert book.sheetnames == ["出席矩阵", "会议统计", "资格提示", "出席率图"]
    ws = book["出席矩阵"]
    ncols = 4 + 6 + 3 + len(reports.TOTALS) + len(reports.TAIL)
    assert_print_ready(ws, landscape=True, title_cols=ncols)
    assert ws.cell(row=3, column=ncols).value == "代表签名"
    assert [ws.cell(row=3, column=c).value for c in (5, 8, 11)] == [
        "第一次会议",
        "第二次会议",
        "第三次会议",
    ]
    start = ws.cell(row=5, column=5)
    assert start.value == datetime(2025, 3, 10, 9, 0) and start.is_date
    assert_boxed(ws, 3, ws.max_row, ncols)
    assert (
        ws.cell(row=6, column=1).value == "北片代表团（2 人）" and ws.cell(row=6, column=1).font.b
    )
    rows = {r[1]: r for r in ws.iter_rows(min_row=6, values_only=True) if isinstance(r[0], int)}
    assert len(rows) == 43
    assert rows["T002"][4:13] == ("缺", "缺", "缺", "缺", "缺", "缺", "✓", "✓", "出")
    rate = ws.cell(row=next(c.row for c in ws["B"] if c.value == "T002"), column=13 + 8)
    assert rate.value == pytest.approx(2 / 6) and rate.number_format == "0.0%"

    stats = book["会议统计"]
    assert_print_ready(stats, landscape=True, title_cols=12)
    assert stats.cell(row=3, column=4).is_date and stats.cell(row=3, column=12).value == (
        pytest.approx(38 / 42)
    )
    flags = book["资格提示"]
    assert_print_ready(flags, landscape=False, title_cols=7)
    assert [c.value for c in flags[4]][1:6] == ["T002", "代表02", "北片代表团", "资格终止风险",
                                                 "第一次会议、第二次会议"]  # fmt: skip
    assert len(book["出席率图"]._images) == 1


def test_deputy_record_workbook(session: Session, town: Township) -> None:
    record = history.deputy_record(session, "T006", zone=ZONE, as_of=AS_OF)
    ws = open_book(reports.deputy_record_xlsx(record, zone=ZONE)).active
    n = len(reports.RECORD_HEADERS)
    assert_print_ready(ws, landscape=False, title_cols=n)
    head = next(c.row for c in ws["A"] if c.value == "序号")
    assert [c.value for c in ws[head]][:n] == reports.RECORD_HEADERS
    assert_boxed(ws, head, head + len(record.lines), n)
    manual, left = ws[head + 1], ws[head + 2]
    assert manual[5].value == "手动补签" and manual[8].value == "戴口罩未识别"
    assert manual[6].value == datetime(2025, 3, 10, 8, 55) and manual[6].is_date
    assert left[5].value == "中途退场" and left[10].value == datetime(2025, 3, 10, 16, 0)
    assert any(c.value == "代表签名" for c in ws["A"])
