"""The match decision on synthetic 128-d vectors."""

from __future__ import annotations

import numpy as np
import pytest

from checkin.recognition.decision import Candidate, Gallery, decide, rank


def unit(axis: int) -> np.ndarray:
    v = np.zeros(128)
    v[axis] = 1.0
    return v


def at(base: np.ndarray, axis: int, dist: float) -> np.ndarray:
    """A point exactly `dist` away from `base` along an axis orthogonal to it."""
    return base + dist * unit(axis)


@pytest.fixture
def gallery() -> Gallery:
    # Person 1 has two templates; persons 2 and 3 one each, far apart (distance sqrt(2)).
    return Gallery.build(
        [(1, unit(0)), (1, unit(1)), (2, unit(2)), (3, unit(3))], metric="euclidean"
    )


def test_build_and_len(gallery: Gallery) -> None:
    assert len(gallery) == 4
    assert gallery.persons == 3
    assert gallery.matrix.shape == (4, 128)
    assert gallery.labels.tolist() == [1, 1, 2, 3]


def test_build_rejects_wrong_dimension() -> None:
    with pytest.raises(ValueError):
        Gallery.build([(1, np.zeros(64))], metric="euclidean")


def test_empty_gallery() -> None:
    empty = Gallery.build([], metric="euclidean")
    assert len(empty) == 0
    assert rank(empty, unit(0)) == []
    d = decide(empty, unit(0), threshold=0.5, margin=0.1)
    assert d.reason == "empty_gallery" and d.person_id is None and d.candidates == ()


def test_rank_uses_best_template_per_person(gallery: Gallery) -> None:
    probe = at(unit(1), 10, 0.2)  # close to person 1's second template
    ranked = rank(gallery, probe, top=3)
    assert [c.person_id for c in ranked] == [1, 2, 3]
    assert ranked[0].distance == pytest.approx(0.2)
    assert len({c.person_id for c in ranked}) == 3  # person 1 appears once


def test_rank_top_limits(gallery: Gallery) -> None:
    assert len(rank(gallery, unit(2), top=2)) == 2
    assert rank(gallery, unit(2), top=1) == [Candidate(2, 0.0)]


def test_match_when_close_and_clear(gallery: Gallery) -> None:
    d = decide(gallery, at(unit(2), 10, 0.3), threshold=0.5, margin=0.1)
    assert d.reason == "match" and d.matched and d.person_id == 2
    assert d.distance == pytest.approx(0.3)
    assert d.margin == pytest.approx(np.hypot(np.sqrt(2), 0.3) - 0.3)
    assert d.candidates[0].person_id == 2


def test_over_threshold_is_strict() -> None:
    g = Gallery.build([(1, unit(0)), (2, unit(1))], metric="euclidean")
    d = decide(g, at(unit(0), 5, 0.5), threshold=0.5, margin=0.0)
    assert d.reason == "over_threshold" and d.person_id is None
    assert d.distance == pytest.approx(0.5)
    assert decide(g, at(unit(0), 5, 0.49), threshold=0.5, margin=0.0).person_id == 1


def test_ambiguous_when_second_person_is_close() -> None:
    a, b = unit(0), unit(0) + 0.1 * unit(1)  # two persons 0.1 apart
    g = Gallery.build([(1, a), (2, b)], metric="euclidean")
    probe = a + 0.02 * unit(1) + 0.3 * unit(5)
    d = decide(g, probe, threshold=0.6, margin=0.05)
    assert d.reason == "ambiguous" and d.person_id is None
    assert d.margin is not None and 0 < d.margin < 0.05
    assert [c.person_id for c in d.candidates] == [1, 2]
    assert decide(g, probe, threshold=0.6, margin=0.0).person_id == 1


def test_margin_boundary_is_inclusive() -> None:
    g = Gallery.build([(1, np.zeros(128)), (2, unit(0))], metric="euclidean")
    probe = 0.25 * unit(0)  # distances 0.25 and 0.75: gap 0.5 exactly (dyadic, exact)
    assert decide(g, probe, threshold=0.6, margin=0.5).reason == "match"
    assert decide(g, probe, threshold=0.6, margin=0.5000001).reason == "ambiguous"


def test_single_person_gallery_only_threshold_applies() -> None:
    g = Gallery.build([(7, unit(0)), (7, unit(1))], metric="euclidean")
    d = decide(g, at(unit(0), 9, 0.3), threshold=0.5, margin=0.4)
    assert d.reason == "match" and d.person_id == 7 and d.margin is None
    assert decide(g, at(unit(0), 9, 0.7), threshold=0.5, margin=0.4).reason == "over_threshold"


def test_lookalike_needs_extra_margin() -> None:
    g = Gallery.build([(1, np.zeros(128)), (2, unit(0))], metric="euclidean")
    probe = 0.4 * unit(0) + 0.1 * unit(3)
    gap = decide(g, probe, threshold=0.6, margin=0.0).margin
    assert gap is not None and 0.1 < gap < 0.2
    kw = {"threshold": 0.6, "margin": 0.1, "lookalike_margin": 0.1}
    assert decide(g, probe, **kw).person_id == 1  # type: ignore[arg-type]
    flagged = decide(g, probe, lookalikes=frozenset({1}), **kw)  # type: ignore[arg-type]
    assert flagged.reason == "ambiguous"
    # Flagging someone who is not the best candidate changes nothing.
    assert decide(g, probe, lookalikes=frozenset({2}), **kw).person_id == 1  # type: ignore[arg-type]
