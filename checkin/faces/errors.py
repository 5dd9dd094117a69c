"""Why a photo or frame cannot be used: stable reason codes, Chinese messages, the errors.

Pure: no web status codes here; the web layer maps these errors to HTTP answers.
"""

from __future__ import annotations

from checkin.errors import BaodaoError

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


class FaceEngineError(BaodaoError):
    """A photo or frame the engine cannot use; `.code` is a key of REASONS."""

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


class ModelFileError(BaodaoError):
    """A face model file is missing, damaged (wrong SHA-256) or not the expected network."""

    code = "model_file_error"
