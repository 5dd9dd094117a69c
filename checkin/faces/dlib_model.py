"""The dlib model: face_recognition's HOG detector and 5-point landmarks, and the 128-d
encoding of dlib's ResNet (run in ONNX Runtime, `dlib_net`) on the aligned face and its mirror.

The models load lazily on first use, once per process, so importing this module is cheap.
"""

from __future__ import annotations

import math
import warnings
import zlib
from functools import cache
from typing import Any

import cv2
import dlib
import numpy as np

from checkin.faces.boxes import Box
from checkin.faces.dlib_net import CHIP_SIZE, face_net

MODEL_ID = "dlib_resnet_v1_mirror"


@cache
def models() -> Any:
    """The face_recognition module with its dlib models loaded (once per process)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition.api as fr
    return fr


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


def jitter(chip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A randomly jittered copy of a face chip, as dlib's `jitter_image` makes them.

    The crop is the chip shrunk by 3 px, shifted by up to ±2 % of its side, zoomed out by up
    to 3 % and turned by up to ±3°, resampled to the chip's size (zeros outside); then
    mirrored with probability ½.
    """
    side = chip.shape[0]
    inner = side - 6
    shift = rng.uniform(-0.02, 0.02, size=2) * inner
    box = int(inner / rng.uniform(0.97, 0.99999))
    angle = math.radians(rng.uniform(-3.0, 3.0))
    centre = (side - 1) / 2 + np.round(shift)
    # Output pixel p maps to source centre + R(angle) · (p - out_centre) · box / side.
    scale = box / side
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    out_c = (side - 1) / 2
    to_source = np.array(
        [
            [cos, -sin, centre[0] - cos * out_c + sin * out_c],
            [sin, cos, centre[1] - sin * out_c - cos * out_c],
        ]
    )
    crop = cv2.warpAffine(
        chip,
        to_source,
        (side, side),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    return np.ascontiguousarray(crop[:, ::-1]) if rng.random() > 0.5 else crop


def describe(image: np.ndarray, shape: Any, jitters: int) -> np.ndarray:
    """The encoding of one aligned face: the mean of the face chip's and its mirror's.

    Averaging the mirror image cancels part of the pose and lighting asymmetry; on the dev
    set it gained 3–4 points of true accepts at the same error rate (docs/accuracy.md), for
    one more network pass. With `jitters` > 1 each of the two is replaced by that many
    jittered copies (`jitter`) and all of them are averaged; every copy costs one pass
    (≈17 ms, `face_net`). The jitter is seeded by the chip's pixels, so the same photo gives
    the same template in any process.
    """
    chip = dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=0.25)
    views = [chip, np.ascontiguousarray(chip[:, ::-1])]
    if jitters > 1:
        rng = np.random.default_rng(zlib.crc32(chip.tobytes()))
        views = [jitter(v, rng) for v in views for _ in range(jitters)]
    mean: np.ndarray = face_net()(views).mean(axis=0)
    return mean
