"""The roster/everyone classification of one encoding (pure)."""

from __future__ import annotations

import numpy as np

from checkin.recognition.decision import Gallery
from checkin.recognition.pipeline import classify

RNG = np.random.default_rng(4)
KW = {"threshold": 0.45, "margin": 0.06, "lookalikes": frozenset(), "lookalike_margin": 0.05}


def unit(n: int) -> np.ndarray:
    v = RNG.normal(size=(n, 128))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def near(base: np.ndarray, dist: float) -> np.ndarray:
    """A vector at exactly `dist` from `base`."""
    d = RNG.normal(size=128)
    d -= d @ base * base
    return base + dist * d / np.linalg.norm(d)


def test_roster_match_and_unknown() -> None:
    a, b, c = unit(3)
    roster = Gallery.build([(1, a), (2, b)], metric="euclidean")
    everyone = Gallery.build([(1, a), (2, b), (3, c)], metric="euclidean")
    v = classify(roster, everyone, near(a, 0.3), **KW)  # type: ignore[arg-type]
    assert (v.kind, v.person_id) == ("match", 1)
    v = classify(roster, everyone, unit(1)[0], **KW)  # type: ignore[arg-type]
    assert (v.kind, v.person_id) == ("unknown", None)


def test_enrolled_person_off_the_roster_is_an_outsider() -> None:
    a, c = unit(2)
    roster = Gallery.build([(1, a)], metric="euclidean")
    everyone = Gallery.build([(1, a), (3, c)], metric="euclidean")
    v = classify(roster, everyone, near(c, 0.2), **KW)  # type: ignore[arg-type]
    assert (v.kind, v.person_id) == ("outsider", 3)


def test_off_roster_person_closer_than_the_roster_match_blocks_the_match() -> None:
    a = unit(1)[0]
    c = near(a, 0.2)  # an off-roster look-alike of roster person 1
    probe = near(c, 0.1)
    roster = Gallery.build([(1, a)], metric="euclidean")
    everyone = Gallery.build([(1, a), (3, c)], metric="euclidean")
    # Against the roster alone person 1 would be accepted (one person: no margin applies).
    assert np.linalg.norm(probe - a) < 0.45
    v = classify(roster, everyone, probe, **KW)  # type: ignore[arg-type]
    assert v.kind != "match"
