"""Continuous recording end to end with a real GStreamer camera and the whole hub: 90 s
recorded with the camera killed for 20 s in the middle, then the ranges API, playback by
time and export checked with ffprobe, and group scopes on all three."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.record.conftest import ffprobe, ffprobe_url, token, video_frames

pytestmark = pytest.mark.timeout(300)

GOP = 1.0  # the camera's keyframe interval in seconds (25 frames at 25 fps)


def recorded_source(cam, source_id: str = "rec1", **extra) -> dict:
    return {"id": source_id, "name": "Plant gate", "group": "city/plant", "url": cam.url,
            "recording": {"mode": "continuous"}, **extra}


async def ranges(http: aiohttp.ClientSession, base: str, source_id: str, **query) -> dict:
    async with http.get(f"{base}/api/v1/sources/{source_id}/recordings",
                        params={k: str(v) for k, v in query.items()}) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def recorded_seconds(http, base, source_id, since: float) -> float:
    body = await ranges(http, base, source_id, **{"from": since, "to": time.time() + 60})
    return body["recorded"]


async def wait_recorded(http, base, source_id, since: float, seconds: float,
                        timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while await recorded_seconds(http, base, source_id, since) < seconds:
            await asyncio.sleep(1.0)


async def test_ninety_seconds_with_a_camera_outage(make_hub, gst_camera, tmp_path):
    cam = gst_camera(width=320, height=240, fps=25, gop=25, bitrate=250)
    hub = await make_hub(sources=[recorded_source(cam)],
                         recording={"segment": 10, "fragment": 1.0, "gap": 2.0})
    base = f"http://127.0.0.1:{hub.http_port}"
    began = time.time()
    headers = {"Authorization": f"Bearer {token(hub, 'viewer', ('city/plant',))}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        # recorded without any viewer: the recorder keeps the camera pulled
        await wait_recorded(http, base, "rec1", began, 42, timeout=75)
        assert hub.manager.stream("rec1") is not None
        cam.stop()
        killed = time.time()
        await asyncio.sleep(20)
        cam.start()
        restarted = time.time()
        async with asyncio.timeout(90):
            while True:
                body = await ranges(http, base, "rec1", **{"from": began, "to": time.time()})
                if len(body["ranges"]) >= 2 and body["recorded"] >= 85:
                    break
                await asyncio.sleep(1.0)
        print("ranges:", body["ranges"], "gaps:", body["gaps"])
        first, second = body["ranges"][0], body["ranges"][-1]
        assert first["duration"] >= 40
        inner = [g for g in body["gaps"] if first["end"] <= g["start"] and
                 g["end"] <= second["start"]]
        assert len(inner) == 1
        gap = inner[0]
        # the gap is the 20 s outage (plus the camera's start and reconnection)
        assert 18 <= gap["duration"] <= 27, gap
        assert killed - 3 <= gap["start"] <= killed + 1
        assert restarted - 1 <= gap["end"] <= restarted + 6
        assert body["policy"] == "continuous" and body["recording"] is True

        # a 30 s range played back: fragmented MP4 streamed, starting at a keyframe
        t0 = first["start"] + 5.2
        t1 = t0 + 30
        query = {"from": f"{t0:.3f}", "to": f"{t1:.3f}"}
        asked = time.monotonic()
        async with http.get(f"{base}/api/v1/sources/rec1/playback", params=query) as resp:
            assert resp.status == 200, await resp.text()
            assert resp.headers["Content-Type"] == "video/mp4"
            start = float(resp.headers["X-Playback-Start"])
            first_chunk = await resp.content.read(64 * 1024)
            print(f"first playback bytes after {(time.monotonic() - asked) * 1000:.0f} ms")
            played = tmp_path / "played.mp4"
            played.write_bytes(first_chunk + await resp.read())
        assert t0 - GOP - 0.1 <= start <= t0
        info = ffprobe(played)
        duration = float(info["format"]["duration"])
        assert 30 - 0.1 <= duration <= 30 + GOP + 0.1, duration
        assert video_frames(info) >= 25 * 29

        # exported: one MP4 with the source and the range in its metadata
        async with http.get(f"{base}/api/v1/sources/rec1/export", params=query) as resp:
            assert resp.status == 200, await resp.text()
            assert "attachment" in resp.headers["Content-Disposition"]
            exported = tmp_path / "export.mp4"
            exported.write_bytes(await resp.read())
        info = ffprobe(exported)
        assert abs(float(info["format"]["duration"]) - 30) <= GOP + 0.1
        assert video_frames(info) >= 25 * 29
        tags = info["format"]["tags"]
        assert "rec1" in tags["comment"] and "rec1" in tags["artist"]
        assert tags["creation_time"].startswith(time.strftime("%Y-%m-%d", time.gmtime(t0)))

        # the same range as HLS (fMP4 segment files by byte range) through ffprobe
        hls = await asyncio.to_thread(
            ffprobe_url, f"{base}/api/v1/sources/rec1/playback.m3u8?from={t0:.3f}&to={t1:.3f}",
            headers["Authorization"])
        assert float(hls["format"]["duration"]) >= 30
        assert video_frames(hls) >= 25 * 30
        async with http.get(f"{base}/api/v1/sources/rec1/playback.m3u8", params=query) as resp:
            playlist = await resp.text()
        assert playlist.startswith("#EXTM3U") and "#EXT-X-PROGRAM-DATE-TIME:" in playlist
        assert "#EXT-X-MAP:" in playlist and "#EXT-X-ENDLIST" in playlist
        async with http.get(f"{base}/api/v1/sources/rec1/segments/..%2F..%2Fredis/x.mp4") as resp:
            assert resp.status == 404

        # a range across the outage plays the recorded time only, gap skipped
        across = {"from": f"{first['end'] - 10:.3f}", "to": f"{second['start'] + 10:.3f}"}
        async with http.get(f"{base}/api/v1/sources/rec1/export", params=across) as resp:
            assert resp.status == 200
            (tmp_path / "across.mp4").write_bytes(await resp.read())
        assert float(ffprobe(tmp_path / "across.mp4")["format"]["duration"]) <= 21 + GOP

        # bad parameters are 400, an empty range 404
        async with http.get(f"{base}/api/v1/sources/rec1/export",
                            params={"from": "yesterday"}) as resp:
            assert resp.status == 400
        async with http.get(f"{base}/api/v1/sources/rec1/playback",
                            params={"from": began - 3600, "to": began - 1800}) as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["code"] == "no_recording"

    # an analyst of another group sees none of it: 404 like an unknown source
    other = {"Authorization": f"Bearer {token(hub, 'analyst', ('city/elsewhere',))}"}
    async with aiohttp.ClientSession(headers=other) as http:
        for path in ("recordings", "playback", "export", "playback.m3u8"):
            async with http.get(f"{base}/api/v1/sources/rec1/{path}", params=query) as resp:
                assert resp.status == 404, path
                assert (await resp.json())["error"]["code"] == "not_found"
        async with http.get(f"{base}/metrics") as resp:
            metrics = await resp.text()
    assert "fusionhub_recording_segments_total" in metrics
    assert hub.recordings.stats["segments"] >= 8
