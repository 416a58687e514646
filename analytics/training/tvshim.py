"""Make ``import torchvision`` work with the CPU torch wheel (PLATFORM-NOTES torch trap).

The torchvision wheel pip picks for ``torch==2.13.0`` is a CUDA build whose C extension
registers no ops against the CPU torch, so ``import torchvision`` dies on
``torchvision::nms``. Training only needs NMS (validation) and the PIL transforms, so this
defines ``torchvision::nms`` / ``qnms`` in pure torch before torchvision is imported.
Training-only: never imported by the runtime (ONNX Runtime) path.
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger(__name__)

_LIB = None  # keeps the torch.library fragment alive


def _nms(dets, scores, iou_threshold: float):
    import torch

    if dets.numel() == 0:
        return torch.empty((0,), dtype=torch.long, device=dets.device)
    x1, y1, x2, y2 = dets.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    order = scores.argsort(descending=True)
    keep = []
    while order.numel() > 0:
        i = order[0]
        keep.append(i)
        if order.numel() == 1:
            break
        rest = order[1:]
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[iou <= iou_threshold]
    return torch.stack(keep).to(torch.long)


def _qnms(dets, scores, iou_threshold: float):
    return _nms(dets.dequantize(), scores.dequantize(), iou_threshold)


def ensure_torchvision() -> None:
    """Import torchvision, registering pure-torch NMS ops first when its C ops are missing."""
    global _LIB
    try:
        import torchvision  # noqa: F401
        return
    except RuntimeError as exc:
        if "torchvision::nms" not in str(exc):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    import torch

    lib = torch.library.Library("torchvision", "FRAGMENT")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.impl("nms", _nms, "CPU")
    lib.impl("qnms", _qnms, "CPU")
    _LIB = lib
    import torchvision
    import torchvision.ops.boxes as boxes

    def nms(boxes_, scores, iou_threshold: float):
        return torch.ops.torchvision.nms(boxes_, scores, iou_threshold)

    boxes.nms = nms
    torchvision.ops.nms = nms
    logger.warning("torchvision C ops unavailable for this torch build: using pure-torch NMS")
