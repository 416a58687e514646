#!/bin/sh
# Regenerate every number of the model card from the shipped ONNX file and the data sets:
# models/metrics.json (source-disjoint and random-split operating points, thresholds, speed,
# input-size and usual-scene studies), docs/models-pr.png (precision/recall curves), the
# calibrated thresholds in configs/models.yaml and the metrics block of docs/models.md.
#   scripts/model_card.sh [DATASET_DIR...]   (default ../shared/datasets/fire-flood-v1 and -v2)
# Features are cached under data/features; the input-size study (COMPARE, default 320) exports a second backbone
# (torch, the [train] extra) unless COMPARE is empty.
set -eu
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
DATA=""
for d in "${@:-../shared/datasets/fire-flood-v1 ../shared/datasets/fire-flood-v2}"; do
    for one in $d; do
        [ -d "$one/classify" ] || { echo "model_card: no data set at $one" >&2; exit 2; }
        DATA="$DATA --data $one"
    done
done
# shellcheck disable=SC2086
nice -n 15 "$PY" -m analytics.training.cli model metrics $DATA --models configs/models.yaml \
    --max-false-alarm "${MAX_FALSE_ALARM:-0.03}" --compare ${COMPARE-320}
"$PY" -m analytics.training.card docs/models.md models/metrics.json
echo "updated models/metrics.json, docs/models-pr.png, configs/models.yaml and docs/models.md"
