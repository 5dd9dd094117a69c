"""Roster files (CSV or XLSX, Chinese or English headers) and finding each deputy's photos."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from checkin.errors import InvalidInput

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")

# Canonical field -> accepted header spellings (compared after _norm()).
HEADERS: dict[str, tuple[str, ...]] = {
    "number": ("代表编号", "编号", "number", "no", "deputy_number", "id"),
    "name": ("姓名", "名字", "name"),
    "gender": ("性别", "gender", "sex"),
    "unit": ("单位", "工作单位", "unit", "organization", "organisation"),
    "constituency": ("选区", "constituency", "district"),
    "phone": ("电话", "手机", "联系电话", "phone", "mobile", "tel"),
    "photo": ("照片", "photo", "photos", "picture"),
    # The body the deputy belongs to (by its exact name): a township congress, the county's.
    "body": (
        "所属人大/代表团",
        "所属人大",
        "所属代表团",
        "所属机构",
        "所属会议机构",
        "body",
        "congress",
        "delegation/body",
    ),
}
REQUIRED = ("number", "name")
FIELD_LABELS = {"number": "代表编号", "name": "姓名"}
_NUMBER_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.\-]{0,39}$")


class RosterError(InvalidInput):
    """The roster file cannot be used; the message names the row (1 = header line)."""

    code = "roster_error"

    def __init__(self, message: str, *, row: int | None = None) -> None:
        self.row = row
        super().__init__(f"第 {row} 行：{message}" if row is not None else message)


@dataclass(frozen=True)
class RosterRow:
    """One deputy from the roster; `photos` are the file names given in the photo column."""

    row: int
    number: str
    name: str
    gender: str | None = None
    unit: str | None = None
    constituency: str | None = None
    phone: str | None = None
    photos: tuple[str, ...] = ()
    body: str | None = None  # the name in the 所属人大/代表团 column
    body_id: int | None = None  # resolved by the import (enrollment.service.resolve_bodies)


def _norm(header: object) -> str:
    text = "" if header is None else str(header)
    return re.sub(r"[\s_\-()（）/／、]+", "", text).lower()


_LOOKUP = {_norm(alias): field for field, aliases in HEADERS.items() for alias in aliases}


def _cell(value: object) -> str | None:
    """A cell as stripped text; Excel numbers like 1001.0 become "1001"."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def parse_table(rows: list[list[object]]) -> list[RosterRow]:
    """Header row + data rows -> RosterRows; RosterError names the first bad row."""
    if not rows:
        raise RosterError("名册为空 (roster is empty)")
    columns: dict[str, int] = {}
    for index, header in enumerate(rows[0]):
        field = _LOOKUP.get(_norm(header))
        if field is not None and field not in columns:
            columns[field] = index
    missing = [FIELD_LABELS[f] + f"/{f}" for f in REQUIRED if f not in columns]
    if missing:
        raise RosterError(f"表头缺少必需的列：{'、'.join(missing)}", row=1)
    out: list[RosterRow] = []
    seen: dict[str, int] = {}
    for offset, raw in enumerate(rows[1:], start=2):
        values = {f: _cell(raw[i]) if i < len(raw) else None for f, i in columns.items()}
        if not any(_cell(v) for v in raw):
            continue  # blank line
        number, name = values["number"], values["name"]
        if number is None:
            raise RosterError("代表编号为空 (number is empty)", row=offset)
        if not _NUMBER_RE.match(number):
            raise RosterError(
                f"代表编号 {number!r} 只能包含字母、数字、-、_、.（最长 40 个字符）", row=offset
            )
        if name is None:
            raise RosterError(f"代表 {number} 的姓名为空 (name is empty)", row=offset)
        if number in seen:
            raise RosterError(f"代表编号 {number} 与第 {seen[number]} 行重复", row=offset)
        seen[number] = offset
        photo_cell = values.get("photo")
        photos = tuple(p.strip() for p in re.split(r"[;；,，|]", photo_cell or "") if p.strip())
        out.append(
            RosterRow(
                row=offset,
                number=number,
                name=name,
                gender=values.get("gender"),
                unit=values.get("unit"),
                constituency=values.get("constituency"),
                phone=values.get("phone"),
                photos=photos,
                body=values.get("body"),
            )
        )
    if not out:
        raise RosterError("名册中没有代表 (no deputies in the roster)")
    return out


def _decode_csv(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RosterError("无法识别 CSV 文件的编码，请另存为 UTF-8 或 GBK 编码")


def read_csv(data: bytes) -> list[RosterRow]:
    """A CSV roster in UTF-8 (with or without BOM) or GBK/GB18030; comma, tab or semicolon."""
    text = _decode_csv(data)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:4096], delimiters=",\t;，"
        )
    except csv.Error:
        dialect = csv.excel
    try:
        rows: list[list[object]] = [list(r) for r in csv.reader(io.StringIO(text), dialect)]
    except csv.Error as exc:
        raise RosterError(f"CSV 格式错误：{exc}") from exc
    return parse_table(rows)


MAX_XLSX_UNPACKED = 200_000_000  # a roster of 5,000 rows unpacks to a few MB


def read_xlsx(data: bytes) -> list[RosterRow]:
    """The first worksheet of an XLSX roster.

    Refused with the cell named: merged cells (the value sits in one cell only, the other
    rows would silently lose it) and formulas (their value is whatever Excel last computed,
    or nothing when another program wrote the file). A workbook that would unpack to more
    than 200 MB is refused before it is opened.
    """
    import zipfile

    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(i.file_size for i in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise RosterError(f"无法打开 Excel 文件：{exc}") from exc
    if unpacked > MAX_XLSX_UNPACKED:
        raise RosterError("Excel 文件解压后过大，请检查文件 (workbook unpacks too large)")
    try:
        book = load_workbook(io.BytesIO(data), read_only=False, data_only=False)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise RosterError(f"无法打开 Excel 文件：{exc}") from exc
    try:
        sheet = book.worksheets[0]
        merged = sorted(sheet.merged_cells.ranges, key=lambda r: (r.min_row, r.min_col))
        if merged:
            first = merged[0]
            raise RosterError(
                f"名册中有合并单元格 {first.coord}，请取消合并并在每一行填写完整后重新导入 "
                "(merged cells)",
                row=first.min_row,
            )
        rows: list[list[object]] = []
        for r in sheet.iter_rows():
            for c in r:
                if c.data_type == "f":
                    raise RosterError(
                        f"单元格 {c.coordinate} 是公式，请复制后「粘贴为数值」再导入 (formula)",
                        row=c.row,
                    )
            rows.append([c.value for c in r])
    finally:
        book.close()
    return parse_table(rows)


def read_roster(path: Path) -> list[RosterRow]:
    """Parse a .csv or .xlsx roster file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RosterError(f"无法读取名册文件 {path}: {exc.strerror}") from exc
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx(data)
    if suffix in (".csv", ".txt", ".tsv"):
        return read_csv(data)
    raise RosterError(f"名册必须是 .csv 或 .xlsx 文件（收到 {path.name}）")


def _is_image(path: Path) -> bool:
    return (
        path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
    )


def find_photos(row: RosterRow, photos_dir: Path) -> list[Path]:
    """The row's photos: those named in the photo column, else NUMBER.jpg, NUMBER_2.jpg, NUMBER/.

    Named photos are returned even when missing (the pipeline reports them as unreadable).
    """
    if row.photos:
        return [photos_dir / name for name in row.photos]
    found: list[Path] = []
    pattern = re.compile(rf"^{re.escape(row.number)}(_\d+)?$", re.IGNORECASE)
    if photos_dir.is_dir():
        matches = [p for p in photos_dir.iterdir() if _is_image(p) and pattern.match(p.stem)]
        found = sorted(matches, key=lambda p: (len(p.stem), p.name))
        folder = photos_dir / row.number
        if folder.is_dir():
            found += sorted(p for p in folder.iterdir() if _is_image(p))
    return found
