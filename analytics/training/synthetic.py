"""Synthetic training positives, composited onto normal frames with a seeded RNG.

Outdoor smoke and street-level flooding are thin in the reachable data, so training adds
clearly labelled composites (never used for validation or any reported metric):

- :func:`smoke_plume`: a rising, widening plume of fractal-noise smoke (white-grey or dark)
  with a soft alpha, from a point in the lower part of the frame;
- :func:`water_surface`: a water layer over the lower part of the frame (the road region of
  a CCTV view) with an irregular waterline, the scene's own mirrored reflection, a muddy or
  grey tint and ripples.

Each takes a PIL RGB image and a ``random.Random`` and returns a new image: the output is a
pure function of (image, seed).
"""

from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageFilter


def fractal_noise(h: int, w: int, nprng: np.random.Generator, octaves: int = 5) -> np.ndarray:
    """Value noise in 0..1, sum of bilinearly upsampled random grids (coarse to fine)."""
    out = np.zeros((h, w), dtype=np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = 2 ** (o + 2)
        grid = nprng.random((cells + 1, cells + 1)).astype(np.float32)
        layer = np.asarray(Image.fromarray((grid * 255).astype(np.uint8)).resize(
            (w, h), Image.BICUBIC), dtype=np.float32) / 255.0
        out += amp * layer
        total += amp
        amp *= 0.55
    out /= total
    return (out - out.min()) / max(float(out.max() - out.min()), 1e-6)


def smoke_plume(img: Image.Image, rng: random.Random) -> Image.Image:
    w, h = img.size
    nprng = np.random.default_rng(rng.randrange(2**32))
    arr = np.asarray(img, dtype=np.float32)
    x0 = rng.uniform(0.15, 0.85) * w
    y0 = rng.uniform(0.55, 1.0) * h
    top = rng.uniform(0.0, 0.4) * y0
    base_w = rng.uniform(0.02, 0.08) * w
    spread = rng.uniform(0.25, 0.8) * w
    drift = rng.uniform(-0.4, 0.4) * w
    ys = np.arange(h, dtype=np.float32)[:, None]
    xs = np.arange(w, dtype=np.float32)[None, :]
    rise = np.clip((y0 - ys) / max(y0 - top, 1.0), 0.0, 1.0)   # 0 at the source, 1 at the top
    centre = x0 + drift * rise ** 1.5
    width = base_w + spread * rise
    across = np.exp(-0.5 * ((xs - centre) / np.maximum(width * 0.5, 1.0)) ** 2)
    along = np.where((ys <= y0) & (ys >= top - 0.1 * h), 1.0, 0.0) * (1.0 - 0.6 * rise)
    noise = fractal_noise(h, w, nprng)
    alpha = across * along * (0.35 + 0.65 * noise) * rng.uniform(0.45, 0.9)
    alpha = np.asarray(Image.fromarray((alpha * 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(max(1.0, w / 160))), dtype=np.float32) / 255.0
    if rng.random() < 0.6:   # white-grey smoke, a little of the scene's colour
        grey = rng.uniform(150, 235)
    else:                    # dark smoke of burning material
        grey = rng.uniform(35, 95)
    tint = arr.reshape(-1, 3).mean(axis=0)
    colour = 0.85 * grey + 0.15 * tint
    shade = (0.8 + 0.4 * noise)[..., None]
    out = arr * (1 - alpha[..., None]) + (colour * shade) * alpha[..., None]
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def water_surface(img: Image.Image, rng: random.Random) -> Image.Image:
    w, h = img.size
    nprng = np.random.default_rng(rng.randrange(2**32))
    arr = np.asarray(img, dtype=np.float32)
    level = rng.uniform(0.45, 0.8) * h                     # mean waterline (image row)
    line_noise = fractal_noise(1, w, nprng, octaves=4)[0] if w > 1 else np.zeros(1)
    waterline = level + (line_noise - 0.5) * rng.uniform(0.05, 0.2) * h
    ys = np.arange(h, dtype=np.float32)[:, None]
    soft = max(2.0, 0.015 * h)
    alpha = np.clip((ys - waterline[None, :]) / soft, 0.0, 1.0)
    alpha *= rng.uniform(0.75, 0.95)
    # reflection: the scene above the waterline mirrored below it, blurred and darkened
    src_rows = np.clip((2 * waterline[None, :] - ys).astype(int), 0, h - 1)
    ripple = (fractal_noise(h, w, nprng, octaves=3) - 0.5) * rng.uniform(2, 8)
    cols = np.clip((np.arange(w)[None, :] + ripple).astype(int), 0, w - 1)
    reflection = arr[src_rows, cols]
    reflection = np.asarray(Image.fromarray(reflection.astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(rng.uniform(1.0, 3.0))), dtype=np.float32)
    muddy = np.array(rng.choice(((120, 100, 70), (95, 90, 75), (70, 80, 85), (140, 120, 90))),
                     dtype=np.float32)
    mix = rng.uniform(0.3, 0.7)
    shimmer = (0.85 + 0.3 * fractal_noise(h, w, nprng, octaves=4))[..., None]
    water = (reflection * (1 - mix) * 0.8 + muddy * mix) * shimmer
    out = arr * (1 - alpha[..., None]) + water * alpha[..., None]
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


COMPOSITES = {"smoke": smoke_plume, "flood": water_surface}
