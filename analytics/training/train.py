"""``fusionhub model train``: features once, a fast multi-label head, ONNX export.

1. List the labelled images of every ``--data`` folder (:mod:`.dataset`).
2. Export the pretrained backbone (ImageNet EfficientNet-Lite0, frozen) with an empty head and
   compute the cached features of each pass through ONNX Runtime (:mod:`.features`).
3. Fit the head on the ``train`` split (``val`` stays unseen for the random-split report;
   folders without splits are all training, e.g. a harvest).
4. Export the shipped ONNX and its PyTorch reference outputs (:mod:`.export`).

Deterministic for a given seed and data (seeded augmentation and composites, full-batch
deterministic head fit). Needs the ``[train]`` extra (torch) for the export steps only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from .dataset import list_samples
from .eval import select_rows
from .export import export_scene
from .features import PASSES, extract
from .head import fit_head
from .network import zero_head

logger = logging.getLogger(__name__)

DEFAULT_SIZE = (224, 224)


@dataclass
class TrainConfig:
    data: list[Path]
    out: Path
    size: tuple[int, int] = DEFAULT_SIZE
    seed: int = 0
    threads: int = 1
    cache: Path = Path("data/features")
    passes: tuple[str, ...] = PASSES
    reference_images: list[Path] = field(default_factory=list)


def feature_extractor(size: tuple[int, int], cache: Path) -> Path:
    """The backbone with an empty head as ONNX (exported once per input size)."""
    path = cache / f"extractor-{size[0]}x{size[1]}.onnx"
    if not path.is_file():
        export_scene(path, size, zero_head(), [])
    return path


def train(cfg: TrainConfig) -> dict:
    samples = list_samples(cfg.data)
    extractor = feature_extractor(cfg.size, cfg.cache)
    feats = extract(samples, extractor, cfg.size, cfg.cache, passes=cfg.passes, seed=cfg.seed,
                    threads=cfg.threads)
    rows = select_rows(samples, feats, split="train")
    head = fit_head(feats.x[rows], feats.targets[rows])
    export_scene(cfg.out, cfg.size, head, cfg.reference_images)
    counts = {k: int((feats.targets[rows][:, c] == 1).sum())
              for c, k in enumerate(("fire", "smoke", "flood"))}
    summary = {"out": str(cfg.out), "images": len(samples), "training_rows": int(rows.sum()),
               "synthetic_rows": int((feats.synthetic & rows).sum()),
               "positives": counts, "negatives": int((feats.targets[rows] == 0).all(1).sum()),
               "input": list(cfg.size), "seed": cfg.seed}
    cfg.out.with_name(f"{cfg.out.stem}.train.json").write_text(json.dumps(summary, indent=2))
    logger.info("[train] %s", summary)
    return summary
