"""`python -m pipeline check SITE`: every release check, run side by side, judged, and the release report.

Each check is a function that returns a typed :class:`~pipeline.model.contracts.CheckResult` (its name,
whether it passed, its coded findings), all in-process: the EPUB's validators
(:mod:`pipeline.checks.epub`: EPUBCheck, our overlay checks, DAISY Ace), the feed rules
(:mod:`pipeline.checks.feed`), axe-core on every page (:mod:`pipeline.checks.web`), loudness and true
peak (:mod:`pipeline.checks.loudness`), links (:mod:`pipeline.checks.links`) and the proof
(:func:`pipeline.stages.proof.check_proof`) and the audiobook
(:mod:`pipeline.checks.audiobook`). The gate orders the results by :data:`CHECKS` and fails
the release (exit 3) when any has ``passed`` false, with one line per finding; the report
(`build/report/index.html`) and a short table in the terminal show every result. Publishing is
:mod:`pipeline.publish`.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pipeline.checks.audiobook import read_audiobook_result
from pipeline.checks.audiobook import run_check as audiobook_check
from pipeline.checks.epub import epub_check
from pipeline.checks.feed import feed_check
from pipeline.checks.links import check_links
from pipeline.checks.loudness import check_audio
from pipeline.checks.web import check_web, read_web_result
from pipeline.model.contracts import CheckResult, Finding, could_not_run, write_check_results
from pipeline.model.problems import InputError, display_path
from pipeline.model.sources import load_book
from pipeline.report.facts import ReportInputs, collect_parts
from pipeline.report.report import write_report
from pipeline.stages.proof import check_proof
from pipeline.system.fsutil import atomic_write_text

#: every check of the release, in the order the gate reports them
CHECKS = ("epub", "feed", "axe", "loudness", "audiobook", "links", "proof")


def _safe(name: str, job: Callable[[], CheckResult]) -> CheckResult:
    """Run one check; a check that cannot run is a failed check, reported as one (C-RUN-001, or the
    coded lines of a tool that is missing)."""
    t = time.perf_counter()
    try:
        return job()
    except InputError as e:
        return could_not_run(name, [Finding(p.code, p.file, p.message) for p in e.problems], time.perf_counter() - t)
    except Exception as e:
        return could_not_run(name, Finding("C-RUN-001", name, f"{type(e).__name__}: {e}"), time.perf_counter() - t)


def run_checks(site: Path, book, previous: Path | None, report_dir: Path, measured: Path | None = None,
               web_result: Path | None = None, epubcheck_result: Path | None = None,
               audiobook: Callable[[], CheckResult] | None = None) -> list[CheckResult]:
    """Every check but the proof, ordered by :data:`CHECKS`; axe's result is read from ``web_result``
    when the `check-web` stage has run."""
    epub = site / f"{book.id}.epub"
    prev = previous if previous is not None and previous.exists() else None
    # One lane for the heavy validators, one after the other, so that no two of them (a JVM of about
    # 200 MB, two Chromiums of 600-700 MB each) ever run at once and the release stays under 1 GB:
    # EPUBCheck and our overlay checks, then axe (unless `check-web` ran it before, beside the EPUB's
    # build), then DAISY Ace. The quick rules run beside them, and the report's timeline pictures
    # (``cmd_check``) fill the second core meanwhile.
    web: list[CheckResult] = [read_web_result(web_result)] if web_result is not None else []

    def heavy_lane() -> list[CheckResult]:
        hold = (lambda: web.append(_safe("axe", lambda: check_web(site)))) if not web else None
        epub_result = _safe("epub", lambda: epub_check(epub, report_dir / "epub", hold, epubcheck_result))
        if not web:     # the EPUB could not be checked at all: axe still runs
            web.append(_safe("axe", lambda: check_web(site)))
        return [epub_result, *web]

    def light_lane() -> list[CheckResult]:
        return [_safe("loudness", lambda: check_audio(site, book.audio.loudness, book.audio.true_peak, measured)),
                _safe("feed", lambda: feed_check(site, book, prev)),
                _safe("links", lambda: check_links(site)),
                *([_safe("audiobook", audiobook)] if audiobook is not None else [])]

    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        lanes = [pool.submit(heavy_lane), pool.submit(light_lane)]
        results = [r for lane in lanes for r in lane.result()]
    return sorted(results, key=lambda r: CHECKS.index(r.name))


def _audiobook(args: argparse.Namespace, book) -> Callable[[], CheckResult] | None:
    """The audiobook's check (none without a narrated part): the result `check-audiobook` kept for this
    M4B, else run now."""
    if not book.narrated_parts:
        return None
    m4b = args.site / f"{book.id}.m4b"

    def job() -> CheckResult:
        kept = read_audiobook_result(args.audiobook_result, m4b) if args.audiobook_result else None
        return kept or audiobook_check(m4b, args.build / "m4b" / "book.json", args.texts, args.build / "cover.png",
                                       args.build / "sync", args.build / "m4b" / "loudness.json")
    return job


def cmd_check(args: argparse.Namespace) -> int:
    book = load_book(args.texts)
    t = time.perf_counter()
    # the report's facts and timeline pictures are gathered beside the checks
    inputs = ReportInputs.under(args.build, args.site, report_dir=args.report, cut_retakes=book.audio.cut_retakes)
    with cf.ThreadPoolExecutor(max_workers=1) as pool:
        parts_future = pool.submit(collect_parts, book, inputs)
        results = run_checks(args.site, book, args.previous, args.report, args.build / "loudness",
                             args.web_result, args.epubcheck_result, _audiobook(args, book))
        parts = parts_future.result()
    # the narrator's deviations not accepted (build/proof/ID.json): a failure only with [proof] strict
    results.append(_safe("proof", lambda: check_proof(args.build / "proof", book)))
    args.report.mkdir(parents=True, exist_ok=True)
    write_check_results(args.report / "checks.json", results)
    table = write_report(args.report, book, parts, results)
    width = max(len(r.name) for r in results)
    print(f"release checks ({time.perf_counter() - t:.0f} s):")
    for r in results:
        print(f"  {'ok  ' if r.passed else 'FAIL'} {r.name:<{width}}  {r.summary}  ({r.seconds:.1f} s)")
    if table:
        print(table)
    print(f"report: {display_path(args.report / 'index.html')}")
    failed = [f"{r.name}: {f}" for r in results if not r.passed for f in r.findings]
    failed += [f"{r.name}: failed" for r in results if not r.passed and not r.findings]
    if failed:
        for line in failed:
            print(f"FAIL {line}", file=sys.stderr)
        return 3
    if args.output:
        atomic_write_text(args.output, "".join(f"{r.name}: {r.summary}\n" for r in results))
    return 0


def register(add) -> None:
    def setup_check(p: argparse.ArgumentParser) -> None:
        p.add_argument("site", type=Path, help="the built site (build/site)")
        p.add_argument("--texts", type=Path, default=Path("texts"))
        p.add_argument("--build", type=Path, default=Path("build"), help="the build folder (sync maps, masters)")
        p.add_argument("--previous", type=Path, default=None, help="the published feed, to keep every GUID")
        p.add_argument("--report", type=Path, default=Path("build/report"), help="where to write the report")
        p.add_argument("-o", "--output", type=Path, default=None, help="a stamp written when every check passes")
        p.add_argument("--web-result", type=Path, default=None,
                       help="axe's result from `check-web` (else axe runs here)")
        p.add_argument("--audiobook-result", type=Path, default=None,
                       help="the audiobook's result from `check-audiobook` (used when it is for this M4B)")
        p.add_argument("--epubcheck-result", type=Path, default=None,
                       help="EPUBCheck's findings from `check-epub --result` (used when they are for this EPUB)")

    add("check", "run every release check on a built site (EPUBCheck, Ace, axe, feed, loudness, links) "
        "and write the report", setup_check, cmd_check)
