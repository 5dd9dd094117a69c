"""The dlib model's face detection, dlib's HOG: for photos (enrollment, identify) and kiosk frames.

Both run the same detector through `hog`, which scales the image first; they differ only in
how the scale is chosen:
- photos (`detect`): as large as the pixel budget allows, one upsample when it fits, so small
  faces in large photos are found;
- kiosk frames (`detect_frame`): so that the smallest face worth encoding becomes HOG's
  native window, within a smaller budget, because a frame must be done in milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from checkin.faces.boxes import Box, iou
from checkin.faces.fr import models
from checkin.faces.image import check_image

# Photos: HOG cost follows pixels × 4^upsample (≈130 ms per 1.6 M pixels on one core). HOG
# finds faces from ~80 px; one upsample finds them from ~40 px, below any sane min_face_px,
# so auto mode never upsamples twice. Images are downscaled to at most DETECT_MAX_PIXELS;
# one upsample is used while the upsampled area fits DETECT_BUDGET_PIXELS.
DETECT_MAX_PIXELS = 6_000_000
DETECT_BUDGET_PIXELS = 4_600_000

# Kiosk frames: HOG's window finds faces from about 80 px (measured: at 640x360 without
# upsampling a 73 px face is found, a 63 px one is not). The frame is scaled so a face of
# `min_face_px` becomes HOG_MIN_FACE_PX; smaller faces are too small to encode anyway.
HOG_MIN_FACE_PX = 80
# Cap on a frame's detection image: a 1080p camera with a small min_face_px would otherwise
# cost ~300 ms per frame; beyond this the smallest faces are traded for latency.
FRAME_BUDGET_PIXELS = 1_000_000


def hog(
    image: np.ndarray, *, scale: float, upsample: int, origin: tuple[int, int] = (0, 0)
) -> list[Box]:
    """HOG faces of `image` resized by `scale`, as boxes in `image` coordinates + `origin`.

    Boxes are sorted left to right; a scale within 2 % of 1 is not worth a resize.
    """
    height, width = image.shape[:2]
    if height < 8 or width < 8:
        return []
    small = image
    if abs(scale - 1.0) > 0.02:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        small = cv2.resize(image, size, interpolation=interp)
    scale_y, scale_x = small.shape[0] / height, small.shape[1] / width
    oy, ox = origin
    boxes: list[Box] = []
    for rect in models().face_detector(small, upsample):
        top = max(0, round(rect.top() / scale_y))
        right = min(width, round(rect.right() / scale_x))
        bottom = min(height, round(rect.bottom() / scale_y))
        left = max(0, round(rect.left() / scale_x))
        if bottom > top and right > left:
            boxes.append((top + oy, right + ox, bottom + oy, left + ox))
    boxes.sort(key=lambda b: (b[3], b[0]))
    return boxes


def detection_plan(height: int, width: int) -> tuple[float, int]:
    """Scale factor and upsample count for HOG detection on a photo of this size.

    Returns:
        (scale, upsample): detect on the image resized by `scale` (<= 1) with `upsample`
        pyramid doublings, keeping the work within DETECT_BUDGET_PIXELS.
    """
    area = height * width
    scale = min(1.0, math.sqrt(DETECT_MAX_PIXELS / area)) if area > 0 else 1.0
    scaled = area * scale * scale
    upsample = 0
    while upsample < 1 and scaled * 4 ** (upsample + 1) <= DETECT_BUDGET_PIXELS:
        upsample += 1
    return scale, upsample


def detect(image: np.ndarray, *, upsample: int | None = None) -> list[Box]:
    """The faces of a photo; boxes are in `image` coordinates, left to right."""
    check_image(image)
    scale, auto_upsample = detection_plan(*image.shape[:2])
    return hog(image, scale=scale, upsample=auto_upsample if upsample is None else upsample)


def detection_scale(height: int, width: int, *, min_face_px: int) -> float:
    """The resize factor for a kiosk frame: a `min_face_px` face becomes HOG_MIN_FACE_PX wide.

    Returns:
        The factor (may be > 1 for small frames), reduced so the detection image stays
        within FRAME_BUDGET_PIXELS.
    """
    scale = HOG_MIN_FACE_PX / float(min_face_px)
    area = height * width
    if area * scale * scale > FRAME_BUDGET_PIXELS:
        scale = math.sqrt(FRAME_BUDGET_PIXELS / area)
    return scale


def detect_frame(image: np.ndarray, *, min_face_px: int, regions: Sequence[Box] = ()) -> list[Box]:
    """The faces of a kiosk frame, searched in the whole frame or only around `regions`.

    A region (a tracked face's last box) is widened by the face's size on every side, so a
    face moving between frames stays inside it; detection there costs a fraction of the frame.
    """

    def scaled(crop: np.ndarray, origin: tuple[int, int]) -> list[Box]:
        h, w = crop.shape[:2]
        return hog(
            crop, scale=detection_scale(h, w, min_face_px=min_face_px), upsample=0, origin=origin
        )

    if not regions:
        return scaled(image, (0, 0))
    height, width = image.shape[:2]
    found: list[Box] = []
    for top, right, bottom, left in regions:
        pad_y, pad_x = bottom - top, right - left
        y0, y1 = max(0, top - pad_y), min(height, bottom + pad_y)
        x0, x1 = max(0, left - pad_x), min(width, right + pad_x)
        for box in scaled(np.ascontiguousarray(image[y0:y1, x0:x1]), (y0, x0)):
            if all(iou(box, other) < 0.5 for other in found):
                found.append(box)
    found.sort(key=lambda b: (b[3], b[0]))
    return found
