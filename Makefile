# Xinbao: `make demo` runs the platform on embedded defaults, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
DEMO_FIRMS ?= 2000
DEMO_ARGS ?=

.PHONY: install demo test lint bench clean

# uv installs what pip would (the same resolution from PyPI) from its cache, compiled as pip does
# (else every process the tests start compiles on import): 30 s -> 13 s
# for a fresh venv on the CI machine. pip is the fallback where uv cannot be had.
PIP_INSTALL := $(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv || true
	test -x $(BIN)/uv && $(PIP_INSTALL) -e '.[dev]' || $(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

$(BENCH_STAMP): $(STAMP)
	test -x $(BIN)/uv && $(PIP_INSTALL) -e '.[dev,bench]' || $(BIN)/python -m pip install -q -e '.[dev,bench]'
	touch $@

install: $(STAMP)

demo: install
	XINBAO_DEMO=1 $(BIN)/xinbao demo --firms $(DEMO_FIRMS) $(DEMO_ARGS)

lint: install
	$(BIN)/ruff check .

# Test modules spread over pytest-xdist workers, a module's tests on one worker (they share its
# database), handed out in collection order: the longest first (tests/conftest.py). One worker more
# than cores: much of the suite waits on servers, browsers and clocks it started (measured on
# 2 cores: 2 workers 443 s, 3 workers 387 s, 4 workers 418 s).
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(len(os.sched_getaffinity(0)) + 1)")
test: install lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

bench: $(BENCH_STAMP)
	@set -e; for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f; done

clean:
	rm -rf data xinbao.db xinbao.db-wal xinbao.db-shm .pytest_cache
