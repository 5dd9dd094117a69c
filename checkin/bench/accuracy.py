"""Open-set identification protocol over identity folders (pure part; I/O lives in folder.py).

Protocol: identities sorted by name; every third identity (index 2, 5, 8, …) is an impostor
that is never enrolled; the others enrol their first K photos (sorted by file name) and
probe with the rest; every photo of an impostor is a probe that must be rejected.

Two kinds of folder stand outside the every-third rule (`../shared/faces/scale`): a
`strangers_*` folder holds photos of people who appear nowhere else, all of them impostor
probes; identities named in `enrol_all` (a gallery-size set) are all enrolled, so hundreds
of people can be enrolled beside the dev protocol's 40 (`restrict` then evaluates the first
N of them).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np

from checkin.faces.metric import Metric, pairwise
from checkin.recognition.decision import Gallery

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


STRANGERS_PREFIX = "strangers_"


def is_impostor(index: int) -> bool:
    """Every third identity in name order (index 2, 5, 8, …) is never enrolled."""
    return index % 3 == 2


def is_strangers(name: str) -> bool:
    """A folder of photos of different never-enrolled people (impostor probes only)."""
    return name.startswith(STRANGERS_PREFIX)


def _kinds(names: Collection[str], enrol_all: Collection[str]) -> dict[str, str]:
    """Per identity: "impostor" or "enrolled" (the every-third rule counts only the rest)."""
    kinds: dict[str, str] = {}
    index = 0
    for name in sorted(names):
        if is_strangers(name):
            kinds[name] = "impostor"
        elif name in enrol_all:
            kinds[name] = "enrolled"
        else:
            kinds[name] = "impostor" if is_impostor(index) else "enrolled"
            index += 1
    return kinds


@dataclass(frozen=True)
class Split:
    """Which photos enrol whom and which probe; items are whatever the caller passed in."""

    gallery: dict[str, list[Any]]  # enrolled identity -> its first K items
    genuine: dict[str, list[Any]]  # enrolled identity -> the rest
    impostors: dict[str, list[Any]]  # impostor identity -> all its items


def split(
    identities: Mapping[str, Sequence[T]],
    *,
    gallery_per_id: int,
    enrol_all: Collection[str] = (),
) -> Split:
    """Apply the protocol to {identity: items in file-name order}."""
    if gallery_per_id < 1:
        raise ValueError("gallery_per_id must be at least 1")
    gallery: dict[str, list[Any]] = {}
    genuine: dict[str, list[Any]] = {}
    impostors: dict[str, list[Any]] = {}
    kinds = _kinds(identities, enrol_all)
    for name in sorted(identities):
        items = list(identities[name])
        if kinds[name] == "impostor":
            impostors[name] = items
        else:
            gallery[name] = items[:gallery_per_id]
            genuine[name] = items[gallery_per_id:]
    return Split(gallery, genuine, impostors)


def roles(
    identities: Mapping[str, Sequence[T]],
    *,
    gallery_per_id: int,
    enrol_all: Collection[str] = (),
) -> dict[str, list[str]]:
    """Per identity, the role of each item: "gallery" or "probe" (to pick encoder settings)."""
    out: dict[str, list[str]] = {}
    kinds = _kinds(identities, enrol_all)
    for name in sorted(identities):
        n = len(identities[name])
        k = 0 if kinds[name] == "impostor" else min(gallery_per_id, n)
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
    impostor_names: tuple[str, ...] = ()  # the identity (folder) of each impostor probe
    failed_names: tuple[str, ...] = ()  # the identity of each gallery photo without a face


def build_probe_set(
    identities: Mapping[str, Sequence[Encoding]],
    *,
    gallery_per_id: int,
    metric: Metric,
    enrol_all: Collection[str] = (),
) -> ProbeSet:
    """Enrol the gallery identities and collect the probes of {identity: [encoding|None]}."""
    sp = split(identities, gallery_per_id=gallery_per_id, enrol_all=enrol_all)
    names = tuple(sorted(sp.gallery))
    pid = {name: i for i, name in enumerate(names)}
    templates = [(pid[n], e) for n in names for e in sp.gallery[n] if e is not None]
    failed = tuple(n for n in names for e in sp.gallery[n] if e is None)
    genuine = tuple((pid[n], e) for n in names for e in sp.genuine[n])
    impostors = tuple(e for n in sorted(sp.impostors) for e in sp.impostors[n])
    impostor_names = tuple(n for n in sorted(sp.impostors) for _ in sp.impostors[n])
    gallery = Gallery.build(templates, metric=metric)
    return ProbeSet(
        len(identities),
        gallery,
        names,
        len(failed),
        genuine,
        impostors,
        impostor_names,
        failed,
    )


def restrict(
    probes: ProbeSet,
    *,
    enrolled: Collection[str] | None = None,
    genuine: Collection[str] | None = None,
    impostors: Collection[str] | None = None,
) -> ProbeSet:
    """The same probe set with fewer identities enrolled or probing (None: all of them).

    Args:
        enrolled: enrolled identities to keep; the others leave the gallery and their
            genuine probes are dropped.
        genuine: identities whose genuine probes to keep (the gallery stays whole).
        impostors: impostor identities whose probes to keep.
    """
    keep = set(probes.names) if enrolled is None else set(enrolled)
    probing = keep if genuine is None else keep & set(genuine)
    ids = [i for i, n in enumerate(probes.names) if n in keep]
    rows = np.isin(probes.gallery.labels, ids)
    gallery = Gallery(
        probes.gallery.labels[rows], probes.gallery.matrix[rows], probes.gallery.metric
    )
    pairs = [
        (e, n)
        for e, n in zip(probes.impostors, probes.impostor_names, strict=True)
        if impostors is None or n in impostors
    ]
    failed = tuple(n for n in probes.failed_names if n in keep)
    return ProbeSet(
        probes.identities,
        gallery,
        probes.names,
        len(failed),
        tuple((t, e) for t, e in probes.genuine if probes.names[t] in probing),
        tuple(e for e, _ in pairs),
        tuple(n for _, n in pairs),
        failed,
    )


def person_scores(
    gallery: Gallery, encodings: Sequence[np.ndarray | None]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per probe: the closest person, their distance and the second-closest person's.

    Args:
        gallery: the enrolled templates (distances by the gallery's metric).
        encodings: the probes; None (no usable face) gives person -1 and distance NaN.

    Returns:
        (best person id, best distance, second person's distance; inf with one person),
        each person at the distance of their closest template, as `decision.rank` ranks.
    """
    n = len(encodings)
    best_id = np.full(n, -1, dtype=np.int64)
    best = np.full(n, np.nan)
    second = np.full(n, np.inf)
    found = [(i, e) for i, e in enumerate(encodings) if e is not None]
    if not found or len(gallery) == 0:
        return best_id, best, second
    rows = [i for i, _ in found]
    dist = pairwise(np.vstack([e for _, e in found]), gallery.matrix, gallery.metric)
    order = np.argsort(gallery.labels, kind="stable")
    persons, starts = np.unique(gallery.labels[order], return_index=True)
    per_person = np.minimum.reduceat(dist[:, order], starts, axis=1)
    ranked = np.argsort(per_person, axis=1, kind="stable")
    at = np.arange(len(rows))
    best_id[rows] = persons[ranked[:, 0]]
    best[rows] = per_person[at, ranked[:, 0]]
    if len(persons) > 1:
        second[rows] = per_person[at, ranked[:, 1]]
    return best_id, best, second


def _accepted(best: np.ndarray, second: np.ndarray, threshold: float, margin: float) -> np.ndarray:
    """`decision.decide`'s rule: best < threshold and a gap of at least `margin` to the next."""
    with np.errstate(invalid="ignore"):
        ok: np.ndarray = (best < threshold) & ((second - best) >= margin)
    return ok


def evaluate(
    probes: ProbeSet,
    *,
    threshold: float,
    margin: float,
    decider: Callable[[Gallery, np.ndarray], int | None] | None = None,
) -> Metrics:
    """Decide every probe and count outcomes; a probe without a face is a rejection.

    By default the live decision's rule (`decision.decide`, vectorised over all probes at
    once: `person_scores`); `decider` (gallery, probe) -> person id or None replaces it, one
    probe at a time, e.g. for the plain face_recognition baseline.
    """
    gen_enc = [e for _, e in probes.genuine]
    true_ids = np.array([t for t, _ in probes.genuine], dtype=np.int64)
    if decider is None:
        g_id, g_best, g_second = person_scores(probes.gallery, gen_enc)
        _, i_best, i_second = person_scores(probes.gallery, probes.impostors)
        g_got = np.where(_accepted(g_best, g_second, threshold, margin), g_id, -1)
        i_ok = _accepted(i_best, i_second, threshold, margin)
    else:
        g_got = np.array(
            [-1 if e is None else _or_none(decider(probes.gallery, e)) for e in gen_enc],
            dtype=np.int64,
        )
        i_ok = np.array(
            [e is not None and decider(probes.gallery, e) is not None for e in probes.impostors],
            dtype=bool,
        )
    right = int(np.sum((g_got >= 0) & (g_got == true_ids)))
    wrong = int(np.sum((g_got >= 0) & (g_got != true_ids)))
    accepted = int(np.sum(i_ok))
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
        genuine_no_face=sum(e is None for e in gen_enc),
        impostor_no_face=sum(e is None for e in probes.impostors),
    )


def _or_none(person: int | None) -> int:
    return -1 if person is None else person


def nearest_match(tolerance: float) -> Callable[[Gallery, np.ndarray], int | None]:
    """Plain face_recognition: nearest template, accepted when distance <= tolerance."""

    def decider(gallery: Gallery, probe: np.ndarray) -> int | None:
        if len(gallery) == 0:
            return None
        dists = gallery.distances(probe)
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
