# anomaly — the README's commands. Everything installs itself into .venv from nothing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch first, pinned to the CPU build on this kind of machine; override e.g. TORCH_SPEC='torch>=2.4'
TORCH_SPEC ?= torch==2.13.0
WORKSPACE ?= .

.PHONY: setup lint test demo bench browser clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev,dask,bench]"
	touch $@

# Real-browser tests need Debian's chromium; install it when we are root and it is missing.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

lint: setup
	$(BIN)/ruff check anomaly tests bench dashboards data
	$(BIN)/mypy

test: setup lint browser
	$(BIN)/python -m pytest

data/transactions_train.csv:
	$(BIN)/python data/generate.py --out data

demo: setup data/transactions_train.csv
	$(BIN)/anomaly demo --workspace $(WORKSPACE)

bench: setup
	$(BIN)/python bench/train_speed.py
	$(BIN)/python bench/tabular_accuracy.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache scores runs.db artifacts
