"""Labelled images of the training folders, with their data source and multi-label targets.

Accepted layouts (several roots are merged):

- a data set root holding ``classify/{train,val}/<class>/*.jpg`` (``fire-flood-v1``, ``-v2``)
  and optionally ``detect/labels/{train,val}/*.txt`` (YOLO boxes: ``0`` fire, ``1`` smoke);
  a fire frame with a smoke box is also a smoke positive;
- ``{train,val}/<class>/*.jpg``;
- ``<class>/*.jpg`` (all training), as ``fusionhub model harvest`` writes it.

``<class>`` is ``fire``, ``smoke``, ``flood`` or anything else (``normal``: no kind). A frame of
class ``fire`` without box labels has an unknown smoke target (web fire photos often show
smoke), masked out of the loss and of the smoke metrics. The data source of an image is its
file-name prefix (``abonia_…``) mapped through :data:`SOURCES`, or the harvest folder's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .network import KINDS

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}

#: file-name prefix → data source (one public origin; the unit of the source-disjoint folds)
SOURCES = {
    "abonia": "abonia-cctv",      # Abonia1 Roboflow fire-8: CCTV/news fire and smoke frames
    "weather": "mwd-weather",     # Multi-class Weather Dataset photos (normal)
    "r15en": "r15en-flood",       # Kaggle flood-area segmentation (mostly aerial flood)
    "kfire": "kaggle-fire",       # Kaggle FIRE dataset (wildfire / buildings, nature normals)
    "wthr": "troy2z-weather",     # street-level waterlogging news photos, smog, rain (normal)
    "ngsim": "traffic-cctv",      # NGSIM US-101 highway cameras (public domain)
    "cctv": "traffic-cctv",
    "svc": "traffic-cctv",
}

UNKNOWN = -1


@dataclass(frozen=True, slots=True)
class Sample:
    path: Path
    source: str
    split: str                      # "train" | "val"
    targets: tuple[int, int, int]   # per KINDS: 1, 0 or UNKNOWN

    @property
    def negative(self) -> bool:
        """A hard negative: no kind present (every target known and 0)."""
        return all(t == 0 for t in self.targets)


def _source(path: Path, default: str) -> str:
    prefix = path.name.split("_", 1)[0]
    return SOURCES.get(prefix, default) if "_" in path.name else default


def _box_kinds(label: Path) -> set[str] | None:
    if not label.is_file():
        return None
    kinds = set()
    for line in label.read_text().splitlines():
        if line.strip():
            idx = int(line.split()[0])
            kinds.add(("fire", "smoke")[idx] if idx in (0, 1) else "")
    return kinds


def _targets(folder: str, boxes: set[str] | None) -> tuple[int, int, int]:
    out = []
    for kind in KINDS:
        if boxes is not None and kind in ("fire", "smoke"):
            out.append(int(kind in boxes))
        elif folder == kind:
            out.append(1)
        elif folder == "fire" and kind == "smoke":
            out.append(UNKNOWN)
        else:
            out.append(0)
    return tuple(out)  # type: ignore[return-value]


def _class_tree(root: Path, split: str, detect: Path | None, source: str) -> list[Sample]:
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for image in sorted(folder.iterdir()):
            if image.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            boxes = None
            if detect is not None:
                boxes = _box_kinds(detect / split / image.with_suffix(".txt").name)
            out.append(Sample(image, _source(image, source), split,
                              _targets(folder.name, boxes)))
    return out


def list_samples(roots: list[Path]) -> list[Sample]:
    """Every labelled image under ``roots`` (see the module doc for the layouts)."""
    samples: list[Sample] = []
    for root in map(Path, roots):
        if not root.is_dir():
            raise FileNotFoundError(f"no data folder {root}")
        base = root / "classify" if (root / "classify").is_dir() else root
        detect = root / "detect" / "labels" if (root / "detect" / "labels").is_dir() else None
        splits = [s for s in ("train", "val") if (base / s).is_dir()]
        if splits:
            for split in splits:
                samples += _class_tree(base / split, split, detect, root.name)
        else:
            samples += _class_tree(base, "train", None, root.name)
    if not samples:
        raise FileNotFoundError(f"no labelled images under {', '.join(map(str, roots))}")
    return samples
