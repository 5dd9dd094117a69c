"""The benchmark runs behind `baodao bench`: accuracy over identity folders, speed against
same-run baselines, the DET plot. Commands and printing live in checkin.cli.bench."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from checkin.bench import accuracy as acc
from checkin.bench.folder import EngineParams, PhotoResult, encode_folder, list_identities
from checkin.errors import InvalidInput
from checkin.faces.metric import distances, pairwise
from checkin.faces.model import MODEL_NAMES, info
from checkin.settings import Settings

SWEEP = [round(0.30 + 0.005 * i, 3) for i in range(71)]  # 0.300 … 0.650
# Impostor-accept targets for the gallery-size table (the largest threshold meeting each).
SIZE_TARGETS = (0.01, 0.005, 0.001)


def engine_params(settings: Settings, *, probe_face_px: int | None = None) -> EngineParams:
    """The encoder settings of one model's run (settings already under that model)."""
    return EngineParams(
        model=settings.face_model,
        min_face_px=settings.min_face_px,
        enroll_jitters=settings.enroll_jitters,
        live_jitters=settings.live_jitters,
        max_pixels=settings.max_image_pixels,
        probe_face_px=probe_face_px,
    )


def encodings(results: dict[str, list[PhotoResult]]) -> dict[str, list[np.ndarray | None]]:
    return {name: [r.encoding for r in rs] for name, rs in results.items()}


def reasons(results: dict[str, list[PhotoResult]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rs in results.values():
        for r in rs:
            if r.reason is not None:
                counts[r.reason] = counts.get(r.reason, 0) + 1
    return dict(sorted(counts.items()))


def read_subset(path: Path) -> set[str]:
    """Identity names, one per line (blank lines and # comments ignored)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInput(
            f"无法读取身份列表 {path}：{exc.strerror}", code="subset_missing"
        ) from exc
    names = {ln.split("#", 1)[0].strip() for ln in lines}
    names.discard("")
    if not names:
        raise InvalidInput(f"身份列表 {path} 是空的", code="subset_empty")
    return names


def run_accuracy(
    faces: Path,
    *,
    gallery_per_id: int,
    settings: Settings,
    workers: int = 2,
    models: Sequence[str] | None = None,
    scale: Path | None = None,
    sizes: Sequence[int] = (),
    subset: set[str] | None = None,
    probe_face_px: int | None = None,
) -> dict[str, Any]:
    """Encode the folder (each photo once per model, and with plain face_recognition) and
    compute every figure.

    Args:
        faces: identity folders (the dev protocol; `strangers_*` folders are impostors).
        settings: the shipped settings; each model runs at its own defaults unless a value
            was set explicitly.
        models: the models to run, the first one reported at the top level; None: the
            active model, then the other one, then plain face_recognition beside them.
        scale: a gallery-size set: its people are all enrolled beside the protocol's, its
            `strangers_*` photos are impostors; `sizes` evaluates the first N enrolled.
        subset: identity names reported again as their own row (e.g. East Asian).
        probe_face_px: probes shrunk to this face width (see folder.EngineParams).
    """
    started = time.perf_counter()
    identities = list_identities(faces)
    enrol_all: set[str] = set()
    if scale is not None:
        extra = list_identities(scale)
        clash = sorted(set(extra) & set(identities))
        if clash:
            raise InvalidInput(f"{faces} 与 {scale} 有同名身份：{', '.join(clash[:5])}")
        identities |= extra
        enrol_all = {n for n in extra if not acc.is_strangers(n)}
    roles = acc.roles(identities, gallery_per_id=gallery_per_id, enrol_all=enrol_all)
    plain = models is None
    if models is None:
        models = [settings.face_model, *(m for m in MODEL_NAMES if m != settings.face_model)]
    seconds: dict[str, float] = {}
    runs: dict[str, dict[str, Any]] = {}
    sweeps: dict[str, list[dict[str, Any]]] = {}
    no_face: dict[str, dict[str, int]] = {}
    by_size: dict[str, list[dict[str, Any]]] = {}
    for name in models:
        ms = settings.for_model(name)
        t0 = time.perf_counter()
        raw = encode_folder(
            identities, roles, engine_params(ms, probe_face_px=probe_face_px), workers=workers
        )
        seconds[f"encode_{name}"] = round(time.perf_counter() - t0, 1)
        probes = acc.build_probe_set(
            encodings(raw), gallery_per_id=gallery_per_id, metric=info(name).metric,
            enrol_all=enrol_all,
        )  # fmt: skip
        t, m = ms.match_threshold, ms.match_margin
        shipped = acc.evaluate(probes, threshold=t, margin=m)
        sweep = acc.sweep(probes, SWEEP, margin=m)
        best = best_at(sweep, 0.01)
        runs[name] = {
            **acc.public(shipped),
            "model": name,
            "settings": _settings(ms),
            "best_at_1pct": acc.public(best) if best else None,
        }
        if subset is not None:
            runs[name]["subset"] = _subset(probes, subset, t, m)
        limit = info(name).duplicate_distance
        if limit is not None:
            runs[name]["duplicate_check"] = duplicate_check(probes, limit)
        if scale is not None:
            by_size[name] = _by_size(probes, enrol_all, sizes, t, m)
        sweeps[name] = [acc.public(x) for x in sweep]
        sweeps[f"{name}_no_margin"] = [acc.public(x) for x in acc.sweep(probes, SWEEP, margin=0)]
        no_face[name] = reasons(raw)
    first = models[0]
    report: dict[str, Any] = {
        **runs[first],
        "faces": str(faces),
        "gallery_per_id": gallery_per_id,
        "models": {name: runs[name] for name in models[1:]},
        "no_single_face": no_face,
        "sweep": sweeps,
    }
    if scale is not None:
        report["scale"] = str(scale)
        report["by_size"] = by_size
    if probe_face_px is not None:
        report["probe_face_px"] = probe_face_px
    if plain:
        t0 = time.perf_counter()
        base = settings.for_model("dlib")
        plain_raw = encode_folder(
            identities, roles, engine_params(base), mode="plain", workers=workers
        )
        seconds["encode_plain"] = round(time.perf_counter() - t0, 1)
        probes = acc.build_probe_set(
            encodings(plain_raw), gallery_per_id=gallery_per_id, metric="euclidean",
            enrol_all=enrol_all,
        )  # fmt: skip
        plain_m = acc.evaluate(probes, threshold=0.6, margin=0.0, decider=acc.nearest_match(0.6))
        plain_sweep = acc.sweep(probes, SWEEP, margin=0.0, decider_for=acc.nearest_match)
        strict = best_at(plain_sweep, 0.01)
        report["plain_face_recognition"] = acc.public(plain_m)
        report["plain_face_recognition_strict"] = acc.public(strict) if strict else None
        sweeps["plain"] = [acc.public(x) for x in plain_sweep]
        no_face["plain"] = reasons(plain_raw)
        if subset is not None:
            report["plain_face_recognition"]["subset"] = _subset(
                probes, subset, 0.6, 0.0, decider=acc.nearest_match(0.6)
            )
    seconds["total"] = round(time.perf_counter() - started, 1)
    report["seconds"] = seconds
    return report


def _settings(s: Settings) -> dict[str, Any]:
    return {
        "face_model": s.face_model,
        "match_threshold": s.match_threshold,
        "match_margin": s.match_margin,
        "enroll_jitters": s.enroll_jitters,
        "live_jitters": s.live_jitters,
        "min_face_px": s.min_face_px,
    }


def _subset(
    probes: acc.ProbeSet,
    names: set[str],
    threshold: float,
    margin: float,
    *,
    decider: Any = None,
) -> dict[str, Any]:
    """Metrics of the subset's own probes (genuine and impostor) against the whole gallery."""
    part = acc.restrict(probes, genuine=names, impostors=names)
    m = acc.evaluate(part, threshold=threshold, margin=margin, decider=decider)
    return {
        **acc.public(m),
        "identities": len(names & (set(probes.names) | set(probes.impostor_names))),
    }


def _by_size(
    probes: acc.ProbeSet,
    enrol_all: set[str],
    sizes: Sequence[int],
    threshold: float,
    margin: float,
) -> list[dict[str, Any]]:
    """The gallery-size table: with the first N people enrolled (the protocol's, then the
    scale set's in name order), the shipped setting's rates and, per impostor-accept target,
    the largest threshold that meets it."""
    base = [n for n in probes.names if n not in enrol_all]
    extra = sorted(n for n in probes.names if n in enrol_all)
    strangers = {n for n in probes.impostor_names if acc.is_strangers(n)}
    rows = []
    for size in sizes or [len(base) + len(extra)]:
        if not len(base) <= size <= len(base) + len(extra):
            raise InvalidInput(
                f"--sizes 的 {size} 超出范围：{len(base)}–{len(base) + len(extra)} 人"
            )
        part = acc.restrict(probes, enrolled=base + extra[: size - len(base)])
        shipped = acc.evaluate(part, threshold=threshold, margin=margin)
        only_strangers = acc.restrict(part, impostors=strangers)
        sweep = acc.sweep(part, SWEEP, margin=margin)
        rows.append(
            {
                "size": size,  # people enrolled; `enrolled` counts those with a usable photo
                **acc.public(shipped),
                "strangers_accept": acc.evaluate(
                    only_strangers, threshold=threshold, margin=margin
                ).impostor_accept,
                "largest_threshold": {
                    str(target): _largest(sweep, target) for target in SIZE_TARGETS
                },
            }
        )
    return rows


def duplicate_check(probes: acc.ProbeSet, limit: float) -> dict[str, Any]:
    """How the enrollment's probable-duplicate bar splits pairs of photos.

    Same person: every genuine probe against its own person's closest template. Different
    people: every pair of templates of two enrolled people, and every impostor probe against
    every template. Returns the counts and the shares closer than `limit`.
    """
    g = probes.gallery
    same = genuine_probe_distances(probes)
    between = pairwise(g.matrix, g.matrix, g.metric)
    other = g.labels[:, None] != g.labels[None, :]
    upper = np.triu(np.ones_like(other, dtype=bool), 1)
    different = [between[other & upper]]
    found = [e for e in probes.impostors if e is not None]
    if found and len(g):
        different.append(pairwise(np.vstack(found), g.matrix, g.metric).ravel())
    diff = np.concatenate(different) if different else np.empty(0)
    return {
        "distance": limit,
        "same_person_pairs": int(same.size),
        "same_person_flagged": round(float(np.mean(same < limit)), 4) if same.size else None,
        "different_pairs": int(diff.size),
        "different_flagged": int(np.sum(diff < limit)),
        "different_flagged_rate": float(np.mean(diff < limit)) if diff.size else None,
    }


def _largest(sweep: list[acc.Metrics], target: float) -> dict[str, float] | None:
    """The largest swept threshold whose impostor accept is within `target`, with its tar."""
    ok = [r for r in sweep if r.impostor_accept <= target + 1e-12]
    if not ok:
        return None
    r = max(ok, key=lambda r: r.threshold)
    return {"threshold": r.threshold, "tar": r.tar, "impostor_accept": r.impostor_accept}


def best_at(rows: list[acc.Metrics], max_errors: float) -> acc.Metrics | None:
    """The sweep row with the highest tar whose wrong_id + impostor_accept <= max_errors."""
    ok = [r for r in rows if acc.errors(r) <= max_errors]
    return max(ok, key=lambda r: (r.tar, -r.threshold)) if ok else None


def plot_det(report: dict[str, Any], path: Path) -> None:
    """DET-style plot: false accepts (wrong_id + impostor_accept) against genuine rejections."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 5))
    for name, rows in report["sweep"].items():
        x = [r["wrong_id"] + r["impostor_accept"] for r in rows]
        y = [1.0 - r["tar"] for r in rows]
        style = ":s" if name == "plain" else ("--." if name.endswith("_no_margin") else "-o")
        ax.plot(x, y, style, markersize=3, label=name)
    for run, marker in ((report, "r*"), *((r, "m*") for r in report["models"].values())):
        ax.plot(
            run["wrong_id"] + run["impostor_accept"],
            1 - run["tar"],
            marker,
            markersize=14,
            label=f"{run['model']} shipped t={run['threshold']:.2f} m={run['margin']:.2f}",
        )
    p = report.get("plain_face_recognition")
    if p is not None:
        ax.plot(
            p["wrong_id"] + p["impostor_accept"],
            1 - p["tar"],
            "kx",
            markersize=10,
            label="plain face_recognition 0.6",
        )
    ax.axvline(0.01, color="grey", linewidth=0.8)
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlim(left=0)
    ax.set_xlabel("wrong_id + impostor_accept")
    ax.set_ylabel("1 - tar (genuine probes not matched to the right person)")
    ax.set_title("Baodao open-set identification, threshold sweep 0.30-0.65")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def genuine_probe_distances(probes: acc.ProbeSet) -> np.ndarray:
    """Distance (the gallery's metric) from each genuine probe to its own person's closest
    template."""
    out = []
    g = probes.gallery
    for true_id, enc in probes.genuine:
        rows = g.matrix[g.labels == true_id]
        if enc is not None and len(rows):
            out.append(float(np.min(distances(rows, enc, g.metric))))
    return np.asarray(out)


def fixtures_root(faces: Path) -> Path:
    """The face-data root holding fixtures/ (the dev folder's parent, or the folder itself)."""
    from checkin.bench.speed import VIDEO

    for root in (faces, faces.parent):
        if (root / VIDEO).is_file():
            return root
    raise InvalidInput(
        f"找不到测速视频 {VIDEO}（在 {faces} 或其上一级目录下）", code="bench_video_missing"
    )


def run_speed(
    faces: Path,
    *,
    workers: int = 2,
    trials: int = 5,
    enroll_limit: int = 0,
    clients: int = 50,
    checkins: int = 60,
) -> dict[str, Any]:
    """Enrollment, matcher and live-push benchmarks, each with its own baseline, in one run."""
    from checkin.bench.enrollment import run_enroll_bench
    from checkin.bench.live_push import run_push_bench
    from checkin.bench.speed import run_matcher_bench

    list_identities(faces)  # a clear error for a wrong folder before minutes of work
    root = fixtures_root(faces)
    t0 = time.perf_counter()
    enrollment = run_enroll_bench(faces, workers, limit=enroll_limit)
    t1 = time.perf_counter()
    matcher = run_matcher_bench(root, trials=trials, workers=workers)
    t2 = time.perf_counter()
    push = run_push_bench(clients=clients, checkins=checkins)
    t3 = time.perf_counter()
    limit = f" --enroll-limit {enroll_limit}" if enroll_limit else ""
    return {
        "faces": str(faces),
        "command": f"baodao bench speed --faces {faces} --workers {workers} --trials {trials}"
        f"{limit} --clients {clients} --checkins {checkins} --json",
        "enrollment": enrollment,
        "matcher": matcher,
        "live_push": push,
        "seconds": {
            "enrollment": round(t1 - t0, 1),
            "matcher": round(t2 - t1, 1),
            "live_push": round(t3 - t2, 1),
        },
    }
