"""Threshold calibration from the enrolled population (pure part)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from checkin.faces.metric import distances, pairwise
from checkin.recognition.decision import Gallery

# How far the threshold may go with N people on a roster: per impostor-accept target, the
# largest match_threshold whose single-frame impostor accept stayed within it with N people
# enrolled, measured on dev + scale (1,213 never-enrolled impostor photos, so 0.001 is one
# accept) at the shipped margin by
#   baodao bench accuracy --faces ../shared/faces/dev --scale ../shared/faces/scale \
#       --sizes 40,150,367 --model sface --json          (by_size → largest_threshold)
# (docs/accuracy.md, "Gallery size"). An impostor is compared with everyone on the roster,
# so the rate grows with N (1 − (1 − p)^N).
ROSTER_CEILING: dict[str, dict[float, tuple[tuple[int, float], ...]]] = {
    "sface": {
        0.01: ((40, 0.605), (150, 0.585), (367, 0.55)),
        0.005: ((40, 0.585), (150, 0.57), (367, 0.53)),
        0.001: ((40, 0.555), (150, 0.555), (367, 0.46)),
    },
}


def roster_ceiling(model: str, persons: int, target_far: float = 0.005) -> float | None:
    """The largest threshold `ROSTER_CEILING` allows for a roster of `persons` (None: no table).

    Args:
        model: the face model (its distances).
        persons: people an impostor at the kiosk is compared with (the roster's size).
        target_far: the impostor accept aimed at; the table of the largest measured target at
            or below it is used (the smallest one below all of them).

    Returns:
        Up to the largest measured size, the value measured at the next size at or above
        `persons`. Beyond it, the line through the last two measured points in log10(N)
        continues: an extrapolation, on the strict side (a straight line through all three
        points would allow more).
    """
    tables = ROSTER_CEILING.get(model)
    if not tables:
        return None
    fitting = [t for t in tables if t <= target_far + 1e-12]
    table = tables[max(fitting) if fitting else min(tables)]
    for size, threshold in table:
        if persons <= size:
            return threshold
    (n0, t0), (n1, t1) = table[-2], table[-1]
    slope = (t1 - t0) / (math.log10(n1) - math.log10(n0))
    return round(t1 + slope * (math.log10(persons) - math.log10(n1)), 3)


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
    method: str  # "empirical", "normal_tail" or "roster_table"
    persons: int = 1  # the roster size the suggestion is for
    ceiling: float | None = None  # the roster-size table's limit (`roster_ceiling`)


@dataclass(frozen=True)
class Pair:
    """Two different persons and the distance between their closest templates."""

    a: int
    b: int
    distance: float


def impostor_pairs(gallery: Gallery) -> list[Pair]:
    """For every pair of different persons, the distance (the gallery's metric) of their
    closest templates, ascending."""
    persons = np.unique(gallery.labels)
    d = pairwise(gallery.matrix, gallery.matrix, gallery.metric)
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
            out.extend(distances(rows[i + 1 :], rows[i], gallery.metric).tolist())
    return np.asarray(out, dtype=np.float64)


def suggest(
    impostor_distances: Sequence[float] | np.ndarray,
    genuine_distances: Sequence[float] | np.ndarray | None,
    target_far: float,
    *,
    persons: int = 1,
    margin: float = 0.0,
    max_threshold: float = 0.6,
    ceiling: float | None = None,
) -> Suggestion:
    """Largest threshold whose expected open-set impostor accept stays within `target_far`.

    Args:
        impostor_distances: distances between different persons (e.g. `impostor_pairs`).
        genuine_distances: same-person distances, only to report the price in rejections.
        target_far: acceptable share of impostors (people not on the roster) accepted.
        persons: the roster's size; an impostor is compared with each person, so the
            per-pair rate must be `target_far / persons` (union bound).
        margin: the margin to report beside the threshold (the decision needs both).
        max_threshold: never suggest above this (dlib's own 0.6 default).
        ceiling: the model's measured limit for this roster size (`roster_ceiling`).

    Returns:
        The threshold is the empirical per-pair quantile when there are enough pairs to
        resolve it. Otherwise the model's roster-size table decides when it has one
        (method "roster_table": a normal fit under-predicts SFace's tail, measured 0.05 %
        against 0.25 % at N = 367); without a table a normal fit to the impostor distances
        gives the tail, kept at or below the closest impostor pair seen. Never above
        `ceiling`.
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
    elif ceiling is not None:
        threshold, method = ceiling, "roster_table"
    else:
        tail = NormalDist(mean, std).inv_cdf(per_pair) if std > 0 else mean
        threshold, method = min(tail, float(imp[0])), "normal_tail"
    if ceiling is not None and threshold > ceiling:
        threshold, method = ceiling, "roster_table"
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
        persons=persons,
        ceiling=ceiling,
    )


def histogram(
    values: Sequence[float] | np.ndarray, *, lo: float, hi: float, bins: int
) -> list[tuple[float, float, int]]:
    """(low edge, high edge, count) bins over [lo, hi]; values outside go to the end bins."""
    arr = np.clip(np.asarray(values, dtype=np.float64), lo, hi)
    counts, edges = np.histogram(arr, bins=bins, range=(lo, hi))
    return [(float(edges[i]), float(edges[i + 1]), int(counts[i])) for i in range(bins)]
