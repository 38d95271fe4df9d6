# The front door. `make run` runs the bundled example end to end; `make test` runs every check.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# CPU wheel; on a GPU machine set TORCH_SPEC="torch==2.13.0" with the CUDA index of your choice
TORCH_SPEC ?= torch==2.13.0
IMAGE ?= ghcr.io/lstmtune/lstmtune:0.1.0
IMAGE_CUDA ?= ghcr.io/lstmtune/lstmtune-cuda:0.1.0
PYTEST_ARGS ?=

.PHONY: install run test lint typecheck pytest compile images clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"   # first, so nothing pulls a CUDA build
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/lstmtune run

lint: install
	$(BIN)/ruff check src components pipelines tests benchmarks
	$(BIN)/ruff format --check src components pipelines tests benchmarks

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

compile: install
	$(BIN)/lstmtune compile --output lstmtune-pipeline.yaml --image $(IMAGE)

images:
	docker build -f images/Dockerfile -t $(IMAGE) .
	docker build -f images/Dockerfile.cuda -t $(IMAGE_CUDA) .

clean:
	rm -rf lstmtune-output lstmtune-pipeline.yaml .pytest_cache .mypy_cache .ruff_cache

# --- Kubernetes: manifests in k8s/, local kind cluster end to end (needs Docker + kind) ---
.PHONY: kind-up kind-e2e kind-down k8s-validate

kind-up:
	LSTMTUNE_IMAGE=$(IMAGE) scripts/kind-up.sh

kind-e2e: install
	LSTMTUNE=$(BIN)/lstmtune PYTHON=$(PY) scripts/kind-e2e.sh

kind-down:
	scripts/kind-down.sh

k8s-validate: install
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_k8s.py

# --- Benchmarks (scripts that print tables; see benchmarks/README.md). JSON figures go to $(BENCH_OUT) ---
BENCH_OUT ?= bench-results
BENCH_ARGS ?=
.PHONY: bench bench-quick

bench: install
	mkdir -p $(BENCH_OUT)
	$(BIN)/python benchmarks/bench_time_to_quality.py --json $(BENCH_OUT)/time_to_quality.json $(BENCH_ARGS)
	$(BIN)/python benchmarks/bench_throughput.py --json $(BENCH_OUT)/throughput.json $(BENCH_ARGS)
	$(BIN)/python benchmarks/bench_overhead.py --json $(BENCH_OUT)/overhead.json $(BENCH_ARGS)
	$(BIN)/python benchmarks/bench_strategies.py --json $(BENCH_OUT)/strategies.json $(BENCH_ARGS)
	$(BIN)/python benchmarks/bench_fused.py --json $(BENCH_OUT)/fused.json $(BENCH_ARGS)

bench-quick:
	$(MAKE) bench BENCH_ARGS="--quick $(BENCH_ARGS)"
