"""Reports as files: the attendance sheet (签到表) of a meeting (XLSX, CSV), the term matrix
report and a deputy's 出席记录 (XLSX). Every workbook is print-ready: A4 fitted to the width,
merged bold title, borders, times as real Excel date/time cells, a 代表签名 column, rows grouped
by 代表团 (`Deputy.delegation`) when the roster has delegations."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.drawing.image import Image
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.orm import Session

from checkin.accounts.scope import Scope
from checkin.meetings import xlsx
from checkin.meetings.history import (
    Counts,
    DeputyRecord,
    TermReport,
    by_delegation,
    meeting_columns_by_session,
)
from checkin.meetings.outcomes import MARK_LABELS, MARK_SYMBOLS, Mark
from checkin.meetings.service import get_meeting
from checkin.meetings.status import RosterLine, line_view, roster_lines, status
from models import RosterRole, utcnow

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
    "代表签名",
]
WIDTHS = (6, 12, 10, 28, 8, 10, 20, 12, 24, 20, 20, 16)
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
GROUP_OF_ROLE = {RosterRole.NONVOTING: "列席人员", RosterRole.STAFF: "工作人员"}
LEGEND = "　".join(
    f"{MARK_SYMBOLS[m]} {MARK_LABELS[m]}"
    for m in (Mark.PRESENT, Mark.LATE, Mark.MANUAL, Mark.LEFT, Mark.LEAVE, Mark.ABSENT, Mark.NONE)
)
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

Value = str | int | float | date | datetime | None


def cell_text(value: object) -> str:
    """A sheet value as text (HTML, CSV): times as 2026-12-01 08:52:00, None as ""."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


# --- the attendance sheet of one meeting ---------------------------------------------


@dataclass(frozen=True)
class Sheet:
    title: str
    body: str
    starts_at: str
    generated_at: str
    rows: list[list[Value]]  # times are local datetimes
    groups: list[str]  # the group (代表团, 列席人员, 工作人员) of each row; "" when ungrouped
    counts: list[tuple[str, int]]
    rule_label: str
    announcement: str

    @property
    def grouped(self) -> bool:
        return any(self.groups)

    def blocks(self) -> Iterator[tuple[str, list[list[Value]]]]:
        """Consecutive rows of one group, with the group's name."""
        for group, pairs in groupby(zip(self.groups, self.rows, strict=True), key=lambda p: p[0]):
            yield group, [row for _, row in pairs]


def _group(line: RosterLine) -> str:
    if line.entry.role is RosterRole.DEPUTY:
        return line.person.delegation or "未分代表团"
    return GROUP_OF_ROLE[line.entry.role]


def build_sheet(
    session: Session, meeting_id: int, *, scope: Scope, zone: str = "Asia/Shanghai"
) -> Sheet:
    """Every roster entry with status, time and method, plus the counts and announcement;
    grouped by 代表团 when any deputy on the roster has one. NotFound outside `scope`."""
    get_meeting(session, meeting_id, scope=scope)
    tz = ZoneInfo(zone)
    st = status(session, meeting_id, zone=tz)
    lines = roster_lines(session, meeting_id)
    grouped = any(ln.person.delegation for ln in lines if ln.entry.role is RosterRole.DEPUTY)
    if grouped:
        order = {RosterRole.DEPUTY: 0, RosterRole.NONVOTING: 1, RosterRole.STAFF: 2}
        key = by_delegation(ln.person for ln in lines if ln.entry.role is RosterRole.DEPUTY)
        lines.sort(key=lambda ln: (order[ln.entry.role], key(ln.person)))
    rows: list[list[Value]] = []
    for i, ln in enumerate(lines, start=1):
        v = line_view(ln, tz)
        a = ln.attendance
        rows.append(
            [
                i,
                v.number,
                v.name,
                v.unit,
                v.role_label,
                v.state_label,
                xlsx.excel_time(a.checked_in_at if a else None, tz),
                v.method_label,
                v.reason,
                v.leave_reason,
                xlsx.excel_time(ln.entry.left_at, tz),
                "",
            ]
        )
    starts = st.meeting.starts_at
    return Sheet(
        title=st.meeting.title,
        body=st.meeting.body,
        starts_at=starts.replace("T", " ")[:16] if starts else "",
        generated_at=cell_text(xlsx.excel_time(utcnow(), tz)),
        rows=rows,
        groups=[_group(ln) for ln in lines] if grouped else [""] * len(lines),
        counts=[(label, int(getattr(st, key))) for key, label in COUNT_LABELS],
        rule_label=st.rule_label,
        announcement=st.announcement,
    )


def _footer(sheet: Sheet) -> list[list[Value]]:
    counts: list[list[Value]] = [[label, value] for label, value in sheet.counts]
    return [
        [],
        *counts,
        ["法定人数规则", sheet.rule_label],
        ["宣布", sheet.announcement],
        [],
        ["制表时间", sheet.generated_at],
        ["秘书处签字", ""],
    ]


def _write_row(
    ws: Worksheet,
    row: int,
    values: Sequence[Value],
    first_col: int = 1,
    stamp: xlsx.Stamp | None = None,
) -> None:
    """Values into a row; date/times get a date/time format; with `stamp`, borders too."""
    for i, value in enumerate(values):
        c = ws.cell(row=row, column=first_col + i, value=value)
        time_format = xlsx.DATETIME if isinstance(value, datetime) else None
        if stamp is not None:
            stamp(c, number_format=time_format)
        elif time_format:
            c.number_format = time_format


def sheet_xlsx(sheet: Sheet) -> bytes:
    """The sheet as a print-ready .xlsx: title row, header row, one row per roster entry."""
    wb = Workbook()
    ws = xlsx.sheet(wb, "签到表", first=True)
    n = len(HEADERS)
    xlsx.title_rows(ws, f"{sheet.body} {sheet.title} 签到表（会议时间 {sheet.starts_at}）", n)
    xlsx.header_row(ws, 2, HEADERS)
    xlsx.box(ws, 2, 2, n)
    stamp = xlsx.Stamp()
    r = 3
    for group, rows in sheet.blocks():
        if sheet.grouped:
            xlsx.group_row(ws, r, f"{group}（{len(rows)} 人）", n)
            xlsx.box(ws, r, r, n)
            r += 1
        for row in rows:
            _write_row(ws, r, row, stamp=stamp)
            ws.row_dimensions[r].height = 22  # room to sign
            r += 1
    for row in _footer(sheet):
        _write_row(ws, r, row)
        r += 1
    xlsx.widths(ws, WIDTHS)
    ws.freeze_panes = "A3"
    xlsx.page_setup(ws, landscape=True, repeat_rows="2:2")
    return xlsx.to_bytes(wb)


def sheet_csv(sheet: Sheet) -> str:
    """The sheet as CSV text: header row, roster rows (group lines between groups), then
    counts and the announcement."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADERS)
    for group, rows in sheet.blocks():
        if sheet.grouped:
            writer.writerow([f"{group}（{len(rows)} 人）"])
        writer.writerows([cell_text(v) for v in row] for row in rows)
    writer.writerows([cell_text(v) for v in row] for row in _footer(sheet))
    return out.getvalue()


# --- the term report ----------------------------------------------------------------

FIXED = ["序号", "代表编号", "姓名", "任期变动"]
TOTALS = ["应出席", "出席", "迟到", "补签", "退场", "请假", "缺席", "出席率", "未经批准缺席次数"]
TAIL = ["未经批准缺席的会议", "提示", "代表签名"]
VERTICAL = Alignment(horizontal="center", vertical="center", textRotation=255, wrap_text=False)
MARK_FONT = {"absent": Font(bold=True, color="C0392B"), "leave": Font(color="9A7400")}


def count_values(c: Counts) -> list[Value]:
    """The TOTALS columns of a row."""
    return [c.expected, c.attended, c.late, c.manual, c.left, c.leave, c.absent, c.rate]


def filter_text(report: TermReport) -> str:
    """The report's scope in words."""
    f = report.filter
    parts = []
    if f.congress_session_id is not None:
        parts += [s.label for s in report.session_choices if s.value == str(f.congress_session_id)]
    if f.body_id is not None:
        parts += [b.label for b in report.body_choices if b.value == str(f.body_id)]
    if f.date_from or f.date_to:
        parts.append(f"{f.date_from or '…'} 至 {f.date_to or '…'}")
    if f.delegation:
        parts.append(f.delegation)
    return "、".join(parts) or "全部会议"


def _matrix(ws: Worksheet, report: TermReport, tz: ZoneInfo) -> None:
    blocks = list(meeting_columns_by_session(report))
    ncols = len(FIXED) + sum(len(ms) + 1 for _, ms in blocks) + len(TOTALS) + len(TAIL)
    subtitle = (
        f"范围：{filter_text(report)}；统计截至 {report.as_of:%Y-%m-%d %H:%M}；"
        f"会议结论规则：{report.rule_label}。符号：{LEGEND}"
    )
    xlsx.title_rows(ws, f"{report.term.name} 代表出席情况", ncols, subtitle)
    head, first = 3, 6  # header rows 3–5, data from row 6
    col = 1
    for text in FIXED:
        ws.merge_cells(start_row=head, start_column=col, end_row=head + 2, end_column=col)
        xlsx.header_row(ws, head, [text], col)
        col += 1
    meeting_col: dict[int, int] = {}
    session_col: dict[int, int] = {}
    for s, ms in blocks:
        ws.merge_cells(start_row=head, start_column=col, end_row=head, end_column=col + len(ms))
        xlsx.header_row(ws, head, [s.title], col)
        for m in ms:
            meeting_col[m.id] = col
            xlsx.header_row(ws, head + 1, [m.title], col)
            ws.cell(row=head + 1, column=col).alignment = VERTICAL
            t = ws.cell(row=head + 2, column=col, value=xlsx.excel_time(m.starts_at, tz))
            t.number_format, t.alignment = "m-d hh:mm", VERTICAL
            col += 1
        session_col[s.id] = col
        ws.merge_cells(start_row=head + 1, start_column=col, end_row=head + 2, end_column=col)
        xlsx.header_row(ws, head + 1, ["会议结论"], col)
        col += 1
    totals_col = col
    for text in [*TOTALS, *TAIL]:
        ws.merge_cells(start_row=head, start_column=col, end_row=head + 2, end_column=col)
        xlsx.header_row(ws, head, [text], col)
        col += 1
    ws.row_dimensions[head + 1].height = 100
    ws.row_dimensions[head + 2].height = 62
    xlsx.box(ws, head, head + 2, ncols)
    stamp = xlsx.Stamp()
    r = first
    index = 0
    for group, rows in groupby(report.rows, key=lambda row: row.delegation):
        members = list(rows)
        if report.grouped:
            xlsx.group_row(ws, r, f"{group}（{len(members)} 人）", ncols)
            xlsx.box(ws, r, r, ncols)
            r += 1
        for row in members:
            index += 1
            _write_row(ws, r, [index, row.number, row.name, row.mandate], stamp=stamp)
            for m, cell in zip(report.meetings, row.cells, strict=True):
                c = ws.cell(row=r, column=meeting_col[m.id], value=cell.symbol)
                stamp(c, alignment=xlsx.CENTER, font=MARK_FONT.get(cell.mark))
            for s, sc in zip(report.sessions, row.sessions, strict=True):
                c = ws.cell(row=r, column=session_col[s.id], value=sc.symbol)
                stamp(c, alignment=xlsx.CENTER, font=xlsx.BOLD)
            values: list[Value] = [*count_values(row.counts), len(row.absent_sessions)]
            values += ["、".join(row.absent_sessions), row.flag_label, ""]
            _write_row(ws, r, values, totals_col, stamp=stamp)
            stamp(ws.cell(row=r, column=totals_col + 7), number_format=xlsx.PERCENT)
            ws.row_dimensions[r].height = 20
            r += 1
    bottom = r
    # per meeting and per session: expected, attended, leave, absent, rate
    for label, key in (
        ("应出席", "expected"),
        ("出席", "attended"),
        ("请假", "leave"),
        ("缺席", "absent"),
        ("出席率", "rate"),
    ):
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=len(FIXED))
        ws.cell(row=r, column=1, value=f"{label}（每次会议）").font = xlsx.BOLD
        for m in report.meetings:
            c = ws.cell(row=r, column=meeting_col[m.id], value=getattr(m.counts, key))
            c.alignment = xlsx.CENTER
            if key == "rate":
                c.number_format, c.alignment = xlsx.PERCENT, VERTICAL
        for s in report.sessions:
            c = ws.cell(row=r, column=session_col[s.id], value=getattr(s.counts, key))
            c.alignment, c.font = xlsx.CENTER, xlsx.BOLD
            if key == "rate":
                c.number_format, c.alignment = xlsx.PERCENT, VERTICAL
        if key == "rate":
            ws.row_dimensions[r].height = 40
        r += 1
    xlsx.box(ws, bottom, r - 1, ncols)
    xlsx.widths(ws, [5, 10, 8, 12])
    for column in [*meeting_col.values(), *session_col.values()]:
        xlsx.widths(ws, [3.6], column)
    xlsx.widths(ws, [6, 5, 5, 5, 5, 5, 5, 7, 7, 24, 12, 12], totals_col)
    ws.freeze_panes = f"{get_column_letter(len(FIXED) + 1)}{first}"
    xlsx.page_setup(ws, landscape=True, repeat_rows=f"{head}:{head + 2}")


def _statistics(ws: Worksheet, report: TermReport, tz: ZoneInfo) -> None:
    heads = ["次会议", "会议", "类型", "开始时间", "应出席", "出席", "迟到", "补签", "退场"]
    heads += ["请假", "缺席", "出席率"]
    xlsx.title_rows(ws, f"{report.term.name} 会议出席统计（{filter_text(report)}）", len(heads))
    xlsx.header_row(ws, 2, heads)
    r = 3
    for m in report.meetings:
        c = m.counts
        _write_row(
            ws,
            r,
            [m.session_title, m.title, m.kind_label, xlsx.excel_time(m.starts_at, tz)]
            + [c.expected, c.attended, c.late, c.manual, c.left, c.leave, c.absent, c.rate],
        )
        ws.cell(row=r, column=4).number_format = xlsx.MINUTES
        ws.cell(row=r, column=12).number_format = xlsx.PERCENT
        r += 1
    xlsx.box(ws, 2, r - 1, len(heads))
    r += 1
    session_heads = ["次会议", "开始日期", "结束日期", "应出席代表", "出席", "请假"]
    session_heads += ["未经批准缺席", "进行中", "出席率"]
    xlsx.header_row(ws, r, session_heads)
    top = r
    r += 1
    for s in report.sessions:
        sc = s.counts
        values: list[Value] = [s.title, s.starts_on, s.ends_on, sc.expected, sc.attended]
        _write_row(ws, r, [*values, sc.leave, sc.absent, sc.pending, sc.rate])
        for column in (2, 3):
            ws.cell(row=r, column=column).number_format = xlsx.DATE
        ws.cell(row=r, column=9).number_format = xlsx.PERCENT
        r += 1
    xlsx.box(ws, top, r - 1, len(session_heads))
    t = report.total
    ws.cell(row=r + 1, column=1, value="合计出席率").font = xlsx.BOLD
    ws.cell(row=r + 1, column=2, value=t.rate).number_format = xlsx.PERCENT
    ws.cell(row=r + 2, column=1, value=f"会议结论规则：{report.rule_label}")
    xlsx.widths(ws, [14, 30, 14, 18, 8, 8, 8, 8, 8, 8, 8, 8])
    xlsx.page_setup(ws, landscape=True, repeat_rows="2:2")


def _flags(ws: Worksheet, report: TermReport) -> None:
    heads = ["序号", "代表编号", "姓名", "代表团", "提示", "未经批准缺席的会议", "代表签名"]
    xlsx.title_rows(
        ws,
        f"{report.term.name} 未经批准缺席提示（代表法第四十九条）",
        len(heads),
        "未经批准两次不出席本级人民代表大会会议的，其代表资格终止。本表仅供代表资格审查委员会"
        f"审查参考，系统不改变任何代表的资格。会议结论规则：{report.rule_label}。",
    )
    xlsx.header_row(ws, 3, heads)
    r = 4
    for i, fl in enumerate(report.flags, start=1):
        values: list[Value] = [i, fl.number, fl.name, fl.delegation, fl.flag_label]
        _write_row(ws, r, [*values, "、".join(fl.sessions), ""])
        ws.row_dimensions[r].height = 22
        r += 1
    if not report.flags:
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=len(heads))
        ws.cell(row=r, column=1, value="无（没有未经批准缺席会议的代表）")
        r += 1
    xlsx.box(ws, 3, r - 1, len(heads))
    xlsx.widths(ws, [6, 12, 10, 18, 14, 36, 16])
    xlsx.page_setup(ws, landscape=False, repeat_rows="3:3")


def term_report_xlsx(report: TermReport, *, zone: str, plot_png: bytes | None = None) -> bytes:
    """The term report workbook: 出席矩阵, 会议统计, 资格提示 and the plot (出席率图)."""
    tz = ZoneInfo(zone)
    wb = Workbook()
    _matrix(xlsx.sheet(wb, "出席矩阵", first=True), report, tz)
    _statistics(xlsx.sheet(wb, "会议统计"), report, tz)
    _flags(xlsx.sheet(wb, "资格提示"), report)
    if plot_png is not None:
        ws = xlsx.sheet(wb, "出席率图")
        xlsx.title_rows(ws, f"{report.term.name} 各次会议出席情况", 12)
        ws.add_image(Image(io.BytesIO(plot_png)), "A3")
        xlsx.page_setup(ws, landscape=True)
    return xlsx.to_bytes(wb)


# --- a deputy's record ---------------------------------------------------------------

RECORD_HEADERS = ["序号", "次会议", "会议", "类型", "开始时间", "出席情况", "签到时间"]
RECORD_HEADERS += ["签到方式", "补签原因", "请假原因", "退场时间"]


def deputy_record_xlsx(record: DeputyRecord, *, zone: str) -> bytes:
    """A deputy's 出席记录 for the 履职档案 (A4 portrait, signature lines)."""
    tz = ZoneInfo(zone)
    n = len(RECORD_HEADERS)
    wb = Workbook()
    ws = xlsx.sheet(wb, "出席记录", first=True)
    xlsx.title_rows(ws, f"{record.term.name} 代表出席记录", n)
    info: list[tuple[str, Value, str, Value]] = [
        ("代表编号", record.number, "姓名", record.name),
        ("代表团", record.delegation, "单位", record.unit),
        ("状态", record.status, "任期变动", record.mandate),
        ("统计截至", xlsx.excel_time(record.as_of, tz), "会议结论规则", record.rule_label),
    ]
    r = 2
    for key1, value1, key2, value2 in info:
        ws.cell(row=r, column=1, value=key1).font = xlsx.BOLD
        ws.merge_cells(start_row=r, start_column=2, end_row=r, end_column=4)
        _write_row(ws, r, [value1], 2)
        ws.cell(row=r, column=5, value=key2).font = xlsx.BOLD
        ws.merge_cells(start_row=r, start_column=6, end_row=r, end_column=n)
        _write_row(ws, r, [value2], 6)
        r += 1
    xlsx.box(ws, 2, r - 1, n)
    r += 1
    head = r
    xlsx.header_row(ws, r, RECORD_HEADERS)
    r += 1
    for i, ln in enumerate(record.lines, start=1):
        values: list[Value] = [i, ln.session_title, ln.title, ln.kind_label]
        values += [xlsx.excel_time(ln.starts_at, tz), ln.label]
        values += [xlsx.excel_time(ln.checked_in_at, tz), ln.method_label, ln.manual_reason]
        values += [ln.leave_reason, xlsx.excel_time(ln.left_at, tz)]
        _write_row(ws, r, values)
        ws.cell(row=r, column=5).number_format = xlsx.MINUTES
        r += 1
    xlsx.box(ws, head, r - 1, n)
    r += 1
    xlsx.header_row(ws, r, ["次会议", "结论"])
    top = r
    r += 1
    for s in record.sessions:
        _write_row(ws, r, [s.title, s.label])
        r += 1
    xlsx.box(ws, top, r - 1, 2)
    c = record.counts
    r += 1
    summary = (
        f"应出席 {c.expected} 次，出席 {c.attended} 次（迟到 {c.late}，补签 {c.manual}，"
        f"中途退场 {c.left}），请假 {c.leave} 次，缺席 {c.absent} 次，出席率 {c.rate_label}；"
        f"未经批准缺席会议 {len(record.absent_sessions)} 次"
        + (f"（{'、'.join(record.absent_sessions)}）" if record.absent_sessions else "")
        + (f"：{record.flag_label}" if record.flag_label else "")
        + "。"
    )
    ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=n)
    ws.cell(row=r, column=1, value=summary).alignment = xlsx.LEFT
    ws.row_dimensions[r].height = 36
    r += 2
    for label in ("代表签名", "秘书处签字"):
        ws.cell(row=r, column=1, value=label).font = xlsx.BOLD
        ws.merge_cells(start_row=r, start_column=2, end_row=r, end_column=4)
        xlsx.box(ws, r, r, 3, 2)
        ws.row_dimensions[r].height = 30
        r += 1
    ws.cell(row=r + 1, column=1, value="制表时间")
    _write_row(ws, r + 1, [xlsx.excel_time(record.generated_at, tz)], 2)
    xlsx.widths(ws, [6, 12, 22, 10, 17, 9, 17, 9, 14, 14, 17])
    xlsx.page_setup(ws, landscape=False, repeat_rows=f"{head}:{head}")
    return xlsx.to_bytes(wb)
