"""Shared fixtures: face data, settings, databases (SQLite always, PostgreSQL when asked), apps."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.orm import Session

from checkin.accounts.service import create_user
from checkin.settings import Settings
from checkin.web.app import create_app
from models import Role
from models.db import make_engine, make_session_factory, session_scope, upgrade

REPO = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("BAODAO_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("BAODAO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PASSWORD = "correct-horse-battery"


FACES = Path(os.environ.get("BAODAO_FACES_DIR", REPO.parent / "shared" / "faces")).resolve()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop at once, with one line, when the shared face data is not where the tests look."""
    missing = [sub for sub in ("dev", "fixtures") if not (FACES / sub).is_dir()]
    if missing:
        pytest.exit(
            f"face data not found: {FACES} has no {' or '.join(f'{m}/' for m in missing)} "
            "(put the shared faces folder at ../shared/faces beside this repository, or set "
            "BAODAO_FACES_DIR=/path/to/faces)",
            returncode=2,
        )


# The longest files (≈ 80–110 s each on this 2-core machine), started before everything else.
LONGEST = (
    "tests/kiosk_client/test_e2e_liveness_blink.py",
    "tests/kiosk_client/test_e2e_liveness_challenge.py",
    "tests/checkin/web/browser/test_browser_kiosk.py",
    "tests/kiosk_client/test_e2e_real_server.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first, then the other slow tests, then the rest (stable order
    otherwise): under `--dist loadfile` a long file that starts last runs alone at the end
    while the other worker idles."""

    missing = [f for f in LONGEST if not (REPO / f).is_file()]
    if missing:  # keep the list true when a file is renamed
        raise pytest.UsageError(f"conftest LONGEST names missing files: {missing}")

    def rank(item: pytest.Item) -> int:
        if item.nodeid.split("::")[0] in LONGEST:
            return 0
        return 1 if item.get_closest_marker("slow") is not None else 2

    items.sort(key=rank)


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """The shared face photos: $BAODAO_FACES_DIR, else ../shared/faces beside the repo."""
    return FACES


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to head once per session; tests start from copies of it."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:  # fold the WAL into the file, so a plain copy is complete
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def migrated_copy(template: Path, path: Path) -> Engine:
    """An engine on a fresh copy of the migrated template at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    return make_engine(f"sqlite:///{path}")


@pytest.fixture
def output_dir(request: pytest.FixtureRequest) -> Path:
    """A per-test folder under test-output/ for screenshots and reports worth keeping."""
    path = REPO / "test-output" / request.node.name.replace("[", "_").replace("]", "")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _reset_postgres(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


def worker_database(url: str) -> str:
    """The PostgreSQL URL for this test process: under pytest-xdist each worker gets its own
    database beside the given one (test_gw0, test_gw1, …), created on first use."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    parsed = make_url(url)
    name = f"{parsed.database}_{worker}"
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
            if exists is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    if not POSTGRES_URL:
        pytest.skip("BAODAO_TEST_POSTGRES_URL not set (CI sets it)")
    engine = make_engine(worker_database(POSTGRES_URL))
    _reset_postgres(engine)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def redis_url() -> str:
    """The test Redis: skipped when unreachable, a failure under CI."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis not reachable at {REDIS_URL}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    return REDIS_URL


def _backends() -> list[object]:
    return ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=_backends())
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database: a fresh SQLite file, or the session's PostgreSQL wiped per test."""
    if request.param == "sqlite":
        eng = migrated_copy(request.getfixturevalue("migrated_sqlite"), tmp_path / "test.db")
        yield eng
        eng.dispose()
        return
    eng = request.getfixturevalue("postgres_engine")
    yield eng
    with eng.begin() as conn:  # leave the schema, drop the rows
        tables = [
            t
            for t in conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname='public'")
            ).scalars()
            if t != "alembic_version"
        ]
        if tables:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    factory = make_session_factory(engine)
    with session_scope(factory) as s:
        yield s


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'test.db'}",
        data_dir=tmp_path / "data",
        secret_key="test-secret-key-0123456789",  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def sqlite_engine(settings: Settings, migrated_sqlite: Path) -> Iterator[Engine]:
    """A migrated SQLite database at the settings' URL (for app and service tests)."""
    eng = migrated_copy(migrated_sqlite, Path(settings.database_url.removeprefix("sqlite:///")))
    yield eng
    eng.dispose()


@pytest.fixture
def app_client(settings: Settings, sqlite_engine: Engine) -> Iterator[TestClient]:
    """The app on a fresh SQLite database, with users `admin` and `clerk` (secretariat)."""
    engine = sqlite_engine
    with session_scope(make_session_factory(engine)) as s:
        create_user(s, username="admin", password=PASSWORD, role=Role.ADMIN)
        create_user(s, username="clerk", password=PASSWORD, role=Role.SECRETARIAT)
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client


def login(client: TestClient, username: str) -> dict[str, str]:
    """Bearer headers for one of the app_client users."""
    r = client.post("/api/auth/login", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}
