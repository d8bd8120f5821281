"""axe-core on every page of the built site, light and dark: ``python -m pipeline check-web SITE -o
build/report/axe.json`` (the release runs it beside the EPUB's build and the gate reads its result), or
in the gate itself when that result is not given.

One headless Chromium page (driven over the DevTools protocol, :mod:`pipeline.system.cdp`, the browser
found by :mod:`pipeline.system.locate`) visits every page of the site, served on the loopback; axe is
installed in it before each page's own scripts run, and each loaded page is checked in the light scheme,
then switched to the dark one by media emulation (the styles follow at once) and checked again.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import sys
import threading
import time
from pathlib import Path

from pipeline.model.contracts import CheckResult, Finding, could_not_run, read_check_result, write_check_result
from pipeline.model.problems import CheckFailed, InputError
from pipeline.system.cdp import Browser, BrowserError
from pipeline.system.locate import AXE_JS, CHROMIUM_FLAGS, chromium, node_file

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
MEDIA_EXTENSIONS = ("mp3", "m4a", "mp4", "ogg", "opus", "flac", "wav")


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


def check_web(site: Path) -> CheckResult:
    """axe-core with WCAG 2.2 A/AA rules and enhanced contrast on every page, light and dark ("axe"): a
    violation is C-AXE-001 at ``page (scheme)``, a page that could not be loaded C-AXE-002. A missing
    Chromium or axe-core raises its E-TOOL code (the check cannot run)."""
    t = time.perf_counter()
    axe = node_file(AXE_JS)
    executable = chromium()
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    findings: list[Finding] = []
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
                        findings.append(Finding("C-AXE-001", f"{rel} ({scheme})",
                                                f"{v['id']} ({v['impact']}) on {v['nodes']} element(s): {v['help']}"))
            except BrowserError as e:
                findings.append(Finding("C-AXE-002", rel, f"could not be checked: {e}"))
    return CheckResult("axe", not findings, tuple(findings),
                       f"{len(pages)} pages × light and dark: 0 violations" if not findings
                       else f"{len(findings)} violation(s)", time.perf_counter() - t)


def read_web_result(path: Path) -> CheckResult:
    """The result `check-web` wrote; a missing or unreadable one (or another check's) is a failed check."""
    try:
        return read_check_result(path, "axe")
    except InputError as e:
        return could_not_run("axe", [Finding(p.code, p.file, p.message) for p in e.problems])


def cmd_check_web(args: argparse.Namespace) -> int:
    """axe on every page, its result written for `check`. Violations are a result (the release gate
    reports them); a check that could not run at all is an error, so make does not keep its output."""
    result = check_web(args.site)       # a missing tool: its E-TOOL line, exit 1
    if not result.ran:
        raise CheckFailed(result.problems)
    write_check_result(args.output, result)
    print(f"axe: {result.summary} ({result.seconds:.1f} s)")
    return 0


def register(add) -> None:
    def setup_check_web(p: argparse.ArgumentParser) -> None:
        p.add_argument("site", type=Path, help="the built site (build/site)")
        p.add_argument("-o", "--output", type=Path, required=True, help="the result (JSON), read by `check`")

    add("check-web", "run axe-core on every page of a built site, light and dark (headless Chromium)",
        setup_check_web, cmd_check_web)
