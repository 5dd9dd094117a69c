"""face_recognition with its dlib models (HOG detector, landmarks, encoder) loaded once."""

from __future__ import annotations

import warnings
from functools import cache
from typing import Any


@cache
def models() -> Any:
    """The face_recognition module with its dlib models loaded (once per process)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition.api as fr
    return fr
