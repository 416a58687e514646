"""The camera farm as a child process (``python -m loadtests.camfarm``), so its CPU is
neither the hub's nor the viewers'. The clip is encoded (once, cached) before it starts."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .camfarm.__main__ import make_cameras
from .camfarm.clips import make_clip
from .hubproc import free_port
from .procs import spawn, stop_process

READY_TIMEOUT = 60.0


@dataclass
class FarmHandle:
    host: str
    port: int
    ids: list[str]
    pid: int

    def url(self, camera_id: str) -> str:
        return f"rtsp://{self.host}:{self.port}/{camera_id}"

    def sources(self, group: str = "loadtest", **fields) -> list[dict]:
        """Hub source records pulling every camera of the farm."""
        return [{"id": cid, "group": group, "kind": "camera", "url": self.url(cid), **fields}
                for cid in self.ids]


async def wait_listening(host: str, port: int, timeout: float, process=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"camera farm exited with status {process.returncode}")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection(host, port)
            writer.close()
            await writer.wait_closed()
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


@contextlib.asynccontextmanager
async def started_farm(work_dir: Path, clip_dir: Path, *, count: int, profile: str,
                       duration: float, host: str = "127.0.0.1", netns: str | None = None,
                       prefix: str = "cam", loss: float = 0.0, jitter_ms: float = 0.0,
                       clip_seconds: float = 10.0):
    """Run ``count`` cameras for at most ``duration`` seconds (the farm then stops itself)."""
    path = clip_dir / f"shared-{profile}-h264.mp4"
    await asyncio.to_thread(make_clip, path, name=f"camfarm {profile}", profile=profile,
                            seconds=clip_seconds, seed=0, codec="h264")
    port = free_port()
    cmd = [sys.executable, "-m", "loadtests.camfarm", "--count", str(count), "--host", host,
           "--port", str(port), "--profile", profile, "--clip-dir", str(clip_dir),
           "--clip-seconds", str(clip_seconds), "--prefix", prefix,
           "--duration", str(duration), "--loss", str(loss), "--jitter-ms", str(jitter_ms)]
    process = spawn(cmd, work_dir / f"farm-{port}.log", netns=netns)
    ids = [c.id for c in make_cameras(count, prefix, profile)]
    try:
        if netns is None:
            await wait_listening(host, port, READY_TIMEOUT, process)
        else:
            from .netns import wait_http

            await wait_http(netns, f"rtsp://{host}:{port}/{ids[0]}", READY_TIMEOUT, process)
        yield FarmHandle(host, port, ids, process.pid)
    finally:
        await stop_process(process)
