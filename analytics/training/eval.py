"""Evaluation of the scene model: source-disjoint folds, calibrated thresholds, the shipped file.

1. **Source-disjoint** (the estimate for a new city's cameras): for each data source, a head
   is trained on the features of every *other* source (synthetic composites of the left-out
   source's frames excluded too) and scores that source's real images (clean pass). Every
   image thus gets an out-of-fold score from a model that never saw its source.
2. **Thresholds**: per kind, from the out-of-fold scores of the hard negatives (real images
   with no kind): the highest equal per-kind false-alarm budget for which the share of hard
   negatives with *any* alarm stays ≤ the target (3 %).
3. **Random split**: the shipped model (trained on the ``train`` split only) is run through the
   runtime :class:`~analytics.detector.detector.Detector` (the production pre/post-processing,
   the shipped ONNX) on the ``val`` split, at the chosen thresholds.

Synthetic composites are training-only: no metric here counts one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import Sample
from .features import Features
from .head import fit_head, predict
from .network import KINDS

logger = logging.getLogger(__name__)


def select_rows(samples: list[Sample], feats: Features, *,
                train_sources: set[str] | None = None, split: str | None = None
                ) -> np.ndarray:
    """Rows (all passes) of the given sources and/or split."""
    src = np.array([s.source for s in samples])[feats.index]
    spl = np.array([s.split for s in samples])[feats.index]
    keep = np.ones(len(feats.index), dtype=bool)
    if train_sources is not None:
        keep &= np.isin(src, list(train_sources))
    if split is not None:
        keep &= spl == split
    return keep


def clean_rows(feats: Features) -> np.ndarray:
    """Row of the clean pass of each sample (index: sample → row)."""
    rows = np.flatnonzero(feats.passes == "clean")
    order = np.empty(len(rows), dtype=np.int64)
    order[feats.index[rows]] = rows
    return order


def source_disjoint_scores(samples: list[Sample], feats: Features
                           ) -> np.ndarray:
    """Out-of-fold scores ``[len(samples), 3]``: each from a head that never saw its source."""
    sources = sorted({s.source for s in samples})
    clean = clean_rows(feats)
    out = np.zeros((len(samples), len(KINDS)), dtype=np.float32)
    for left_out in sources:
        train = select_rows(samples, feats, train_sources=set(sources) - {left_out})
        head = fit_head(feats.x[train], feats.targets[train])
        test = [i for i, s in enumerate(samples) if s.source == left_out]
        out[test] = predict(head, feats.x[clean[test]])
        logger.info("[eval] fold without %s: %d training rows, %d test images", left_out,
                    int(train.sum()), len(test))
    return out


def choose_thresholds(scores: np.ndarray, negative: np.ndarray, max_false_alarm: float
                      ) -> tuple[dict[str, float], float]:
    """Per-kind thresholds with an equal false-alarm budget, the largest for which the share
    of negatives with any alarm is ≤ ``max_false_alarm``; returns (thresholds, budget)."""
    neg = scores[negative]
    for budget in np.linspace(max_false_alarm, max_false_alarm / 10, 91):
        thr = {k: _threshold(neg[:, c], budget) for c, k in enumerate(KINDS)}
        if _any_alarm(neg, thr) <= max_false_alarm:
            return thr, float(budget)
    return {k: _threshold(neg[:, c], max_false_alarm / 10) for c, k in enumerate(KINDS)}, \
        max_false_alarm / 10


def _threshold(neg_scores: np.ndarray, budget: float) -> float:
    """Lowest threshold (rounded up to 1e-3) with a false-alarm share ≤ ``budget``."""
    s = np.sort(neg_scores)[::-1]
    allowed = int(np.floor(budget * len(s)))
    thr = s[allowed] if allowed < len(s) else 0.0
    return float(min(0.999, np.ceil((thr + 1e-6) * 1000) / 1000))


def _any_alarm(neg: np.ndarray, thr: dict[str, float]) -> float:
    hit = np.zeros(len(neg), dtype=bool)
    for c, k in enumerate(KINDS):
        hit |= neg[:, c] >= thr[k]
    return float(hit.mean()) if len(neg) else 0.0


def operating_point(samples: list[Sample], scores: np.ndarray, thr: dict[str, float],
                    subset: np.ndarray | None = None) -> dict[str, Any]:
    """Per kind recall, precision (over every image with a known target) and false alarms on
    hard negatives; plus the any-kind false-alarm share."""
    subset = np.ones(len(samples), dtype=bool) if subset is None else subset
    targets = np.array([s.targets for s in samples])
    negative = np.array([s.negative for s in samples]) & subset
    out: dict[str, Any] = {"images": int(subset.sum()), "hard_negatives": int(negative.sum())}
    for c, kind in enumerate(KINDS):
        known = (targets[:, c] >= 0) & subset
        pos = known & (targets[:, c] == 1)
        pred = scores[:, c] >= thr[kind]
        tp = int((pos & pred).sum())
        fp = int((known & ~pos & pred).sum())
        out[kind] = {"positives": int(pos.sum()), "tp": tp, "fp": fp,
                     "recall": tp / int(pos.sum()) if pos.any() else None,
                     "precision": tp / (tp + fp) if tp + fp else None,
                     "false_alarm": float(pred[negative].mean()) if negative.any() else None}
    out["false_alarm_any"] = _any_alarm(scores[negative], thr) if negative.any() else None
    return out


def per_source(samples: list[Sample], scores: np.ndarray, thr: dict[str, float]
               ) -> dict[str, Any]:
    sources = np.array([s.source for s in samples])
    return {src: operating_point(samples, scores, thr, sources == src)
            for src in sorted(set(sources))}


def pr_curves(samples: list[Sample], curves: dict[str, np.ndarray], thr: dict[str, float],
              path: Path) -> Path:
    """Precision/recall per kind for each named score set; the operating point marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = np.array([s.targets for s in samples])
    fig, axes = plt.subplots(1, len(KINDS), figsize=(4.2 * len(KINDS), 4))
    for c, (kind, ax) in enumerate(zip(KINDS, axes, strict=True)):
        for label, (scores, subset) in curves.items():
            known = (targets[:, c] >= 0) & subset
            y, s = targets[known, c], scores[known, c]
            if not y.any():
                continue
            order = np.argsort(-s)
            tp = np.cumsum(y[order] == 1)
            fp = np.cumsum(y[order] == 0)
            ax.plot(tp / y.sum(), tp / np.maximum(tp + fp, 1), label=label)
            pred = s >= thr[kind]
            r = (pred & (y == 1)).sum() / y.sum()
            p = (pred & (y == 1)).sum() / max(pred.sum(), 1)
            ax.plot([r], [p], "o", color=ax.lines[-1].get_color())
        ax.set_title(f"{kind} (dot: threshold {thr[kind]:.3f})")
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
