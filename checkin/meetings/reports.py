"""The attendance sheet (签到表) of a meeting: rows, counts and announcement; XLSX and CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from sqlalchemy.orm import Session

from checkin.meetings.status import line_view, roster_lines, status
from models import utcnow

HEADERS = [
    "序号",
    "代表编号",
    "姓名",
    "单位",
    "身份",
    "状态",
    "签到时间",
    "签到方式",
    "补签原因",
    "请假原因",
    "退场时间",
]
COUNT_LABELS = [
    ("expected", "应到代表"),
    ("present", "实到"),
    ("on_leave", "请假"),
    ("absent", "缺席"),
    ("late", "迟到"),
    ("left_early", "中途退场"),
    ("required", "法定人数"),
    ("nonvoting_expected", "列席应到"),
    ("nonvoting_present", "列席实到"),
]


@dataclass(frozen=True)
class Sheet:
    title: str
    body: str
    starts_at: str
    generated_at: str
    rows: list[list[str | int]]
    counts: list[tuple[str, int]]
    rule_label: str
    announcement: str


def _time(iso: str | None) -> str:
    return iso.replace("T", " ")[:19] if iso else ""


def build_sheet(session: Session, meeting_id: int, *, zone: str = "Asia/Shanghai") -> Sheet:
    """Every roster entry with status, time and method, plus the counts and announcement."""
    tz = ZoneInfo(zone)
    st = status(session, meeting_id, zone=tz)
    rows: list[list[str | int]] = []
    for i, ln in enumerate(roster_lines(session, meeting_id), start=1):
        v = line_view(ln, tz)
        rows.append(
            [
                i,
                v.number,
                v.name,
                v.unit,
                v.role_label,
                v.state_label,
                _time(v.checked_in_at),
                v.method_label,
                v.reason,
                v.leave_reason,
                _time(v.left_at),
            ]
        )
    return Sheet(
        title=st.meeting.title,
        body=st.meeting.body,
        starts_at=_time(st.meeting.starts_at),
        generated_at=_time(utcnow().astimezone(tz).isoformat(timespec="seconds")),
        rows=rows,
        counts=[(label, int(getattr(st, key))) for key, label in COUNT_LABELS],
        rule_label=st.rule_label,
        announcement=st.announcement,
    )


def _footer(sheet: Sheet) -> list[list[str | int]]:
    counts: list[list[str | int]] = [[label, value] for label, value in sheet.counts]
    return [
        [],
        *counts,
        ["法定人数规则", sheet.rule_label],
        ["宣布", sheet.announcement],
        [],
        ["制表时间", sheet.generated_at],
        ["秘书处签字", ""],
    ]


def sheet_xlsx(sheet: Sheet) -> bytes:
    """The sheet as an .xlsx workbook: title row, header row, one row per roster entry."""
    wb = Workbook()
    ws = wb.active
    ws.title = "签到表"
    ws.append([f"{sheet.body} {sheet.title} 签到表（会议时间 {sheet.starts_at}）"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(HEADERS)
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center")
    for row in sheet.rows:
        ws.append(row)
    for row in _footer(sheet):
        ws.append(row)
    for col, width in zip("ABCDEFGHIJK", (6, 12, 10, 28, 8, 10, 20, 12, 24, 20, 20), strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A3"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def sheet_csv(sheet: Sheet) -> str:
    """The sheet as CSV text: header row, roster rows, then counts and the announcement."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADERS)
    writer.writerows(sheet.rows)
    writer.writerows(_footer(sheet))
    return out.getvalue()
