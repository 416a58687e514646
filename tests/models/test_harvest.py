"""``fusionhub model harvest``: false-alarm reviews in a real (embedded Valkey) store become
clean hard-negative frames decoded from real H.264 evidence clips."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import av
import numpy as np
from PIL import Image

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
        await redis.hset("fh:alert:al_00000000000000a3", mapping={  # confirmed: not a negative
            **base, "alert_id": "al_00000000000000a3", "review": "confirmed",
            "clip": "alerts/2026-11-22/al_00000000000000a1.mp4"})
        await redis.hset("fh:alert:al_00000000000000a4", mapping={  # escapes the data dir
            **base, "alert_id": "al_00000000000000a4", "review": "false_alarm",
            "clip": "../../etc/hostname"})
        out = tmp_path / "negatives"
        stats = await asyncio.to_thread(harvest, url, data, out)
        assert (stats.scanned, stats.harvested, stats.no_evidence) == (4, 1, 2)
        frame = Image.open(out / "fire" / "al_00000000000000a1.jpg")
        assert frame.size == (64, 48)
        r, g, b = np.asarray(frame.convert("RGB"), dtype=float).mean(axis=(0, 1))
        assert r > 150 and g < 90 and b < 90  # the clip's red frame, decoded
        rows = list(csv.DictReader((out / "MANIFEST.csv").read_text().splitlines()))
        assert [(r["alert_id"], r["source_id"], r["origin"]) for r in rows] == \
            [("al_00000000000000a1", "cam-1", "clip")]
        again = await asyncio.to_thread(harvest, url, data, out)
        assert (again.harvested, again.skipped_existing) == (0, 1)
    finally:
        await redis.aclose()
        await server.aclose()
