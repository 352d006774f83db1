# The two contract targets: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test ensure-redis lint typecheck rewrite unit bench bench-quick chaos clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]' --config-settings editable_mode=compat
	$(BIN)/python -m compileall -q jobctl >/dev/null
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/jobctl --config jobs.toml.example up

# The checks and the rewriting of the tests' asserts (which every test process would do
# again for itself) side by side; then the tests, which read the rewritten modules.
test: $(STAMP) ensure-redis
	$(MAKE) --no-print-directory -j2 --output-sync lint typecheck rewrite
	$(MAKE) --no-print-directory unit

ensure-redis:
	bash .ci/ensure-redis

lint: $(STAMP)
	$(BIN)/ruff check jobctl tests bench
	$(BIN)/ruff format --check jobctl tests bench

typecheck: $(STAMP)
	$(BIN)/mypy jobctl

# pytest rewrites the asserts of the test modules (some 6 s of CPU) and keeps the result
# beside each, unless PYTHONDONTWRITEBYTECODE is set (as some images set it): then each test
# process did it again, at every run.
TESTENV := PYTHONDONTWRITEBYTECODE=
rewrite: $(STAMP)
	$(TESTENV) $(BIN)/python -m pytest --collect-only -q >/dev/null

# Two test processes a core: the tests spend much of their time waiting on the processes
# they start, and the others keep the cores busy meanwhile (on 2 cores, 3m54s against 4m26s
# with one more than the cores). An idle test process takes tests from the others' queues
# (worksteal): a few tests of 8-10 s dealt out late held the run's end (4m23s against
# 4m57s for the same suite).
unit: $(STAMP)
	$(TESTENV) $(BIN)/python -m pytest --dist worksteal -n $$($(BIN)/python -c "import os; print(2 * (os.cpu_count() or 1))")

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run_all.py --quick

chaos: $(STAMP)
	$(BIN)/python -m pytest tests -m chaos

.PHONY: completions
completions: $(STAMP)
	$(BIN)/python -m jobctl.cli.completions completions

clean:
	rm -rf $(VENV) .jobctl .mypy_cache .ruff_cache .pytest_cache
