"""The recording's fMP4 segment writer with a stream whose decode order differs from its
presentation order (B-frames), checked with ffprobe and a full decode."""

from __future__ import annotations

import json
import subprocess
import time

from mediaserver.ingest.pyav_file import read_access_units
from mediaserver.record.segment import SegmentWriter


def test_a_segment_of_a_b_frame_stream_has_increasing_dts_and_decodes(tmp_path) -> None:
    source = tmp_path / "bframes.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i",
                    "testsrc=size=160x120:rate=25", "-t", "3", "-c:v", "libx264", "-bf", "2",
                    "-g", "25", "-preset", "superfast", "-pix_fmt", "yuv420p", str(source)],
                   check=True, timeout=60)
    track, aus = read_access_units(source)
    writer = SegmentWriter(tmp_path / "rec", time.time(), track, fragment=1.0)
    writer.write(aus)
    segment = writer.close(time.time())
    assert segment is not None
    path = segment.folder / segment.name
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                          "packet=pts,dts", "-of", "json", str(path)],
                         capture_output=True, text=True, timeout=30, check=True)
    packets = json.loads(out.stdout)["packets"]
    assert len(packets) == len(aus) == 75
    dts = [int(p["dts"]) for p in packets]
    pts = [int(p["pts"]) for p in packets]
    assert all(b > a for a, b in zip(dts, dts[1:], strict=False))
    assert any(b < a for a, b in zip(pts, pts[1:], strict=False))  # B-frames kept in order
    assert len(set(pts)) == len(pts)
    decode = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "null",
                             "-"], capture_output=True, text=True, timeout=60)
    assert decode.returncode == 0 and decode.stderr == "", decode.stderr
