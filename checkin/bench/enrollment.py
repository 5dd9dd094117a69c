"""Benchmark `baodao enroll import` against a plain sequential face_recognition loop.

    python -m checkin.bench.enrollment --faces ../shared/faces/dev [--workers 2] [--limit N]

Both sides process the same photos (every photo of every identity folder) in fresh child
processes, measured in the same run: photos/s and peak resident memory. The import runs with
the shipped settings (the default face model, SFace, at its defaults) and once more with the
dlib model at its defaults (enroll_jitters 4: 8 network passes per photo), where the
baseline's face_encodings does one pass. It also times one network pass on the same aligned
face chips with dlib's own encoder (what face_recognition runs), with ours for the same
network (`checkin.faces.dlib_net`, ONNX Runtime) and with SFace (`checkin.faces.sface_net`).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from enrollment.roster import IMAGE_SUFFIXES


def collect(faces_dir: Path, limit: int = 0) -> dict[str, list[Path]]:
    """Identity folder name -> its photos (sorted); at most `limit` photos in all (0 = all)."""
    out: dict[str, list[Path]] = {}
    total = 0
    for folder in sorted(p for p in faces_dir.iterdir() if p.is_dir()):
        photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if limit:
            photos = photos[: max(0, limit - total)]
        if photos:
            out[folder.name] = photos
            total += len(photos)
    return out


def _write_roster(identities: dict[str, list[Path]], work: Path) -> tuple[Path, Path]:
    """A roster CSV and a photos folder with NUMBER/ sub-folders of symlinks."""
    photos = work / "photos"
    photos.mkdir()
    roster = work / "roster.csv"
    with roster.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["代表编号", "姓名"])
        for i, (name, files) in enumerate(identities.items(), start=1):
            number = f"B{i:04d}"
            writer.writerow([number, name])
            folder = photos / number
            folder.mkdir()
            for f in files:
                (folder / f.name).symlink_to(f.resolve())
    return roster, photos


def _child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    started = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "checkin.bench.enrollment", "--child", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if r.returncode != 0:
        raise RuntimeError(f"benchmark child {args[0]} failed: {r.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    return data | {"wall_s": round(wall, 2)}


def _baseline_child(list_file: Path) -> dict[str, Any]:
    """The plain loop: load, detect (HOG, 1 upsample), encode (1 jitter), one photo at a time."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition

    paths = json.loads(list_file.read_text())
    started = time.perf_counter()
    faces = 0
    for p in paths:
        image = face_recognition.load_image_file(p)
        locations = face_recognition.face_locations(image)
        faces += len(face_recognition.face_encodings(image, locations))
    seconds = time.perf_counter() - started
    return {
        "photos": len(paths),
        "faces": faces,
        "seconds": round(seconds, 2),
        "parent_maxrss_mb": _rss_mb(resource.RUSAGE_SELF),
    }


ENCODER_CHIPS = 30  # aligned chips timed through each encoder


def _encoder_child(list_file: Path) -> dict[str, Any]:
    """Milliseconds per network pass on the same chips: dlib's encoder and ONNX Runtime's."""
    import dlib
    import numpy as np

    from checkin.faces import dlib_model, sface_net
    from checkin.faces import engine as fe
    from checkin.faces.dlib_net import face_net
    from checkin.settings import Settings

    max_pixels = Settings(_env_file=None).max_image_pixels
    chips: dict[str, list[np.ndarray]] = {"dlib": [], "sface": []}
    for p in json.loads(list_file.read_text()):
        image = fe.load_image(Path(p), max_pixels=max_pixels)
        faces = fe.detect(image, model="dlib")
        yunet = fe.detect(image, model="sface")
        if faces and yunet and yunet[0].landmarks is not None:
            _, shape = fe.assess(image, faces[0], model="dlib", min_face_px=1)
            chips["dlib"].append(dlib.get_face_chip(image, shape, size=150, padding=0.25))
            chips["sface"].append(sface_net.align(image, yunet[0].landmarks))
        if len(chips["dlib"]) == ENCODER_CHIPS:
            break
    net, sface = face_net(), sface_net.sface()
    encoders: dict[str, tuple[str, Callable[[np.ndarray], object]]] = {
        "dlib": ("dlib", dlib_model.models().face_encoder.compute_face_descriptor),
        "onnx": ("dlib", lambda chip: net([chip])),
        "sface": ("sface", lambda chip: sface.features([chip])),
    }
    timed: dict[str, float] = {}
    for name, (kind, encode) in encoders.items():
        encode(chips[kind][0])  # warm-up
        started = time.perf_counter()
        for chip in chips[kind]:
            encode(chip)
        timed[name] = (time.perf_counter() - started) * 1000 / len(chips[kind])
    return {
        "chips": len(chips["dlib"]),
        "dlib_ms_per_pass": round(timed["dlib"], 1),
        "onnx_ms_per_pass": round(timed["onnx"], 1),
        "sface_ms_per_pass": round(timed["sface"], 1),
        "ratio": round(timed["onnx"] / timed["dlib"], 3),
    }


def _import_child(roster: Path, photos: Path, workers: int) -> dict[str, Any]:
    """What `baodao enroll import ROSTER --photos DIR --workers N` does, in this process."""
    from checkin.accounts.scope import Scope
    from checkin.audit import Actor
    from checkin.runtime import open_runtime
    from enrollment import service
    from enrollment.roster import read_roster

    started = time.perf_counter()
    rows = read_roster(roster)
    rt = open_runtime()
    report = service.import_roster(
        rt.sessions,
        cipher=rt.cipher,
        settings=rt.settings,
        rows=rows,
        photos_dir=photos,
        workers=workers,
        actor=Actor.cli(),
        scope=Scope.everything(),
    )
    seconds = time.perf_counter() - started
    totals = report.totals()
    return {
        "photos": totals["enrolled_photos"] + totals["failed_photos"] + totals["duplicate_photos"],
        "totals": totals,
        "seconds": round(seconds, 2),
        "parent_maxrss_mb": _rss_mb(resource.RUSAGE_SELF),
        "worker_maxrss_mb": _rss_mb(resource.RUSAGE_CHILDREN),
    }


def _rss_mb(who: int) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)  # Linux: kilobytes


def run_enroll_bench(faces_dir: Path, workers: int, *, limit: int = 0) -> dict[str, Any]:
    """Run baseline, import (shipped settings) and import (dlib model); photos/s, memory, ratios."""
    from checkin.settings import Settings

    identities = collect(Path(faces_dir), limit)
    paths = [str(p) for files in identities.values() for p in files]
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("BAODAO_")}
    shipped = Settings(_env_file=None)
    with tempfile.TemporaryDirectory(prefix="baodao-bench-") as tmp:
        work = Path(tmp)
        roster, photos = _write_roster(identities, work)
        list_file = work / "photos.json"
        list_file.write_text(json.dumps(paths))
        baseline = _child(["baseline", str(list_file)], base_env)
        encoder = _child(["encoder", str(list_file)], base_env)
        runs: dict[str, Any] = {}
        for label, settings in (
            ("import_shipped", shipped),
            ("import_dlib", shipped.for_model("dlib")),
        ):
            data = work / label
            env = base_env | {
                "BAODAO_DATA_DIR": str(data),
                "BAODAO_DATABASE_URL": f"sqlite:///{data / 'baodao.db'}",
                "BAODAO_SECRET_KEY": "bench-secret-key-0123456789",
                "BAODAO_FACE_MODEL": settings.face_model,
            }
            runs[label] = _child(["import", str(roster), str(photos), str(workers)], env)
            runs[label]["model"] = settings.face_model
            runs[label]["jitters"] = settings.enroll_jitters
    result: dict[str, Any] = {
        "photos": len(paths),
        "identities": len(identities),
        "workers": workers,
        "cores": os.cpu_count(),
        "baseline": baseline,
        "encoder": encoder,
    }
    base_rate = baseline["photos"] / baseline["seconds"]
    baseline["photos_per_s"] = round(base_rate, 2)
    for label, run in runs.items():
        rate = run["photos"] / run["seconds"]
        run["photos_per_s"] = round(rate, 2)
        run["total_maxrss_mb"] = round(
            run["parent_maxrss_mb"] + workers * run["worker_maxrss_mb"], 1
        )
        run["speed_ratio"] = round(rate / base_rate, 2)
        result[label] = run
    return result


def print_result(r: dict[str, Any]) -> None:
    """Human-readable lines (the CLI and `python -m checkin.bench.enrollment` print these)."""
    b = r["baseline"]
    lines = [
        f"{r['photos']} photos of {r['identities']} identities, {r['workers']} workers, "
        f"{r['cores']} cores",
        f"baseline (sequential face_recognition: load, face_locations, face_encodings, 1 jitter):"
        f" {b['photos_per_s']} photos/s, peak RSS {b['parent_maxrss_mb']} MB",
        f"one pass of dlib's network on a face chip: {r['encoder']['onnx_ms_per_pass']} ms"
        f" (ONNX Runtime) vs {r['encoder']['dlib_ms_per_pass']} ms (dlib) ="
        f" {r['encoder']['ratio']}x; one SFace pass: {r['encoder']['sface_ms_per_pass']} ms",
    ]
    for label in ("import_shipped", "import_dlib"):
        run = r[label]
        lines.append(
            f"baodao enroll import ({run['model']}, enroll_jitters={run['jitters']}): "
            f"{run['photos_per_s']} "
            f"photos/s = {run['speed_ratio']}x baseline; peak RSS parent "
            f"{run['parent_maxrss_mb']} MB + {r['workers']} x worker {run['worker_maxrss_mb']} MB"
            f" (<= {run['total_maxrss_mb']} MB); enrolled {run['totals']['enrolled_photos']}, "
            f"failed {run['totals']['failed_photos']}"
        )
    for line in lines:
        sys.stdout.write(line + "\n")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: the benchmark, or one of its measured children."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        kind, *rest = argv[1:]
        if kind == "baseline":
            out = _baseline_child(Path(rest[0]))
        elif kind == "encoder":
            out = _encoder_child(Path(rest[0]))
        else:
            out = _import_child(Path(rest[0]), Path(rest[1]), int(rest[2]))
        sys.stdout.write(json.dumps(out) + "\n")
        return
    parser = argparse.ArgumentParser(prog="python -m checkin.bench.enrollment", description=__doc__)
    parser.add_argument("--faces", type=Path, required=True, help="identity folders (dev set)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="only the first N photos")
    parser.add_argument("--json", action="store_true", help="print the raw result as JSON")
    args = parser.parse_args(argv)
    result = run_enroll_bench(args.faces, args.workers, limit=args.limit)
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        print_result(result)


if __name__ == "__main__":
    main()
