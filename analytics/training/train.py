"""Train a YOLOv8 detector or classifier with ultralytics (optional ``train`` extra).

Fixed seeds, random init from ``yolov8n.yaml`` / ``yolov8n-cls.yaml`` unless ``--weights``
names a local checkpoint (no downloads), offline surveillance augmentation
(:mod:`.prepare`) plus ultralytics' online augmentation tuned for CCTV (mosaic, zoom-out
scale, HSV, no vertical flips), then ONNX export with reference outputs (:mod:`.export`).
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .prepare import _images, prepare_classify, prepare_detect

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    data: Path                      # detect: images/ + labels/; classify: {train,val}/<cls>
    task: str                       # detect | classify
    out: Path                       # ONNX file to write
    imgsz: int = 256
    epochs: int = 30
    time_hours: float | None = None  # wall-clock cap (ultralytics scales the LR schedule)
    batch: int = 16
    seed: int = 0
    threads: int = 1
    weights: str | None = None       # local .pt to fine-tune; default: random init
    aug_fraction: float = 0.2        # detect: share of train images given a degraded copy
    negatives: Path | None = None    # detect: folder of hard-negative images (train split!)
    negatives_max: int = 120
    target_per_class: int = 450      # classify: top minority classes up with variants
    workdir: Path | None = None
    reference_images: list[Path] = field(default_factory=list)


def _seed_everything(seed: int, threads: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def _prepare(cfg: TrainConfig, work: Path) -> str:
    if cfg.task == "detect":
        negatives: list[Path] = []
        if cfg.negatives:
            pool = _images(cfg.negatives)
            negatives = random.Random(cfg.seed).sample(pool, min(cfg.negatives_max, len(pool)))
        ds = work / "detect"
        prepare_detect(cfg.data, ds, seed=cfg.seed, aug_fraction=cfg.aug_fraction,
                       zoom_fraction=0.5, negatives=negatives)
        names = _class_names(cfg.data)
        yaml_path = work / "data.yaml"
        yaml_path.write_text(f"path: {ds}\ntrain: images/train\nval: images/val\nnames:\n"
                             + "".join(f"  {i}: {n}\n" for i, n in enumerate(names)))
        return str(yaml_path)
    ds = work / "classify"
    prepare_classify(cfg.data, ds, seed=cfg.seed, target_per_class=cfg.target_per_class)
    return str(ds)


def _class_names(data: Path) -> list[str]:
    import yaml

    names = yaml.safe_load((data / "data.yaml").read_text())["names"]
    return [names[i] for i in sorted(names)] if isinstance(names, dict) else list(names)


def train(cfg: TrainConfig) -> Path:
    """Run the whole recipe; returns the exported ONNX path."""
    os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="fh-yolo-cfg-"))
    from .tvshim import ensure_torchvision

    ensure_torchvision()
    _seed_everything(cfg.seed, cfg.threads)
    from ultralytics import YOLO

    work = cfg.workdir or Path(tempfile.mkdtemp(prefix=f"fh-train-{cfg.task}-"))
    work.mkdir(parents=True, exist_ok=True)
    data = _prepare(cfg, work)
    arch = cfg.weights or ("yolov8n.yaml" if cfg.task == "detect" else "yolov8n-cls.yaml")
    model = YOLO(arch, task=cfg.task)
    args = dict(data=data, epochs=cfg.epochs, imgsz=cfg.imgsz, batch=cfg.batch, workers=0,
                device="cpu", seed=cfg.seed, deterministic=True, amp=False, plots=False,
                project=str(work / "runs"), name=cfg.task, exist_ok=True, val=True,
                pretrained=False, patience=100)
    if cfg.time_hours:
        args["time"] = cfg.time_hours
    if cfg.task == "detect":
        # CCTV: fixed horizon (no vertical flips / big rotations), zoom-out for small objects
        args.update(mosaic=1.0, scale=0.6, translate=0.1, degrees=3.0, flipud=0.0,
                    fliplr=0.5, hsv_h=0.01, hsv_s=0.6, hsv_v=0.5, close_mosaic=3)
    else:
        args.update(hsv_h=0.01, hsv_s=0.5, hsv_v=0.5, fliplr=0.5, erasing=0.3)
    logger.info("training %s from %s on %s (%s)", cfg.task, arch, data, work)
    model.train(**args)
    best = work / "runs" / cfg.task / "weights" / "best.pt"
    if not best.exists():
        best = work / "runs" / cfg.task / "weights" / "last.pt"
    from .export import export_onnx

    return export_onnx(best, cfg.task, cfg.imgsz, cfg.out, cfg.reference_images)
