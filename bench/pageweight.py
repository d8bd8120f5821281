#!/usr/bin/env python3
"""The weight of each story page of the built web edition, with everything it loads, over the wire.

    python bench/pageweight.py [SITE] [--budget BYTES] [--font atkinson]

Serves SITE (default build/site) on the loopback and loads every ``stories/*.html`` in Debian's Chromium
(Playwright, a fresh profile each page, so nothing is cached and the reader's settings are the defaults),
with media requests blocked (the narration is not part of the page's weight). Every request the page
makes is summed: response headers and body as the server sent them (this server does not compress, so
the figure is an upper bound of what a server that gzips HTML, CSS and JS would send; the gzip figure is
printed beside it). Any request that leaves the site's origin is printed and fails the run. Prints one
line per page, heaviest first, and the heaviest page's requests; exits 1 when a page is over the budget
(default 150 000 bytes) or a request leaves the site. ``--font atkinson`` measures the pages with that
reader setting saved (the two WOFF2 files it adds), for information.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.system.serve import serving as serve  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
BUDGET = 150_000
MEDIA = (".mp3", ".m4a", ".m4b", ".mp4", ".ogg", ".opus", ".flac", ".wav")
SETTINGS_KEY = "casemaker.reader-settings"


@dataclass
class PageWeight:
    page: str
    bytes: int = 0                                  # headers + bodies of every response, as sent
    gzip_bytes: int = 0                             # the same with text bodies gzipped (-6)
    requests: list[tuple[str, int]] = field(default_factory=list)   # (path, bytes)
    outside: list[str] = field(default_factory=list)               # requests that left the site
    blocked: list[str] = field(default_factory=list)               # media, not counted


def _gzipped(body: bytes, content_type: str) -> int:
    if content_type.startswith(("text/", "image/svg", "application/javascript", "application/json")):
        return len(gzip.compress(body, 6, mtime=0))
    return len(body)


def measure(site: Path, pages: list[str] | None = None, settings: dict | None = None,
            chromium: Path = CHROMIUM, browser=None) -> list[PageWeight]:
    """Each page's weight (``pages`` relative to ``site``; default every story page), heaviest first. With
    ``browser`` (a Playwright Browser already running), that one is used."""
    site = Path(site)
    pages = pages or sorted(p.relative_to(site).as_posix() for p in (site / "stories").glob("*.html"))
    with serve(site) as base:
        if browser is not None:
            return _measure(browser, base, pages, settings)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            own = pw.chromium.launch(executable_path=str(chromium),
                                     args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                           "--disable-background-networking", "--disable-component-update"])
            try:
                return _measure(own, base, pages, settings)
            finally:
                own.close()


def _measure(browser, base: str, pages: list[str], settings: dict | None) -> list[PageWeight]:
    origin = urlsplit(base)[:2]
    out: list[PageWeight] = []
    for rel in pages:
        w = PageWeight(rel)
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            if settings:
                ctx.add_init_script(f"try {{ localStorage.setItem({json.dumps(SETTINGS_KEY)}, "
                                    f"{json.dumps(json.dumps(settings))}); }} catch (e) {{}}")

            def route(r, _request, w=w):
                url = r.request.url
                if urlsplit(url)[:2] != origin and not url.startswith(("data:", "blob:")):
                    w.outside.append(url)
                    return r.abort()
                if r.request.resource_type == "media" or urlsplit(url).path.endswith(MEDIA):
                    w.blocked.append(urlsplit(url).path)
                    return r.abort()
                return r.continue_()

            ctx.route("**/*", route)
            page = ctx.new_page()
            done: list = []
            page.on("requestfinished", lambda req, done=done: done.append(req))
            page.goto(base + rel, wait_until="load")
            page.wait_for_load_state("networkidle")
            for req in done:
                resp = req.response()
                if resp is None:
                    continue
                head = req.sizes()["responseHeadersSize"]
                body = resp.body()
                n = head + len(body)
                w.bytes += n
                w.gzip_bytes += head + _gzipped(body, resp.headers.get("content-type", ""))
                w.requests.append((urlsplit(req.url).path, n))
            w.requests.sort(key=lambda r: -r[1])
            out.append(w)
        finally:
            ctx.close()
    return sorted(out, key=lambda w: -w.bytes)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("site", nargs="?", type=Path, default=ROOT / "build" / "site")
    ap.add_argument("--budget", type=int, default=BUDGET, help="bytes a page may weigh (default %(default)s)")
    ap.add_argument("--font", choices=["default", "atkinson"], default="default",
                    help="the reader's font setting to measure with (default: the default settings)")
    args = ap.parse_args(argv)
    if not (args.site / "stories").is_dir():
        print(f"{args.site}: no stories/ folder (build the site first: make site)", file=sys.stderr)
        return 1
    weights = measure(args.site, settings={"font": args.font} if args.font != "default" else None)
    failed = False
    for w in weights:
        over = w.bytes > args.budget
        failed |= over or bool(w.outside)
        print(f"{w.bytes:>8} B  {w.gzip_bytes:>8} B gzipped  {len(w.requests):>2} requests  {w.page}"
              f"{'  OVER BUDGET' if over else ''}")
        for url in w.outside:
            print(f"    request outside the site: {url}")
    top = weights[0]
    print(f"\nheaviest: {top.page}, {top.bytes} bytes ({top.bytes / 1000:.1f} kB; budget {args.budget / 1000:.0f} kB, "
          f"{(args.budget - top.bytes) / 1000:.1f} kB to spare), {top.gzip_bytes} bytes gzipped; media blocked: "
          f"{', '.join(sorted(set(top.blocked))) or 'none'}")
    for path, n in top.requests:
        print(f"    {n:>8}  {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
