"""The term report in headless Chromium against a real server: the page's matrix and counts
match its XLSX download; filters; the print and the deputy record. Screenshots (1366×768) for
the README are written to docs/screenshots/ by this test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect
from sqlalchemy import select

from checkin.accounts.service import create_user
from checkin.meetings import terms
from models import Deputy, Role
from models.db import make_engine, make_session_factory, session_scope, upgrade
from tests.checkin.meetings import township
from tests.checkin.web.browser.conftest import PASSWORD, login_page
from tests.server import Server, baodao_env

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = Path(__file__).resolve().parents[4] / "docs" / "screenshots"
VIEW = {"width": 1366, "height": 768}
GROUPS = ["北片代表小组", "中片代表小组", "南片代表小组"]


@dataclass
class Town:
    server: Server
    term_id: int
    session_ids: list[int]


@pytest.fixture
def town(tmp_path: Path) -> Iterator[Town]:
    """A server over the township term (tests/checkin/meetings/township.py), in 3 代表小组."""
    env = baodao_env(tmp_path / "var")
    engine = make_engine(env["BAODAO_DATABASE_URL"])
    upgrade(engine)
    with session_scope(make_session_factory(engine)) as s:
        create_user(s, username="clerk", password=PASSWORD, role=Role.SECRETARIAT)
        built = township.build(s)
        for d in s.scalars(select(Deputy).order_by(Deputy.number)):
            group = GROUPS[(int(d.number[1:]) - 1) * 3 // 43]
            terms.update_mandate(s, deputy=d, delegation=group, actor=township.CLERK)
    engine.dispose()
    with Server(env) as server:
        yield Town(server, built.term_id, built.session_ids)


def page_matrix(page: Any) -> dict[str, dict[str, Any]]:
    """Per deputy: the marks in column order (meetings and session conclusions), the counts."""
    rows = page.eval_on_selector_all(
        "#matrix tbody tr[data-number]",
        """rows => rows.map(r => ({
            number: r.dataset.number,
            marks: [...r.querySelectorAll('td.m, td.s')].map(td => td.textContent.trim()),
            counts: Object.fromEntries([...r.querySelectorAll('td[data-key]')]
                .map(td => [td.dataset.key, td.textContent.trim()])),
        }))""",
    )
    return {r["number"]: r for r in rows}


def page_footer(page: Any) -> dict[str, list[str]]:
    return dict(
        page.eval_on_selector_all(
            "#matrix tfoot tr",
            """rows => rows.map(r => [r.dataset.row,
                [...r.querySelectorAll('td[data-meeting], td.st')]
                    .map(td => td.textContent.trim())])""",
        )
    )


def xlsx_matrix(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, list[Any]], list[str]]:
    """The same from the downloaded workbook's 出席矩阵 sheet."""
    ws = load_workbook(path)["出席矩阵"]
    heads = [c.value for c in ws[3]]
    first = heads.index("应出席") + 1  # the TOTALS columns start here (1-based)
    width = first - 5  # marks: columns 5 .. first-1
    keys = ["expected", "attended", "late", "manual", "left", "leave", "absent", "rate"]
    rows: dict[str, dict[str, Any]] = {}
    footer: dict[str, list[Any]] = {}
    groups: list[str] = []
    for r in ws.iter_rows(min_row=6, values_only=True):
        if isinstance(r[0], int):
            values = list(r[first - 1 : first - 1 + len(keys)])
            values[-1] = f"{values[-1] * 100:.1f}%" if values[-1] is not None else "—"
            counts = dict(zip(keys, (str(v) for v in values), strict=True))
            counts["absent_sessions"] = str(r[first - 1 + len(keys)])
            marks = ["" if v is None else str(v) for v in r[4 : 4 + width]]
            rows[r[1]] = {"marks": marks, "counts": counts}
        elif isinstance(r[0], str) and "（每次会议）" in r[0]:
            footer[r[0].removesuffix("（每次会议）")] = list(r[4 : 4 + width])
        elif isinstance(r[0], str):
            groups.append(r[0])
    return rows, footer, groups


def compare(page: Any, saved: Path) -> int:
    shown = page_matrix(page)
    rows, footer, _ = xlsx_matrix(saved)
    assert set(rows) == set(shown)
    for number, row in shown.items():
        assert rows[number]["marks"] == row["marks"], number
        counts = {k: v for k, v in row["counts"].items() if k != "flag"}
        assert rows[number]["counts"] == counts, number
    on_page = page_footer(page)
    for label, key in (("应出席", "expected"), ("出席", "attended"), ("请假", "leave")):
        assert [str(v) for v in footer[label]] == on_page[key], label
    assert [f"{v * 100:.1f}%" for v in footer["出席率"]] == on_page["rate_label"]
    return len(shown)


def test_term_report_page_and_its_xlsx_agree(browser: Any, town: Town, tmp_path: Path) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport=VIEW, locale="zh-CN")
    login_page(page, town.server.url, "/terms")
    expect(page.locator(f"#terms tr[data-term='{town.term_id}']")).to_contain_text(
        "青山镇第十八届人民代表大会"
    )
    page.screenshot(path=str(SHOTS / "terms.png"))
    page.click(f"#terms tr[data-term='{town.term_id}'] a.button")
    page.wait_for_url(f"**/terms/{town.term_id}/report")
    expect(page.locator("#matrix tbody tr[data-number]")).to_have_count(43)
    # what the township script says (tests/checkin/meetings/test_term_record.py)
    expect(page.locator("#flags li")).to_have_count(5)
    expect(page.locator("#flags li[data-flag='at_risk']")).to_have_attribute("data-number", "T002")
    expect(page.locator("#flags li[data-flag='at_risk']")).to_contain_text("第一次会议、第二次会议")
    expect(page.locator("#totals [data-total='rate']")).to_have_text("93.3%")
    expect(page.locator("#matrix tr[data-number='T006'] td.m").first).to_have_text("补")
    expect(page.locator("#plot svg")).to_be_visible()
    page.screenshot(path=str(SHOTS / "term-report.png"))
    page.evaluate("document.querySelector('#matrix').scrollIntoView()")
    page.screenshot(path=str(SHOTS / "term-report-matrix.png"))

    with page.expect_download() as dl:
        page.click("#download-xlsx")
    saved = tmp_path / "term.xlsx"
    dl.value.save_as(saved)
    assert compare(page, saved) == 43
    _, _, groups = xlsx_matrix(saved)
    assert [g for g in groups if "代表小组" in g] == [
        "北片代表小组（15 人）",
        "中片代表小组（14 人）",
        "南片代表小组（14 人）",
    ]
    expect(page.locator("#matrix tr.group-row")).to_have_text(
        ["北片代表小组（15 人）", "中片代表小组（14 人）", "南片代表小组（14 人）"]
    )

    # a clerk narrows it to the second session and one 代表小组; the download follows
    page.select_option("#f-session", str(town.session_ids[1]))
    page.select_option("#f-delegation", GROUPS[0])
    page.click("#f-apply")
    expect(page.locator("#matrix td.m").first).to_be_visible()
    expect(page.locator("#matrix th.mt")).to_have_count(2)
    expect(page.locator("#matrix tbody tr[data-number]")).to_have_count(15)
    with page.expect_download() as dl:
        page.click("#download-xlsx")
    narrowed = tmp_path / "narrowed.xlsx"
    dl.value.save_as(narrowed)
    assert compare(page, narrowed) == 15

    printed = browser.new_page(viewport=VIEW, locale="zh-CN")
    login_page(printed, town.server.url, f"/terms/{town.term_id}/report/print")
    expect(printed.locator("#matrix tbody tr[data-number]")).to_have_count(43)
    assert printed.locator("#filters").count() == 0  # the print has no controls
    printed.screenshot(path=str(SHOTS / "term-report-print.png"))
    pdf = tmp_path / "print.pdf"
    printed.pdf(path=str(pdf), prefer_css_page_size=True)
    assert pdf.read_bytes().startswith(b"%PDF")

    page.goto(f"{town.server.url}/terms/{town.term_id}/report")
    page.click("#flags li[data-number='T043'] a")
    page.wait_for_url("**/deputies/T043/record**")
    expect(page.locator("#lines tbody tr")).to_have_count(4)  # by-election: sessions 2 and 3
    expect(page.locator("#summary")).to_contain_text("未经批准缺席会议 1 次（第二次会议）")
    page.screenshot(path=str(SHOTS / "deputy-record.png"))
