"""`python -m pipeline check SITE`: every release check, run side by side, and the release report.

The validators are separate stages (`check-feed`, `check-epub`), run here as subprocesses so that they
overlap; the checks that belong to no single stage live here: loudness and true peak of every MP3
(measured by ffmpeg's ebur128), axe-core on every web page in headless Chromium (light and dark), and
links inside the site. The release fails (exit 3) with one line per problem; the report
(`build/report/index.html`) and a short table in the terminal show every result.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import functools
import http.server
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

from pipeline.model.contracts import read_loudness
from pipeline.system.cdp import Browser, BrowserError
from pipeline.system.fsutil import atomic_write_text
from pipeline.system.locate import AXE_JS, CHROMIUM_FLAGS, chromium, node_file
from pipeline.model.problems import InputError, display_path

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def _result(name: str, ok: bool, summary: str, problems: list[str], seconds: float) -> dict:
    return {"name": name, "ok": ok, "summary": summary, "problems": problems, "seconds": round(seconds, 1)}


def _stage(name: str, args: list[str]) -> dict:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, cwd=Path.cwd())
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    problems = [ln.removeprefix("FAIL ").removeprefix("error: ") for ln in lines
                if ln.startswith(("FAIL", "error:"))]
    ok = r.returncode == 0
    if not ok and not problems:
        problems = lines[-5:] or [f"exit code {r.returncode}"]
    summary = next((ln for ln in reversed(lines) if ln.startswith("ok")), lines[-1] if lines else "")
    return _result(name, ok, summary if ok else f"{len(problems)} problem(s)", problems, time.perf_counter() - t)


def check_audio(site: Path, target: float, ceiling: float, measured: Path | None = None) -> dict:
    """Loudness and true peak of every MP3 in the site, by ffmpeg's ebur128. A measurement made when
    the MP3 was encoded (``measured/ID.json``) is used when its audio payload is byte-identical to the
    published file's (tags aside); anything else is measured now."""
    from pipeline.stages.audio import measure, payload_sha256

    t = time.perf_counter()
    mp3s = sorted((site / "audio").glob("*.mp3"))
    problems, now, reused = [], [], {}
    for mp3 in mp3s:
        j = measured / f"{mp3.stem}.json" if measured else None
        if j is not None and j.exists():
            record = read_loudness(j)
            if record.payload_sha256 == payload_sha256(mp3):
                reused[mp3] = (record.integrated, record.true_peak)
                continue
        now.append(mp3)
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        for mp3, m in zip(now, pool.map(measure, now)):
            reused[mp3] = (m.integrated, m.true_peak)
    for mp3 in mp3s:
        integrated, true_peak = reused[mp3]
        if abs(integrated - target) > 0.5:
            problems.append(f"{display_path(mp3)}: {integrated:.1f} LUFS, target {target:.1f} ± 0.5")
        if true_peak > ceiling:
            problems.append(f"{display_path(mp3)}: true peak {true_peak:.1f} dBTP over {ceiling:.1f}")
    if not mp3s:
        problems.append(f"{display_path(site / 'audio')}: no MP3s")
    summary = (f"{len(mp3s)} MP3s within ±0.5 LU of {target} LUFS, true peak ≤ {ceiling} dBTP "
               f"({len(mp3s) - len(now)} measured at encoding)") if not problems else f"{len(problems)} problem(s)"
    return _result("loudness", not problems, summary, problems, time.perf_counter() - t)


_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")


def check_links(site: Path) -> dict:
    """Every relative link and source in the site's pages resolves to a file inside the site."""
    t = time.perf_counter()
    problems = []
    pages = sorted(site.rglob("*.html"))
    for page in pages:
        for target in _LINK.findall(page.read_text(encoding="utf-8")):
            u = urlparse(target)
            if u.scheme or target.startswith(("#", "//", "mailto:", "data:")):
                continue
            path = (page.parent / unquote(u.path)).resolve()
            if path.is_dir():
                path = path / "index.html"
            try:
                path.relative_to(site.resolve())
            except ValueError:
                problems.append(f"{display_path(page)}: {target} points outside the site")
                continue
            if not path.exists():
                problems.append(f"{display_path(page)}: {target} does not exist")
    return _result("links", not problems, f"{len(pages)} pages, every link resolves" if not problems else
                   f"{len(problems)} broken link(s)", problems, time.perf_counter() - t)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # a browser that closes a connection early (it has what it needs) is no error of the site's
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serve(folder: Path):
    handler = functools.partial(_Quiet, directory=str(folder))
    httpd = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()


MEDIA_EXTENSIONS = ("mp3", "m4a", "mp4", "ogg", "opus", "flac", "wav")


def check_web(site: Path) -> dict:
    """axe-core with WCAG 2.2 A/AA rules and enhanced contrast on every page, light and dark.

    One headless Chromium page (driven over the DevTools protocol, :mod:`pipeline.system.cdp`, the browser found by :mod:`pipeline.system.locate`) visits every
    page of the site; axe is installed in it before each page's own scripts run, and each loaded page
    is checked in the light scheme, then switched to the dark one by media emulation (the styles follow
    at once) and checked again."""
    t = time.perf_counter()
    axe = node_file(AXE_JS)            # E-TOOL-003 / E-TOOL-001 when missing: the check cannot run
    executable = chromium()
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    problems = []
    run = f"""axe.run(document, {{runOnly: {{type: 'tag', values: {json.dumps(AXE_TAGS)}}},
        resultTypes: ['violations'], rules: {{'color-contrast-enhanced': {{enabled: true}}}}}})
        .then(r => r.violations.map(v => ({{id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length}})))"""
    with serve(site) as base, Browser(CHROMIUM_FLAGS, executable) as browser:
        browser.page("Page.enable")
        browser.page("Network.enable")
        # the pages forbid inline script (as they should); axe is ours, installed before theirs
        browser.page("Page.setBypassCSP", enabled=True)
        browser.page("Page.addScriptToEvaluateOnNewDocument", source=axe.read_text(encoding="utf-8"))
        # the narration is not what axe checks: the players get no media, so no MP3 is buffered
        browser.page("Network.setBlockedURLs", urls=[f"*.{ext}" for ext in MEDIA_EXTENSIONS])
        for rel in pages:
            try:
                for scheme in ("light", "dark"):
                    browser.page("Emulation.setEmulatedMedia",
                                 features=[{"name": "prefers-color-scheme", "value": scheme}])
                    if scheme == "light":
                        browser.goto(base + rel)     # loaded in the light scheme, then switched
                    for v in browser.evaluate(run):
                        problems.append(f"{rel} ({scheme}): {v['id']} ({v['impact']}) on {v['nodes']} "
                                        f"element(s): {v['help']}")
            except BrowserError as e:
                problems.append(f"{rel}: could not be checked: {e}")
    return _result("axe", not problems, f"{len(pages)} pages × light and dark: 0 violations" if not problems
                   else f"{len(problems)} violation(s)", problems, time.perf_counter() - t)


def _safe(name: str, job) -> dict:
    """Run one check; a check that cannot run is a failed check, reported as one."""
    try:
        return job()
    except InputError as e:          # a tool missing (E-TOOL-...) or an input it could not read: coded lines
        return _result(name, False, "could not run", [str(p) for p in e.problems], 0)
    except Exception as e:
        return _result(name, False, "could not run", [f"{type(e).__name__}: {e}"], 0)


def check_epub_lane(epub: Path, report_dir: Path, before_ace=None, epubcheck_result: Path | None = None) -> dict:
    """EPUBCheck (or its findings from `check-epub --result`, when they are for this very EPUB), our
    overlay checks, then DAISY Ace (held back by ``before_ace``)."""
    from pipeline.checks.epub import check_epub, check_summary
    from pipeline.system.fsutil import file_sha256

    t = time.perf_counter()
    name = "EPUBCheck + Ace + overlays"
    if not epub.is_file():
        return _result(name, False, "EPUB not found", [f"{display_path(epub)}: not found"], 0)
    held = [0.0]

    def gate() -> None:
        g = time.perf_counter()
        before_ace()
        held[0] = time.perf_counter() - g

    earlier = None
    if epubcheck_result is not None:
        try:
            data = json.loads(Path(epubcheck_result).read_text(encoding="utf-8"))
            if data.get("epub_sha256") == file_sha256(epub) and isinstance(data.get("epubcheck"), list):
                earlier = data
        except (OSError, ValueError, AttributeError):
            pass
    r = check_epub(epub, report_dir, run_epubcheck=earlier is None, sequential=True,
                   before_ace=gate if before_ace else None)
    problems = (earlier["epubcheck"] if earlier else []) + r.problems
    seconds = time.perf_counter() - t - held[0] + (earlier["seconds"] if earlier else 0.0)
    # its own time (with EPUBCheck's when that ran before), without the time Ace was held back
    return _result(name, not problems, check_summary(epub) if not problems else f"{len(problems)} problem(s)",
                   problems, seconds)


def run_checks(site: Path, texts: Path, book, previous: Path | None, report_dir: Path,
               measured: Path | None = None, web_result: Path | None = None,
               epubcheck_result: Path | None = None) -> list[dict]:
    """Every check; axe's result is read from ``web_result`` when the `check-web` stage has run."""
    epub = site / f"{book.id}.epub"
    feed_args = ["check-feed", str(site), "--texts", str(texts)]
    if previous is not None and previous.exists():
        feed_args += ["--previous", str(previous)]
    # One lane for the heavy validators, one after the other, so that no two of them (a JVM of about
    # 200 MB, two Chromiums of 600-700 MB each) ever run at once and the release stays under 1 GB:
    # EPUBCheck and our overlay checks, then axe (unless `check-web` ran it before, beside the EPUB's
    # build), then DAISY Ace. The quick rules run beside them, and the report's timeline pictures
    # (``cmd_check``) fill the second core meanwhile.
    web: list[dict] = [read_web_result(web_result)] if web_result is not None else []

    def heavy_lane() -> list[dict]:
        gate = (lambda: web.append(_safe("axe", lambda: check_web(site)))) if not web else None
        epub_result = _safe("EPUBCheck + Ace + overlays",
                            lambda: check_epub_lane(epub, report_dir / "epub", gate, epubcheck_result))
        if not web:     # the EPUB could not be checked at all: axe still runs
            web.append(_safe("axe", lambda: check_web(site)))
        return [epub_result, *web]

    def light_lane() -> list[dict]:
        return [_safe("loudness", lambda: check_audio(site, book.audio.loudness, book.audio.true_peak, measured)),
                _safe("feed rules", lambda: _stage("feed rules", feed_args)),
                _safe("links", lambda: check_links(site))]

    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        lanes = [pool.submit(heavy_lane), pool.submit(light_lane)]
        results = [r for lane in lanes for r in lane.result()]
    order = ["EPUBCheck + Ace + overlays", "feed rules", "axe", "loudness", "links"]
    return sorted(results, key=lambda r: order.index(r["name"]))


def read_web_result(path: Path) -> dict:
    """The result `check-web` wrote; a missing or unreadable one is a failed check."""
    try:
        r = json.loads(Path(path).read_text(encoding="utf-8"))
        if isinstance(r, dict) and r.get("name") == "axe" and isinstance(r.get("problems"), list):
            return r
        problem = "not a check-web result"
    except (OSError, ValueError) as e:
        problem = f"could not be read ({e})"
    return _result("axe", False, "could not run", [f"{display_path(path)}: {problem}"], 0)


def cmd_check_web(args: argparse.Namespace) -> int:
    """axe on every page, its result written for `check`. Violations are a result (the release gate
    reports them); a check that could not run at all is an error, so make does not keep its output."""
    r = _safe("axe", lambda: check_web(args.site))
    if r["summary"] == "could not run":
        for line in r["problems"]:
            print(f"error: {line}", file=sys.stderr)
        return 2
    atomic_write_text(args.output, json.dumps(r, indent=1, sort_keys=True) + "\n")
    print(f"axe: {r['summary']} ({r['seconds']} s)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from pipeline.model.sources import load_book

    from pipeline.report.facts import ReportInputs, collect_parts
    from pipeline.report.report import write_report

    book = load_book(args.texts)
    t = time.perf_counter()
    # the report's facts and timeline pictures are gathered beside the checks
    inputs = ReportInputs.under(args.build, args.site, report_dir=args.report, cut_retakes=book.audio.cut_retakes)
    with cf.ThreadPoolExecutor(max_workers=1) as pool:
        parts_future = pool.submit(collect_parts, book, inputs)
        results = run_checks(args.site, args.texts, book, args.previous, args.report, args.build / "loudness",
                             args.web_result, args.epubcheck_result)
        parts = parts_future.result()
    # the narrator's deviations not accepted (build/proof/ID.json): a failure only with [proof] strict
    from pipeline.stages.proof import check_proof
    results.append(_safe("proof", lambda: check_proof(args.build / "proof", book)))
    args.report.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.report / "checks.json", json.dumps(results, indent=1, sort_keys=True) + "\n")
    table = write_report(args.report, book, parts, results)
    width = max(len(r["name"]) for r in results)
    print(f"release checks ({time.perf_counter() - t:.0f} s):")
    for r in results:
        print(f"  {'ok  ' if r['ok'] else 'FAIL'} {r['name']:<{width}}  {r['summary']}  ({r['seconds']} s)")
    if table:
        print(table)
    print(f"report: {display_path(args.report / 'index.html')}")
    failed = [f"{r['name']}: {p}" for r in results if not r["ok"] for p in r["problems"]]
    if failed:
        for line in failed:
            print(f"FAIL {line}", file=sys.stderr)
        return 3
    if args.output:
        atomic_write_text(args.output, "".join(f"{r['name']}: {r['summary']}\n" for r in results))
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
        p.add_argument("--epubcheck-result", type=Path, default=None,
                       help="EPUBCheck's findings from `check-epub --result` (used when they are for this EPUB)")

    def setup_check_web(p: argparse.ArgumentParser) -> None:
        p.add_argument("site", type=Path, help="the built site (build/site)")
        p.add_argument("-o", "--output", type=Path, required=True, help="the result (JSON), read by `check`")

    add("check", "run every release check on a built site (EPUBCheck, Ace, axe, feed, loudness, links) "
        "and write the report", setup_check, cmd_check)
    add("check-web", "run axe-core on every page of a built site, light and dark (headless Chromium)",
        setup_check_web, cmd_check_web)
