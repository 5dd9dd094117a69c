"""The cheap local face check and the frame quality score."""

from __future__ import annotations

import cv2
import numpy as np

from kiosk_client.presence import (
    HogDetector,
    Presence,
    check,
    downscale,
    encode_jpeg,
    largest_box,
    sharpness,
)


def test_sharpness_drops_with_blur():
    rng = np.random.default_rng(0)
    sharp = (rng.random((120, 120)) * 255).astype(np.uint8)
    blurred = cv2.GaussianBlur(sharp, (15, 15), 5)
    assert sharpness(sharp) > 10 * sharpness(blurred)
    assert sharpness(np.full((50, 50), 128, np.uint8)) == 0.0


def test_score_prefers_larger_and_sharper_faces():
    small = Presence(boxes=((0, 50, 50, 0),), sharpness=100.0)
    large = Presence(boxes=((0, 120, 120, 0),), sharpness=100.0)
    blurry = Presence(boxes=((0, 120, 120, 0),), sharpness=2.0)
    nothing = Presence(boxes=(), sharpness=500.0)
    assert large.score > small.score and large.score > blurry.score
    assert nothing.score == 0.0 and not nothing.has_face and large.largest_side == 120
    assert largest_box([(0, 10, 10, 0), (0, 40, 40, 0)]) == (0, 40, 40, 0)


def test_detector_on_real_photos(faces_dir):
    det = HogDetector()
    face = downscale(cv2.imread(str(faces_dir / "fixtures" / "single" / "obama.jpg")), 640)
    scenery = downscale(
        cv2.imread(str(faces_dir / "fixtures" / "no_face" / "landscape_view.jpg")), 640
    )
    seen = check(face, det)
    assert seen.has_face and seen.largest_side >= 40
    assert not check(scenery, det).has_face


def test_min_face_px_filters_small_faces(faces_dir):
    face = downscale(cv2.imread(str(faces_dir / "fixtures" / "single" / "obama.jpg")), 640)
    side = check(face, HogDetector()).largest_side
    assert not check(face, HogDetector(), min_face_px=side + 1).has_face


def test_downscale_and_jpeg():
    img = np.zeros((720, 1280, 3), np.uint8)
    assert downscale(img, 640).shape == (360, 640, 3)
    assert downscale(img, 2000).shape == img.shape  # never enlarges
    data = encode_jpeg(img)
    assert data[:2] == b"\xff\xd8"
