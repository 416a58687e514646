#!/bin/sh
# Regenerate models/metrics.json (validation metrics, chosen thresholds, CPU speed) and the
# metrics block of docs/models.md from the shipped ONNX files. Needs only the runtime venv
# (numpy, Pillow, onnxruntime) and the data set:
#   scripts/model_card.sh [DATASET_DIR]      (default ../shared/datasets/fire-flood-v1)
set -eu
cd "$(dirname "$0")/.."
DATA="${1:-${FUSIONHUB_DATASET:-../shared/datasets/fire-flood-v1}}"
PY="${PYTHON:-.venv/bin/python}"
[ -d "$DATA/detect" ] || { echo "model_card: no data set at $DATA" >&2; exit 2; }
nice -n 19 "$PY" -m analytics.training.cli model metrics --data "$DATA" --models models \
    --max-false-alarm "${MAX_FALSE_ALARM:-0.02}"
"$PY" -m analytics.training.card docs/models.md models/metrics.json
echo "updated models/metrics.json and docs/models.md"
