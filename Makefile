# fusionhub — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint system-deps bench bench-wall loadtest-smoke models-eval models-train fuzz clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

## Hub with an embedded Redis-compatible server and 16 simulated cameras: http://127.0.0.1:8080
demo: setup
	$(BIN)/fusionhub demo

## Debian packages the tests talk to (ffmpeg, GStreamer RTSP server); installed when missing
system-deps:
	@scripts/ensure-system-deps.sh

lint: setup
	$(BIN)/ruff check .

test: setup system-deps lint
	$(BIN)/python -m pytest

## Benchmarks (not tests): CPU per ingested stream and per viewer, first-frame time
bench: setup
	$(BIN)/python -m loadtests.bench_core

## The wall in headless Chromium: first-frame times, 16 tiles, 20,000-source tree
bench-wall: setup system-deps
	$(BIN)/python -m loadtests.bench_wall

## Load-test scenario `smoke` (report.json, report.md and plots under data/loadtest/smoke)
loadtest-smoke: setup
	$(BIN)/python -m loadtests run --scenario smoke --out data/loadtest/smoke

## Fuzz every parser, one target after the other, FUZZ_SECONDS each (docs/reliability.md)
FUZZ_SECONDS ?= 60
fuzz: setup
	$(BIN)/python -m pip install -q -e '.[fuzz]'
	nice -n 15 $(BIN)/python -m fuzz run --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

## Model metrics + CPU speed -> models/metrics.json, docs/models.md (the model card),
## calibrated thresholds -> configs/models.yaml
models-eval: setup
	scripts/model_card.sh

## Retrain the shipped scene model (features cached under data/features), then `make models-eval`
models-train: setup
	nice -n 15 $(BIN)/python -m analytics.training.cli model train \
	    --data ../shared/datasets/fire-flood-v1 --data ../shared/datasets/fire-flood-v2 \
	    --input 224 --out models/fire-smoke-flood.onnx --reference tests/models/fixtures/fire.jpg \
	    tests/models/fixtures/smoke.jpg tests/models/fixtures/normal.jpg

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
