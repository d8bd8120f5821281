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

from .fsutil import atomic_write_text
from .problems import display_path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
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
    from .audio import measure, payload_sha256

    t = time.perf_counter()
    mp3s = sorted((site / "audio").glob("*.mp3"))
    problems, now, reused = [], [], {}
    for mp3 in mp3s:
        j = measured / f"{mp3.stem}.json" if measured else None
        if j is not None and j.exists():
            data = json.loads(j.read_text(encoding="utf-8"))
            if data.get("payload_sha256") == payload_sha256(mp3):
                reused[mp3] = (data["integrated"], data["true_peak"])
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


_MEDIA = re.compile(r"\.(mp3|m4a|mp4|ogg|opus|flac|wav)(\?.*)?$")


def check_web(site: Path) -> dict:
    """axe-core with WCAG 2.2 A/AA rules and enhanced contrast on every page, light and dark.

    One browser page visits every page of the site; axe is installed in it by an init script (parsed
    once per load, never sent over the wire again), and each loaded page is checked in the light
    scheme, then switched to the dark one with media emulation (the styles follow at once) and checked
    again: a third of the time of a fresh page and injection per page and scheme."""
    t = time.perf_counter()
    axe = ROOT / "node_modules" / "axe-core" / "axe.min.js"
    if not axe.exists():
        return _result("axe", False, "axe-core missing", [f"{axe} not found: run npm ci"], 0)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return _result("axe", False, "playwright missing", ["python playwright is not installed"], 0)
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    problems = []
    with serve(site) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        try:
            # bypass_csp: the pages forbid inline script (as they should); axe is injected by us
            context = browser.new_context(bypass_csp=True)
            # the narration is not what axe checks: the players get no media, which keeps the
            # browser from buffering every MP3
            context.route(_MEDIA, lambda route: route.abort())
            context.add_init_script(path=str(axe))
            page = context.new_page()
            for rel in pages:
                page.emulate_media(color_scheme="light")
                page.goto(base + rel, wait_until="load")
                for scheme in ("light", "dark"):
                    page.emulate_media(color_scheme=scheme)
                    # only the violations come back (resultTypes spares axe the detail of every pass)
                    found = page.evaluate("""(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags},
                        resultTypes: ['violations'], rules: {'color-contrast-enhanced': {enabled: true}}})
                        .then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                                           nodes: v.nodes.length})))""", AXE_TAGS)
                    for v in found:
                        problems.append(f"{rel} ({scheme}): {v['id']} ({v['impact']}) on {v['nodes']} "
                                        f"element(s): {v['help']}")
            context.close()
        finally:
            browser.close()
    return _result("axe", not problems, f"{len(pages)} pages × light and dark: 0 violations" if not problems
                   else f"{len(problems)} violation(s)", problems, time.perf_counter() - t)


def _safe(name: str, job) -> dict:
    """Run one check; a check that cannot run is a failed check, reported as one."""
    try:
        return job()
    except Exception as e:
        return _result(name, False, "could not run", [f"{type(e).__name__}: {e}"], 0)


def run_checks(site: Path, texts: Path, book, previous: Path | None, report_dir: Path,
               measured: Path | None = None) -> list[dict]:
    epub = site / f"{book.id}.epub"
    feed_args = ["check-feed", str(site), "--texts", str(texts)]
    if previous is not None and previous.exists():
        feed_args += ["--previous", str(previous)]
    # Two lanes on two cores: the JVM and browser checks one after the other (each holds a few hundred
    # MB) beside the ffmpeg measurements and the quick rules, so the whole stays under 1 GB.
    heavy = [("EPUBCheck + Ace + overlays",
              lambda: _stage("EPUBCheck + Ace + overlays", ["check-epub", str(epub), "--sequential",
                                                           "--report", str(report_dir / "epub")])),
             ("axe", lambda: check_web(site))]
    light = [("loudness", lambda: check_audio(site, book.audio.loudness, book.audio.true_peak,
                                              measured)),
             ("feed rules", lambda: _stage("feed rules", feed_args)),
             ("links", lambda: check_links(site))]
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        lanes = [pool.submit(lambda jobs=jobs: [_safe(n, j) for n, j in jobs]) for jobs in (heavy, light)]
        results = [r for lane in lanes for r in lane.result()]
    order = ["EPUBCheck + Ace + overlays", "feed rules", "axe", "loudness", "links"]
    return sorted(results, key=lambda r: order.index(r["name"]))


def cmd_check(args: argparse.Namespace) -> int:
    from .sources import load_book

    from .report import collect_parts, write_report

    book = load_book(args.texts)
    t = time.perf_counter()
    # the report's facts and timeline pictures are gathered beside the checks
    with cf.ThreadPoolExecutor(max_workers=1) as pool:
        parts_future = pool.submit(collect_parts, book, args.site, args.build)
        results = run_checks(args.site, args.texts, book, args.previous, args.report, args.build / "loudness")
        parts = parts_future.result()
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


# ---------------------------------------------------------------------------- publishing


def publish(site: Path, dest: Path) -> None:
    """Put the checked site in place of the published one in one step: hard-link it into a folder
    beside ``dest``, then exchange the two folders (renameat2 RENAME_EXCHANGE where available, else two
    renames) and remove the old one. A failure before the exchange leaves ``dest`` exactly as it was."""
    import os
    import shutil

    new = dest.with_name(f".{dest.name}.new")
    shutil.rmtree(new, ignore_errors=True)

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(site, new, copy_function=link)
    if dest.exists() and _exchange(new, dest):
        shutil.rmtree(new)
        return
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        os.rename(dest, old)
    os.rename(new, dest)
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    import ctypes
    import os

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def cmd_publish(args: argparse.Namespace) -> int:
    publish(args.site, args.dest)
    print(f"published {display_path(args.site)} to {display_path(args.dest)}")
    if args.output:
        atomic_write_text(args.output, f"{args.dest}\n")
    return 0


def register(add) -> None:
    def setup_check(p: argparse.ArgumentParser) -> None:
        p.add_argument("site", type=Path, help="the built site (build/site)")
        p.add_argument("--texts", type=Path, default=Path("texts"))
        p.add_argument("--build", type=Path, default=Path("build"), help="the build folder (sync maps, masters)")
        p.add_argument("--previous", type=Path, default=None, help="the published feed, to keep every GUID")
        p.add_argument("--report", type=Path, default=Path("build/report"), help="where to write the report")
        p.add_argument("-o", "--output", type=Path, default=None, help="a stamp written when every check passes")

    def setup_publish(p: argparse.ArgumentParser) -> None:
        p.add_argument("site", type=Path, help="the checked site (build/site)")
        p.add_argument("dest", type=Path, help="the published site (output)")
        p.add_argument("-o", "--output", type=Path, default=None, help="a stamp written when published")

    add("check", "run every release check on a built site (EPUBCheck, Ace, axe, feed, loudness, links) "
        "and write the report", setup_check, cmd_check)
    add("publish", "swap a checked site into place (the old one stays untouched until then)",
        setup_publish, cmd_publish)
