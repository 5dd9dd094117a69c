"""The match decision: a probe encoding against a gallery of enrolled templates. No I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from checkin.faces.metric import Metric, distances, prepare

EMBEDDING_DIM = 128


@dataclass(frozen=True)
class Gallery:
    """Enrolled templates of one face model: one row per template, rows may share a person id.

    `metric` is the model's distance (`checkin.faces.metric`); a gallery never mixes models.
    """

    labels: np.ndarray  # (N,) int64 person ids
    matrix: np.ndarray  # (N, 128) float64, as the metric compares them (unit rows for cosine)
    metric: Metric

    @classmethod
    def build(cls, templates: Iterable[tuple[int, np.ndarray]], *, metric: Metric) -> Gallery:
        """Stack (person_id, encoding) pairs into a gallery compared by `metric`."""
        pairs = list(templates)
        if not pairs:
            return cls(np.empty((0,), dtype=np.int64), np.empty((0, EMBEDDING_DIM)), metric)
        labels = np.array([pid for pid, _ in pairs], dtype=np.int64)
        matrix = np.vstack([np.asarray(enc, dtype=np.float64).reshape(1, -1) for _, enc in pairs])
        if matrix.shape[1] != EMBEDDING_DIM:
            raise ValueError(f"encodings must be {EMBEDDING_DIM}-d, got {matrix.shape[1]}")
        return cls(labels, prepare(matrix, metric), metric)

    def distances(self, probe: np.ndarray) -> np.ndarray:
        """The metric's distance from `probe` to every template."""
        return distances(self.matrix, probe, self.metric)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def persons(self) -> int:
        """Number of distinct person ids."""
        return int(np.unique(self.labels).size)


@dataclass(frozen=True)
class Candidate:
    """A person and the distance of their closest template to the probe."""

    person_id: int
    distance: float


@dataclass(frozen=True)
class Decision:
    """Outcome of one probe; `reason` is match, empty_gallery, over_threshold or ambiguous."""

    person_id: int | None
    distance: float | None
    margin: float | None
    candidates: tuple[Candidate, ...]
    reason: str

    @property
    def matched(self) -> bool:
        """True when the probe was accepted as `person_id`."""
        return self.person_id is not None


def rank(gallery: Gallery, probe: np.ndarray, *, top: int = 3) -> list[Candidate]:
    """The `top` persons closest to `probe`, each by their best template, ascending."""
    if len(gallery) == 0 or top <= 0:
        return []
    dists = gallery.distances(probe)
    # Sort by distance, then keep each person's first (smallest) row.
    order = np.argsort(dists, kind="stable")
    _, first = np.unique(gallery.labels[order], return_index=True)
    best_rows = order[np.sort(first)]
    return [Candidate(int(gallery.labels[i]), float(dists[i])) for i in best_rows[:top]]


def decide(
    gallery: Gallery,
    probe: np.ndarray,
    *,
    threshold: float,
    margin: float,
    lookalikes: frozenset[int] = frozenset(),
    lookalike_margin: float = 0.0,
) -> Decision:
    """Accept the closest person only when it is close enough and clearly ahead of the next.

    Args:
        gallery: enrolled templates (typically one meeting's roster).
        probe: the 128-d encoding of the face to identify.
        threshold: the best person's distance must be strictly below this.
        margin: the second-best person's distance minus the best must be at least this.
            With a single person in the gallery there is no second: the gap counts as
            infinite, so only the threshold applies (the reported margin is None).
        lookalikes: person ids flagged as resembling someone else; when the best person
            is one of them, `lookalike_margin` is added to the required margin.
        lookalike_margin: the extra margin for look-alikes.

    Returns:
        A Decision with the top candidates for the audit trail; `person_id` is set only on
        reason "match".
    """
    candidates = tuple(rank(gallery, probe, top=3))
    if not candidates:
        return Decision(None, None, None, (), "empty_gallery")
    best = candidates[0]
    gap = candidates[1].distance - best.distance if len(candidates) > 1 else None
    if best.distance >= threshold:
        return Decision(None, best.distance, gap, candidates, "over_threshold")
    required = margin + (lookalike_margin if best.person_id in lookalikes else 0.0)
    if gap is not None and gap < required:
        return Decision(None, best.distance, gap, candidates, "ambiguous")
    return Decision(best.person_id, best.distance, gap, candidates, "match")
