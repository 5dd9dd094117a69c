"""Enrollment fixtures: a Runtime on a fresh SQLite database, synthetic encodings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from checkin.runtime import Runtime
from checkin.settings import Settings
from models.crypto import TemplateCipher
from models.db import make_session_factory


def make_runtime(settings: Settings, engine: Engine) -> Runtime:
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        cipher=TemplateCipher(settings.resolved_secret()),
    )


@pytest.fixture
def rt(settings: Settings, engine: Engine) -> Iterator[Runtime]:
    """A Runtime over the `engine` fixture (SQLite, and PostgreSQL when configured)."""
    yield make_runtime(settings, engine)


def unit(seed: int, scale: float = 1.0) -> np.ndarray:
    """A reproducible 128-d vector of norm `scale` (dlib encodings have norm ~1)."""
    v = np.random.default_rng(seed).normal(size=128)
    return v / np.linalg.norm(v) * scale


def near(base: np.ndarray, distance: float, seed: int) -> np.ndarray:
    """A vector exactly `distance` away from `base`."""
    d = np.random.default_rng(seed).normal(size=128)
    return base + d / np.linalg.norm(d) * distance


def write_csv(
    path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8"
) -> Path:
    lines = [",".join(header)] + [",".join(r) for r in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path
