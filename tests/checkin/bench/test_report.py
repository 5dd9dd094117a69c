"""The benchmark report rendered from fixed results, and the speed commands' input errors."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from checkin.bench.report import render_report, speed_rows
from checkin.cli import app


def _metrics(t: float, m: float, tar: float, wid: float, frr: float, ia: float) -> dict[str, Any]:
    return {
        "identities": 60, "gallery_size": 40, "genuine_probes": 248, "impostor_probes": 144,
        "tar": tar, "wrong_id": wid, "frr": frr, "impostor_accept": ia,
        "threshold": t, "margin": m,
    }  # fmt: skip


DLIB: dict[str, Any] = {
    **_metrics(0.43, 0.05, 0.681, 0.0, 0.319, 0.0069),
    "model": "dlib",
    "best_at_1pct": _metrics(0.435, 0.05, 0.69, 0.0, 0.31, 0.0069),
}
ACCURACY: dict[str, Any] = {
    **_metrics(0.55, 0.05, 0.9823, 0.0081, 0.0096, 0.0139),
    "model": "sface",
    "best_at_1pct": None,
    "models": {"dlib": DLIB},
    "gallery_per_id": 1,
    "settings": {
        "face_model": "sface",
        "match_threshold": 0.55,
        "match_margin": 0.05,
        "enroll_jitters": 1,
        "live_jitters": 1,
        "min_face_px": 36,
    },  # fmt: skip
    "no_single_face": {"sface": {"blurry": 1, "not_frontal": 1}, "dlib": {}, "plain": {}},
    "plain_face_recognition": _metrics(0.6, 0.0, 0.9879, 0.0121, 0.0, 0.5903),
    "plain_face_recognition_strict": _metrics(0.415, 0.0, 0.6774, 0.004, 0.3185, 0.0069),
    "sweep": {},
    "seconds": {"encode_ours": 150.2, "encode_plain": 60.4, "total": 211.9},
    "command": "baodao bench accuracy --faces DEV --json --plot OUT/accuracy.png",
}


def _enroll_run(model: str, jitters: int, rate: float, ratio: float) -> dict[str, Any]:
    return {
        "model": model, "jitters": jitters, "photos": 432, "photos_per_s": rate,
        "speed_ratio": ratio,
        "parent_maxrss_mb": 120.5, "worker_maxrss_mb": 210.0, "total_maxrss_mb": 540.5,
        "totals": {"enrolled_photos": 430, "failed_photos": 2, "duplicate_photos": 0},
        "seconds": 100.0,
    }  # fmt: skip


def _lat(trials: int, p50: float, p95: float) -> dict[str, Any]:
    return {"trials": trials, "p50_s": p50, "p95_s": p95, "max_s": p95 + 0.1, "frames_dropped": 3}


def _push(clients: int, p50: float, p95: float) -> dict[str, Any]:
    return {
        "clients": clients, "messages": 30 * clients, "p50_ms": p50, "p95_ms": p95,
        "max_ms": p95 + 5, "request_p50_ms": 12.5, "sequence_gaps": 0,
    }  # fmt: skip


SPEED: dict[str, Any] = {
    "faces": "DEV",
    "command": "baodao bench speed --faces DEV --json",
    "all_command": "baodao bench all --faces DEV --out OUT --trials 3",
    "enrollment": {
        "photos": 432,
        "identities": 60,
        "workers": 2,
        "cores": 2,
        "baseline": {"photos": 432, "photos_per_s": 4.1, "parent_maxrss_mb": 180.2},
        "encoder": {
            "chips": 30,
            "dlib_ms_per_pass": 140.2,
            "onnx_ms_per_pass": 15.1,
            "sface_ms_per_pass": 10.2,
            "ratio": 0.108,
        },
        "import_shipped": _enroll_run("sface", 1, 20.5, 5.0),
        "import_dlib": _enroll_run("dlib", 4, 7.38, 1.8),
    },  # fmt: skip
    "matcher": {
        "model": "sface",
        "kiosk_min_face_px": 48,
        "frames": 96,
        "frame_size": "1280x720",
        "naive_ms_per_frame": 402.5,
        "service_ms_per_frame": 88.1,
        "service_untracked_ms_per_frame": 150.7,
        "ratio": 0.219,
        "ratio_untracked": 0.374,
        "tracks_confirmed": 2,
        "recognisable_frames": [10, 70],
        "workers": 2,
        "latency": {"kiosks_1": _lat(3, 1.25, 1.5), "kiosks_4": _lat(12, 2.5, 4.5)},
    },  # fmt: skip
    "live_push": {
        "baseline_1_client": _push(1, 8.0, 10.0),
        "50_clients": _push(50, 20.0, 40.0),
        "p95_ratio_vs_1_client": 4.0,
        "goal_p95_ms": 100,
        "goal_met": True,
    },
    "seconds": {"enrollment": 300.1, "matcher": 120.2, "live_push": 30.3},
}


def test_report_has_every_number_the_commands_and_the_plot() -> None:
    md = render_report(ACCURACY, SPEED)
    for command in (ACCURACY["command"], SPEED["command"], SPEED["all_command"]):
        assert command in md
    assert "(accuracy.png)" in md
    # accuracy: both models, plain, strict rows, with errors = wrong_id + impostor_accept
    shipped = "| Baodao, sface model (shipped defaults) | 0.550 | 0.050 | 0.9823 | 0.0081 |"
    assert shipped + " 0.0096 | 0.0139 | 2.20 % |" in md
    assert "| Baodao, dlib model (its defaults) | 0.430 | 0.050 | 0.6810 |" in md
    assert "| dlib, best threshold with ≤ 1 % errors | 0.435 |" in md
    assert "sface, best threshold" not in md  # none in the sweep: no row
    assert "| plain face_recognition (0.6) | 0.600 | 0.000 | 0.9879 |" in md
    assert "| 0.415 | 0.000 | 0.6774 |" in md
    assert "sface 1 blurry, 1 not_frontal; dlib none; plain none" in md
    # speed: each figure beside its baseline from the same run
    assert "| enrollment photos/s, sface model, enroll_jitters=1, 2 workers | 20.5 | 4.1 (" in md
    assert "| enrollment photos/s, dlib model, enroll_jitters=4, 2 workers | 7.38 |" in md
    assert "| 5.0× |" in md and "| 1.8× |" in md
    dlib_pass = "| one pass of dlib's network on a face chip, ms (ONNX Runtime) | 15.1 |"
    assert dlib_pass + " 140.2 (dlib's own encoder) | 0.108× |" in md
    assert "| one SFace pass on a face chip, ms | 10.2 | 140.2 (dlib's own encoder) | 0.07× |" in md
    per_frame = "| per-frame cost, ms (one core, sface model) | 88.1 |"
    assert per_frame + " 402.5 (naive face_recognition) | 0.219× |" in md
    assert "| check-in latency p95, s, 4 kiosk(s) | 4.5 | 1.5 (1 kiosk) | 3.00× |" in md
    assert "| live push p95, ms, 50 dashboards | 40.0 | 10.0 (1 dashboard) | 4.00× |" in md
    assert "| 4 | 12 | 2.5 | 4.5 | 4.6 | 3 |" in md
    assert "| 50 | 1500 | 20.0 | 40.0 | 45.0 | 12.5 | 0 |" in md
    assert "met" in md and "NOT met" not in md
    assert "enrollment 300.1 s" in md


def test_report_says_when_the_push_goal_is_missed_and_skips_a_missing_strict_row() -> None:
    speed = copy.deepcopy(SPEED)
    speed["live_push"]["goal_met"] = False
    accuracy = ACCURACY | {"plain_face_recognition_strict": None}
    md = render_report(accuracy, speed)
    assert "NOT met" in md and "strictest" not in md


def test_speed_rows_pair_each_figure_with_its_baseline() -> None:
    rows = {r[0]: r[1:] for r in speed_rows(SPEED)}
    assert rows["enrollment peak memory, MB (parent + workers)"] == ("≤ 540.5", "180.2", "3.00×")
    assert rows["check-in latency p50, s, 1 kiosk(s)"] == ("1.25", "–", "–")
    assert rows["check-in latency p50, s, 4 kiosk(s)"] == ("2.5", "1.25 (1 kiosk)", "2.00×")
    assert len(rows) == 13


@pytest.mark.parametrize("command", [["bench", "speed"], ["bench", "all"]])
def test_speed_commands_refuse_a_folder_without_identities(
    command: list[str], tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, [*command, "--faces", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "找不到" in result.output


def test_speed_needs_the_fixture_video(tmp_path: Path) -> None:
    (tmp_path / "dev" / "someone").mkdir(parents=True)
    (tmp_path / "dev" / "someone" / "1.jpg").write_bytes(b"x")
    result = CliRunner().invoke(app, ["bench", "speed", "--faces", str(tmp_path / "dev")])
    assert result.exit_code == 2 and "short_hamilton_clip.mp4" in result.output
