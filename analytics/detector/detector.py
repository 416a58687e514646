"""Runs the catalogue's default models on letterboxed pictures, batched across sources."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..models.catalog import Catalog
from .backends import Backend, open_backend
from .yolo import Letterbox, decode_detections, to_tensor


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
        for name, spec in catalog.active():
            self._models.append((name, spec, open_backend(backend, spec.file, threads=threads)))

    def detect(self, images: list[np.ndarray], boxes: list[Letterbox]
               ) -> list[list[Detection]]:
        """``images`` letterboxed to :attr:`input_size` (HWC uint8 RGB)."""
        results: list[list[Detection]] = [[] for _ in images]
        for _name, spec, backend in self._models:
            if spec.task == "detect":
                self._detect(spec, backend, images, boxes, results)
            else:
                self._classify(spec, backend, images, results)
        return results

    def _inputs(self, spec, images: list[np.ndarray]) -> np.ndarray:
        if tuple(spec.input) == tuple(self.input_size):
            return to_tensor(images)
        size = tuple(spec.input)
        return to_tensor([np.asarray(Image.fromarray(im).resize(size, Image.BILINEAR))
                          for im in images])

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
