# Case Maker Press: the build graph. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:
MAKEFLAGS += --no-builtin-rules --warn-undefined-variables

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_OK := $(VENV)/.installed
PIPELINE := $(PY) -m pipeline
PYTEST_ARGS ?=

TEXT_FILES := $(sort $(wildcard texts/*.md)) texts/book.toml
RECORDING_FILES := $(sort $(filter-out %.labels.txt,$(wildcard recordings/*)))
MODEL_CODE := pipeline/__init__.py pipeline/cli.py pipeline/sources.py pipeline/sentences.py \
              pipeline/problems.py pipeline/fsutil.py

.DEFAULT_GOAL := help

## help: list the targets
.PHONY: help
help:
	@grep -hE '^## [a-z-]+:' $(MAKEFILE_LIST) | sed -E 's/^## ([a-z-]+): /  make \1\t/' | expand -t 26

# ---------------------------------------------------------------------------- environment

$(VENV_OK): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade 'pip>=24'
	$(VENV)/bin/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

## venv: create .venv and install the pinned dependencies
.PHONY: venv
venv: $(VENV_OK)

build build/report output:
	mkdir -p $@

# ---------------------------------------------------------------------------- the parts

# The generated list of parts and their recordings (PARTS, NARRATED, TEXT_id, REC_id, LABELS_id).
build/parts.mk: $(TEXT_FILES) $(RECORDING_FILES) $(MODEL_CODE) | $(VENV_OK) build
	$(PIPELINE) parts-mk texts --recordings recordings -o $@

NEEDS_PARTS := $(if $(MAKECMDGOALS),$(filter-out help clean distclean venv test test-all demo-recordings,$(MAKECMDGOALS)),)
ifneq ($(NEEDS_PARTS),)
include build/parts.mk
endif

# All sources valid, every narrated part has a recording and every recording a part.
build/sources.ok: $(TEXT_FILES) $(RECORDING_FILES) $(MODEL_CODE) | $(VENV_OK) build
	$(PIPELINE) check-sources texts --recordings recordings -o $@

# ---------------------------------------------------------------------------- release

## release: build every edition from texts/ and recordings/ into output/
.PHONY: release
release: build/sources.ok

## check: validate the sources (and, once built, the site in output/)
.PHONY: check
check: build/sources.ok

## test: run the test suite (fast; SLOW=1 adds the long checks)
.PHONY: test
test: $(VENV_OK)
	$(PY) -m pytest -q -n 2 $(if $(SLOW),,-m 'not slow') $(PYTEST_ARGS)

## demo-recordings: regenerate the synthetic demo narrations in recordings/ (needs flite, ffmpeg)
.PHONY: demo-recordings
demo-recordings: $(VENV_OK)
	$(PY) scripts/make_demo_recordings.py --texts texts --out recordings

## clean: remove build/ and output/
.PHONY: clean
clean:
	rm -rf build output

## distclean: also remove the virtual environment
.PHONY: distclean
distclean: clean
	rm -rf $(VENV)
