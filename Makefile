# Two commands are all a newcomer needs: `make lab` and `make test`. Both set up first.
SHELL := /bin/bash
BIN := .venv/bin
ALLOW_ROOT := $(shell [ "$$(id -u)" -eq 0 ] && echo --allow-root)
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider

.PHONY: setup lab test test-unit test-notebooks test-nonroot bench clean preflight

setup:
	@./scripts/setup.sh

lab: setup
	$(BIN)/jupyter lab $(ALLOW_ROOT) notebooks/00-welcome.ipynb

test: setup
	@SETUP_STRICT=1 ./scripts/setup.sh >/dev/null
	$(MAKE) --no-print-directory test-unit test-notebooks test-nonroot

# The layer rule first (seconds): no module of labs/ imports from a layer above its own.
test-unit:
	$(BIN)/lint-imports --no-cache
	$(PYTEST) tests -q --durations=15

# Every notebook as the learner gets it (exercise checks say "not yet" and the run goes on).
# The solution form (every check, exercises included, must pass) runs in test-unit, twice in one
# kernel: tests/test_run_all_twice.py.
test-notebooks:
	$(PYTEST) --nbval-lax notebooks -q

# Binder runs as an unprivileged user: as root, run lesson 00 again as one.
test-nonroot:
	@./scripts/test-nonroot.sh

# Before a workshop: can every lesson run here? One verdict line, and a line to paste into the chat.
preflight: setup
	$(BIN)/python -m labs preflight

bench: setup
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	-$(BIN)/python -m labs clean
	rm -rf build .pytest_cache
