"""B-frame media for timestamp tests: a file encoded by ffmpeg with two B-frames, and the
ffprobe/ffmpeg checks of a written file (packet order, clean decode)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path


def bframe_file(path: Path, seconds: int = 3) -> Path:
    """``seconds`` of 160x120 H.264 at 25 fps with ``-bf 2`` and a keyframe every second."""
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i",
                    "testsrc=size=160x120:rate=25", "-t", str(seconds), "-c:v", "libx264",
                    "-bf", "2", "-g", "25", "-preset", "superfast", "-pix_fmt", "yuv420p",
                    str(path)], check=True, timeout=60)
    return path


def check_decode_and_presentation_order(path: Path, frames: int) -> None:
    """``frames`` video packets with strictly increasing DTS, PTS showing the reordering
    (distinct), and a decode without any error."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                          "packet=pts,dts", "-of", "json", str(path)],
                         capture_output=True, text=True, timeout=30, check=True)
    packets = json.loads(out.stdout)["packets"]
    assert len(packets) == frames
    dts = [int(p["dts"]) for p in packets]
    pts = [int(p["pts"]) for p in packets]
    assert all(b > a for a, b in zip(dts, dts[1:], strict=False)), dts[:20]
    assert any(b < a for a, b in zip(pts, pts[1:], strict=False)), pts[:20]
    assert len(set(pts)) == len(pts), pts[:20]
    decode = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "null",
                             "-"], capture_output=True, text=True, timeout=60)
    assert decode.returncode == 0 and decode.stderr == "", decode.stderr
