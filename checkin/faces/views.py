"""The views of a face chip a model encodes: the chip and its mirror, or seeded jitters of both.

Averaging the mirror image's encoding cancels part of the pose and lighting asymmetry (dlib:
+3–4 points of true accepts on dev; SFace: +1.2, docs/accuracy.md), for one more network pass.
With `jitters` > 1 each of the two is replaced by that many randomly jittered copies; the
jitter is seeded by the chip's pixels, so the same photo gives the same template in any process.
"""

from __future__ import annotations

import math
import zlib

import cv2
import numpy as np


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


def views(chip: np.ndarray, jitters: int) -> list[np.ndarray]:
    """[chip, mirror], or `jitters` seeded jitters of each when `jitters` > 1."""
    out = [chip, np.ascontiguousarray(chip[:, ::-1])]
    if jitters > 1:
        rng = np.random.default_rng(zlib.crc32(chip.tobytes()))
        out = [jitter(v, rng) for v in out for _ in range(jitters)]
    return out
