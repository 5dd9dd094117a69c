"""I/O edge of the benchmarks: identity folders of photos -> encodings (each photo once)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from checkin.errors import InvalidInput
from checkin.faces import engine as fe

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})


@dataclass(frozen=True)
class EngineParams:
    """The engine settings a benchmark run encodes with."""

    model: str
    min_face_px: int
    enroll_jitters: int
    live_jitters: int
    max_pixels: int
    # Probes shrunk so their face is this many pixels wide (a deputy farther from the kiosk),
    # and encoded without the size gate; None: as they are.
    probe_face_px: int | None = None


@dataclass(frozen=True)
class PhotoResult:
    """One photo's encoding, or the reason code why it has none."""

    encoding: np.ndarray | None
    reason: str | None


def list_identities(faces: Path) -> dict[str, list[Path]]:
    """{identity folder name: image files sorted by name}; folders without images are skipped."""
    if not faces.is_dir():
        raise InvalidInput(f"找不到人脸照片目录：{faces}", code="faces_dir_missing")
    out: dict[str, list[Path]] = {}
    for sub in sorted(p for p in faces.iterdir() if p.is_dir()):
        files = sorted(
            (p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
            key=lambda p: p.name,
        )
        if files:
            out[sub.name] = files
    if not out:
        raise InvalidInput(f"目录 {faces} 下没有含照片的身份子目录", code="faces_dir_empty")
    return out


def _largest(faces: Sequence[fe.FaceAnalysis]) -> fe.FaceAnalysis:
    return max(faces, key=lambda f: f.quality.face_px)


def shrink_to_face(image: np.ndarray, face_px: int, *, model: str) -> np.ndarray | None:
    """The photo scaled so its largest face is `face_px` wide (None: no face found)."""
    faces = fe.detect(image, model=model)
    if not faces:
        return None
    side = max(min(f.box[2] - f.box[0], f.box[1] - f.box[3]) for f in faces)
    scale = face_px / side
    h, w = image.shape[:2]
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=interp))


def encode_ours(path: Path, role: str, params: EngineParams) -> PhotoResult:
    """Encode like the live service: enrollment rules for gallery photos, kiosk rules for probes.

    A probe photo with several faces uses its largest usable face (the person in front).
    """
    model = params.model
    min_face_px = params.min_face_px
    try:
        image = fe.load_image(path, max_pixels=params.max_pixels)
        if role == "gallery":
            face = fe.enroll_photo(
                image, model=model, min_face_px=min_face_px, jitters=params.enroll_jitters
            )
            return PhotoResult(face.encoding, None)
        if params.probe_face_px is not None:
            shrunk = shrink_to_face(image, params.probe_face_px, model=model)
            if shrunk is None:
                return PhotoResult(None, "no_face")
            image, min_face_px = shrunk, 1
        faces = fe.analyze(image, model=model, min_face_px=min_face_px, jitters=params.live_jitters)
    except fe.FaceEngineError as exc:
        return PhotoResult(None, exc.code)
    usable = [f for f in faces if f.encoding is not None]
    if usable:
        return PhotoResult(_largest(usable).encoding, None)
    if not faces:
        return PhotoResult(None, "no_face")
    return PhotoResult(None, _largest(faces).quality.reason)


def encode_plain(path: Path, role: str, params: EngineParams) -> PhotoResult:
    """Plain face_recognition defaults: HOG with one upsample, one jitter, largest face."""
    from checkin.faces import dlib_model  # face_recognition: ≈1 s to import, bench runs only

    fr = dlib_model.models()
    try:
        image = fr.load_image_file(str(path))
    except Exception:  # the baseline has no error model of its own
        logger.exception("plain face_recognition could not read %s", path)
        return PhotoResult(None, "unreadable_image")
    boxes = fr.face_locations(image)
    if not boxes:
        return PhotoResult(None, "no_face")
    box = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
    return PhotoResult(fr.face_encodings(image, [box])[0], None)


def _job(args: tuple[str, Path, str, EngineParams]) -> PhotoResult:
    mode, path, role, params = args
    return encode_plain(path, role, params) if mode == "plain" else encode_ours(path, role, params)


def encode_folder(
    identities: Mapping[str, Sequence[Path]],
    roles: Mapping[str, Sequence[str]],
    params: EngineParams,
    *,
    mode: str = "ours",
    workers: int = 2,
) -> dict[str, list[PhotoResult]]:
    """Encode every photo once, in up to `workers` processes, keeping identity/file order.

    `mode` "ours" encodes with `params.model` through the service's engine, "plain" with
    plain face_recognition.
    """
    jobs = [
        (mode, path, role, params)
        for name in sorted(identities)
        for path, role in zip(identities[name], roles[name], strict=True)
    ]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_job, jobs, chunksize=4))
    else:
        results = [_job(j) for j in jobs]
    out: dict[str, list[PhotoResult]] = {}
    it = iter(results)
    for name in sorted(identities):
        out[name] = [next(it) for _ in identities[name]]
    return out
