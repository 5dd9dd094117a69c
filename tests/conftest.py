"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """The shared face images: $BAODAO_FACES_DIR, else ../shared/faces beside the repo."""
    path = Path(os.environ.get("BAODAO_FACES_DIR") or REPO_ROOT.parent / "shared" / "faces")
    if not path.is_dir():
        pytest.skip(f"face images not found at {path}")
    return path
