"""The enrollment commands as a user runs them: real subprocesses, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.enrollment.badfiles import bad_files
from tests.enrollment.conftest import write_csv

BAODAO = str(Path(sys.executable).parent / "baodao")


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("BAODAO_")} | env
    return subprocess.run([BAODAO, *args], env=full, capture_output=True, text=True, timeout=120)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "BAODAO_DATA_DIR": str(tmp_path / "var"),
        "BAODAO_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'baodao.db'}",
        "BAODAO_SECRET_KEY": "cli-test-secret-0123456789",
    }


def test_identify_an_unreadable_image_gives_a_json_error_and_exit_2(
    tmp_path: Path, env: dict[str, str], faces_dir: Path
) -> None:
    for name, data in bad_files(faces_dir).items():
        photo = tmp_path / f"{name}.jpg"
        photo.write_bytes(data)
        r = run(["identify", str(photo), "--json"], env)
        assert r.returncode == 2, (name, r.stderr)
        out = json.loads(r.stdout)
        assert out["error"] in ("unreadable_image", "image_too_large") and out["message"]
        assert "Traceback" not in r.stderr
    missing = run(["identify", str(tmp_path / "nope.jpg"), "--json"], env)
    assert missing.returncode == 2 and json.loads(missing.stdout)["error"] == "unreadable_image"


def test_import_reports_every_photo_and_continues(
    tmp_path: Path, env: dict[str, str], faces_dir: Path
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    numbers = []
    for i, data in enumerate(bad_files(faces_dir).values(), start=1):
        (photos / f"{i}.jpg").write_bytes(data)
        numbers.append(str(i))
    roster = write_csv(
        tmp_path / "r.csv", ["代表编号", "姓名"], [[n, f"代表{n}"] for n in [*numbers, "99"]]
    )
    r = run(
        ["enroll", "import", str(roster), "--photos", str(photos), "--json", "--workers", "2"], env
    )
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    assert [(p["number"], p["status"]) for p in report["photos"]] == [
        (n, "failed") for n in [*numbers, "99"]
    ]
    assert report["photos"][-1]["reason"] == "photo_missing"
    assert report["totals"]["deputies"] == 6
    assert report["totals"]["enrolled_photos"] == 0
    assert report["totals"]["failed_photos"] == 6
    listed = run(["deputy", "list", "--json"], env)
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


def test_a_bad_roster_is_one_clear_line_and_exit_2(tmp_path: Path, env: dict[str, str]) -> None:
    roster = write_csv(tmp_path / "r.csv", ["代表编号", "姓名"], [["1", "甲"], ["1", "乙"]])
    r = run(["enroll", "import", str(roster), "--photos", str(tmp_path)], env)
    assert r.returncode == 2
    assert "第 3 行" in r.stderr and "Traceback" not in r.stderr


def test_unknown_deputy_commands_exit_2(env: dict[str, str]) -> None:
    for args in (
        ["enroll", "remove", "404"],
        ["deputy", "show", "404"],
        ["deputy", "retire", "404"],
    ):
        r = run(args, env)
        assert r.returncode == 2 and "404" in r.stderr, args


@pytest.mark.slow
def test_one_man_under_two_numbers_needs_confirm_duplicate(
    tmp_path: Path, env: dict[str, str], faces_dir: Path
) -> None:
    single = faces_dir / "fixtures" / "single"
    first = run(["enroll", "add", "1", str(single / "obama.jpg"), "--name", "奥巴马"], env)
    assert first.returncode == 0, first.stderr
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "2.jpg").symlink_to(single / "obama2.jpg")
    roster = write_csv(tmp_path / "r.csv", ["代表编号", "姓名"], [["2", "欧巴马"]])
    args = ["enroll", "import", str(roster), "--photos", str(photos), "--json"]
    r = run(args, env)
    assert r.returncode == 1, r.stderr
    (photo,) = json.loads(r.stdout)["photos"]
    assert photo["reason"] == "probable_duplicate" and photo["duplicate_of"]["number"] == "1"
    assert [d["number"] for d in json.loads(run(["deputy", "list", "--json"], env).stdout)] == [
        "1"
    ]  # nothing of deputy 2 was stored
    human = run(["enroll", "import", str(roster), "--photos", str(photos)], env)
    assert human.returncode == 1 and "1 奥巴马" in human.stdout  # the message names him
    r = run([*args, "--confirm-duplicate", "2"], env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["photos"][0]["status"] == "enrolled"
    shown = json.loads(run(["deputy", "show", "2", "--json"], env).stdout)
    assert shown["templates"] == 1 and shown["lookalikes"][0]["advice"]
