"""What a face model is to the engine: detection, landmarks, the gate's inputs, the embedding
and its distance.

Two models implement it: `sface` (YuNet + SFace, the default; `sface_model`) and `dlib` (HOG
+ dlib's ResNet through face_recognition; `dlib_model`). `engine` runs the same rules over
either and loads a model by name (`BAODAO_FACE_MODEL`, `engine.face_model`), once per
process; the modules behind a model (dlib, ONNX Runtime sessions) are imported only when it
is used, so a worker serving SFace never loads dlib. What the rest of the service needs to
know about a model without running it (its template id, its distance) is `info(name)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from checkin.faces.boxes import Box
from checkin.faces.metric import Metric
from checkin.faces.quality import Quality

ModelName = Literal["sface", "dlib"]
MODEL_NAMES: tuple[ModelName, ...] = ("sface", "dlib")


@dataclass(frozen=True)
class ModelInfo:
    """A model's identity: what its templates are called and how they are compared."""

    name: ModelName
    template_id: str  # FaceTemplate.model_id of the templates this model makes
    metric: Metric  # how two embeddings are compared; never across models
    # Two different deputies whose templates are closer than this are probably one person
    # enrolled twice (None: the model cannot tell them apart from look-alikes reliably).
    # SFace: cos ≥ 0.50 joins 92 % of same-person pairs and 1.1e-5 of different-person pairs
    # of the 2,421 dev + scale photos (docs/accuracy.md, "Probable duplicates").
    duplicate_distance: float | None


INFO: dict[str, ModelInfo] = {
    "sface": ModelInfo("sface", "sface_2021dec+yunet_2023mar_mirror", "cosine", 0.50),
    "dlib": ModelInfo("dlib", "dlib_resnet_v1_mirror", "euclidean", None),
}


def info(name: str) -> ModelInfo:
    """The identity of the model called `name`; ValueError for an unknown name."""
    try:
        return INFO[name]
    except KeyError:
        raise ValueError(f"unknown face model {name!r} (known: {', '.join(INFO)})") from None


@dataclass(frozen=True)
class Face:
    """One detected face: its box, the detector's confidence and its landmarks, if any.

    `landmarks` are the detector's 5 points as (x, y) rows (YuNet: the person's right eye,
    left eye, nose tip, right and left mouth corners); dlib's HOG gives none (its 5-point
    shape comes with the gate, `FaceModel.assess`).
    """

    box: Box
    score: float = 1.0
    landmarks: np.ndarray | None = None


@dataclass(frozen=True)
class Limits:
    """The quality gate's thresholds besides the face size (a settings value)."""

    min_sharpness: float
    min_brightness: float
    max_brightness: float
    min_frontal: float


class FaceModel(Protocol):
    """A detector, a landmark model and an embedding network behind one set of rules."""

    info: ModelInfo
    limits: Limits  # the gate's default thresholds for this detector's boxes and landmarks

    def warm(self) -> None:
        """Load every network of this model now (worker start-up), not on the first face."""

    def detect(self, image: np.ndarray) -> list[Face]:
        """Every face of a photo, left to right."""

    def detect_frame(
        self, image: np.ndarray, *, min_face_px: int, regions: Sequence[Box]
    ) -> list[Face]:
        """The faces of a kiosk frame worth reporting (tracked regions may narrow the search)."""

    def orient(
        self, image: np.ndarray, *, try_rotations: bool
    ) -> tuple[np.ndarray, int, list[Face]]:
        """An enrollment photo turned upright: (image, degrees turned, its faces)."""

    def assess(
        self, image: np.ndarray, face: Face, *, min_face_px: int, limits: Limits
    ) -> tuple[Quality, Any]:
        """The gate's verdict on one face and the landmarks `describe` takes."""

    def crowded(self, main: Face, main_px: int, other: Face, other_px: int) -> bool:
        """True when `other` makes an enrollment photo of `main` ambiguous (multiple_faces)."""

    def describe(self, image: np.ndarray, landmarks: Any, jitters: int) -> np.ndarray:
        """The 128-d float64 embedding of one aligned face."""
