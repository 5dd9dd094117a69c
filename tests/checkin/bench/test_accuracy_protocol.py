"""The accuracy protocol on synthetic 128-d vectors: known inputs give known rates."""

from __future__ import annotations

import numpy as np
import pytest

from checkin.bench.accuracy import (
    build_probe_set,
    evaluate,
    nearest_match,
    restrict,
    roles,
    split,
    sweep,
)
from checkin.recognition.decision import Gallery, decide


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


@pytest.mark.parametrize(
    "metric,thresholds,margins",
    [("cosine", (0.3, 0.4, 0.5), (0.0, 0.02, 0.1)), ("euclidean", (10, 13, 14), (0.0, 0.2, 1))],
)
def test_the_vectorised_rule_is_the_live_decision(
    metric: str, thresholds: tuple[float, ...], margins: tuple[float, ...]
) -> None:
    """`evaluate` decides all probes at once; one `decision.decide` per probe agrees."""
    rng = np.random.default_rng(3)
    base = rng.normal(size=128)  # people share a component: some impostors get accepted
    people = {f"p{i:02d}": base + 0.8 * rng.normal(size=128) for i in range(30)}
    data: dict[str, list[np.ndarray | None]] = {
        name: [c + rng.normal(scale=0.6, size=128) for _ in range(4)] + [None]
        for name, c in people.items()
    }
    probes = build_probe_set(data, gallery_per_id=2, metric=metric)  # type: ignore[arg-type]
    accepts = set()
    for threshold in thresholds:
        for margin in margins:
            fast = evaluate(probes, threshold=threshold, margin=margin)

            def live(
                g: Gallery, p: np.ndarray, t: float = threshold, m: float = margin
            ) -> int | None:
                return decide(g, p, threshold=t, margin=m).person_id

            assert fast == evaluate(probes, threshold=threshold, margin=margin, decider=live)
            accepts.add(fast.impostor_accept > 0)
    assert accepts == {True, False}  # cases on both sides: the comparison can fail


def test_strangers_folders_are_impostors_and_enrol_all_people_are_enrolled() -> None:
    names = {n: [f"{n}{i}" for i in range(3)] for n in ("a", "b", "c", "d", "e", "f")}
    names |= {"strangers_01": ["x", "y"], "s1": ["s10", "s11"], "s2": ["s20"]}
    sp = split(names, gallery_per_id=1, enrol_all={"s1", "s2"})
    # The every-third rule counts only a..f: c and f are impostors, as without the rest.
    assert sorted(sp.impostors) == ["c", "f", "strangers_01"]
    assert sorted(sp.gallery) == ["a", "b", "d", "e", "s1", "s2"]
    assert sp.impostors["strangers_01"] == ["x", "y"] and sp.genuine["s1"] == ["s11"]
    assert roles(names, gallery_per_id=1, enrol_all={"s1", "s2"})["strangers_01"] == ["probe"] * 2


def test_restrict_to_the_first_enrolled_and_to_some_impostors() -> None:
    data = dataset() | {"strangers_9": [u(40), u(0) + u(41, 0.05)]}
    probes = build_probe_set(data, gallery_per_id=1, metric="euclidean")
    assert probes.impostor_names.count("strangers_9") == 2
    whole = evaluate(probes, threshold=0.5, margin=0.1)
    assert whole.impostor_probes == 6 and whole.impostor_accept == pytest.approx(2 / 6)
    # Without "a" enrolled, its near-copies are nobody's; b's probe taken for a is dropped.
    part = restrict(probes, enrolled={"b", "d", "e"}, impostors={"strangers_9"})
    m = evaluate(part, threshold=0.5, margin=0.1)
    assert (m.enrolled, m.genuine_probes, m.impostor_probes) == (3, 4, 2)
    assert m.impostor_accept == 0.0 and m.tar == pytest.approx(2 / 4)
    only_e = evaluate(restrict(probes, genuine={"e"}), threshold=0.5, margin=0.1)
    assert (only_e.enrolled, only_e.genuine_probes, only_e.tar) == (4, 1, 1.0)
