"""``fusionhub model harvest``: reviews in a real (embedded Valkey) store become a training
folder of clean frames decoded from real H.264 evidence clips (false alarms → ``normal/``,
confirmed → ``<kind>/``), and ``fusionhub model train --data`` trains on it."""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
from PIL import Image

from analytics.detector.detector import Detector
from analytics.detector.preprocess import letterbox
from analytics.models.catalog import load_catalog
from analytics.training.harvest import harvest
from mediaserver.store.connection import make_client
from mediaserver.store.embedded import EmbeddedRedis


def _clip(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(3):
            img = np.zeros((48, 64, 3), np.uint8)
            img[:] = colour
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


async def test_harvest_false_alarm_reviews(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _clip(data / "alerts" / "2026-11-22" / "al_00000000000000a1.mp4", (200, 40, 40))
    (data / "alerts" / "2026-11-22" / "al_00000000000000a2.jpg").write_bytes(b"not used")
    server = EmbeddedRedis(tmp_path / "redis")
    url = await server.start()
    redis = make_client(url)
    try:
        base = {"source_id": "cam-1", "kind": "fire", "confidence": "0.61",
                "raised_at": "1795000000.0", "v": "1"}
        await redis.hset("fh:alert:al_00000000000000a1", mapping={
            **base, "alert_id": "al_00000000000000a1", "review": "false_alarm",
            "clip": "alerts/2026-11-22/al_00000000000000a1.mp4"})
        await redis.hset("fh:alert:al_00000000000000a2", mapping={  # snapshot only
            **base, "alert_id": "al_00000000000000a2", "review": "false_alarm",
            "snapshot": "alerts/2026-11-22/al_00000000000000a2.jpg"})
        await redis.hset("fh:alert:al_00000000000000a3", mapping={  # confirmed: a positive
            **base, "alert_id": "al_00000000000000a3", "review": "confirmed",
            "clip": "alerts/2026-11-22/al_00000000000000a1.mp4"})
        await redis.hset("fh:alert:al_00000000000000a4", mapping={  # escapes the data dir
            **base, "alert_id": "al_00000000000000a4", "review": "false_alarm",
            "clip": "../../etc/hostname"})
        out = tmp_path / "negatives"
        stats = await asyncio.to_thread(harvest, url, data, out)
        assert (stats.scanned, stats.harvested, stats.no_evidence) == (4, 2, 2)
        assert (out / "fire" / "al_00000000000000a3.jpg").is_file()
        frame = Image.open(out / "normal" / "al_00000000000000a1.jpg")
        assert frame.size == (64, 48)
        r, g, b = np.asarray(frame.convert("RGB"), dtype=float).mean(axis=(0, 1))
        assert r > 150 and g < 90 and b < 90  # the clip's red frame, decoded
        rows = list(csv.DictReader((out / "MANIFEST.csv").read_text().splitlines()))
        assert sorted((r["file"], r["alert_id"], r["review"], r["origin"]) for r in rows) == [
            ("fire/al_00000000000000a3.jpg", "al_00000000000000a3", "confirmed", "clip"),
            ("normal/al_00000000000000a1.jpg", "al_00000000000000a1", "false_alarm", "clip")]
        again = await asyncio.to_thread(harvest, url, data, out)
        assert (again.harvested, again.skipped_existing) == (0, 2)
    finally:
        await redis.aclose()
        await server.aclose()


def test_harvested_folder_trains_a_model_the_runtime_loads(tmp_path: Path) -> None:
    """The tiny end of the analysts' loop: a harvest-layout folder → ``model train`` → an
    ONNX scene model that the runtime detector runs."""
    fixtures = Path(__file__).parent / "fixtures"
    site = tmp_path / "site-a"
    for kind, name in (("fire", "fire.jpg"), ("smoke", "smoke.jpg"), ("normal", "normal.jpg")):
        (site / kind).mkdir(parents=True)
        shutil.copy(fixtures / name, site / kind / f"al_{kind}.jpg")
    out = tmp_path / "models" / "site.onnx"
    proc = subprocess.run(
        [sys.executable, "-m", "analytics.training.cli", "model", "train", "--data", str(site),
         "--out", str(out), "--input", "128", "--passes", "clean,aug1",
         "--cache", str(tmp_path / "cache")],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(out.with_name("site.train.json").read_text())
    assert summary["images"] == 3 and summary["training_rows"] == 6
    assert summary["positives"] == {"fire": 2, "smoke": 2, "flood": 0}
    catalog = tmp_path / "models.yaml"
    catalog.write_text(f"base: {tmp_path}\ndefault: [site]\nmodels:\n  site: {{file: "
                       "models/site.onnx, task: scene, input: [128, 128], classes: {0: fire, "
                       "1: smoke, 2: flood}, thresholds: {fire: 0.5, smoke: 0.5, flood: 0.5}}\n")
    detector = Detector(load_catalog(catalog))
    array, box = letterbox(Image.open(fixtures / "fire.jpg").convert("RGB"), (128, 128))
    assert "fire" in {d.kind for d in detector.detect([array], [box])[0]}
