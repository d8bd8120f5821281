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
# every input file: the set is part of the graph (build/inputs.txt), so that a deleted file is seen
INPUT_FILES := $(sort $(wildcard texts/* recordings/*))

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

# A list stamp: the words of $(1), one a line, written to the target only when they change. A deleted file
# makes nothing newer, but it changes such a list: rules that depend on the list see it.
define list-stamp
@mkdir -p $(@D) && printf '%s\n' $(1) > $@.tmp && if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi
endef

# Remove every file under the folders $(1) that is not one of the words of $(2) (the expected outputs).
define prune
LC_ALL=C comm -23 <(find $(1) -type f 2>/dev/null | sort) <(printf '%s\n' $(2) | sort) | xargs -r rm -fv --
endef

.PHONY: FORCE
FORCE:

# ---------------------------------------------------------------------------- the code each stage runs

# Derived from the source, never kept by hand: build/code.mk sets CODE_stage for every stage (the modules
# its command imports, transitively, and the templates and static files they read). `$(call code,STAGE)`
# reads it (empty before build/code.mk first exists: make then makes it and starts again).
# (pipeline/ with the slash: a scratch copy of the project has pipeline as a symbolic link)
CODE_FILES := $(shell find pipeline/ -type f ! -path '*/__pycache__/*' ! -name '*.pyc' | LC_ALL=C sort)
code = $(if $(filter file,$(origin CODE_$(1))),$(CODE_$(1)))
build/code-files.txt: FORCE
	$(call list-stamp,$(CODE_FILES))
build/code.mk: $(CODE_FILES) build/code-files.txt | $(VENV_OK) build
	$(PIPELINE) code-deps -o $@
NEEDS_PARTS := $(if $(MAKECMDGOALS),$(filter-out help clean distclean venv lint preview demo-recordings,$(MAKECMDGOALS)),)
ifneq ($(NEEDS_PARTS),)
# read before any rule that uses $(call code,...): prerequisites are expanded as the rules are read
include build/code.mk
endif

# ---------------------------------------------------------------------------- the parts

# The set of input files, rewritten only when a file appears or disappears.
build/inputs.txt: FORCE
	$(call list-stamp,$(INPUT_FILES))

# Content stamps: every rule that reads an input depends on its stamp, build/stamps/PATH, never on the
# file itself (the recipes read the file). A stamp holds the SHA-256 of its input and is rewritten only
# when that changes or the stamp is new, so what counts is the content, whatever the file's date says (a
# file moved in, extracted from an archive with its dates, a link, a recording replaced by an older one).
# One command, run on every make, brings them all up to date (pipeline/system/stamps.py: an input whose
# size, times and inode are as cached is not read again); each stamp's empty rule then makes Make read
# its time again, so only the rules of a stamp that moved run.
STAMPS := build/stamps
stamp = $(addprefix $(STAMPS)/,$(1))
build/stamps.done: FORCE | $(VENV_OK) build
	@$(PIPELINE) stamp-inputs --stamps $(STAMPS) $(sort $(INPUT_FILES) texts/book.toml)
	@touch $@
$(STAMPS)/%: build/stamps.done
	@:
TEXT_STAMPS := $(call stamp,$(TEXT_FILES))

# The generated list of parts and their recordings (PARTS, NARRATED, TEXT_id, REC_id, LABELS_id), made
# only from valid sources: every problem in texts/ and recordings/ (a narrated part with no recording
# E-REC-001, a recording with no part E-REC-002, ...) stops the build here, with its code. Beside it the
# stamps, each rewritten only when what it holds changes, for the rules that read just that:
#   build/order.txt       the reading order (track numbers; the editions' contents and which parts exist)
#   build/language.txt    the book's language (the aligner's reference voice and reading of numbers)
#   build/audio.json      book.toml's [audio] table (the master and cut stages read nothing else of it)
#   build/parts/ID.recording, build/parts/ID.labels   which recording and label file a part has
build/parts.mk: $(call stamp,$(wildcard texts/*)) build/inputs.txt $(call code,parts-mk) | $(VENV_OK) build
	$(PIPELINE) parts-mk texts --recordings recordings --stamps build -o $@
build/order.txt build/language.txt build/audio.json: build/parts.mk
	@:
build/parts/%.recording build/parts/%.labels: build/parts.mk
	@:

CUT_RETAKES :=
ifneq ($(NEEDS_PARTS),)
include build/parts.mk
endif

# ---------------------------------------------------------------------------- per part
.SECONDEXPANSION:

# Every edition is built into the staging site; `release` publishes it to output/ only when every check
# passes, so a failed release leaves the previous output/ exactly as it was.
SITE := build/site

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
		$$(call stamp,$$(REC_$$*)) build/parts/%.recording build/audio.json $(call code,master)
	$(PIPELINE) master $(REC_$*) --texts texts -o build/master/$*.flac --mp3 build/encoded/$*.mp3 \
		--epub-audio build/epub-audio/$*.mp3 --report build/audio/$*.json --loudness build/loudness/$*.json
else
# The master alone (the MP3s are encoded from the cut master).
build/master/%.flac build/audio/%.json: $$(call stamp,$$(REC_$$*)) build/parts/%.recording build/audio.json $(call code,master)
	$(PIPELINE) master $(REC_$*) --texts texts -o build/master/$*.flac --report build/audio/$*.json

# The false starts cut out of the master at the middle of the pauses around them (the retakes accepted in
# the label file kept), the podcast MP3 and the EPUB audio encoded from it with the master stage's settings
# and measured, the timeline and the envelope shifted, the list of cuts for the proof and the report. It
# re-encodes only when the cuts (or the master) change.
build/cut/%.flac build/cut/%.json build/sync/%.json build/encoded/%.mp3 build/epub-audio/%.mp3 \
build/loudness/%.json build/waveform/%.npy: build/master/%.flac $(ALIGNED)/%.json $(ENVELOPE)/%.npy \
		build/audio.json $$(call stamp,$$(LABELS_$$*)) build/parts/%.labels $(call code,cut)
	$(PIPELINE) cut build/master/$*.flac --sync $(ALIGNED)/$*.json --texts texts -o build/cut/$*.flac \
		--sync-out build/sync/$*.json --cuts build/cut/$*.json --mp3 build/encoded/$*.mp3 \
		--epub-audio build/epub-audio/$*.mp3 --loudness build/loudness/$*.json \
		--waveform $(ENVELOPE)/$*.npy --waveform-out build/waveform/$*.npy $(if $(LABELS_$*),--accept $(LABELS_$*))
endif

# The label file's boundary labels alone (its `accept` lines dropped), rewritten only when they change, so
# that accepting a deviation re-runs the proof, not the aligner (which skips `accept` lines itself).
build/labels/%.stamp: $$(call stamp,$$(LABELS_$$*)) | build
	@mkdir -p $(@D) && { LC_ALL=C grep -avP '^[^\t]*\t[^\t]*\t\s*accept(\s|$$)' $(LABELS_$*) || true; } > $@.tmp
	@touch $@ && if cmp -s $@.tmp build/labels/$*.txt; then rm $@.tmp; else mv $@.tmp build/labels/$*.txt; fi
build/labels/%.txt: build/labels/%.stamp
	@:

# The timeline: every sentence and heading of the part, timed in the master; and, from the same decode,
# the waveform's envelope for the report's picture.
$(ALIGNED)/%.json $(ENVELOPE)/%.npy: build/master/%.flac $$(call stamp,$$(TEXT_$$*)) $$(if $$(LABELS_$$*),build/labels/$$*.txt) \
		build/parts/%.labels build/audio/%.json build/language.txt $(call code,align)
	$(PIPELINE) align build/master/$*.flac $(TEXT_$*) --language $(LANGUAGE) -o $(ALIGNED)/$*.json \
		--waveform $(ENVELOPE)/$*.npy \
		$(if $(LABELS_$*),--labels $(LABELS_$*) --audio-report build/audio/$*.json)

# (book.toml's cover may be an image of any kind beside it: every file of texts/ but the parts)
build/cover.png: $(call stamp,$(sort texts/book.toml $(filter-out %.md,$(wildcard texts/*)))) $(call code,cover) | build
	$(PIPELINE) cover texts -o $@

$(SITE)/audio/%.mp3: build/encoded/%.mp3 build/sync/%.json build/cover.png build/order.txt \
		$(call stamp,texts/book.toml) $$(call stamp,$$(TEXT_$$*)) $(call code,tag)
	$(PIPELINE) tag build/encoded/$*.mp3 --sync build/sync/$*.json --part $* --texts texts \
		--cover build/cover.png -o $@

# Proofing: the deviations from the text not accepted in the part's label file, as Audacity labels over the
# recording, and all of them with their `accepted` flags for the report and the gate. (With cut retakes,
# the list of cuts maps the cut audio's times back to the recording's.)
build/proof/%.txt build/proof/%.json: build/sync/%.json build/audio/%.json $$(call stamp,$$(LABELS_$$*)) build/parts/%.labels $(call code,proof) \
		$(if $(CUT_RETAKES),build/cut/%.json)
	$(PIPELINE) proof build/sync/$*.json --audio-report build/audio/$*.json \
		$(if $(LABELS_$*),--accept $(LABELS_$*)) -o build/proof/$*.txt --json build/proof/$*.json \
		$(if $(CUT_RETAKES),--cuts build/cut/$*.json)

$(SITE)/transcripts/%.vtt: build/sync/%.json $(call code,transcript)
	$(PIPELINE) transcript $< -o $@

$(SITE)/chapters/%.json: build/sync/%.json $(call code,chapters)
	$(PIPELINE) chapters $< -o $@

# ---------------------------------------------------------------------------- the shared editions

BOOK_ID ?= book
NARRATED ?=
# the narrated parts longest recording first (build/parts.mk): the per-part targets of the release are
# listed in this order, so Make starts the long parts' work first and the last to finish are short
SCHEDULE ?=

$(SITE)/cover.png: build/cover.png
	mkdir -p $(@D) && cp $< $@.tmp && mv $@.tmp $@

# The published feed (output/podcast.xml, the one being replaced) guards against losing an episode's GUID.
$(SITE)/podcast.xml: $(NARRATED:%=$(SITE)/audio/%.mp3) $(NARRATED:%=$(SITE)/transcripts/%.vtt) \
		$(NARRATED:%=$(SITE)/chapters/%.json) $(SITE)/cover.png $(TEXT_STAMPS) build/order.txt $(call code,feed)
	$(PIPELINE) feed texts --site $(SITE) -o $@ $(if $(wildcard output/podcast.xml),--previous output/podcast.xml)

PARTS ?=
# the audiobook (below): none without a narrated part
M4B := $(if $(NARRATED),$(SITE)/$(BOOK_ID).m4b)
# every file under pipeline/static/, subfolders too (fonts/), as the web stage copies them
STATIC_FILES := $(shell find pipeline/static/ -type f ! -name '.*' ! -path '*/__pycache__/*' | LC_ALL=C sort)
WEB_OUT := $(SITE)/index.html $(PARTS:%=$(SITE)/stories/%.html) \
           $(patsubst pipeline/static/%,$(SITE)/static/%,$(STATIC_FILES))

# The large-print web edition: every page in one run (0.4 s for the book); then the pages of parts that
# no longer exist, and static files no longer shipped, are removed (only this stage writes there).
$(WEB_OUT) &: $(TEXT_STAMPS) build/order.txt $(NARRATED:%=build/sync/%.json) $(if $(M4B),build/m4b/download.json) \
		$(call code,web)
	$(PIPELINE) web texts --sync build/sync --site $(SITE) -o $(SITE)/index.html \
		$(if $(M4B),--audiobook build/m4b/download.json)
	@$(call prune,$(SITE)/stories $(SITE)/static,$(WEB_OUT))

$(SITE)/$(BOOK_ID).epub: $(TEXT_STAMPS) $(NARRATED:%=build/sync/%.json) $(NARRATED:%=build/epub-audio/%.mp3) \
		build/cover.png build/order.txt $(call code,epub)
	$(PIPELINE) epub texts --sync build/sync --audio build/epub-audio --cover build/cover.png -o $@

# ---------------------------------------------------------------------------- the audiobook

# One M4B of the whole book (pipeline/stages/audiobook.py). Each part's master (the cut master with cut
# retakes) is encoded to AAC once; the book is its parts' AAC frames joined in reading order, with the
# chapters from the timeline, the tags and the cover: a text edit only re-muxes (about a second).
# The book's channel count (stereo only when every master is), rewritten only when it changes.
AAC_FROM := $(if $(CUT_RETAKES),build/cut,build/master)
ifneq ($(M4B),)
build/m4b/layout.stamp: $(NARRATED:%=build/audio/%.json) $(call code,aac-layout) | build
	@mkdir -p $(@D)
	$(PIPELINE) aac-layout -o build/m4b/channels.txt $(NARRATED:%=build/audio/%.json)
	@touch $@
build/m4b/channels.txt: build/m4b/layout.stamp
	@:

build/m4b/%.aac: $(AAC_FROM)/%.flac build/m4b/channels.txt $(call code,aac)
	$(PIPELINE) aac $< --channels build/m4b/channels.txt -o $@

# the web index's download link (length and size) is rewritten only when it reads differently
$(M4B) build/m4b/book.json build/m4b/download.stamp &: $(NARRATED:%=build/m4b/%.aac) \
		$(NARRATED:%=build/sync/%.json) build/cover.png $(TEXT_STAMPS) build/order.txt $(call code,audiobook)
	$(PIPELINE) audiobook texts --sync build/sync --aac build/m4b --cover build/cover.png -o $(M4B) \
		--plan build/m4b/book.json --download build/m4b/download.json
	@touch build/m4b/download.stamp
build/m4b/download.json: build/m4b/download.stamp
	@:
endif

# ---------------------------------------------------------------------------- release

AUDIO_OUT := $(SCHEDULE:%=$(SITE)/audio/%.mp3) $(SCHEDULE:%=build/epub-audio/%.mp3)
TIMELINE_OUT := $(SCHEDULE:%=$(SITE)/transcripts/%.vtt) $(SCHEDULE:%=$(SITE)/chapters/%.json)
SITE_OUT := $(AUDIO_OUT) $(TIMELINE_OUT) $(SITE)/podcast.xml $(SITE)/$(BOOK_ID).epub $(WEB_OUT) $(M4B)
PROOF_OUT := $(SCHEDULE:%=build/proof/%.txt) $(SCHEDULE:%=build/proof/%.json)
TIMELINES := $(SCHEDULE:%=build/report/timelines/%.png)
# what the staged site holds: nothing else (build/site.list is rewritten only when the set changes)
SITE_FILES := $(sort $(filter $(SITE)/%,$(SITE_OUT)) $(SITE)/cover.png)
build/site.list: FORCE
	$(call list-stamp,$(SITE_FILES))

# Once every file of the site is built (no stage is writing into it then), the files of parts that no
# longer exist are removed from it: the staged site, and so output/, holds exactly the expected set.
build/site.ok: $(SITE_FILES) build/site.list
	@$(call prune,$(SITE),$(SITE_FILES))
	@touch $@

## site: build every edition into build/site (staged, not yet checked or published)
.PHONY: site
site: build/site.ok

# The report's timeline of each part (waveform, sentences, chapters, weak alignments), drawn beside the
# other parts' work; the check's report uses them as they are when they are newer than the timeline.
build/report/timelines/%.png: build/sync/%.json build/waveform/%.npy $(call code,timeline)
	$(PIPELINE) timeline build/waveform/$*.npy build/sync/$*.json -o $@

# Every check on the staged site (EPUBCheck, Ace, axe, feed rules, loudness, links, proof) and the report.
# axe on every page as soon as the pages exist (beside the EPUB's build); its result is kept for the gate.
build/report/axe.json: $(WEB_OUT) $(call code,check-web) | $(NODE_OK) build/report
	$(PIPELINE) check-web $(SITE) -o $@

# EPUBCheck as soon as the EPUB exists (beside axe); the gate takes its findings when they are for the
# same EPUB (by SHA-256).
build/report/epubcheck.json: $(SITE)/$(BOOK_ID).epub $(call code,check-epub) | build/report
	$(PIPELINE) check-epub $< --result $@ --report build/report/epub

# The audiobook read back by ffprobe, mutagen and MediaInfo and measured (ebur128), as soon as it exists.
build/report/audiobook.json: $(M4B) build/m4b/book.json build/cover.png $(call stamp,texts/book.toml) \
		$(call code,check-audiobook) \
		| build/report
	$(PIPELINE) check-audiobook $(M4B) --plan build/m4b/book.json --texts texts --cover build/cover.png \
		--sync build/sync --loudness build/m4b/loudness.json -o $@

build/report/checked: build/site.ok $(SITE_OUT) $(SCHEDULE:%=build/loudness/%.json) $(TIMELINES) \
		$(PROOF_OUT) build/report/axe.json $(if $(CUT_RETAKES),$(NARRATED:%=build/cut/%.json)) \
		build/report/epubcheck.json $(if $(M4B),build/report/audiobook.json) $(call stamp,texts/book.toml) $(call code,check) \
		| $(NODE_OK) build/report
	$(PIPELINE) check $(SITE) --texts texts --build build --report build/report -o $@ \
		--web-result build/report/axe.json --epubcheck-result build/report/epubcheck.json \
		$(if $(M4B),--audiobook-result build/report/audiobook.json) \
		$(if $(wildcard output/podcast.xml),--previous output/podcast.xml)

# Swap the checked site into output/ in one step.
build/published: build/report/checked $(call code,publish)
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

## report: re-render the release report from the last check's results, without running the checks again
.PHONY: report
report: $(TIMELINES) $(NARRATED:%=build/audio/%.json) $(NARRATED:%=$(SITE)/audio/%.mp3) | build/report
	$(PIPELINE) report texts --site $(SITE) --build build --checks build/report/checks.json -o build/report/index.html

## audio: the tagged MP3s with chapters and the EPUB audio only
.PHONY: audio
audio: $(AUDIO_OUT)

## audiobook: the whole book as one M4B with chapters (build/site/BOOK_ID.m4b), without the checks
.PHONY: audiobook
audiobook: $(M4B)

## check: build the site and run every release check on it, without publishing
.PHONY: check
check: build/report/checked

## preview: serve output/ on http://127.0.0.1:8000 (PORT=...) to click through the site before uploading
PORT ?= 8000
.PHONY: preview
preview: $(VENV_OK)
	@test -d output || { echo "output/ is empty: run make release first" >&2; exit 1; }
	$(PIPELINE) preview output --port $(PORT)

## lint: ruff (style, imports, bugbear) and mypy (types; strict for pipeline/model): any finding fails
.PHONY: lint
lint: $(VENV_OK)
	$(PY) -m ruff check pipeline tests bench scripts tools
	$(PY) -m mypy

## test: the lint and type gates, build the staged site and the proof, then run the test suite
.PHONY: test
test: $(VENV_OK) $(NODE_OK)
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory $(PARALLEL) site proof
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
