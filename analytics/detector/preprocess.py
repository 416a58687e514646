"""The one pre-processing of every model (runtime, training features and evaluation alike):
letterbox a picture into the model input, NCHW float32 ``pixel / 255``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

PAD_VALUE = 114


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a picture was fitted into the model input: ``scale`` and padding (``dx``, ``dy``)
    in input pixels; :meth:`to_source` maps boxes back to the original picture."""

    scale: float
    dx: float
    dy: float
    width: int
    height: int

    def to_source(self, boxes: np.ndarray) -> np.ndarray:
        out = boxes.copy()
        out[:, [0, 2]] = ((out[:, [0, 2]] - self.dx) / self.scale).clip(0, self.width)
        out[:, [1, 3]] = ((out[:, [1, 3]] - self.dy) / self.scale).clip(0, self.height)
        return out


def letterbox(image: Image.Image, size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """Fit an RGB picture into ``size`` (w, h) keeping its aspect ratio; HWC uint8."""
    w, h = image.size
    tw, th = size
    scale = min(tw / w, th / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = image.resize((nw, nh), Image.BILINEAR)
    canvas = Image.new("RGB", (tw, th), (PAD_VALUE,) * 3)
    dx, dy = (tw - nw) // 2, (th - nh) // 2
    canvas.paste(resized, (dx, dy))
    return np.asarray(canvas), Letterbox(scale, dx, dy, w, h)


def to_tensor(images: list[np.ndarray]) -> np.ndarray:
    """HWC uint8 pictures → NCHW float32 in 0..1."""
    batch = np.stack(images).astype(np.float32) / 255.0
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


