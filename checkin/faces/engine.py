"""The face engine: the one interface of the face path, for enrollment photos and kiosk frames.

Pure: numpy arrays (or image bytes) in, small frozen dataclasses out; no web, no database, no
file reads except the `load_image(path)` convenience and the model files. Enrollment and
check-in use the same model and encoder. Every function takes the model's name (`sface` or
`dlib`, `BAODAO_FACE_MODEL`); the rules here (one face per enrollment photo, the gate's
order of reasons, which faces get encoded) are the same for both, the models (`model`) supply
detection, landmarks, the gate's measurements, the embedding and its distance.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from checkin.faces import metric
from checkin.faces.boxes import Box, iou
from checkin.faces.errors import (
    REASONS,
    FaceEngineError,
    ImageTooLarge,
    ModelFileError,
    UnreadableImage,
)
from checkin.faces.image import check_image, load_image
from checkin.faces.landmarks import hog_like_box, predictor, shape68
from checkin.faces.model import (
    MODEL_NAMES,
    Face,
    FaceModel,
    Limits,
    ModelInfo,
    ModelName,
    info,
)
from checkin.faces.quality import Quality

__all__ = [
    "MODEL_NAMES",
    "REASONS",
    "Box",
    "DetectedFace",
    "Face",
    "FaceAnalysis",
    "FaceEngineError",
    "FrameAnalysis",
    "FrameJob",
    "ImageTooLarge",
    "ModelFileError",
    "ModelInfo",
    "ModelName",
    "Quality",
    "UnreadableImage",
    "analyze",
    "analyze_frame",
    "assess",
    "check_model",
    "detect",
    "distances",
    "enroll_photo",
    "face_model",
    "info",
    "load_image",
    "warm",
]


@cache
def face_model(name: str) -> FaceModel:
    """The model called `name`, loaded once per process; ValueError for an unknown name."""
    if info(name).name == "sface":
        from checkin.faces.sface_model import SFaceModel

        return SFaceModel()
    from checkin.faces.dlib_model import DlibModel

    return DlibModel()


def warm(name: str, *, shapes: bool = False) -> None:
    """Load the model's networks in this process now (worker start-up); with `shapes` also
    the 68-point predictor of the liveness check."""
    face_model(name).warm()
    if shapes:
        predictor()


def check_model(name: str) -> None:
    """Raise ModelFileError (naming the file) unless the model's files are present and intact.

    Cheap (hashes, no network built): commands call it before starting workers, so a broken
    installation is one clear line, not an error per photo.
    """
    if info(name).name == "sface":
        from checkin.faces import sface_net

        sface_net.check_files()


@dataclass(frozen=True)
class FaceAnalysis:
    """One detected face: its box, quality and encoding (None when quality is not ok)."""

    box: Box
    quality: Quality
    encoding: np.ndarray | None
    rotation: int = 0  # degrees counter-clockwise the image was turned before detection
    score: float = 1.0  # the detector's confidence (HOG: 1.0)


def _limits(
    m: FaceModel,
    *,
    min_sharpness: float | None = None,
    min_brightness: float | None = None,
    max_brightness: float | None = None,
    min_frontal: float | None = None,
) -> Limits:
    """The model's gate thresholds with the given ones replaced."""
    d = m.limits
    return Limits(
        d.min_sharpness if min_sharpness is None else min_sharpness,
        d.min_brightness if min_brightness is None else min_brightness,
        d.max_brightness if max_brightness is None else max_brightness,
        d.min_frontal if min_frontal is None else min_frontal,
    )


def detect(image: np.ndarray, *, model: str) -> list[Face]:
    """The faces of a photo, left to right (no rotation, no gate)."""
    check_image(image)
    return face_model(model).detect(image)


def assess(
    image: np.ndarray,
    face: Face,
    *,
    model: str,
    min_face_px: int,
    min_sharpness: float | None = None,
    min_brightness: float | None = None,
    max_brightness: float | None = None,
    min_frontal: float | None = None,
) -> tuple[Quality, Any]:
    """Quality gate for one face: size, exposure, blur (Laplacian variance), frontal pose.

    Thresholds left None are the model's. Returns the verdict and the face's landmarks, which
    the model's `describe` takes, so an encoding does not find them again.
    """
    m = face_model(model)
    limits = _limits(
        m,
        min_sharpness=min_sharpness,
        min_brightness=min_brightness,
        max_brightness=max_brightness,
        min_frontal=min_frontal,
    )
    return m.assess(image, face, min_face_px=min_face_px, limits=limits)


def distances(matrix: np.ndarray, probe: np.ndarray, *, model: str) -> np.ndarray:
    """The model's distance from `probe` (128,) to every row of `matrix` (N, 128)."""
    return metric.distances(matrix, probe, info(model).metric)


def analyze(
    image: np.ndarray,
    *,
    model: str,
    min_face_px: int,
    jitters: int,
    min_sharpness: float | None = None,
    min_frontal: float | None = None,
) -> list[FaceAnalysis]:
    """Detect every face of a photo, run the quality gate and encode the usable ones."""
    check_image(image)
    m = face_model(model)
    limits = _limits(m, min_sharpness=min_sharpness, min_frontal=min_frontal)
    out = []
    for face in m.detect(image):
        quality, marks = m.assess(image, face, min_face_px=min_face_px, limits=limits)
        encoding = m.describe(image, marks, jitters) if quality.ok else None
        out.append(FaceAnalysis(face.box, quality, encoding, score=face.score))
    return out


def enroll_photo(
    image: np.ndarray,
    *,
    model: str,
    min_face_px: int,
    jitters: int,
    try_rotations: bool = True,
    min_sharpness: float | None = None,
    min_frontal: float | None = None,
) -> FaceAnalysis:
    """The one usable face of an enrollment photo, or FaceEngineError with the reason code.

    The main face is the largest; another face makes the photo ambiguous (multiple_faces)
    only when the model says so (`crowded`: a distant bystander does not spoil a portrait).
    With `try_rotations` the model may turn the photo upright first (scans, phone photos
    without EXIF orientation); `rotation` says which turn was used and `box` is in that
    turned image. Live frames never try rotations: it would multiply their cost.
    """
    check_image(image)
    m = face_model(model)
    limits = _limits(m, min_sharpness=min_sharpness, min_frontal=min_frontal)
    image, rotation, faces = m.orient(image, try_rotations=try_rotations)
    if not faces:
        raise FaceEngineError("no_face")
    gated = [(f, *m.assess(image, f, min_face_px=min_face_px, limits=limits)) for f in faces]
    main, quality, marks = max(gated, key=lambda g: g[1].face_px)
    if any(m.crowded(main, quality.face_px, f, q.face_px) for f, q, _ in gated if f is not main):
        raise FaceEngineError("multiple_faces")
    if not quality.ok:
        raise FaceEngineError(quality.reason or "no_face")
    return FaceAnalysis(
        main.box, quality, m.describe(image, marks, jitters), rotation, score=main.score
    )


# --- kiosk frames -------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameJob:
    """One kiosk frame for a worker, with the boxes of settled tracks that need no encoding."""

    jpeg: bytes
    max_pixels: int
    min_face_px: int
    jitters: int
    model: str  # the face model's name (`sface` or `dlib`)
    skip_boxes: tuple[Box, ...] = ()
    skip_iou: float = 0.3
    regions: tuple[Box, ...] = ()  # search only around these boxes (empty: whole frame)
    # Gate and encode only the largest face (closest to the camera); the others get reason
    # multiple_faces and no encoding, so one person at most checks in per frame.
    largest_only: bool = False
    # Also give dlib's 68 landmarks of every face that may check in (the liveness check).
    shapes: bool = False


@dataclass(frozen=True)
class DetectedFace:
    box: Box
    reason: str | None  # a REASONS key when the face is not usable
    encoding: np.ndarray | None  # None: unusable, or skipped (settled track)
    skipped: bool = False
    score: float = 1.0  # the detector's confidence (HOG: 1.0)
    # The detector's 5 landmarks as ((x, y), …) when it gives them (YuNet: eyes, nose tip,
    # mouth corners), for checks on the face's movement across frames.
    landmarks: tuple[tuple[float, float], ...] | None = None
    # dlib's 68 landmarks (x, y) when the job asked for them (`FrameJob.shapes`).
    shape: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True)
class FrameAnalysis:
    faces: tuple[DetectedFace, ...]
    error: str | None = None  # unreadable_image / image_too_large
    seconds: float = 0.0  # CPU time spent on the frame


def _points(face: Face) -> tuple[tuple[float, float], ...] | None:
    if face.landmarks is None:
        return None
    return tuple((round(float(x), 2), round(float(y), 2)) for x, y in face.landmarks)


def _shape(image: np.ndarray, face: Face) -> tuple[tuple[float, float], ...]:
    """dlib's 68 points of a face: on its HOG box, or on a HOG-like box placed by YuNet's 5."""
    box = face.box if face.landmarks is None else hog_like_box(face.landmarks)
    return tuple((float(x), float(y)) for x, y in shape68(image, box))


def _area(box: Box) -> int:
    top, right, bottom, left = box
    return (bottom - top) * (right - left)


def analyze_frame(job: FrameJob) -> FrameAnalysis:
    """Decode, detect at the kiosk scale, gate and encode one frame (runs in a worker)."""
    started = time.process_time()
    try:
        image = load_image(job.jpeg, max_pixels=job.max_pixels)
    except UnreadableImage as exc:  # ImageTooLarge is a subclass
        return FrameAnalysis((), exc.code, time.process_time() - started)
    m = face_model(job.model)
    faces: list[DetectedFace] = []
    found = m.detect_frame(image, min_face_px=job.min_face_px, regions=job.regions)
    largest = max(found, key=lambda f: _area(f.box), default=None)
    for face in found:
        marks = _points(face)
        if job.largest_only and face is not largest:
            faces.append(DetectedFace(face.box, "multiple_faces", None, False, face.score, marks))
            continue
        points = _shape(image, face) if job.shapes else None
        if any(iou(face.box, s) >= job.skip_iou for s in job.skip_boxes):
            faces.append(DetectedFace(face.box, None, None, True, face.score, marks, points))
            continue
        quality, shape = m.assess(image, face, min_face_px=job.min_face_px, limits=m.limits)
        encoding = m.describe(image, shape, job.jitters) if quality.ok else None
        faces.append(
            DetectedFace(face.box, quality.reason, encoding, False, face.score, marks, points)
        )
    return FrameAnalysis(tuple(faces), None, time.process_time() - started)
