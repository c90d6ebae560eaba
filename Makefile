# logvec — two commands for a newcomer: `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= demo-data

.PHONY: setup demo test lint bench bench-grouping bench-detection clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the CPU build of torch first: a looser requirement would pull a multi-GB CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/.installed

## demo: generate 50k multi-service log lines, run the default pipeline on them, then search
demo: setup
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/python benchmarks/generate_logs.py --lines 50000 --out $(DEMO)/sample.log
	$(BIN)/logvec run --pipeline pipelines/default.yaml --input $(DEMO)/sample.log --data-dir $(DEMO)/data
	$(BIN)/logvec search "write to /srv/data/7 failed: No space left on device" \
		--pipeline pipelines/default.yaml --data-dir $(DEMO)/data -k 5
	$(BIN)/logvec stats --pipeline pipelines/default.yaml --data-dir $(DEMO)/data

## test: the whole suite (unit, integration, end to end)
test: setup
	$(BIN)/python -m pytest -q

## lint: ruff with the rules in pyproject.toml, mypy on logvec/ (settings in pyproject.toml)
lint: setup
	$(BIN)/pip install -q -e '.[lint]'
	$(BIN)/ruff check logvec tests benchmarks scripts
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/bench_throughput.py --lines 1000000

bench-grouping: setup
	$(BIN)/python benchmarks/bench_grouping.py

## bench-detection: the default pipeline and the classic detectors on held-out cases (BENCHMARKS.md)
bench-detection: setup
	$(BIN)/python benchmarks/bench_detection.py --session-detectors novelty+knn,novelty+pca,novelty,novelty+pca+knn

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache benchmarks/out
