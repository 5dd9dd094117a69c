"""Settings the service writes into the database (`config_values`), e.g. by `baodao calibrate`.

Precedence: a value set explicitly (environment variable, .env file or constructor argument)
wins over a stored one, and a stored one wins over the default. Stored values are validated
through `Settings`, so the bounds hold for them too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from checkin import audit
from checkin.errors import ConfigError
from checkin.settings import Settings
from models import ConfigValue

logger = logging.getLogger(__name__)

# Needed before the database can be read, so never taken from it.
BOOTSTRAP_KEYS = frozenset({"database_url", "data_dir", "secret_key"})


def storable(key: str) -> bool:
    """True for a Settings field that may live in the database."""
    return key in Settings.model_fields and key not in BOOTSTRAP_KEYS


def apply_overrides(settings: Settings, stored: Mapping[str, str]) -> Settings:
    """Settings with the stored values applied, except where a value was set explicitly."""
    updates: dict[str, str] = {}
    for key, value in stored.items():
        if not storable(key):
            logger.warning("ignoring stored setting %s: not a storable setting", key)
        elif key in settings.model_fields_set:
            logger.info("stored setting %s=%s overridden by BAODAO_%s", key, value, key.upper())
        else:
            updates[key] = value
    if not updates:
        return settings
    return validate(settings, updates, source="数据库 config_values 中保存的")


def validate(settings: Settings, updates: Mapping[str, Any], *, source: str) -> Settings:
    """A new Settings with `updates`; a value out of bounds becomes one ConfigError line."""
    try:
        new = Settings.model_validate(settings.model_dump() | dict(updates))
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{source}设置 {key}={updates.get(key)!r} 无效：{err['msg']}") from None
    new.__pydantic_fields_set__ = set(settings.model_fields_set)  # explicit stays explicit
    return new


def load(session: Session) -> dict[str, str]:
    """Every stored setting, key -> value text."""
    return {row.key: row.value for row in session.scalars(select(ConfigValue))}


def store(
    session: Session,
    values: Mapping[str, float | int | str],
    *,
    actor: audit.Actor,
    action: str,
    detail: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, str | None]]:
    """Write `values` as ConfigValue rows with one audit event; returns key -> {old, new}."""
    changes: dict[str, dict[str, str | None]] = {}
    for key, value in values.items():
        if not storable(key):
            raise ConfigError(f"{key} is not a setting that can be stored")
        row = session.get(ConfigValue, key)
        text = str(value)
        changes[key] = {"old": row.value if row else None, "new": text}
        if row is None:
            session.add(ConfigValue(key=key, value=text))
        else:
            row.value = text
    audit.record(session, actor=actor, action=action, detail={"changes": changes, **(detail or {})})
    session.flush()
    return changes
