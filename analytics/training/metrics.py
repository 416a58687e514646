"""Pure numpy metric helpers: box IoU matching, AP50, threshold choice, P/R."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

GRID = np.round(np.arange(0.05, 0.96, 0.01), 2)


def iou(box: Sequence[float], boxes: np.ndarray) -> np.ndarray:
    if not len(boxes):
        return np.zeros(0)
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    a = (box[2] - box[0]) * (box[3] - box[1])
    b = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (a + b - inter + 1e-9)


def match(preds: list[tuple[float, Sequence[float]]], gts: np.ndarray, thr: float = 0.5
          ) -> list[tuple[float, bool]]:
    """Greedy (score-ordered) matching of one image's predictions of one class to its
    ground-truth boxes; returns (score, is_true_positive) per prediction."""
    used = np.zeros(len(gts), bool)
    out = []
    for score, box in sorted(preds, key=lambda p: -p[0]):
        ious = iou(box, gts)
        if len(ious):
            ious[used] = -1
            j = int(ious.argmax())
            if ious[j] >= thr:
                used[j] = True
                out.append((score, True))
                continue
        out.append((score, False))
    return out


def average_precision(scored: list[tuple[float, bool]], n_gt: int) -> float:
    """All-point interpolated AP (VOC 2010+/COCO style at one IoU)."""
    if n_gt == 0 or not scored:
        return 0.0
    scored = sorted(scored, key=lambda s: -s[0])
    tp = np.cumsum([s[1] for s in scored])
    fp = np.cumsum([not s[1] for s in scored])
    recall = tp / n_gt
    precision = tp / np.maximum(tp + fp, 1)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[1.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    idx = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def pr_at(scored: list[tuple[float, bool]], n_gt: int, thr: float) -> tuple[float, float]:
    kept = [tp for s, tp in scored if s >= thr]
    tp = sum(kept)
    precision = tp / len(kept) if kept else 1.0
    recall = tp / n_gt if n_gt else 0.0
    return precision, recall


def false_alarm_rate(max_scores: Sequence[float], thr: float) -> float:
    """Share of negative images whose best score reaches the threshold."""
    return float(np.mean(np.asarray(max_scores) >= thr)) if len(max_scores) else 0.0


def choose_threshold(max_neg: Sequence[float], f1_at, max_false_alarm: float,
                     minimum: float = 0.0) -> tuple[float, str]:
    """Lowest-FA-respecting threshold with the best F1 on the validation positives.

    ``max_neg``: per calibration negative image, its best score; ``f1_at(t)`` → F1 at t.
    Falls back to the threshold with the lowest false-alarm rate when none meets the target.
    """
    grid = [t for t in GRID if t >= minimum]
    ok = [t for t in grid if false_alarm_rate(max_neg, t) <= max_false_alarm]
    if not ok:
        best = min(grid, key=lambda t: (false_alarm_rate(max_neg, t), -t))
        return float(best), "false-alarm target not reachable; lowest false-alarm threshold"
    best = max(ok, key=lambda t: (round(f1_at(t), 4), -t))
    return float(best), f"best F1 with false alarms <= {max_false_alarm:.0%} on calibration"
