"""The detection scale policy for kiosk frames (pure arithmetic)."""

from __future__ import annotations

from checkin.faces.detect import FRAME_BUDGET_PIXELS, HOG_MIN_FACE_PX, detection_scale


def test_detection_scale_makes_the_smallest_wanted_face_detectable() -> None:
    assert detection_scale(360, 640, min_face_px=60) == HOG_MIN_FACE_PX / 60  # upscaled
    assert detection_scale(360, 640, min_face_px=160) == 0.5  # big faces: halve the frame
    s = detection_scale(1080, 1920, min_face_px=60)  # capped by the pixel budget
    assert abs(1080 * 1920 * s * s - FRAME_BUDGET_PIXELS) < 10
