"""``fusionhub detect --json`` (analytics/cli.py, the runtime path) with the catalogue as
shipped (``configs/models.yaml``) on the committed CC BY sample images."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"


def test_detect_json_on_samples() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "analytics.cli", "detect", "--json",
         *[str(FIXTURES / i) for i in ("fire.jpg", "smoke.jpg", "normal.jpg")]],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = {Path(line["path"]).name: line["detections"]
           for line in map(json.loads, proc.stdout.splitlines())}
    kinds = {name: {d["kind"] for d in dets} for name, dets in out.items()}
    assert kinds == {"fire.jpg": {"fire"}, "smoke.jpg": {"smoke"}, "normal.jpg": set()}
    thresholds = yaml.safe_load((ROOT / "configs" / "models.yaml").read_text()
                                )["models"]["fire-smoke-flood"]["thresholds"]
    for name, kind in (("fire.jpg", "fire"), ("smoke.jpg", "smoke")):
        (det,) = out[name]
        assert det["confidence"] >= thresholds[kind]
        x1, y1, x2, y2 = det["box"]
        assert 0 <= x1 < x2 and 0 <= y1 < y2
