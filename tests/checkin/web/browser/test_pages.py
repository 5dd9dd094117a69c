"""The big screen and the operator page in headless Chromium, against a real server process."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.checkin.web.browser.conftest import Hall, login_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_big_screen_follows_checkins_across_the_quorum_line_and_a_restart(
    browser: Any, hall: Hall, output_dir: Path
) -> None:
    page = browser.new_page(viewport={"width": 1600, "height": 900})
    login_page(page, hall.server.url, f"/meetings/{hall.meeting_id}/screen")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("#expected")).to_have_text("6")
    expect(page.locator("#quorum-state")).to_have_text("未达到法定人数")
    hall.post("/leave", number="D005", reason="外出学习")
    expect(page.locator("#on_leave")).to_have_text("1")
    for i, number in enumerate(hall.numbers[:4], start=1):
        hall.post("/checkin", number=number, reason="人脸识别设备调试")
        expect(page.locator("#present")).to_have_text(str(i))
        expect(page.locator("#arrivals li").first).to_contain_text(
            ["张伟", "王芳", "李娜", "刘洋"][i - 1]
        )
        met = "已达到法定人数" if i >= 4 else "未达到法定人数"
        expect(page.locator("#quorum-state")).to_have_text(met)
    expect(page.locator("#absent")).to_have_text("1")
    expect(page.locator("#not-arrived li")).to_have_text(["陈静"])
    expect(page.locator("#announcement")).to_have_text(
        "本次会议应到代表6名，实到4名，请假1名，缺席1名，符合法定人数。"
    )
    width = page.evaluate("document.getElementById('bar-fill').style.width")
    assert abs(float(width.rstrip("%")) - 100 * 4 / 6) < 0.01
    page.screenshot(path=str(output_dir / "big-screen.png"))

    # a network blip: the server goes away and comes back; the page reconnects by itself
    hall.server.stop()
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
    hall.server.start()
    hall.headers = hall.server.login("clerk", "clerk-password-1")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=20_000)
    hall.post("/departure", number="D000")
    expect(page.locator("#present")).to_have_text("3")
    expect(page.locator("#quorum-state")).to_have_text("未达到法定人数")
    assert page.evaluate("window.__sameDocument") is True  # never reloaded
    page.screenshot(path=str(output_dir / "big-screen-after-departure.png"))


def test_operator_makes_up_a_checkin_and_the_counts_follow(
    browser: Any, hall: Hall, output_dir: Path
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    login_page(page, hall.server.url, f"/meetings/{hall.meeting_id}/operator")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("#roster tr")).to_have_count(6)
    page.fill("#search", "王芳")
    expect(page.locator("#roster tr")).to_have_count(1)
    row = page.locator("#roster tr[data-number='D001']")
    row.locator("button.act-checkin").click()
    page.click("#confirm")  # no reason yet: refused on the page
    expect(page.locator("#action-error")).to_have_text("请填写原因")
    page.fill("#reason", "戴口罩未识别")
    page.click("#confirm")
    expect(page.locator("#present")).to_have_text("1")
    expect(row.locator("td.col-state")).to_have_text("已到")
    expect(row.locator("td.col-method")).to_have_text("手动补签到（戴口罩未识别）")
    expect(page.locator("#message")).to_contain_text("手动补签到成功")

    hall.post("/checkin", number="D002", reason="同屏测试")  # someone else's action shows up too
    expect(page.locator("#present")).to_have_text("2")
    page.fill("#search", "")
    expect(page.locator("#roster tr[data-number='D002'] td.col-state")).to_have_text("已到")
    page.screenshot(path=str(output_dir / "operator.png"), full_page=True)

    page.locator("#roster tr[data-number='D001'] button.act-undo").click()
    page.fill("#reason", "补签对象有误")
    page.click("#confirm")
    expect(page.locator("#present")).to_have_text("1")
    # the meeting starts on 2026-12-01 09:00 (+08:00): before that nobody is 缺席 yet, only 未到
    before_start = datetime.now(UTC) < datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    expect(page.locator("#roster tr[data-number='D001'] td.col-state")).to_have_text(
        "未到" if before_start else "缺席"
    )
    assert page.evaluate("window.__sameDocument") is True
    st = httpx.get(
        f"{hall.server.url}/api/meetings/{hall.meeting_id}/status", headers=hall.headers
    ).json()
    assert st["present"] == 1
    log = httpx.get(f"{hall.server.url}/api/meetings/{hall.meeting_id}/audit", headers=hall.headers)
    actors = {(e["action"], e["actor"]) for e in log.json()}
    assert {("checkin.manual", "clerk"), ("checkin.undo", "clerk")} <= actors
    with page.expect_download() as dl:
        page.click("#download-xlsx")
    saved = output_dir / "sheet.xlsx"
    dl.value.save_as(saved)
    names = [r[2] for r in load_workbook(saved).active.iter_rows(min_row=3, values_only=True)]
    assert "王芳" in names
