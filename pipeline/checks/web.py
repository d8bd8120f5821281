"""The web edition in a real browser, every page in every colour scheme at the smallest and largest
text size: ``python -m pipeline check-web SITE -o build/report/axe.json`` (the release runs it beside the
EPUB's build and the gate reads its result), or in the gate itself when that result is not given.

One headless Chromium page (driven over the DevTools protocol, :mod:`pipeline.system.cdp`, the browser
found by :mod:`pipeline.system.locate`) visits every page of the site, served on the loopback; axe is
installed in it before each page's own scripts run. Each loaded page is checked in the light scheme, then
switched to the dark one by media emulation (the styles follow at once) and checked again. A page with the
reader's settings (``static/settings.js`` publishes them as ``window.casemakerReaderSettings``) is then
switched, by the attributes on ``<html>`` the settings set, to each of its other colour schemes, and all of
them again at its largest text size (300%), without reloading; a story page has a sentence marked as
being read and every page has its settings panel open, so that the highlight's colours and the form
are checked too. Last, each such page is laid out 320 px wide
at the largest text size with the WCAG 1.4.12 text spacing (line height 1.5, letter spacing 0.12em, word
spacing 0.16em, paragraph spacing 2em) and the settings panel open, and must not scroll sideways (a page
without the settings, as the release report, is checked by axe in light and dark only).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pipeline.model.contracts import CheckResult, Finding, could_not_run, read_check_result, write_check_result
from pipeline.model.problems import CheckFailed, InputError
from pipeline.system.cdp import Browser, BrowserError
from pipeline.system.locate import AXE_JS, CHROMIUM_FLAGS, chromium, node_file
from pipeline.system.serve import serving as serve

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
MEDIA_EXTENSIONS = ("mp3", "m4a", "mp4", "ogg", "opus", "flac", "wav")


# WCAG 1.4.12 text spacing, as the understanding document's bookmarklet sets it
SPACING_CSS = ("* { line-height: 1.5 !important; letter-spacing: 0.12em !important; "
               "word-spacing: 0.16em !important; } p, li, blockquote, h1, h2, h3 { margin-bottom: 2em !important; }")

# What the page offers: its colour schemes other than light and dark (those are its automatic scheme's,
# which follows the system, and are checked through it) and its smallest and largest text size (none
# without the reader's settings)
_OFFERS = """(() => { const r = window.casemakerReaderSettings;
    const of = (name) => { const s = r && r.settings.find(x => x.name === name); return s ? s.values : []; };
    const sizes = of('text-size');
    return {themes: of('theme').filter(t => !['auto', 'light', 'dark'].includes(t)),
            sizes: sizes.length ? [sizes[0], sizes[sizes.length - 1]] : [null]}; })()"""

# mark a sentence as being read, as the read-along does (the player gets no media here), and open the
# reader settings, so that axe sees the highlight and the settings form too
_PREPARE = """(() => { const s = document.querySelector('.s[data-begin]');
    if (s && document.documentElement.classList.contains('readalong')) { s.classList.add('current'); }
    const toggle = document.getElementById('reader-settings-toggle');
    if (toggle && toggle.getAttribute('aria-expanded') !== 'true') { toggle.click(); } })()"""


def _set(name: str, value: str | None) -> str:
    return ("document.documentElement.setAttribute(" + json.dumps(f"data-{name}") + ", "
            + json.dumps(value) + ")") if value is not None else "0"


_REFLOW = """((SPACING) => {
    const style = document.createElement('style');
    style.textContent = SPACING;
    document.head.appendChild(style);
    const toggle = document.getElementById('reader-settings-toggle');
    if (toggle && toggle.getAttribute('aria-expanded') !== 'true') { toggle.click(); }
    const root = document.documentElement;
    const over = root.scrollWidth - root.clientWidth;
    const wide = [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > root.clientWidth + 0.5)
        .slice(0, 3).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                        + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ')[0] : ''));
    return {over, wide, panel: !!toggle};
})(""" + json.dumps(SPACING_CSS) + ")"


# The listening bar of a narrated story page (static/player.js): shown in place of the native player,
# every control named and at least 44 px square, and the keyboard reaches them and they act on the
# narration (the player gets no media here: a seek sets where it would start, the speed its rate).
_BAR = """(() => { const bar = document.getElementById('player');
    if (!bar) return null;
    const audio = document.getElementById('narration');
    const controls = [...bar.querySelectorAll('button, select, summary')]
        .filter(e => e.getClientRects().length && (e.matches('summary') || !e.closest('details:not([open])')));
    const name = (e) => ((e.labels && e.labels.length ? e.labels[0].textContent
                          : e.getAttribute('aria-label') || e.textContent) || '').trim();
    const key = (e) => e.id ? '#' + e.id : e.tagName.toLowerCase();
    return {shown: !bar.hidden && bar.getClientRects().length > 0,
            native: !!(audio && audio.controls && audio.getClientRects().length),
            unnamed: controls.filter(e => !name(e)).map(key),
            small: controls.filter(e => { const r = e.getBoundingClientRect(); return r.width < 44 || r.height < 44; })
                .map(key)}; })()"""
_BAR_KEYS = ("player-play", "player-back", "player-forward", "player-rate")
_KEYS = {"Tab": 9, "Enter": 13, "Space": 32, "ArrowDown": 40, "ArrowUp": 38}
_TEXT = {"Enter": "\r", "Space": " "}


def _press(browser: Browser, key: str) -> None:
    ev = {"key": " " if key == "Space" else key, "code": key, "windowsVirtualKeyCode": _KEYS[key],
          "nativeVirtualKeyCode": _KEYS[key]}
    browser.page("Input.dispatchKeyEvent", type="keyDown", **ev, **({"text": _TEXT[key]} if key in _TEXT else {}))
    browser.page("Input.dispatchKeyEvent", type="keyUp", **ev)


_FOCUS = """(() => { const e = document.activeElement;
    return e ? {id: e.id, type: e.type || '', name: e.name || '', form: !!e.closest('#reader-settings')} : {}; })()"""
_DATASET = "Object.assign({}, document.documentElement.dataset)"
_PANEL = """(() => { const t = document.getElementById('reader-settings-toggle');
    const f = document.getElementById('reader-settings');
    return {expanded: !!t && t.getAttribute('aria-expanded') === 'true', shown: !!f && !f.hidden && f.getClientRects().length > 0}; })()"""


def _reader_settings(browser: Browser, base: str, first: str, second: str) -> list[str]:
    """The reader's settings by keyboard alone, and kept: from a fresh start on ``first``, Tab reaches the
    settings button and Enter opens the form; in it, Tab reaches every setting and the arrow keys (Space
    for the checkbox) change each one, on <html> at once; the settings are the same on ``second`` and
    after a reload; Reset (Tab, Enter) brings back the defaults."""
    problems: list[str] = []
    browser.goto(base + first)
    browser.evaluate("localStorage.clear()")
    browser.goto(base + first)
    offered = browser.evaluate("window.casemakerReaderSettings ? window.casemakerReaderSettings.settings : null")
    if not offered:
        return ["settings.js did not run (no reader settings on the page)"]
    defaults = {s["name"]: s["initial"] for s in offered}
    browser.evaluate("document.activeElement && document.activeElement.blur()")
    for _ in range(40):
        _press(browser, "Tab")
        if browser.evaluate(_FOCUS).get("id") == "reader-settings-toggle":
            break
    else:
        return ["the Tab key does not reach the Reader settings button"]
    _press(browser, "Enter")
    panel = browser.evaluate(_PANEL)
    if not (panel["expanded"] and panel["shown"]):
        return ["Enter on the Reader settings button does not open the settings"]
    changed: set[str] = set()
    reset = False
    for _ in range(40):
        _press(browser, "Tab")
        focus = browser.evaluate(_FOCUS)
        if not focus.get("form"):
            break
        name = focus.get("name", "")
        if focus.get("type") in ("radio", "checkbox") and name in defaults and name not in changed:
            before = browser.evaluate(_DATASET)
            _press(browser, "ArrowDown" if focus["type"] == "radio" else "Space")
            after = browser.evaluate(_DATASET)
            key = "".join(w.capitalize() if i else w for i, w in enumerate(name.split("-")))
            if after.get(key) != before.get(key):
                changed.add(name)
        if focus.get("id") == "reader-settings-reset":
            kept = browser.evaluate(_DATASET)
            browser.goto(base + second)
            if browser.evaluate(_DATASET) != kept:
                problems.append(f"the settings are not kept on {second}")
            browser.goto(base + first)
            if browser.evaluate(_DATASET) != kept:
                problems.append("the settings are not kept after a reload")
            browser.evaluate("document.getElementById('reader-settings-toggle').click()")
            browser.evaluate("document.getElementById('reader-settings-reset').focus()")
            _press(browser, "Enter")
            now = browser.evaluate(_DATASET)
            wrong = [n for n, v in defaults.items()
                     if now.get("".join(w.capitalize() if i else w for i, w in enumerate(n.split("-")))) != v]
            if wrong:
                problems.append(f"Reset does not bring back the default {', '.join(wrong)}")
            reset = True
            break
    missing = sorted(set(defaults) - changed)
    if missing:
        problems.append(f"not changed by keyboard (Tab, then the arrow keys or Space): {', '.join(missing)}")
    if not reset:
        problems.append("the Tab key does not reach the Reset button")
    browser.evaluate("localStorage.clear()")
    return problems


def _listening_bar(browser: Browser) -> list[str] | None:
    """What is wrong with the page's listening bar; None when the page has no bar."""
    bar = browser.evaluate(_BAR)
    if bar is None:
        return None
    if not bar["shown"] or bar["native"]:
        return ["the listening bar is not shown in place of the native player (player.js did not run)"]
    problems = [f"{c} has no accessible name" for c in bar["unnamed"]]
    problems += [f"{c} is smaller than 44 × 44 px" for c in bar["small"]]
    narration = "document.getElementById('narration')"
    browser.evaluate("document.activeElement && document.activeElement.blur()")
    reached: list[str] = []
    for _ in range(80):
        _press(browser, "Tab")
        focus = browser.evaluate("document.activeElement ? document.activeElement.id : ''")
        if focus in _BAR_KEYS and focus not in reached:
            reached.append(focus)
        if focus == "player-forward":
            before = browser.evaluate(f"{narration}.currentTime")
            _press(browser, "Enter")
            after = browser.evaluate(f"{narration}.currentTime")
            if abs(after - before - 30) > 0.5:
                problems.append(f"Enter on #player-forward moved the narration from {before:.1f} s to {after:.1f} s")
        if focus == "player-rate":
            _press(browser, "ArrowDown")
            rate = browser.evaluate(f"{narration}.playbackRate")
            _press(browser, "ArrowUp")
            if rate == 1:
                problems.append("the arrow keys on #player-rate do not change the speed")
            break
    missing = [f"#{k}" for k in _BAR_KEYS if k not in reached]
    if missing:
        problems.append(f"not reached with the Tab key: {', '.join(missing)}")
    browser.evaluate(f"(() => {{ localStorage.clear(); {narration}.currentTime = 0; }})()")
    return problems


# Word read-along (readalong.js) as the narration plays: word highlighting on (the reader's setting), a
# sentence with word times played muted at twice the speed from its first word; every animation frame
# records the time before and at the frame and the word lit.
_WORDS = """(async () => {
    const a = document.getElementById('narration');
    const all = [...document.querySelectorAll('.s[data-words]')]
        .filter(s => s.getAttribute('data-words').trim().split(/\\s+/).length >= 12);
    if (!a || !all.length) return null;
    document.documentElement.setAttribute('data-word-highlight', 'on');
    const s = all[Math.floor(all.length / 2)];
    const times = s.getAttribute('data-words').trim().split(/\\s+/).map(Number);
    const begins = times.filter((_, i) => i % 2 === 0);
    await new Promise(r => { if (a.readyState >= 1) r(); else a.addEventListener('loadedmetadata', r, {once: true});
                             setTimeout(r, 10000); });
    a.muted = true;
    a.playbackRate = 2;
    a.currentTime = begins[0];
    await new Promise(r => { a.addEventListener('seeked', r, {once: true}); setTimeout(r, 5000); });
    try { await a.play(); } catch (e) { return {begins, end: times[times.length - 1], samples: [], error: String(e)}; }
    const samples = [];
    const end = times[times.length - 1];
    const t0 = performance.now();
    let prev = a.currentTime;
    while (a.currentTime < end && !a.paused && performance.now() - t0 < 20000) {
        await new Promise(r => requestAnimationFrame(r));
        const t = a.currentTime;
        const lit = [...s.querySelectorAll('.w.current-word')].map(w => w.wordIndex);
        samples.push([prev, t, lit.length ? lit[0] : -1]);
        prev = t;
    }
    a.pause();
    document.documentElement.setAttribute('data-word-highlight', 'off');
    return {begins, end, samples, id: s.id};
})()"""


def _word_readalong(browser: Browser) -> list[str] | None:
    """What is wrong with the word read-along on this page as it plays; None when no sentence has word
    times. A frame's lit word must be one that has begun and not yet given way to the next at some
    moment between the frame before and this one (0.1 s either side: the script and the sample are
    different frames on a loaded machine)."""
    r = browser.evaluate(_WORDS)
    if r is None:
        return None
    if r.get("error") or len(r["samples"]) < 10:
        return [f"the narration did not play ({r.get('error') or 'too few frames'})"]
    begins, end = r["begins"], r["end"]
    bounds = begins[1:] + [end]
    wrong = 0
    lit = set()
    for prev, t, k in r["samples"]:
        lo, hi = min(prev, t) - 0.1, t + 0.1
        fits = [i for i, b in enumerate(begins) if b <= hi and bounds[i] > lo]
        if k >= 0:
            lit.add(k)
        if k not in fits and not (k == -1 and (lo < begins[0] or hi >= end)):
            wrong += 1
    problems = []
    if wrong:
        problems.append(f"#{r['id']}: {wrong} of {len(r['samples'])} frames light a word that is not being read")
    if len(lit) < min(5, len(begins)):
        problems.append(f"#{r['id']}: only {len(lit)} of its {len(begins)} words were lit while it played")
    return problems


def check_web(site: Path) -> CheckResult:
    """axe-core with WCAG 2.2 A/AA rules and enhanced contrast on every page, light and dark, and (pages
    with the reader's settings) in every other colour scheme, each at 100% and 300% text ("axe"): a
    violation is C-AXE-001 at ``page (scheme)`` or ``page (scheme, 300%)``, a page that could not be
    loaded C-AXE-002; a page with the settings that scrolls sideways at 320 px with the largest text, the
    1.4.12 spacing and the settings open is C-WEB-001; a narrated page whose listening bar is not shown,
    has a control without a name or smaller than 44 × 44 px, or whose play, back, forward and speed
    controls the Tab key does not reach or the Enter and arrow keys do not work, is C-WEB-002. A missing
    Chromium or axe-core raises its E-TOOL code (the check cannot run)."""
    t = time.perf_counter()
    axe = node_file(AXE_JS)
    executable = chromium()
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    findings: list[Finding] = []
    runs = 0
    bars = 0
    run = f"""axe.run(document, {{runOnly: {{type: 'tag', values: {json.dumps(AXE_TAGS)}}},
        resultTypes: ['violations'], rules: {{'color-contrast-enhanced': {{enabled: true}}}}}})
        .then(r => r.violations.map(v => ({{id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length}})))"""
    # the word read-along check plays a narration (muted) with no user gesture
    flags = (*CHROMIUM_FLAGS, "--autoplay-policy=no-user-gesture-required")
    with serve(site) as base, Browser(flags, executable) as browser:
        browser.page("Page.enable")
        browser.page("Network.enable")
        # the pages forbid inline script (as they should); axe is ours, installed before theirs
        browser.page("Page.setBypassCSP", enabled=True)
        browser.page("Page.addScriptToEvaluateOnNewDocument", source=axe.read_text(encoding="utf-8"))
        # the narration is not what axe checks: the players get no media, so no MP3 is buffered
        browser.page("Network.setBlockedURLs", urls=[f"*.{ext}" for ext in MEDIA_EXTENSIONS])
        with_settings = [rel for rel in pages if 'id="reader-settings-toggle"' in (site / rel).read_text(encoding="utf-8")]
        if with_settings:
            try:
                for problem in _reader_settings(browser, base, with_settings[0], with_settings[-1]):
                    findings.append(Finding("C-WEB-003", with_settings[0], f"reader settings: {problem}"))
            except BrowserError as e:
                findings.append(Finding("C-AXE-002", with_settings[0], f"reader settings could not be checked: {e}"))
        words = None
        for rel in pages:
            if 'data-words="' not in (site / rel).read_text(encoding="utf-8"):
                continue
            try:
                browser.page("Network.setBlockedURLs", urls=[])      # this one plays
                browser.goto(base + rel)
                words = rel
                for problem in _word_readalong(browser) or []:
                    findings.append(Finding("C-WEB-004", rel, f"word read-along: {problem}"))
                browser.goto("about:blank")
            except BrowserError as e:
                findings.append(Finding("C-AXE-002", rel, f"word read-along could not be checked: {e}"))
            finally:
                browser.page("Network.setBlockedURLs", urls=[f"*.{ext}" for ext in MEDIA_EXTENSIONS])
            break
        for rel in pages:
            try:
                browser.page("Emulation.clearDeviceMetricsOverride")
                browser.page("Emulation.setEmulatedMedia",
                             features=[{"name": "prefers-color-scheme", "value": "light"}])
                browser.goto(base + rel)     # loaded in the light scheme, with the page's own defaults
                bar = _listening_bar(browser)
                bars += bar is not None
                for problem in bar or []:
                    findings.append(Finding("C-WEB-002", rel, f"listening bar: {problem}"))
                browser.evaluate(_PREPARE)
                browser.page("HeapProfiler.collectGarbage")     # the previous page's garbage: less memory at the peak
                offers = browser.evaluate(_OFFERS)
                for size in offers["sizes"]:
                    browser.evaluate(_set("text-size", size))
                    for scheme in ["light", "dark", *offers["themes"]]:
                        system = "dark" if scheme == "dark" else "light"
                        browser.page("Emulation.setEmulatedMedia",
                                     features=[{"name": "prefers-color-scheme", "value": system}])
                        # light and dark: the automatic scheme, as the system asks
                        browser.evaluate(_set("theme", None if not offers["themes"]
                                              else "auto" if scheme in ("light", "dark") else scheme))
                        where = f"{rel} ({scheme})" if size in (None, offers["sizes"][0]) \
                            else f"{rel} ({scheme}, {size}%)"
                        runs += 1
                        for v in browser.evaluate(run):
                            findings.append(Finding("C-AXE-001", where,
                                                    f"{v['id']} ({v['impact']}) on {v['nodes']} element(s): {v['help']}"))
                if offers["sizes"] == [None]:
                    continue     # not a page of the web edition (the release report): no reader settings
                browser.evaluate(_set("theme", "auto"))
                browser.evaluate(_set("text-size", offers["sizes"][-1]))
                browser.page("Emulation.setDeviceMetricsOverride", width=320, height=640,
                             deviceScaleFactor=1, mobile=False)
                r = browser.evaluate(_REFLOW)
                if r["over"] > 0:
                    findings.append(Finding("C-WEB-001", rel,
                                            f"scrolls sideways by {r['over']} px at 320 px wide ({offers['sizes'][-1]}% "
                                            f"text, WCAG 1.4.12 text spacing, the reader settings open): "
                                            f"{', '.join(r['wide'])}"))
            except BrowserError as e:
                findings.append(Finding("C-AXE-002", rel, f"could not be checked: {e}"))
    if findings:
        summary = f"{len(findings)} finding(s)"
    elif runs == 2 * len(pages):
        summary = f"{len(pages)} pages × light and dark: 0 violations"
    else:
        summary = (f"{len(pages)} pages × every colour scheme at 100% and 300% ({runs} axe runs): 0 violations;"
                   " no sideways scroll at 320 px")
    if with_settings and not findings:
        summary += "; the reader settings work by keyboard and are kept across pages and a reload"
    if bars and not findings:
        summary += f"; the listening bar of {bars} pages works by keyboard"
    if words and not findings:
        summary += f"; word highlighting follows the narration ({words})"
    return CheckResult("axe", not findings, tuple(findings), summary, time.perf_counter() - t)


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

    add("check-web", "run axe-core on every page of a built site in every colour scheme and text size, "
        "and the 320 px reflow (headless Chromium)",
        setup_check_web, cmd_check_web)
