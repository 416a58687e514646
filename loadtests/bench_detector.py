"""Detector benchmarks (issue 4 "Measured"); prints the numbers, asserts nothing.

1. ONNX Runtime inferences/s at the model's input size, intra-op threads 1 and 2, batch 1 and
   4 (``--model`` an ONNX YOLOv8 detect model, e.g. ``models/fire-smoke-detect.onnx`` or a
   random-weight ``yolov8n.yaml`` export).
2. Sources one detector process covers at a 2 s interval (= batched inferences/s × 2).
3. End-to-end delay from a fire appearing in a source to the alert in ``fh:events:alerts``:
   a hub with a file source whose picture turns fire-red after ``--fire-at`` seconds, a
   real ONNX "redness" detector built with onnx.helper (score = how much red dominates), the
   detector process, default alert rules (2 of 3) at ``--interval``.

    python -m loadtests.bench_detector --model /tmp/yolov8n.onnx --imgsz 640
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np


def bench_inference(model: Path, imgsz: int, threads: int, batch: int, seconds: float
                    ) -> float:
    from analytics.detector.backends import OnnxBackend

    backend = OnnxBackend(model, threads=threads)
    x = np.random.default_rng(0).random((batch, 3, imgsz, imgsz), dtype=np.float32)
    backend.run(x)  # warm-up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds and count < 10_000:
        backend.run(x)
        count += batch
    return count / (time.perf_counter() - start)


def redness_model(path: Path, size: int = 320) -> Path:
    """ONNX: fire score = clip(4 * (mean(R) - mean(G)), 0, 1) for a fixed central box."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    anchors = 8
    base = np.zeros((1, 6, anchors), np.float32)
    base[0, :4, 0] = (size / 2, size / 2, size / 2, size / 2)
    mask = np.zeros((1, 6, anchors), np.float32)
    mask[0, 4, 0] = 1.0
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["chan"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["chan", "rg"], ["diff"]),  # (batch, 1): R - G
        helper.make_node("Mul", ["diff", "four"], ["d4"]),
        helper.make_node("Clip", ["d4", "zero", "one"], ["score"]),
        helper.make_node("Reshape", ["score", "shape3"], ["score3"]),
        helper.make_node("Mul", ["score3", "mask"], ["scores"]),
        helper.make_node("Add", ["scores", "base"], ["output0"]),
    ]
    inits = [numpy_helper.from_array(np.array([[1.0], [-1.0], [0.0]], np.float32), "rg"),
             numpy_helper.from_array(np.array(4.0, np.float32), "four"),
             numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
             numpy_helper.from_array(np.array(1.0, np.float32), "one"),
             numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape3"),
             numpy_helper.from_array(mask, "mask"), numpy_helper.from_array(base, "base")]
    graph = helper.make_graph(
        nodes, "redness",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["b", 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["b", 6, anchors])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def fire_clip(path: Path, *, seconds: float, fire_at: float, fps: int = 10, gop: int = 10
              ) -> Path:
    """320x180 H.264: grey noise, then a red "fire" picture from ``fire_at`` seconds."""
    import av

    rng = np.random.default_rng(1)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0",
                          "bf": "0", "tune": "zerolatency"}
        for i in range(int(seconds * fps)):
            if i / fps < fire_at:
                img = np.full((180, 320, 3), 110, np.uint8) + rng.integers(0, 20, (180, 320, 3),
                                                                           dtype=np.uint8)
            else:
                img = np.zeros((180, 320, 3), np.uint8)
                img[..., 0] = 230
                img[..., 1] = 60 + rng.integers(0, 20, (180, 320), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


async def bench_delay(tmp: Path, *, interval: float, fire_at: float, runs: int) -> list[float]:
    from analytics.hub import HubAnalytics
    from mediaserver.config import Settings, load_settings
    from mediaserver.config.analytics import AnalyticsConfig
    from mediaserver.hub.app import Hub

    clip = fire_clip(tmp / "fire.mp4", seconds=fire_at + 15, fire_at=fire_at)
    redness_model(tmp / "redness.onnx")
    (tmp / "models.yaml").write_text(
        f"base: {tmp}\ndefault: [red]\nmodels:\n  red: {{file: redness.onnx, input: [320, 320],"
        f" classes: {{0: fire, 1: ''}}, thresholds: {{fire: 0.5}}}}\n")
    delays = []
    for run in range(runs):
        listeners = {name: {"host": "127.0.0.1", "port": 0} for name in ("http", "rtmp")
                     if name in Settings.model_fields}
        settings = load_settings(None, data_dir=tmp / f"data{run}", rtsp={"enabled": False},
                                 auth={"mode": "none"}, probe={"enabled": False},
                                 sources=[{"id": "cam", "url": f"file://{clip}",
                                           "analytics": {"enabled": True}}],
                                 pull={"file_roots": [str(Path(clip).parent)]}, **listeners)
        hub = Hub(settings)
        await hub.start()
        analytics = HubAnalytics(
            AnalyticsConfig(enabled=True, models=tmp / "models.yaml", interval=interval,
                            evidence={"post_roll": 1.0}),
            data_dir=settings.data_dir, redis=hub.redis.client, prefix="fh:",
            registry=hub.registry, manager=hub.manager, access=hub.access)
        try:
            await analytics.start()
            # the file publisher paces pts against the clock: the first picture with
            # pts >= fire_at is the fire appearing; watch for it on a subscriber
            sub = await hub.manager.subscribe("cam", "bench")
            appeared = None
            while appeared is None:
                au = await sub.recv()
                if au.pts >= fire_at * 90_000:
                    appeared = time.monotonic()
            hub.manager.unsubscribe(sub)
            redis = hub.redis.client
            async with asyncio.timeout(30):
                while not await redis.xlen("fh:events:alerts"):
                    await asyncio.sleep(0.02)
            delays.append(time.monotonic() - appeared)
        finally:
            await analytics.aclose()
            await hub.aclose()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="ONNX YOLOv8 detect model")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--fire-at", type=float, default=4.3)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    report: dict[str, object] = {}
    if args.model:
        rates = {}
        for threads in (1, 2):
            for batch in (1, 4):
                rate = bench_inference(args.model, args.imgsz, threads, batch, args.seconds)
                rates[f"threads{threads}_batch{batch}"] = round(rate, 2)
                print(f"{args.model.name} {args.imgsz}x{args.imgsz} threads={threads} "
                      f"batch={batch}: {rate:.2f} inferences/s ({1000 / rate:.0f} ms each)")
        best = max(rates.values())
        report["inference"] = rates
        report["sources_at_interval"] = {"interval_s": args.interval,
                                         "sources": int(best * args.interval)}
        print(f"one detector process (best of the above) covers "
              f"~{int(best * args.interval)} sources at a {args.interval:.0f} s interval")
    with tempfile.TemporaryDirectory() as tmp:
        delays = asyncio.run(bench_delay(Path(tmp), interval=args.interval,
                                         fire_at=args.fire_at, runs=args.runs))
    report["fire_to_alert_s"] = {"runs": [round(d, 2) for d in delays],
                                 "median": round(statistics.median(delays), 2)}
    print(f"fire appears → alert in fh:events:alerts: {', '.join(f'{d:.2f}' for d in delays)} s"
          f" (interval {args.interval} s, 2 of 3 positives, keyframe every 1 s)")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
