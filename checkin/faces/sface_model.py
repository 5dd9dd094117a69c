"""The SFace model (the default): YuNet boxes and 5 landmarks, the ArcFace-template chip,
SFace's 128-d embedding of the chip and its mirror, cosine distance.

The gate keeps the dlib model's reason codes and order (`quality.verdict`); what changes is
measured on YuNet's boxes and landmarks (docs/accuracy.md, "SFace"):
- a face counts when YuNet scores it at least 0.7 (no dev photo scores below 0.89; below 0.7
  sit false boxes such as a 466 px one in fixtures/single/biden2);
- pose: YuNet gives the nose *tip*, which leaves the eye span on ordinary ¾ views where dlib's
  nose base does not, so the eye score is not clipped at 0 and must be at least -0.3, and the
  nose tip must sit inside the box's middle (`nose_in_box` ≥ 0.05): profiles score below 0;
- multiple faces: YuNet also finds the bystanders at the edge of a photo that HOG missed (46
  dev photos have one at least half the size), so only a second face detected with score
  ≥ 0.9 and at least 0.8× the main face's size makes a photo ambiguous;
- rotations: YuNet finds turned faces too, with upright-looking wrong landmarks, so every
  enrollment photo is tried in all four orientations and the one whose best face scores
  highest wins (a turned one only with a score of at least 0.8) — unless the upright photo
  already has a face scoring at least 0.92: of the 432 dev photos turned by 90°, 180° and
  270° (1,296 images), none scores above 0.906 the wrong way up, and 84 % of the upright
  photos score 0.92 or more, so most photos cost one detection instead of four.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from checkin.faces import sface_net
from checkin.faces.boxes import Box
from checkin.faces.image import check_image
from checkin.faces.metric import prepare
from checkin.faces.model import INFO, Face, Limits
from checkin.faces.quality import MAX_BRIGHTNESS, MIN_BRIGHTNESS, Quality, measure, verdict
from checkin.faces.views import views

MODEL_ID = INFO["sface"].template_id
MIN_SCORE = 0.7
MIN_SHARPNESS = 20.0  # the dlib model's value, measured on YuNet's box: still 0 dev photos lost
MIN_FRONTAL = -0.3
MIN_NOSE_IN_BOX = 0.05
CROWD_RATIO = 0.8
CROWD_SCORE = 0.9
TURNED_MIN_SCORE = 0.8
UPRIGHT_SURE_SCORE = 0.92  # no turned dev photo reaches it the wrong way up
# YuNet's cost follows the pixels (≈20 ms per megapixel on one core) and it finds faces from
# about 10 px, so photos are detected at most at 2 MP and frames at 1 MP, never upscaled.
PHOTO_MAX_PIXELS = 2_000_000
FRAME_MAX_PIXELS = 1_000_000


def nose_in_box(face: Face) -> float:
    """1 when the nose tip is midway across the box, 0 at its edge, below 0 outside it."""
    top, right, bottom, left = face.box
    if face.landmarks is None or right <= left:
        return -1.0
    x = (float(face.landmarks[2, 0]) - left) / (right - left)
    return 1.0 - 2.0 * abs(x - 0.5)


def eye_frontal(landmarks: np.ndarray) -> float:
    """1 - 2|t - 0.5|, t the nose tip's position along the eye line; not clipped at 0."""
    eye_a, eye_b, nose = landmarks[0], landmarks[1], landmarks[2]
    axis = (eye_b - eye_a).astype(np.float64)
    length2 = float(axis @ axis)
    if length2 < 1.0:
        return -1.0
    t = float((nose - eye_a) @ axis) / length2
    return float(np.clip(1.0 - 2.0 * abs(t - 0.5), -1.0, 1.0))


def _faces(detections: Sequence[sface_net.Detection], height: int, width: int) -> list[Face]:
    """Detections as faces with boxes clipped to the image, left to right."""
    faces = [
        Face(
            (
                max(0, round(d.y)),
                min(width, round(d.x + d.w)),
                min(height, round(d.y + d.h)),
                max(0, round(d.x)),
            ),
            d.score,
            d.landmarks,
        )
        for d in detections
    ]
    faces = [f for f in faces if f.box[2] > f.box[0] and f.box[1] > f.box[3]]
    faces.sort(key=lambda f: (f.box[3], f.box[0]))
    return faces


def _scale(height: int, width: int, max_pixels: int) -> float:
    return min(1.0, math.sqrt(max_pixels / (height * width))) if height * width else 1.0


class SFaceModel:
    """YuNet + SFace in ONNX Runtime (`sface_net`), cosine distance."""

    info = INFO["sface"]
    limits = Limits(MIN_SHARPNESS, MIN_BRIGHTNESS, MAX_BRIGHTNESS, MIN_FRONTAL)

    def warm(self) -> None:
        sface_net.yunet()
        sface_net.sface()

    def detect(self, image: np.ndarray) -> list[Face]:
        check_image(image)
        h, w = image.shape[:2]
        if h < 8 or w < 8:
            return []
        found = sface_net.yunet().detect(
            image, score_threshold=MIN_SCORE, scale=_scale(h, w, PHOTO_MAX_PIXELS)
        )
        return _faces(found, h, w)

    def detect_frame(
        self, image: np.ndarray, *, min_face_px: int, regions: Sequence[Box]
    ) -> list[Face]:
        """The whole frame every time (≈3 ms at 640×360, so tracked regions are not needed);
        faces under half the minimum size are not reported at all."""
        check_image(image)
        h, w = image.shape[:2]
        if h < 8 or w < 8:
            return []
        found = sface_net.yunet().detect(
            image, score_threshold=MIN_SCORE, scale=_scale(h, w, FRAME_MAX_PIXELS)
        )
        return [
            f
            for f in _faces(found, h, w)
            if 2 * min(f.box[2] - f.box[0], f.box[1] - f.box[3]) >= min_face_px
        ]

    def orient(
        self, image: np.ndarray, *, try_rotations: bool
    ) -> tuple[np.ndarray, int, list[Face]]:
        """The orientation whose best face scores highest (upright unless a turn beats it)."""
        best = (image, 0, self.detect(image))
        if not try_rotations:
            return best
        top = max((f.score for f in best[2]), default=0.0)
        if top >= UPRIGHT_SURE_SCORE:
            return best
        for k in (1, 3, 2):
            turned = np.ascontiguousarray(np.rot90(image, k))
            faces = self.detect(turned)
            score = max((f.score for f in faces), default=0.0)
            if score >= TURNED_MIN_SCORE and score > top:
                best, top = (turned, 90 * k, faces), score
        return best

    def assess(
        self, image: np.ndarray, face: Face, *, min_face_px: int, limits: Limits
    ) -> tuple[Quality, Any]:
        check_image(image)
        if face.landmarks is None:
            raise ValueError("an SFace face needs YuNet's landmarks")
        face_px, sharpness, brightness = measure(image, face.box)
        # A profile (nose tip outside the box's middle) fails the pose check whatever the eyes say.
        frontal = eye_frontal(face.landmarks) if nose_in_box(face) >= MIN_NOSE_IN_BOX else -1.0
        quality = verdict(
            face_px,
            sharpness,
            brightness,
            frontal,
            min_face_px=min_face_px,
            min_sharpness=limits.min_sharpness,
            min_brightness=limits.min_brightness,
            max_brightness=limits.max_brightness,
            min_frontal=limits.min_frontal,
        )
        return quality, face.landmarks

    def crowded(self, main: Face, main_px: int, other: Face, other_px: int) -> bool:
        return other.score >= CROWD_SCORE and other_px >= CROWD_RATIO * main_px

    def describe(self, image: np.ndarray, landmarks: Any, jitters: int) -> np.ndarray:
        """The unit mean of the unit embeddings of the aligned chip's views (`views.views`)."""
        chip = sface_net.align(image, np.asarray(landmarks))
        units = prepare(sface_net.sface().features(views(chip, jitters)), "cosine")
        mean: np.ndarray = prepare(units.mean(axis=0), "cosine")
        return mean
