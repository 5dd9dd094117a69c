"""The benchmark runs behind `baodao bench`: accuracy over identity folders, speed against
same-run baselines, the DET plot. Commands and printing live in checkin.cli.bench."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from checkin.bench import accuracy as acc
from checkin.bench.folder import EngineParams, PhotoResult, encode_folder, list_identities
from checkin.errors import InvalidInput
from checkin.settings import Settings

SWEEP = [round(0.30 + 0.005 * i, 3) for i in range(71)]  # 0.300 … 0.650


def engine_params(settings: Settings) -> EngineParams:
    return EngineParams(
        min_face_px=settings.min_face_px,
        enroll_jitters=settings.enroll_jitters,
        live_jitters=settings.live_jitters,
        max_pixels=settings.max_image_pixels,
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


def run_accuracy(
    faces: Path, *, gallery_per_id: int, settings: Settings, workers: int = 2
) -> dict[str, Any]:
    """Encode the folder (ours and plain, each photo once) and compute every figure."""
    started = time.perf_counter()
    identities = list_identities(faces)
    roles = acc.roles(identities, gallery_per_id=gallery_per_id)
    params = engine_params(settings)
    ours_raw = encode_folder(identities, roles, params, mode="ours", workers=workers)
    encoded_ours = time.perf_counter()
    plain_raw = encode_folder(identities, roles, params, mode="plain", workers=workers)
    encoded_plain = time.perf_counter()
    ours = acc.build_probe_set(encodings(ours_raw), gallery_per_id=gallery_per_id)
    plain = acc.build_probe_set(encodings(plain_raw), gallery_per_id=gallery_per_id)
    t, m = settings.match_threshold, settings.match_margin
    ours_m = acc.evaluate(ours, threshold=t, margin=m)
    plain_m = acc.evaluate(plain, threshold=0.6, margin=0.0, decider=acc.nearest_match(0.6))
    strict = best_at(acc.sweep(plain, SWEEP, margin=0.0, decider_for=acc.nearest_match), 0.01)
    sweeps = {
        "ours": acc.sweep(ours, SWEEP, margin=m),
        "ours_no_margin": acc.sweep(ours, SWEEP, margin=0.0),
        "plain": acc.sweep(plain, SWEEP, margin=0.0, decider_for=acc.nearest_match),
    }
    return {
        **acc.public(ours_m),
        "gallery_per_id": gallery_per_id,
        "settings": {
            "match_threshold": t,
            "match_margin": m,
            "enroll_jitters": settings.enroll_jitters,
            "live_jitters": settings.live_jitters,
            "min_face_px": settings.min_face_px,
        },
        "no_single_face": {"ours": reasons(ours_raw), "plain": reasons(plain_raw)},
        "plain_face_recognition": acc.public(plain_m),
        "plain_face_recognition_strict": acc.public(strict) if strict else None,
        "sweep": {k: [acc.public(x) for x in v] for k, v in sweeps.items()},
        "seconds": {
            "encode_ours": round(encoded_ours - started, 1),
            "encode_plain": round(encoded_plain - encoded_ours, 1),
            "total": round(time.perf_counter() - started, 1),
        },
    }


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
    styles = {"ours": "-o", "ours_no_margin": "--.", "plain": ":s"}
    for name, rows in report["sweep"].items():
        x = [r["wrong_id"] + r["impostor_accept"] for r in rows]
        y = [1.0 - r["tar"] for r in rows]
        ax.plot(x, y, styles.get(name, "-"), markersize=3, label=name)
    ax.plot(
        report["wrong_id"] + report["impostor_accept"],
        1 - report["tar"],
        "r*",
        markersize=14,
        label=f"shipped t={report['threshold']:.2f} m={report['margin']:.2f}",
    )
    p = report["plain_face_recognition"]
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
    """Distance from each genuine probe to its own person's closest template."""
    out = []
    for true_id, enc in probes.genuine:
        rows = probes.gallery.matrix[probes.gallery.labels == true_id]
        if enc is not None and len(rows):
            out.append(float(np.min(np.linalg.norm(rows - enc, axis=1))))
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
