"""The dlib model: face_recognition's HOG detector and 5-point landmarks, and the 128-d
encoding of dlib's ResNet (run in ONNX Runtime, `dlib_net`) on the aligned face and its mirror.

The models load lazily on first use, once per process, so importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dlib
import numpy as np

from checkin.faces import detect as hog
from checkin.faces.boxes import Box
from checkin.faces.dlib_net import CHIP_SIZE, face_net
from checkin.faces.fr import models
from checkin.faces.image import check_image
from checkin.faces.model import INFO, Face, Limits
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
from checkin.faces.views import views

MODEL_ID = INFO["dlib"].template_id

__all__ = ["MODEL_ID", "DlibModel", "describe", "landmarks", "models", "points", "warm"]


def warm() -> None:
    """Load every model of this process now (worker start-up), not on the first face."""
    models()
    face_net()


def landmarks(image: np.ndarray, box: Box) -> Any:
    """dlib's 5-point shape of the face in `box` (eye corners and the base of the nose)."""
    fr = models()
    top, right, bottom, left = box
    return fr.pose_predictor_5_point(image, fr.dlib.rectangle(left, top, right, bottom))


def points(shape: Any) -> np.ndarray:
    """A dlib shape as a (N, 2) float array of (x, y)."""
    return np.array(
        [(shape.part(i).x, shape.part(i).y) for i in range(shape.num_parts)], dtype=np.float64
    )


def describe(image: np.ndarray, shape: Any, jitters: int) -> np.ndarray:
    """The encoding of one aligned face: the mean over its views (`views.views`).

    Every view costs one network pass (≈17 ms, `face_net`).
    """
    chip = dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=0.25)
    mean: np.ndarray = face_net()(views(chip, jitters)).mean(axis=0)
    return mean


class DlibModel:
    """HOG boxes, dlib's 5 points, dlib's ResNet in ONNX Runtime, Euclidean distance."""

    info = INFO["dlib"]
    limits = Limits(MIN_SHARPNESS, MIN_BRIGHTNESS, MAX_BRIGHTNESS, MIN_FRONTAL)

    def warm(self) -> None:
        warm()

    def detect(self, image: np.ndarray) -> list[Face]:
        return [Face(box) for box in hog.detect(image)]

    def detect_frame(
        self, image: np.ndarray, *, min_face_px: int, regions: Sequence[Box]
    ) -> list[Face]:
        return [
            Face(box) for box in hog.detect_frame(image, min_face_px=min_face_px, regions=regions)
        ]

    def orient(
        self, image: np.ndarray, *, try_rotations: bool
    ) -> tuple[np.ndarray, int, list[Face]]:
        """Upright first; only when HOG finds nothing, turned by 90, 270 and 180 degrees."""
        faces = self.detect(image)
        if faces or not try_rotations:
            return image, 0, faces
        for k in (1, 3, 2):
            turned = np.ascontiguousarray(np.rot90(image, k))
            faces = self.detect(turned)
            if faces:
                return turned, 90 * k, faces
        return image, 0, []

    def assess(
        self, image: np.ndarray, face: Face, *, min_face_px: int, limits: Limits
    ) -> tuple[Quality, Any]:
        check_image(image)
        face_px, sharpness, brightness = measure(image, face.box)
        shape = landmarks(image, face.box)
        # dlib's 5 points: two corners of one eye (0, 1), of the other (2, 3), the nose base (4).
        pts = points(shape)
        frontal = frontal_score(pts[0:2].mean(axis=0), pts[2:4].mean(axis=0), pts[4])
        quality = verdict(
            face_px,
            sharpness,
            brightness,
            frontal if face_px > 0 else 0.0,
            min_face_px=min_face_px,
            min_sharpness=limits.min_sharpness,
            min_brightness=limits.min_brightness,
            max_brightness=limits.max_brightness,
            min_frontal=limits.min_frontal,
        )
        return quality, shape

    def crowded(self, main: Face, main_px: int, other: Face, other_px: int) -> bool:
        """Any other face at least half the main face's size (a far bystander does not count)."""
        return other_px * 2 >= main_px

    def describe(self, image: np.ndarray, landmarks: Any, jitters: int) -> np.ndarray:
        return describe(image, landmarks, jitters)
