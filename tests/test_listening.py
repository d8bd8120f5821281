"""The large-print web edition's listening bar and word read-along, in Debian's Chromium (Playwright).

A small book of two narrated parts (tones as long as their timelines) whose sync maps time every word and
have chapters, built by the `web` stage and served with Range support. Checked: the page carries each
sentence's word times (only when they are its words) and the part's sections; every control of the bar
by keyboard alone (play/pause and its name, back 15 s and forward 30 s, the speed and that it is kept on
another page, a section that plays from its begin, "Resume at" after a reload, forgotten once the part
is heard to the end); the polite status line says what the reader did and is quiet while the narration
plays; without scripting the native player and no bar; axe-core (WCAG 2.2 A/AA plus
color-contrast-enhanced) with the bar, its sections and a highlighted word; the bar at 320 px and 300%
text; the highlighted word follows playback, and a click on a word plays from it.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_largeprint import AXE, Page, Watch, chromium_browser, new_page, run_axe, serving

from pipeline.model.contracts import Chapter, Fragment, SyncMap, Word, words_of, write_syncmap
from pipeline.model.sources import load_book
from pipeline.stages.largeprint import build_site

BOOK_TOML = """\
id = "words"
title = "A Book of Words"
authors = ["A. Writer"]
publisher = "Test Press"
language = "en-GB"
published = 2024-03-01
modified = 2024-03-11T09:00:00Z
description = "A small book read word by word."
narrator = "A Narrator"
rights = "© Test"

[podcast]
base_url = "https://example.org/"
owner = "Owner"
email = "owner@example.org"
"""

TALE = """\
---
id: tale
title: A Tale of Words
subtitle: Read word by word
order: 1
published: 2024-03-02
---

The first sentence has **bold words** in it. The second one is read **clean**ly, word by word.

## A second section

The third sentence is long enough to be read slowly over many seconds of narration. The last sentence ends the tale.
"""

OTHER = """\
---
id: other
title: Another Tale
subtitle: Short
order: 2
published: 2024-03-03
---

Another part begins here. It ends here.
"""

# per part: the duration and each fragment's span, in reading order (title, subtitle, sentences, headings)
SPANS = {"tale": (120.0, [(0.0, 6.0), (6.0, 12.0), (12.0, 30.0), (30.0, 50.0), (50.0, 56.0), (56.0, 90.0),
                          (90.0, 120.0)]),
         "other": (40.0, [(0.0, 5.0), (5.0, 10.0), (10.0, 25.0), (25.0, 40.0)])}
CHAPTERS = {"tale": [("A Tale of Words", 0.0, 50.0), ("A second section", 50.0, 120.0)],
            "other": [("Another Tale", 0.0, 40.0)]}
WRONG = "tale-s0007"     # its fragment's text (and words) are not the page's: no data-words


def word_spans(text: str, begin: float, end: float) -> tuple[Word, ...]:
    """Every word of ``text`` evenly over the span, each sounding for 80% of its slot."""
    words = words_of(text)
    slot = (end - begin - 0.4) / len(words)
    return tuple(Word(begin=round(begin + 0.2 + k * slot, 3), end=round(begin + 0.2 + (k + 0.8) * slot, 3), text=w)
                 for k, w in enumerate(words))


def sync_map(texts: Path, pid: str) -> SyncMap:
    part = load_book(texts).part(pid)
    duration, spans = SPANS[pid]
    frags = []
    for s, (b, e) in zip(part.sentences(), spans, strict=True):
        text = "Not what the page says at all." if s.id == WRONG else s.text
        frags.append(Fragment(id=s.id, text=text, begin=b, end=e, confidence=0.9, words=word_spans(text, b, e)))
    chapters = tuple(Chapter(id=f"{pid}-c{n:02d}", title=t, begin=b, end=e)
                     for n, (t, b, e) in enumerate(CHAPTERS[pid], 1))
    return SyncMap(part=pid, audio=f"{pid}.flac", duration=duration, fragments=tuple(frags), chapters=chapters)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    if not shutil.which("ffmpeg"):
        pytest.skip("needs ffmpeg")
    root = tmp_path_factory.mktemp("words")
    texts = root / "texts"
    texts.mkdir()
    (texts / "book.toml").write_text(BOOK_TOML, encoding="utf-8")
    (texts / "01-tale.md").write_text(TALE, encoding="utf-8")
    (texts / "02-other.md").write_text(OTHER, encoding="utf-8")
    site = root / "site"
    for pid, (duration, _) in SPANS.items():
        write_syncmap(root / "sync" / f"{pid}.json", sync_map(texts, pid))
        (site / "audio").mkdir(parents=True, exist_ok=True)
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                        f"sine=frequency=330:duration={duration}", "-ac", "1", "-ar", "22050", "-c:a", "libmp3lame",
                        "-b:a", "32k", str(site / "audio" / f"{pid}.mp3")], check=True)
        (site / "transcripts").mkdir(exist_ok=True)
        (site / "transcripts" / f"{pid}.vtt").write_text("WEBVTT\n", encoding="utf-8")
    build_site(texts, root / "sync", site, site / "index.html")
    (site / "_test").mkdir()
    if AXE.exists():
        shutil.copy2(AXE, site / "_test" / "axe.min.js")
    return site


# ============================================================================ the page (no browser)


def test_page_has_word_times_and_sections(site):
    text = (site / "stories" / "tale.html").read_text(encoding="utf-8")
    page = Page(text)
    book = load_book(site.parent / "texts")
    sync = sync_map(site.parent / "texts", "tale")
    for span, frag in zip(page.spans, sync.fragments, strict=True):
        if frag.id == WRONG:    # the map's words are not this sentence's: read along by sentence only
            assert "data-words" not in span and "data-begin" in span
            continue
        times = [float(x) for x in span["data-words"].split()]
        assert times == pytest.approx([x for w in frag.words for x in (w.begin, w.end)], abs=0.005), frag.id
        assert all(re.fullmatch(r"\d+\.\d\d", x) for x in span["data-words"].split())
    # the word count is the rendered text's, across emphasis ("**clean**ly," is one word)
    assert '<strong>clean</strong>ly,' in text
    # the bar: hidden until the script shows it; the native player keeps its controls
    assert re.search(r'<div class="player" id="player" data-part="tale"[^>]* hidden>', text)
    assert re.search(r'<audio id="narration" controls', text)
    assert 'src="../static/player.js" defer' in text
    sections = re.findall(r'<button type="button" data-begin="([\d.]+)">([^<]+) <span class="player-at">\(([\d:]+)\)',
                          text)
    assert sections == [("0.000", "A Tale of Words", "0:00"), ("50.000", "A second section", "0:50")]
    assert '<span id="player-total">2:00</span>' in text
    # a part without word times in its map gets none (the sentence read-along is unchanged)
    assert "data-words" in text and len(book.parts) == 2


# ============================================================================ in the browser


@pytest.fixture(scope="module")
def server(site):
    with serving(site) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as b:
        yield b


def faults(watch: Watch) -> list[str]:
    """The page's problems, but a request the browser cancelled because the test left the page (the icon
    still loading when a test goes to the next page) is no fault of the site's."""
    return [p for p in watch.problems if not (p.startswith("request failed:") and p.endswith("net::ERR_ABORTED"))]


def open_story(browser, server, pid="tale", **kw):
    ctx, page = new_page(browser, **kw)
    watch = Watch(page)
    page.goto(server + f"stories/{pid}.html", wait_until="load")
    page.wait_for_function("() => document.getElementById('narration').readyState >= 1", timeout=20000)
    return ctx, page, watch


def tab_to(page, selector: str, limit: int = 80) -> None:
    """Press Tab (only Tab) until the focus is on ``selector``; its focus must be visible."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            assert page.evaluate("document.activeElement.matches(':focus-visible')"), selector
            return
    pytest.fail(f"{selector} is not reached with Tab")


def audio_state(page) -> dict:
    return page.evaluate("""() => { const a = document.getElementById('narration');
        return {t: a.currentTime, paused: a.paused, rate: a.playbackRate, seeking: a.seeking}; }""")


def wait_time(page, lo: float, hi: float, playing: bool | None = None) -> dict:
    page.wait_for_function("""([lo, hi, playing]) => { const a = document.getElementById('narration');
        return !a.seeking && a.currentTime >= lo && a.currentTime <= hi && (playing === null || a.paused !== playing); }""",
                           arg=[lo, hi, playing], timeout=10000)
    return audio_state(page)


def status(page) -> str:
    page.wait_for_timeout(120)   # the status line is set just after the action (so a repeat is read again)
    return page.inner_text("#player-status")


def test_the_bar_replaces_the_native_player_and_every_control_has_a_name(browser, server):
    ctx, page, watch = open_story(browser, server)
    try:
        assert page.locator("#player").is_visible()
        assert not page.locator("#narration").is_visible()
        assert page.get_attribute("#narration", "controls") is None
        controls = page.evaluate("""() => [...document.querySelectorAll('#player button, #player select, #player summary')]
            .filter(e => e.getClientRects().length && (e.matches('summary') || !e.closest('details:not([open])')))
            .map(e => { const r = e.getBoundingClientRect();
                const name = e.labels && e.labels.length ? e.labels[0].textContent : e.textContent;
                return {tag: e.tagName, name: name.trim(), w: r.width, h: r.height}; })""")
        assert [c["name"] for c in controls] == ["Play", "Back 15 s", "Forward 30 s", "Speed",
                                                 "Sections of this part (2)"], controls
        assert all(c["w"] >= 44 and c["h"] >= 44 for c in controls), controls
        assert page.get_attribute("#player-status", "role") == "status"
        assert page.get_attribute("#player-status", "aria-live") == "polite"
        assert page.evaluate("document.querySelector('.player-time').closest('[aria-live]') === null")
        assert page.inner_text(".player-time") == "0:00 of 2:00"
        assert faults(watch) == [], watch.problems
    finally:
        ctx.close()


def test_play_pause_back_forward_by_keyboard(browser, server):
    ctx, page, watch = open_story(browser, server)
    try:
        tab_to(page, "#player-play")
        page.keyboard.press("Enter")
        wait_time(page, 0.1, 5, playing=True)
        assert page.inner_text("#player-play") == "Pause"
        assert status(page).startswith("Playing, at 0:0")
        page.keyboard.press("Space")
        page.wait_for_function("() => document.getElementById('narration').paused")
        # the name follows the pause event, which comes after `paused` is true
        page.wait_for_function("() => document.getElementById('player-play').textContent === 'Play'", timeout=3000)
        assert status(page).startswith("Paused at 0:0")
        page.evaluate("document.getElementById('narration').currentTime = 40")
        wait_time(page, 39.9, 40.1)
        tab_to(page, "#player-back")
        page.keyboard.press("Enter")
        assert wait_time(page, 24.9, 25.1, playing=False)["t"] == pytest.approx(25, abs=0.1)
        assert status(page) == "Back 15 seconds, at 0:25 of 2:00"
        page.keyboard.press("Space")
        wait_time(page, 9.9, 10.1)
        tab_to(page, "#player-forward")
        page.keyboard.press("Enter")
        assert wait_time(page, 39.9, 40.1, playing=False)["t"] == pytest.approx(40, abs=0.1)
        assert status(page) == "Forward 30 seconds, at 0:40 of 2:00"
        assert page.inner_text("#player-elapsed") == "0:40"
        # never past either end
        for _ in range(4):
            page.keyboard.press("Enter")
        page.wait_for_function("() => { const a = document.getElementById('narration');"
                               " return !a.seeking && a.currentTime >= 119; }", timeout=10000)
        assert page.evaluate("() => { const a = document.getElementById('narration');"
                             " return a.currentTime <= a.duration; }")
        assert faults(watch) == [], watch.problems
    finally:
        ctx.close()


def test_speed_by_keyboard_and_kept_on_the_next_page(browser, server):
    ctx, page, watch = open_story(browser, server)
    try:
        tab_to(page, "#player-rate")
        page.keyboard.press("ArrowDown")   # 1x -> 1.25x (a closed select steps with the arrow keys)
        page.keyboard.press("ArrowDown")   # -> 1.5x
        assert page.input_value("#player-rate") == "1.5"
        assert audio_state(page)["rate"] == 1.5
        assert status(page) == "Speed 1.5 times"
        page.click("a[rel=next]")
        page.wait_for_load_state("load")
        assert page.url.endswith("/stories/other.html")
        page.wait_for_function("() => document.getElementById('narration').readyState >= 1", timeout=20000)
        assert page.input_value("#player-rate") == "1.5"
        assert audio_state(page)["rate"] == 1.5
        page.click("#player-play")
        page.wait_for_function("() => !document.getElementById('narration').paused")
        assert audio_state(page)["rate"] == 1.5, "a new source must keep the reader's speed"
        page.select_option("#player-rate", "0.75")
        assert audio_state(page)["rate"] == 0.75
        page.reload(wait_until="load")
        assert page.input_value("#player-rate") == "0.75"
        page.select_option("#player-rate", "1")
        assert faults(watch) == [], watch.problems
    finally:
        ctx.close()


def test_section_list_jumps_and_plays(browser, server):
    ctx, page, watch = open_story(browser, server)
    try:
        assert not page.locator(".player-sections button").first.is_visible()
        tab_to(page, ".player-sections summary")
        page.keyboard.press("Enter")
        assert page.locator(".player-sections button").first.is_visible()
        tab_to(page, '.player-sections button[data-begin="50.000"]')
        assert page.evaluate("document.activeElement.textContent") == "A second section (0:50)"
        page.keyboard.press("Enter")
        state = wait_time(page, 49.9, 53, playing=True)
        assert state["t"] >= 49.9
        assert status(page) == "Section: A second section, playing from 0:50 of 2:00"
        # the read-along follows: the section's heading is the sentence being read
        page.wait_for_function("() => document.querySelector('.s.current')")
        assert page.evaluate("document.querySelector('.s.current').textContent") == "A second section"
        assert faults(watch) == [], watch.problems
    finally:
        ctx.close()


def test_resume_offered_after_reload_and_forgotten_at_the_end(browser, server):
    ctx, page, watch = open_story(browser, server)
    try:
        assert not page.locator("#player-resume").is_visible()
        page.evaluate("() => { const a = document.getElementById('narration'); a.currentTime = 70; return a.play(); }")
        wait_time(page, 70.3, 80, playing=True)
        page.click("#player-play")   # pause: the position is saved
        page.wait_for_function("() => document.getElementById('narration').paused")
        at = audio_state(page)["t"]
        kept = float(page.evaluate("localStorage.getItem('casemaker.position.tale')"))
        assert kept == pytest.approx(at, abs=0.11)
        page.reload(wait_until="load")
        page.wait_for_function("() => document.getElementById('narration').readyState >= 1", timeout=20000)
        want = f"Resume at 1:{int(kept) - 60:02d}"
        assert page.inner_text("#player-resume") == want
        assert audio_state(page) == {"t": 0, "paused": True, "rate": 1, "seeking": False}, "never plays by itself"
        tab_to(page, "#player-resume")
        page.keyboard.press("Enter")
        assert wait_time(page, kept - 0.05, kept + 3, playing=True)["t"] >= kept - 0.05
        assert status(page) == f"Resumed: playing from {want[len('Resume at '):]} of 2:00"
        assert not page.locator("#player-resume").is_visible()
        assert page.evaluate("document.activeElement.id") == "player-play", "the focus stays in the bar"
        assert page.inner_text("#player-play") == "Pause"
        # another part's position is its own
        page.goto(server + "stories/other.html", wait_until="load")
        assert not page.locator("#player-resume").is_visible()
        # heard to the end: forgotten
        page.goto(server + "stories/tale.html", wait_until="load")
        page.wait_for_function("() => document.getElementById('narration').readyState >= 1", timeout=20000)
        page.evaluate("() => { const a = document.getElementById('narration'); a.currentTime = 118.5; return a.play(); }")
        page.wait_for_function("() => document.getElementById('narration').ended", timeout=15000)
        assert page.evaluate("localStorage.getItem('casemaker.position.tale')") is None
        assert status(page) == "The end of this part"
        page.reload(wait_until="load")
        assert not page.locator("#player-resume").is_visible()
        assert faults(watch) == [], watch.problems
    finally:
        ctx.close()


def test_position_saved_while_playing_and_on_leaving(browser, server):
    ctx, page, watch = open_story(browser, server)
    try:
        page.evaluate("() => { const a = document.getElementById('narration'); a.playbackRate = 2; return a.play(); }")
        wait_time(page, 12, 30, playing=True)   # every 5 s of the narration while it plays
        kept = page.evaluate("localStorage.getItem('casemaker.position.tale')")
        assert kept is not None and 4 <= float(kept) <= 30, kept
        page.evaluate("document.getElementById('narration').currentTime = 100")
        wait_time(page, 100, 110)
        page.goto(server + "stories/other.html", wait_until="load")   # pagehide saves it
        page.goto(server + "stories/tale.html", wait_until="load")
        assert page.inner_text("#player-resume").startswith("Resume at 1:4")
        assert faults(watch) == [], watch.problems
    finally:
        ctx.close()


def test_status_is_polite_and_quiet_while_playing(browser, server):
    ctx, page, watch = open_story(browser, server)
    try:
        page.evaluate("""() => { window.__said = [];
            new MutationObserver(() => window.__said.push(document.getElementById('player-status').textContent))
                .observe(document.getElementById('player-status'), {childList: true, characterData: true, subtree: true}); }""")
        page.click("#player-play")
        page.wait_for_timeout(300)
        said = page.evaluate("window.__said")
        assert said and said[-1].startswith("Playing, at 0:0"), said
        ticks = page.evaluate("""() => new Promise((done) => { let n = 0; const a = document.getElementById('narration');
            a.addEventListener('timeupdate', () => n++); setTimeout(() => done(n), 2500); })""")
        assert ticks >= 4 and page.inner_text("#player-elapsed") != "0:00"
        assert page.evaluate("window.__said") == said, "the status must not change while the narration just plays"
        page.click("#player-play")
        page.wait_for_timeout(300)
        assert page.evaluate("window.__said")[-1].startswith("Paused at 0:0")
        assert faults(watch) == [], watch.problems
    finally:
        ctx.close()


def test_without_scripting_the_native_player_and_no_bar(browser, server):
    ctx, page = new_page(browser, java_script_enabled=False)
    try:
        page.goto(server + "stories/tale.html", wait_until="load")
        assert page.locator("audio#narration[controls]").is_visible()
        assert not page.locator("#player").is_visible()
        assert page.locator("#player button:visible").count() == 0
    finally:
        ctx.close()


def word_on(page, on: bool = True) -> None:
    page.evaluate("(on) => on ? document.documentElement.setAttribute('data-word-highlight', 'on')"
                  " : document.documentElement.removeAttribute('data-word-highlight')", on)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_with_the_bar_and_a_highlighted_word(browser, server, scheme):
    ctx, page, watch = open_story(browser, server, color_scheme=scheme)
    try:
        page.evaluate("localStorage.setItem('casemaker.position.tale', '75')")
        page.reload(wait_until="load")
        page.wait_for_function("() => document.getElementById('narration').readyState >= 1", timeout=20000)
        page.click(".player-sections summary")
        word_on(page)
        page.evaluate("""() => new Promise((done) => { const a = document.getElementById('narration');
            a.addEventListener('seeked', () => done(), {once: true}); a.currentTime = 60; })""")
        page.wait_for_function("() => document.querySelector('.s.current .w.current-word')")
        assert page.locator("#player-resume").is_visible()
        page.focus("#player-forward")
        r = run_axe(page)
        assert "color-contrast-enhanced" in r["ran"] and "target-size" in r["ran"], r["ran"]
        assert r["violations"] == [], json.dumps(r["violations"], indent=1)
        assert not [i for i in r["incomplete"] if i["id"].startswith("color-contrast")], r["incomplete"]
        assert faults(watch) == [], watch.problems
    finally:
        ctx.close()


def test_the_bar_reflows_at_320_px_and_300_percent(browser, server):
    ctx, page, watch = open_story(browser, server, width=320, height=640)
    try:
        # the reader's 300% text setting (largeprint.css scales the text from this attribute)
        page.evaluate("document.documentElement.setAttribute('data-text-size', '300')")
        page.click(".player-sections summary")
        page.evaluate("localStorage.setItem('casemaker.position.tale', '75')")
        wide = page.evaluate("""() => [...document.querySelectorAll('.listen, .listen *')]
            .filter(e => e.getClientRects().length && e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
            .map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + e.getBoundingClientRect().right)""")
        assert wide == [], wide
        size = page.evaluate("parseFloat(getComputedStyle(document.getElementById('player-play')).fontSize)")
        assert size >= 72, size
        small = page.evaluate("""() => [...document.querySelectorAll('#player button, #player select, #player summary')]
            .filter(e => e.getClientRects().length).map(e => e.getBoundingClientRect())
            .filter(r => r.width < 44 || r.height < 44).length""")
        assert small == 0
    finally:
        ctx.close()


WORD_RECORDER = """
window.__wsamples = [];
document.addEventListener('DOMContentLoaded', () => {
  const a = document.getElementById('narration');
  const sample = () => {
    if (!a.paused && !a.seeking) {
      const w = [...document.querySelectorAll('.current-word')];
      const s = w.length ? w[0].closest('.s') : null;
      window.__wsamples.push([a.currentTime, s ? s.id : null, w.length ? w[0].wordIndex : null,
                              new Set(w.map(e => e.wordIndex)).size]);
    }
    requestAnimationFrame(sample);
  };
  requestAnimationFrame(sample);
});
"""


def test_word_highlight_follows_playback(browser, server, site):
    sync = sync_map(site.parent / "texts", "tale")
    words = {f.id: [(w.begin, w.end) for w in f.words] for f in sync.fragments if f.id != WRONG}
    ctx, page = new_page(browser)
    try:
        watch = Watch(page)
        page.add_init_script(WORD_RECORDER)
        page.goto(server + "stories/tale.html", wait_until="load")
        page.wait_for_function("() => document.getElementById('narration').readyState >= 1", timeout=20000)
        text_before = page.inner_text("main")
        assert page.locator(".w").count() == 0, "no word spans until the reader asks for them"
        word_on(page)
        # every timed sentence's words are wrapped, emphasis kept, the text unchanged
        got = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.s[data-words]')].map(s =>
            [s.id, new Set([...s.querySelectorAll('.w')].map(w => w.wordIndex)).size]))""")
        assert got == {k: len(v) for k, v in words.items()}, got
        assert page.locator("#" + WRONG + " .w").count() == 0
        assert page.inner_text("main") == text_before
        assert page.evaluate("[...document.querySelectorAll('strong .w')].map(w => w.textContent)") == ["bold", "words", "clean"]
        assert page.evaluate("[...document.querySelectorAll('.w')].filter(w => w.textContent === 'clean'"
                             " || w.textContent === 'ly,').map(w => w.wordIndex)") == [5, 5]
        # the whole narration at 4x: each sample is held to what is true over the stretch since the one before
        page.evaluate("() => { const a = document.getElementById('narration'); a.playbackRate = 4; return a.play(); }")
        page.wait_for_function("() => document.getElementById('narration').ended", timeout=60000)
        samples = page.evaluate("window.__wsamples")
        assert len(samples) > 100, len(samples)
        margin = 0.15
        prev = None
        lit = 0
        for t, sid, k, distinct in samples:
            lo = (prev if prev is not None and prev <= t else t) - margin
            hi = t + margin
            prev = t
            assert distinct <= 1, (t, sid)
            if sid is None:
                # nothing lit: fine only if no word of a timed sentence has begun in a clip holding the stretch
                sure = [s for s, ws in words.items() if ws[0][0] < lo and hi < sync_end(sync, s)]
                assert not sure, f"no word highlighted at {t:.2f} s inside {sure}"
                continue
            lit += 1
            ws = words[sid]
            assert ws[k][0] <= hi, f"{sid} word {k} highlighted at {t:.2f} s before it begins ({ws[k][0]})"
            assert k + 1 == len(ws) or ws[k + 1][0] > lo, f"{sid} word {k} still highlighted at {t:.2f} s"
        assert lit > len(samples) // 2
        # off: no word is highlighted any more
        page.evaluate("() => { const a = document.getElementById('narration'); a.playbackRate = 1; a.currentTime = 60; return a.play(); }")
        page.wait_for_function("() => document.querySelector('.current-word')")
        word_on(page, False)
        page.wait_for_timeout(300)
        assert page.locator(".current-word").count() == 0
        assert page.locator(".s.current").count() == 1
        assert faults(watch) == [], watch.problems
    finally:
        ctx.close()


def sync_end(sync: SyncMap, sid: str) -> float:
    return next(f.end for f in sync.fragments if f.id == sid)


def test_click_a_word_plays_from_it(browser, server, site):
    sync = sync_map(site.parent / "texts", "tale")
    frag = next(f for f in sync.fragments if f.id == "tale-s0006")
    ctx, page, watch = open_story(browser, server)
    try:
        page.evaluate("""() => { window.__seeks = []; const a = document.getElementById('narration');
            a.addEventListener('seeking', () => window.__seeks.push(a.currentTime)); }""")
        # word highlight off: a click on a word plays from its sentence
        page.locator("#tale-s0006").click(position={"x": 5, "y": 5})
        page.wait_for_function("() => window.__seeks.length >= 1")
        assert page.evaluate("window.__seeks")[-1] == pytest.approx(frag.begin, abs=0.01)
        page.evaluate("document.getElementById('narration').pause()")
        word_on(page)
        for k in (3, 7, len(frag.words) - 1):
            n = len(page.evaluate("window.__seeks"))
            page.locator("#tale-s0006 .w").nth(k).click()
            page.wait_for_function("(n) => window.__seeks.length > n", arg=n)
            assert page.evaluate("window.__seeks")[-1] == pytest.approx(frag.words[k].begin, abs=0.01), k
            page.wait_for_function("(k) => { const w = document.querySelector('.current-word');"
                                   " return w && w.wordIndex === k; }", arg=k)
            assert not page.evaluate("document.getElementById('narration').paused")
        # the keyboard stays at sentence level: Enter on the sentence plays from its start
        page.focus("#tale-s0006")
        n = len(page.evaluate("window.__seeks"))
        page.keyboard.press("Enter")
        page.wait_for_function("(n) => window.__seeks.length > n", arg=n)
        assert page.evaluate("window.__seeks")[-1] == pytest.approx(frag.begin, abs=0.01)
        assert faults(watch) == [], watch.problems
    finally:
        ctx.close()


def test_the_real_sites_words_all_wrap(browser):
    """On the staged site (build/site, as `make site` built it, with the aligner's word times), every
    sentence with word times is wrapped word for word by the script: its split of the text agrees with
    contracts.words_of on the book's real punctuation (quotes, dashes, apostrophes)."""
    from test_largeprint import OUTPUT

    pages = sorted((OUTPUT / "stories").glob("*.html"))
    if not pages or not any("data-words=" in p.read_text(encoding="utf-8") for p in pages):
        pytest.skip("the staged site has no word times: run `make site` (build/site)")
    with serving(OUTPUT) as base:
        _wrapped_word_for_word(browser, base, pages)


def _wrapped_word_for_word(browser, base: str, pages: list[Path]) -> None:
    ctx, page = new_page(browser)
    try:
        for path in pages:
            page.goto(f"{base}stories/{path.name}", wait_until="load")
            word_on(page)
            r = page.evaluate("""() => { const s = [...document.querySelectorAll('.s[data-words]')];
                return {sentences: s.length, unwrapped: s.filter(e => new Set([...e.querySelectorAll('.w')]
                    .map(w => w.wordIndex)).size * 2 !== e.getAttribute('data-words').trim().split(/\\s+/).length)
                    .map(e => e.id)}; }""")
            assert r["unwrapped"] == [], (path.name, r)
    finally:
        ctx.close()


def test_the_release_gate_checks_the_bar(site, tmp_path):
    """check-web (the release gate's browser check) finds a bar control without a name and one the
    keyboard cannot reach (C-WEB-002, naming the page), and nothing wrong with a sound bar."""
    from test_checks import needs_browser

    from pipeline.checks.web import check_web

    needs_browser()
    copy = tmp_path / "site"
    shutil.copytree(site, copy, ignore=shutil.ignore_patterns("audio", "_test"))
    r = check_web(copy)
    assert r.passed, r.problems
    assert "; the listening bar of 2 pages works by keyboard" in r.summary, r.summary
    page = copy / "stories" / "tale.html"
    html = page.read_text(encoding="utf-8")
    html = html.replace('id="player-back">Back 15 s</button>', 'id="player-back"></button>')
    html = html.replace('id="player-forward">', 'id="player-forward" disabled>')
    page.write_text(html, encoding="utf-8")
    r = check_web(copy)
    bar = sorted(f.message for f in r.findings if f.code == "C-WEB-002")
    assert {f.where for f in r.findings if f.code == "C-WEB-002"} == {"stories/tale.html"}, r.problems
    assert bar == ["listening bar: #player-back has no accessible name",
                   "listening bar: not reached with the Tab key: #player-forward"], r.problems
