"""AAC audio from pushed sources, heard by WebRTC viewers as Opus: ffmpeg publishes a clip with
AAC over RTMP and over RTSP into a whole hub; an aiortc WHEP viewer that offers audio decodes
the Opus the hub's shared AAC→Opus transcoder makes. The transcoder runs only while an audio
viewer watches."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from loadtests.camfarm.clips import make_clip
from signalling.clients.whep import WhepClient
from tests.e2e.conftest import token
from tests.e2e.test_push import (
    device_token,
    publish_args,
    rtmp_url,
    rtsp_url,
    wait_state,
)
from tests.servers.test_rtmp import PUSH_PROFILE, run_ffmpeg, wait_for

pytestmark = pytest.mark.timeout(90)

SOURCES = [{"id": "bodycam1", "name": "Team 1 body-cam", "group": "fire/team1",
            "kind": "bodycam", "publish": True}]


@pytest.fixture(scope="module")
def clip_with_aac(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of 320x240 H.264 with a 440 Hz tone as AAC (44.1 kHz mono), checked by ffprobe."""
    folder = tmp_path_factory.mktemp("audio")
    video = make_clip(folder / "video.mp4", name="audio-test", profile=PUSH_PROFILE, seconds=8)
    out = folder / "with-aac.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                    "-i", str(video), "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
                    "-t", "8", "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac",
                    "-ac", "1", "-b:a", "64k", str(out)], check=True, timeout=60)
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                            "stream=codec_name,sample_rate", "-of", "csv=p=0", str(out)],
                           check=True, capture_output=True, text=True, timeout=30).stdout
    assert "aac,44100" in probe and "h264" in probe, probe
    return out


@pytest.mark.parametrize("protocol", ["rtmp", "rtsp"])
async def test_pushed_aac_is_heard_as_opus(make_hub, clip_with_aac, protocol):
    hub = await make_hub(sources=SOURCES)
    device = device_token(hub, "bodycam1")
    url = rtmp_url(hub.rtmp, "bodycam1", device) if protocol == "rtmp" \
        else rtsp_url(hub, "bodycam1", device)
    publisher = asyncio.create_task(run_ffmpeg(*publish_args(
        clip_with_aac, "flv" if protocol == "rtmp" else "rtsp", url, 8)))
    try:
        await wait_state(hub, "bodycam1", ("streaming",), 15)
        stream = hub.manager.stream("bodycam1")
        assert stream is not None
        await wait_for(lambda: stream.audio.format is not None, 5)
        assert stream.audio.format == ("aac", 44100, 1)
        viewer_token = token(hub, groups=("fire",))
        whep = f"http://127.0.0.1:{hub.http_port}/whep/bodycam1"
        # a video-only viewer starts no audio transcoder
        async with WhepClient(whep, token=viewer_token,
                              host_addresses=("127.0.0.1",)) as silent:
            await silent.wait_frames(10, timeout=15)
            assert hub.audio_transcoders.active() == []
            assert "m=audio" not in (silent.answer or "")
        async with WhepClient(whep, token=viewer_token, host_addresses=("127.0.0.1",),
                              audio=True) as first, \
                WhepClient(whep, token=viewer_token, host_addresses=("127.0.0.1",),
                           audio=True) as second:
            assert "opus/48000" in (first.answer or "").lower()
            await first.wait_audio_frames(50, timeout=15)  # 1 s of 20 ms Opus frames
            await second.wait_audio_frames(50, timeout=15)
            await first.wait_frames(10, timeout=15)
            assert first.audio_sample_rate == second.audio_sample_rate == 48000
            assert first.audio_samples >= 50 * 960
            assert first.audio_peak > 1000, "only silence was heard"  # the 440 Hz tone (~4000)
            # video and Opus both sent by the fast relay
            relayed = hub.whep.relay.counters
            assert relayed.audio_packets_sent >= 100 and relayed.packets_sent > 0
            # one shared transcoder for both viewers
            [transcoder] = hub.audio_transcoders.active()
            info = transcoder.info()
            assert info["decoded"] > 0 and info["encoded"] >= 50 and info["errors"] == 0
            print(f"{protocol}: {first.audio_frames} audio frames at "
                  f"{first.audio_sample_rate} Hz; transcoder {info}")
        # the last audio viewer left: the transcoder stops and unsubscribes
        await wait_for(lambda: not hub.audio_transcoders.active(), 5)
        await wait_for(lambda: stream.audio.subscriber_count == 0, 5)
        code, err = await publisher
        assert code == 0, err
    finally:
        if not publisher.done():
            publisher.cancel()
            await asyncio.gather(publisher, return_exceptions=True)
