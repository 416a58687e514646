"""Runs the catalogue's default models on letterboxed pictures, batched across sources.

The only inference path: the hub's detector process, the Redis detector workers,
``fusionhub detect`` and every evaluation (``fusionhub model eval|metrics``) go through
:class:`Detector`, with the pre-processing of :mod:`.preprocess` and the post-processing of
:mod:`.scene` (scene models) or :mod:`.yolo` (optional YOLO models).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from mediaserver.errors import ConfigError

from ..models.catalog import Catalog
from .backends import Backend, open_backend
from .preprocess import Letterbox, to_tensor
from .scene import cam_box, decide
from .usual_scene import UsualScene
from .yolo import decode_detections


@dataclass(frozen=True, slots=True)
class Detection:
    kind: str
    confidence: float
    box: tuple[float, float, float, float] | None  # source pixels; None for a scene label

    def as_json(self) -> dict[str, object]:
        return {"kind": self.kind, "confidence": round(self.confidence, 4),
                "box": [round(v, 1) for v in self.box] if self.box else None}


class Detector:
    """Blocking: lives in the detector process (or ``fusionhub detect``)."""

    def __init__(self, catalog: Catalog, *, backend: str = "onnx", threads: int = 1) -> None:
        self.catalog = catalog
        self.input_size = catalog.input_size
        self._models: list[tuple[str, object, Backend]] = []
        self.usual: dict[str, UsualScene] = {}
        for name, spec in catalog.active():
            model = open_backend(backend, spec.file, threads=threads)
            if spec.task == "scene" and not hasattr(model, "run_all"):
                raise ConfigError(f"model {name}: scene models need the onnx backend")
            self._models.append((name, spec, model))
            usual = spec.usual_scene
            if spec.task == "scene" and usual is not None and usual.enabled:
                self.usual[name] = UsualScene(frames=usual.frames, similarity=usual.similarity)

    def detect(self, images: list[np.ndarray], boxes: list[Letterbox],
               sources: list[str] | None = None) -> list[list[Detection]]:
        """``images`` letterboxed to :attr:`input_size` (HWC uint8 RGB). ``sources`` (one id
        per image) enables the per-camera usual-scene check; without it every image stands
        alone (``fusionhub detect``, evaluations)."""
        results: list[list[Detection]] = [[] for _ in images]
        for name, spec, backend in self._models:
            if spec.task == "scene":
                self._scene(name, spec, backend, images, boxes, sources, results)
            elif spec.task == "detect":
                self._detect(spec, backend, images, boxes, results)
            else:
                self._classify(spec, backend, images, results)
        return results

    def scores(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Raw per-kind scores ``[N, classes]`` of each scene model (for PR curves)."""
        return {name: backend.run_all(self._inputs(spec, images))[0]
                for name, spec, backend in self._models if spec.task == "scene"}

    def _inputs(self, spec, images: list[np.ndarray]) -> np.ndarray:
        if tuple(spec.input) == tuple(self.input_size):
            return to_tensor(images)
        size = tuple(spec.input)
        return to_tensor([np.asarray(Image.fromarray(im).resize(size, Image.BILINEAR))
                          for im in images])

    def _scene(self, name, spec, backend, images, boxes, sources, results) -> None:
        scores, cam, embedding = backend.run_all(self._inputs(spec, images))[:3]
        kinds = tuple(spec.classes.get(c, "") for c in range(scores.shape[1]))
        thresholds = {k: spec.threshold(k) for k in kinds if k}
        sx = self.input_size[0] / spec.input[0]
        sy = self.input_size[1] / spec.input[1]
        usual = self.usual.get(name)
        for i, hits in enumerate(decide(scores, kinds, thresholds)):
            if usual is not None and sources is not None and \
                    usual.observe(sources[i], embedding[i], bool(hits)):
                continue
            for cls, kind, score in hits:
                x1, y1, x2, y2 = cam_box(cam[i, cls], tuple(spec.input))
                box = boxes[i].to_source(np.array([[x1 * sx, y1 * sy, x2 * sx, y2 * sy]]))[0]
                results[i].append(Detection(kind, score, tuple(float(v) for v in box)))

    def _detect(self, spec, backend: Backend, images, boxes, results) -> None:
        conf = min([spec.threshold(k) for k in spec.classes.values() if k] or [0.5])
        output = backend.run(self._inputs(spec, images))
        sx = self.input_size[0] / spec.input[0]
        sy = self.input_size[1] / spec.input[1]
        for i, (xyxy, scores, classes) in enumerate(
                decode_detections(output, conf=conf, iou=spec.iou)):
            if len(xyxy):
                xyxy = xyxy * np.array([sx, sy, sx, sy], dtype=xyxy.dtype)
                xyxy = boxes[i].to_source(xyxy)
            for box, score, cls in zip(xyxy, scores, classes, strict=True):
                kind = spec.classes.get(int(cls), "")
                if kind and score >= spec.threshold(kind):
                    results[i].append(Detection(kind, float(score),
                                                tuple(float(v) for v in box)))

    def _classify(self, spec, backend: Backend, images, results) -> None:
        probs = backend.run(self._inputs(spec, images))
        for i, row in enumerate(probs):
            cls = int(np.argmax(row))
            kind = spec.classes.get(cls, "")
            if kind and float(row[cls]) >= spec.threshold(kind):
                results[i].append(Detection(kind, float(row[cls]), None))
