"""A constant YOLOv8-shaped ONNX graph built with onnx.helper: whatever the picture, it
outputs the given detections (``(1, 4 + nc, anchors)``, broadcast over the batch). Real ONNX
Runtime inference with a deterministic answer, for tests of decoding and of the pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def constant_yolo(path: Path, detections: list[tuple[float, float, float, float, int, float]],
                  *, nc: int = 2, anchors: int = 64) -> Path:
    """``detections``: (cx, cy, w, h, class, score) in model-input pixels."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    table = np.zeros((1, 4 + nc, anchors), dtype=np.float32)
    for i, (cx, cy, w, h, cls, score) in enumerate(detections):
        table[0, :4, i] = (cx, cy, w, h)
        table[0, 4 + cls, i] = score
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["sum"], keepdims=1, axes=[1, 2, 3]),
        helper.make_node("Squeeze", ["sum", "sq_axes"], ["per_image"]),  # (batch, 1)
        helper.make_node("Mul", ["per_image", "zero"], ["zeros"]),
        helper.make_node("Reshape", ["zeros", "shape3"], ["zeros3"]),  # (batch, 1, 1)
        helper.make_node("Add", ["zeros3", "table"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes, "constant_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, "h", "w"])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT,
                                       ["batch", 4 + nc, anchors])],
        initializer=[numpy_helper.from_array(table, "table"),
                     numpy_helper.from_array(np.zeros((), np.float32), "zero"),
                     numpy_helper.from_array(np.array([2, 3], np.int64), "sq_axes"),
                     numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape3")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
