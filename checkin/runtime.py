"""What a command or the service needs at hand: settings, database, template cipher."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from checkin.errors import ConfigError
from checkin.settings import Settings
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
    """Check the data folder, connect, and (by default) bring the schema up to date."""
    settings = settings or load_settings()
    settings.ensure_data_dir()
    try:
        engine = make_engine(settings.database_url)
        if migrate:
            upgrade(engine)
    except DatabaseError as exc:
        raise ConfigError(str(exc)) from None
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        cipher=TemplateCipher(settings.resolved_secret()),
    )
