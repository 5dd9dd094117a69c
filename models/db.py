"""Engine and session setup, and the migration commands (Alembic, configured in code)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseError(Exception):
    """The database URL is unusable or the database cannot be reached."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    # Deleted rows (face templates) are overwritten with zeros, not left in free space.
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


def _private_sqlite_file(path: Path) -> None:
    """Create the database file 0600 before SQLite does (its -wal and -shm files take the
    database file's mode), and tighten files an older version left readable to others."""
    try:
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise DatabaseError(f"cannot create database file {path}: {exc.strerror}") from exc
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if p.exists() and p.stat().st_mode & 0o077:
                p.chmod(0o600)
        except OSError as exc:  # someone else's file: SQLite may still open it
            logger.warning("cannot make %s private (0600): %s", p, exc.strerror)


class PoolSize:
    """How many connections an engine keeps and may open, and how long a caller waits."""

    def __init__(self, size: int = 10, overflow: int = 20, timeout: float = 5.0) -> None:
        self.size = size
        self.overflow = overflow
        self.timeout = timeout

    def kwargs(self) -> dict[str, Any]:
        return {"pool_size": self.size, "max_overflow": self.overflow, "pool_timeout": self.timeout}


def make_engine(url: str, pool: PoolSize | None = None) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and its folder created.

    `pool` sizes the connection pool (default: 10 kept, 20 more in a burst, 5 s wait); a
    caller that finds no free connection in time gets sqlalchemy's TimeoutError (the web
    answers 503) instead of waiting 30 s."""
    sized = (pool or PoolSize()).kwargs()
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"database URL {url!r} is not a valid SQLAlchemy URL") from exc
    try:
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                folder = Path(parsed.database).parent
                try:
                    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                except OSError as exc:
                    raise DatabaseError(
                        f"cannot create database folder {folder}: {exc.strerror}"
                    ) from exc
                _private_sqlite_file(Path(parsed.database))
            memory = not parsed.database or parsed.database == ":memory:"
            engine = create_engine(
                parsed,
                connect_args={"check_same_thread": False, "timeout": 10},
                **({} if memory else sized),
            )
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(parsed, pool_pre_ping=True, **sized)
    except (ImportError, ArgumentError) as exc:
        raise DatabaseError(f"database URL {url!r} cannot be used: {exc}") from exc


def scrub(engine: Engine) -> None:
    """After deleting sensitive rows: fold SQLite's WAL into the database and empty it.

    With `secure_delete` the deleted bytes are zeroed in the page; the WAL still holds older
    copies of the page until this checkpoint truncates it. PostgreSQL keeps dead row versions
    until VACUUM reuses them (the templates are encrypted either way).
    """
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    if busy:
        logger.warning("WAL checkpoint after deleting face data was blocked by a reader")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success, rolls back on error, and always closes."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Apply every migration not yet applied (idempotent)."""
    try:
        command.upgrade(_alembic_config(engine), "head")
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach the database: {exc.orig}") from exc


def head_revision() -> str | None:
    return ScriptDirectory.from_config(
        _alembic_config(create_engine("sqlite://"))
    ).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The database's revision (None: never migrated); DatabaseError if unreachable."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach the database: {exc.orig}") from exc
