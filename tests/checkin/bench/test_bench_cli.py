"""`baodao bench accuracy` and `baodao calibrate` end to end on a tiny folder of real photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from checkin.bench.accuracy import METRIC_KEYS
from checkin.cli import app

IDS = ["Ai_Sugiyama", "Alejandro_Toledo", "Angelina_Jolie", "Ariel_Sharon"]


@pytest.fixture
def tiny(faces_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in IDS:
        (tmp_path / name).mkdir()
        for photo in sorted((faces_dir / "dev" / name).iterdir())[:2]:
            (tmp_path / name / photo.name).symlink_to(photo)
    (tmp_path / "empty_identity").mkdir()  # no photos: skipped
    monkeypatch.setenv("BAODAO_ENROLL_JITTERS", "1")
    monkeypatch.setenv("BAODAO_LIVE_JITTERS", "1")
    return tmp_path


@pytest.mark.slow
def test_bench_accuracy_json(tiny: Path, tmp_path: Path) -> None:
    plot = tmp_path / "out" / "det.png"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "accuracy",
            "--faces",
            str(tiny),
            "--json",
            "--workers",
            "1",
            "--plot",
            str(plot),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(METRIC_KEYS) <= set(report)
    # 4 identities: Angelina_Jolie (index 2) is the impostor; 3 enrolled with K=1.
    assert report["identities"] == 4 and report["gallery_size"] == 3
    assert report["genuine_probes"] == 3 and report["impostor_probes"] == 2
    assert set(METRIC_KEYS) <= set(report["plain_face_recognition"])
    assert plot.stat().st_size > 1000


@pytest.mark.slow
def test_calibrate_prints_threshold(tiny: Path) -> None:
    result = CliRunner().invoke(
        app, ["calibrate", "--faces", str(tiny), "--workers", "1", "--no-db"]
    )
    assert result.exit_code == 0, result.output
    assert "match_threshold" in result.output and "impostor_accept" in result.output


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "accuracy", "--faces", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "找不到" in result.output
