"""Threshold calibration on synthetic distances and vectors."""

from __future__ import annotations

import numpy as np
import pytest

from checkin.bench.calibrate import (
    ROSTER_CEILING,
    genuine_distances,
    histogram,
    impostor_pairs,
    roster_ceiling,
    suggest,
)
from checkin.recognition.decision import Gallery


def test_empirical_quantile_keeps_far_within_target() -> None:
    imp = np.linspace(0.5, 1.0, 1000)
    s = suggest(imp, None, 0.01, persons=1)
    assert s.method == "empirical"
    assert s.impostor_below <= 10  # at most 1% of the pairs under the threshold
    assert s.threshold == pytest.approx(imp[10], abs=1e-4)
    assert s.genuine_reject is None and s.genuine_pairs == 0


def test_per_pair_rate_shrinks_with_gallery_size() -> None:
    imp = np.linspace(0.5, 1.0, 1000)
    one = suggest(imp, None, 0.05, persons=1)
    many = suggest(imp, None, 0.05, persons=10)
    assert many.per_pair_far == pytest.approx(0.005)
    assert many.threshold < one.threshold


def test_normal_tail_never_above_closest_pair() -> None:
    rng = np.random.default_rng(1)
    imp = rng.normal(0.75, 0.1, 200)
    s = suggest(imp, [0.2, 0.3, 0.4, 0.5], 0.001, persons=40)
    assert s.method == "normal_tail"
    assert s.threshold <= imp.min()
    assert s.impostor_below == 0
    assert s.genuine_reject == pytest.approx(np.mean(np.array([0.2, 0.3, 0.4, 0.5]) >= s.threshold))


def test_capped_and_validated() -> None:
    assert suggest(np.linspace(0.9, 1.5, 1000), None, 0.1).threshold == 0.6
    with pytest.raises(ValueError):
        suggest([0.5], None, 0.01)
    with pytest.raises(ValueError):
        suggest([0.5, 0.6], None, 0.0)


def test_impostor_pairs_use_closest_templates() -> None:
    e = np.eye(128)
    g = Gallery.build([(1, e[0]), (1, e[1] * 0.5), (2, e[1]), (3, e[2] * 3)], metric="euclidean")
    pairs = impostor_pairs(g)
    assert [(p.a, p.b) for p in pairs] == [(1, 2), (1, 3), (2, 3)]
    assert pairs[0].distance == pytest.approx(0.5)  # person 1's second template
    assert pairs[1].distance == pytest.approx(np.hypot(0.5, 3))
    assert pairs[2].distance == pytest.approx(np.sqrt(10))
    assert genuine_distances(g).tolist() == pytest.approx([np.hypot(1, 0.5)])


def test_histogram_counts_everything() -> None:
    bins = histogram([0.1, 0.35, 0.36, 0.9, 2.0], lo=0.3, hi=1.1, bins=8)
    assert sum(c for _, _, c in bins) == 5
    assert bins[0][2] == 3 and bins[-1][2] == 1


def test_roster_ceiling_follows_the_measured_table_and_extends_it() -> None:
    table = ROSTER_CEILING["sface"][0.005]
    (n0, _), (n1, t1) = table[-2], table[-1]
    assert roster_ceiling("sface", 10, 0.005) == table[0][1]
    assert roster_ceiling("sface", n1, 0.005) == t1 == roster_ceiling("sface", n0 + 1, 0.005)
    far = roster_ceiling("sface", 1300, 0.005)
    assert far is not None and far < t1  # more people, a stricter threshold
    assert roster_ceiling("sface", 2600, 0.005) < far  # type: ignore[operator]
    # A stricter target takes a stricter table; below the strictest measured one, that one.
    strict = roster_ceiling("sface", 150, 0.001)
    assert strict is not None and strict < roster_ceiling("sface", 150, 0.005)  # type: ignore[operator]
    assert roster_ceiling("sface", 150, 0.0001) == strict
    assert roster_ceiling("sface", 150, 0.007) == roster_ceiling("sface", 150, 0.005)
    assert roster_ceiling("dlib", 1300) is None  # no table measured: calibrate as before


def test_suggest_never_above_the_roster_ceiling() -> None:
    imp = np.linspace(0.5, 1.5, 100_000)  # resolves the quantile: empirical
    free = suggest(imp, None, 0.5, persons=10)
    assert free.method == "empirical" and free.threshold > 0.51
    capped = suggest(imp, None, 0.5, persons=10, ceiling=0.51)
    assert (capped.threshold, capped.method, capped.ceiling) == (0.51, "roster_table", 0.51)
    few = suggest([0.7, 0.8, 0.9, 1.0], None, 0.001, persons=1300, ceiling=0.49)
    assert (few.threshold, few.method, few.persons) == (0.49, "roster_table", 1300)
