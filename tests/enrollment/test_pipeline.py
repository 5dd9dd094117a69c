"""Pure enrollment stages on synthetic 128-d vectors: mix-up flags and look-alike pairs."""

from __future__ import annotations

import numpy as np

from checkin.recognition.decision import Gallery
from enrollment.pipeline import lookalike_pairs, mixup_flags
from tests.enrollment.conftest import near, unit


def test_a_photo_far_from_the_others_is_flagged() -> None:
    me = unit(1)
    encodings = [near(me, 0.2, 2), near(me, 0.25, 3), unit(99)]  # third: someone else
    assert mixup_flags(encodings, threshold=0.45, metric="euclidean") == [False, False, True]


def test_one_photo_is_never_flagged_and_two_far_apart_both_are() -> None:
    assert mixup_flags([unit(1)], threshold=0.45, metric="euclidean") == [False]
    assert mixup_flags([unit(1), unit(2)], threshold=0.45, metric="euclidean") == [True, True]
    assert mixup_flags([unit(1), near(unit(1), 0.3, 5)], threshold=0.45, metric="euclidean") == [
        False,
        False,
    ]


def test_lookalike_pairs_use_each_pairs_closest_templates() -> None:
    a, c = unit(1), unit(3)
    b1, b2 = near(a, 0.5, 7), near(a, 0.9, 8)
    gallery = Gallery.build(
        [(10, a), (20, b1), (20, b2), (30, c), (10, near(a, 0.1, 9))], metric="euclidean"
    )
    pairs = lookalike_pairs(gallery, below=0.55)
    assert [(p.a, p.b) for p in pairs] == [(10, 20)]
    assert 0.4 < pairs[0].distance <= 0.5 + 1e-9
    assert lookalike_pairs(gallery, below=0.3) == []


def test_lookalike_blocks_give_the_same_pairs() -> None:
    rng = np.random.default_rng(0)
    base = [unit(i) for i in range(40)]
    templates = [(i % 40, near(base[i % 40], 0.2, 1000 + i)) for i in range(120)]
    templates += [(100 + i, near(base[i], 0.45, 2000 + i)) for i in range(5)]  # look-alikes
    rng.shuffle(templates)
    gallery = Gallery.build(templates, metric="euclidean")
    whole = lookalike_pairs(gallery, below=0.7, block=10_000)
    assert lookalike_pairs(gallery, below=0.7, block=7) == whole
    assert {(p.a, p.b) for p in whole} >= {(i, 100 + i) for i in range(5)}


def test_cosine_model_flags_and_pairs_by_cosine_distance() -> None:
    # Long and short vectors in one direction are the same face for SFace (1 - cos = 0) and
    # far apart for dlib's Euclidean distance: each model's own metric decides.
    me = unit(1)
    same_direction = [me * 3.0, me * 0.5, near(me, 0.1, 4)]
    assert mixup_flags(same_direction, threshold=0.45, metric="cosine") == [False] * 3
    assert mixup_flags(same_direction, threshold=0.45, metric="euclidean") != [False] * 3
    gallery = Gallery.build([(1, me * 3.0), (2, me * 0.5), (3, unit(7))], metric="cosine")
    (pair,) = lookalike_pairs(gallery, below=0.3)
    assert (pair.a, pair.b, pair.distance) == (1, 2, 0.0)
