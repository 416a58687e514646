"""``fusionhub model metrics`` (``make models-eval``): every number of the model card.

Runs :mod:`.eval` on the shipped scene model named in the catalogue and writes
``models/metrics.json``, the precision/recall curves (PNG) and the calibrated thresholds into
``configs/models.yaml``. Besides the operating points it records two design studies:

- **input size**: the source-disjoint operating point at the shipped and other input sizes
  (``--compare``), each trained on the same clean + one augmented pass, overall and on
  frames whose fire is small (largest fire box < 3 % of the frame, as a distant
  fire on a 352×288 camera);
- **usual scene**: cosine similarity of a frame's embedding to the same scene re-lit and
  re-framed (should stay above the suppression level) and to the same frame with a synthetic
  smoke plume or water layer (should fall below it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..detector.backends import OnnxBackend
from ..detector.detector import Detector
from ..detector.preprocess import letterbox, to_tensor
from ..models.catalog import load_catalog
from .dataset import Sample, list_samples
from .eval import (
    choose_thresholds,
    clean_rows,
    operating_point,
    per_source,
    pr_curves,
    source_disjoint_scores,
)
from .features import Features, extract
from .network import KINDS

logger = logging.getLogger(__name__)

SMALL_FIRE = 0.03
#: the input-size study trains every size on the same (cheaper) passes
STUDY_PASSES = ("clean", "aug1")


def _scene_model(catalog) -> tuple[str, Any]:
    for name, spec in catalog.active():
        if spec.task == "scene":
            return name, spec
    raise SystemExit("the catalogue's default models include no scene model")


def _small_fire(samples: list[Sample], data: list[Path]) -> np.ndarray:
    """Images whose largest fire box covers less than SMALL_FIRE of the frame."""
    out = np.zeros(len(samples), dtype=bool)
    labels = [Path(r) / "detect" / "labels" for r in data]
    for i, s in enumerate(samples):
        if s.targets[0] != 1:
            continue
        for root in labels:
            label = root / s.split / s.path.with_suffix(".txt").name
            if label.is_file():
                areas = [float(p[3]) * float(p[4]) for p in
                         (line.split() for line in label.read_text().splitlines())
                         if len(p) == 5 and p[0] == "0"]
                out[i] = bool(areas) and max(areas) < SMALL_FIRE
    return out


def _speed(onnx: Path, size: tuple[int, int], image: Path, runs: int = 60) -> dict[str, Any]:
    backend = OnnxBackend(onnx, threads=1)
    picture = Image.open(image).convert("RGB").resize((352, 288))
    pre, inf, cpu = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        x = to_tensor([letterbox(picture, size)[0]])
        t1, c1 = time.perf_counter(), time.process_time()
        backend.run_all(x)
        t2, c2 = time.perf_counter(), time.process_time()
        pre.append((t1 - t0) * 1000)
        inf.append((t2 - t1) * 1000)
        cpu.append((c2 - c1) * 1000)
    inf, cpu = inf[5:], cpu[5:]
    # wall time waits for the CPU on a shared host; CPU time is the cost on one core
    return {"threads": 1, "batch": 1, "median_ms": round(float(np.median(inf)), 2),
            "p90_ms": round(float(np.percentile(inf, 90)), 2),
            "cpu_ms": round(float(np.mean(cpu)), 2),
            "preprocess_ms": round(float(np.median(pre)), 2), "runs": len(inf),
            "load_average": round(os.getloadavg()[0], 1)}


def _usual_scene_study(samples: list[Sample], feats: Features, onnx: Path,
                       size: tuple[int, int], frames: int = 120) -> dict[str, Any]:
    """Cosine similarity of a normal frame's embedding to: its augmented pass (same scene,
    other light, framing and degradations) and the same frame with only a synthetic smoke
    plume or water layer added (an event in a known scene)."""
    import random

    from .synthetic import COMPOSITES

    def cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        return (a * b).sum(1)

    def summary(sim: np.ndarray) -> dict[str, Any]:
        return {"frames": len(sim), **{f"p{q}": round(float(np.percentile(sim, q)), 4)
                                       for q in (5, 25, 50, 75, 95)}}

    clean = clean_rows(feats)
    rows = np.flatnonzero(feats.passes == "aug1")
    rows = rows[[samples[i].negative for i in feats.index[rows]]]
    out = {"aug1": summary(cos(feats.x[rows], feats.x[clean[feats.index[rows]]]))}
    backend = OnnxBackend(onnx, threads=1)
    picked = [i for i, s in enumerate(samples) if s.negative][::7][:frames]
    for kind, composite in COMPOSITES.items():
        embeds = []
        for i in picked:
            image = Image.open(samples[i].path).convert("RGB")
            event = composite(image, random.Random(i))
            embeds.append(backend.run_all(to_tensor([letterbox(event, size)[0]]))[-1][0])
        out[kind] = summary(cos(np.array(embeds), feats.x[clean[picked]]))
    return out


def _random_split(detector: Detector, samples: list[Sample], batch: int = 16) -> np.ndarray:
    """Scores of the shipped model through the runtime detector (NaN outside ``val``)."""
    scores = np.full((len(samples), len(KINDS)), np.nan, dtype=np.float32)
    val = [i for i, s in enumerate(samples) if s.split == "val"]
    for start in range(0, len(val), batch):
        chunk = val[start:start + batch]
        arrays = [letterbox(Image.open(samples[i].path).convert("RGB"),
                            detector.input_size)[0] for i in chunk]
        scores[chunk] = next(iter(detector.scores(arrays).values()))
    return scores


def _write_thresholds(catalog_path: Path, model: str, thr: dict[str, float]) -> None:
    """Replace the ``thresholds:`` line of ``model`` in the catalogue, keeping its comments."""
    text = catalog_path.read_text()
    pattern = re.compile(rf"(\n  {re.escape(model)}:\n(?:    .*\n)*?    thresholds: )\{{[^}}]*\}}")
    new = "{" + ", ".join(f"{k}: {v:.3f}" for k, v in thr.items()) + "}"
    text, n = pattern.subn(lambda m: m.group(1) + new, text, count=1)
    if n != 1:
        raise SystemExit(f"no thresholds line for model {model} in {catalog_path}")
    catalog_path.write_text(text)


def compute(data: list[Path], catalog_path: Path, *, max_false_alarm: float, out: Path,
            curves: Path, cache: Path, compare: list[int], threads: int = 1) -> dict[str, Any]:
    catalog = load_catalog(catalog_path)
    name, spec = _scene_model(catalog)
    size = tuple(spec.input)
    samples = list_samples(data)
    feats = extract(samples, spec.file, size, cache, threads=threads)
    oof = source_disjoint_scores(samples, feats)
    negative = np.array([s.negative for s in samples])
    thr, budget = choose_thresholds(oof, negative, max_false_alarm)
    small = _small_fire(samples, data)
    report: dict[str, Any] = {
        "generated_by": "scripts/model_card.sh (fusionhub model metrics)",
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": platform.processor() or platform.machine(),
        "max_false_alarm_target": max_false_alarm,
        "data": {"roots": [p.name for p in data], "images": len(samples),
                 "sources": sorted({s.source for s in samples}),
                 "hard_negatives": int(negative.sum())},
        "thresholds": thr, "per_kind_false_alarm_budget": round(budget, 4),
        "source_disjoint": operating_point(samples, oof, thr),
        "source_disjoint_small_fire": operating_point(samples, oof, thr, small),
        "source_disjoint_by_source": per_source(samples, oof, thr),
    }
    tuned = catalog.models[name].model_copy(update={"thresholds": thr})
    detector = Detector(catalog.model_copy(update={"models": {name: tuned},
                                                   "default": (name,)}))
    val_scores = _random_split(detector, samples)
    val = np.array([s.split == "val" for s in samples])
    report["random_split"] = operating_point(samples, np.nan_to_num(val_scores), thr, val)
    report["usual_scene_study"] = _usual_scene_study(samples, feats, Path(spec.file), size)
    report["input_size_study"] = {}
    for other in [size[0], *compare]:
        osize = (other, other)
        if osize == size:
            onnx = Path(spec.file)
        else:
            from .train import feature_extractor

            onnx = feature_extractor(osize, cache)
        ofeats = extract(samples, onnx, osize, cache, passes=STUDY_PASSES, threads=threads)
        ooof = source_disjoint_scores(samples, ofeats)
        othr, _ = choose_thresholds(ooof, negative, max_false_alarm)
        report["input_size_study"][f"{other}x{other}"] = _size_entry(samples, ooof, othr,
                                                                     small, negative)
    fixture = next(s.path for s in samples if s.targets[0] == 1)
    report["model"] = {
        "name": name, "file": str(Path(spec.file).relative_to(catalog.base)),
        "sha256": hashlib.sha256(Path(spec.file).read_bytes()).hexdigest(),
        "size_bytes": Path(spec.file).stat().st_size, "input": list(size),
        "classes": {str(k): v for k, v in spec.classes.items()},
        "speed": _speed(Path(spec.file), size, fixture)}
    out.write_text(json.dumps(report, indent=2) + "\n")
    pr_curves(samples, {"source-disjoint (out of fold)": (oof, np.ones(len(samples), bool)),
                        "random split val (shipped model)": (np.nan_to_num(val_scores), val)},
              thr, curves)
    _write_thresholds(catalog_path, name, thr)
    return report


def _size_entry(samples, scores, thr, small, negative) -> dict[str, Any]:
    op = operating_point(samples, scores, thr)
    sm = operating_point(samples, scores, thr, small)
    return {"thresholds": thr, **{k: op[k]["recall"] for k in KINDS},
            "small_fire_recall": sm["fire"]["recall"], "small_fire_images": int(small.sum()),
            "false_alarm_any": op["false_alarm_any"], "negatives": int(negative.sum())}
