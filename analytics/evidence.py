"""Alert evidence files: annotated JPEG snapshots and clip paths under the data dir."""

from __future__ import annotations

import io
import time
from pathlib import Path

from PIL import Image, ImageDraw

from mediaserver.record.clip import write_file_durably

COLOURS = {"fire": (255, 64, 0), "smoke": (200, 200, 200), "flood": (0, 128, 255),
           "manual": (255, 0, 0)}


def evidence_paths(data_dir: Path, alert_id: str, now: float | None = None
                   ) -> tuple[str, str]:
    """(snapshot, clip) paths relative to the data dir: ``alerts/YYYY-MM-DD/{id}.jpg|.mp4``."""
    day = time.strftime("%Y-%m-%d", time.gmtime(now or time.time()))
    return f"alerts/{day}/{alert_id}.jpg", f"alerts/{day}/{alert_id}.mp4"


def annotated_jpeg(image: Image.Image, kind: str, boxes: list[list[float]],
                   quality: int = 85) -> bytes:
    """The picture with the boxes (x1, y1, x2, y2, confidence) drawn (blocking)."""
    image = image.convert("RGB")
    draw = ImageDraw.Draw(image)
    colour = COLOURS.get(kind, (255, 0, 0))
    width = max(2, image.width // 320)
    for box in boxes:
        x1, y1, x2, y2, conf = box[:5]
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=width)
        draw.text((x1 + 3, max(0, y1 - 12)), f"{kind} {conf:.2f}", fill=colour)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def write_snapshot(data_dir: Path, rel: str, image: Image.Image, kind: str,
                   boxes: list[list[float]]) -> Path:
    """Render and write durably (temp, fsync, rename, fsync dir). Blocking."""
    return write_file_durably(data_dir / rel, annotated_jpeg(image, kind, boxes))
