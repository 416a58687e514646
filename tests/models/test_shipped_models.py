"""The shipped scene model through the runtime detector (the production pre/post-processing),
its export parity against PyTorch, and the catalogue and metrics it ships with.

The fixture images are CC BY 4.0 validation-split frames the shipped model never trained on
(fixtures/ATTRIBUTION.md). No flood image may be redistributed, so flood is covered by the
metrics (models/metrics.json) only.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from analytics.detector.detector import Detector
from analytics.detector.preprocess import letterbox, to_tensor
from analytics.models.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "configs" / "models.yaml"
FIXTURES = Path(__file__).parent / "fixtures"
METRICS = json.loads((ROOT / "models" / "metrics.json").read_text())
MODEL = METRICS["model"]


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(load_catalog(CATALOG))


def _kinds(detector: Detector, image: Image.Image) -> dict[str, dict]:
    array, box = letterbox(image.convert("RGB"), detector.input_size)
    return {d.kind: d.as_json() for d in detector.detect([array], [box])[0]}


def test_shipped_file_matches_metrics_and_catalogue() -> None:
    path = ROOT / MODEL["file"]
    assert path.stat().st_size < 8 * 1024 * 1024
    assert hashlib.sha256(path.read_bytes()).hexdigest() == MODEL["sha256"], \
        "model changed without rerunning `make models-eval`"
    spec = yaml.safe_load(CATALOG.read_text())["models"][MODEL["name"]]
    assert spec["file"] == MODEL["file"] and spec["task"] == "scene"
    assert spec["input"] == MODEL["input"]
    assert spec["thresholds"] == pytest.approx(METRICS["thresholds"], abs=5e-4)
    assert METRICS["source_disjoint"]["false_alarm_any"] <= METRICS["max_false_alarm_target"]


@pytest.mark.parametrize("name, kind", [("fire.jpg", "fire"), ("smoke.jpg", "smoke")])
def test_runtime_detector_finds_the_sample_kind(detector: Detector, name: str,
                                                kind: str) -> None:
    image = Image.open(FIXTURES / name)
    found = _kinds(detector, image)
    assert kind in found, found
    assert "flood" not in found
    x1, y1, x2, y2 = found[kind]["box"]
    assert 0 <= x1 < x2 <= image.width and 0 <= y1 < y2 <= image.height


def test_runtime_detector_silent_on_normal_sample(detector: Detector) -> None:
    assert _kinds(detector, Image.open(FIXTURES / "normal.jpg")) == {}


def _close(got: np.ndarray, want: np.ndarray, share: float = 0.03) -> None:
    """Equal within ``share`` of the output's range (the file stores float16 weights)."""
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= share * np.abs(want).max()


def test_onnxruntime_matches_the_pytorch_reference() -> None:
    """The outputs PyTorch gave at export (``*.reference.npz``) on the runtime's own input."""
    from analytics.detector.backends import OnnxBackend

    path = ROOT / MODEL["file"]
    backend = OnnxBackend(path)
    with np.load(path.with_name(f"{path.stem}.reference.npz")) as ref:
        n = sum(k.startswith("input_") for k in ref.files)
        assert n >= 3
        for i in range(n):
            image = Image.open(FIXTURES / str(ref[f"name_{i}"])).convert("RGB")
            array = letterbox(image, tuple(MODEL["input"]))[0]
            assert np.abs(array.astype(int) - ref[f"input_{i}"].astype(int)).max() <= 1
            scores, cam, embedding = backend.run_all(to_tensor([ref[f"input_{i}"]]))
            np.testing.assert_allclose(scores, ref[f"scores_{i}"], atol=0.01)
            _close(cam, ref[f"cam_{i}"])
            _close(embedding, ref[f"embedding_{i}"])


def test_fresh_export_matches_pytorch(tmp_path: Path) -> None:
    """Export a scene network (pretrained backbone, a seeded head) and compare ONNX Runtime
    with PyTorch on the fixtures: the export path itself, not only the shipped file."""
    import torch

    from analytics.detector.backends import OnnxBackend
    from analytics.training.export import export_scene
    from analytics.training.network import HeadWeights, build_backbone, scene_module

    rng = np.random.default_rng(0)
    head = HeadWeights(rng.normal(0, 0.05, (3, 1280)).astype(np.float32),
                       np.array([-1.0, 0.0, 1.0], np.float32))
    size = (224, 224)
    onnx = export_scene(tmp_path / "scene.onnx", size, head, [])
    module = scene_module(build_backbone(size), head)
    backend = OnnxBackend(onnx)
    for name in ("fire.jpg", "smoke.jpg", "normal.jpg"):
        x = to_tensor([letterbox(Image.open(FIXTURES / name).convert("RGB"), size)[0]])
        with torch.no_grad():
            want = [t.numpy() for t in module(torch.from_numpy(x))]
        got = backend.run_all(x)
        assert [g.shape for g in got] == [w.shape for w in want]
        np.testing.assert_allclose(got[0], want[0], atol=0.01)
        _close(got[1], want[1])
        _close(got[2], want[2])
