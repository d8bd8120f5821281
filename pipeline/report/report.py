"""The release report stage: per part, the duration, loudness and peak before and after mastering, the
chapters, the lowest alignment confidences with their sentences, the retakes cut, the proof, every
validator's result, and a timeline picture (waveform with sentence and chapter boundaries, weak alignments
shaded) so an editor sees a bad alignment at a glance.

``python -m pipeline report texts --site output --build build -o build/report/index.html`` writes the page
(self-contained apart from the timeline pictures and the MP3s its players point to) and prints a short
table. Where each input lives comes from ``--build`` (the Makefile's layout, :meth:`ReportInputs.under`)
and can be overridden folder by folder. The checks stage calls :func:`write_report` with its results;
run alone, the page says the checks were not run.

The parts are split by job: :mod:`pipeline.report.facts` gathers and measures (typed facts),
:mod:`pipeline.report.timeline` draws the pictures, :mod:`pipeline.report.page` renders the page from the
jinja2 templates ``pipeline/templates/report-*.html`` and :mod:`pipeline.report.terminal` the table.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline.model.contracts import CheckResult, read_check_results, read_syncmap
from pipeline.model.problems import display_path
from pipeline.model.sources import load_book
from pipeline.report.facts import (
    DEFAULT_BUILD,
    DEFAULT_SITE,
    TIMELINES,
    PartFacts,
    ReportInputs,
    collect_parts,
)
from pipeline.report.page import render_page
from pipeline.report.terminal import terminal_table
from pipeline.report.timeline import timeline_png
from pipeline.system.fsutil import atomic_write_text

PAGE = "index.html"

# the folders `report` reads, each overridable on the command line (default: the --build layout)
FOLDER_OPTIONS = {
    "audio_reports": "the master stage's measurements and decisions (ID.json)",
    "sync": "the sync maps (ID.json)",
    "masters": "the audio the MP3s were made from (ID.flac)",
    "waveforms": "the aligner's envelopes of that audio (ID.npy)",
    "loudness": "the podcast MP3s measured when encoded (ID.json)",
    "proof": "the proof stage's results (ID.json)",
    "cuts": "the cut stage's lists (ID.json; read only with [audio] cut_retakes)",
}


def write_report(report_dir: Path, book, parts: list[PartFacts], results: Sequence[CheckResult]) -> str:
    """Write ``report_dir/index.html`` from the parts' facts and the checks' typed results, and return a
    short plain-text table for the terminal."""
    loudness, true_peak = float(book.audio.loudness), float(book.audio.true_peak)
    page = render_page(Path(report_dir), f"Release report: {book.title}", book.language or "en", parts, results,
                       loudness, true_peak)
    atomic_write_text(Path(report_dir) / PAGE, page)
    return terminal_table(parts, results, loudness, true_peak)


def report_inputs(args: argparse.Namespace, book, report_dir: Path) -> ReportInputs:
    """The --build layout with the timelines beside the page, and any folder given on its own."""
    cut = bool(book.audio.cut_retakes)
    inputs = ReportInputs.under(args.build, args.site, report_dir=report_dir, cut_retakes=cut)
    given = {name: getattr(args, name) for name in FOLDER_OPTIONS if getattr(args, name) is not None}
    if not cut:
        given.pop("cuts", None)
    return dataclasses.replace(inputs, **given)


def cmd_report(args: argparse.Namespace) -> int:
    book = load_book(args.texts)
    report_dir = args.output.parent
    verbose = getattr(args, "verbose", False)

    def progress(msg: str) -> None:
        print(f"report: {msg}", file=sys.stderr, flush=True)

    parts = collect_parts(book, report_inputs(args, book, report_dir),
                          progress=progress if (verbose or sys.stderr.isatty()) else None)
    # the last check's results (checks.json, E-CHECK-001 when unreadable); none yet: "not run"
    checks = read_check_results(args.checks) if args.checks and args.checks.exists() else []
    print(write_report(report_dir, book, parts, checks))
    print(f"report: {display_path(report_dir / PAGE)}")
    return 0


def cmd_timeline(args: argparse.Namespace) -> int:
    timeline_png(args.master, read_syncmap(args.sync), args.output)
    return 0


def register(add) -> None:
    def setup_timeline(p: argparse.ArgumentParser) -> None:
        p.add_argument("master", type=Path,
                       help="the part's master FLAC (build/master/ID.flac), or its envelope from align --waveform (.npy)")
        p.add_argument("sync", type=Path, help="the part's sync map (build/sync/ID.json)")
        p.add_argument("-o", "--output", type=Path, required=True, help="the picture (build/report/timelines/ID.png)")

    add("timeline", "draw one part's timeline for the report (waveform, sentences, chapters, weak alignments)",
        setup_timeline, cmd_timeline)

    def setup(p: argparse.ArgumentParser) -> None:
        p.add_argument("texts", type=Path, help="the texts/ folder (book.toml and the parts)")
        p.add_argument("--site", type=Path, default=DEFAULT_SITE, help="the built site (audio/ID.mp3)")
        p.add_argument("--build", type=Path, default=DEFAULT_BUILD,
                       help="the build folder: every input below in its usual place (audio/, sync/, master/ or "
                            "cut/, waveform/, loudness/, proof/)")
        for name, what in FOLDER_OPTIONS.items():
            p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=Path, default=None,
                           help=f"{what}; default: under --build")
        p.add_argument("-o", "--output", type=Path, default=DEFAULT_BUILD / "report" / PAGE,
                       help=f"the report page; {TIMELINES}/ID.png are written beside it")
        p.add_argument("--checks", type=Path, default=None,
                       help="the check stage's results (JSON list); without it the page says the checks were not run")

    add("report", "write the release report (loudness, chapters, weakest alignments, timelines)", setup, cmd_report)
