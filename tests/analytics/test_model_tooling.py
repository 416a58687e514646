"""`fusionhub model eval` (precision/recall per kind, JSON + confusion PNG) and
`fusionhub model export` (ultralytics → ONNX, only where the [ultralytics] extra is installed)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from analytics.detector.detector import Detector
from analytics.models.catalog import load_catalog
from analytics.models.evaluate import evaluate, labelled_images
from tests.analytics.test_detector import const_catalog

ROOT = Path(__file__).resolve().parents[2]


def make_yolo_layout(root: Path) -> None:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "data.yaml").write_text("names: {0: fire, 1: smoke, 2: person}\n")
    for name, label in (("a", "0 0.5 0.5 0.2 0.2\n"), ("b", "1 0.5 0.5 0.2 0.2\n"),
                        ("c", "2 0.5 0.5 0.1 0.1\n"), ("d", None)):
        Image.new("RGB", (64, 48)).save(root / "images" / f"{name}.jpg")
        if label:
            (root / "labels" / f"{name}.txt").write_text(label)


def test_eval_counts_per_kind_on_a_yolo_layout(tmp_path: Path) -> None:
    make_yolo_layout(tmp_path / "ds")
    samples = labelled_images(tmp_path / "ds")
    assert [(p.name, k) for p, k in samples] == [("a.jpg", ["fire"]), ("b.jpg", ["smoke"]),
                                                 ("c.jpg", []), ("d.jpg", [])]
    detector = Detector(load_catalog(const_catalog(tmp_path)))
    from analytics.cli import detect_image

    report = evaluate(detector, samples, detect_image)
    # the constant model reports fire and smoke on every image
    fire, smoke = report["kinds"]["fire"], report["kinds"]["smoke"]
    assert (fire["tp"], fire["fp"], fire["fn"]) == (1, 3, 0)
    assert fire["precision"] == 0.25 and fire["recall"] == 1.0
    assert (smoke["tp"], smoke["fp"]) == (1, 3) and report["kinds"]["flood"]["recall"] is None
    labels = report["labels"]
    row = report["confusion"][labels.index("none")]
    assert row[labels.index("fire")] == 2  # best detection is fire (0.9)


def test_eval_cli_writes_json_and_png_from_class_folders(tmp_path: Path) -> None:
    for folder, count in (("fire", 2), ("background", 3)):
        (tmp_path / "ds" / folder).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (32, 32)).save(tmp_path / "ds" / folder / f"{i}.png")
    proc = subprocess.run([sys.executable, "-m", "analytics.cli", "model", "eval",
                           str(tmp_path / "ds"), "--models", str(const_catalog(tmp_path)),
                           "--out", str(tmp_path / "report")], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["kinds"]["fire"]["precision"] == 0.4
    report = json.loads((tmp_path / "report" / "eval.json").read_text())
    assert report["images"] == 5
    png = (tmp_path / "report" / "confusion.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(importlib.util.find_spec("ultralytics") is None,
                    reason="the [ultralytics] extra (ultralytics, torch) is not installed")
def test_export_a_yolov8_yaml_to_onnx_that_the_detector_loads(tmp_path: Path) -> None:
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("nc: 2\ndepth_multiple: 0.33\nwidth_multiple: 0.0625\n"
                   "backbone: " + json.dumps(_yolov8_section("backbone")) + "\n"
                   "head: " + json.dumps(_yolov8_section("head")) + "\n")
    out = tmp_path / "models" / "tiny.onnx"
    proc = subprocess.run([sys.executable, "-m", "analytics.cli", "model", "export", str(cfg),
                           "--out", str(out), "--imgsz", "160"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT,
                          env={"YOLO_CONFIG_DIR": str(tmp_path / "ycfg"),
                               "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.is_file() and out.stat().st_size < 5_000_000
    (tmp_path / "models.yaml").write_text(
        f"base: {tmp_path}\ndefault: [t]\nmodels:\n  t: {{file: models/tiny.onnx, "
        f"input: [160, 160], classes: {{0: fire, 1: smoke}}}}\n")
    detector = Detector(load_catalog(tmp_path / "models.yaml"))
    assert detector.input_size == (160, 160)


def _yolov8_section(name: str) -> list:
    import yaml
    from ultralytics.utils import ROOT as ULTRA

    return yaml.safe_load((ULTRA / "cfg/models/v8/yolov8.yaml").read_text())[name]
