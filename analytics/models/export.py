"""``fusionhub model export``: ultralytics (.pt or .yaml) → ONNX for the ONNX Runtime backend.

Needs the optional ``[ultralytics]`` extra (torch + ultralytics, AGPL-3.0); imported only here.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from mediaserver.errors import ConfigError


def export_onnx(model: str, out: Path, *, imgsz: int = 640, opset: int = 17,
                dynamic: bool = True) -> Path:
    """Export ``model`` and move the ONNX file to ``out`` (written to a temp name, renamed)."""
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "ultralytics"))
    try:
        from ultralytics import YOLO
    except ImportError as exc:
        raise ConfigError("model export needs the [ultralytics] extra: "
                          "pip install -c constraints/torch-cpu.txt '.[ultralytics]'") from exc
    if not model.endswith(".yaml") and not Path(model).is_file():
        raise ConfigError(f"model {model} does not exist")
    exported = YOLO(model).export(format="onnx", imgsz=imgsz, opset=opset, dynamic=dynamic,
                                  simplify=True)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    shutil.move(str(exported), tmp)
    os.replace(tmp, out)
    return out
