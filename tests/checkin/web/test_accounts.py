"""Accounts: forced first password change, own password change, admin list / deactivate /
reactivate / reset, revocation of every token, login throttling (per account and address)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from checkin.accounts.service import create_user
from checkin.settings import Settings
from checkin.web.app import create_app
from models import AuditEvent, Role, User
from models.db import make_session_factory, session_scope
from tests.conftest import PASSWORD, login

NEW_PASSWORD = "a-new-password-2026"


def _bearer(client: TestClient, username: str, password: str) -> dict[str, str]:
    r = client.post("/api/auth/login", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    client.cookies.clear()  # these tests speak bearer only
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _audit(engine: Engine, action: str) -> list[AuditEvent]:
    with make_session_factory(engine)() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_a_password_someone_else_chose_must_be_changed_before_anything_else(
    app_client: TestClient,
) -> None:
    admin = login(app_client, "admin")
    r = app_client.post(
        "/api/users",
        json={"username": "wang", "password": "temporary-pass-1", "role": "secretariat"},
        headers=admin,
    )
    assert r.status_code == 201 and r.json()["must_change_password"] is True
    wang = _bearer(app_client, "wang", "temporary-pass-1")
    for method, path in [("GET", "/api/meetings"), ("GET", "/api/bodies"), ("POST", "/api/bodies")]:
        r = app_client.request(method, path, headers=wang, json={"name": "x"})
        assert r.status_code == 403 and r.json()["error"] == "password_change_required", path
    assert app_client.get("/api/auth/me", headers=wang).json()["must_change_password"] is True
    r = app_client.post(
        "/api/auth/password",
        json={"old_password": "temporary-pass-1", "new_password": NEW_PASSWORD},
        headers=wang,
    )
    assert r.status_code == 200, r.text
    assert app_client.get("/api/meetings", headers=wang).status_code == 401  # old token revoked
    fresh = {"Authorization": f"Bearer {r.json()['token']}"}
    assert app_client.get("/api/meetings", headers=fresh).status_code == 200
    assert app_client.get("/api/auth/me", headers=fresh).json()["must_change_password"] is False


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        ("wrong-password-x", NEW_PASSWORD, "wrong_password"),
        (PASSWORD, "short-9ch", "invalid_input"),
        (PASSWORD, "Clerk", "invalid_input"),
        (PASSWORD, PASSWORD, "invalid_input"),
    ],
)
def test_password_change_policy(app_client: TestClient, old: str, new: str, code: str) -> None:
    clerk = _bearer(app_client, "clerk", PASSWORD)
    if new == "Clerk":
        new = "CLERK"  # the username in other case: still the username
    r = app_client.post(
        "/api/auth/password", json={"old_password": old, "new_password": new}, headers=clerk
    )
    assert r.status_code == 422 and r.json()["error"] == code
    assert app_client.get("/api/auth/me", headers=clerk).status_code == 200  # nothing changed


def test_a_username_as_password_is_refused(app_client: TestClient) -> None:
    admin = login(app_client, "admin")
    body = {"username": "longusername1", "password": "longusername1", "role": "secretariat"}
    r = app_client.post("/api/users", json=body, headers=admin)
    assert r.status_code == 422 and "用户名" in r.json()["message"]


def test_logout_revokes_every_token_of_the_account(app_client: TestClient) -> None:
    first = _bearer(app_client, "clerk", PASSWORD)
    second = _bearer(app_client, "clerk", PASSWORD)  # another device
    assert app_client.post("/api/auth/logout", headers=first).json() == {"ok": True}
    for headers in (first, second):
        r = app_client.get("/api/auth/me", headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert app_client.get("/api/auth/me", headers=_bearer(app_client, "clerk", PASSWORD)).is_success


def test_admin_lists_deactivates_reactivates_and_resets(
    app_client: TestClient, sqlite_engine: Engine
) -> None:
    admin = login(app_client, "admin")
    users = {u["username"]: u for u in app_client.get("/api/users", headers=admin).json()}
    clerk_id = users["clerk"]["id"]
    clerk = _bearer(app_client, "clerk", PASSWORD)

    r = app_client.post(f"/api/users/{clerk_id}/deactivate", headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False
    assert app_client.get("/api/auth/me", headers=clerk).status_code == 401
    r = app_client.post("/api/auth/login", data={"username": "clerk", "password": PASSWORD})
    assert r.status_code == 401

    assert app_client.post(f"/api/users/{clerk_id}/activate", headers=admin).json()["active"]
    assert app_client.get("/api/auth/me", headers=clerk).status_code == 401  # stays revoked

    r = app_client.post(f"/api/users/{clerk_id}/reset-password", headers=admin)
    temporary = r.json()["password"]
    assert r.status_code == 200 and len(temporary) >= 10
    assert r.json()["user"]["must_change_password"] is True
    r = app_client.post("/api/auth/login", data={"username": "clerk", "password": PASSWORD})
    assert r.status_code == 401
    again = _bearer(app_client, "clerk", temporary)
    r = app_client.get("/api/meetings", headers=again)
    assert r.json()["error"] == "password_change_required"

    actions = {e.action for e in _audit_all(sqlite_engine)}
    assert {"user.deactivate", "user.activate", "user.reset_password"} <= actions
    assert app_client.post("/api/users/999/deactivate", headers=admin).status_code == 404


def _audit_all(engine: Engine) -> list[AuditEvent]:
    with make_session_factory(engine)() as s:
        return list(s.scalars(select(AuditEvent)))


def test_the_last_active_admin_cannot_be_deactivated(app_client: TestClient) -> None:
    admin = login(app_client, "admin")
    me = app_client.get("/api/auth/me", headers=admin).json()
    r = app_client.post(f"/api/users/{me['id']}/deactivate", headers=admin)
    assert r.status_code == 409 and r.json()["error"] == "conflict"
    r = app_client.post(
        "/api/users",
        json={"username": "admin2", "password": "second-admin-pw", "role": "admin"},
        headers=admin,
    )
    assert r.status_code == 201
    r = app_client.post(f"/api/users/{me['id']}/deactivate", headers=admin)
    assert r.status_code == 200  # another admin remains (who must first change their password)
    assert app_client.get("/api/auth/me", headers=admin).status_code == 401


# --- throttling ---------------------------------------------------------------------------


@pytest.fixture
def strict(settings: Settings, sqlite_engine: Engine) -> Iterator[tuple[Settings, Engine]]:
    with session_scope(make_session_factory(sqlite_engine)) as s:
        create_user(s, username="admin", password=PASSWORD, role=Role.ADMIN)
        create_user(s, username="clerk", password=PASSWORD, role=Role.SECRETARIAT)
    yield (
        settings.model_copy(update={"login_max_failures": 3, "login_address_max_failures": 6}),
        sqlite_engine,
    )


def _try(client: TestClient, username: str, password: str) -> int:
    r = client.post("/api/auth/login", data={"username": username, "password": password})
    if r.status_code == 429:
        assert int(r.headers["Retry-After"]) >= 1
        assert r.json()["error"] == "too_many_attempts"
    return r.status_code


def test_wrong_passwords_lock_the_account_in_the_database(
    strict: tuple[Settings, Engine],
) -> None:
    settings, engine = strict
    with TestClient(create_app(settings, engine=engine)) as one:
        codes = [_try(one, "clerk", "wrong-password-1") for _ in range(4)]
        assert codes == [401, 401, 429, 429]
        assert _try(one, "clerk", PASSWORD) == 429  # even the right password, while locked
    # another serve process on the same database agrees
    with TestClient(create_app(settings, engine=engine)) as other:
        assert _try(other, "clerk", PASSWORD) == 429
        assert _try(other, "admin", PASSWORD) == 200  # other accounts are not affected
    with make_session_factory(engine)() as s:
        clerk = s.scalar(select(User).where(User.username == "clerk"))
        assert clerk is not None and clerk.failed_logins == 3 and clerk.locked_until is not None
        clerk.locked_until = None  # the lock ran out
        s.commit()
    with TestClient(create_app(settings, engine=engine)) as later:
        assert _try(later, "clerk", PASSWORD) == 200
    with make_session_factory(engine)() as s:
        clerk = s.scalar(select(User).where(User.username == "clerk"))
        assert clerk is not None and clerk.failed_logins == 0  # a success resets
    assert len(_audit(engine, "auth.login_failed")) == 3
    assert len(_audit(engine, "auth.locked")) == 1
    assert _audit(engine, "auth.login")


def test_wrong_passwords_from_one_address_are_throttled_across_accounts(
    strict: tuple[Settings, Engine],
) -> None:
    settings, engine = strict
    with TestClient(create_app(settings, engine=engine)) as client:
        codes = [_try(client, f"nobody{i}", "wrong-password-1") for i in range(6)]
        assert codes == [401] * 6
        assert _try(client, "nobody", "wrong-password-1") == 429
        assert _try(client, "admin", PASSWORD) == 429  # the address waits, whatever the account
    with TestClient(create_app(settings, engine=engine)) as fresh:  # memory: per process
        assert _try(fresh, "admin", PASSWORD) == 200


def test_a_success_resets_the_address_count(strict: tuple[Settings, Engine]) -> None:
    settings, engine = strict
    with TestClient(create_app(settings, engine=engine)) as client:
        for _ in range(5):
            assert _try(client, "nobody", "wrong-password-1") == 401
        assert _try(client, "admin", PASSWORD) == 200
        for _ in range(5):
            assert _try(client, "nobody", "wrong-password-1") == 401


def test_wrong_old_passwords_count_toward_the_lock(strict: tuple[Settings, Engine]) -> None:
    settings, engine = strict
    with TestClient(create_app(settings, engine=engine)) as client:
        clerk = _bearer(client, "clerk", PASSWORD)
        codes = [
            client.post(
                "/api/auth/password",
                json={"old_password": f"guess-number-{i}", "new_password": NEW_PASSWORD},
                headers=clerk,
            ).status_code
            for i in range(4)
        ]
        assert codes == [422, 422, 429, 429]  # a stolen session cannot guess the password
        assert _try(client, "clerk", PASSWORD) == 429
