"""The SFace model's files and port: SHA-256 checked at load, and the same detections, chips
and features as OpenCV's own implementation on real photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from checkin.faces import engine as fe
from checkin.faces import sface_net
from checkin.faces.errors import ModelFileError

MAX_PX = 40_000_000


def test_the_installed_files_are_the_expected_ones() -> None:
    sface_net.check_files()  # raises on a missing or altered file
    fe.check_model("sface")
    fe.check_model("dlib")  # nothing to check: face_recognition_models ships its own


@pytest.mark.parametrize("damage", ["missing", "truncated", "altered"])
def test_a_missing_or_damaged_file_is_a_clear_error_naming_it(
    damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sface_net.model_path(sface_net.SFACE_FILE).read_bytes()
    copy = tmp_path / sface_net.SFACE_FILE
    if damage == "truncated":
        copy.write_bytes(real[: len(real) // 2])
    elif damage == "altered":
        copy.write_bytes(real[:1000] + bytes([real[1000] ^ 1]) + real[1001:])
    monkeypatch.setattr(sface_net, "model_path", lambda name: tmp_path / name)
    with pytest.raises(ModelFileError) as err:
        sface_net.model_bytes(sface_net.SFACE_FILE)
    assert sface_net.SFACE_FILE in err.value.message and err.value.code == "model_file_error"
    assert ("无法读取" if damage == "missing" else "已损坏") in err.value.message
    with pytest.raises(ModelFileError):
        fe.check_model("sface")


def test_no_installed_wheel_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sface_net, "DISTRIBUTION", "no-such-distribution-baodao")
    with pytest.raises(ModelFileError) as err:
        sface_net.model_path(sface_net.YUNET_FILE)
    assert sface_net.YUNET_FILE in err.value.message and "make venv" in err.value.message


def test_graph_fixes_keep_the_weights() -> None:
    import onnx

    for name, fix in (
        (sface_net.YUNET_FILE, sface_net.yunet_graph),
        (sface_net.SFACE_FILE, sface_net.sface_graph),
    ):
        data = sface_net.model_bytes(name)
        before = {
            t.name: t.SerializeToString() for t in onnx.load_from_string(data).graph.initializer
        }
        fixed = fix(data)
        onnx.checker.check_model(fixed)
        after = {t.name: t.SerializeToString() for t in fixed.graph.initializer}
        assert {k: after[k] for k in before} == before  # every weight byte-identical
    sface = sface_net.sface_graph(sface_net.model_bytes(sface_net.SFACE_FILE))
    assert [i.name for i in sface.graph.input] == ["data"]
    assert "PRelu" not in {n.op_type for n in sface.graph.node}


def _photos(faces_dir: Path, count: int) -> list[np.ndarray]:
    folders = sorted(p for p in (faces_dir / "dev").iterdir() if p.is_dir())[:count]
    return [fe.load_image(sorted(f.iterdir())[0], max_pixels=MAX_PX) for f in folders]


@pytest.mark.slow
def test_yunet_and_alignment_match_opencv(faces_dir: Path) -> None:
    yunet = sface_net.yunet()
    path = str(sface_net.model_path(sface_net.YUNET_FILE))
    recognizer = cv2.FaceRecognizerSF.create(str(sface_net.model_path(sface_net.SFACE_FILE)), "")
    faces = 0
    for rgb in [*_photos(faces_dir, 12), fe.load_image(
        faces_dir / "fixtures" / "group" / "two_people_obama_biden.jpg", max_pixels=MAX_PX
    )]:  # fmt: skip
        h, w = rgb.shape[:2]
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        reference = cv2.FaceDetectorYN.create(path, "", (w, h), 0.5, 0.3, 5000).detect(bgr)[1]
        ours = yunet.rows(rgb, score_threshold=0.5)
        assert reference is not None and len(ours) == len(reference)
        order = np.lexsort((reference[:, 1], reference[:, 0]))
        mine = np.lexsort((ours[:, 1], ours[:, 0]))
        assert np.abs(ours[mine] - reference[order]).max() < 0.01  # boxes, landmarks, score
        for row in reference:
            chip = sface_net.align(rgb, row[4:14].reshape(5, 2))
            theirs = recognizer.alignCrop(bgr, row[None])[:, :, ::-1]
            assert np.abs(chip.astype(int) - theirs.astype(int)).max() <= 1
            faces += 1
    assert faces >= 14


@pytest.mark.slow
def test_sface_features_match_opencv_dnn_on_real_chips(faces_dir: Path) -> None:
    """The same features as cv2.dnn running the original file, fed as FaceRecognizerSF.feature
    feeds it (the BGR chip turned to RGB by blobFromImage)."""
    net = cv2.dnn.readNetFromONNX(str(sface_net.model_path(sface_net.SFACE_FILE)))
    chips = []
    for rgb in _photos(faces_dir, 12):
        (face,) = [f for f in fe.detect(rgb, model="sface") if f.score > 0.85][:1]
        assert face.landmarks is not None
        chips.append(sface_net.align(rgb, face.landmarks))
    ours = sface_net.sface().features(chips)
    reference = []
    for chip in chips:
        net.setInput(
            cv2.dnn.blobFromImage(chip[:, :, ::-1], 1, (112, 112), (0, 0, 0), True), "data"
        )
        reference.append(net.forward().reshape(-1))
    ref = np.array(reference)
    assert np.abs(ours - ref).max() < 1e-4 * np.abs(ref).max()
    cos = np.sum(ours * ref, axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > 0.999999
    # A batch gives each chip the features it gets alone.
    assert np.allclose(sface_net.sface().features(chips[:1])[0], ours[0], atol=1e-5)


@pytest.mark.slow
def test_frame_analysis_keeps_yunets_landmarks(faces_dir: Path) -> None:
    rgb = fe.load_image(faces_dir / "fixtures" / "single" / "obama.jpg", max_pixels=MAX_PX)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    job = fe.FrameJob(jpeg.tobytes(), MAX_PX, 48, 1, "sface")
    (face,) = fe.analyze_frame(job).faces
    assert face.encoding is not None and face.landmarks is not None and len(face.landmarks) == 5
    top, right, bottom, left = face.box
    (rx, ry), (lx, ly) = face.landmarks[0], face.landmarks[1]
    assert abs(ry - ly) < (bottom - top) / 4  # an upright face: eyes at one height
    assert left < rx < lx < right and top < ry < bottom and 0.8 < face.score <= 1.0
    dlib_face = fe.analyze_frame(fe.FrameJob(jpeg.tobytes(), MAX_PX, 48, 1, "dlib")).faces[0]
    assert dlib_face.landmarks is None  # HOG gives no landmarks with its boxes
