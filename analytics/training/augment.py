"""Surveillance / body-cam degradations applied offline, with a seeded RNG.

Each function takes a PIL RGB image and a ``random.Random`` and returns a new image, so the
training features are a pure function of (source files, seed).
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont


def blur(img: Image.Image, rng: random.Random) -> Image.Image:
    """Defocus or motion blur (body-cams, dirty domes)."""
    if rng.random() < 0.5:
        return img.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 3.0)))
    k = rng.choice((5, 7, 9))
    axis = rng.choice((0, 1))  # vertical or horizontal streak
    arr = np.asarray(img, dtype=np.float32)
    acc = sum(np.roll(arr, s, axis=axis) for s in range(-(k // 2), k // 2 + 1))
    return Image.fromarray(np.clip(acc / k, 0, 255).astype(np.uint8))


def low_light(img: Image.Image, rng: random.Random) -> Image.Image:
    """Night gain: darker, lower contrast, sensor noise, sometimes near-monochrome (IR)."""
    arr = np.asarray(img, dtype=np.float32) / 255.0
    arr = arr ** rng.uniform(1.4, 2.4) * rng.uniform(0.35, 0.7)
    nprng = np.random.default_rng(rng.randrange(2**32))
    arr = arr + nprng.normal(0.0, rng.uniform(0.01, 0.04), arr.shape).astype(np.float32)
    if rng.random() < 0.25:
        arr = np.repeat(arr.mean(axis=2, keepdims=True), 3, axis=2)
    return Image.fromarray((np.clip(arr, 0, 1) * 255).astype(np.uint8))


def jpeg(img: Image.Image, rng: random.Random) -> Image.Image:
    """Heavy compression, optionally after down/up-scaling (sub-stream quality)."""
    w, h = img.size
    if rng.random() < 0.5:
        f = rng.uniform(0.35, 0.6)
        img = img.resize((max(8, int(w * f)), max(8, int(h * f))), Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=rng.randint(8, 30))
    buf.seek(0)
    return Image.open(buf).convert("RGB").resize((w, h), Image.BILINEAR)


def overlay(img: Image.Image, rng: random.Random) -> Image.Image:
    """Burnt-in OSD: timestamp, camera name, a channel-logo box (as CCTV / news frames)."""
    img = img.copy()
    w, h = img.size
    draw = ImageDraw.Draw(img)
    size = max(10, int(h * rng.uniform(0.035, 0.06)))
    font = ImageFont.load_default(size=size)
    stamp = (f"20{rng.randint(18, 26)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} "
             f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}")
    colour = rng.choice(((255, 255, 255), (255, 255, 0), (200, 200, 200)))
    y = rng.choice((int(h * 0.02), int(h * 0.92) - size))
    draw.text((int(w * 0.02), y), stamp, fill=colour, font=font, stroke_width=1,
              stroke_fill=(0, 0, 0))
    draw.text((int(w * 0.6), int(h * 0.92) - size), f"CAM {rng.randint(1, 64):02d}",
              fill=colour, font=font, stroke_width=1, stroke_fill=(0, 0, 0))
    if rng.random() < 0.5:
        bw, bh = int(w * rng.uniform(0.08, 0.15)), int(h * rng.uniform(0.05, 0.09))
        x0, y0 = w - bw - int(w * 0.03), int(h * 0.03)
        draw.rectangle((x0, y0, x0 + bw, y0 + bh), fill=rng.choice(((200, 0, 0), (0, 60, 160),
                                                                    (30, 30, 30))))
        draw.text((x0 + 3, y0 + 2), rng.choice(("LIVE", "NEWS", "REC")), fill=(255, 255, 255),
                  font=font)
    return img


PIXEL_AUGS: dict[str, Callable[[Image.Image, random.Random], Image.Image]] = {
    "blur": blur, "lowlight": low_light, "jpeg": jpeg, "overlay": overlay,
}


def degrade(img: Image.Image, rng: random.Random, n: int | None = None) -> tuple[Image.Image, str]:
    """Apply 1-2 random pixel degradations; returns the image and a tag naming them."""
    names = rng.sample(sorted(PIXEL_AUGS), n or rng.choice((1, 1, 2)))
    for name in names:
        img = PIXEL_AUGS[name](img, rng)
    return img, "+".join(names)
