"""ONNX export of the scene network (torch, ``[train]`` extra), with PyTorch reference outputs.

``export_backbone``: the frozen backbone alone (pooled features), used to compute training
features through ONNX Runtime. ``export_scene``: the shipped model (``scores``, ``cam``,
``embedding``; see :mod:`.network`) plus ``<name>.reference.npz``: the PyTorch outputs on
reference images, fed exactly what the runtime feeds (letterboxed ``pixel / 255``), which the
parity test compares ONNX Runtime against.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from ..detector.preprocess import letterbox, to_tensor
from .network import KINDS, HeadWeights, build_backbone, scene_module

OPSET = 17


def _export(module, path: Path, size: tuple[int, int], outputs: list[str]) -> Path:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    dummy = torch.rand(1, 3, size[1], size[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, dummy, str(tmp), input_names=["images"],
                          output_names=outputs, opset_version=OPSET, dynamo=False,
                          dynamic_axes={"images": {0: "batch"},
                                        **{o: {0: "batch"} for o in outputs}})
    os.replace(tmp, path)
    return path


def export_backbone(path: Path, size: tuple[int, int]) -> Path:
    import torch

    backbone = build_backbone(size)

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = backbone

        def forward(self, images):
            from .network import MEAN, STD

            return self.backbone.extract_features((images * 255.0 - MEAN) / STD).mean(
                dim=(2, 3))

    return _export(Pooled().eval(), path, size, ["features"])


def half_weights(model):
    """Store the float weights as float16 with a Cast back to float32 in front of their use:
    half the file, the same float32 arithmetic at run time (ONNX Runtime folds the casts)."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    casts, keep = [], []
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        if init.data_type != TensorProto.FLOAT or array.size < 16:
            keep.append(init)
            continue
        half = numpy_helper.from_array(array.astype(np.float16), f"{init.name}__fp16")
        keep.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                      name=f"{init.name}__cast"))
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = [*casts, *graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def export_scene(path: Path, size: tuple[int, int], head: HeadWeights,
                 reference_images: list[Path]) -> Path:
    """Write the shipped ONNX (with metadata) and its PyTorch reference outputs."""
    import onnx
    import torch

    module = scene_module(build_backbone(size), head)
    _export(module, path, size, ["scores", "cam", "embedding"])
    model = half_weights(onnx.load(str(path)))
    for key, value in {"names": ",".join(KINDS), "imgsz": f"{size[0]},{size[1]}",
                       "task": "scene", "backbone": "efficientnet-lite0"}.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    ref: dict[str, np.ndarray] = {}
    for i, image in enumerate(reference_images):
        array = letterbox(Image.open(image).convert("RGB"), size)[0]
        with torch.no_grad():
            outs = module(torch.from_numpy(to_tensor([array])))
        ref[f"name_{i}"] = np.array(image.name)
        ref[f"input_{i}"] = array
        for name, out in zip(("scores", "cam", "embedding"), outs, strict=True):
            ref[f"{name}_{i}"] = out.numpy()
    np.savez_compressed(path.with_name(f"{path.stem}.reference.npz"), **ref)
    return path
