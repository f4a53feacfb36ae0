# Two commands are all a newcomer needs: `make lab` and `make test`. Both set up first.
SHELL := /bin/bash
BIN := .venv/bin
ALLOW_ROOT := $(shell [ "$$(id -u)" -eq 0 ] && echo --allow-root)
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider

.PHONY: setup lab test test-unit test-notebooks test-nonroot test-docker test-binder test-browser bench clean preflight solved

setup:
	@./scripts/setup.sh

# The whole repository is served (README, docs/, solutions/ in the file browser) and lesson 00 opens.
# The course keeps its own JupyterLab layout in .jupyter/workspaces (first seeded from
# .jupyter/workspace.json: the file browser open on notebooks/, wide enough for the lessons' names),
# and .jupyter/lab-settings/overrides.json drops the "Modified" column and the news pop-up.
WORKSPACES := $(CURDIR)/.jupyter/workspaces
lab: setup
	@[ -n "$$(ls $(WORKSPACES) 2>/dev/null)" ] || $(BIN)/jupyter lab workspaces import \
		--LabWorkspaceImportApp.workspaces_dir="$(WORKSPACES)" .jupyter/workspace.json >/dev/null
	$(BIN)/jupyter lab $(ALLOW_ROOT) --ServerApp.root_dir="$(CURDIR)" --LabApp.workspaces_dir="$(WORKSPACES)" \
		--LabApp.app_settings_dir="$(CURDIR)/.jupyter/lab-settings" notebooks/00-welcome.ipynb

test: setup
	@SETUP_STRICT=1 ./scripts/setup.sh >/dev/null
	$(MAKE) --no-print-directory test-unit test-docker
	@# Every notebook in learner form: in the browser pass when it can run (root, Chromium), which
	@# then proves the Binder box too; with nbval (test-notebooks) and test-nonroot otherwise.
	@LABS_LEARNER_FORM_FALLBACK=1 ./scripts/test-binder.sh

# The layer rule first (seconds): no module of labs/ imports from a layer above its own. Then the
# tests on LABS_TEST_WORKERS processes (default 2, one per core of a laptop or CI; 0: one process):
# a module's tests stay together, each notebook's Run All twice is a group of its own (conftest.py).
LABS_TEST_WORKERS ?= 2
WORKERS := $(if $(filter 0,$(LABS_TEST_WORKERS)),,-n $(LABS_TEST_WORKERS) --dist loadgroup)
test-unit:
	$(BIN)/lint-imports --no-cache
	$(PYTEST) tests -q --durations=15 $(WORKERS)

# Every notebook as the learner gets it (exercise checks say "not yet" and the run goes on).
# The solution form (every check, exercises included, must pass) runs in test-unit, twice in one
# kernel: tests/test_run_all_twice.py.
test-notebooks:
	$(PYTEST) --nbval-lax notebooks -q $(if $(filter 0,$(LABS_TEST_WORKERS)),,-n $(LABS_TEST_WORKERS) --dist loadfile)

# Binder runs as an unprivileged user: as root, run lesson 00 again as one (test-binder does it for
# every lesson, and falls back to this where there is no browser).
test-nonroot:
	@./scripts/test-nonroot.sh

# One pass proves both: every lesson in a real browser (headless Chromium driving JupyterLab), opened
# in turn without closing a kernel, inside a Binder-sized box (unprivileged user, 1 CPU as a CFS quota,
# 2 GiB). Prints each lesson's time and the box's peak memory; screenshots in build/screenshots/.
test-binder test-browser:
	@./scripts/test-binder.sh

# The docker backend against a real engine: as root (CI) a private dockerd, stand-in images built from
# Debian (no registry), lessons 00 02 03 09 10 11 12 with LABS_BACKEND=docker, then everything torn down.
# Elsewhere it prints why it skipped.
test-docker:
	@./scripts/test-docker.sh

# Before a workshop: can every lesson run here? One verdict line, and a line to paste into the chat.
preflight: setup
	$(BIN)/python -m labs preflight

# For instructors: every lesson with its exercise cells replaced by solutions/, in build/solved/
# (notebooks/ is untouched; make clean removes them). docs/instructors.md says how to use them.
solved: setup
	$(BIN)/python -m labs.tools.notebooks notebooks solutions build/solved

bench: setup
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	-$(BIN)/python -m labs clean
	rm -rf build .pytest_cache
