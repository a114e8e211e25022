# Two commands matter: `make demo` and `make test`. Both set everything up themselves (idempotent).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONUNBUFFERED := 1

# The typed core (DESIGN.md: mypy on the core); the classifier modules it imports are checked through it.
TYPED := config.py domain app pipelines store digests cases
# pytest-xdist workers for `make test`, each test module whole on one worker; 0 runs in one process
TEST_WORKERS ?= 2

.PHONY: setup system demo test lint bench hostile clean

setup: $(STAMP)

# System packages (Debian's chromium, CJK fonts, redis-server) — installed when running as root with apt,
# otherwise a clear message says what is missing. Never downloads a browser build of its own.
system:
	@bash .ci/system-packages.sh

$(STAMP): requirements.lock pyproject.toml .ci/system-packages.sh
	@bash .ci/system-packages.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $(STAMP)

# Crawls the demo web, then serves the web console on 127.0.0.1:8000 with one demo account per role (Ctrl-C stops).
# `yijian demo --once` crawls and exits (scripts, tests).
demo: setup
	$(BIN)/yijian demo

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy --ignore-missing-imports $(TYPED)
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=15 -n $(TEST_WORKERS) --dist loadfile

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy --ignore-missing-imports $(TYPED)

bench: setup
	$(BIN)/python bench/pipeline_bench.py
	$(BIN)/python bench/extraction_eval.py

# Hostile input, longer than in `make test`: 3,000 generated pages for each of three seeds, 5,000 hypothesis examples
# per fuzz test, the crash tests; the corpus report (slowest, largest, peak memory) goes to bench/results/.
hostile: setup
	YIJIAN_HOSTILE_PAGES=3000 YIJIAN_HOSTILE_SEEDS=13,14,15 HYPOTHESIS_PROFILE=hostile \
	YIJIAN_HOSTILE_REPORT=bench/results/hostile.json \
	$(BIN)/python -m pytest -q -p no:cacheprovider -s --timeout=7200 tests/test_hostile.py tests/test_faults.py

clean:
	rm -rf $(VENV) data bench/results
