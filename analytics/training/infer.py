"""Numpy-only pre/post-processing for the shipped ONNX models (no torch, no ultralytics).

Detect: letterbox to a square ``size`` (aspect kept, grey 114 padding, centred), RGB,
/255, NCHW float32; output ``[1, 4 + nc, N]`` (cx, cy, w, h in input pixels, then per-class
scores already sigmoid-ed) → per-class NMS. Classify: the same letterbox as the runtime
sampler feeds it (``centre_crop`` — ultralytics' own val transform — is kept for
comparison); output ``[1, nc]`` softmax probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Detection:
    cls: int
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in original image pixels


def letterbox(img: Image.Image, size: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Return the NCHW tensor, the scale and the (x, y) padding applied."""
    img = img.convert("RGB")
    w, h = img.size
    r = min(size / w, size / h)
    nw, nh = round(w * r), round(h * r)
    canvas = Image.new("RGB", (size, size), (114, 114, 114))
    px, py = (size - nw) / 2, (size - nh) / 2
    canvas.paste(img.resize((nw, nh), Image.BILINEAR), (int(round(px - 0.1)), int(round(py - 0.1))))
    arr = np.asarray(canvas, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0
    return np.ascontiguousarray(arr), r, (int(round(px - 0.1)), int(round(py - 0.1)))


def center_crop(img: Image.Image, size: int) -> np.ndarray:
    img = img.convert("RGB")
    w, h = img.size
    r = size / min(w, h)
    nw, nh = max(size, round(w * r)), max(size, round(h * r))
    img = img.resize((nw, nh), Image.BILINEAR)
    left, top = (nw - size) // 2, (nh - size) // 2
    img = img.crop((left, top, left + size, top + size))
    arr = np.asarray(img, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0
    return np.ascontiguousarray(arr)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Greedy NMS on x1y1x2y2 boxes; returns kept indices, best first."""
    order = scores.argsort()[::-1]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        order = rest[inter / (areas[i] + areas[rest] - inter + 1e-9) <= iou]
    return keep


def decode_detect(out: np.ndarray, *, conf: float, iou: float, scale: float,
                  pad: tuple[float, float], max_det: int = 100) -> list[Detection]:
    """Raw YOLOv8 head ``[1, 4+nc, N]`` → detections in original-image pixels."""
    pred = out[0].T  # N, 4+nc
    scores_all = pred[:, 4:]
    cls = scores_all.argmax(1)
    score = scores_all[np.arange(len(cls)), cls]
    mask = score >= conf
    pred, cls, score = pred[mask], cls[mask], score[mask]
    if not len(pred):
        return []
    cx, cy, w, h = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    dets: list[Detection] = []
    for c in np.unique(cls):
        idx = np.nonzero(cls == c)[0]
        for k in nms(boxes[idx], score[idx], iou):
            b = boxes[idx[k]]
            x1, y1 = (b[0] - pad[0]) / scale, (b[1] - pad[1]) / scale
            x2, y2 = (b[2] - pad[0]) / scale, (b[3] - pad[1]) / scale
            dets.append(Detection(int(c), float(score[idx[k]]), (float(x1), float(y1),
                                                                 float(x2), float(y2))))
    dets.sort(key=lambda d: -d.score)
    return dets[:max_det]


class OnnxModel:
    """One ONNX Runtime session; ``threads`` intra-op threads (1 for fair CPU numbers)."""

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.size = int(inp.shape[2])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.metadata = dict(meta)

    def raw(self, tensor: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: tensor})[0]

    def detect(self, img: Image.Image, *, conf: float = 0.001, iou: float = 0.45
               ) -> list[Detection]:
        tensor, scale, pad = letterbox(img, self.size)
        return decode_detect(self.raw(tensor), conf=conf, iou=iou, scale=scale, pad=pad)

    def classify(self, img: Image.Image, mode: str = "letterbox") -> np.ndarray:
        x = letterbox(img, self.size)[0] if mode == "letterbox" else center_crop(img, self.size)
        return self.raw(x)[0]
