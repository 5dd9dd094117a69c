"""The gate before the routes: size limits, credentials and CSRF are decided from the headers,
before a byte of the body is read; anything unexpected is a 500 in the one shape."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from checkin.web.gate import origin_allowed
from tests.conftest import PASSWORD, login

MB = 1_000_000


class RawCall:
    """Drive the ASGI app directly and count how many body chunks it pulled."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def __call__(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        chunks: int = 100,
        chunk: bytes = b"x" * MB,
    ) -> tuple[int, dict[str, Any], int]:
        pulled = 0
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            nonlocal pulled
            pulled += 1
            return {"type": "http.request", "body": chunk, "more_body": pulled < chunks}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80),
            "app": self.app,
        }
        asyncio.run(self.app(scope, receive, send))  # type: ignore[arg-type]
        start = next(m for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return start["status"], json.loads(body), pulled


@pytest.fixture
def raw(app_client: TestClient) -> Iterator[RawCall]:
    yield RawCall(app_client.app)  # type: ignore[arg-type]


def test_an_upload_without_credentials_is_refused_before_its_body_is_read(raw: RawCall) -> None:
    headers = {
        "content-type": "multipart/form-data; boundary=xyz",
        "content-length": str(300 * MB),
        "host": "testserver",
    }
    status, body, pulled = raw("POST", "/api/deputies/D001/photos", headers)
    assert (status, body["error"], pulled) == (401, "unauthorized", 0)


def test_a_json_body_over_the_limit_is_413_before_reading_even_without_credentials(
    raw: RawCall,
) -> None:
    headers = {"content-type": "application/json", "content-length": str(400 * MB)}
    status, body, pulled = raw("POST", "/api/meetings", headers)
    assert (status, body["error"], pulled) == (413, "payload_too_large", 0)


def test_a_streamed_body_is_counted_and_cut_off_at_the_limit(
    raw: RawCall, app_client: TestClient
) -> None:
    token = login(app_client, "admin")["Authorization"]
    headers = {"content-type": "application/json", "authorization": token}
    status, body, pulled = raw("POST", "/api/meetings", headers, chunks=400)
    # max_json_bytes is 1 MB: the second 1 MB chunk passes it, nothing more is read
    assert (status, body["error"], pulled) == (413, "payload_too_large", 2)


def test_a_photo_upload_may_be_larger_than_a_json_body(app_client: TestClient) -> None:
    admin = login(app_client, "admin")
    big = b"\xff\xd8\xff" + b"0" * (3 * MB)  # over max_json_bytes, under 20 × max_image_bytes
    r = app_client.post(
        "/api/deputies/NOBODY/photos", files={"files": ("a.jpg", big)}, headers=admin
    )
    assert r.status_code == 404 and r.json()["error"] == "not_found"  # read, then judged


def test_chunked_json_over_the_limit_through_a_real_client(app_client: TestClient) -> None:
    admin = login(app_client, "admin")

    def stream() -> Iterator[bytes]:
        yield b'{"title": "'
        for _ in range(50):
            yield b"x" * 100_000

    r = app_client.post("/api/bodies", content=stream(), headers=admin)
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


def test_a_bad_content_length_is_400(raw: RawCall) -> None:
    status, body, pulled = raw("POST", "/api/auth/login", {"content-length": "12abc"})
    assert (status, body["error"], pulled) == (400, "invalid_input", 0)


# --- CSRF ---------------------------------------------------------------------------------


def _cookie_login(client: TestClient, username: str = "clerk") -> str:
    r = client.post("/api/auth/login", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200
    return str(r.json()["csrf_token"])


def test_a_cookie_write_without_the_csrf_token_is_403(app_client: TestClient) -> None:
    _cookie_login(app_client, "admin")
    r = app_client.post("/api/bodies", json={"name": "某镇人大"})
    assert r.status_code == 403 and r.json()["error"] == "csrf_failed"
    forged = {"X-CSRF-Token": "0" * 64}
    r = app_client.post("/api/bodies", json={"name": "某镇人大"}, headers=forged)
    assert r.status_code == 403 and r.json()["error"] == "csrf_failed"


def test_a_cookie_write_with_the_pages_csrf_token_passes(app_client: TestClient) -> None:
    csrf = _cookie_login(app_client, "admin")
    r = app_client.post("/api/bodies", json={"name": "某镇人大"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    assert app_client.get("/api/bodies").status_code == 200  # reads need no token


def test_a_form_post_from_another_origin_with_the_session_cookie_is_403(
    app_client: TestClient,
) -> None:
    csrf = _cookie_login(app_client, "admin")
    cross = {"Origin": "http://evil.example:8000", "X-CSRF-Token": csrf}
    for headers in (cross, {"Origin": "http://evil.example:8000"}, {"Referer": "http://x.y/z"}):
        r = app_client.post("/api/bodies", data={"name": "x"}, headers=headers)
        assert r.status_code == 403 and r.json()["error"] == "csrf_failed", headers
    own = {"Origin": "http://testserver", "X-CSRF-Token": csrf}
    r = app_client.post("/api/bodies", json={"name": "本站"}, headers=own)
    assert r.status_code == 201


def test_login_from_a_foreign_origin_is_refused(app_client: TestClient) -> None:
    r = app_client.post(
        "/api/auth/login",
        data={"username": "admin", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403 and r.json()["error"] == "csrf_failed"


def test_bearer_requests_need_no_csrf_token(app_client: TestClient) -> None:
    admin = login(app_client, "admin")
    app_client.cookies.clear()
    r = app_client.post("/api/bodies", json={"name": "某镇人大"}, headers=admin)
    assert r.status_code == 201


@pytest.mark.parametrize(
    ("origin", "host", "allowed", "ok"),
    [
        ("http://hall.local:8000", "hall.local:8000", [], True),
        ("https://hall.local", "hall.local", [], True),
        ("https://hall.local:443", "hall.local", [], True),
        ("http://hall.local:8001", "hall.local:8000", [], False),
        ("http://evil.example", "hall.local:8000", [], False),
        ("null", "hall.local:8000", [], False),
        ("http://hall.local.evil.example", "hall.local", [], False),
        ("https://screen.example", "hall.local", ["https://screen.example"], True),
    ],
)
def test_origin_allowed(origin: str, host: str, allowed: list[str], ok: bool) -> None:
    assert origin_allowed(origin, host, allowed) is ok


# --- one error shape ----------------------------------------------------------------------


def test_an_unexpected_exception_is_a_500_in_the_one_shape_and_logged(
    app_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    app: FastAPI = app_client.app  # type: ignore[assignment]

    def boom() -> None:
        raise RuntimeError("kaputt")

    app.add_api_route("/healthz/boom", boom)
    r = app_client.get("/healthz/boom")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"] == "internal_error"
    assert "kaputt" not in r.text
    assert any("kaputt" in (rec.exc_text or "") or rec.exc_info for rec in caplog.records)
