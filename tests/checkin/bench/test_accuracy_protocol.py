"""The accuracy protocol on synthetic 128-d vectors: known inputs give known rates."""

from __future__ import annotations

import numpy as np
import pytest

from checkin.bench.accuracy import build_probe_set, evaluate, nearest_match, roles, split, sweep


def u(axis: int, scale: float = 1.0) -> np.ndarray:
    v = np.zeros(128)
    v[axis] = scale
    return v


def dataset() -> dict[str, list[np.ndarray | None]]:
    # Sorted names a..f; c (index 2) and f (index 5) are impostors; a, b, d, e are enrolled.
    return {
        "e": [u(4), u(4) + u(30, 0.1)],  # probe: right
        "a": [u(0), u(0) + u(20, 0.1), None],  # probes: right, no face
        "b": [u(1), u(0) + u(21, 0.05), u(1) + u(22, 0.9)],  # probes: taken for a, too far
        "c": [u(10), u(0) + u(24, 0.1), None],  # impostor: rejected, accepted as a, no face
        "d": [u(3), u(3) + u(23, 0.2)],  # probe: right
        "f": [u(11)],  # impostor: rejected
    }


def test_split_every_third_identity_is_impostor() -> None:
    names = {n: [f"{n}{i}" for i in range(4)] for n in "fedcbagh"}
    sp = split(names, gallery_per_id=2)
    assert sorted(sp.impostors) == ["c", "f"]
    assert sorted(sp.gallery) == ["a", "b", "d", "e", "g", "h"]
    assert sp.gallery["a"] == ["a0", "a1"] and sp.genuine["a"] == ["a2", "a3"]
    assert sp.impostors["c"] == ["c0", "c1", "c2", "c3"]
    r = roles(names, gallery_per_id=2)
    assert r["a"] == ["gallery", "gallery", "probe", "probe"]
    assert r["c"] == ["probe"] * 4


def test_split_rejects_zero_gallery() -> None:
    with pytest.raises(ValueError):
        split({"a": [1]}, gallery_per_id=0)


def test_known_rates() -> None:
    probes = build_probe_set(dataset(), gallery_per_id=1, metric="euclidean")
    m = evaluate(probes, threshold=0.5, margin=0.1)
    assert (m.identities, m.gallery_size, m.enrolled) == (6, 4, 4)
    assert (m.genuine_probes, m.impostor_probes) == (6, 4)
    assert m.tar == pytest.approx(3 / 6)
    assert m.wrong_id == pytest.approx(1 / 6)
    assert m.frr == pytest.approx(2 / 6)
    assert m.impostor_accept == pytest.approx(1 / 4)
    assert (m.genuine_no_face, m.impostor_no_face, m.enroll_failures) == (1, 1, 0)


def test_strict_threshold_rejects_everything() -> None:
    m = evaluate(
        build_probe_set(dataset(), gallery_per_id=1, metric="euclidean"), threshold=0.01, margin=0.0
    )
    assert (m.tar, m.wrong_id, m.frr, m.impostor_accept) == (0.0, 0.0, 1.0, 0.0)


def test_enroll_failure_is_counted_and_its_probes_stay_genuine() -> None:
    data = dataset()
    data["d"] = [None, u(3) + u(23, 0.2)]
    m = evaluate(
        build_probe_set(data, gallery_per_id=1, metric="euclidean"), threshold=0.5, margin=0.1
    )
    assert m.enroll_failures == 1 and m.enrolled == 3 and m.gallery_size == 3
    assert m.genuine_probes == 6 and m.tar == pytest.approx(2 / 6)


def test_two_gallery_photos_per_identity() -> None:
    m = evaluate(
        build_probe_set(dataset(), gallery_per_id=2, metric="euclidean"), threshold=0.5, margin=0.1
    )
    # a enrols [u0, u0+0.1]; b enrols [u1, near-a] so the near-a template now belongs to b.
    assert m.gallery_size == 8 and m.genuine_probes == 2
    assert m.tar == 0.0 and m.frr == 1.0  # a's probe is None, b's probe is too far
    # c's near-a probe now sits between a's and b's templates: ambiguous, rejected.
    assert m.impostor_accept == 0.0


def test_plain_nearest_match_and_sweep() -> None:
    probes = build_probe_set(dataset(), gallery_per_id=1, metric="euclidean")
    plain = evaluate(probes, threshold=1.0, margin=0.0, decider=nearest_match(1.0))
    # Tolerance 1.0 also accepts b's far probe (0.9) as b; impostor u(10) is sqrt(2) away.
    assert plain.tar == pytest.approx(4 / 6) and plain.wrong_id == pytest.approx(1 / 6)
    assert plain.impostor_accept == pytest.approx(1 / 4)
    rows = sweep(probes, [0.01, 0.5, 1.0], margin=0.1)
    assert [r.tar for r in rows] == pytest.approx([0.0, 3 / 6, 4 / 6])
    assert [r.threshold for r in rows] == [0.01, 0.5, 1.0]
