"""dlib's face-recognition ResNet, run by ONNX Runtime instead of dlib.

dlib-bin is built without BLAS: one pass of the 150×150 network takes ≈150 ms on one core.
The same network with the same weights in ONNX Runtime takes ≈17 ms (`python -m
checkin.bench.enrollment` times both) and gives the same 128-d encodings (within 1e-4, in
practice 1e-6; tests/checkin/faces/test_dlib_net.py compares them with dlib's own on real
faces), so stored templates stay valid. Nothing is downloaded: the weights are read from the
model file that ships inside `face_recognition_models`, and the graph is built in memory once
per process.

The file is dlib's binary serialization of `anet_type` (dlib/examples/dnn_face_recognition_ex
.cpp). Only the layers that hold weights are read: 29 `con_` layers, each followed by an
`affine_` (a frozen batch norm, folded into the convolution here) and one `fc_` (128 × 256,
no bias). The topology — a 7×7/2 stem, max pool, residual stages of 3, 4, 3, 3 and 1 blocks
(32, 64, 128, 256, 256 filters; each stage after the first starts with a strided block whose
shortcut is a 2×2 average pool), global average pool — is fixed here, and the layer kinds,
shapes and strides read from the file must match it or loading fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from checkin.faces.errors import ModelFileError

__all__ = ["CHIP_SIZE", "FaceNet", "ModelFileError", "build_model", "face_net"]

CHIP_SIZE = 150
_MEAN_RGB = np.array([122.782, 117.001, 104.298], dtype=np.float32)  # dlib input_rgb_image
_STAGES = ((32, 3), (64, 4), (128, 3), (256, 3), (256, 1))  # (filters, residual blocks)
_LAYER_TAG = re.compile(rb"\x01\x05con_4|\x01\x07affine_|\x01\x04fc_2")


@dataclass(frozen=True)
class _Conv:
    weight: np.ndarray  # (out, in, kh, kw)
    bias: np.ndarray  # (out,)
    stride: int
    pad: int


class _Reader:
    """dlib's serialization: packed integers, length-prefixed strings, float32 tensors."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos

    def integer(self) -> int:
        control = self.data[self.pos]
        size = control & 0x0F
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if control & 0x80 else value

    def string(self) -> str:
        n = self.integer()
        text = self.data[self.pos : self.pos + n].decode("ascii")
        self.pos += n
        return text

    def shape(self, version: int) -> tuple[int, ...]:
        if self.integer() != version:
            raise ModelFileError("人脸模型文件格式不符（张量版本）。")
        return tuple(self.integer() for _ in range(4))

    def tensor(self) -> np.ndarray:
        shape = self.shape(2)
        count = int(np.prod(shape))
        if self.pos + 4 * count > len(self.data):
            raise ModelFileError("人脸模型文件不完整（数据被截断）。")
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos)
        self.pos += 4 * count
        return values.astype(np.float32)


def _read_layers(data: bytes) -> Iterator[tuple[str, object]]:
    """('con', _Conv) with its batch norm folded in, then ('fc', weights (256, 128))."""
    pending: tuple[np.ndarray, np.ndarray, int, int] | None = None
    pos = 0
    while match := _LAYER_TAG.search(data, pos):
        r = _Reader(data, match.start())
        kind = r.string()
        if kind == "con_4":
            params = r.tensor()
            filters, kh, kw, sy, sx, py, px = (r.integer() for _ in range(7))
            wshape = r.shape(1)
            r.shape(1)  # biases: the rest of params
            n = int(np.prod(wshape))
            sizes_ok = len(params) == n + filters and wshape == (filters, wshape[1], kh, kw)
            if sy != sx or py != px or not sizes_ok:
                raise ModelFileError("人脸模型文件格式不符（卷积层）。")
            pending = (params[:n].reshape(wshape), params[n:], sy, py)
        elif kind == "affine_":
            params = r.tensor()
            if pending is None or len(params) != 2 * pending[0].shape[0]:
                raise ModelFileError("人脸模型文件格式不符（归一化层）。")
            weight, bias, stride, pad = pending
            channels = weight.shape[0]
            gamma, beta = params[:channels], params[channels:]
            yield (
                "con",
                _Conv(weight * gamma[:, None, None, None], bias * gamma + beta, stride, pad),
            )
            pending = None
        else:
            outputs, inputs = r.integer(), r.integer()
            yield "fc", r.tensor().reshape(inputs, outputs)
        pos = r.pos


class _Graph:
    """Builds the ONNX graph node by node, tracking each tensor's (C, H, W)."""

    def __init__(self, layers: Iterator[tuple[str, object]]) -> None:
        self.layers = layers
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []
        self.count = 0

    def _name(self) -> str:
        self.count += 1
        return f"t{self.count}"

    def _const(self, value: np.ndarray) -> str:
        name = self._name()
        self.weights.append(numpy_helper.from_array(value, name))
        return name

    def _node(self, op: str, inputs: Sequence[str], **attrs: Any) -> str:
        out = self._name()
        self.nodes.append(helper.make_node(op, list(inputs), [out], **attrs))
        return out

    def _next(self, kind: str) -> object:
        got = next(self.layers, None)
        if got is None or got[0] != kind:
            raise ModelFileError("人脸模型文件格式不符（层的顺序）。")
        return got[1]

    def conv(self, x: str, shape: tuple[int, ...], *, relu: bool) -> tuple[str, tuple[int, ...]]:
        c = self._next("con")
        assert isinstance(c, _Conv)
        out_ch, in_ch, k, _ = c.weight.shape
        if in_ch != shape[0]:
            raise ModelFileError("人脸模型文件格式不符（通道数）。")
        y = self._node(
            "Conv",
            [x, self._const(c.weight), self._const(c.bias)],
            kernel_shape=[k, k],
            strides=[c.stride, c.stride],
            pads=[c.pad] * 4,
        )
        side = [(s + 2 * c.pad - k) // c.stride + 1 for s in shape[1:]]
        if relu:
            y = self._node("Relu", [y])
        return y, (out_ch, *side)

    def pad_to(self, x: str, shape: tuple[int, ...], target: tuple[int, ...]) -> str:
        """dlib's add_prev sums tensors of different sizes as if zero-padded at the end."""
        if shape == target:
            return x
        pads = [0, 0, 0, 0, 0, *(t - s for t, s in zip(target, shape, strict=True))]
        return self._node("Pad", [x, self._const(np.array(pads, dtype=np.int64))])

    def block(self, x: str, shape: tuple[int, ...], *, down: bool) -> tuple[str, tuple[int, ...]]:
        y, mid = self.conv(x, shape, relu=True)
        y, out = self.conv(y, mid, relu=False)
        skip, skip_shape = x, shape
        if down:
            skip = self._node("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
            skip_shape = (shape[0], *((s - 2) // 2 + 1 for s in shape[1:]))
        target = tuple(max(a, b) for a, b in zip(out, skip_shape, strict=True))
        total = self._node(
            "Add", [self.pad_to(y, out, target), self.pad_to(skip, skip_shape, target)]
        )
        return self._node("Relu", [total]), target

    def model(self) -> onnx.ModelProto:
        x, shape = self.conv("input", (3, CHIP_SIZE, CHIP_SIZE), relu=True)
        x = self._node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])
        shape = (shape[0], *((s - 3) // 2 + 1 for s in shape[1:]))
        for stage, (_, blocks) in enumerate(_STAGES):
            for i in range(blocks):
                x, shape = self.block(x, shape, down=stage > 0 and i == 0)
        pooled = self._node("Flatten", [self._node("GlobalAveragePool", [x])])
        fc = self._next("fc")
        assert isinstance(fc, np.ndarray)
        if fc.shape != (shape[0], 128) or next(self.layers, None) is not None:
            raise ModelFileError("人脸模型文件格式不符（全连接层）。")
        self.nodes.append(helper.make_node("MatMul", [pooled, self._const(fc)], ["output"]))
        graph = helper.make_graph(
            self.nodes,
            "dlib_face_recognition_resnet_model_v1",
            [
                helper.make_tensor_value_info(
                    "input", TensorProto.FLOAT, ["N", 3, CHIP_SIZE, CHIP_SIZE]
                )
            ],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 128])],
            self.weights,
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def build_model(data: bytes) -> onnx.ModelProto:
    """The ONNX model of dlib's face-recognition network from its serialized file."""
    try:
        return _Graph(_read_layers(data)).model()
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError("人脸模型文件损坏，无法读取。") from exc


class FaceNet:
    """Chips in, 128-d encodings out. One ONNX Runtime thread: parallelism is per process."""

    def __init__(self, data: bytes) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            build_model(data).SerializeToString(), options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 150, 150, 3) RGB uint8 chips -> (N, 128) float64 encodings."""
        batch = (np.asarray(chips, dtype=np.float32) - _MEAN_RGB) / 256.0
        if batch.ndim != 4 or batch.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"face chips must be {CHIP_SIZE}×{CHIP_SIZE} RGB, got {batch.shape}")
        out = self._session.run(None, {"input": np.ascontiguousarray(batch.transpose(0, 3, 1, 2))})
        return np.asarray(out[0], dtype=np.float64)


@cache
def face_net() -> FaceNet:
    """The network built from the model file in `face_recognition_models` (once per process)."""
    import face_recognition_models

    path = face_recognition_models.face_recognition_model_location()
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ModelFileError(f"无法读取人脸模型文件 {path}: {exc.strerror}") from exc
    return FaceNet(data)
