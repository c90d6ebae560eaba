# logvec — two commands for a newcomer: `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= demo-data

.PHONY: setup demo test lint deploy-check bench bench-grouping bench-detection clean

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

## test: the whole suite (unit, integration, end to end), a file per worker process (TEST_WORKERS, default 2):
## most of the time goes to waiting on brokers and servers; each file keeps its module fixtures to itself
TEST_WORKERS ?= 2
test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

## lint: ruff with the rules in pyproject.toml, mypy on logvec/ (settings in pyproject.toml)
lint: setup
	$(BIN)/pip install -q -e '.[lint]'
	$(BIN)/ruff check logvec tests benchmarks scripts
	$(BIN)/mypy

## deploy-check: render deploy/k8s (base and overlays) and deploy/prometheus, validate them (Kubernetes schemas,
## deploy/schemas for KEDA and the Prometheus Operator), the alert rules, compose and the Dockerfile (hadolint),
## then checkov on the rendered manifests (in .venv-deploy: its dependencies stay out of logvec's)
deploy-check: setup
	$(BIN)/python -m pytest -q tests/test_deploy.py
	test -x .venv-deploy/bin/checkov || { $(PYTHON) -m venv .venv-deploy && .venv-deploy/bin/pip install -q checkov; }
	mkdir -p .deploy-check
	for o in stack embedded; do $(BIN)/kubectl kustomize deploy/k8s/overlays/$$o > .deploy-check/$$o.yaml; done
	.venv-deploy/bin/checkov --framework kubernetes --compact --quiet --skip-download \
		-f .deploy-check/stack.yaml -f .deploy-check/embedded.yaml

bench: setup
	$(BIN)/python benchmarks/bench_throughput.py --lines 1000000

bench-grouping: setup
	$(BIN)/python benchmarks/bench_grouping.py

## bench-detection: the default pipeline and the classic detectors on held-out cases (BENCHMARKS.md)
bench-detection: setup
	$(BIN)/python benchmarks/bench_detection.py --session-detectors novelty+knn,novelty+pca,novelty,novelty+pca+knn

clean:
	rm -rf $(VENV) .venv-deploy .deploy-check $(DEMO) .pytest_cache benchmarks/out
