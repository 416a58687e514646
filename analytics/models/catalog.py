"""``configs/models.yaml``: each model's file, task, input size, classes → alert kinds and
thresholds. Strict: unknown keys and unknown kinds are errors naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mediaserver.errors import ConfigError

DETECTION_KINDS = ("fire", "smoke", "flood")


class UsualSceneSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, title="Suppress positives on frames that look like the "
                          "camera's recent normal frames (scene models only)")
    frames: int = Field(32, ge=1, le=1024, title="Normal-frame embeddings kept per camera")
    similarity: float = Field(0.97, gt=0, le=1, title="Cosine similarity to one of them at "
                              "or above which a positive is suppressed")


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    file: Path = Field(title="ONNX (or .pt for the ultralytics backend) file; relative to "
                       "the catalogue's base directory")
    task: Literal["scene", "detect", "classify"] = Field(
        "detect", title="scene: multi-label frame classifier (one sigmoid per kind, boxes from "
        "its activation map); detect: YOLOv8 boxes; classify: one softmax label per scene")
    input: tuple[int, int] = Field((640, 640), title="Model input width, height")
    classes: dict[int, str] = Field(title="Class index → alert kind (fire, smoke, flood) or "
                                    "'' to ignore the class")
    thresholds: dict[str, float] = Field(default_factory=dict, title="Per kind minimum "
                                         "confidence; default 0.5")
    iou: float = Field(0.45, gt=0, le=1, title="NMS IoU threshold (detect)")
    usual_scene: UsualSceneSpec | None = Field(None, title="Per-camera usual-scene check "
                                               "(scene models)")

    @model_validator(mode="after")
    def _kinds(self) -> ModelSpec:
        for kind in [*self.classes.values(), *self.thresholds]:
            if kind and kind not in DETECTION_KINDS:
                raise ValueError(f"unknown alert kind {kind!r} (use {DETECTION_KINDS} or '')")
        for kind, value in self.thresholds.items():
            if not 0 < value <= 1:
                raise ValueError(f"threshold of {kind} must be in (0, 1]")
        return self

    def threshold(self, kind: str) -> float:
        return self.thresholds.get(kind, 0.5)


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base: Path | None = Field(None, title="Directory model files are relative to; default "
                              "the parent of the directory holding the catalogue")
    default: tuple[str, ...] = Field(title="Models run on every sample, in order")
    models: dict[str, ModelSpec]

    @model_validator(mode="after")
    def _defaults_exist(self) -> Catalog:
        for name in self.default:
            if name not in self.models:
                raise ValueError(f"default model {name!r} is not in models")
        return self

    def active(self) -> list[tuple[str, ModelSpec]]:
        return [(name, self.models[name]) for name in self.default]

    @property
    def input_size(self) -> tuple[int, int]:
        """The letterbox size the sampler uses: the largest input of the default models."""
        return max((spec.input for _, spec in self.active()), key=lambda s: s[0] * s[1])


def load_catalog(path: str | Path) -> Catalog:
    """Load and validate a catalogue; model paths are made absolute. Raises ConfigError."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read model catalogue {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"model catalogue {path} is not valid YAML: {exc}") from exc
    try:
        catalog = Catalog(**(data or {}))
    except (ValidationError, TypeError) as exc:
        raise ConfigError(f"invalid model catalogue {path}: {exc}") from None
    base = catalog.base if catalog.base is not None else path.resolve().parent.parent
    if not base.is_absolute():
        base = path.resolve().parent / base
    models = {name: spec.model_copy(update={"file": (base / spec.file).resolve()})
              for name, spec in catalog.models.items()}
    return catalog.model_copy(update={"models": models, "base": base})
