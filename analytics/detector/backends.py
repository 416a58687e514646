"""Model backends. ONNX Runtime is the default (no torch at run time); the ultralytics
backend (``.pt`` models, GPU hosts) is imported only when chosen (AGPL-3.0, optional extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from mediaserver.errors import ConfigError


class Backend(Protocol):
    def run(self, batch: np.ndarray) -> np.ndarray:
        """NCHW float32 → the model's first output."""


class OnnxBackend:
    def __init__(self, path: Path, *, threads: int = 1) -> None:
        if not Path(path).is_file():
            raise ConfigError(f"model file {path} does not exist (see configs/models.yaml; "
                              "the models are shipped separately)")
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ConfigError("onnxruntime is not installed") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
            raise ConfigError(f"model file {path} cannot be loaded: {exc}") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ConfigError(f"model file {path}: expected one NCHW image input")
        self._input = inputs[0].name
        self.fixed_batch = inputs[0].shape[0] if isinstance(inputs[0].shape[0], int) else None

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.run_all(batch)[0]

    def run_all(self, batch: np.ndarray) -> list[np.ndarray]:
        """NCHW float32 → every output of the model, in the model's order."""
        if self.fixed_batch is not None and batch.shape[0] != self.fixed_batch:
            parts = [self._session.run(None, {self._input: batch[i:i + 1]})
                     for i in range(batch.shape[0])]
            return [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]
        return self._session.run(None, {self._input: batch})


class UltralyticsBackend:
    """Runs a ``.pt`` (or any ultralytics-loadable) model through torch; returns the raw head
    output in the same layout as the ONNX export, so decoding is shared."""

    def __init__(self, path: Path, *, threads: int = 1) -> None:
        if not Path(path).is_file():
            raise ConfigError(f"model file {path} does not exist")
        try:
            import torch
            from ultralytics import YOLO
        except ImportError as exc:
            raise ConfigError("the ultralytics backend needs the [ultralytics] extra (pip "
                              "install -c constraints/torch-cpu.txt '.[ultralytics]')") from exc
        torch.set_num_threads(threads)
        self._torch = torch
        self._model = YOLO(str(path)).model.eval()

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self._torch.no_grad():
            out = self._model(self._torch.from_numpy(batch))
        if isinstance(out, list | tuple):
            out = out[0]
        return out.cpu().numpy()


def open_backend(kind: str, path: Path, *, threads: int) -> Backend:
    if kind == "onnx":
        return OnnxBackend(path, threads=threads)
    if kind == "ultralytics":
        return UltralyticsBackend(path, threads=threads)
    raise ConfigError(f"unknown detector backend {kind!r}")
