"""schemathesis against the OpenAPI schema, as admin: no server error, every error in the one
shape. Offline (in-process ASGI), bounded (a fixed number of cases per operation, well under
60 s on the project's 2-core machine)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from sqlalchemy import Engine, update

from checkin.accounts.service import create_user
from checkin.settings import Settings
from checkin.web.app import create_app
from models import Body, Deputy, Role, User
from models.db import make_session_factory, session_scope
from tests.conftest import PASSWORD

pytestmark = pytest.mark.slow
CASES_PER_MODE = 10  # × 2 modes × 40 operations ≈ 800 requests, ≈ 25 s


@pytest.fixture
def fuzzed(settings: Settings, sqlite_engine: Engine) -> Iterator[tuple[Any, Any, Engine]]:
    factory = make_session_factory(sqlite_engine)
    with session_scope(factory) as s:
        create_user(s, username="admin", password=PASSWORD, role=Role.ADMIN)
        s.add(Body(name="某镇人大"))
        s.flush()
        s.add(Deputy(number="D001", name="张伟", body_id=1))
    app = create_app(settings.model_copy(update={"workers": 1}), engine=sqlite_engine)
    with TestClient(app) as c:
        token = c.post("/api/auth/login", data={"username": "admin", "password": PASSWORD})
        c.post(
            "/api/meetings",
            json={"body_id": 1, "title": "会议", "starts_at": "2026-12-01T09:00"},
            headers={"Authorization": f"Bearer {token.json()['token']}"},
        )
        schema = schemathesis.openapi.from_dict(c.app.openapi())  # type: ignore[attr-defined]
        schema.app = c.app  # type: ignore[attr-defined]
        yield schema, token.json()["token"], sqlite_engine


def _restore_admin(engine: Engine) -> None:
    """Whatever a case did to the admin (logout, deactivate, reset), it is admin again."""
    with session_scope(make_session_factory(engine)) as s:
        s.execute(
            update(User)
            .where(User.username == "admin")
            .values(
                active=True,
                must_change_password=False,
                token_version=0,
                failed_logins=0,
                locked_until=None,
            )
        )


def _fuzz(
    operation: Any,
    mode: Any,
    headers: dict[str, str],
    engine: Engine,
    seen: dict[str, set[int]],
    failures: list[str],
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=CASES_PER_MODE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    def check(case: Any) -> None:
        _restore_admin(engine)
        response = case.call(headers=headers)
        seen.setdefault(operation.label, set()).add(response.status_code)
        if response.status_code >= 500:
            failures.append(f"{operation.label}: {response.status_code} {response.text}")
        elif response.status_code >= 400:
            body = json.loads(response.text)
            assert set(body) == {"error", "message"}, (operation.label, body)

    try:
        check()
    except Unsatisfiable:
        # nothing to make invalid (an operation without parameters or body)
        assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label


def test_no_operation_answers_a_server_error(fuzzed: tuple[Any, str, Engine]) -> None:
    schema, token, engine = fuzzed
    headers = {"Authorization": f"Bearer {token}"}
    seen: dict[str, set[int]] = {}
    failures: list[str] = []
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) >= 30
    for operation in operations:
        for mode in schemathesis.GenerationMode:
            _fuzz(operation, mode, headers, engine, seen, failures)
    assert failures == []
    assert len(seen) == len(operations)
    assert any(codes & {200, 201} for codes in seen.values())  # not all refused
