"""Pages: a safe `next` after login, the forced 修改密码 page, CSRF tokens in pages, and the API
docs from local assets for logged-in staff only."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from checkin.web.pages import safe_next
from models import User
from models.db import make_session_factory
from tests.conftest import PASSWORD, login


@pytest.mark.parametrize(
    "target",
    [
        "/%5Cevil.example",
        "/%255Cevil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example/meetings",
        "http:evil.example",
        "%2F%2Fevil.example",
        "/%2F/evil.example",
        "/%09/evil.example",
        "javascript:alert(1)",
        "",
        "meetings",
    ],
)
def test_an_unsafe_next_goes_to_the_meeting_list(app_client: TestClient, target: str) -> None:
    assert safe_next(target) == "/meetings"
    r = app_client.get("/login", params={"next": target})
    assert 'data-next="/meetings"' in r.text


@pytest.mark.parametrize("target", ["/meetings/3/screen", "/meetings?x=1", "/docs"])
def test_a_local_next_is_kept(target: str) -> None:
    assert safe_next(target) == target


def _cookie_login(client: TestClient, username: str) -> None:
    r = client.post("/api/auth/login", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200


def test_pages_send_a_must_change_account_to_the_password_page(
    app_client: TestClient, sqlite_engine: Engine
) -> None:
    with make_session_factory(sqlite_engine)() as s:
        s.execute(update(User).where(User.username == "clerk").values(must_change_password=True))
        s.commit()
    _cookie_login(app_client, "clerk")
    for path in ("/meetings", "/meetings/1/screen", "/docs"):
        r = app_client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/password?next=")
    page = app_client.get("/password?next=/meetings")
    assert page.status_code == 200
    assert "<h1>修改密码</h1>" in page.text and 'id="password-forced"' in page.text
    csrf = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page.text)
    assert csrf, page.text
    r = app_client.post(
        "/api/auth/password",
        json={"old_password": PASSWORD, "new_password": "clerk-new-password"},
        headers={"X-CSRF-Token": csrf.group(1)},
    )
    assert r.status_code == 200, r.text
    assert app_client.get("/meetings", follow_redirects=False).status_code == 200  # new cookie


def test_the_meeting_list_page_renders(app_client: TestClient) -> None:
    _cookie_login(app_client, "clerk")
    r = app_client.get("/meetings")
    assert r.status_code == 200 and "会议列表" in r.text and 'name="csrf-token"' in r.text


def test_the_api_docs_are_for_logged_in_staff_and_local(app_client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        r = app_client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/login?next=%2F{path[1:]}"
    r = app_client.get("/openapi.json")
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert app_client.get("/openapi.json", headers=login(app_client, "clerk")).json()["paths"]
    _cookie_login(app_client, "clerk")
    for path in ("/docs", "/redoc"):
        page = app_client.get(path).text
        assert "http://" not in page and "https://" not in page, page  # no CDN, no fonts
        for asset in re.findall(r'(?:src|href)="(/[^"]+)"', page):
            assert app_client.get(asset).status_code == 200, asset
    assert "/docs-assets/swagger-ui-bundle.js" in app_client.get("/docs").text
    assert "/docs-assets/redoc.standalone.js" in app_client.get("/redoc").text
