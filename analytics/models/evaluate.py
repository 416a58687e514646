"""``fusionhub model eval``: precision and recall per alert kind on a labelled folder.

Layouts: YOLO (``images/`` + ``labels/*.txt`` with ``class cx cy w h`` lines and class names
from ``data.yaml`` ``names`` or ``--names``) or class folders (``DIR/<kind>/*.jpg``, any other
folder name = no alert). Evaluation is per image and kind: an image is a ground-truth positive
of a kind when it has a label of that kind, a predicted positive when the models report that
kind above its threshold. The confusion matrix crosses each image's main ground-truth kind
with its main predicted kind (highest confidence), ``none`` for neither.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from ..detector.detector import Detector
from .catalog import DETECTION_KINDS

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def labelled_images(root: Path, names: list[str] | None = None
                    ) -> list[tuple[Path, list[str]]]:
    """(image, ground-truth kinds in label order) for a YOLO or class-folder layout."""
    root = Path(root)
    if (root / "images").is_dir():
        if names is None:
            data = yaml.safe_load((root / "data.yaml").read_text()) \
                if (root / "data.yaml").is_file() else {}
            raw = data.get("names", {})
            names = [raw[i] for i in sorted(raw)] if isinstance(raw, dict) else list(raw)
        out = []
        for image in sorted((root / "images").rglob("*")):
            if image.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            label = root / "labels" / image.relative_to(root / "images").with_suffix(".txt")
            kinds = []
            if label.is_file():
                for line in label.read_text().splitlines():
                    if line.strip():
                        idx = int(line.split()[0])
                        kind = names[idx] if idx < len(names) else ""
                        if kind in DETECTION_KINDS:
                            kinds.append(kind)
            out.append((image, kinds))
        return out
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        kinds = [folder.name] if folder.name in DETECTION_KINDS else []
        out += [(image, kinds) for image in sorted(folder.rglob("*"))
                if image.suffix.lower() in IMAGE_SUFFIXES]
    return out


def evaluate(detector: Detector, samples: Iterable[tuple[Path, list[str]]],
             detect_one) -> dict[str, Any]:
    """``detect_one(detector, path)`` → detections JSON list. Returns the report."""
    labels = [*DETECTION_KINDS, "none"]
    matrix = {t: dict.fromkeys(labels, 0) for t in labels}
    counts = {k: {"tp": 0, "fp": 0, "fn": 0, "tn": 0} for k in DETECTION_KINDS}
    images = 0
    for path, truth in samples:
        dets = detect_one(detector, path)
        images += 1
        predicted = {d["kind"] for d in dets}
        for kind in DETECTION_KINDS:
            t, p = kind in truth, kind in predicted
            counts[kind]["tp" if t and p else "fn" if t else "fp" if p else "tn"] += 1
        best = max(dets, key=lambda d: d["confidence"])["kind"] if dets else "none"
        matrix[truth[0] if truth else "none"][best] += 1
    per_kind = {}
    for kind, c in counts.items():
        precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else None
        recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else None
        per_kind[kind] = {**c, "precision": precision, "recall": recall}
    return {"images": images, "kinds": per_kind, "labels": labels,
            "confusion": [[matrix[t][p] for p in labels] for t in labels]}


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """``eval.json`` and ``confusion.png`` (matplotlib, Agg) under ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "eval.json"
    json_path.write_text(json.dumps(report, indent=2))
    labels = report["labels"]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.imshow(report["confusion"], cmap="Blues")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    for i, row in enumerate(report["confusion"]):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center")
    fig.tight_layout()
    png_path = out_dir / "confusion.png"
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return json_path, png_path
