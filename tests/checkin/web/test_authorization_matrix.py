"""The authorization matrix: every route × every kind of caller × resources of township A and B.

Callers: nobody, the county admin (whole tree), township A's admin, A's secretariat, B's
secretariat, and the kiosk tokens of A and B. Each request runs on a fresh copy of the same
world (a county congress with townships 甲 (A) and 乙 (B), their deputies, meetings, terms,
accounts, kiosks and import jobs), so a write never changes what the next request sees.

The documented answers (README, *Accounts and scopes*): no staff login 401 (pages: the
redirect to /login; sockets: 4401); a role too low 403; a resource outside the caller's
scope 404 (sockets: 4404 for the live socket, 4403 for a kiosk at another body's meeting),
never a word of the other township; allowed and in scope: the route's success code.

`ROUTES` must name every route of the app (enumerated from `app.routes`): a new route fails
`test_every_route_is_in_the_matrix` until its row is written here.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.routing import Mount
from starlette.websockets import WebSocketDisconnect

from checkin.accounts.scope import Scope, descendants
from checkin.accounts.service import create_user, register_kiosk
from checkin.audit import Actor
from checkin.meetings import service, terms
from checkin.meetings.attendance import record_attendance
from checkin.settings import Settings
from checkin.web.app import create_app
from checkin.web.imports import ImportJob, ImportJobs
from models import BodyKind, CheckinMethod, Deputy, Role
from models.db import make_engine, make_session_factory, session_scope, upgrade
from tests.conftest import PASSWORD

ALL = Scope.everything()
T = Actor("test")
START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
MARK = {"A": "甲", "B": "乙"}  # every name of a township's resources carries its mark

# Callers: (kind, role, home township or None for the whole tree)
CALLERS: dict[str, tuple[str, Role | None, str | None]] = {
    "nobody": ("none", None, None),
    "county_admin": ("staff", Role.ADMIN, None),
    "a_admin": ("staff", Role.ADMIN, "A"),
    "a_secretariat": ("staff", Role.SECRETARIAT, "A"),
    "b_secretariat": ("staff", Role.SECRETARIAT, "B"),
    "kiosk_a": ("kiosk", None, "A"),
    "kiosk_b": ("kiosk", None, "B"),
}


@dataclass
class Row:
    """One route's documented behaviour.

    role: None (public), "any" (any staff login), "staff" (admin or secretariat), "admin",
        "kiosk" (a kiosk token only).
    owned: the request concerns one township's resource (else a list of the caller's scope).
    ok: the success status when allowed (and in scope).
    body: the request for owner "A"/"B" → keyword arguments of `client.request`.
    page: a browser page (cookie login, redirects to /login when logged out).
    """

    role: str | None
    owned: bool
    ok: int = 200
    body: Callable[[World, str], dict[str, Any]] = lambda w, o: {}
    page: bool = False


@dataclass
class World:
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # caller → bearer / kiosk token
    cookies: dict[str, str] = field(default_factory=dict)
    jobs: dict[str, str] = field(default_factory=dict)

    def id(self, key: str) -> int:
        return self.ids[key]


def _json(f: Callable[[World, str], dict[str, Any]]) -> Callable[[World, str], dict[str, Any]]:
    return lambda w, o: {"json": f(w, o)}


def _person(number: str, **extra: Any) -> Callable[[World, str], dict[str, Any]]:
    return _json(lambda w, o: {"number": f"{o}{number}", **extra})


ROUTES: dict[tuple[str, str], Row] = {
    ("GET", "/healthz"): Row(None, False),
    ("GET", "/readyz"): Row(None, False),
    ("POST", "/api/auth/login"): Row(None, False),
    ("POST", "/api/auth/logout"): Row(None, False),
    ("GET", "/login"): Row(None, False, page=True),
    ("GET", "/password"): Row(None, False, page=True),
    ("GET", "/"): Row(None, False, page=True),
    ("GET", "/api/auth/me"): Row("any", False),
    ("POST", "/api/auth/password"): Row("any", False, 422, _json(lambda w, o: {})),
    ("GET", "/api/users"): Row("admin", False),
    ("POST", "/api/users"): Row(
        "admin",
        True,
        201,
        _json(
            lambda w, o: {
                "username": f"new-{o}",
                "password": PASSWORD,
                "role": "secretariat",
                "body_ids": [w.id(o)],
            }
        ),
    ),
    ("PUT", "/api/users/{user_id}/scope"): Row(
        "admin", True, 200, _json(lambda w, o: {"body_ids": [w.id(o)]})
    ),
    ("POST", "/api/users/{user_id}/deactivate"): Row("admin", True),
    ("POST", "/api/users/{user_id}/activate"): Row("admin", True),
    ("POST", "/api/users/{user_id}/reset-password"): Row("admin", True),
    ("GET", "/api/kiosks"): Row("admin", False),
    ("POST", "/api/kiosks"): Row(
        "admin", True, 201, _json(lambda w, o: {"name": f"新终端{o}", "body_id": w.id(o)})
    ),
    ("PATCH", "/api/kiosks/{name}"): Row(
        "admin", True, 200, _json(lambda w, o: {"body_id": w.id(o)})
    ),
    ("DELETE", "/api/kiosks/{name}"): Row("admin", True),
    ("GET", "/api/deputies"): Row("staff", False),
    ("GET", "/api/deputies/{number}"): Row("staff", True),
    ("GET", "/api/face-model"): Row("staff", False),
    ("POST", "/api/deputies"): Row(
        "admin",
        True,
        201,
        _json(lambda w, o: {"number": f"{o}99", "name": f"{MARK[o]}新", "body_id": w.id(o)}),
    ),
    ("PATCH", "/api/deputies/{number}"): Row("admin", True, 200, _json(lambda w, o: {"unit": "x"})),
    # over the (test) photo size limit: 413 once the deputy is found, before any face work
    ("POST", "/api/deputies/{number}/photos"): Row(
        "admin", True, 413, lambda w, o: {"files": {"files": ("p.jpg", b"\xff" * 20_000)}}
    ),
    ("DELETE", "/api/deputies/{number}/face"): Row("admin", True),
    ("GET", "/api/lookalikes"): Row("staff", False),
    ("POST", "/api/bodies"): Row(
        "admin",
        True,
        201,
        _json(
            lambda w, o: {"name": f"{MARK[o]}镇新机构", "kind": "presidium", "parent_id": w.id(o)}
        ),
    ),
    ("GET", "/api/bodies"): Row("staff", False),
    ("POST", "/api/meetings"): Row(
        "staff",
        True,
        201,
        _json(lambda w, o: {"body_id": w.id(o), "title": "新会议", "starts_at": START.isoformat()}),
    ),
    ("GET", "/api/meetings"): Row("staff", False),
    ("GET", "/api/meetings/{meeting_id}"): Row("staff", True),
    ("GET", "/api/meetings/{meeting_id}/status"): Row("staff", True),
    ("GET", "/api/meetings/{meeting_id}/roster"): Row("staff", True),
    ("POST", "/api/meetings/{meeting_id}/roster"): Row(
        "staff", True, 201, _person("4", role="nonvoting")
    ),
    ("DELETE", "/api/meetings/{meeting_id}/roster/{deputy_id}"): Row("staff", True),
    ("POST", "/api/meetings/{meeting_id}/roster/bulk"): Row(
        "staff", True, 200, _json(lambda w, o: {"add": [{"number": f"{o}4"}], "remove": []})
    ),
    ("POST", "/api/meetings/{meeting_id}/open"): Row("staff", True),
    ("POST", "/api/meetings/{meeting_id}/close"): Row("staff", True),
    ("POST", "/api/meetings/{meeting_id}/leave"): Row(
        "staff", True, 200, _person("3", reason="病假")
    ),
    ("POST", "/api/meetings/{meeting_id}/checkin"): Row(
        "staff", True, 200, _person("3", reason="证件核对")
    ),
    ("POST", "/api/meetings/{meeting_id}/undo"): Row(
        "staff", True, 200, _person("1", reason="误签")
    ),
    ("POST", "/api/meetings/{meeting_id}/departure"): Row("staff", True, 200, _person("1")),
    ("POST", "/api/meetings/{meeting_id}/return"): Row("staff", True, 200, _person("2")),
    ("GET", "/api/meetings/{meeting_id}/audit"): Row("staff", True),
    ("GET", "/api/meetings/{meeting_id}/sheet.xlsx"): Row("staff", True),
    ("GET", "/api/meetings/{meeting_id}/sheet.csv"): Row("staff", True),
    ("GET", "/api/terms"): Row("staff", False),
    ("POST", "/api/terms"): Row(
        "admin",
        True,
        201,
        _json(lambda w, o: {"body_id": w.id(o), "number": 19, "starts_on": "2030-01-01"}),
    ),
    ("GET", "/api/terms/{term_id}"): Row("staff", True),
    ("POST", "/api/terms/{term_id}/sessions"): Row(
        "staff", True, 201, _json(lambda w, o: {"number": 2, "starts_on": "2027-03-01"})
    ),
    ("POST", "/api/sessions/{session_id}/meetings"): Row(
        "staff", True, 200, _json(lambda w, o: {"meeting_id": w.id(f"m{o}")})
    ),
    ("DELETE", "/api/sessions/{session_id}/meetings/{meeting_id}"): Row("staff", True),
    ("GET", "/api/terms/{term_id}/report"): Row("staff", True),
    ("GET", "/api/terms/{term_id}/report.xlsx"): Row("staff", True),
    ("GET", "/api/terms/{term_id}/report/plot.{fmt}"): Row("staff", True),
    ("GET", "/api/deputies/{number}/record"): Row("staff", True),
    ("GET", "/api/deputies/{number}/record.xlsx"): Row("staff", True),
    ("POST", "/api/imports"): Row(
        "admin",
        True,
        202,
        lambda w, o: {
            "files": {"roster": ("r.csv", f"代表编号,姓名\n{o}77,{MARK[o]}七\n".encode())},
            "data": {"body_id": str(w.id(o))},
        },
    ),
    ("GET", "/api/imports/{job_id}"): Row("admin", True),
    ("GET", "/api/imports/{job_id}/report.xlsx"): Row("admin", True),
    ("GET", "/console"): Row("staff", False, 303, page=True),
    ("GET", "/console/deputies"): Row("admin", False, page=True),
    ("GET", "/console/import"): Row("admin", False, page=True),
    ("GET", "/console/bodies"): Row("admin", False, page=True),
    ("GET", "/console/meetings/new"): Row("staff", False, page=True),
    ("GET", "/console/kiosks"): Row("admin", False, page=True),
    ("GET", "/console/accounts"): Row("admin", False, page=True),
    ("GET", "/meetings"): Row("staff", False, page=True),
    ("GET", "/meetings/{meeting_id}/screen"): Row("staff", True, page=True),
    ("GET", "/meetings/{meeting_id}/operator"): Row("staff", True, page=True),
    ("GET", "/meetings/{meeting_id}/sheet"): Row("staff", True, page=True),
    ("GET", "/openapi.json"): Row("staff", False),
    ("GET", "/docs"): Row("staff", False, page=True),
    ("GET", "/redoc"): Row("staff", False, page=True),
    ("GET", "/terms"): Row("staff", False, page=True),
    ("GET", "/terms/{term_id}/report"): Row("staff", True, page=True),
    ("GET", "/terms/{term_id}/report/print"): Row("staff", True, page=True),
    ("GET", "/deputies/{number}/record"): Row("staff", True, page=True),
    ("WS", "/ws/meetings/{meeting_id}/live"): Row("staff", True),
    ("WS", "/ws/kiosk"): Row("kiosk", True),
    ("GET", "/kiosk"): Row(None, False, page=True),  # the browser kiosk: pairs with a token
    ("GET", "/kiosk-sw.js"): Row(None, False),
    ("GET", "/api/kiosk/meetings"): Row("kiosk", False),  # its own body's meetings only
}


def _params(w: World, o: str, path: str) -> str:
    values = {
        "meeting_id": w.id(f"m{o}"),
        "deputy_id": w.id(f"{o}3"),
        "number": f"{o}1",
        "term_id": w.id(f"t{o}"),
        "session_id": w.id(f"cs{o}"),
        "user_id": w.id(f"victim{o}"),
        "name": f"终端{MARK[o]}2",
        "fmt": "png",
        "job_id": w.jobs[o],
    }
    for key, value in values.items():
        path = path.replace("{" + key + "}", str(value))
    assert "{" not in path, path
    return path


def build_world(engine: Engine) -> World:
    """County (县) → 甲镇 (A, with its 主席团) and 乙镇 (B); everything else per township."""
    w = World()
    with session_scope(make_session_factory(engine)) as s:
        county = service.create_body(s, name="县人大", actor=T, scope=ALL)
        w.ids["county"] = county.id
        for o in ("A", "B"):
            body = service.create_body(
                s, name=f"{MARK[o]}镇人大", actor=T, scope=ALL, parent_id=county.id
            )
            w.ids[o] = body.id
            service.create_body(
                s,
                name=f"{MARK[o]}镇主席团",
                kind=BodyKind.PRESIDIUM,
                actor=T,
                scope=ALL,
                parent_id=body.id,
            )
            for n in ("1", "2", "3"):
                s.add(Deputy(number=f"{o}{n}", name=f"{MARK[o]}代表{n}", body_id=body.id))
            s.flush()
            m = service.create_meeting(
                s, body_id=body.id, title=f"{MARK[o]}镇会议", starts_at=START, actor=T, scope=ALL
            )
            service.open_window(s, meeting=m, actor=T, at=START.replace(hour=0))
            w.ids[f"m{o}"] = m.id
            for n in ("1", "2"):
                d = service.find_person(s, f"{o}{n}", scope=ALL)
                record_attendance(
                    s,
                    meeting=m,
                    deputy_id=d.id,
                    at=START.replace(hour=0, minute=30),
                    method=CheckinMethod.MANUAL,
                    actor=T,
                    reason="x",
                )
                w.ids[f"{o}{n}"] = d.id
            w.ids[f"{o}3"] = service.find_person(s, f"{o}3", scope=ALL).id
            service.mark_departure(
                s, meeting=m, deputy_id=w.id(f"{o}2"), actor=T, at=START.replace(minute=40)
            )
            s.add(Deputy(number=f"{o}4", name=f"{MARK[o]}代表4", body_id=body.id))
            t = terms.create_term(
                s,
                body_id=body.id,
                number=18,
                starts_on=date(2025, 1, 1),
                ends_on=date(2029, 12, 31),
                actor=T,
                scope=ALL,
            )
            cs = terms.create_session(
                s,
                term_id=t.id,
                number=1,
                starts_on=date(2026, 11, 30),
                ends_on=date(2026, 12, 5),
                actor=T,
                scope=ALL,
            )
            terms.attach_meeting(
                s, congress_session_id=cs.id, meeting_id=m.id, actor=T, zone="UTC", scope=ALL
            )
            w.ids[f"t{o}"], w.ids[f"cs{o}"] = t.id, cs.id
            victim = create_user(
                s,
                username=f"victim-{o}",
                password=PASSWORD,
                role=Role.SECRETARIAT,
                body_ids=[body.id],
            )
            w.ids[f"victim{o}"] = victim.id
            _, token = register_kiosk(s, name=f"终端{MARK[o]}", body_id=body.id, scope=ALL)
            w.tokens[f"kiosk_{o.lower()}"] = token
            register_kiosk(s, name=f"终端{MARK[o]}2", body_id=body.id, scope=ALL)
        for caller, (kind, role, home) in CALLERS.items():
            if kind == "staff":
                assert role is not None
                create_user(
                    s,
                    username=caller,
                    password=PASSWORD,
                    role=role,
                    body_ids=None if home is None else [w.id(home)],
                )
    return w


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, World, Any]]:
    """The app over a database file that `reset()` puts back to the built world."""
    folder = tmp_path_factory.mktemp("matrix")
    template, live = folder / "template.db", folder / "live.db"
    engine = make_engine(f"sqlite:///{template}")
    upgrade(engine)
    world = build_world(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    shutil.copyfile(template, live)
    settings = Settings(
        database_url=f"sqlite:///{live}",
        data_dir=folder / "data",
        secret_key="test-secret-key-0123456789",  # type: ignore[arg-type]
        max_image_bytes=10_000,
        live_poll_seconds=0.0,
        _env_file=None,  # type: ignore[call-arg]
    )
    app_engine = make_engine(settings.database_url)
    with TestClient(create_app(settings, engine=app_engine)) as client:
        for caller, (kind, _, _) in CALLERS.items():
            if kind == "staff":
                r = client.post("/api/auth/login", data={"username": caller, "password": PASSWORD})
                assert r.status_code == 200, r.text
                world.tokens[caller] = r.json()["token"]
                world.cookies[caller] = r.cookies["baodao_session"]
        client.cookies.clear()
        jobs: ImportJobs = client.app.state.imports  # type: ignore[attr-defined]
        with make_session_factory(app_engine)() as s:
            for o in ("A", "B"):
                job = ImportJob(
                    id=f"job-{o}",
                    scope=Scope(descendants(s, [world.id(o)])),
                    user="a_admin",
                    body_id=world.id(o),
                    roster_name=f"{MARK[o]}名册.csv",
                    state="done",
                )
                jobs.add(job)
                world.jobs[o] = job.id

        def reset() -> None:
            for j in list(jobs._jobs.values()):  # wait for imports a request started
                while j.state not in ("done", "failed"):
                    time.sleep(0.02)
            hub = client.app.state.live  # type: ignore[attr-defined]
            while hub._changes:  # and for the live hub's read of the last change
                time.sleep(0.02)
            app_engine.dispose()
            for suffix in ("-wal", "-shm"):
                Path(f"{live}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(template, live)

        yield client, world, reset


def _walk(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        if hasattr(route, "original_router"):
            yield from _walk(route.original_router.routes)
        else:
            yield route


def app_routes(client: TestClient) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for route in _walk(client.app.routes):  # type: ignore[attr-defined]
        if isinstance(route, APIRoute):
            out.update((m, route.path) for m in route.methods)
        elif isinstance(route, APIWebSocketRoute):
            out.add(("WS", route.path))
        else:
            assert isinstance(route, Mount), route  # static files only
    return out


def test_every_route_is_in_the_matrix(matrix: tuple[TestClient, World, Any]) -> None:
    client, _, _ = matrix
    routes = app_routes(client)
    assert routes - ROUTES.keys() == set(), "routes without a documented answer"
    assert ROUTES.keys() - routes == set(), "rows for routes that do not exist"


def expected(row: Row, caller: str, owner: str) -> int:
    """The documented status of `caller` on `row` for a resource of `owner`."""
    kind, role, home = CALLERS[caller]
    if row.role == "kiosk":  # a kiosk token, never a staff login
        return row.ok if kind == "kiosk" else 401
    if kind != "staff":
        return 303 if row.page else 401
    if row.role == "admin" and role is not Role.ADMIN:
        return 403
    if row.owned and home is not None and home != owner:
        return 404
    return row.ok


def _auth(row: Row, w: World, caller: str) -> dict[str, str]:
    if caller == "nobody":
        return {}
    if row.page:
        return {"Cookie": f"baodao_session={w.cookies[caller]}"} if caller in w.cookies else {}
    return {"Authorization": f"Bearer {w.tokens[caller]}"}


HTTP = sorted(k for k, r in ROUTES.items() if r.role is not None and k[0] != "WS")


@pytest.mark.parametrize(("method", "path"), HTTP, ids=[f"{m} {p}" for m, p in HTTP])
def test_route_answers_every_caller_as_documented(
    matrix: tuple[TestClient, World, Any], method: str, path: str
) -> None:
    client, w, reset = matrix
    row = ROUTES[(method, path)]
    wrong: list[str] = []
    for owner in ("A", "B") if row.owned else ("A",):
        url = _params(w, owner, path) if "{" in path else path
        for caller in CALLERS:
            reset()
            r = client.request(
                method,
                url,
                headers=_auth(row, w, caller),
                follow_redirects=False,
                **row.body(w, owner),
            )
            want = expected(row, caller, owner)
            if r.status_code != want:
                wrong.append(f"{caller} on {owner}: {r.status_code} (want {want}) {r.text[:120]}")
            if want == 303 and CALLERS[caller][0] != "staff":
                location = r.headers.get("location", "")
                if not location.startswith("/login"):
                    wrong.append(f"{caller} on {owner}: redirected to {location!r}")
            home = CALLERS[caller][2]
            if home is not None:  # a township's staff or kiosk
                other = MARK["B" if home == "A" else "A"]
                if other in r.content.decode("utf-8", "replace"):
                    wrong.append(f"{caller} on {owner}: the answer names the other township")
    assert not wrong, "\n".join(wrong)


def _live_close(client: TestClient, url: str) -> int | str:
    try:
        with client.websocket_connect(url) as ws:
            first = ws.receive_json()
            return str(first.get("topic"))
    except WebSocketDisconnect as closed:
        return closed.code


def test_the_live_socket_answers_every_caller_as_documented(
    matrix: tuple[TestClient, World, Any],
) -> None:
    client, w, reset = matrix
    reset()
    results = {}
    for owner in ("A", "B"):
        for caller in CALLERS:
            token = w.tokens.get(caller, "")
            url = f"/ws/meetings/{w.id(f'm{owner}')}/live?token={token}"
            results[(caller, owner)] = _live_close(client, url)
    for (caller, owner), got in results.items():
        kind, _, home = CALLERS[caller]
        if kind != "staff":
            want: int | str = 4401
        elif home is not None and home != owner:
            want = 4404  # B's meeting to A's secretariat: closed, never a snapshot
        else:
            want = "snapshot"
        assert got == want, (caller, owner, got)


def test_the_kiosk_socket_serves_only_its_own_body(matrix: tuple[TestClient, World, Any]) -> None:
    client, w, reset = matrix
    reset()
    for owner in ("A", "B"):
        for caller in CALLERS:
            token = w.tokens.get(caller, "bk_nothing")
            with client.websocket_connect("/ws/kiosk") as ws:
                ws.send_json(
                    {
                        "type": "hello",
                        "token": token,
                        "meeting_id": w.id(f"m{owner}"),
                        "client": "t",
                    }
                )
                try:
                    got: int | str = ws.receive_json()["type"]
                except WebSocketDisconnect as closed:
                    got = closed.code
            kind, _, home = CALLERS[caller]
            if kind != "kiosk":
                want: int | str = 4401  # a staff session is no kiosk token
            elif home != owner:
                want = 4403
            else:
                want = "welcome"
            assert got == want, (caller, owner, got)
