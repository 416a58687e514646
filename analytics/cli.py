"""CLI bodies of the analytics commands (wired into ``fusionhub`` by ``mediaserver/hub/cli.py``)::

    fusionhub detect --json IMAGE...          detections per image, one JSON line each
    fusionhub detector [--config F]           a detector worker on Redis Streams (scale-out)
    fusionhub model export MODEL --out F.onnx ultralytics → ONNX ([ultralytics] extra)
    fusionhub model eval DIR --out REPORT_DIR precision/recall per kind + confusion PNG
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mediaserver.config.analytics import AnalyticsConfig
from mediaserver.errors import ConfigError

COMMANDS = ("detect", "detector", "model")


def add_parsers(sub: Any) -> None:
    detect = sub.add_parser("detect", help="run the default models on image files")
    detect.add_argument("paths", nargs="+", help="image files (JPEG, PNG, ...)")
    detect.add_argument("--json", action="store_true", help="one JSON line per image "
                        "(the only output format)")
    detect.add_argument("--models", help="model catalogue (default: analytics.models)")
    detect.add_argument("--config", help="YAML config file")

    worker = sub.add_parser("detector", help="detector worker reading sampled frames "
                            "from Redis Streams (scale-out)")
    worker.add_argument("--config", help="YAML config file (redis.url is required)")
    worker.add_argument("--name", help="consumer name (default: host name and pid)")

    model = sub.add_parser("model", help="model tooling: export, eval")
    msub = model.add_subparsers(dest="model_command", required=True)
    export = msub.add_parser("export", help="ultralytics .pt/.yaml → ONNX")
    export.add_argument("model", help=".pt weights or a model .yaml")
    export.add_argument("--out", required=True, help="ONNX file to write")
    export.add_argument("--imgsz", type=int, default=640)
    export.add_argument("--opset", type=int, default=17)
    ev = msub.add_parser("eval", help="precision/recall per kind on a labelled folder")
    ev.add_argument("folder", help="YOLO layout (images/, labels/) or class folders")
    ev.add_argument("--out", required=True, help="directory for eval.json, confusion.png")
    ev.add_argument("--models", help="model catalogue (default: analytics.models)")
    ev.add_argument("--names", help="comma-separated class names of a YOLO layout")
    ev.add_argument("--config", help="YAML config file")
    from .training import cli as training_cli  # train, metrics, harvest

    training_cli.add_parser(msub)


def _config(settings: Any) -> AnalyticsConfig:
    return getattr(settings, "analytics", None) or AnalyticsConfig()


def _detector(args: argparse.Namespace, config: AnalyticsConfig):
    from .detector.detector import Detector
    from .models.catalog import load_catalog

    return Detector(load_catalog(args.models or config.models), backend=config.backend,
                    threads=config.threads)


def detect_image(detector: Any, path: Path) -> list[dict[str, Any]]:
    """Blocking: one image file → detections JSON (raises OSError/ValueError if unreadable)."""
    from PIL import Image

    from .detector.preprocess import letterbox

    with Image.open(path) as im:
        image = im.convert("RGB")
    array, box = letterbox(image, detector.input_size)
    return [d.as_json() for d in detector.detect([array], [box])[0]]


def run(args: argparse.Namespace, settings: Any) -> int:
    config = _config(settings)
    if args.command == "detect":
        detector = _detector(args, config)
        failed = 0
        for raw in args.paths:
            try:
                line: dict[str, Any] = {"path": raw,
                                        "detections": detect_image(detector, Path(raw))}
            except (OSError, ValueError) as exc:
                failed += 1
                line = {"path": raw, "detections": [], "error": str(exc)}
            print(json.dumps(line, ensure_ascii=False), flush=True)
        return 1 if failed else 0
    if args.command == "detector":
        from .detector.redis_worker import run_worker

        return run_worker(settings, config, name=args.name)
    from .training import cli as training_cli

    if args.model_command in training_cli.COMMANDS:
        return training_cli.run(args)
    if args.model_command == "export":
        from .models.export import export_onnx

        out = export_onnx(args.model, Path(args.out), imgsz=args.imgsz, opset=args.opset)
        print(out)
        return 0
    from .models.evaluate import evaluate, labelled_images, write_report

    detector = _detector(args, config)
    names = args.names.split(",") if args.names else None
    report = evaluate(detector, labelled_images(Path(args.folder), names), detect_image)
    json_path, png_path = write_report(report, Path(args.out))
    print(json.dumps({"report": str(json_path), "confusion": str(png_path),
                      "kinds": report["kinds"]}))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m analytics.cli ...`` (the same commands without the rest of fusionhub)."""
    from mediaserver.config import load_settings

    parser = argparse.ArgumentParser(prog="fusionhub")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return run(args, load_settings(getattr(args, "config", None)))
    except ConfigError as exc:
        print(f"fusionhub: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
