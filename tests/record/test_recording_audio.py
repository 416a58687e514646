"""AAC audio is recorded with the video: ffmpeg pushes H.264 + AAC over RTMP into a source
that records continuously; the segments and an export carry both tracks (ffprobe decodes)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.e2e.test_audio import clip_with_aac  # noqa: F401 - fixture
from tests.e2e.test_push import device_token, publish_args, rtmp_url, wait_state
from tests.ingest.test_rtmp import run_ffmpeg
from tests.record.conftest import ffprobe, token

pytestmark = pytest.mark.timeout(90)


async def test_pushed_aac_is_recorded(make_hub, clip_with_aac, tmp_path):  # noqa: F811
    hub = await make_hub(sources=[{"id": "bodycam1", "group": "fire/team1", "kind": "bodycam",
                                   "publish": True, "recording": {"mode": "continuous"}}],
                         recording={"segment": 3, "fragment": 0.5})
    began = time.time()
    url = rtmp_url(hub.rtmp, "bodycam1", device_token(hub, "bodycam1"))
    publisher = asyncio.create_task(run_ffmpeg(*publish_args(clip_with_aac, "flv", url, 8)))
    try:
        await wait_state(hub, "bodycam1", ("streaming",), 15)
        async with asyncio.timeout(30):
            while hub.recordings.stats["segments"] < 2:
                await asyncio.sleep(0.3)
    finally:
        rc, err = await publisher
    assert rc == 0, err
    segments = [s for s in hub.recordings.index.segments("bodycam1", began - 5, time.time())
                if not s.open]
    info = ffprobe(segments[0].path)
    kinds = {s["codec_type"]: s for s in info["streams"]}
    assert kinds["video"]["codec_name"] == "h264" and kinds["audio"]["codec_name"] == "aac"
    assert int(kinds["audio"]["nb_read_frames"]) > 20  # about 43 AAC frames per second

    headers = {"Authorization": f"Bearer {token(hub)}"}
    query = {"from": f"{segments[0].start:.3f}", "to": f"{segments[-1].end:.3f}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"http://127.0.0.1:{hub.http_port}/api/v1/sources/bodycam1/export",
                            params=query) as resp:
            assert resp.status == 200, await resp.text()
            (tmp_path / "export.mp4").write_bytes(await resp.read())
    exported = {s["codec_type"]: s for s in ffprobe(tmp_path / "export.mp4")["streams"]}
    assert exported["audio"]["codec_name"] == "aac"
    assert int(exported["audio"]["nb_read_frames"]) > 40
