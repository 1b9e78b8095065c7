# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Each creates .venv when missing, installs the project with its pinned dependencies, and installs
# the Debian packages headless rendering needs (Mesa EGL, OSMesa as fallback) when missing.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mimicsim-installed
# Mesa's EGL for MUJOCO_GL=egl, OSMesa for the osmesa fallback, ffmpeg's runtime comes with imageio-ffmpeg.
GL_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 libosmesa6
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint system-deps install clean

demo: install
	$(VENV)/bin/mimicsim demo --out out

test: install
	$(PY) -m pytest -q

# ruff (lint and format) and mypy, configured in pyproject.toml. mypy sees the repository root as
# the `mimicsim` package through a link in the venv.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@mkdir -p $(VENV)/typecheck && ln -sfn "$(CURDIR)" $(VENV)/typecheck/mimicsim
	MYPYPATH=$(VENV)/typecheck $(VENV)/bin/mypy -p mimicsim

install: system-deps $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first: its CPU build is on disk; the pin keeps pip from fetching a CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

system-deps:
	@missing=""; \
	ldconfig -p | grep -q 'libEGL.so.1 ' || missing="yes"; \
	ldconfig -p | grep -q 'libOSMesa.so' || missing="yes"; \
	ls /usr/lib/*/dri/swrast_dri.so >/dev/null 2>&1 || missing="yes"; \
	if [ -n "$$missing" ]; then \
		echo "installing headless rendering packages: $(GL_PACKAGES)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(GL_PACKAGES); \
	fi

clean:
	rm -rf $(VENV) out build *.egg-info
