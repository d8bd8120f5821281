# Case Maker Press: the build graph. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
# keep every intermediate (sync maps, untagged MP3s): later stages and the report read them
.SECONDARY:
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
MODEL_CODE := pipeline/__init__.py pipeline/cli.py pipeline/model/sources.py pipeline/model/config.py pipeline/model/sentences.py \
              pipeline/model/problems.py pipeline/system/fsutil.py

.DEFAULT_GOAL := help

## help: list the targets
.PHONY: help
help:
	@grep -hE '^## [a-z-]+:' $(MAKEFILE_LIST) | sed -E 's/^## ([a-z-]+): /  make \1\t/' | expand -t 26

# ---------------------------------------------------------------------------- environment

$(VENV_OK): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade 'pip>=24'
	$(VENV)/bin/pip install --quiet -c constraints.txt -e '.[test,check]'
	touch $@

# Node tools for the checks: podcast-partytime (a real podcast parser), DAISY Ace, axe-core.
# Chromium comes from Debian (/usr/bin/chromium), never from a browser downloader.
NODE_OK := node_modules/.installed
$(NODE_OK): package.json package-lock.json
	PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	touch $@

## venv: create .venv and install the pinned dependencies
.PHONY: venv
venv: $(VENV_OK)

build build/report output:
	mkdir -p $@

# ---------------------------------------------------------------------------- the parts

# The generated list of parts and their recordings (PARTS, NARRATED, TEXT_id, REC_id, LABELS_id), and
# build/order.txt, the reading order, rewritten only when it changes (track numbers depend on it), and
# build/language.txt, the book's language, likewise (the aligner's reference voice depends on it).
# (A label file that appears beside a recording is picked up: its part gains LABELS_id.)
build/parts.mk: $(TEXT_FILES) $(RECORDING_FILES) $(wildcard recordings/*.labels.txt) $(MODEL_CODE) | $(VENV_OK) build
	$(PIPELINE) parts-mk texts --recordings recordings --order build/order.txt -o $@
build/order.txt build/language.txt: build/parts.mk
	@:

NEEDS_PARTS := $(if $(MAKECMDGOALS),$(filter-out help clean distclean venv preview demo-recordings,$(MAKECMDGOALS)),)
CUT_RETAKES :=
ifneq ($(NEEDS_PARTS),)
include build/parts.mk
endif

# All sources valid, every narrated part has a recording and every recording a part.
build/sources.ok: $(TEXT_FILES) $(RECORDING_FILES) $(MODEL_CODE) | $(VENV_OK) build
	$(PIPELINE) check-sources texts --recordings recordings -o $@

# ---------------------------------------------------------------------------- per part
.SECONDEXPANSION:

# Every edition is built into the staging site; `release` publishes it to output/ only when every check
# passes, so a failed release leaves the previous output/ exactly as it was.
SITE := build/site

AUDIO_CODE := pipeline/stages/audio.py pipeline/system/ffmpeg.py pipeline/system/fsutil.py $(MODEL_CODE)
ALIGN_CODE := pipeline/stages/align.py pipeline/stages/dtw.py pipeline/stages/deviations.py pipeline/stages/normalise.py pipeline/stages/syncmap.py \
              pipeline/system/ffmpeg.py $(MODEL_CODE)
SYNC_CODE := pipeline/stages/syncmap.py pipeline/system/fsutil.py pipeline/cli.py pipeline/model/problems.py

# With `[audio] cut_retakes = true` in book.toml (CUT_RETAKES in build/parts.mk), the aligner times the
# uncut master into build/sync-aligned/ (and its envelope into build/waveform-aligned/), and the cut stage
# below makes what the rest of the graph consumes: build/sync/, build/encoded/, build/epub-audio/,
# build/loudness/ and build/waveform/. Without it, the graph is the plain one.
ALIGNED := $(if $(CUT_RETAKES),build/sync-aligned,build/sync)
ENVELOPE := $(if $(CUT_RETAKES),build/waveform-aligned,build/waveform)

ifeq ($(CUT_RETAKES),)
# One decode: the trimmed, normalised, limited master; the untagged podcast MP3; the EPUB audio. Then
# the independent meter (ffmpeg ebur128) on the podcast MP3 as written, beside the other parts' work;
# the release check trusts it for the tagged copy, whose audio bytes are the same.
build/master/%.flac build/encoded/%.mp3 build/epub-audio/%.mp3 build/audio/%.json build/loudness/%.json: \
		$$(REC_$$*) texts/book.toml $(AUDIO_CODE) | build/sources.ok
	$(PIPELINE) master $(REC_$*) --texts texts -o build/master/$*.flac --mp3 build/encoded/$*.mp3 \
		--epub-audio build/epub-audio/$*.mp3 --report build/audio/$*.json --loudness build/loudness/$*.json
else
# The master alone (the MP3s are encoded from the cut master).
build/master/%.flac build/audio/%.json: $$(REC_$$*) texts/book.toml $(AUDIO_CODE) | build/sources.ok
	$(PIPELINE) master $(REC_$*) --texts texts -o build/master/$*.flac --report build/audio/$*.json

# The false starts cut out of the master at the middle of the pauses around them (the retakes accepted in
# the label file kept), the podcast MP3 and the EPUB audio encoded from it with the master stage's settings
# and measured, the timeline and the envelope shifted, the list of cuts for the proof and the report. It
# re-encodes only when the cuts (or the master) change.
CUT_CODE := pipeline/stages/cut.py pipeline/stages/audio.py pipeline/stages/proof.py pipeline/stages/syncmap.py pipeline/system/ffmpeg.py \
            pipeline/system/fsutil.py $(MODEL_CODE)
build/cut/%.flac build/cut/%.json build/sync/%.json build/encoded/%.mp3 build/epub-audio/%.mp3 \
build/loudness/%.json build/waveform/%.npy: build/master/%.flac $(ALIGNED)/%.json $(ENVELOPE)/%.npy \
		texts/book.toml $$(LABELS_$$*) $(CUT_CODE)
	$(PIPELINE) cut build/master/$*.flac --sync $(ALIGNED)/$*.json --texts texts -o build/cut/$*.flac \
		--sync-out build/sync/$*.json --cuts build/cut/$*.json --mp3 build/encoded/$*.mp3 \
		--epub-audio build/epub-audio/$*.mp3 --loudness build/loudness/$*.json \
		--waveform $(ENVELOPE)/$*.npy --waveform-out build/waveform/$*.npy $(if $(LABELS_$*),--accept $(LABELS_$*))
endif

# The label file's boundary labels alone (its `accept` lines dropped), rewritten only when they change, so
# that accepting a deviation re-runs the proof, not the aligner (which skips `accept` lines itself).
build/labels/%.stamp: $$(LABELS_$$*) | build
	@mkdir -p $(@D) && { LC_ALL=C grep -avP '^[^\t]*\t[^\t]*\t\s*accept(\s|$$)' $< || true; } > $@.tmp
	@touch $@ && if cmp -s $@.tmp build/labels/$*.txt; then rm $@.tmp; else mv $@.tmp build/labels/$*.txt; fi
build/labels/%.txt: build/labels/%.stamp
	@:

# The timeline: every sentence and heading of the part, timed in the master; and, from the same decode,
# the waveform's envelope for the report's picture.
$(ALIGNED)/%.json $(ENVELOPE)/%.npy: build/master/%.flac $$(TEXT_$$*) $$(if $$(LABELS_$$*),build/labels/$$*.txt) \
		build/audio/%.json build/language.txt $(ALIGN_CODE)
	$(PIPELINE) align build/master/$*.flac $(TEXT_$*) --language $(LANGUAGE) -o $(ALIGNED)/$*.json \
		--waveform $(ENVELOPE)/$*.npy \
		$(if $(LABELS_$*),--labels $(LABELS_$*) --audio-report build/audio/$*.json)

build/cover.png: texts/book.toml $(wildcard texts/*.png texts/*.jpg) pipeline/stages/cover.py $(MODEL_CODE) | build
	$(PIPELINE) cover texts -o $@

$(SITE)/audio/%.mp3: build/encoded/%.mp3 build/sync/%.json build/cover.png build/order.txt texts/book.toml \
		$$(TEXT_$$*) $(AUDIO_CODE) pipeline/stages/cover.py pipeline/stages/syncmap.py
	$(PIPELINE) tag build/encoded/$*.mp3 --sync build/sync/$*.json --part $* --texts texts \
		--cover build/cover.png -o $@

# Proofing: the deviations from the text not accepted in the part's label file, as Audacity labels over the
# recording, and all of them with their `accepted` flags for the report and the gate. (With cut retakes,
# the list of cuts maps the cut audio's times back to the recording's.)
PROOF_CODE := pipeline/stages/proof.py pipeline/stages/syncmap.py pipeline/system/fsutil.py pipeline/cli.py pipeline/model/problems.py
build/proof/%.txt build/proof/%.json: build/sync/%.json build/audio/%.json $$(LABELS_$$*) $(PROOF_CODE) \
		$(if $(CUT_RETAKES),build/cut/%.json)
	$(PIPELINE) proof build/sync/$*.json --audio-report build/audio/$*.json \
		$(if $(LABELS_$*),--accept $(LABELS_$*)) -o build/proof/$*.txt --json build/proof/$*.json \
		$(if $(CUT_RETAKES),--cuts build/cut/$*.json)

$(SITE)/transcripts/%.vtt: build/sync/%.json $(SYNC_CODE)
	$(PIPELINE) transcript $< -o $@

$(SITE)/chapters/%.json: build/sync/%.json $(SYNC_CODE)
	$(PIPELINE) chapters $< -o $@

# ---------------------------------------------------------------------------- the shared editions

FEED_CODE := pipeline/stages/feed.py pipeline/stages/syncmap.py $(MODEL_CODE)
EPUB_CODE := pipeline/stages/epub.py pipeline/stages/syncmap.py $(MODEL_CODE)
BOOK_ID ?= book
NARRATED ?=
# the narrated parts longest recording first (build/parts.mk): the per-part targets of the release are
# listed in this order, so Make starts the long parts' work first and the last to finish are short
SCHEDULE ?=

$(SITE)/cover.png: build/cover.png
	mkdir -p $(@D) && cp $< $@.tmp && mv $@.tmp $@

# The published feed (output/podcast.xml, the one being replaced) guards against losing an episode's GUID.
$(SITE)/podcast.xml: $(NARRATED:%=$(SITE)/audio/%.mp3) $(NARRATED:%=$(SITE)/transcripts/%.vtt) \
		$(NARRATED:%=$(SITE)/chapters/%.json) $(SITE)/cover.png $(TEXT_FILES) $(FEED_CODE)
	$(PIPELINE) feed texts --site $(SITE) -o $@ $(if $(wildcard output/podcast.xml),--previous output/podcast.xml)

WEB_CODE := pipeline/stages/largeprint.py $(wildcard pipeline/templates/web-*.html) $(wildcard pipeline/static/*) \
            pipeline/stages/syncmap.py $(MODEL_CODE)
PARTS ?=
WEB_OUT := $(SITE)/index.html $(PARTS:%=$(SITE)/stories/%.html) \
           $(patsubst pipeline/static/%,$(SITE)/static/%,$(wildcard pipeline/static/*))

# The large-print web edition: every page in one run (0.4 s for the book).
$(WEB_OUT) &: $(TEXT_FILES) $(NARRATED:%=build/sync/%.json) $(WEB_CODE) | build/sources.ok
	$(PIPELINE) web texts --sync build/sync --site $(SITE) -o $(SITE)/index.html

$(SITE)/$(BOOK_ID).epub: $(TEXT_FILES) $(NARRATED:%=build/sync/%.json) $(NARRATED:%=build/epub-audio/%.mp3) \
		build/cover.png $(EPUB_CODE)
	$(PIPELINE) epub texts --sync build/sync --audio build/epub-audio --cover build/cover.png -o $@

# ---------------------------------------------------------------------------- release

AUDIO_OUT := $(SCHEDULE:%=$(SITE)/audio/%.mp3) $(SCHEDULE:%=build/epub-audio/%.mp3)
TIMELINE_OUT := $(SCHEDULE:%=$(SITE)/transcripts/%.vtt) $(SCHEDULE:%=$(SITE)/chapters/%.json)
SITE_OUT := $(AUDIO_OUT) $(TIMELINE_OUT) $(SITE)/podcast.xml $(SITE)/$(BOOK_ID).epub $(WEB_OUT)
CHECK_CODE := pipeline/checks/gate.py pipeline/checks/epub.py pipeline/checks/feed.py pipeline/system/cdp.py pipeline/system/locate.py $(wildcard pipeline/report/*.py pipeline/templates/report-*.html) pipeline/stages/proof.py $(FEED_CODE) $(EPUB_CODE)
PROOF_OUT := $(SCHEDULE:%=build/proof/%.txt) $(SCHEDULE:%=build/proof/%.json)

## site: build every edition into build/site (staged, not yet checked or published)
.PHONY: site
site: build/sources.ok $(SITE_OUT)

# Every check on the staged site (EPUBCheck, Ace, axe, feed rules, loudness, links, proof) and the report.
# axe on every page as soon as the pages exist (beside the EPUB's build); its result is kept for the gate.
build/report/axe.json: $(WEB_OUT) pipeline/checks/gate.py pipeline/system/cdp.py pipeline/system/locate.py | $(NODE_OK) build/report
	$(PIPELINE) check-web $(SITE) -o $@

# EPUBCheck as soon as the EPUB exists (beside axe); the gate takes its findings when they are for the
# same EPUB (by SHA-256).
build/report/epubcheck.json: $(SITE)/$(BOOK_ID).epub pipeline/checks/epub.py pipeline/stages/epub.py pipeline/system/locate.py | build/report
	$(PIPELINE) check-epub $< --result $@ --report build/report/epub

build/report/checked: $(SITE_OUT) $(SCHEDULE:%=build/loudness/%.json) $(SCHEDULE:%=build/waveform/%.npy) \
		$(PROOF_OUT) build/report/axe.json $(if $(CUT_RETAKES),$(NARRATED:%=build/cut/%.json)) \
		build/report/epubcheck.json $(CHECK_CODE) | $(NODE_OK) build/report
	$(PIPELINE) check $(SITE) --texts texts --build build --report build/report -o $@ \
		--web-result build/report/axe.json --epubcheck-result build/report/epubcheck.json \
		$(if $(wildcard output/podcast.xml),--previous output/podcast.xml)

# Swap the checked site into output/ in one step.
build/published: build/report/checked pipeline/publish.py
	$(PIPELINE) publish $(SITE) output -o $@

# `make release` and `make test` use every core unless -j was given.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PARALLEL = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(JOBS))

## release: build every edition, check it all, and publish it to output/ (atomically)
.PHONY: release
release: $(VENV_OK)
	@$(MAKE) --no-print-directory $(PARALLEL) build/published

## proof: the deviations from the text of every part (build/proof/ID.txt, Audacity labels over the recording)
.PHONY: proof
proof: $(PROOF_OUT)

## audio: the tagged MP3s with chapters and the EPUB audio only
.PHONY: audio
audio: $(AUDIO_OUT)

## check: build the site and run every release check on it, without publishing
.PHONY: check
check: build/report/checked

## preview: serve output/ on http://localhost:8000 to click through the site before uploading
.PHONY: preview
preview: $(VENV_OK)
	@test -d output || { echo "output/ is empty: run make release first" >&2; exit 1; }
	$(PY) -m http.server --directory output --bind 127.0.0.1 8000

## test: build the staged site, then run the test suite
.PHONY: test
test: $(VENV_OK) $(NODE_OK)
	@$(MAKE) --no-print-directory $(PARALLEL) site
	$(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

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
	rm -rf $(VENV) node_modules
