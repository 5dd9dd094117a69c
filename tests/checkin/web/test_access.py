"""Every API route demands credentials (401) and the right role (403)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from checkin.web.deps import RoleCheck
from models import Role
from tests.conftest import login

PUBLIC = {("/api/auth/login", "POST"), ("/api/auth/logout", "POST")}


def _walk(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # FastAPI keeps included routers nested
            yield from _walk(route.original_router.routes)


def _api_routes(client: TestClient) -> list[tuple[APIRoute, str]]:
    routes = []
    for route in _walk(client.app.routes):  # type: ignore[attr-defined]
        if route.path.startswith("/api"):
            routes.extend(
                (route, m) for m in sorted(route.methods) if (route.path, m) not in PUBLIC
            )
    return routes


def _allowed_roles(route: APIRoute) -> frozenset[Role] | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, RoleCheck):
            return dep.call.roles
        stack.extend(dep.dependencies)
    return None


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_there_are_protected_routes(app_client: TestClient) -> None:
    assert len(_api_routes(app_client)) >= 5


def test_every_api_route_requires_credentials(app_client: TestClient) -> None:
    for route, method in _api_routes(app_client):
        r = app_client.request(method, _url(route.path))
        assert r.status_code == 401, f"{method} {route.path} -> {r.status_code}"
        assert r.json()["error"] == "unauthorized"


def test_a_forged_token_is_refused(app_client: TestClient) -> None:
    r = app_client.get("/api/auth/me", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401


def test_routes_refuse_the_wrong_role(app_client: TestClient) -> None:
    clerk = login(app_client, "clerk")
    checked = 0
    for route, method in _api_routes(app_client):
        roles = _allowed_roles(route)
        if roles is not None and Role.SECRETARIAT not in roles:
            r = app_client.request(method, _url(route.path), headers=clerk)
            assert r.status_code == 403, f"{method} {route.path} -> {r.status_code}"
            checked += 1
    assert checked >= 3


def test_login_sets_an_httponly_strict_cookie(app_client: TestClient) -> None:
    r = app_client.post(
        "/api/auth/login", data={"username": "clerk", "password": "correct-horse-battery"}
    )
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert app_client.get("/api/auth/me").json()["username"] == "clerk"


@pytest.mark.parametrize("password", ["wrong-password", ""])
def test_wrong_password_is_401(app_client: TestClient, password: str) -> None:
    r = app_client.post("/api/auth/login", data={"username": "admin", "password": password})
    assert r.status_code in (401, 422)


def test_admin_registers_and_revokes_a_kiosk(app_client: TestClient) -> None:
    admin = login(app_client, "admin")
    body = app_client.post("/api/bodies", json={"name": "某镇人大"}, headers=admin).json()["id"]
    kiosk = {"name": "东门", "venue": "大礼堂", "body_id": body}
    r = app_client.post("/api/kiosks", json=kiosk, headers=admin)
    assert r.status_code == 201 and r.json()["token"].startswith("bk_")
    assert r.json()["body_id"] == body
    assert app_client.post("/api/kiosks", json=kiosk, headers=admin).status_code == 409
    assert app_client.delete("/api/kiosks/东门", headers=admin).json()["revoked"] is True
    assert app_client.delete("/api/kiosks/西门", headers=admin).status_code == 404


def test_health_and_readiness(app_client: TestClient) -> None:
    assert app_client.get("/healthz").json() == {"status": "ok"}
    assert app_client.get("/readyz").json()["status"] == "ready"
