"""Rerunnable evaluation of the shipped ONNX models (ONNX Runtime + numpy only).

* fire/smoke detector: per-class AP50, precision/recall at the chosen threshold on the
  detection val split (IoU 0.5), and false-alarm rate (share of images with any box at or
  above the threshold) on hard negatives — the ``normal`` class of the classification val
  split (sunsets, rain, cloud, sun, CCTV frames without fire).
* flood classifier: per-class precision/recall (argmax) and the flood scene decision
  (p(flood) >= threshold) on the classification val split.

Thresholds are chosen on the **validation** split only: the hard negatives are split in two
fixed halves (even / odd file index); the *calibration* half sets the threshold (best F1 on
val positives with false alarms <= target), the *report* half measures the false-alarm rate
the threshold was not tuned on. Writes ``metrics.json`` and prints a summary.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import logging
import platform
import time
from pathlib import Path

import numpy as np
from PIL import Image

from .infer import OnnxModel, letterbox
from .metrics import average_precision, choose_threshold, false_alarm_rate, match, pr_at
from .prepare import _images

logger = logging.getLogger(__name__)

DETECT_FILE = "fire-smoke-detect.onnx"
CLASSIFY_FILE = "flood-classify.onnx"


def _names(model: OnnxModel) -> list[str]:
    names = ast.literal_eval(model.metadata.get("names", "{}"))
    return [names[i] for i in sorted(names)]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _neg_category(data: Path) -> dict[str, str]:
    """file name → hard-negative category (cloudy / rain / shine / sunrise / cctv)."""
    cats: dict[str, str] = {}
    with open(data / "SOURCES.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["task"] == "classify" and row["label"] == "normal":
                parts = row["source_path"].split("/")
                cat = parts[-2] if "weather" in row["source_path"] else "cctv"
                cats[Path(row["file"]).name] = cat
    return cats


def _gt(label: Path, w: int, h: int) -> list[tuple[int, list[float]]]:
    out = []
    if label.exists():
        for line in label.read_text().split("\n"):
            p = line.split()
            if len(p) == 5:
                c, cx, cy, bw, bh = int(p[0]), *map(float, p[1:])
                out.append((c, [(cx - bw / 2) * w, (cy - bh / 2) * h,
                                (cx + bw / 2) * w, (cy + bh / 2) * h]))
    return out


def _halves(files: list[Path]) -> tuple[list[Path], list[Path]]:
    return files[0::2], files[1::2]


def eval_detect(model: OnnxModel, data: Path, negatives: list[Path], max_fa: float,
                iou_thr: float = 0.45) -> dict:
    names = _names(model)
    val = _images(data / "detect" / "images" / "val")
    scored: dict[int, list[tuple[float, bool]]] = {c: [] for c in range(len(names))}
    n_gt = {c: 0 for c in range(len(names))}
    for path in val:
        img = Image.open(path)
        gts = _gt(data / "detect" / "labels" / "val" / f"{path.stem}.txt", *img.size)
        dets = model.detect(img, conf=0.01, iou=iou_thr)
        for c in scored:
            g = np.array([b for k, b in gts if k == c]).reshape(-1, 4)
            n_gt[c] += len(g)
            scored[c] += match([(d.score, d.box) for d in dets if d.cls == c], g)
    neg_max: dict[int, list[float]] = {c: [] for c in scored}
    for path in negatives:
        dets = model.detect(Image.open(path), conf=0.01, iou=iou_thr)
        for c in scored:
            neg_max[c].append(max([d.score for d in dets if d.cls == c], default=0.0))
    calib_idx = list(range(0, len(negatives), 2))
    report_idx = list(range(1, len(negatives), 2))
    per_class = {}
    for c, name in enumerate(names):
        def f1(t: float, c: int = c) -> float:
            p, r = pr_at(scored[c], n_gt[c], t)
            return 2 * p * r / (p + r) if p + r else 0.0

        calib = [neg_max[c][i] for i in calib_idx]
        thr, why = choose_threshold(calib, f1, max_fa)
        p, r = pr_at(scored[c], n_gt[c], thr)
        per_class[name] = {
            "threshold": thr, "threshold_rule": why, "val_instances": n_gt[c],
            "ap50": round(average_precision(scored[c], n_gt[c]), 4),
            "precision": round(p, 4), "recall": round(r, 4),
            "false_alarm_calibration": round(false_alarm_rate(calib, thr), 4),
            "false_alarm_report": round(false_alarm_rate([neg_max[c][i] for i in report_idx],
                                                         thr), 4),
        }
    thr = [per_class[n]["threshold"] for n in names]
    any_fa = [any(neg_max[c][i] >= thr[c] for c in scored) for i in range(len(negatives))]
    return {"val_images": len(val), "negatives": len(negatives), "per_class": per_class,
            "false_alarm_any_class_report": round(float(np.mean([any_fa[i] for i in
                                                                 report_idx])), 4),
            "false_alarm_any_class_all": round(float(np.mean(any_fa)), 4),
            "_neg_any": any_fa}


def eval_classify(model: OnnxModel, data: Path, max_fa: float, decision: str = "flood"
                  ) -> dict:
    names = _names(model)
    k = names.index(decision)
    y_true, probs, crop_pred, files = [], [], [], []
    for ci, name in enumerate(names):
        for path in _images(data / "classify" / "val" / name):
            img = Image.open(path)
            files.append(path.name)
            y_true.append(ci)
            probs.append(model.classify(img))
            crop_pred.append(int(model.classify(img, mode="crop").argmax()))
    y = np.array(y_true)
    prob = np.array(probs)
    pred = prob.argmax(1)
    per_class = {}
    for ci, name in enumerate(names):
        tp = int(np.sum((pred == ci) & (y == ci)))
        per_class[name] = {"val_images": int(np.sum(y == ci)),
                           "precision": round(tp / max(1, int(np.sum(pred == ci))), 4),
                           "recall": round(tp / max(1, int(np.sum(y == ci))), 4)}
    normal = names.index("normal")
    neg_idx = np.nonzero(y == normal)[0]
    calib, report = neg_idx[0::2], neg_idx[1::2]
    scored = [(float(prob[i, k]), bool(y[i] == k)) for i in range(len(y))]
    n_pos = int(np.sum(y == k))

    def f1(t: float) -> float:
        p, r = pr_at(scored, n_pos, t)
        return 2 * p * r / (p + r) if p + r else 0.0

    # >= 0.5: then "p(flood) >= thr" and the runtime's "argmax is flood and p >= thr" agree
    thr, why = choose_threshold(prob[calib, k].tolist(), f1, max_fa, minimum=0.5)
    p, r = pr_at(scored, n_pos, thr)
    others = np.nonzero(y != k)[0]
    pos = np.nonzero(y == k)[0]
    top = int(pos[np.argmax(prob[pos, k])]) if len(pos) else None
    confusion = {names[i]: {names[j]: int(np.sum((y == i) & (pred == j)))
                            for j in range(len(names))} for i in range(len(names))}
    return {"val_images": len(y), "accuracy": round(float(np.mean(pred == y)), 4),
            "accuracy_center_crop": round(float(np.mean(np.array(crop_pred) == y)), 4),
            "preprocess": "letterbox (as the runtime sampler)",
            # the most confident flood val image: a reproducibility check for the tests
            "sample_flood_image": files[top] if top is not None else "",
            "sample_flood_probability": round(float(prob[top, k]), 5) if top is not None else 0,
            "per_class": per_class, "confusion": confusion,
            "decision": {"class": decision, "threshold": thr, "threshold_rule": why,
                         "precision": round(p, 4), "recall": round(r, 4),
                         "false_alarm_calibration": round(false_alarm_rate(
                             prob[calib, k].tolist(), thr), 4),
                         "false_alarm_report": round(false_alarm_rate(
                             prob[report, k].tolist(), thr), 4),
                         "false_alarm_all_non_flood": round(false_alarm_rate(
                             prob[others, k].tolist(), thr), 4)}}


def speed(path: Path, img: Image.Image, task: str, runs: int = 30) -> dict:
    """Median / p90 ms per inference (ONNX Runtime, CPU) with 1 and 2 threads."""
    out: dict[str, dict] = {}
    for threads in (1, 2):
        model = OnnxModel(path, threads=threads)
        t0 = time.perf_counter()
        x = letterbox(img, model.size)[0]
        pre_ms = (time.perf_counter() - t0) * 1000
        for _ in range(3):
            model.raw(x)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            model.raw(x)
            times.append((time.perf_counter() - t0) * 1000)
        out[f"threads_{threads}"] = {"median_ms": round(float(np.median(times)), 2),
                                     "p90_ms": round(float(np.percentile(times, 90)), 2),
                                     "preprocess_ms": round(pre_ms, 2), "runs": runs}
    return out


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().split("\n"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _io(model: OnnxModel, path: Path, task: str) -> dict:
    inp = model.session.get_inputs()[0]
    out = model.session.get_outputs()[0]
    names = _names(model)
    io = {"file": f"models/{path.name}", "sha256": _sha256(path),
          "size_bytes": path.stat().st_size, "task": task, "classes": names,
          "input": {"name": inp.name, "shape": list(inp.shape), "dtype": "float32",
                    "layout": "NCHW RGB, values 0..1 (pixel/255), no mean/std"},
          "output": {"name": out.name, "shape": list(out.shape)}}
    if task == "detect":
        io["input"]["preprocess"] = ("letterbox: scale to fit keeping aspect, centre on a "
                                     "grey (114,114,114) square canvas")
        io["output"]["format"] = (f"raw YOLOv8 head [1, 4+{len(names)}, N]: cx, cy, w, h in "
                                  "input pixels, then per-class scores (sigmoid applied); "
                                  "needs confidence filter + per-class NMS")
    else:
        io["input"]["preprocess"] = ("letterbox as for detect (what the runtime sampler "
                                     "feeds); trained on ultralytics random-resized crops")
        io["output"]["format"] = f"[1, {len(names)}] softmax probabilities in class order"
    return io


def evaluate(data: Path, models: Path, *, max_false_alarm: float = 0.02,
             out: Path | None = None) -> dict:
    data, models = Path(data), Path(models)
    negatives = _images(data / "classify" / "val" / "normal")
    cats = _neg_category(data)
    report: dict = {"generated_by": "fusionhub model eval (analytics/training/eval.py)",
                    "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "dataset": str(data.name), "max_false_alarm_target": max_false_alarm,
                    "cpu": _cpu(), "runtime": "onnxruntime CPUExecutionProvider",
                    "models": {}}
    det_path = models / DETECT_FILE
    if det_path.exists():
        det = OnnxModel(det_path)
        res = eval_detect(det, data, negatives, max_false_alarm)
        neg_any = res.pop("_neg_any")
        by_cat: dict[str, list[bool]] = {}
        for path, hit in zip(negatives, neg_any, strict=True):
            by_cat.setdefault(cats.get(path.name, "other"), []).append(hit)
        res["false_alarm_by_negative_category"] = {
            k: {"images": len(v), "rate": round(float(np.mean(v)), 4)}
            for k, v in sorted(by_cat.items())}
        sample = Image.open(_images(data / "detect" / "images" / "val")[0])
        report["models"]["fire-smoke"] = {
            **_io(det, det_path, "detect"), "iou": 0.45,
            "thresholds": {n: v["threshold"] for n, v in res["per_class"].items()},
            "metrics": res, "speed": speed(det_path, sample, "detect")}
    cls_path = models / CLASSIFY_FILE
    if cls_path.exists():
        cls = OnnxModel(cls_path)
        res = eval_classify(cls, data, max_false_alarm)
        sample = Image.open(_images(data / "classify" / "val" / "flood")[0])
        report["models"]["flood"] = {
            **_io(cls, cls_path, "classify"),
            "thresholds": {"flood": res["decision"]["threshold"]},
            "metrics": res, "speed": speed(cls_path, sample, "classify")}
    if not report["models"]:
        raise FileNotFoundError(f"no {DETECT_FILE} or {CLASSIFY_FILE} in {models}")
    out = out or models / "metrics.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    logger.info("wrote %s", out)
    print(summary(report))
    return report


def summary(report: dict) -> str:
    lines = [f"CPU: {report['cpu']}"]
    for key, m in report["models"].items():
        sp = m["speed"]
        lines.append(f"{key} ({m['file']}, {m['size_bytes'] / 1e6:.1f} MB, input "
                     f"{m['input']['shape']}): {sp['threads_1']['median_ms']} ms (1 thread), "
                     f"{sp['threads_2']['median_ms']} ms (2 threads)")
        met = m["metrics"]
        if m["task"] == "detect":
            for name, c in met["per_class"].items():
                lines.append(f"  {name}: thr {c['threshold']:.2f} P {c['precision']:.2f} "
                             f"R {c['recall']:.2f} AP50 {c['ap50']:.2f} FA(report) "
                             f"{c['false_alarm_report']:.1%}")
            lines.append(f"  any-class FA on hard negatives: report half "
                         f"{met['false_alarm_any_class_report']:.1%}, all "
                         f"{met['false_alarm_any_class_all']:.1%}")
        else:
            d = met["decision"]
            lines.append(f"  accuracy {met['accuracy']:.2f}; flood thr {d['threshold']:.2f} "
                         f"P {d['precision']:.2f} R {d['recall']:.2f} FA(normal, report) "
                         f"{d['false_alarm_report']:.1%}")
    return "\n".join(lines)
