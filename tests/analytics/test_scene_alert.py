"""k-of-n over a looped clip with the shipped scene model: a file:// camera plays fire frames
then normal frames (the CC BY fixtures), looped; the detector process runs the catalogue as
shipped. Exactly one fire alert is raised, it resolves on the normal part, and the cooldown
keeps the next loop's fire from raising a second one."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from analytics.examples.dispatch_consumer import ensure_group
from tests.analytics.harness import start_analytics
from tests.analytics.test_pipeline import read_events
from tests.e2e.conftest import make_hub  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "models" / "fixtures"
FPS = 10


def fire_then_normal(path: Path, *, fire_s: int, normal_s: int) -> Path:
    """352×288 H.264, a keyframe every second: ``fire_s`` s of fire, ``normal_s`` s normal."""
    frames = [np.asarray(Image.open(FIXTURES / name).convert("RGB").resize((352, 288)))
              for name in ("fire.jpg", "normal.jpg")]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 352, 288, "yuv420p"
        stream.codec_context.gop_size = FPS
        stream.codec_context.time_base = Fraction(1, FPS)
        for i in range((fire_s + normal_s) * FPS):
            frame = av.VideoFrame.from_ndarray(frames[0 if i < fire_s * FPS else 1],
                                               format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


async def test_looped_clip_raises_one_fire_alert_and_resolves(make_hub, tmp_path):  # noqa: F811
    clip = fire_then_normal(tmp_path / "fire-then-normal.mp4", fire_s=4, normal_s=6)
    source = {"id": "cam-f", "group": "city/east", "url": f"file://{clip}",
              "analytics": {"enabled": True, "interval": 0.5}}
    hub = await make_hub(sources=[source], pull={"file_roots": [str(tmp_path)]})
    redis = hub.redis.client
    await ensure_group(redis, "fh:events:alerts", "test")
    ah = await start_analytics(
        hub, enabled=True, models=ROOT / "configs" / "models.yaml", interval=0.5, budget=10,
        threads=1, rules={"k": 2, "n": 3, "resolve_after": 3, "cooldown": 600},
        evidence={"pre_roll": 1.0, "post_roll": 1.0, "fragment": 0.5})
    try:
        events = await read_events(redis, "test", lambda ev: any(
            e["event"] == "resolved" for e in ev), 45)
        # one more full loop (10 s): its fire part must not raise again (cooldown)
        await asyncio.sleep(11)
        events += await read_events(redis, "test", lambda ev: True, 2)
        raised = [e for e in events if e["event"] == "raised"]
        assert len(raised) == 1, [(e["event"], e["data"]["kind"]) for e in events]
        alert = raised[0]["data"]
        assert (alert["kind"], alert["source_id"]) == ("fire", "cam-f")
        resolved = [e for e in events if e["event"] == "resolved"]
        assert [e["alert_id"] for e in resolved] == [alert["alert_id"]]
        assert {e["data"]["kind"] for e in events} == {"fire"}
        assert ah.analytics.service.samplers["cam-f"].sampled >= 10
    finally:
        await ah.aclose()
