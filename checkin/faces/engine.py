"""The face engine: the one interface of the face path, for enrollment photos and kiosk frames.

Pure: numpy arrays (or image bytes) in, small frozen dataclasses out; no web, no database, no
file reads except the `load_image(path)` convenience. Enrollment and check-in use the same
encoder. The modules behind it: `image` (loading), `detect` (HOG for photos and frames),
`quality` (the gate), `dlib_model` (landmarks, alignment, encoding), `dlib_net` (the network).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from checkin.faces import dlib_model
from checkin.faces.boxes import Box, iou
from checkin.faces.detect import detect, detect_frame
from checkin.faces.errors import REASONS, FaceEngineError, ImageTooLarge, UnreadableImage
from checkin.faces.image import check_image, load_image
from checkin.faces.quality import (
    MAX_BRIGHTNESS,
    MIN_BRIGHTNESS,
    MIN_FRONTAL,
    MIN_SHARPNESS,
    Quality,
    frontal_score,
    measure,
    verdict,
)

__all__ = [
    "MODEL_ID",
    "REASONS",
    "Box",
    "DetectedFace",
    "FaceAnalysis",
    "FaceEngineError",
    "FrameAnalysis",
    "FrameJob",
    "ImageTooLarge",
    "Quality",
    "UnreadableImage",
    "analyze",
    "analyze_frame",
    "assess",
    "detect",
    "distances",
    "encode",
    "enroll_photo",
    "load_image",
    "warm",
]

MODEL_ID = dlib_model.MODEL_ID
warm = dlib_model.warm


@dataclass(frozen=True)
class FaceAnalysis:
    """One detected face: its box, quality and encoding (None when quality is not ok)."""

    box: Box
    quality: Quality
    encoding: np.ndarray | None
    rotation: int = 0  # degrees counter-clockwise the image was turned before detection


def assess(
    image: np.ndarray,
    box: Box,
    *,
    min_face_px: int,
    min_sharpness: float = MIN_SHARPNESS,
    min_brightness: float = MIN_BRIGHTNESS,
    max_brightness: float = MAX_BRIGHTNESS,
    min_frontal: float = MIN_FRONTAL,
) -> tuple[Quality, Any]:
    """Quality gate for one face: size, exposure, blur (Laplacian variance), frontal pose.

    Returns the verdict and the face's landmarks, which `describe` takes, so an encoding does
    not find them again.
    """
    check_image(image)
    face_px, sharpness, brightness = measure(image, box)
    shape = dlib_model.landmarks(image, box)
    # dlib's 5 points: two corners of one eye (0, 1), of the other (2, 3), the nose base (4).
    pts = dlib_model.points(shape)
    frontal = frontal_score(pts[0:2].mean(axis=0), pts[2:4].mean(axis=0), pts[4])
    quality = verdict(
        face_px,
        sharpness,
        brightness,
        frontal if face_px > 0 else 0.0,
        min_face_px=min_face_px,
        min_sharpness=min_sharpness,
        min_brightness=min_brightness,
        max_brightness=max_brightness,
        min_frontal=min_frontal,
    )
    return quality, shape


def encode(image: np.ndarray, boxes: Sequence[Box], *, jitters: int = 1) -> list[np.ndarray]:
    """128-d float64 encodings of the faces in `boxes` (see `dlib_model.describe`)."""
    check_image(image)
    return [dlib_model.describe(image, dlib_model.landmarks(image, box), jitters) for box in boxes]


def distances(matrix: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """Euclidean distance from `probe` (128,) to every row of `matrix` (N, 128)."""
    if len(matrix) == 0:
        return np.empty((0,), dtype=np.float64)
    return np.asarray(np.linalg.norm(matrix - probe, axis=1), dtype=np.float64)


def _gate(
    image: np.ndarray,
    *,
    min_face_px: int,
    upsample: int | None,
    min_sharpness: float,
    min_frontal: float,
) -> list[tuple[Box, Quality, Any]]:
    """Detect, then assess every face (keeping its landmarks for the encoding)."""
    return [
        (
            box,
            *assess(
                image,
                box,
                min_face_px=min_face_px,
                min_sharpness=min_sharpness,
                min_frontal=min_frontal,
            ),
        )
        for box in detect(image, upsample=upsample)
    ]


def analyze(
    image: np.ndarray,
    *,
    min_face_px: int,
    jitters: int,
    upsample: int | None = None,
    min_sharpness: float = MIN_SHARPNESS,
    min_frontal: float = MIN_FRONTAL,
) -> list[FaceAnalysis]:
    """Detect every face, run the quality gate and encode the usable ones."""
    check_image(image)
    gated = _gate(
        image,
        min_face_px=min_face_px,
        upsample=upsample,
        min_sharpness=min_sharpness,
        min_frontal=min_frontal,
    )
    return [
        FaceAnalysis(box, q, dlib_model.describe(image, shape, jitters) if q.ok else None)
        for box, q, shape in gated
    ]


def enroll_photo(
    image: np.ndarray,
    *,
    min_face_px: int,
    jitters: int,
    try_rotations: bool = True,
    min_sharpness: float = MIN_SHARPNESS,
    min_frontal: float = MIN_FRONTAL,
) -> FaceAnalysis:
    """The one usable face of an enrollment photo, or FaceEngineError with the reason code.

    A second face counts only if it is at least half the size of the main one (a distant
    bystander does not spoil a portrait). When no face is found upright and `try_rotations`
    is set, the photo is also tried turned by 90, 270 and 180 degrees (scans, phone photos
    without EXIF orientation); `rotation` says which turn was used and `box` is in that
    turned image. Live frames (`analyze`) never try rotations: it would triple their cost.
    """
    check_image(image)

    def gate(img: np.ndarray) -> list[tuple[Box, Quality, Any]]:
        return _gate(
            img,
            min_face_px=min_face_px,
            upsample=None,
            min_sharpness=min_sharpness,
            min_frontal=min_frontal,
        )

    gated = gate(image)
    rotation = 0
    if not gated and try_rotations:
        for k in (1, 3, 2):
            turned = np.ascontiguousarray(np.rot90(image, k))
            gated = gate(turned)
            if gated:
                image, rotation = turned, 90 * k
                break
    if not gated:
        raise FaceEngineError("no_face")
    main = max(gated, key=lambda g: g[1].face_px)
    if any(g is not main and g[1].face_px * 2 >= main[1].face_px for g in gated):
        raise FaceEngineError("multiple_faces")
    box, quality, shape = main
    if not quality.ok:
        raise FaceEngineError(quality.reason or "no_face")
    return FaceAnalysis(box, quality, dlib_model.describe(image, shape, jitters), rotation)


# --- kiosk frames -------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameJob:
    """One kiosk frame for a worker, with the boxes of settled tracks that need no encoding."""

    jpeg: bytes
    max_pixels: int
    min_face_px: int
    jitters: int
    skip_boxes: tuple[Box, ...] = ()
    skip_iou: float = 0.3
    regions: tuple[Box, ...] = ()  # search only around these boxes (empty: whole frame)
    # Gate and encode only the largest face (closest to the camera); the others get reason
    # multiple_faces and no encoding, so one person at most checks in per frame.
    largest_only: bool = False


@dataclass(frozen=True)
class DetectedFace:
    box: Box
    reason: str | None  # a REASONS key when the face is not usable
    encoding: np.ndarray | None  # None: unusable, or skipped (settled track)
    skipped: bool = False


@dataclass(frozen=True)
class FrameAnalysis:
    faces: tuple[DetectedFace, ...]
    error: str | None = None  # unreadable_image / image_too_large
    seconds: float = 0.0  # CPU time spent on the frame


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
    faces: list[DetectedFace] = []
    boxes = detect_frame(image, min_face_px=job.min_face_px, regions=job.regions)
    largest = max(boxes, key=_area, default=None)
    for box in boxes:
        if job.largest_only and box is not largest:
            faces.append(DetectedFace(box, "multiple_faces", None))
            continue
        if any(iou(box, s) >= job.skip_iou for s in job.skip_boxes):
            faces.append(DetectedFace(box, None, None, skipped=True))
            continue
        quality, shape = assess(image, box, min_face_px=job.min_face_px)
        encoding = None
        if quality.ok:
            encoding = dlib_model.describe(image, shape, job.jitters)
        faces.append(DetectedFace(box, quality.reason, encoding))
    return FrameAnalysis(tuple(faces), None, time.process_time() - started)
