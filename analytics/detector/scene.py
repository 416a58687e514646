"""Post-processing of the multi-label scene model (``task: scene``), pure numpy.

The model returns per image one sigmoid score per kind, the class-activation map (``cam``,
the head's logit per feature cell) and an embedding. :func:`decide` applies the per-kind
thresholds (used by the runtime and by every evaluation, so the published numbers are the
ones production runs); :func:`cam_box` turns the map of a positive kind into the box the
operator sees: the connected cells around the peak whose activation is at least half way
from the map's minimum to its peak, in input pixels.
"""

from __future__ import annotations

import numpy as np

#: share of the way from the map's minimum to its peak a cell needs to be part of the box
CAM_LEVEL = 0.5


def decide(scores: np.ndarray, kinds: tuple[str, ...], thresholds: dict[str, float]
           ) -> list[list[tuple[int, str, float]]]:
    """``scores`` ``[N, K]`` → per image the (class index, kind, score) at or above the kind's
    threshold; kinds mapped to ``''`` are ignored."""
    out = []
    for row in scores:
        out.append([(c, kind, float(row[c])) for c, kind in enumerate(kinds)
                    if kind and float(row[c]) >= thresholds[kind]])
    return out


def cam_box(cam: np.ndarray, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """One kind's ``[h, w]`` activation map → ``x1, y1, x2, y2`` in input pixels (``size`` is
    the input's width, height)."""
    h, w = cam.shape
    lo, hi = float(cam.min()), float(cam.max())
    peak = np.unravel_index(int(np.argmax(cam)), cam.shape)
    mask = cam >= lo + CAM_LEVEL * (hi - lo) if hi > lo else np.ones_like(cam, dtype=bool)
    seen = np.zeros_like(mask)
    stack = [peak]
    seen[peak] = True
    ys, xs = [], []
    while stack:
        y, x = stack.pop()
        ys.append(y)
        xs.append(x)
        for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
            if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                seen[ny, nx] = True
                stack.append((ny, nx))
    cw, ch = size[0] / w, size[1] / h
    return (min(xs) * cw, min(ys) * ch, (max(xs) + 1) * cw, (max(ys) + 1) * ch)
