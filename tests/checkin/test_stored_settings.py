"""Settings stored in the database: applied by open_runtime, explicit values win, bounds hold,
and per-model values (the threshold, …) apply only under the face model they were stored for."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from checkin import audit, stored_settings
from checkin.errors import ConfigError
from checkin.runtime import open_runtime
from checkin.settings import MODEL_DEFAULTS, Settings
from models import AuditEvent, ConfigValue
from models.db import session_scope

SECRET = "stored-settings-secret-0123456789"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """BAODAO_* pointing at a fresh data folder; no other BAODAO_* variable leaks in."""
    import os

    for key in [k for k in os.environ if k.startswith("BAODAO_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no .env from the repo
    monkeypatch.setenv("BAODAO_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("BAODAO_DATABASE_URL", f"sqlite:///{tmp_path / 'var' / 'baodao.db'}")
    monkeypatch.setenv("BAODAO_SECRET_KEY", SECRET)
    return tmp_path


def _store(values: dict[str, float | int | str]) -> dict[str, dict[str, str | None]]:
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        changes = stored_settings.store(
            session, values, actor=audit.Actor.cli(), action="settings.test"
        )
    rt.engine.dispose()
    return changes


def test_stored_value_reaches_the_next_runtime_with_an_audit_event(env: Path) -> None:
    default = MODEL_DEFAULTS["sface"]["match_threshold"]
    assert open_runtime().settings.match_threshold == default
    key = "sface:match_threshold"
    assert _store({key: 0.49}) == {key: {"old": None, "new": "0.49"}}
    assert _store({key: 0.51}) == {key: {"old": "0.49", "new": "0.51"}}
    rt = open_runtime()
    assert rt.settings.match_threshold == 0.51
    assert rt.settings.match_margin == MODEL_DEFAULTS["sface"]["match_margin"]
    with rt.sessions() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert [e.action for e in events] == ["settings.test", "settings.test"]
        assert events[-1].actor == "cli"
        assert events[-1].detail == {"changes": {key: {"old": "0.49", "new": "0.51"}}}


def test_environment_variable_wins_over_the_stored_value(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store({"sface:match_threshold": 0.49, "sface:match_margin": 0.08})
    monkeypatch.setenv("BAODAO_MATCH_THRESHOLD", "0.47")
    settings = open_runtime().settings
    assert settings.match_threshold == 0.47  # explicit
    assert settings.match_margin == 0.08  # stored, nothing explicit


def test_explicit_settings_object_wins_too(env: Path) -> None:
    _store({"sface:match_threshold": 0.49})
    explicit = Settings(match_threshold=0.5)  # type: ignore[call-arg]  # the rest from env
    assert open_runtime(explicit).settings.match_threshold == 0.5
    assert open_runtime().settings.match_threshold == 0.49


def test_a_value_stored_for_one_model_never_applies_to_the_other(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store({"dlib:match_threshold": 0.39, "dlib:kiosk_min_face_px": 90, "timezone": "UTC"})
    sface = open_runtime().settings
    assert (sface.face_model, sface.match_threshold) == ("sface", 0.55)  # SFace's default
    assert sface.kiosk_min_face_px == 48 and sface.timezone == "UTC"  # model-free: both
    monkeypatch.setenv("BAODAO_FACE_MODEL", "dlib")
    dlib = open_runtime().settings
    assert (dlib.match_threshold, dlib.kiosk_min_face_px) == (0.39, 90)
    assert dlib.match_margin == MODEL_DEFAULTS["dlib"]["match_margin"]


def test_per_model_keys_need_a_known_model_and_the_model_is_never_stored(env: Path) -> None:
    rt = open_runtime()
    for bad in ("match_threshold", "nosuch:match_threshold", "sface:timezone", "face_model"):
        with session_scope(rt.sessions) as session, pytest.raises(ConfigError):
            stored_settings.store(session, {bad: "1"}, actor=audit.Actor.cli(), action="x")
    with session_scope(rt.sessions) as session:  # rows written by hand are ignored
        session.add(ConfigValue(key="match_threshold", value="0.2"))
        session.add(ConfigValue(key="face_model", value="dlib"))
    settings = open_runtime().settings
    assert (settings.face_model, settings.match_threshold) == ("sface", 0.55)


def test_out_of_bounds_stored_value_is_one_config_error(env: Path) -> None:
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        session.add(ConfigValue(key="sface:match_threshold", value="5"))
    with pytest.raises(ConfigError) as info:
        open_runtime()
    message = info.value.message
    assert "match_threshold" in message and "'5'" in message and "\n" not in message


def test_bootstrap_and_unknown_keys_are_not_taken_from_the_database(env: Path) -> None:
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        session.add(ConfigValue(key="data_dir", value="/elsewhere"))
        session.add(ConfigValue(key="no_such_setting", value="1"))
    assert open_runtime().settings.data_dir == env / "var"
    with session_scope(rt.sessions) as session, pytest.raises(ConfigError):
        stored_settings.store(
            session, {"database_url": "sqlite://"}, actor=audit.Actor.cli(), action="x"
        )


def test_apply_overrides_is_pure_and_validates() -> None:
    base = Settings(_env_file=None, secret_key=SECRET)  # type: ignore[call-arg]
    new = stored_settings.apply_overrides(base, {"sface:match_margin": "0.1", "live_jitters": "2"})
    assert (new.match_margin, new.live_jitters) == (0.1, 2)
    assert (base.match_margin, base.live_jitters) != (0.1, 2)
    with pytest.raises(ConfigError, match="live_jitters"):
        stored_settings.apply_overrides(base, {"live_jitters": "0"})
