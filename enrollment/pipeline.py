"""Enrollment stages over the face engine: one photo -> PhotoOutcome, several -> mix-up flags.

No database here. `process_photo` runs in worker processes (it is a top-level function of
picklable arguments); `run_jobs` fans jobs out to a process pool and yields outcomes.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from checkin.faces import engine as fe
from checkin.faces.engine import REASONS, Box, FaceEngineError, ModelFileError
from checkin.faces.metric import Metric, pairwise
from checkin.lifeline import process_pool
from checkin.recognition.decision import Candidate, Gallery, decide

logger = logging.getLogger(__name__)

MESSAGES: dict[str, str] = REASONS | {
    "photo_missing": "找不到该代表的照片：请按 编号.jpg、编号_2.jpg 或 编号/ 文件夹放置照片。",
    "file_not_found": "照片文件不存在。",
    "file_too_large": "照片文件过大，请压缩后再上传。",
    "processing_error": "处理照片时发生内部错误，请换一张照片重试。",
    "storage_error": "保存到数据库失败，该代表的数据均未保存，请重试。",
    "duplicate": "同一张照片已经录入过，未重复保存。",
    "probable_duplicate": "该照片与另一位已录入的代表极为相似，疑似同一人以两个编号录入；"
    "核对无误后由管理员确认（--confirm-duplicate 或 confirm_duplicate=true）才能录入。",
}


def message(code: str) -> str:
    """The Chinese explanation of a reason code."""
    return MESSAGES.get(code, code)


@dataclass(frozen=True)
class EngineParams:
    """Face engine limits a worker needs (taken from Settings by the caller)."""

    model: str
    min_face_px: int
    jitters: int
    max_image_pixels: int
    max_image_bytes: int


@dataclass(frozen=True)
class PhotoJob:
    """One photo to process: from a path (read in the worker) or from bytes (uploads)."""

    key: str  # the caller's grouping key, e.g. the deputy number
    label: str  # shown in reports: file path or upload name
    path: Path | None = None
    data: bytes | None = None


@dataclass(frozen=True)
class PhotoOutcome:
    """The engine's verdict on one photo; `encoding` is set exactly when `ok`."""

    key: str
    label: str
    sha256: str | None
    ok: bool
    reason: str | None = None
    encoding: np.ndarray | None = field(default=None, repr=False)
    quality: float = 0.0
    rotation: int = 0

    @property
    def message(self) -> str | None:
        return message(self.reason) if self.reason else None


def sha256_file(path: Path) -> str | None:
    """Hex digest of a file's bytes, or None if it cannot be read."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _read(job: PhotoJob, params: EngineParams) -> bytes:
    if job.data is not None:
        data = job.data
    else:
        assert job.path is not None
        try:
            if job.path.stat().st_size > params.max_image_bytes:
                raise FaceEngineError("file_too_large", message("file_too_large"))
            data = job.path.read_bytes()
        except FileNotFoundError as exc:
            raise FaceEngineError("file_not_found", message("file_not_found")) from exc
        except IsADirectoryError as exc:
            raise FaceEngineError("file_not_found", message("file_not_found")) from exc
        except OSError as exc:
            raise fe.UnreadableImage(f"无法读取文件：{exc.strerror}") from exc
    if len(data) > params.max_image_bytes:
        raise FaceEngineError("file_too_large", message("file_too_large"))
    return data


def process_photo(job: PhotoJob, params: EngineParams) -> PhotoOutcome:
    """Read, decode, find the one usable face and encode it; never raises for bad photos."""
    sha: str | None = None
    try:
        data = _read(job, params)
        sha = hashlib.sha256(data).hexdigest()
        image = fe.load_image(data, max_pixels=params.max_image_pixels)
        face = fe.enroll_photo(
            image, model=params.model, min_face_px=params.min_face_px, jitters=params.jitters
        )
    except FaceEngineError as exc:
        return PhotoOutcome(job.key, job.label, sha, False, exc.code)
    except ModelFileError:
        raise  # the installation is broken: no photo can succeed, stop the whole run
    except Exception:
        logger.exception("enrollment photo %s failed unexpectedly", job.label)
        return PhotoOutcome(job.key, job.label, sha, False, "processing_error")
    return PhotoOutcome(
        job.key,
        job.label,
        sha,
        True,
        encoding=np.asarray(face.encoding, dtype=np.float64),
        quality=face.quality.frontal,
        rotation=face.rotation,
    )


def default_workers() -> int:
    """One worker per core the process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def make_pool(workers: int, *, fork: bool = True) -> ProcessPoolExecutor:
    """A process pool whose workers die with this process; `fork=False` (spawn) for
    threaded parents such as the web server."""
    return process_pool(workers, fork=fork)


def run_jobs(
    jobs: Sequence[PhotoJob],
    params: EngineParams,
    *,
    workers: int,
    pool: ProcessPoolExecutor | None = None,
) -> Iterator[PhotoOutcome]:
    """Process jobs (in a pool when workers > 1) and yield outcomes as they complete."""
    if not jobs:
        return
    if pool is None and workers <= 1:
        for job in jobs:
            yield process_photo(job, params)
        return
    own = pool is None
    executor = pool or make_pool(min(workers, len(jobs)))
    try:
        futures: dict[Future[PhotoOutcome], PhotoJob] = {
            executor.submit(process_photo, job, params): job for job in jobs
        }
        for future in as_completed(futures):
            job = futures[future]
            try:
                yield future.result()
            except BrokenProcessPool:
                # A worker died (out of memory, a crash in native code): this photo and any
                # still queued are reported, never silently lost.
                logger.exception("face worker died while processing %s", job.label)
                yield PhotoOutcome(job.key, job.label, None, False, "processing_error")
    finally:
        if own:
            executor.shutdown(wait=True, cancel_futures=True)


def mixup_flags(encodings: Sequence[np.ndarray], *, threshold: float, metric: Metric) -> list[bool]:
    """Flag photos far from the same deputy's other photos (a possible mix-up).

    Args:
        encodings: all of one deputy's encodings of one face model (stored and new).
        threshold: the match threshold; a photo at or beyond it from most of the others
            would not even match its own deputy.
        metric: the face model's distance.

    Returns:
        One flag per encoding: set when the photo is far from more than half of the others.
        With two photos far apart both are flagged (either may be the wrong one); a single
        photo is never flagged.
    """
    n = len(encodings)
    if n < 2:
        return [False] * n
    matrix = np.vstack([np.asarray(e, dtype=np.float64) for e in encodings])
    dist = pairwise(matrix, matrix, metric)
    np.fill_diagonal(dist, 0.0)
    far = (dist >= threshold).sum(axis=1)  # the diagonal is 0, never far
    return [bool(far[i] * 2 > n - 1) for i in range(n)]


@dataclass(frozen=True)
class LookalikeCandidate:
    """Two different persons whose closest templates are `distance` apart."""

    a: int
    b: int
    distance: float


def lookalike_pairs(
    gallery: Gallery, *, below: float, block: int = 1024
) -> list[LookalikeCandidate]:
    """Pairs of different persons whose closest templates are nearer than `below`, nearest first.

    Distances (the gallery's metric) are computed in row blocks so 1,300 deputies × several
    templates stay small.
    """
    n = len(gallery)
    if n < 2:
        return []
    m = gallery.matrix
    labels = gallery.labels
    best: dict[tuple[int, int], float] = {}
    for start in range(0, n, block):
        stop = min(n, start + block)
        dist = pairwise(m[start:stop], m, gallery.metric)
        close = (dist < below) & (labels[start:stop, None] < labels[None, :])
        for i, j in zip(*np.nonzero(close), strict=True):
            key = (int(labels[start + i]), int(labels[j]))
            d = float(dist[i, j])
            if d < best.get(key, np.inf):
                best[key] = d
    pairs = [LookalikeCandidate(a, b, round(d, 4)) for (a, b), d in best.items()]
    return sorted(pairs, key=lambda p: (p.distance, p.a, p.b))


@dataclass(frozen=True)
class FaceIdentity:
    """One face of an identify request: its box, quality verdict and match decision."""

    box: Box
    candidates: tuple[Candidate, ...]
    person_id: int | None
    reason: str  # match / over_threshold / ambiguous / empty_gallery / a quality reason
    distance: float | None = None
    margin: float | None = None


def identify_faces(
    image: np.ndarray,
    gallery: Gallery,
    *,
    model: str,
    threshold: float,
    margin: float,
    min_face_px: int,
    jitters: int,
    lookalikes: frozenset[int] = frozenset(),
    lookalike_margin: float = 0.0,
) -> list[FaceIdentity]:
    """Every face in the image with its top-3 candidates and the live matcher's decision."""
    out: list[FaceIdentity] = []
    for face in fe.analyze(image, model=model, min_face_px=min_face_px, jitters=jitters):
        if face.encoding is None:
            out.append(FaceIdentity(face.box, (), None, face.quality.reason or "low_quality"))
            continue
        d = decide(
            gallery,
            face.encoding,
            threshold=threshold,
            margin=margin,
            lookalikes=lookalikes,
            lookalike_margin=lookalike_margin,
        )
        out.append(
            FaceIdentity(face.box, d.candidates, d.person_id, d.reason, d.distance, d.margin)
        )
    return out


def group_by_key(outcomes: Iterable[PhotoOutcome]) -> dict[str, list[PhotoOutcome]]:
    """Outcomes grouped by job key, in arrival order."""
    groups: dict[str, list[PhotoOutcome]] = {}
    for o in outcomes:
        groups.setdefault(o.key, []).append(o)
    return groups


ProgressFn = Callable[[PhotoOutcome], None]
