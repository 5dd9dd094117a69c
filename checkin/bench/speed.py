"""Matcher speed benchmark: per-frame cost against naive face_recognition, check-in latency.

    python -m checkin.bench.speed --faces ../shared/faces

(a) Per-frame cost, one process, same frames (every frame of the Hamilton clip): the naive
    pipeline (`face_locations` with one upsample + `face_encodings` on the full frame) against
    the service's frame work (detection at the kiosk scale, quality gate, encoding only faces
    not settled on their track, tracking, gallery decision).
(b) Check-in latency from a deputy's first frame to the `checkin` event, against a real
    `baodao serve` process on localhost, with 1 and with 4 kiosks streaming 5 frames/s each;
    every trial uses a fresh meeting with the deputy on its roster. The frames streamed are
    the clip's frames in which the deputy is recognisable (distance under the threshold in
    (a)), in order and looped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from checkin.faces import engine as fe
from checkin.faces.engine import FrameAnalysis, FrameJob, analyze_frame
from checkin.faces.model import info
from checkin.protocol import CheckIn, FaceState, FrameHeader, Person, encode_frame
from checkin.recognition.decision import Gallery, decide
from checkin.recognition.gallery import MeetingGallery
from checkin.recognition.pipeline import Confirmation, KioskIdentity, KioskPipeline, Outcome
from checkin.settings import Settings

VIDEO = Path("fixtures/video/short_hamilton_clip.mp4")
PHOTO = Path("fixtures/single/lin-manuel-miranda.png")
SECRET = "bench-secret-key-0123456789"
FPS = 5.0


def video_jpegs(path: Path, quality: int = 85) -> list[bytes]:
    """Every frame of a video as JPEG bytes (what a kiosk sends)."""
    cap = cv2.VideoCapture(str(path))
    out: list[bytes] = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        out.append(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes())
    cap.release()
    return out


def enrol_encoding(faces_dir: Path, settings: Settings) -> np.ndarray:
    image = fe.load_image(faces_dir / PHOTO, max_pixels=settings.max_image_pixels)
    face = fe.enroll_photo(
        image,
        model=settings.face_model,
        min_face_px=settings.min_face_px,
        jitters=settings.enroll_jitters,
    )
    assert face.encoding is not None
    return face.encoding


def naive_cost(jpegs: list[bytes], settings: Settings) -> float:
    """Seconds per frame of the naive pipeline (decode, detect with one upsample, encode)."""
    import face_recognition

    started = time.perf_counter()
    for jpeg in jpegs:
        image = fe.load_image(jpeg, max_pixels=settings.max_frame_pixels)
        boxes = face_recognition.face_locations(image, number_of_times_to_upsample=1)
        face_recognition.face_encodings(image, boxes)
    return (time.perf_counter() - started) / len(jpegs)


def frame_distances(
    jpegs: list[bytes], gallery: Gallery, settings: Settings
) -> tuple[float, list[float | None]]:
    """Every frame analysed whole, without tracking: seconds per frame, best distance per frame.

    This is the service's frame work with nothing skipped; the distances say in which frames
    the deputy is recognisable at all.
    """
    s = settings
    dists: list[float | None] = []
    started = time.perf_counter()
    for jpeg in jpegs:
        analysis = analyze_frame(
            FrameJob(jpeg, s.max_frame_pixels, s.kiosk_min_face_px, s.live_jitters, s.face_model)
        )
        found = [
            decide(gallery, face.encoding, threshold=s.match_threshold, margin=s.match_margin)
            for face in analysis.faces
            if face.encoding is not None
        ]
        best = [d.distance for d in found if d.distance is not None]
        dists.append(min(best) if best else None)
    return (time.perf_counter() - started) / len(jpegs), dists


def pipeline_cost(
    jpegs: list[bytes], encoding: np.ndarray, settings: Settings
) -> tuple[float, int]:
    """Seconds per frame of the kiosk pipeline itself (tracking, skipping settled faces,
    consensus), in this process; and the number of check-ins it confirmed."""
    person = Person(id=1, number="A01", name="林代表")
    gallery = Gallery.build([(1, encoding)], metric=info(settings.face_model).metric)
    meeting = MeetingGallery(1, gallery, gallery, frozenset(), {1: person}, ())
    sent: list[object] = []

    async def analyze(job: FrameJob) -> FrameAnalysis:
        return analyze_frame(job)

    async def current() -> MeetingGallery:
        return meeting

    async def record(c: Confirmation) -> Outcome:
        return Outcome(FaceState.CONFIRMED, len(sent) + 1, c.at)

    async def send(message: object) -> None:
        sent.append(message)

    pipeline = KioskPipeline(
        settings=settings, meeting_id=1, kiosk=KioskIdentity(1, "bench"),
        analyze=analyze, gallery=current, record=record, send=send,
    )  # fmt: skip
    t0 = datetime.now(UTC)

    async def run() -> float:
        started = time.perf_counter()
        for i, jpeg in enumerate(jpegs):
            header = FrameHeader(frame_id=i, captured_at=t0 + timedelta(seconds=i / 30.0))
            await pipeline.process(header, jpeg)
        return (time.perf_counter() - started) / len(jpegs)

    per_frame = asyncio.run(run())
    return per_frame, sum(isinstance(m, CheckIn) for m in sent)


def recognisable_run(dists: list[float | None], threshold: float) -> tuple[int, int]:
    """The longest run of frames whose best distance is under the threshold (start, end)."""
    best = (0, 0)
    start = None
    for i, d in enumerate([*dists, None]):
        ok = d is not None and d < threshold
        if ok and start is None:
            start = i
        if not ok and start is not None:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    return best


# --- (b) latency against a real server ---------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prepare(
    data: Path, encoding: np.ndarray, meetings: int, kiosks: int, model: str
) -> tuple[dict[str, str], list[int], list[str]]:
    """A fresh database with the deputy enrolled, `meetings` meetings and `kiosks` kiosks."""
    from checkin.accounts.scope import Scope
    from checkin.accounts.service import register_kiosk
    from models import Body, Deputy, FaceTemplate, Meeting, MeetingState, RosterEntry
    from models.crypto import TemplateCipher
    from models.db import make_engine, make_session_factory, session_scope, upgrade

    env = {k: v for k, v in os.environ.items() if not k.startswith("BAODAO_")}
    env |= {
        "BAODAO_DATA_DIR": str(data),
        "BAODAO_DATABASE_URL": f"sqlite:///{data / 'baodao.db'}",
        "BAODAO_SECRET_KEY": SECRET,
        "BAODAO_LOG_LEVEL": "WARNING",
        "BAODAO_FACE_MODEL": model,
        "BAODAO_LIVENESS": "off",  # recognition alone; still photos never blink (bench liveness)
    }
    engine = make_engine(env["BAODAO_DATABASE_URL"])
    upgrade(engine)
    now = datetime.now(UTC)
    with session_scope(make_session_factory(engine)) as s:
        deputy = Deputy(number="A01", name="林代表")
        body = Body(name="基准测试人大")
        s.add_all([deputy, body])
        s.flush()
        s.add(
            FaceTemplate(
                subject=deputy.face_subject, encoding=TemplateCipher(SECRET).encrypt(encoding),
                model_id=info(model).template_id, quality=1.0, photo_sha256="0" * 64,
            )
        )  # fmt: skip
        ids = []
        for i in range(meetings):
            m = Meeting(
                body_id=body.id, title=f"会议{i}", starts_at=now + timedelta(hours=1),
                window_opens_at=now - timedelta(hours=1),
                window_closes_at=now + timedelta(hours=5), state=MeetingState.OPEN,
            )  # fmt: skip
            s.add(m)
            s.flush()
            s.add(RosterEntry(meeting_id=m.id, deputy_id=deputy.id))
            ids.append(m.id)
        everything = Scope.everything()
        tokens = [
            register_kiosk(s, name=f"kiosk-{k}", body_id=body.id, scope=everything)[1]
            for k in range(kiosks)
        ]
    engine.dispose()
    return env, ids, tokens


async def _trial(url: str, token: str, meeting: int, frames: list[bytes]) -> tuple[float, int]:
    """Stream at FPS until the check-in arrives; (seconds from first frame, frames dropped)."""
    from websockets.asyncio.client import connect

    async with connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token, "meeting_id": meeting}))
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome", welcome
        started = time.perf_counter()
        dropped = 0

        async def sender() -> None:
            i = 0
            while True:
                header = FrameHeader(frame_id=i, captured_at=datetime.now(UTC))
                await ws.send(encode_frame(header, frames[i % len(frames)]))
                i += 1
                await asyncio.sleep(max(0.0, started + i / FPS - time.perf_counter()))

        task = asyncio.create_task(sender())
        try:
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if msg["type"] == "result":
                    dropped += msg["dropped"]
                elif msg["type"] == "checkin":
                    latency = time.perf_counter() - started
                    await ws.send(json.dumps({"type": "ack", "checkin_id": msg["checkin_id"]}))
                    return latency, dropped
        finally:
            task.cancel()


async def _kiosk_runs(
    url: str, token: str, meetings: list[int], frames: list[bytes]
) -> list[tuple[float, int]]:
    out = []
    for m in meetings:
        out.append(await _trial(url, token, m, frames))
    return out


def latency(
    frames: list[bytes], encoding: np.ndarray, *, trials: int, workers: int, model: str
) -> dict[str, Any]:
    """p50/p95 check-in latency with 1 and 4 concurrent kiosks against `baodao serve`."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "var"
        env, meetings, tokens = _prepare(data, encoding, trials * 5, 4, model)
        env["BAODAO_WORKERS"] = str(workers)
        port = _free_port()
        baodao = str(Path(sys.executable).parent / "baodao")
        log = (data / "serve.log").open("wb")
        proc = subprocess.Popen(
            [baodao, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            _wait_ready(port, proc)
            url = f"ws://127.0.0.1:{port}/ws/kiosk"
            results: dict[str, Any] = {}
            for kiosks in (1, 4):
                chunk = meetings[: trials * kiosks]
                meetings = meetings[trials * kiosks :]

                async def run_all(chunk: list[int] = chunk, kiosks: int = kiosks) -> list[Any]:
                    parts = await asyncio.gather(*(
                        _kiosk_runs(url, tokens[k], chunk[k::kiosks], frames)
                        for k in range(kiosks)
                    ))  # fmt: skip
                    return [r for part in parts for r in part]

                runs = asyncio.run(run_all())
                lat = sorted(r[0] for r in runs)
                results[f"kiosks_{kiosks}"] = {
                    "trials": len(lat),
                    "p50_s": round(statistics.median(lat), 3),
                    "p95_s": round(_percentile(lat, 95), 3),
                    "max_s": round(lat[-1], 3),
                    "frames_dropped": sum(r[1] for r in runs),
                }
            return results
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()


def _percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    rank = max(1, int(np.ceil(pct / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def _wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"baodao serve exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("baodao serve did not start")


def run_matcher_bench(
    faces_dir: Path, *, trials: int = 8, workers: int = 0, model: str | None = None
) -> dict[str, Any]:
    """Both measurements in one run; returns the numbers the CLI prints."""
    # Recognition alone: the liveness check is measured by its own bench (`liveness`).
    settings = Settings(_env_file=None, secret_key=SECRET, liveness="off")
    if model is not None:
        settings = settings.for_model(model)
    jpegs = video_jpegs(faces_dir / VIDEO)
    encoding = enrol_encoding(faces_dir, settings)
    gallery = Gallery.build([(1, encoding)], metric=info(settings.face_model).metric)
    fe.warm(settings.face_model)
    analyze_frame(FrameJob(jpegs[0], settings.max_frame_pixels, 60, 1, settings.face_model))
    naive = naive_cost(jpegs, settings)
    untracked, dists = frame_distances(jpegs, gallery, settings)
    service, confirmed = pipeline_cost(jpegs, encoding, settings)
    start, end = recognisable_run(dists, settings.match_threshold)
    workers = workers or os.cpu_count() or 1
    return {
        "model": settings.face_model,
        "kiosk_min_face_px": settings.kiosk_min_face_px,
        "frames": len(jpegs),
        "frame_size": "x".join(map(str, fe.load_image(jpegs[0], max_pixels=10**8).shape[1::-1])),
        "naive_ms_per_frame": round(naive * 1000, 1),
        "service_ms_per_frame": round(service * 1000, 1),
        "service_untracked_ms_per_frame": round(untracked * 1000, 1),
        "ratio": round(service / naive, 3),
        "ratio_untracked": round(untracked / naive, 3),
        "tracks_confirmed": confirmed,
        "recognisable_frames": [start, end],
        "workers": workers,
        "latency": latency(
            jpegs[start:end], encoding, trials=trials, workers=workers, model=settings.face_model
        ),
    }


def main(argv: list[str] | None = None) -> None:
    """CLI: print the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=Path("../shared/faces"))
    parser.add_argument("--trials", type=int, default=8, help="check-ins per kiosk and setting")
    parser.add_argument("--workers", type=int, default=0, help="server face workers (0: cores)")
    parser.add_argument("--model", choices=["sface", "dlib"], default=None)
    args = parser.parse_args(argv)
    r = run_matcher_bench(args.faces, trials=args.trials, workers=args.workers, model=args.model)
    out = sys.stdout.write
    out(f"frames: {r['frames']} of {VIDEO.name} ({r['frame_size']}), one core\n")
    out(
        f"(a) per-frame cost: naive face_recognition {r['naive_ms_per_frame']} ms, "
        f"service ({r['model']}) {r['service_ms_per_frame']} ms -> ratio {r['ratio']}x "
        "(goal <= 0.10x); "
        f"without track skipping {r['service_untracked_ms_per_frame']} ms "
        f"({r['ratio_untracked']}x)\n"
    )
    first, last = r["recognisable_frames"]
    out(
        f"(b) check-in latency, 5 frames/s per kiosk, {r['workers']} server workers, "
        f"frames {first}-{last} looped:\n"
    )
    for key, v in r["latency"].items():
        out(
            f"    {key.replace('_', ' ')}: p50 {v['p50_s']} s, p95 {v['p95_s']} s, "
            f"max {v['max_s']} s over {v['trials']} check-ins, "
            f"frames dropped {v['frames_dropped']}\n"
        )
    out(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
