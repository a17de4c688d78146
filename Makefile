# anomaly — the README's commands. Everything installs itself into .venv from nothing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch first, pinned to the CPU build on this kind of machine; override e.g. TORCH_SPEC='torch>=2.4'
TORCH_SPEC ?= torch==2.13.0
WORKSPACE ?= .

.PHONY: setup lint test demo dashboard bench browser clean

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

# The demo ends by opening the dashboard on its model and scored file: always with
# DEMO_DASHBOARD=1, never with DEMO_DASHBOARD=0, and by default only in a terminal outside CI
# (so a non-interactive `make demo` prints the command instead of serving forever).
DEMO_DASHBOARD ?= auto
PORT ?= 8501

demo: setup data/transactions_train.csv
	$(BIN)/anomaly demo --workspace $(WORKSPACE)
	@if [ "$(DEMO_DASHBOARD)" = 1 ] || { [ "$(DEMO_DASHBOARD)" = auto ] && [ -t 1 ] && [ -z "$$CI" ]; }; then \
		$(MAKE) --no-print-directory dashboard; \
	else \
		echo "dashboard: $(BIN)/anomaly dashboard --workspace $(WORKSPACE) --port $(PORT)  (or: make dashboard) → http://127.0.0.1:$(PORT)"; \
	fi

dashboard: setup
	$(BIN)/anomaly dashboard --workspace $(WORKSPACE) --port $(PORT)

bench: setup
	$(BIN)/python -m bench.train_speed
	$(BIN)/python -m bench.tabular_accuracy
	$(BIN)/python -m bench.skab
	$(BIN)/python -m bench.hdfs
	$(BIN)/python -m bench.score_speed
	$(BIN)/python -m bench.score_memory
	$(BIN)/python -m bench.dashboard

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache scores runs.db artifacts
