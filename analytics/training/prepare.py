"""Build the training view of a data set: originals + seeded surveillance variants.

Only the **train** split is augmented; ``val`` is linked unchanged, so evaluation never
sees a training image. Files are symlinked where unchanged; variants are JPEGs whose name
says which degradation made them (``<stem>__aug1_blur+jpeg.jpg``).
"""

from __future__ import annotations

import logging
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .augment import Box, degrade, zoom_out

logger = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class PrepareStats:
    originals: int
    variants: int
    negatives: int


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS)


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.symlink_to(src.resolve())


def _read_boxes(path: Path) -> list[Box]:
    if not path.exists():
        return []
    boxes = []
    for line in path.read_text().split("\n"):
        parts = line.split()
        if len(parts) == 5:
            boxes.append((int(parts[0]), *map(float, parts[1:])))
    return boxes


def _write_boxes(path: Path, boxes: list[Box]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{c} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n"
                            for c, cx, cy, w, h in boxes))


def prepare_detect(src: Path, out: Path, *, seed: int, aug_fraction: float,
                   zoom_fraction: float, negatives: list[Path]) -> PrepareStats:
    """``src`` is a YOLO set (images/{train,val}, labels/{train,val}); writes ``out``."""
    rng = random.Random(seed)
    shutil.rmtree(out, ignore_errors=True)
    n_var = 0
    train = _images(src / "images" / "train")
    for img_path in train:
        lbl = src / "labels" / "train" / f"{img_path.stem}.txt"
        _link(img_path, out / "images" / "train" / img_path.name)
        boxes = _read_boxes(lbl)
        _write_boxes(out / "labels" / "train" / f"{img_path.stem}.txt", boxes)
        if rng.random() >= aug_fraction:
            continue
        img = Image.open(img_path).convert("RGB")
        tag = ""
        if boxes and rng.random() < zoom_fraction:
            img, boxes = zoom_out(img, boxes, rng)
            tag = "zoom+"
        img, names = degrade(img, rng)
        name = f"{img_path.stem}__aug1_{tag}{names}"
        img.save(out / "images" / "train" / f"{name}.jpg", quality=90)
        _write_boxes(out / "labels" / "train" / f"{name}.txt", boxes)
        n_var += 1
    # hard negatives (train split of the classification 'normal' class): empty labels,
    # half of them with burnt-in overlays so OSD text is not a fire cue
    for neg in negatives:
        img = Image.open(neg).convert("RGB")
        if rng.random() < 0.5:
            img, _ = degrade(img, rng, 1)
        img.save(out / "images" / "train" / f"neg_{neg.stem}.jpg", quality=90)
        _write_boxes(out / "labels" / "train" / f"neg_{neg.stem}.txt", [])
    for img_path in _images(src / "images" / "val"):
        _link(img_path, out / "images" / "val" / img_path.name)
        lbl = src / "labels" / "val" / f"{img_path.stem}.txt"
        _write_boxes(out / "labels" / "val" / f"{img_path.stem}.txt", _read_boxes(lbl))
    logger.info("detect set %s: %d train originals, %d variants, %d hard negatives",
                out, len(train), n_var, len(negatives))
    return PrepareStats(len(train), n_var, len(negatives))


def prepare_classify(src: Path, out: Path, *, seed: int, target_per_class: int
                     ) -> PrepareStats:
    """``src`` is an ImageFolder set ({train,val}/<class>/*.jpg). Minority classes are
    topped up to ``target_per_class`` with degraded variants (balancing by augmentation);
    every class gets at least 15 % variants so degradations are not a class cue."""
    rng = random.Random(seed)
    shutil.rmtree(out, ignore_errors=True)
    n_orig = n_var = 0
    for cls_dir in sorted(p for p in (src / "train").iterdir() if p.is_dir()):
        files = _images(cls_dir)
        n_orig += len(files)
        for f in files:
            _link(f, out / "train" / cls_dir.name / f.name)
        want = max(target_per_class - len(files), int(0.15 * len(files)))
        for i in range(want):
            f = files[i % len(files)] if i >= len(files) else rng.choice(files)
            img, names = degrade(Image.open(f).convert("RGB"), rng)
            img.save(out / "train" / cls_dir.name / f"{f.stem}__aug{i}_{names}.jpg", quality=90)
            n_var += 1
    for cls_dir in sorted(p for p in (src / "val").iterdir() if p.is_dir()):
        for f in _images(cls_dir):
            _link(f, out / "val" / cls_dir.name / f.name)
    logger.info("classify set %s: %d train originals, %d variants", out, n_orig, n_var)
    return PrepareStats(n_orig, n_var, 0)
