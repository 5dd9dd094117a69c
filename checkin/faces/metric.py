"""Distances between face embeddings, per model: the one place that computes them.

dlib's encodings are compared by Euclidean distance (face_recognition's `face_distance`).
SFace's by cosine distance, 1 − cos: for unit vectors the Euclidean distance is
sqrt(2·(1 − cos)), which ranks alike, but a margin in one is not a margin in the other (at
the same accept rule the two accepted 7 and 15 dev impostors), so the decision, the margin,
look-alikes and calibration all use the model's own metric. Both are 0 for identical faces
and grow with dissimilarity, so `threshold` and `margin` keep their meaning.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Metric = Literal["euclidean", "cosine"]


def prepare(matrix: np.ndarray, metric: Metric) -> np.ndarray:
    """Rows as the metric compares them: unit rows for cosine (zero rows stay zero)."""
    rows = np.asarray(matrix, dtype=np.float64)
    if metric == "cosine":
        norms = np.linalg.norm(rows, axis=-1, keepdims=True)
        return rows / np.where(norms > 0, norms, 1.0)
    return rows


def distances(matrix: np.ndarray, probe: np.ndarray, metric: Metric) -> np.ndarray:
    """Distance from `probe` (D,) to every row of `matrix` (N, D).

    Cosine normalises both sides here: a track's pooled mean of unit vectors is not a unit
    vector, and a stored row need not be either.
    """
    if len(matrix) == 0:
        return np.empty((0,), dtype=np.float64)
    p = np.asarray(probe, dtype=np.float64)
    if metric == "cosine":
        return np.asarray(1.0 - prepare(matrix, metric) @ prepare(p, metric), dtype=np.float64)
    return np.asarray(np.linalg.norm(np.asarray(matrix, np.float64) - p, axis=1), np.float64)


def pairwise(a: np.ndarray, b: np.ndarray, metric: Metric) -> np.ndarray:
    """(len(a), len(b)) distances between the rows of `a` and of `b` (any scale of rows)."""
    if metric == "cosine":
        return np.asarray(1.0 - prepare(a, metric) @ prepare(b, metric).T, dtype=np.float64)
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    sq = np.einsum("ij,ij->i", a64, a64)[:, None] + np.einsum("ij,ij->i", b64, b64)[None, :]
    return np.asarray(np.sqrt(np.maximum(sq - 2.0 * a64 @ b64.T, 0.0)), dtype=np.float64)
