"""The face engine: image loading, HOG detection, quality gate, 128-d encoding, distances.

Pure: numpy arrays in, small frozen dataclasses out. No web, no database, no file reads
except the `load_image(path)` convenience. Enrollment and check-in use the same encoder.
The dlib models load lazily on first use, so importing this module is cheap.
"""

from __future__ import annotations

import io
import math
import pathlib
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import cv2
import dlib
import numpy as np
from PIL import Image, ImageFile, ImageOps

from checkin.errors import BaodaoError
from checkin.faces.dlib_net import CHIP_SIZE, face_net

Box = tuple[int, int, int, int]  # top, right, bottom, left (face_recognition order)
MODEL_ID = "dlib_resnet_v1_mirror"

REASONS: dict[str, str] = {
    "no_face": "照片中没有检测到人脸，请正对镜头、露出完整面部后重拍。",
    "multiple_faces": "照片中有多张人脸，请使用只有本人一人的照片。",
    "face_too_small": "人脸太小，请靠近镜头或使用人脸更大、更清晰的照片。",
    "too_blurry": "照片模糊，请保持不动、对准焦距后重拍。",
    "too_dark": "照片太暗，请在光线充足的地方重拍。",
    "too_bright": "照片过亮（曝光过度），请避开强光后重拍。",
    "not_frontal": "人脸没有正对镜头，请正面直视镜头后重拍。",
    "unreadable_image": "无法读取该图片，请上传 JPEG、PNG、WebP 或 BMP 格式的照片。",
    "image_too_large": "图片尺寸过大，请缩小后再上传。",
}

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "MPO"})

# Quality-gate defaults, measured on ../shared/faces: of the 432 dev photos only the visibly
# blurred Laura_Bush/8 (12.8) and the half-profile Recep_Tayyip_Erdogan/3 (0.13) fail;
# fixtures/hard/blurred_face (15.0) and fixtures/profile/left_face (0.0) fail; the next dev
# photos are at 25 (sharpness) and 0.22 (frontal).
MIN_SHARPNESS = 20.0
MIN_BRIGHTNESS = 40.0
MAX_BRIGHTNESS = 215.0
MIN_FRONTAL = 0.2

# Detection policy: HOG cost follows pixels × 4^upsample (≈130 ms per 1.6 M pixels on one
# core). HOG finds faces from ~80 px; one upsample finds them from ~40 px, below any sane
# min_face_px, so auto mode never upsamples twice. Images are downscaled to at most
# DETECT_MAX_PIXELS; one upsample is used while the upsampled area fits DETECT_BUDGET_PIXELS.
DETECT_MAX_PIXELS = 6_000_000
DETECT_BUDGET_PIXELS = 4_600_000
_SHARPNESS_SIDE = 128


class FaceEngineError(BaodaoError):
    """A photo or frame the engine cannot use; `.code` is a key of REASONS."""

    status_code = 422
    code = "face_engine_error"

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or REASONS.get(code, code), code=code)


class UnreadableImage(FaceEngineError):
    """Corrupt, empty, truncated or unsupported image data."""

    code = "unreadable_image"

    def __init__(self, message: str | None = None, *, code: str = "unreadable_image") -> None:
        super().__init__(code, message)


class ImageTooLarge(UnreadableImage):
    """The header claims more pixels than allowed (decompression bomb guard)."""

    code = "image_too_large"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, code="image_too_large")


@dataclass(frozen=True)
class Quality:
    """Quality-gate verdict for one face; `reason` is a REASONS key when not ok."""

    ok: bool
    reason: str | None
    face_px: int
    sharpness: float
    brightness: float
    frontal: float


@dataclass(frozen=True)
class FaceAnalysis:
    """One detected face: its box, quality and encoding (None when quality is not ok)."""

    box: Box
    quality: Quality
    encoding: np.ndarray | None
    rotation: int = 0  # degrees counter-clockwise the image was turned before detection


@cache
def _models() -> Any:
    """The face_recognition module with its dlib models loaded (once per process)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition.api as fr
    return fr


def load_image(source: bytes | pathlib.Path, *, max_pixels: int) -> np.ndarray:
    """Decode JPEG/PNG/WebP/BMP bytes or a file into RGB uint8 (H, W, 3), EXIF-upright."""
    if isinstance(source, pathlib.Path):
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise UnreadableImage(f"无法读取文件 {source.name}: {exc.strerror}") from exc
    else:
        data = bytes(source)
    if not data:
        raise UnreadableImage("图片为空（0 字节）。")
    with warnings.catch_warnings():
        # We enforce our own pixel limit from the header; Pillow's own check is a backstop.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img: Image.Image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge() from exc
        except Exception as exc:
            raise UnreadableImage() from exc
        if img.format not in ALLOWED_FORMATS:
            raise UnreadableImage()
        width, height = img.size
        if width <= 0 or height <= 0:
            raise UnreadableImage()
        if width * height > max_pixels:
            raise ImageTooLarge(
                f"图片为 {width}×{height} 像素，超过上限 {max_pixels:,} 像素，请缩小后再上传。"
            )
        # face_recognition switches Pillow's LOAD_TRUNCATED_IMAGES on when it is imported,
        # which would turn a cut-off upload into a half-grey picture; we refuse those.
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            img.load()
            img = ImageOps.exif_transpose(img) or img
            return _to_rgb(img)
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge() from exc
        except Exception as exc:  # truncated data, bad chunks, broken EXIF
            raise UnreadableImage() from exc


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Any Pillow mode -> RGB uint8; alpha is composited over white, 16-bit scaled down."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        gray = np.clip(arr / 257.0, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if mode == "F":
        gray = np.clip(np.asarray(img, dtype=np.float64), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if mode == "P" or mode == "PA":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    rgb = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _check_image(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise UnreadableImage("内部错误：图像必须是 RGB uint8 数组。")


def detection_plan(height: int, width: int) -> tuple[float, int]:
    """Scale factor and upsample count for HOG detection on an image of this size.

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
    """Find faces with dlib's HOG detector; boxes are in `image` coordinates, left to right."""
    _check_image(image)
    height, width = image.shape[:2]
    scale, auto_upsample = detection_plan(height, width)
    if upsample is None:
        upsample = auto_upsample
    small = image
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    rects = _models().face_detector(small, upsample)
    boxes: list[Box] = []
    for rect in rects:
        top = max(0, round(rect.top() / scale))
        right = min(width, round(rect.right() / scale))
        bottom = min(height, round(rect.bottom() / scale))
        left = max(0, round(rect.left() / scale))
        if bottom > top and right > left:
            boxes.append((top, right, bottom, left))
    boxes.sort(key=lambda b: (b[3], b[0]))
    return boxes


def _shape(image: np.ndarray, box: Box) -> Any:
    fr = _models()
    top, right, bottom, left = box
    return fr.pose_predictor_5_point(image, fr.dlib.rectangle(left, top, right, bottom))


def _frontal_score(shape: Any) -> float:
    """1.0 when the nose sits midway between the eyes, falling to 0 when it is at one eye.

    The 5-point model gives two corners per eye (0-1 one eye, 2-3 the other) and the nose
    base (4); the nose is projected onto the eye line so head roll does not count as yaw.
    """
    pts = np.array([(shape.part(i).x, shape.part(i).y) for i in range(5)], dtype=np.float64)
    eye_a = pts[0:2].mean(axis=0)
    eye_b = pts[2:4].mean(axis=0)
    axis = eye_b - eye_a
    length2 = float(axis @ axis)
    if length2 < 1.0:
        return 0.0
    t = float((pts[4] - eye_a) @ axis) / length2
    return float(np.clip(1.0 - 2.0 * abs(t - 0.5), 0.0, 1.0))


def _measure(image: np.ndarray, box: Box) -> tuple[int, float, float]:
    """Face side in pixels, size-normalised sharpness and mean brightness of the face crop."""
    top, right, bottom, left = box
    face_px = int(min(bottom - top, right - left))
    crop = image[max(0, top) : bottom, max(0, left) : right]
    if crop.size == 0:
        return face_px, 0.0, 0.0
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    brightness = float(gray.mean())
    # Large faces are shrunk to a fixed side so blur is judged alike at any size; small ones
    # are left alone (upscaling would smooth them and make every small face look blurred).
    if face_px > _SHARPNESS_SIDE:
        gray = cv2.resize(gray, (_SHARPNESS_SIDE, _SHARPNESS_SIDE), interpolation=cv2.INTER_AREA)
    sharpness = float(cv2.Laplacian(gray, cv2.CV_64F).var())
    return face_px, sharpness, brightness


def _verdict(
    face_px: int,
    sharpness: float,
    brightness: float,
    frontal: float,
    *,
    min_face_px: int,
    min_sharpness: float,
    min_brightness: float,
    max_brightness: float,
    min_frontal: float,
) -> Quality:
    reason: str | None = None
    if face_px < min_face_px:
        reason = "face_too_small"
    elif brightness < min_brightness:
        reason = "too_dark"
    elif brightness > max_brightness:
        reason = "too_bright"
    elif sharpness < min_sharpness:
        reason = "too_blurry"
    elif frontal < min_frontal:
        reason = "not_frontal"
    return Quality(
        reason is None,
        reason,
        face_px,
        round(sharpness, 2),
        round(brightness, 2),
        round(frontal, 3),
    )


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

    Returns the verdict and the face's 5-point landmarks, which `describe` takes, so an
    encoding does not find them again.
    """
    _check_image(image)
    face_px, sharpness, brightness = _measure(image, box)
    shape = _shape(image, box)
    quality = _verdict(
        face_px,
        sharpness,
        brightness,
        _frontal_score(shape) if face_px > 0 else 0.0,
        min_face_px=min_face_px,
        min_sharpness=min_sharpness,
        min_brightness=min_brightness,
        max_brightness=max_brightness,
        min_frontal=min_frontal,
    )
    return quality, shape


def encode(image: np.ndarray, boxes: Sequence[Box], *, jitters: int = 1) -> list[np.ndarray]:
    """128-d float64 encodings of the faces in `boxes` (see `describe`)."""
    _check_image(image)
    return [describe(image, _shape(image, box), jitters) for box in boxes]


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
    _check_image(image)
    gated = _gate(
        image,
        min_face_px=min_face_px,
        upsample=upsample,
        min_sharpness=min_sharpness,
        min_frontal=min_frontal,
    )
    return [
        FaceAnalysis(box, q, describe(image, shape, jitters) if q.ok else None)
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
    _check_image(image)
    kw = {
        "min_face_px": min_face_px,
        "upsample": None,
        "min_sharpness": min_sharpness,
        "min_frontal": min_frontal,
    }
    gated = _gate(image, **kw)  # type: ignore[arg-type]
    rotation = 0
    if not gated and try_rotations:
        for k in (1, 3, 2):
            turned = np.ascontiguousarray(np.rot90(image, k))
            gated = _gate(turned, **kw)  # type: ignore[arg-type]
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
    return FaceAnalysis(box, quality, describe(image, shape, jitters), rotation)
