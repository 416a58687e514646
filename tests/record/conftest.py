"""Fixtures of the recording tests: the in-process hub of the e2e tests, and ffprobe."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.e2e.conftest import make_hub, token  # noqa: F401 - fixtures used by the tests

ENTRIES = ["-show_entries", "stream=codec_type,codec_name,nb_read_frames,width,height:"
           "format=duration:format_tags", "-of", "json"]


def ffprobe(path: Path) -> dict:
    """Streams (frames counted by decoding them) and format of a file; fails on an error."""
    return _ffprobe([str(path)])


def ffprobe_url(url: str, authorization: str) -> dict:
    """The same for an HTTP(S) URL (HLS playlists too), sending the Authorization header."""
    return _ffprobe(["-headers", f"Authorization: {authorization}\r\n", url])


def _ffprobe(target: list[str]) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", *ENTRIES, *target],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    info["errors"] = out.stderr
    return info


def video_frames(info: dict) -> int:
    return sum(int(s.get("nb_read_frames", 0)) for s in info["streams"]
               if s["codec_type"] == "video")
