"""Export a trained checkpoint to ONNX and save reference outputs next to it.

The reference outputs are the **PyTorch** model's raw outputs on given images, made with
the same numpy preprocessing as :mod:`.infer`; tests (which have no torch) compare ONNX
Runtime against them. Written to ``<onnx stem>.reference.npz``.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from .infer import letterbox

logger = logging.getLogger(__name__)


def export_onnx(weights: Path, task: str, imgsz: int, out: Path,
                reference_images: list[Path]) -> Path:
    from .tvshim import ensure_torchvision

    ensure_torchvision()
    import torch
    from ultralytics import YOLO

    model = YOLO(str(weights), task=task)
    onnx_tmp = Path(model.export(format="onnx", imgsz=imgsz, opset=17, simplify=True,
                                 dynamic=False, batch=1, device="cpu"))
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx_tmp, out)
    logger.info("exported %s -> %s (%.1f MB)", weights, out, out.stat().st_size / 1e6)
    if reference_images:
        net = model.model.float().eval()
        arrays: dict[str, np.ndarray] = {}
        with torch.no_grad():
            for i, path in enumerate(reference_images):
                img = Image.open(path)
                x = letterbox(img, imgsz)[0]  # what the runtime feeds both tasks
                y = net(torch.from_numpy(x))
                y = y[0] if isinstance(y, (tuple, list)) else y
                arrays[f"input_{i}"] = np.round(x * 255).astype(np.uint8)
                arrays[f"output_{i}"] = y.numpy()
                arrays[f"name_{i}"] = np.array(path.name)
        ref = reference_path(out)
        np.savez_compressed(ref, **arrays)
        logger.info("reference outputs of %d images -> %s", len(reference_images), ref)
    return out


def reference_path(onnx: Path) -> Path:
    return onnx.with_name(f"{onnx.stem}.reference.npz")
