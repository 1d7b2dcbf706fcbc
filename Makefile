# DarkFace Studio: the two quick-start commands.
#   make run    set up (or reuse) .venv and launch the app
#   make test   set up (or reuse) .venv and run the whole test suite
#   make test-pg  the same, against a throwaway PostgreSQL server (.ci/with_postgres.sh)
#   make test-fast  the edit-test loop: everything but the slow, PostgreSQL and CUDA tests,
#               in FAST_WORKERS (2) pytest-xdist processes (0: in this process)
#   make lint   ruff (lint + import order), mypy on srn/, import-linter's layer contracts
#   make wheel  build dist/darkface_studio-<version>-py3-none-any.whl (offline, with the test extra's tools)
#   make selftest  darkface-studio --selftest from .venv (offscreen)
# Both create a local virtual environment in .venv and install the project into it
# (editable, with the test extra). PYTHON picks the interpreter used to create it.
# TORCH_INDEX installs torch and torchvision from another package index first, e.g. the
# CPU-only build for a machine without an NVIDIA GPU (leaves out ~2.4 GB of CUDA libraries):
#   make run TORCH_INDEX=https://download.pytorch.org/whl/cpu

PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.darkface-installed
# Qt platform to check system libraries for: a real window (xcb) unless told otherwise.
QT_PLATFORM := $(if $(filter offscreen,$(QT_QPA_PLATFORM)),offscreen,xcb)
PYTEST_ARGS ?=
FAST_WORKERS ?= 2
TORCH_INDEX ?=
# The same pins as pyproject.toml (tests/test_check_system.py keeps them equal).
TORCH_PINS := 'torch>=2.4,<2.15' 'torchvision>=0.19,<0.30'

.PHONY: run test test-fast test-pg lint setup wheel selftest clean-venv

run: $(STAMP)
	@$(PYTHON) packaging/check_system.py --qt $(VPY) --platform $(QT_PLATFORM)
	$(VPY) main.py

test: $(STAMP)
	@$(PYTHON) packaging/check_system.py --qt $(VPY) --platform offscreen
	QT_QPA_PLATFORM=offscreen $(VPY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(VPY) -m pytest -n $(FAST_WORKERS) -m "not slow and not postgres and not cuda" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# make test with DFS_TEST_PG_URL pointing at a fresh PostgreSQL server, removed afterwards.
test-pg:
	.ci/with_postgres.sh $(MAKE) test

setup: $(STAMP)

wheel: $(STAMP)
	$(VPY) -m build --wheel --no-isolation --outdir dist .

selftest: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(VPY) main.py --selftest

# Reinstalled whenever pyproject.toml changes; pip reuses what is already there.
$(STAMP): pyproject.toml
	@$(PYTHON) packaging/check_system.py --python
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(if $(TORCH_INDEX),$(VPY) -m pip install --quiet --index-url $(TORCH_INDEX) $(TORCH_PINS))
	$(VPY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

clean-venv:
	rm -rf $(VENV)
