"""Build the demo's fire clip from the CC BY 4.0 frames of one video of the v1 detection set.

The Abonia1 / Roboflow "fire-wrpgm" frames (CC BY 4.0) of a source video are named
``<video>_mp4-<n>_jpg…``; this puts one video's frames in order, restores the 16:9 aspect the
export stretched to a square, holds each for ``hold`` seconds and encodes H.264 with a
keyframe every second (what the hub's sampler decodes)::

    python -m analytics.training.demo_clip ../shared/datasets/fire-flood-v1 fire1_mp4 \\
        models/demo/fire-demo.mp4 2
"""

from __future__ import annotations

import csv
import re
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

FPS = 10
SIZE = (640, 360)


def frames_of(dataset: Path, video: str) -> list[tuple[int, Path, str]]:
    """(frame number, file, original path) of ``video``'s detection frames, in order."""
    out = []
    with open(dataset / "SOURCES.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            m = re.match(rf"{re.escape(video)}-(\d+)_jpg", Path(row["source_path"]).name)
            if row["task"] == "detect" and m:
                out.append((int(m.group(1)), dataset / row["file"], row["source_path"]))
    return sorted(out)


def build(dataset: Path, video: str, out: Path, *, hold: float = 2.0) -> list[str]:
    frames = frames_of(dataset, video)
    if not frames:
        raise SystemExit(f"no frames of {video} in {dataset}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        stream.codec_context.gop_size = FPS
        stream.codec_context.time_base = Fraction(1, FPS)
        stream.options = {"crf": "30", "preset": "veryslow", "tune": "stillimage"}
        pts = 0
        for _, path, _ in frames:
            picture = np.asarray(Image.open(path).convert("RGB").resize(SIZE, Image.LANCZOS))
            for _ in range(round(hold * FPS)):
                frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                frame.pts = pts
                pts += 1
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return [source for _, _, source in frames]


if __name__ == "__main__":
    hold = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
    for line in build(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), hold=hold):
        print(line)
