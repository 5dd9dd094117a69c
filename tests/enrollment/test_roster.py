"""Roster files: CSV (UTF-8, BOM, GBK) and XLSX, Chinese or English headers, typed errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from checkin.web.errors import status_for
from enrollment.roster import RosterError, RosterRow, find_photos, read_roster
from tests.enrollment.conftest import write_csv

ZH = ["代表编号", "姓名", "性别", "单位", "选区", "电话", "照片"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_with_chinese_headers_in_every_common_encoding(tmp_path: Path, encoding: str) -> None:
    path = write_csv(
        tmp_path / "r.csv",
        ZH,
        [
            ["1001", "张三", "男", "某镇政府", "第一选区", "13800000000", "a.jpg;b.jpg"],
            ["1002", "李四", "女", "", "", "", ""],
        ],
        encoding,
    )
    rows = read_roster(path)
    assert rows[0] == RosterRow(
        2, "1001", "张三", "男", "某镇政府", "第一选区", "13800000000", ("a.jpg", "b.jpg")
    )
    assert rows[1].unit is None and rows[1].photos == ()
    assert rows[1].row == 3


def test_english_headers_in_any_case_and_order(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", ["Name", "Number", "Unit"], [["Wang Wu", "7", "X"]])
    assert read_roster(path) == [RosterRow(2, "7", "Wang Wu", unit="X")]


def test_xlsx_roster_with_numeric_numbers(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["代表编号", "姓名", "性别"])
    sheet.append([1001, "张三", "男"])
    sheet.append([None, None, None])  # blank line is skipped
    sheet.append(["1002", "李四", None])
    book.save(tmp_path / "r.xlsx")
    rows = read_roster(tmp_path / "r.xlsx")
    assert [(r.number, r.name, r.gender, r.row) for r in rows] == [
        ("1001", "张三", "男", 2),
        ("1002", "李四", None, 4),
    ]


def test_missing_required_column_names_it(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", ["代表编号", "性别"], [["1", "男"]])
    with pytest.raises(RosterError) as err:
        read_roster(path)
    assert "姓名" in err.value.message and err.value.row == 1


def test_duplicate_number_names_both_rows(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", ["number", "name"], [["1", "a"], ["2", "b"], ["1", "c"]])
    with pytest.raises(RosterError) as err:
        read_roster(path)
    assert err.value.row == 4 and "第 2 行" in err.value.message


@pytest.mark.parametrize(
    ("rows", "bad_row"),
    [([["", "a"]], 2), ([["1", ""]], 2), ([["1", "a"], ["../x", "b"]], 3)],
)
def test_bad_cells_name_their_row(tmp_path: Path, rows: list[list[str]], bad_row: int) -> None:
    path = write_csv(tmp_path / "r.csv", ["number", "name"], rows)
    with pytest.raises(RosterError) as err:
        read_roster(path)
    assert err.value.row == bad_row
    assert status_for(err.value) == 422


def test_unsupported_or_broken_files(tmp_path: Path) -> None:
    (tmp_path / "r.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "r.xlsx").write_bytes(b"not a zip")
    (tmp_path / "empty.csv").write_bytes(b"")
    for name in ("r.pdf", "r.xlsx", "empty.csv", "missing.csv"):
        with pytest.raises(RosterError):
            read_roster(tmp_path / name)


def test_photos_found_by_number_file_suffix_and_folder(tmp_path: Path) -> None:
    for name in ("1001.jpg", "1001_2.JPG", "1001_10.png", "10012.jpg", "1002.jpg", "1001.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "1001").mkdir()
    (tmp_path / "1001" / "a.jpeg").write_bytes(b"x")
    found = find_photos(RosterRow(2, "1001", "张三"), tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "1001.jpg",
        "1001_2.JPG",
        "1001_10.png",
        "1001/a.jpeg",
    ]
    named = find_photos(RosterRow(2, "1001", "张三", photos=("x/y.jpg",)), tmp_path)
    assert named == [tmp_path / "x" / "y.jpg"]
    assert find_photos(RosterRow(2, "9", "无"), tmp_path) == []
