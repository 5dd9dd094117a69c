"""dlib's 68 facial landmarks of a detected face, for the liveness check (eyelids, head turn).

The predictor is `shape_predictor_68_face_landmarks.dat` from `face_recognition_models`
(≈2 ms per face given a box), loaded once per process. Its training data (iBUG 300-W) is
licensed for research only: commercial use is excluded (see the README, *Liveness*).

The predictor was trained on boxes of dlib's HOG detector. The dlib model gives those boxes;
for YuNet (the sface model) a box of the same proportions is placed by its 5 landmarks
(`hog_like_box`), so both models see the points at the same quality.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from checkin.faces.boxes import Box

__all__ = ["hog_like_box", "predictor", "shape68"]


@cache
def predictor() -> Any:
    """The 68-point shape predictor, loaded once per process."""
    import dlib
    import face_recognition_models

    return dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())


def hog_like_box(five: np.ndarray) -> Box:
    """A dlib-HOG-shaped box (top, right, bottom, left) placed by YuNet's 5 points.

    HOG's box of a frontal face is a square about 2.4 eye-distances wide, centred a little
    above the midpoint of the eyes and the mouth (medians over 27 dev photos where both
    detectors found one face); on a turned head the eye distance shrinks, so the box is
    also at least 2.4 eyes-to-mouth distances wide.
    """
    pts = np.asarray(five, dtype=np.float64)
    eyes = (pts[0] + pts[1]) / 2.0
    mouth = (pts[3] + pts[4]) / 2.0
    eye_span = float(np.linalg.norm(pts[1] - pts[0]))
    drop = float(np.linalg.norm(mouth - eyes))
    size = max(2.4 * eye_span, 2.4 * drop, 8.0)
    cx, cy = (eyes + mouth) / 2.0
    cy -= 0.03 * size
    half = size / 2.0
    return (round(cy - half), round(cx + half), round(cy + half), round(cx - half))


def shape68(image: np.ndarray, box: Box) -> np.ndarray:
    """The 68 landmarks (x, y) of the face in `box` (a HOG-like box) as a (68, 2) array."""
    import dlib

    top, right, bottom, left = box
    shape = predictor()(image, dlib.rectangle(int(left), int(top), int(right), int(bottom)))
    return np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], dtype=np.float64)
