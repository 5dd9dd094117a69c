"""Settings the service writes into the database (`config_values`), e.g. by `baodao calibrate`.

Precedence: a value set explicitly (environment variable, .env file or constructor argument)
wins over a stored one, and a stored one wins over the default. Stored values are validated
through `Settings`, so the bounds hold for them too.

Settings whose default depends on the face model (`settings.PER_MODEL`: the threshold, the
margin, face sizes, jitters) are stored per model, under `MODEL:KEY` (e.g.
`sface:match_threshold`): a threshold calibrated on dlib's distances is never applied to
SFace's. Only the stored values of the active model (`BAODAO_FACE_MODEL`) apply.
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
from checkin.settings import MODEL_DEFAULTS, PER_MODEL, Settings
from models import ConfigValue

logger = logging.getLogger(__name__)

# Needed before the database can be read (the face model decides which stored values apply),
# so never taken from it.
BOOTSTRAP_KEYS = frozenset({"database_url", "data_dir", "secret_key", "face_model"})


def key_for(key: str, model: str) -> str:
    """The stored key of a setting under `model`: `MODEL:KEY` for per-model settings."""
    return f"{model}:{key}" if key in PER_MODEL else key


def split_key(stored: str) -> tuple[str | None, str]:
    """(model or None, setting name) of a stored key."""
    model, sep, key = stored.partition(":")
    return (model, key) if sep else (None, stored)


def storable(stored: str) -> bool:
    """True for a stored key the database may hold: a plain setting or `MODEL:KEY`."""
    model, key = split_key(stored)
    if key not in Settings.model_fields or key in BOOTSTRAP_KEYS:
        return False
    return (model in MODEL_DEFAULTS) if key in PER_MODEL else model is None


def apply_overrides(settings: Settings, stored: Mapping[str, str]) -> Settings:
    """Settings with the stored values of the active model applied, except explicit ones."""
    updates: dict[str, str] = {}
    for stored_key, value in stored.items():
        model, key = split_key(stored_key)
        if not storable(stored_key):
            logger.warning("ignoring stored setting %s: not a storable setting", stored_key)
        elif model is not None and model != settings.face_model:
            continue  # another model's value: its distances mean something else
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
    """Every stored setting, stored key -> value text."""
    return {row.key: row.value for row in session.scalars(select(ConfigValue))}


def store(
    session: Session,
    values: Mapping[str, float | int | str],
    *,
    actor: audit.Actor,
    action: str,
    detail: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, str | None]]:
    """Write `values` (stored keys, see `key_for`) as ConfigValue rows with one audit event;
    returns stored key -> {old, new}."""
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
