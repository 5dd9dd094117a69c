"""Open-set identification protocol over identity folders (pure part; I/O lives in folder.py).

Protocol: identities sorted by name; every third identity (index 2, 5, 8, …) is an impostor
that is never enrolled; the others enrol their first K photos (sorted by file name) and
probe with the rest; every photo of an impostor is a probe that must be rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np

from checkin.recognition.decision import Gallery, decide

T = TypeVar("T")
Encoding = np.ndarray | None  # None: no usable face in that photo

METRIC_KEYS = (
    "identities",
    "gallery_size",
    "genuine_probes",
    "impostor_probes",
    "tar",
    "wrong_id",
    "frr",
    "impostor_accept",
)


def is_impostor(index: int) -> bool:
    """Every third identity in name order (index 2, 5, 8, …) is never enrolled."""
    return index % 3 == 2


@dataclass(frozen=True)
class Split:
    """Which photos enrol whom and which probe; items are whatever the caller passed in."""

    gallery: dict[str, list[Any]]  # enrolled identity -> its first K items
    genuine: dict[str, list[Any]]  # enrolled identity -> the rest
    impostors: dict[str, list[Any]]  # impostor identity -> all its items


def split(identities: Mapping[str, Sequence[T]], *, gallery_per_id: int) -> Split:
    """Apply the protocol to {identity: items in file-name order}."""
    if gallery_per_id < 1:
        raise ValueError("gallery_per_id must be at least 1")
    gallery: dict[str, list[Any]] = {}
    genuine: dict[str, list[Any]] = {}
    impostors: dict[str, list[Any]] = {}
    for index, name in enumerate(sorted(identities)):
        items = list(identities[name])
        if is_impostor(index):
            impostors[name] = items
        else:
            gallery[name] = items[:gallery_per_id]
            genuine[name] = items[gallery_per_id:]
    return Split(gallery, genuine, impostors)


def roles(identities: Mapping[str, Sequence[T]], *, gallery_per_id: int) -> dict[str, list[str]]:
    """Per identity, the role of each item: "gallery" or "probe" (to pick encoder settings)."""
    out: dict[str, list[str]] = {}
    for index, name in enumerate(sorted(identities)):
        n = len(identities[name])
        k = 0 if is_impostor(index) else min(gallery_per_id, n)
        out[name] = ["gallery"] * k + ["probe"] * (n - k)
    return out


@dataclass(frozen=True)
class Metrics:
    """Rates are fractions of genuine (tar, wrong_id, frr) or impostor probes."""

    identities: int
    gallery_size: int
    genuine_probes: int
    impostor_probes: int
    tar: float
    wrong_id: float
    frr: float
    impostor_accept: float
    threshold: float
    margin: float
    enrolled: int
    enroll_failures: int  # gallery photos without a usable face
    genuine_no_face: int  # genuine probes without a usable face (counted in frr)
    impostor_no_face: int  # impostor probes without a usable face (counted as rejected)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)


@dataclass(frozen=True)
class ProbeSet:
    """The gallery and the probes of one split, ready to be decided at any setting."""

    identities: int
    gallery: Gallery
    names: tuple[str, ...]  # person id i -> identity name
    enroll_failures: int
    genuine: tuple[tuple[int, np.ndarray | None], ...]  # (true person id, encoding)
    impostors: tuple[np.ndarray | None, ...]


def build_probe_set(
    identities: Mapping[str, Sequence[Encoding]], *, gallery_per_id: int
) -> ProbeSet:
    """Enrol the gallery identities and collect the probes of {identity: [encoding|None]}."""
    sp = split(identities, gallery_per_id=gallery_per_id)
    names = tuple(sorted(sp.gallery))
    pid = {name: i for i, name in enumerate(names)}
    templates = [(pid[n], e) for n in names for e in sp.gallery[n] if e is not None]
    failures = sum(e is None for n in names for e in sp.gallery[n])
    genuine = tuple((pid[n], e) for n in names for e in sp.genuine[n])
    impostors = tuple(e for n in sorted(sp.impostors) for e in sp.impostors[n])
    return ProbeSet(len(identities), Gallery.build(templates), names, failures, genuine, impostors)


def evaluate(
    probes: ProbeSet,
    *,
    threshold: float,
    margin: float,
    decider: Callable[[Gallery, np.ndarray], int | None] | None = None,
) -> Metrics:
    """Decide every probe and count outcomes; a probe without a face is a rejection.

    `decider` (gallery, probe) -> person id or None replaces the live decision, e.g. for
    the plain face_recognition baseline; by default `decision.decide` is used.
    """

    def who(enc: np.ndarray) -> int | None:
        if decider is not None:
            return decider(probes.gallery, enc)
        return decide(probes.gallery, enc, threshold=threshold, margin=margin).person_id

    right = wrong = genuine_no_face = 0
    for true_id, enc in probes.genuine:
        if enc is None:
            genuine_no_face += 1
            continue
        got = who(enc)
        if got == true_id:
            right += 1
        elif got is not None:
            wrong += 1
    accepted = impostor_no_face = 0
    for enc in probes.impostors:
        if enc is None:
            impostor_no_face += 1
        elif who(enc) is not None:
            accepted += 1
    n_gen = len(probes.genuine)
    n_imp = len(probes.impostors)
    return Metrics(
        identities=probes.identities,
        gallery_size=len(probes.gallery),
        genuine_probes=n_gen,
        impostor_probes=n_imp,
        tar=_rate(right, n_gen),
        wrong_id=_rate(wrong, n_gen),
        frr=_rate(n_gen - right - wrong, n_gen),
        impostor_accept=_rate(accepted, n_imp),
        threshold=threshold,
        margin=margin,
        enrolled=probes.gallery.persons,
        enroll_failures=probes.enroll_failures,
        genuine_no_face=genuine_no_face,
        impostor_no_face=impostor_no_face,
    )


def nearest_match(tolerance: float) -> Callable[[Gallery, np.ndarray], int | None]:
    """Plain face_recognition: nearest template, accepted when distance <= tolerance."""

    def decider(gallery: Gallery, probe: np.ndarray) -> int | None:
        if len(gallery) == 0:
            return None
        dists = np.linalg.norm(gallery.matrix - probe, axis=1)
        i = int(np.argmin(dists))
        return int(gallery.labels[i]) if dists[i] <= tolerance else None

    return decider


def sweep(
    probes: ProbeSet,
    thresholds: Sequence[float],
    *,
    margin: float,
    decider_for: Callable[[float], Callable[[Gallery, np.ndarray], int | None]] | None = None,
) -> list[Metrics]:
    """Metrics at each threshold (same margin); `decider_for(t)` swaps in another rule."""
    return [
        evaluate(
            probes,
            threshold=t,
            margin=margin,
            decider=decider_for(t) if decider_for is not None else None,
        )
        for t in thresholds
    ]


def _rate(count: int, total: int) -> float:
    return count / total if total else 0.0


def errors(m: Metrics) -> float:
    """The headline error: wrong identities plus accepted impostors (each as a rate)."""
    return m.wrong_id + m.impostor_accept


def public(m: Metrics) -> dict[str, Any]:
    """The issue's keys first, then the extra counts."""
    d = m.as_dict()
    return {
        **{k: d[k] for k in METRIC_KEYS},
        **{k: v for k, v in d.items() if k not in METRIC_KEYS},
    }
