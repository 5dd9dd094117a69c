"""Image loading: JPEG/PNG/WebP/BMP bytes or files to upright RGB arrays, bombs refused."""

from __future__ import annotations

import io
import pathlib
import warnings

import numpy as np
from PIL import Image, ImageFile, ImageOps

from checkin.faces.errors import ImageTooLarge, UnreadableImage

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "MPO"})


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


def check_image(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise UnreadableImage("内部错误：图像必须是 RGB uint8 数组。")
