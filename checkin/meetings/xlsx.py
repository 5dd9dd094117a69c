"""Print-ready worksheets: A4 page set-up fitted to the width, a merged bold title, borders,
real Excel dates and times, group rows (代表团), and a footer with page numbers."""

from __future__ import annotations

import io
from collections.abc import Sequence
from copy import copy
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

DATETIME = "yyyy-mm-dd hh:mm:ss"
MINUTES = "yyyy-mm-dd hh:mm"
DATE = "yyyy-mm-dd"
PERCENT = "0.0%"
_SIDE = Side(style="thin", color="000000")
BORDER = Border(left=_SIDE, right=_SIDE, top=_SIDE, bottom=_SIDE)
BOLD = Font(bold=True)
TITLE = Font(bold=True, size=14)
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
LEFT = Alignment(horizontal="left", vertical="center", wrap_text=True)
GROUP_FILL = PatternFill("solid", fgColor="E8EEF7")
HEAD_FILL = PatternFill("solid", fgColor="F2F2F2")


def excel_time(t: datetime | None, zone: ZoneInfo) -> datetime | None:
    """A local, zone-less datetime to the second: what Excel stores as a date/time cell."""
    if t is None:
        return None
    return t.astimezone(zone).replace(tzinfo=None, microsecond=0)


class Stamp:
    """Cell styles made once and copied onto cells. openpyxl hashes every style object assigned
    to a cell, which dominates a sheet of 50,000 cells; copying a styled cell's style does not."""

    def __init__(self) -> None:
        self._made: dict[tuple[int, int, int, str | None, int], Any] = {}

    def __call__(
        self,
        cell: Cell,
        *,
        font: Font | None = None,
        alignment: Alignment | None = None,
        fill: PatternFill | None = None,
        number_format: str | None = None,
        border: Border | None = BORDER,
    ) -> Cell:
        """Give `cell` these styles (thin borders unless `border=None`)."""
        key = (id(font), id(alignment), id(fill), number_format, id(border))
        made = self._made.get(key)
        if made is not None:
            cell._style = copy(made)
            return cell
        if font is not None:
            cell.font = font
        if alignment is not None:
            cell.alignment = alignment
        if fill is not None:
            cell.fill = fill
        if number_format is not None:
            cell.number_format = number_format
        if border is not None:
            cell.border = border
        self._made[key] = copy(cell._style)
        return cell


def sheet(wb: Workbook, title: str, *, first: bool = False) -> Worksheet:
    """The workbook's first sheet renamed, or a new sheet."""
    ws: Worksheet = wb.active if first else wb.create_sheet()
    ws.title = title
    return ws


def title_rows(ws: Worksheet, title: str, ncols: int, subtitle: str | None = None) -> int:
    """A merged bold title on row 1 (and a merged subtitle on row 2); the next free row."""
    ws.cell(row=1, column=1, value=title).font = TITLE
    ws.cell(row=1, column=1).alignment = CENTER
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=ncols)
    ws.row_dimensions[1].height = 28
    if subtitle is None:
        return 2
    ws.cell(row=2, column=1, value=subtitle).alignment = LEFT
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=ncols)
    ws.row_dimensions[2].height = 32
    return 3


def header_row(ws: Worksheet, row: int, headers: Sequence[str], first_col: int = 1) -> None:
    """Bold, centred, shaded headers."""
    for i, text in enumerate(headers):
        c = ws.cell(row=row, column=first_col + i, value=text)
        c.font, c.alignment, c.fill = BOLD, CENTER, HEAD_FILL


def group_row(ws: Worksheet, row: int, text: str, ncols: int) -> None:
    """A merged, bold, shaded row naming the group (代表团) of the rows below it."""
    c = ws.cell(row=row, column=1, value=text)
    c.font, c.fill, c.alignment = BOLD, GROUP_FILL, LEFT
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=ncols)


def box(ws: Worksheet, first_row: int, last_row: int, ncols: int, first_col: int = 1) -> None:
    """Thin borders around every cell of the block (merged cells included)."""
    for cells in ws.iter_rows(
        min_row=first_row, max_row=last_row, min_col=first_col, max_col=first_col + ncols - 1
    ):
        for c in cells:
            c.border = BORDER


def widths(ws: Worksheet, sizes: Sequence[float], first_col: int = 1) -> None:
    for i, size in enumerate(sizes):
        ws.column_dimensions[get_column_letter(first_col + i)].width = size


def page_setup(ws: Worksheet, *, landscape: bool, repeat_rows: str | None = None) -> None:
    """A4, the orientation, every column on one page width (as many pages down as needed),
    repeated header rows, centred, page numbers in the footer."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    if repeat_rows:
        ws.print_title_rows = repeat_rows
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"


def to_bytes(wb: Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
