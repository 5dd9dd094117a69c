"""The benchmark report (Markdown) from the accuracy and speed results: dicts in, text out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ACCURACY_COLUMNS = ("tar", "wrong_id", "frr", "impostor_accept")


def speed_rows(speed: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(measure, Baodao, baseline measured in the same run, ratio) for every speed figure."""
    rows: list[tuple[str, str, str, str]] = []
    e = speed["enrollment"]
    b = e["baseline"]
    for label in ("import_shipped", "import_dlib"):
        run = e[label]
        rows.append(
            (
                f"enrollment photos/s, {run['model']} model, enroll_jitters={run['jitters']}, "
                f"{e['workers']} workers",
                f"{run['photos_per_s']}",
                f"{b['photos_per_s']} (sequential face_recognition)",
                f"{run['speed_ratio']}×",
            )
        )
    enc = e["encoder"]
    rows.append(
        (
            "one pass of dlib's network on a face chip, ms (ONNX Runtime)",
            f"{enc['onnx_ms_per_pass']}",
            f"{enc['dlib_ms_per_pass']} (dlib's own encoder)",
            f"{enc['ratio']}×",
        )
    )
    rows.append(
        (
            "one SFace pass on a face chip, ms",
            f"{enc['sface_ms_per_pass']}",
            f"{enc['dlib_ms_per_pass']} (dlib's own encoder)",
            _ratio(enc["sface_ms_per_pass"], enc["dlib_ms_per_pass"]),
        )
    )
    shipped = e["import_shipped"]
    rows.append(
        (
            "enrollment peak memory, MB (parent + workers)",
            f"≤ {shipped['total_maxrss_mb']}",
            f"{b['parent_maxrss_mb']}",
            _ratio(shipped["total_maxrss_mb"], b["parent_maxrss_mb"]),
        )
    )
    m = speed["matcher"]
    rows.append(
        (
            f"per-frame cost, ms (one core, {m['model']} model)",
            f"{m['service_ms_per_frame']}",
            f"{m['naive_ms_per_frame']} (naive face_recognition)",
            f"{m['ratio']}×",
        )
    )
    rows.append(
        (
            "per-frame cost without track skipping, ms",
            f"{m['service_untracked_ms_per_frame']}",
            f"{m['naive_ms_per_frame']} (naive face_recognition)",
            f"{m['ratio_untracked']}×",
        )
    )
    lat = m["latency"]
    one = lat["kiosks_1"]
    for key, v in lat.items():
        n = key.removeprefix("kiosks_")
        for pct in ("p50", "p95"):
            base = f"{one[f'{pct}_s']} (1 kiosk)" if key != "kiosks_1" else "–"
            ratio = _ratio(v[f"{pct}_s"], one[f"{pct}_s"]) if key != "kiosks_1" else "–"
            rows.append(
                (f"check-in latency {pct}, s, {n} kiosk(s)", f"{v[f'{pct}_s']}", base, ratio)
            )
    p = speed["live_push"]
    loaded_key = next(k for k in p if k.endswith("_clients"))
    loaded, single = p[loaded_key], p["baseline_1_client"]
    for pct in ("p50", "p95"):
        rows.append(
            (
                f"live push {pct}, ms, {loaded['clients']} dashboards",
                f"{loaded[f'{pct}_ms']}",
                f"{single[f'{pct}_ms']} (1 dashboard)",
                _ratio(loaded[f"{pct}_ms"], single[f"{pct}_ms"]),
            )
        )
    return rows


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}×" if base else "–"


def _md_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def accuracy_runs(acc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, metrics) of every row of an accuracy report: each model at its shipped
    defaults and at its best threshold with ≤ 1 % errors, then plain face_recognition."""
    named: list[tuple[str, dict[str, Any]]] = []
    for i, run in enumerate([acc, *acc.get("models", {}).values()]):
        shipped = "shipped defaults" if i == 0 else "its defaults"
        named.append((f"Baodao, {run['model']} model ({shipped})", run))
        if run.get("best_at_1pct"):
            named.append((f"{run['model']}, best threshold with ≤ 1 % errors", run["best_at_1pct"]))
    if acc.get("plain_face_recognition"):
        named.append(("plain face_recognition (0.6)", acc["plain_face_recognition"]))
    if acc.get("plain_face_recognition_strict"):
        named.append(("plain, strictest with ≤ 1 % errors", acc["plain_face_recognition_strict"]))
    return named


def _accuracy_rows(acc: dict[str, Any]) -> list[tuple[str, ...]]:
    rows = []
    for label, r in accuracy_runs(acc):
        errors = r["wrong_id"] + r["impostor_accept"]
        rows.append(
            (
                label,
                f"{r['threshold']:.3f}",
                f"{r['margin']:.3f}",
                *(f"{r[k]:.4f}" for k in ACCURACY_COLUMNS),
                f"{100 * errors:.2f} %",
            )
        )
    return rows


def render_report(accuracy: dict[str, Any], speed: dict[str, Any]) -> str:
    """The Markdown report `make bench` writes (bench-output/report.md), every number in it."""
    faces = speed.get("faces") or accuracy.get("faces") or "../shared/faces/dev"
    s = accuracy["settings"]
    lines = [
        "# Baodao benchmark report",
        "",
        f"Face data: `{faces}`. Every ratio is against a baseline measured in the same run.",
        "",
        "Reproduce:",
        "",
        "```sh",
        "make bench   # = " + speed.get("all_command", f"baodao bench all --faces {faces}"),
        accuracy.get("command", f"baodao bench accuracy --faces {faces} --json"),
        speed.get("command", f"baodao bench speed --faces {faces} --json"),
        "```",
        "",
        "## Accuracy (open-set identification)",
        "",
        f"Identities {accuracy['identities']}, gallery templates {accuracy['gallery_size']} "
        f"(K = {accuracy['gallery_per_id']} per person), genuine probes "
        f"{accuracy['genuine_probes']}, impostor probes {accuracy['impostor_probes']}. "
        f"Shipped model {accuracy['model']}: match_threshold {s['match_threshold']}, "
        f"match_margin {s['match_margin']}, "
        f"enroll_jitters {s['enroll_jitters']}, live_jitters {s['live_jitters']}, "
        f"min_face_px {s['min_face_px']}.",
        "",
        *_md_table(
            ("", "threshold", "margin", *ACCURACY_COLUMNS, "wrong_id + impostor_accept"),
            _accuracy_rows(accuracy),
        ),
        "",
        "Photos without a single usable face: "
        + "; ".join(f"{k} {_counts(v)}" for k, v in accuracy["no_single_face"].items())
        + f". Time: {accuracy['seconds']['total']} s.",
        "",
        "![DET: wrong_id + impostor_accept against 1 - tar over the threshold sweep](accuracy.png)",
        "",
        "## Speed",
        "",
        *_md_table(("measure", "Baodao", "baseline (same run)", "ratio"), speed_rows(speed)),
        "",
    ]
    e, m = speed["enrollment"], speed["matcher"]
    first, last = m["recognisable_frames"]
    lines += [
        f"Enrollment: {e['photos']} photos of {e['identities']} identities, {e['workers']} "
        f"workers on {e['cores']} cores; `baodao enroll import` enrolled "
        f"{e['import_shipped']['totals']['enrolled_photos']} photos, failed "
        f"{e['import_shipped']['totals']['failed_photos']} (shipped jitters).",
        "",
        f"Matcher: {m['frames']} frames ({m['frame_size']}) of the Hamilton clip; "
        f"{m['tracks_confirmed']} tracks confirmed; latency streams frames {first}–{last} at "
        f"5 frames/s per kiosk to a real `baodao serve` with {m['workers']} face workers.",
        "",
        *_md_table(
            ("kiosks", "check-ins", "p50 s", "p95 s", "max s", "frames dropped"),
            [
                (
                    k.removeprefix("kiosks_"),
                    str(v["trials"]),
                    str(v["p50_s"]),
                    str(v["p95_s"]),
                    str(v["max_s"]),
                    str(v["frames_dropped"]),
                )
                for k, v in m["latency"].items()
            ],
        ),
        "",
    ]
    p = speed["live_push"]
    push_rows = [
        (
            str(v["clients"]),
            str(v["messages"]),
            str(v["p50_ms"]),
            str(v["p95_ms"]),
            str(v["max_ms"]),
            str(v["request_p50_ms"]),
            str(v["sequence_gaps"]),
        )
        for k, v in p.items()
        if isinstance(v, dict) and "clients" in v
    ]
    lines += [
        f"Live push (commit → dashboard): goal p95 ≤ {p['goal_p95_ms']} ms, "
        f"{'met' if p['goal_met'] else 'NOT met'}; p95 ratio against 1 dashboard "
        f"{p['p95_ratio_vs_1_client']}×.",
        "",
        *_md_table(
            ("dashboards", "messages", "p50 ms", "p95 ms", "max ms", "request p50 ms", "gaps"),
            push_rows,
        ),
        "",
    ]
    if speed.get("seconds"):
        parts = ", ".join(f"{k} {v} s" for k, v in speed["seconds"].items())
        lines += [f"Time: {parts}.", ""]
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in counts.items()) or "none"
