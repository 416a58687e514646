"""``fusionhub model train|metrics|harvest``: train, evaluate and retrain the scene model.

``fusionhub model`` belongs to analytics/cli.py (``export``, ``eval``); these subcommands are
added to its sub-parsers: ``training_cli.add_parser(msub)`` and, in its ``run``,
``if args.model_command in training_cli.COMMANDS: return training_cli.run(args)``.
Standalone: ``python -m analytics.training.cli model train ...``. ``train`` and ``metrics
--compare`` need the ``[train]`` extra (torch, for the ONNX export); the rest needs only
numpy, Pillow, onnxruntime and matplotlib.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

COMMANDS = ("train", "metrics", "harvest")
DATASETS = [Path("../shared/datasets/fire-flood-v1"), Path("../shared/datasets/fire-flood-v2")]


def add_parser(msub: argparse._SubParsersAction) -> None:
    """Add the training subcommands to the ``fusionhub model`` sub-parsers."""
    tr = msub.add_parser("train", help="train the fire/smoke/flood scene model, export ONNX")
    tr.add_argument("--data", required=True, type=Path, action="append",
                    help="a data folder (repeatable): a data set root with classify/ (and "
                         "detect/labels/), {train,val}/<class>/, or <class>/ as "
                         "`fusionhub model harvest` writes it")
    tr.add_argument("--out", required=True, type=Path, help="ONNX file to write")
    tr.add_argument("--input", type=int, default=224, help="square input size (default 224)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads")
    tr.add_argument("--cache", type=Path, default=Path("data/features"),
                    help="feature cache folder (default data/features)")
    tr.add_argument("--passes", default="clean,aug1,aug2,smoke1",
                    help="feature passes: clean, augN, smokeN, floodN (synthetic composites)")
    tr.add_argument("--reference", type=Path, nargs="*", default=[],
                    help="images whose PyTorch outputs are saved for the ONNX parity test")

    ev = msub.add_parser("metrics", help="source-disjoint evaluation of the shipped scene "
                                         "model: thresholds, metrics.json, PR curves")
    ev.add_argument("--data", type=Path, action="append",
                    help="data folders (repeatable; default the fire-flood v1 and v2 sets)")
    ev.add_argument("--models", type=Path, default=Path("configs/models.yaml"),
                    help="catalogue whose scene model is evaluated; its thresholds are "
                         "rewritten with the calibrated ones")
    ev.add_argument("--max-false-alarm", type=float, default=0.03,
                    help="share of hard negatives with any alarm (default 0.03)")
    ev.add_argument("--out", type=Path, default=Path("models/metrics.json"))
    ev.add_argument("--curves", type=Path, default=Path("docs/models-pr.png"))
    ev.add_argument("--cache", type=Path, default=Path("data/features"))
    ev.add_argument("--compare", type=int, nargs="*", default=[],
                    help="other input sizes for the input-size study (needs torch)")
    ev.add_argument("--threads", type=int, default=1)

    hv = msub.add_parser("harvest", help="export analysts' reviews (false alarm → normal/, "
                                         "confirmed → <kind>/) as a training folder")
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

            print(train(TrainConfig(
                data=args.data, out=args.out, size=(args.input, args.input), seed=args.seed,
                threads=args.threads, cache=args.cache,
                passes=tuple(p for p in args.passes.split(",") if p),
                reference_images=args.reference)))
        elif args.model_command == "metrics":
            from .metrics import compute

            report = compute(args.data or DATASETS, args.models,
                             max_false_alarm=args.max_false_alarm, out=args.out,
                             curves=args.curves, cache=args.cache, compare=args.compare,
                             threads=args.threads)
            print({k: report[k] for k in ("thresholds", "source_disjoint", "random_split")})
        elif args.model_command == "harvest":
            from .harvest import harvest

            stats = harvest(args.redis, args.data_dir, args.out, prefix=args.prefix,
                            limit=args.limit, allow_annotated=args.allow_annotated)
            print(stats)
    except ImportError as exc:
        print(f"fusionhub model: {exc} (training needs the train extra: see docs/models.md)",
              file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"fusionhub model: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fusionhub")
    model = parser.add_subparsers(dest="command", required=True).add_parser("model")
    add_parser(model.add_subparsers(dest="model_command", required=True))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
