"""A camera with a 10 s GOP: the recorder never holds a GOP in memory (fragments are cut
every ``fragment`` seconds, not only at keyframes), stays within its memory bound, and its
segments still start at keyframes."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from tests.record.conftest import ffprobe, video_frames

pytestmark = pytest.mark.timeout(120)

BOUND = 2 * 1024 * 1024


def first_frame_is_key(path) -> bool:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "frame=key_frame", "-read_intervals", "%+#1", "-of", "csv=p=0",
                          str(path)], capture_output=True, text=True, timeout=30)
    return out.stdout.strip().startswith("1")


async def test_ten_second_gop_stays_within_the_memory_bound(make_hub, gst_camera):
    # 1 Mbit/s: a 10 s GOP is about 1.25 MB, more than the recorder may buffer
    cam = gst_camera(width=640, height=360, fps=25, gop=250, bitrate=1000)
    hub = await make_hub(sources=[{"id": "longgop", "url": cam.url,
                                   "recording": {"mode": "continuous"}}],
                         recording={"segment": 4, "fragment": 1.0, "queue": 100,
                                    "max_buffer_bytes": BOUND})
    recorder = hub.recordings.recorders["longgop"]
    async with asyncio.timeout(60):
        while hub.recordings.stats["segments"] < 2:
            await asyncio.sleep(0.5)
    print(f"recorder high water {recorder.high_water} bytes, bound {BOUND}, "
          f"dropped {recorder.dropped}")
    assert 0 < recorder.high_water <= BOUND
    assert recorder.dropped == 0
    segments = hub.recordings.index.segments("longgop", 0, 4e9)
    closed = [s for s in segments if not s.open]
    assert len(closed) >= 2
    # the muxer never held more than a fraction of a GOP (one segment is one GOP here)
    assert recorder.sink.high_water < min(s.size for s in closed) / 3
    for seg in closed:
        # a segment rolls at the first keyframe after 4 s: with a 10 s GOP it lasts 10 s
        assert 9.5 <= seg.duration <= 10.5, seg
        assert first_frame_is_key(seg.path)
        assert video_frames(ffprobe(seg.path)) >= 240
