"""The free-space floor on a real (small tmpfs) filesystem: when another tenant fills it,
recording stops on this node with a status and a metric, the open segment is closed and
plays; when space comes back, recording resumes on its own."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import require_system_peer
from tests.record.conftest import ffprobe, token, video_frames

pytestmark = pytest.mark.timeout(120)

MB = 1024 * 1024
FLOOR = 4 * MB


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                            capture_output=True, text=True)
    require_system_peer(None if result.returncode == 0 else
                        f"cannot mount a tmpfs for the free-space test: {result.stderr}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(path: Path, size: int) -> None:
    with open(path, "wb") as fh:
        fh.write(b"\0" * size)
        fh.flush()
        os.fsync(fh.fileno())


async def status(http, base) -> dict:
    async with http.get(f"{base}/api/v1/recordings/status") as resp:
        assert resp.status == 200
        return await resp.json()


async def wait_state(http, base, state: str, timeout: float) -> dict:
    async with asyncio.timeout(timeout):
        while (body := await status(http, base))["state"] != state:
            await asyncio.sleep(0.3)
    return body


async def test_free_space_floor_stops_and_resumes(make_hub, gst_camera, small_disk):
    cam = gst_camera(width=320, height=240, fps=25, gop=25, bitrate=300)
    folder = small_disk / "recordings"
    hub = await make_hub(sources=[{"id": "floor1", "url": cam.url,
                                   "recording": {"mode": "continuous"}}],
                         recording={"path": str(folder), "segment": 30, "fragment": 0.5,
                                    "retention": {"min_free": FLOOR, "resume_free": 6 * MB,
                                                  "disk_check": 0.5}})
    base = f"http://127.0.0.1:{hub.http_port}"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token(hub)}"}) as http:
        async with asyncio.timeout(30):
            while not (await status(http, base))["writing"]:
                await asyncio.sleep(0.3)
        # another tenant fills the disk to just above the floor: the recording crosses it
        ballast = small_disk / "other-tenant.bin"
        free = shutil.disk_usage(small_disk).free
        await asyncio.to_thread(fill, ballast, free - FLOOR - 64 * 1024)
        paused = await wait_state(http, base, "paused_low_disk", 30)
        assert paused["free_bytes"] < FLOOR
        async with http.get(f"{base}/metrics") as resp:
            assert "fusionhub_recording_paused 1" in await resp.text()
        async with asyncio.timeout(10):
            while hub.recordings.recorders["floor1"].recording:
                await asyncio.sleep(0.2)
        closed = sorted(folder.glob("floor1/*/*.mp4"))
        assert closed and not list(folder.glob("floor1/.open-*"))
        assert video_frames(ffprobe(closed[-1])) > 0
        async with http.get(f"{base}/api/v1/sources/floor1/recordings") as resp:
            body = await resp.json()
        assert body["recording"] is False and body["node_state"] == "paused_low_disk"
        # space comes back: recording resumes by itself
        ballast.unlink()
        await wait_state(http, base, "recording", 10)
        async with asyncio.timeout(15):
            while not hub.recordings.recorders["floor1"].recording:
                await asyncio.sleep(0.2)
        async with http.get(f"{base}/metrics") as resp:
            assert "fusionhub_recording_paused 0" in await resp.text()
