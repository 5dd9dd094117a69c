"""The forced password change and the API docs in headless Chromium, against a real server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from models import User
from models.db import make_engine, make_session_factory
from tests.checkin.web.browser.conftest import PASSWORD, Hall, login_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SCREENSHOTS = Path(__file__).resolve().parents[4] / "docs" / "screenshots"


def test_a_reset_password_is_changed_on_the_password_page_first(
    browser: Any, hall: Hall, output_dir: Path
) -> None:
    engine = make_engine(hall.server.env["BAODAO_DATABASE_URL"])
    with make_session_factory(engine)() as s:  # as after an admin's reset
        s.execute(update(User).where(User.username == "clerk").values(must_change_password=True))
        s.commit()
    engine.dispose()
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    target = f"/meetings/{hall.meeting_id}/operator"
    page.goto(f"{hall.server.url}{target}")
    page.wait_for_url(lambda url: "/login?next=" in url)
    page.fill("#username", "clerk")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(lambda url: "/password?next=" in url)
    expect(page.locator("h1")).to_have_text("修改密码")
    expect(page.locator("#password-forced")).to_be_visible()
    page.fill("#old-password", PASSWORD)
    page.fill("#new-password", "clerk")
    page.fill("#repeat-password", "clerk")
    page.click("#password-submit")  # the browser's own minlength check stops it
    page.fill("#new-password", "clerk-own-password")
    page.fill("#repeat-password", "clerk-other-password")
    page.click("#password-submit")
    expect(page.locator("#password-error")).to_have_text("两次输入的新密码不一致")
    page.fill("#new-password", PASSWORD)  # the server's policy, shown on the page
    page.fill("#repeat-password", PASSWORD)
    page.click("#password-submit")
    expect(page.locator("#password-error")).to_contain_text("新密码不能与原密码相同")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.fill("#new-password", "")
    page.fill("#repeat-password", "")
    page.screenshot(path=str(SCREENSHOTS / "password-change.png"))
    page.fill("#new-password", "clerk-own-password")
    page.fill("#repeat-password", "clerk-own-password")
    page.click("#password-submit")
    page.wait_for_url(lambda url: url.endswith(target))
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    # the operator page's writes carry the CSRF token: a make-up check-in works
    page.locator("#roster tr[data-number='D001'] button.act-checkin").click()
    page.fill("#reason", "戴口罩未识别")
    page.click("#confirm")
    expect(page.locator("#present")).to_have_text("1")
    r = httpx.post(
        hall.server.url + "/api/auth/login",
        data={"username": "clerk", "password": "clerk-own-password"},
    )
    assert r.json()["user"]["must_change_password"] is False


def test_the_api_docs_render_from_local_assets_only(browser: Any, hall: Hall) -> None:
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    requested: list[str] = []
    failed: dict[str, str] = {}
    page.on("request", lambda req: requested.append(req.url))
    page.on("requestfailed", lambda req: failed.setdefault(req.url, req.failure or ""))
    login_page(page, hall.server.url, "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Baodao")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    page.goto(hall.server.url + "/redoc")
    expect(page.locator("h1").first).to_contain_text("Baodao")
    network = [u for u in requested if u.split(":")[0] in ("http", "https", "ws", "wss")]
    foreign = [u for u in network if not u.startswith(hall.server.url)]
    # ReDoc asks for its logo on a CDN: the pages' Content-Security-Policy stops it in the browser
    assert network and all(failed.get(u) == "csp" for u in foreign), (foreign, failed)
