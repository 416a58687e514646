"""The multi-label head: one logistic regression per kind on pooled backbone features.

Trained full-batch with Adam on cached features (seconds, numpy only), masked binary
cross-entropy (an UNKNOWN target is left out of its kind's loss), positives and negatives
weighted to equal total weight per kind, L2 on the weights. Features are standardised for the
fit and the scaling is folded back into the weights, so the exported head runs on the raw
pooled features.
"""

from __future__ import annotations

import numpy as np

from .network import HeadWeights


def fit_head(x: np.ndarray, targets: np.ndarray, *, steps: int = 300, l2: float = 1e-2,
             lr: float = 0.05) -> HeadWeights:
    mu = x.mean(axis=0)
    sigma = x.std(axis=0) + 1e-4
    xs = ((x - mu) / sigma).astype(np.float32)
    t = targets.astype(np.float32)
    pos, neg = t == 1, t == 0
    weight = np.where(pos, 0.5 / np.maximum(pos.sum(0), 1),
                      np.where(neg, 0.5 / np.maximum(neg.sum(0), 1), 0.0)).astype(np.float32)
    k = t.shape[1]
    w = np.zeros((x.shape[1], k), np.float32)
    b = np.zeros(k, np.float32)
    state = [np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)]
    b1, b2 = 0.9, 0.999
    for step in range(1, steps + 1):
        p = 1.0 / (1.0 + np.exp(-(xs @ w + b)))
        g = weight * (p - np.clip(t, 0, 1)) / k
        gw = xs.T @ g + 2 * l2 * w
        gb = g.sum(0)
        for i, (param, grad) in enumerate(((w, gw), (b, gb))):
            m, v = state[2 * i], state[2 * i + 1]
            m[:] = b1 * m + (1 - b1) * grad
            v[:] = b2 * v + (1 - b2) * grad * grad
            param -= lr * (m / (1 - b1 ** step)) / (np.sqrt(v / (1 - b2 ** step)) + 1e-8)
    wn = w.T / sigma[None, :]
    bn = b - wn @ mu
    return HeadWeights(weight=wn.astype(np.float32), bias=bn.astype(np.float32))


def predict(head: HeadWeights, x: np.ndarray) -> np.ndarray:
    """Per-kind sigmoid scores ``[N, 3]`` (the same numbers as the ONNX ``scores``)."""
    logits = x @ np.asarray(head.weight).T + np.asarray(head.bias)
    return 1.0 / (1.0 + np.exp(-logits))
