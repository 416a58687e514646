"""Detector: YOLOv8 decoding and NMS on real ONNX Runtime inference, letterbox mapping back to
source pixels, the exported tiny models, catalogue errors, and ``fusionhub detect --json``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from analytics.detector.detector import Detector
from analytics.detector.preprocess import letterbox
from analytics.detector.scene import cam_box, decide
from analytics.detector.usual_scene import UsualScene
from analytics.detector.yolo import nms
from analytics.models.catalog import load_catalog
from mediaserver.errors import ConfigError
from tests.analytics.conftest import FIXTURES, write_catalog
from tests.analytics.onnx_const import constant_yolo

pytest.importorskip("onnxruntime", reason="onnxruntime is a runtime dependency")


def const_catalog(tmp_path: Path) -> Path:
    # two overlapping fire boxes (NMS keeps the best), one smoke box, one weak fire box
    constant_yolo(tmp_path / "const.onnx", [
        (160, 160, 64, 32, 0, 0.90), (162, 161, 64, 32, 0, 0.80),
        (60, 100, 40, 40, 1, 0.70), (300, 300, 10, 10, 0, 0.20)])
    path = tmp_path / "models.yaml"
    path.write_text(f"""
base: {tmp_path}
default: [const]
models:
  const: {{file: const.onnx, input: [320, 320], classes: {{0: fire, 1: smoke}},
           thresholds: {{fire: 0.5, smoke: 0.5}}}}
""")
    return path


def test_constant_model_decodes_to_source_pixels(tmp_path: Path) -> None:
    detector = Detector(load_catalog(const_catalog(tmp_path)))
    image = Image.new("RGB", (640, 360))  # letterboxed into 320x320: scale 0.5, dy 70
    array, box = letterbox(image, detector.input_size)
    assert array.shape == (320, 320, 3) and (box.scale, box.dx, box.dy) == (0.5, 0, 70)
    [dets] = detector.detect([array], [box])
    assert [(d.kind, round(d.confidence, 2)) for d in dets] == [("fire", 0.9), ("smoke", 0.7)]
    fire = dets[0].box
    # input box (128, 144)-(192, 176) → source ((x)/0.5, (y-70)/0.5)
    assert fire == pytest.approx((256, 148, 384, 212), abs=0.01)


def test_batch_of_sources_gives_one_result_each(tmp_path: Path) -> None:
    detector = Detector(load_catalog(const_catalog(tmp_path)))
    pics = [letterbox(Image.new("RGB", (w, h)), detector.input_size) for w, h in
            ((640, 360), (320, 320), (200, 400))]
    results = detector.detect([p[0] for p in pics], [p[1] for p in pics])
    assert [len(r) for r in results] == [2, 2, 2]


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], np.float32)
    assert nms(boxes, np.array([0.5, 0.9, 0.4], np.float32), 0.45) == [1, 2]


def test_exported_tiny_models_run(tmp_path: Path) -> None:
    detector = Detector(load_catalog(write_catalog(tmp_path / "models.yaml")))
    array, box = letterbox(Image.new("RGB", (320, 180), (90, 120, 200)), detector.input_size)
    [dets] = detector.detect([array], [box])
    assert [d.kind for d in dets] == ["flood"] and 0.01 < dets[0].confidence <= 1


def test_missing_or_broken_model_is_a_clear_error(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "models.yaml")
    text = catalog.read_text()
    catalog.write_text(text.replace("tiny-cls.onnx", "missing.onnx"))
    with pytest.raises(ConfigError, match="missing.onnx does not exist"):
        Detector(load_catalog(catalog))
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    catalog.write_text(text.replace(str(FIXTURES), str(tmp_path))
                       .replace("tiny-det.onnx", "broken.onnx"))
    with pytest.raises(ConfigError, match="broken.onnx cannot be loaded"):
        Detector(load_catalog(catalog))
    catalog.write_text(text.replace("fire, 1: smoke", "fire, 1: lava"))
    with pytest.raises(ConfigError, match="unknown alert kind 'lava'"):
        load_catalog(catalog)


def test_detect_cli_prints_one_json_line_per_image(tmp_path: Path) -> None:
    models = const_catalog(tmp_path)
    for name, size in (("a.jpg", (640, 360)), ("b.png", (320, 320))):
        Image.new("RGB", size, (200, 60, 0)).save(tmp_path / name)
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    proc = subprocess.run(
        [sys.executable, "-m", "analytics.cli", "detect", "--models", str(models), "--json",
         str(tmp_path / "a.jpg"), str(tmp_path / "b.png"), str(tmp_path / "bad.jpg")],
        capture_output=True, text=True, timeout=60)
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [Path(x["path"]).name for x in lines] == ["a.jpg", "b.png", "bad.jpg"]
    assert lines[0]["detections"][0] == {"kind": "fire", "confidence": 0.9,
                                         "box": [256.0, 148.0, 384.0, 212.0]}
    assert "error" in lines[2] and proc.returncode == 1


def test_shipped_catalogue_is_valid_and_points_at_the_models_dir() -> None:
    root = Path(__file__).resolve().parents[2]
    catalog = load_catalog(root / "configs" / "models.yaml")
    assert catalog.default == ("fire-smoke-flood",)
    files = {name: spec.file for name, spec in catalog.models.items()}
    assert files == {"fire-smoke-flood": root / "models" / "fire-smoke-flood.onnx"}
    spec = catalog.models["fire-smoke-flood"]
    assert spec.task == "scene" and spec.usual_scene is not None
    assert spec.classes == {0: "fire", 1: "smoke", 2: "flood"}


def test_cam_box_is_the_connected_region_around_the_peak() -> None:
    cam = np.zeros((10, 10), np.float32)
    cam[2:4, 5:8] = 4.0          # the peak region
    cam[8, 0] = 3.0              # high but not connected to the peak
    cam[2, 6] = 5.0
    assert cam_box(cam, (320, 320)) == (160.0, 64.0, 256.0, 128.0)
    assert cam_box(np.ones((10, 10), np.float32), (320, 160)) == (0.0, 0.0, 320.0, 160.0)


def test_decide_applies_each_kinds_threshold() -> None:
    scores = np.array([[0.9, 0.2, 0.6], [0.1, 0.1, 0.1]], np.float32)
    got = decide(scores, ("fire", "smoke", "flood"), {"fire": 0.8, "smoke": 0.1, "flood": 0.7})
    assert [[(c, k) for c, k, _ in row] for row in got] == [[(0, "fire"), (1, "smoke")],
                                                            [(1, "smoke")]]


def test_usual_scene_suppresses_positives_that_look_like_the_cameras_normal() -> None:
    usual = UsualScene(frames=4, similarity=0.97, max_sources=2)
    normal = np.array([1.0, 0.0, 0.0])
    assert not usual.observe("cam-1", normal, positive=True)       # no history: alarms
    assert not usual.observe("cam-1", normal * 3, positive=False)  # learnt as usual
    glare = np.array([1.0, 0.1, 0.0])                              # cosine 0.995
    assert usual.observe("cam-1", glare, positive=True)
    fire = np.array([0.6, 0.8, 0.0])                               # cosine 0.6: a new scene
    assert not usual.observe("cam-1", fire, positive=True)
    assert not usual.observe("cam-2", glare, positive=True)         # per camera
    assert usual.suppressed == 1
    for i in range(3):                                             # bounded: oldest forgotten
        usual.observe(f"cam-{i + 3}", normal, positive=False)
    assert usual.closest("cam-1", normal) == -1.0


async def test_detector_process_refuses_to_start_without_its_model(tmp_path: Path) -> None:
    from analytics.detector.process import DetectorProcess

    catalog = write_catalog(tmp_path / "models.yaml")
    catalog.write_text(catalog.read_text().replace("tiny-det.onnx", "gone.onnx"))
    proc = DetectorProcess(catalog, threads=1)
    with pytest.raises(ConfigError, match=r"detector cannot start: model file .*gone.onnx "
                                          r"does not exist"):
        await proc.start()
    assert not proc.alive


def test_runtime_path_never_imports_torch_or_ultralytics(tmp_path: Path) -> None:
    """ARCHITECTURE §12: ultralytics (AGPL) stays an optional extra for training/export."""
    catalog = write_catalog(tmp_path / "models.yaml")
    code = (
        "import sys\n"
        "import analytics.hub, analytics.service, analytics.cli, analytics.sampler\n"
        "import analytics.detector.process, analytics.detector.redis_worker\n"
        "import analytics.alerts.api\n"
        "from analytics.detector.detector import Detector\n"
        "from analytics.models.catalog import load_catalog\n"
        f"Detector(load_catalog({str(catalog)!r}))\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'ultralytics',"
        " 'torchvision'))\n"
        "assert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-2000:]
