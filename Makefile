# Two commands, each doing its own set-up on a fresh machine (see README):
#   make demo   - the main job on the bundled real dataset
#   make test   - the test suite (what CI runs)
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
# bytecode at install time: where PYTHONDONTWRITEBYTECODE is set (as on the machines here) every Python process
# would otherwise compile arviz, pymc and scipy from source again (~12 s of every `simstats` command and test
# subprocess: importing simstats, arviz and pymc took 19.7 s without, 7.0 s with)
export UV_COMPILE_BYTECODE := 1
UV_VERSION := 0.13.9
PYTHON := $(shell command -v python3.12 2>/dev/null || ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | head -n1)
UV := $(PYTHON) -m uv
OUT ?= simstats-demo

.PHONY: setup setup-core demo test bench

setup-core:
	@test -n "$(PYTHON)" || { echo "Python 3.12 not found (PyMC 6 needs it)"; exit 1; }
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	@$(UV) sync --locked --inexact --python $(PYTHON) --quiet

setup:
	@test -n "$(PYTHON)" || { echo "Python 3.12 not found (PyMC 6 needs it)"; exit 1; }
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	@$(UV) sync --locked --all-extras --python $(PYTHON) --quiet

demo: setup-core
	.venv/bin/simstats demo --out $(OUT) --force

# --dist loadfile: a test file runs on one worker, so its module-scoped fits are made once, not once per worker.
# SIMSTATS_QUICK=1: notebooks that fit the whole real log (reproduction.ipynb) use short chains in the test run
test: setup
	SIMSTATS_QUICK=1 .venv/bin/python -m pytest -n 2 --dist loadfile --durations=15 --nbmake --nbmake-timeout=1200 tests simstats notebooks

bench: setup
	.venv/bin/python bench/aggregate_speed.py
