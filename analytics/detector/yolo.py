"""Pure numpy pre/post-processing of YOLOv8 models: letterbox, box decoding, NMS."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

PAD_VALUE = 114


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a picture was fitted into the model input: ``scale`` and padding (``dx``, ``dy``)
    in input pixels; :meth:`to_source` maps boxes back to the original picture."""

    scale: float
    dx: float
    dy: float
    width: int
    height: int

    def to_source(self, boxes: np.ndarray) -> np.ndarray:
        out = boxes.copy()
        out[:, [0, 2]] = ((out[:, [0, 2]] - self.dx) / self.scale).clip(0, self.width)
        out[:, [1, 3]] = ((out[:, [1, 3]] - self.dy) / self.scale).clip(0, self.height)
        return out


def letterbox(image: Image.Image, size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """Fit an RGB picture into ``size`` (w, h) keeping its aspect ratio; HWC uint8."""
    w, h = image.size
    tw, th = size
    scale = min(tw / w, th / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = image.resize((nw, nh), Image.BILINEAR)
    canvas = Image.new("RGB", (tw, th), (PAD_VALUE,) * 3)
    dx, dy = (tw - nw) // 2, (th - nh) // 2
    canvas.paste(resized, (dx, dy))
    return np.asarray(canvas), Letterbox(scale, dx, dy, w, h)


def to_tensor(images: list[np.ndarray]) -> np.ndarray:
    """HWC uint8 pictures → NCHW float32 in 0..1."""
    batch = np.stack(images).astype(np.float32) / 255.0
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


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
