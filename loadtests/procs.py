"""Child processes of a load test: spawned with their output in a log file, stopped in
bounded time (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def spawn(cmd: list[str], log_path: Path, *, netns: str | None = None,
          env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``cmd`` (inside ``netns`` when given) from the repository root."""
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    base = {k: v for k, v in os.environ.items() if not k.startswith("FUSIONHUB_")}
    with open(log_path, "ab") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**base, **(env or {})}, stdin=subprocess.DEVNULL)


def log_tail(path: Path | None, limit: int = 2000) -> str:
    if path is None:
        return ""
    try:
        return path.read_bytes()[-limit:].decode("utf-8", "replace")
    except OSError:
        return ""


async def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, wait (bounded), then SIGKILL."""
    if process.poll() is None:
        process.terminate()
        for _ in range(int(timeout * 10)):
            if process.poll() is not None:
                return
            await asyncio.sleep(0.1)
        process.kill()
    await asyncio.to_thread(process.wait, 5)
