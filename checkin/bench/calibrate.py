"""Threshold calibration from the enrolled population (pure part)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from checkin.recognition.decision import Gallery


@dataclass(frozen=True)
class Suggestion:
    """A suggested match threshold with the evidence behind it."""

    threshold: float
    margin: float
    target_far: float
    per_pair_far: float  # target_far / persons: an impostor faces every enrolled person
    impostor_pairs: int
    impostor_min: float
    impostor_mean: float
    impostor_std: float
    impostor_below: int  # impostor pairs closer than the threshold
    genuine_pairs: int
    genuine_reject: float | None  # share of genuine pairs at or over the threshold
    method: str  # "empirical" or "normal_tail"


@dataclass(frozen=True)
class Pair:
    """Two different persons and the distance between their closest templates."""

    a: int
    b: int
    distance: float


def impostor_pairs(gallery: Gallery) -> list[Pair]:
    """For every pair of different persons, the distance of their closest templates, ascending."""
    persons = np.unique(gallery.labels)
    m = gallery.matrix
    sq = np.sum(m * m, axis=1)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * m @ m.T, 0.0))
    pairs: list[Pair] = []
    for i, a in enumerate(persons):
        rows_a = gallery.labels == a
        for b in persons[i + 1 :]:
            block = d[np.ix_(rows_a, gallery.labels == b)]
            pairs.append(Pair(int(a), int(b), float(block.min())))
    pairs.sort(key=lambda p: p.distance)
    return pairs


def genuine_distances(gallery: Gallery) -> np.ndarray:
    """Distances between templates of the same person (empty with one template each)."""
    out: list[float] = []
    for person in np.unique(gallery.labels):
        rows = gallery.matrix[gallery.labels == person]
        for i in range(len(rows)):
            out.extend(np.linalg.norm(rows[i + 1 :] - rows[i], axis=1).tolist())
    return np.asarray(out, dtype=np.float64)


def suggest(
    impostor_distances: Sequence[float] | np.ndarray,
    genuine_distances: Sequence[float] | np.ndarray | None,
    target_far: float,
    *,
    persons: int = 1,
    margin: float = 0.0,
    max_threshold: float = 0.6,
) -> Suggestion:
    """Largest threshold whose expected open-set impostor accept stays within `target_far`.

    Args:
        impostor_distances: distances between different persons (e.g. `impostor_pairs`).
        genuine_distances: same-person distances, only to report the price in rejections.
        target_far: acceptable share of impostors (people not on the roster) accepted.
        persons: enrolled persons; an impostor is compared with each, so the per-pair
            rate must be `target_far / persons` (union bound).
        margin: the margin to report beside the threshold (the decision needs both).
        max_threshold: never suggest above this (dlib's own 0.6 default).

    Returns:
        The threshold is the empirical per-pair quantile when there are enough pairs to
        resolve it; otherwise a normal fit to the impostor distances gives the tail, and
        the threshold is kept at or below the closest impostor pair seen.
    """
    imp = np.sort(np.asarray(impostor_distances, dtype=np.float64))
    if imp.size < 2:
        raise ValueError("need at least two impostor distances (three enrolled persons)")
    if not 0.0 < target_far < 1.0:
        raise ValueError("target_far must be between 0 and 1")
    per_pair = target_far / max(1, persons)
    mean, std = float(imp.mean()), float(imp.std(ddof=1))
    allowed = int(np.floor(per_pair * imp.size))  # pairs we may leave under the threshold
    if allowed >= 1:
        threshold, method = float(imp[allowed]), "empirical"
    else:
        tail = NormalDist(mean, std).inv_cdf(per_pair) if std > 0 else mean
        threshold, method = min(tail, float(imp[0])), "normal_tail"
    threshold = min(threshold, max_threshold)
    gen_reject: float | None = None
    gen_n = 0
    if genuine_distances is not None:
        gen = np.asarray(genuine_distances, dtype=np.float64)
        gen_n = int(gen.size)
        gen_reject = float(np.mean(gen >= threshold)) if gen.size else None
    return Suggestion(
        threshold=round(threshold, 4),
        margin=margin,
        target_far=target_far,
        per_pair_far=per_pair,
        impostor_pairs=int(imp.size),
        impostor_min=float(imp[0]),
        impostor_mean=mean,
        impostor_std=std,
        impostor_below=int(np.sum(imp < threshold)),
        genuine_pairs=gen_n,
        genuine_reject=gen_reject,
        method=method,
    )


def histogram(
    values: Sequence[float] | np.ndarray, *, lo: float, hi: float, bins: int
) -> list[tuple[float, float, int]]:
    """(low edge, high edge, count) bins over [lo, hi]; values outside go to the end bins."""
    arr = np.clip(np.asarray(values, dtype=np.float64), lo, hi)
    counts, edges = np.histogram(arr, bins=bins, range=(lo, hi))
    return [(float(edges[i]), float(edges[i + 1]), int(counts[i])) for i in range(bins)]
