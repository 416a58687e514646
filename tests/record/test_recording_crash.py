"""SIGKILL the hub while it records: every closed segment and the open one up to its last
fragment play (ffprobe decodes them), and after a restart the index reconciles: the open
segment is repaired, named with the duration that plays, and the ranges API covers it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from mediaserver.app import Hub
from mediaserver.config import Settings
from mediaserver.record.layout import complete_length, parse_closed
from tests.e2e.conftest import hub_settings
from tests.record.conftest import ffprobe, video_frames

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]
SOURCE = "rec-k"


def crash_settings(data: Path, url: str) -> Settings:
    return hub_settings(data, sources=[{"id": SOURCE, "group": "site", "url": url,
                                        "recording": {"mode": "continuous"}}],
                        recording={"segment": 6, "fragment": 0.5})


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob(".open-*.part.mp4")) if folder.is_dir() else []


def _closed(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*/*.mp4") if parse_closed(p.parent.name, p.name))


def _kill(pid: int | None) -> None:
    if pid is not None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def record_then_kill(data: Path, url: str) -> Path:
    """Run the child hub until it is mid-segment, SIGKILL it; returns the open segment."""
    folder = data / "recordings" / SOURCE
    child = Path(__file__).with_name("recording_crash_hub.py")
    proc = subprocess.Popen([sys.executable, str(child), str(data), url], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    valkey_pid = None
    try:
        deadline = time.monotonic() + 60
        part = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            parts = _parts(folder)
            # at least one closed segment, and the open one a few fragments in
            if _closed(folder) and parts and complete_length(parts[0]) > 20_000:
                part = parts[0]
                break
            time.sleep(0.2)
        assert part is not None, "no segment was being written"
        pidfile = data / "redis" / "fusionhub-valkey.pid"
        valkey_pid = int(pidfile.read_text()) if pidfile.exists() else None
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        _kill(valkey_pid)  # the killed hub's embedded server (started by this test)
    return part


async def test_sigkill_mid_segment_then_restart(gst_camera, tmp_path) -> None:
    cam = gst_camera(width=320, height=240, fps=25, gop=10, bitrate=300)
    data = tmp_path / "data"
    folder = data / "recordings" / SOURCE
    part = await asyncio.to_thread(record_then_kill, data, cam.url)
    closed_before = _closed(folder)
    for path in closed_before:
        assert video_frames(ffprobe(path)) > 0, path
    info = ffprobe(part)  # the open segment plays up to its last complete fragment
    played = float(info["format"]["duration"])
    assert video_frames(info) >= 10 and played >= 0.4
    print(f"killed mid-segment: {len(closed_before)} closed, open one plays {played:.2f} s")

    hub = Hub(crash_settings(data, cam.url))
    await hub.start()
    try:
        assert hub.recordings.stats["segments_repaired"] == 1
        assert not part.exists()
        repaired = [p for p in _closed(folder) if p not in closed_before]
        assert len(repaired) == 1
        start, end, _size = parse_closed(repaired[0].parent.name, repaired[0].name)
        assert abs((end - start) - played) < 0.2
        assert video_frames(ffprobe(repaired[0])) >= 10
        token = hub.access.issue("viewer", ("site",), ttl=300)
        first = parse_closed(closed_before[0].parent.name, closed_before[0].name)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            url = f"http://127.0.0.1:{hub.http_port}/api/v1/sources/{SOURCE}/recordings"
            async with http.get(url, params={"from": str(first[0] - 5),
                                             "to": str(end + 0.01)}) as resp:
                body = await resp.json()
        print("after restart:", body["ranges"])
        # what was recorded before the crash is one range up to the repaired segment's end
        assert body["ranges"][0]["start"] == pytest.approx(first[0], abs=0.01)
        assert body["ranges"][0]["end"] == pytest.approx(end, abs=0.01)
    finally:
        await hub.aclose()
