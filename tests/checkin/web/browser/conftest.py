"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, and a seeded server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from checkin.accounts.service import create_user
from models import Body, Deputy, Role
from models.db import make_engine, make_session_factory, session_scope, upgrade
from tests.server import Server, baodao_env

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "clerk-password-1"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing (apt-get install chromium)")
        pytest.skip("/usr/bin/chromium is missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Hall:
    server: Server
    headers: dict[str, str]
    meeting_id: int
    numbers: list[str]

    def post(self, path: str, **body: Any) -> dict[str, Any]:
        r = httpx.post(
            f"{self.server.url}/api/meetings/{self.meeting_id}{path}",
            json=body,
            headers=self.headers,
        )
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture
def hall(tmp_path: Path) -> Iterator[Hall]:
    """A running server with a 6-deputy congress (quorum 4), a meeting and user `clerk`."""
    env = baodao_env(tmp_path / "var", BAODAO_LIVE_HEARTBEAT_SECONDS="2")
    engine = make_engine(env["BAODAO_DATABASE_URL"])
    upgrade(engine)
    numbers = [f"D{i:03}" for i in range(6)]
    with session_scope(make_session_factory(engine)) as s:
        create_user(s, username="clerk", password=PASSWORD, role=Role.SECRETARIAT)
        body = Body(name="青山镇第十八届人民代表大会")
        s.add(body)
        s.flush()
        names = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊"]
        for n, name in zip(numbers, names, strict=True):
            s.add(Deputy(number=n, name=name, unit=f"青山镇{name[0]}家村", body_id=body.id))
    engine.dispose()
    with Server(env) as server:
        headers = server.login("clerk", PASSWORD)
        r = httpx.post(
            server.url + "/api/meetings",
            json={"body_id": 1, "title": "第三次会议", "starts_at": "2026-12-01T09:00:00+08:00"},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        yield Hall(server, headers, r.json()["id"], numbers)


def login_page(page: Any, base: str, target: str) -> None:
    """Log in through the /login form and land on `target`."""
    page.goto(f"{base}{target}")
    page.wait_for_url(lambda url: "/login?next=" in url)
    page.fill("#username", "clerk")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(lambda url: url.endswith(target))
