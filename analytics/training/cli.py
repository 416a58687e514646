"""``fusionhub model train|export-reference|metrics``: train, export and evaluate the
shipped models.

``fusionhub model`` belongs to analytics/cli.py (``export``, ``eval``); these subcommands are
added to its sub-parsers: ``training_cli.add_parser(msub)`` and, in its ``run``,
``if args.model_command in training_cli.COMMANDS: return training_cli.run(args)``.
Standalone: ``python -m analytics.training.cli model train ...``.
``train``/``export-reference`` need the training stack (``.venv-train``, docs/models.md);
``metrics`` needs only numpy, Pillow and onnxruntime.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

COMMANDS = ("train", "export-reference", "metrics", "harvest")


def add_parser(msub: argparse._SubParsersAction) -> None:
    """Add the training subcommands to the ``fusionhub model`` sub-parsers."""
    tr = msub.add_parser("train", help="train with ultralytics and export to ONNX")
    tr.add_argument("--data", required=True, type=Path,
                    help="detect: YOLO folder with data.yaml, images/, labels/; "
                         "classify: folder with train/<class>/, val/<class>/")
    tr.add_argument("--task", required=True, choices=("detect", "classify"))
    tr.add_argument("--out", required=True, type=Path, help="ONNX file to write")
    tr.add_argument("--imgsz", type=int, default=None, help="input size (detect 256, classify 160)")
    tr.add_argument("--epochs", type=int, default=30)
    tr.add_argument("--time-hours", type=float, default=None, help="wall-clock cap")
    tr.add_argument("--batch", type=int, default=16)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    tr.add_argument("--weights", help="local .pt checkpoint to fine-tune (default: random init)")
    tr.add_argument("--negatives", type=Path,
                    help="detect: folder of hard-negative images from the TRAIN split "
                         "(e.g. classify/train/normal, harvested false alarms)")
    tr.add_argument("--aug-fraction", type=float, default=0.2)
    tr.add_argument("--target-per-class", type=int, default=450)
    tr.add_argument("--workdir", type=Path, help="where prepared data and runs go (default tmp)")
    tr.add_argument("--reference", type=Path, nargs="*", default=[],
                    help="images whose PyTorch outputs are saved for the ONNX parity test")

    ex = msub.add_parser("export-reference",
                         help="export a checkpoint to ONNX + PyTorch reference outputs")
    ex.add_argument("--weights", required=True, type=Path)
    ex.add_argument("--task", required=True, choices=("detect", "classify"))
    ex.add_argument("--imgsz", type=int, required=True)
    ex.add_argument("--out", required=True, type=Path)
    ex.add_argument("--reference", type=Path, nargs="*", default=[])

    ev = msub.add_parser("metrics", help="evaluate the shipped ONNX models, pick thresholds, "
                                         "write metrics.json")
    ev.add_argument("--data", required=True, type=Path,
                    help="the data set root (holding detect/ and classify/)")
    ev.add_argument("--models", type=Path, default=Path("models"))
    ev.add_argument("--max-false-alarm", type=float, default=0.02,
                    help="target false-alarm rate on hard negatives (per image)")
    ev.add_argument("--out", type=Path, help="metrics JSON (default <models>/metrics.json)")

    hv = msub.add_parser("harvest", help="export analysts' false-alarm reviews "
                                         "(fh:alert:* review=false_alarm) as hard negatives")
    hv.add_argument("--redis", required=True, help="redis URL of the hub")
    hv.add_argument("--data-dir", required=True, type=Path,
                    help="the hub's data dir (evidence clips are relative to it)")
    hv.add_argument("--out", required=True, type=Path)
    hv.add_argument("--prefix", default="fh:")
    hv.add_argument("--limit", type=int, default=5000, help="alerts scanned at most")
    hv.add_argument("--allow-annotated", action="store_true",
                    help="fall back to the snapshot JPEG (boxes drawn on it) without a clip")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: "
                                                    "%(message)s")
    try:
        if args.model_command == "train":
            from .train import TrainConfig, train

            imgsz = args.imgsz or (256 if args.task == "detect" else 160)
            out = train(TrainConfig(
                data=args.data, task=args.task, out=args.out, imgsz=imgsz, epochs=args.epochs,
                time_hours=args.time_hours, batch=args.batch, seed=args.seed,
                threads=args.threads, weights=args.weights, aug_fraction=args.aug_fraction,
                negatives=args.negatives, target_per_class=args.target_per_class,
                workdir=args.workdir, reference_images=args.reference))
            print(out)
        elif args.model_command == "export-reference":
            from .export import export_onnx

            print(export_onnx(args.weights, args.task, args.imgsz, args.out, args.reference))
        elif args.model_command == "metrics":
            from .eval import evaluate

            evaluate(args.data, args.models, max_false_alarm=args.max_false_alarm,
                     out=args.out)
        elif args.model_command == "harvest":
            from .harvest import harvest

            stats = harvest(args.redis, args.data_dir, args.out, prefix=args.prefix,
                            limit=args.limit, allow_annotated=args.allow_annotated)
            print(stats)
    except ImportError as exc:
        print(f"fusionhub model: {exc} (training needs the train extra: see docs/models.md)",
              file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fusionhub")
    model = parser.add_subparsers(dest="command", required=True).add_parser("model")
    add_parser(model.add_subparsers(dest="model_command", required=True))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
