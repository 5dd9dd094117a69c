"""What a command or the service needs at hand: settings, database, template cipher."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from checkin import stored_settings
from checkin.errors import ConfigError
from checkin.keys import template_cipher
from checkin.settings import Settings, db_pool
from models import ConfigValue
from models.crypto import TemplateCipher
from models.db import DatabaseError, make_engine, make_session_factory, upgrade


def load_settings() -> Settings:
    """Settings from the environment; a bad value becomes one ConfigError line."""
    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = "BAODAO_" + "_".join(str(p) for p in err["loc"]).upper()
        raise ConfigError(f"{name}: {err['msg']}") from None


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    cipher: TemplateCipher


def open_runtime(settings: Settings | None = None, *, migrate: bool = True) -> Runtime:
    """Check the data folder, connect, migrate (by default), and apply stored settings.

    Settings stored in the database (`config_values`, written e.g. by `baodao calibrate
    --apply`) override the defaults but not values set explicitly (BAODAO_* variables).
    """
    settings = settings or load_settings()
    settings.ensure_data_dir()
    try:
        engine = make_engine(settings.database_url, db_pool(settings))
        if migrate:
            upgrade(engine)
    except DatabaseError as exc:
        raise ConfigError(str(exc)) from None
    sessions = make_session_factory(engine)
    try:
        with sessions() as session:
            if inspect(engine).has_table(ConfigValue.__tablename__):
                stored = stored_settings.load(session)
                settings = stored_settings.apply_overrides(settings, stored)
    except OperationalError as exc:
        raise ConfigError(f"cannot reach the database: {exc.orig}") from None
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        cipher=template_cipher(settings),
    )
