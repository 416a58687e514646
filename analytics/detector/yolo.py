"""Pure numpy post-processing of YOLOv8 models (optional detect models): box decoding, NMS."""

from __future__ import annotations

import numpy as np


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Greedy non-maximum suppression; indices kept, best first."""
    order = scores.argsort()[::-1]
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = (xx2 - xx1).clip(0) * (yy2 - yy1).clip(0)
        union = areas[i] + areas[rest] - inter
        order = rest[inter / np.maximum(union, 1e-9) <= iou]
    return keep


def decode_detections(output: np.ndarray, *, conf: float, iou: float,
                      max_det: int = 100) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """YOLOv8 ``(batch, 4 + classes, anchors)`` → per image (boxes xyxy, scores, classes),
    class-aware NMS, scores above ``conf`` only."""
    results = []
    for pred in output:
        pred = pred.T  # anchors × (4 + nc)
        cls_scores = pred[:, 4:]
        classes = cls_scores.argmax(axis=1)
        scores = cls_scores[np.arange(len(pred)), classes]
        mask = scores >= conf
        xywh, scores, classes = pred[mask, :4], scores[mask], classes[mask]
        boxes = np.empty_like(xywh)
        boxes[:, 0] = xywh[:, 0] - xywh[:, 2] / 2
        boxes[:, 1] = xywh[:, 1] - xywh[:, 3] / 2
        boxes[:, 2] = xywh[:, 0] + xywh[:, 2] / 2
        boxes[:, 3] = xywh[:, 1] + xywh[:, 3] / 2
        # class-aware NMS: offset boxes per class so different classes never suppress
        offset = boxes + classes[:, None].astype(boxes.dtype) * 10_000.0
        keep = nms(offset, scores, iou)[:max_det]
        results.append((boxes[keep], scores[keep], classes[keep]))
    return results
