"""Shared analytics fixtures: tiny YOLOv8 ONNX models exported by ultralytics (committed,
random weights, ``width_multiple`` 0.0625), model catalogues and a short H.264 camera clip."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.camfarm.clips import ClipProfile, make_clip

FIXTURES = Path(__file__).parent / "fixtures"
TINY_DET = FIXTURES / "tiny-det.onnx"  # YOLOv8 detect head, 2 classes, exported at 320
TINY_CLS = FIXTURES / "tiny-cls.onnx"  # YOLOv8 classify head, 2 classes, exported at 128
SMALL = ClipProfile("analytics-test", 320, 180, 10, 150_000, gop=10, noise=2)


def write_catalog(path: Path, *, flood_threshold: float = 0.01,
                  det_threshold: float = 0.5) -> Path:
    """A catalogue with both tiny models. The random-weight classifier scores each of its
    two classes about 0.5, so with both mapped to ``flood`` and a low threshold every sample
    is a (real ONNX Runtime) positive; the detector's random head stays below 0.5."""
    path.write_text(f"""
base: {FIXTURES}
default: [det, cls]
models:
  det:
    file: tiny-det.onnx
    input: [320, 320]
    classes: {{0: fire, 1: smoke}}
    thresholds: {{fire: {det_threshold}, smoke: {det_threshold}}}
  cls:
    file: tiny-cls.onnx
    task: classify
    input: [128, 128]
    classes: {{0: flood, 1: flood}}
    thresholds: {{flood: {flood_threshold}}}
""")
    return path


@pytest.fixture(scope="session")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 s 320x180 10 fps H.264 clip with a keyframe every second."""
    return make_clip(tmp_path_factory.mktemp("clips") / "cam.mp4", name="cam",
                     profile=SMALL, seconds=4)
