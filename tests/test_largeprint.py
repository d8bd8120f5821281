"""The large-print web edition, measured in a real browser (Debian's Chromium driven by Playwright).

The pages are built by the `web` stage into a copy of the real site (build/site, the staged site, with its MP3s and
transcripts) and served by a local HTTP server that honours Range requests, so the narration can be
played and seeked; one page is also loaded from file://. Checked: axe-core (WCAG 2.2 A/AA plus
color-contrast-enhanced) in the light and the dark scheme, reflow at 320 CSS px with and without
WCAG 1.4.12 text spacing, large-print typography (font size, line height, measure, no italics),
read-along highlighting against the sync map, click-to-play, keyboard order and visible focus,
reduced motion, no-script reading, and the Content-Security-Policy (no violations reported).
Screenshots for review go to build/screenshots/.

The first tests need no browser: page structure, ids and times against the sync maps, escaping,
text-only parts and deterministic output, on a small book generated in tmp_path.
"""
from __future__ import annotations

import contextlib
import html.parser
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.model.contracts import Fragment, SyncMap, audible_clips, read_syncmap, write_syncmap
from pipeline.model.problems import InputError
from pipeline.model.sources import load_book
from pipeline.stages.largeprint import STATIC, build_site, format_duration, segments, static_files
from pipeline.system.serve import serving

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "build" / "site"
SYNC = ROOT / "build" / "sync"
TEXTS = ROOT / "texts"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", "--mute-audio"]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
FOCUSABLE = ('a[href], button, input:not([type="hidden"]), select, textarea, audio[controls], summary, '
             '[tabindex]:not([tabindex="-1"])')


# ============================================================================ HTML inspection (no browser)


class Page(html.parser.HTMLParser):
    """The facts about a page that the tests check, from Python's own HTML parser."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.lang = None
        self.csp = None
        self.title = ""
        self.headings: list[int] = []
        self.spans: list[dict] = []
        self.links: list[str] = []
        self.inline_scripts = 0
        self.style_elements = 0
        self.style_attrs = 0
        self.event_attrs = 0
        self.italic_tags = 0
        self.landmarks: list[str] = []
        self._in_title = False
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp = a.get("content")
        if tag == "title":
            self._in_title = True
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag == "span" and "s" in (a.get("class") or "").split():
            self.spans.append(a)
        for key in ("href", "src"):
            if a.get(key) is not None and tag in ("a", "link", "script", "audio", "track", "img", "source"):
                self.links.append(a[key])
        if tag == "script":
            self._in_script = True
            if not a.get("src"):
                self.inline_scripts += 1
        if tag == "style":
            self.style_elements += 1
        if "style" in a:
            self.style_attrs += 1
        self.event_attrs += sum(1 for k in a if k.startswith("on"))
        if tag in ("i", "em", "cite", "u"):
            self.italic_tags += 1
        if tag in ("header", "nav", "main", "footer"):
            self.landmarks.append(tag)

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        if self._in_script and data.strip():
            self.inline_scripts += 1


BOOK_TOML = """\
id = "tiny-book"
title = "Fish & Chips <Tales>"
subtitle = "Quotes \\" and 'apostrophes'"
authors = ["A. Writer", "B. Writer"]
publisher = "Test & Press"
language = "en-GB"
published = 2024-03-01
modified = 2024-03-11T09:00:00Z
description = "A <b>test</b> & more."
narrator = "A Narrator"
rights = "© Test"
isbn = "9780000000000"

[podcast]
base_url = "https://example.org/"
owner = "Owner"
email = "owner@example.org"
"""

PART_ONE = """\
---
id: one
title: "One < Two & \\"Three\\""
subtitle: First part
order: 1
published: 2024-03-02
---

An opening with 5 < 6 & 7 > 3 and **bold words** here. A second sentence.

### A sub-heading in the opening

A paragraph after it.

## The first section

> A quote with "marks" & ampersands.

- An item? Yes.
- Another item.

## Questions for reflection

### Digging deeper

- A question?
"""

PART_TWO = """\
---
id: two
title: Two
subtitle: Text only
order: 2
published: 2024-03-03
narrated: false
---

Only text <script>alert(1)</script> is not allowed, so this says script in words only.

## A section

Closing words.
"""


def make_tiny_book(tmp_path: Path) -> tuple[Path, Path, Path]:
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "book.toml").write_text(BOOK_TOML, encoding="utf-8")
    (texts / "01-one.md").write_text(PART_ONE, encoding="utf-8")
    (texts / "02-two.md").write_text(PART_TWO.replace("<script>alert(1)</script> ", ""), encoding="utf-8")
    book = load_book(texts)
    sync = tmp_path / "sync"
    part = book.part("one")
    frags, t = [], 0.0
    for i, s in enumerate(part.sentences()):
        frags.append(Fragment(id=s.id, text=s.text, begin=t, end=t + 1.5 + i % 3, confidence=0.9))
        t = frags[-1].end
    write_syncmap(sync / "one.json", SyncMap(part="one", audio="one.flac", duration=t, fragments=tuple(frags)))
    return texts, sync, tmp_path / "site"


def test_segments_and_durations():
    assert segments("abc def ghi", ((4, 7),)) == (("abc ", False), ("def", True), (" ghi", False))
    assert segments("abc", ()) == (("abc", False),)
    assert segments("abc", ((0, 3),)) == (("abc", True),)
    assert format_duration(371.2) == ("6 minutes 11 seconds", "PT6M11S")
    assert format_duration(3600) == ("1 hour", "PT1H")
    assert format_duration(61) == ("1 minute 1 second", "PT1M1S")


def test_tiny_book_escaped_structured_deterministic(tmp_path):
    texts, sync, site = make_tiny_book(tmp_path)
    build_site(texts, sync, site, site / "index.html")
    first = {p.relative_to(site): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()}
    shipped = {f"static/{name}" for name in static_files()}
    assert {"static/largeprint.css", "static/readalong.js", "static/player.js", "static/settings.js", "static/icon.svg",
            "static/fonts/atkinson-hyperlegible-latin-400-normal.woff2",
            "static/fonts/atkinson-hyperlegible-latin-700-normal.woff2", "static/fonts/OFL.txt"} <= shipped
    assert set(map(str, first)) == {"index.html", "stories/one.html", "stories/two.html"} | shipped
    for name in static_files():   # copied byte for byte, binary files (the fonts) too
        assert first[Path("static", name)] == (STATIC / name).read_bytes(), name
    build_site(texts, sync, site, site / "index.html")
    again = {p.relative_to(site): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()}
    assert again == first, "the same inputs must give the same bytes"

    index = (site / "index.html").read_text(encoding="utf-8")
    one = (site / "stories" / "one.html").read_text(encoding="utf-8")
    two = (site / "stories" / "two.html").read_text(encoding="utf-8")
    # escaped, never markup
    assert "<Tales>" not in index and "Fish &amp; Chips &lt;Tales&gt;" in index
    assert "<b>test</b>" not in index and "&lt;b&gt;test&lt;/b&gt;" in index
    assert "One &lt; Two &amp; &#34;Three&#34;" in one
    assert "5 &lt; 6 &amp; 7 &gt; 3" in one
    # emphasis by weight
    assert "<strong>bold words</strong>" in one
    # the opening's sub-heading follows the h1 without a gap (h2, not h3)
    p1 = Page(one)
    assert p1.headings[0] == 1 and p1.headings.count(1) == 1
    assert all(b - a <= 1 for a, b in zip(p1.headings, p1.headings[1:])), p1.headings
    # times from the sync map on every sentence of the narrated part
    book = load_book(texts)
    smap = read_syncmap(sync / "one.json")
    assert [s["id"] for s in p1.spans] == [s.id for s in book.part("one").sentences()]
    for span, frag in zip(p1.spans, smap.fragments):
        assert float(span["data-begin"]) == pytest.approx(frag.begin, abs=5e-4)
        assert float(span["data-end"]) == pytest.approx(frag.end, abs=5e-4)
    # a text-only part: sentences with ids but no times, no player, still linked in order
    p2 = Page(two)
    assert [s["id"] for s in p2.spans] == [s.id for s in book.part("two").sentences()]
    assert not any("data-begin" in s for s in p2.spans)
    assert "<audio" not in two and "readalong.js" in two
    assert 'href="one.html" rel="prev"' in two and "rel=\"next\"" not in two
    assert "Text only (not narrated)" in index and "audio/two.mp3" not in index
    assert "audio/one.mp3" in index and "tiny-book.epub" in index and "podcast.xml" in index


def test_stale_sync_map_is_one_line_error(tmp_path):
    texts, sync, site = make_tiny_book(tmp_path)
    data = json.loads((sync / "one.json").read_text())
    data["fragments"] = data["fragments"][:-1]
    data["duration"] = data["fragments"][-1]["end"]
    (sync / "one.json").write_text(json.dumps(data))
    with pytest.raises(InputError) as e:
        build_site(texts, sync, site, site / "index.html")
    assert len(e.value.problems) == 1 and e.value.problems[0].code == "E-WEB-001"
    r = subprocess.run([sys.executable, "-m", "pipeline", "web", str(texts), "--sync", str(sync),
                        "--site", str(site), "-o", str(site / "index.html")],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1 and "E-WEB-001" in r.stderr and "Traceback" not in r.stderr
    assert not (site / "index.html").exists()
    (sync / "one.json").unlink()
    with pytest.raises(InputError) as e:
        build_site(texts, sync, site, site / "index.html")
    assert [p.code for p in e.value.problems] == ["E-SYNC-001"]


# ============================================================================ the real site


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The staged site (build/site: MP3s, transcripts) copied to a tmp folder, with the web edition built into it."""
    if not (OUTPUT / "audio").is_dir() or not SYNC.is_dir():
        pytest.skip("the built site is absent: run `make site` first (needs build/site/audio and build/sync)")
    book = load_book(TEXTS)
    missing = [p.id for p in book.narrated_parts
               if not (OUTPUT / "audio" / f"{p.id}.mp3").exists() or not (SYNC / f"{p.id}.json").exists()]
    if missing:
        pytest.skip(f"the built site is incomplete (no MP3 or sync map for {', '.join(missing)})")
    root = tmp_path_factory.mktemp("site")
    for name in ("audio", "transcripts", "chapters"):
        if (OUTPUT / name).is_dir():
            shutil.copytree(OUTPUT / name, root / name)
    for f in OUTPUT.glob("*.epub"):
        shutil.copy2(f, root / f.name)
    if (OUTPUT / "podcast.xml").exists():
        shutil.copy2(OUTPUT / "podcast.xml", root / "podcast.xml")
    r = subprocess.run([sys.executable, "-m", "pipeline", "web", str(TEXTS), "--sync", str(SYNC),
                        "--site", str(root), "-o", str(root / "index.html")],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # test helpers served from the same origin (the pages' CSP forbids inline script and style)
    (root / "_test").mkdir()
    shutil.copy2(AXE, root / "_test" / "axe.min.js")
    (root / "_test" / "spacing.css").write_text(
        "* { line-height: 1.5 !important; letter-spacing: 0.12em !important; word-spacing: 0.16em !important; }\n"
        "p, li, blockquote, h1, h2, h3 { margin-bottom: 2em !important; }\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def book():
    return load_book(TEXTS)


def test_real_pages_structure(site, book):
    pages = [site / "index.html"] + [site / "stories" / f"{p.id}.html" for p in book.parts]
    for path in pages:
        text = path.read_text(encoding="utf-8")
        page = Page(text)
        where = path.relative_to(site)
        assert page.lang == book.language, where
        assert page.csp and "default-src 'self'" in page.csp and "script-src 'self'" in page.csp, where
        assert "unsafe-inline" not in page.csp and "media-src 'self'" in page.csp, where
        assert page.inline_scripts == 0 and page.style_elements == 0 and page.style_attrs == 0, where
        assert page.event_attrs == 0 and page.italic_tags == 0, where
        assert page.headings.count(1) == 1 and page.headings[0] == 1, where
        assert all(b - a <= 1 for a, b in zip(page.headings, page.headings[1:])), (where, page.headings)
        assert {"header", "main", "footer", "nav"} <= set(page.landmarks), (where, page.landmarks)
        assert book.title in page.title, where
        for link in page.links:
            assert not re.match(r"^[a-z]+:|^/", link), f"{where}: {link} is not relative"
            if link.startswith("#"):
                continue
            target = (path.parent / link.split("#")[0]).resolve()
            assert target.is_relative_to(site.resolve()), f"{where}: {link} leaves the site"
            if target.name in (f"{book.id}.epub", "podcast.xml") and not (OUTPUT / target.name).exists():
                continue   # built by other stages, not yet
            assert target.is_file(), f"{where}: {link} does not resolve"
            assert not link.endswith("/"), f"{where}: {link} names a folder (fails from file://)"
    for n, part in enumerate(book.parts, 1):
        page = Page((site / "stories" / f"{part.id}.html").read_text(encoding="utf-8"))
        assert f"{part.title} (part {n} of {len(book.parts)})" in page.title
        assert [s["id"] for s in page.spans] == [s.id for s in part.sentences()]
        if part.narrated:   # each sentence's audible clip; none for a sentence the narrator did not read
            clips = audible_clips(read_syncmap(SYNC / f"{part.id}.json"))
            assert [(float(s["data-begin"]), float(s["data-end"])) if "data-begin" in s else None
                    for s in page.spans] == [(round(c[0], 3), round(c[1], 3)) if c else None for c in clips]
            assert all(("unread" in s["class"].split()) == (c is None) for s, c in zip(page.spans, clips))
    epub = site / f"{book.id}.epub"
    if epub.exists():   # the same sentence ids as the EPUB's spans (when the EPUB has been built)
        import zipfile

        with zipfile.ZipFile(epub) as z:
            xhtml = " ".join(z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xhtml"))
        for part in book.parts:
            page = Page((site / "stories" / f"{part.id}.html").read_text(encoding="utf-8"))
            in_epub = re.findall(rf'id="({re.escape(part.id)}-s\d{{4}})"', xhtml)
            assert in_epub == [s["id"] for s in page.spans], part.id
    index = (site / "index.html").read_text(encoding="utf-8")
    for part in book.narrated_parts:
        text, iso = format_duration(read_syncmap(SYNC / f"{part.id}.json").duration)
        assert f'<time datetime="{iso}">{text}</time>' in index
        assert f'href="audio/{part.id}.mp3"' in index and f'href="stories/{part.id}.html"' in index


# ---------------------------------------------------------------------------- server and browser


@contextlib.contextmanager
def chromium_browser():
    """Debian's Chromium under Playwright (never a downloaded browser); the browser tests fail without
    Playwright and skip, saying why, without Chromium or axe-core (a skip fails in CI)."""
    try:
        from playwright import sync_api  # declared in the `check` extra, which make installs
    except ImportError:
        pytest.fail("Playwright is missing from the virtual environment: run make (it installs .[test,check])")
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's /usr/bin/chromium")
    if not AXE.exists():
        pytest.skip("needs node_modules/axe-core (npm ci)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def server(site):
    with serving(site) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as b:
        yield b


def urls(server: str, book) -> list[str]:
    return [server + "index.html"] + [server + f"stories/{p.id}.html" for p in book.parts]


class Watch:
    """Console errors, CSP violations and failed requests of one page."""

    def __init__(self, page):
        self.problems: list[str] = []
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        # media requests are cancelled on seek; the icon's, when the page is left before it came (aborted)
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} {r.failure}")
                if not (r.url.endswith(".mp3") or r.url.endswith("/icon.svg") and "ERR_ABORTED" in (r.failure or ""))
                else None)
        page.on("response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)


def new_page(browser, width=1280, height=900, **kw):
    ctx = browser.new_context(viewport={"width": width, "height": height}, **kw)
    page = ctx.new_page()
    return ctx, page


def run_axe(page) -> dict:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url="/_test/axe.min.js")
    return page.evaluate("""async (tags) => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                           rules: {'color-contrast-enhanced': {enabled: true}},
                                           resultTypes: ['violations', 'incomplete']});
        const brief = (list) => list.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ': ' + (n.failureSummary || ''))}));
        return {violations: brief(r.violations), incomplete: brief(r.incomplete),
                ran: [...r.passes, ...r.violations, ...r.incomplete, ...r.inapplicable].map(x => x.id)};
    }""", AXE_TAGS)


def timed(part_id: str) -> list[dict]:
    """The part's sentences that are in the narration, each with its audible clip (what the page times)."""
    sync = read_syncmap(SYNC / f"{part_id}.json")
    return [{"id": f.id, "begin": c[0], "end": c[1]} for f, c in zip(sync.fragments, audible_clips(sync)) if c]


def highlight_at(page, t: float) -> None:
    """Seek the (paused) narration so that a sentence is highlighted (axe then checks its contrast too): to
    ``t``, or just inside the next clip when ``t`` falls where no sentence is read."""
    page.evaluate("""(t) => new Promise((done) => {
        const clip = [...document.querySelectorAll('.s[data-begin]')].map(e => [+e.dataset.begin, +e.dataset.end])
            .find(([b, e]) => e > t + 0.05);
        if (clip && t < clip[0]) t = clip[0] + Math.min(0.1, (clip[1] - clip[0]) / 2);
        const a = document.getElementById('narration');
        if (!a) return done();
        const go = () => { a.addEventListener('seeked', () => done(), {once: true}); a.currentTime = t; };
        if (a.readyState >= 1) go(); else a.addEventListener('loadedmetadata', go, {once: true});
    })""", t)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_zero_violations(browser, server, book, scheme):
    ctx, page = new_page(browser, color_scheme=scheme)
    report = {}
    try:
        watch = Watch(page)
        for url in urls(server, book):
            watch.problems.clear()
            page.goto(url, wait_until="load")
            if "/stories/" in url and page.locator("#narration").count():
                highlight_at(page, 20.0)
                assert page.locator(".s.current").count() == 1, url
            r = run_axe(page)
            assert "color-contrast-enhanced" in r["ran"] and "target-size" in r["ran"], r["ran"]
            report[url.rsplit("/", 1)[1]] = r
            assert r["violations"] == [], f"{scheme} {url}: {json.dumps(r['violations'], indent=1)}"
            assert not [i for i in r["incomplete"] if i["id"].startswith("color-contrast")], \
                f"{scheme} {url}: contrast could not be decided: {r['incomplete']}"
            assert watch.problems == [], watch.problems
    finally:
        ctx.close()


def scroll_overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


@pytest.mark.parametrize("spacing", [False, True], ids=["plain", "text-spacing"])
def test_reflow_320(browser, server, book, spacing):
    ctx, page = new_page(browser, width=320, height=640)
    try:
        for url in urls(server, book):
            page.goto(url, wait_until="load")
            if spacing:
                page.add_style_tag(url="/_test/spacing.css")
                assert page.evaluate("getComputedStyle(document.querySelector('main p')).letterSpacing") != "normal"
            over = scroll_overflow(page)
            if over > 0:
                wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
                    .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
                    .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right)""")
                pytest.fail(f"{url} scrolls horizontally by {over}px at 320 px (spacing={spacing}): {wide}")
    finally:
        ctx.close()


MEASURE_JS = """() => {
  // the longest rendered line of body text, in characters, found with Range rects
  const blocks = document.querySelectorAll('main p, main li, main blockquote p');
  let longest = 0, sample = '';
  const range = document.createRange();
  for (const block of blocks) {
    const walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT);
    let lines = new Map();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const t = node.data;
      for (let i = 0; i < t.length; i++) {
        range.setStart(node, i); range.setEnd(node, i + 1);
        const r = range.getClientRects()[0];
        if (!r) continue;
        const key = Math.round(r.top + r.height / 2);
        let line = lines.get(key);
        if (!line) { line = []; lines.set(key, line); }
        line.push(t[i]);
      }
    }
    for (const chars of lines.values()) {
      const text = chars.join('').trim();
      if (text.length > longest) { longest = text.length; sample = text; }
    }
  }
  const main = document.querySelector('main');
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = getComputedStyle(main.querySelector('section p') || main.querySelector('p:not(.subtitle)')).font;
  const zero = ctx.measureText('0').width;
  const cs = getComputedStyle(main);
  const column = main.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  return {longest, sample, column_in_zeros: column / zero};
}"""

TYPE_JS = """() => {
  const px = (e, p) => parseFloat(getComputedStyle(e)[p]);
  const body = document.body, p = document.querySelector('main p');
  const textEls = [...document.querySelectorAll('body *')].filter(e =>
      [...e.childNodes].some(n => n.nodeType === 3 && n.data.trim()) && e.getClientRects().length
      && !e.closest('.visually-hidden') && !e.closest('.skip-link'));
  const smallest = Math.min(...textEls.map(e => px(e, 'fontSize')));
  const italic = textEls.filter(e => getComputedStyle(e).fontStyle !== 'normal').map(e => e.tagName);
  const upper = textEls.filter(e => getComputedStyle(e).textTransform !== 'none').map(e => e.tagName);
  const aligned = textEls.filter(e => !['left', 'start'].includes(getComputedStyle(e).textAlign)).map(e => e.tagName);
  const lineHeights = [...document.querySelectorAll('main p, main li')].map(e => px(e, 'lineHeight') / px(e, 'fontSize'));
  const strong = document.querySelector('main strong');
  const h = (s) => { const e = document.querySelector(s); return e ? px(e, 'fontSize') : null; };
  const paraGap = p ? px(p, 'marginBottom') / px(p, 'fontSize') : null;
  return {body: px(body, 'fontSize'), p: p ? px(p, 'fontSize') : null, smallest, italic, upper, aligned,
          minLineHeight: Math.min(...lineHeights), h1: h('h1'), h2: h('h2'), h3: h('h3'), paraGap,
          strongWeight: strong ? getComputedStyle(strong).fontWeight : null,
          bodyWeight: getComputedStyle(p || body).fontWeight,
          family: getComputedStyle(body).fontFamily};
}"""


def test_typography_and_measure(browser, server, book):
    ctx, page = new_page(browser, width=1280, height=900)
    measured = {}
    try:
        for url in urls(server, book):
            page.goto(url, wait_until="load")
            t = page.evaluate(TYPE_JS)
            name = url.rsplit("/", 1)[1]
            assert t["body"] >= 24 and t["p"] >= 24, (name, t)
            assert t["smallest"] >= 24, f"{name}: text smaller than 24 px ({t['smallest']})"
            assert round(t["minLineHeight"], 3) >= 1.5, (name, t)
            assert t["paraGap"] >= 1.0, (name, t)
            assert t["italic"] == [] and t["upper"] == [] and t["aligned"] == [], (name, t)
            assert t["h1"] > t["body"] and (t["h2"] is None or t["h1"] > t["h2"] > t["body"]), (name, t)
            assert t["h3"] is None or t["h3"] > t["body"], (name, t)
            assert t["family"].startswith('"Atkinson Hyperlegible", Verdana, "DejaVu Sans"'), t["family"]
            if t["strongWeight"]:
                assert int(t["strongWeight"]) >= 700 and int(t["bodyWeight"]) <= 400, (name, t)
            m = page.evaluate(MEASURE_JS)
            measured[name] = (m["longest"], round(m["column_in_zeros"], 1))
            assert m["longest"] <= 70, f"{name}: a line of {m['longest']} characters: {m['sample']!r}"
            assert m["column_in_zeros"] <= 70, (name, m)
    finally:
        ctx.close()
    print("\nlongest line, column width in '0's:", json.dumps(measured))


def sentence_at(clips: list[dict], t: float) -> str | None:
    """The sentence whose audible clip holds ``t`` (None where no sentence is read)."""
    for f in clips:
        if f["begin"] <= t < f["end"]:
            return f["id"]
    return None


def test_readalong_highlight_click_keyboard(browser, server, book):
    part = max(book.narrated_parts, key=lambda p: len(p.sentences()))
    frags = timed(part.id)
    ctx, page = new_page(browser, width=1280, height=900)
    try:
        watch = Watch(page)
        page.goto(server + f"stories/{part.id}.html", wait_until="load")
        assert page.locator("#readalong-controls").is_visible()
        assert page.locator("#readalong").is_checked()
        assert page.locator(".s.current").count() == 0, "nothing is highlighted before playing"
        page.evaluate("""() => new Promise((done, fail) => {
            const a = document.getElementById('narration');
            a.muted = true;
            a.play().then(done, fail);
        })""")
        # three times in the middle of long sentences spread over the part
        long_ones = sorted(frags, key=lambda f: f["end"] - f["begin"], reverse=True)[:12]
        picks = sorted(long_ones, key=lambda f: f["begin"])
        picks = [picks[0], picks[len(picks) // 2], picks[-1]]
        for f in picks:
            t = f["begin"] + 0.3 * (f["end"] - f["begin"])
            page.evaluate("(t) => { document.getElementById('narration').currentTime = t; }", t)
            page.wait_for_function("(id) => { const c = document.querySelector('.s.current'); return c && c.id === id; }",
                                   arg=sentence_at(frags, t), timeout=5000)
            state = page.evaluate("""() => { const a = document.getElementById('narration');
                const c = document.querySelectorAll('.s.current');
                return {t: a.currentTime, paused: a.paused, n: c.length, id: c[0] && c[0].id,
                        aria: c[0] && c[0].getAttribute('aria-current'),
                        top: c[0] && c[0].getBoundingClientRect().top, bottom: c[0] && c[0].getBoundingClientRect().bottom,
                        h: innerHeight}; }""")
            assert not state["paused"], "the narration should be playing"
            assert state["n"] == 1 and state["aria"] == "true", state
            assert state["id"] == sentence_at(frags, state["t"]) == f["id"], (state, f)
            page.wait_for_function("""(id) => { const r = document.getElementById(id).getBoundingClientRect();
                return r.top >= 0 && r.bottom <= innerHeight; }""", arg=f["id"], timeout=5000)
        # the audio really advances and the highlight follows it (within a frame or two)
        t0 = page.evaluate("document.getElementById('narration').currentTime")
        page.wait_for_timeout(600)
        t1, cur = page.evaluate("""() => [document.getElementById('narration').currentTime,
                                          (document.querySelector('.s.current') || {}).id || null]""")
        assert t1 > t0 + 0.3, (t0, t1)
        assert cur in (sentence_at(frags, t1), sentence_at(frags, t1 - 0.25)), (t1, cur)
        # clicking a sentence seeks to its begin (and plays from it)
        page.evaluate("""() => { const a = document.getElementById('narration'); window.__seeks = [];
            a.addEventListener('seeking', () => window.__seeks.push(a.currentTime)); }""")
        target = frags[len(frags) // 3]
        wait_seeks = "(n) => window.__seeks.length >= n"
        page.locator(f"#{target['id']}").click()
        page.wait_for_function(wait_seeks, arg=1, timeout=3000)
        seeks = page.evaluate("window.__seeks")
        assert seeks == [pytest.approx(target["begin"], abs=0.01)], (seeks, target)
        assert page.evaluate("document.querySelector('.s.current').id") == target["id"]
        # Enter on a focused sentence plays from it too
        target = frags[2 * len(frags) // 3]
        page.evaluate("(id) => document.getElementById(id).focus()", target["id"])
        page.keyboard.press("Enter")
        page.wait_for_function(wait_seeks, arg=2, timeout=3000)
        seeks = page.evaluate("window.__seeks")
        assert seeks[-1] == pytest.approx(target["begin"], abs=0.01), (seeks, target)
        y = page.evaluate("scrollY")
        page.keyboard.press("Space")   # Space on the sentence plays from it, without scrolling the page
        page.wait_for_function(wait_seeks, arg=3, timeout=3000)
        assert page.evaluate("window.__seeks")[-1] == pytest.approx(target["begin"], abs=0.01)
        assert page.evaluate("scrollY") == y
        assert not page.evaluate("document.getElementById('narration').paused")
        # read-along off: no highlight, sentences leave the tab order, clicks do nothing
        page.locator("#readalong").uncheck()
        assert page.locator(".s.current").count() == 0
        assert page.locator(".s[tabindex]").count() == 0
        n = len(page.evaluate("window.__seeks"))
        page.locator(f"#{frags[5]['id']}").click()
        page.wait_for_timeout(300)
        assert len(page.evaluate("window.__seeks")) == n
        # the choice is remembered on the next page
        page.goto(server + f"stories/{book.parts[0].id}.html", wait_until="load")
        assert not page.locator("#readalong").is_checked() and page.locator(".s[tabindex]").count() == 0
        page.locator("#readalong").check()
        assert watch.problems == [], watch.problems
    finally:
        ctx.close()


SCROLL_SPY = """
window.__scrolls = [];
const orig = Element.prototype.scrollIntoView;
Element.prototype.scrollIntoView = function (opts) { window.__scrolls.push(opts); return orig.call(this, opts); };
"""


@pytest.mark.parametrize("motion", ["reduce", "no-preference"])
def test_scroll_respects_reduced_motion(browser, server, book, motion):
    part = book.narrated_parts[0]
    frags = timed(part.id)
    ctx, page = new_page(browser, width=1280, height=700, reduced_motion=motion)
    try:
        page.add_init_script(SCROLL_SPY)
        page.goto(server + f"stories/{part.id}.html", wait_until="load")
        page.evaluate("() => { const a = document.getElementById('narration'); a.muted = true; return a.play(); }")
        late = frags[-3]
        page.evaluate("(t) => { document.getElementById('narration').currentTime = t; }", late["begin"] + 0.2)
        page.wait_for_function("() => window.__scrolls.length > 0", timeout=5000)
        behaviours = {s["behavior"] for s in page.evaluate("window.__scrolls")}
        assert behaviours == ({"auto"} if motion == "reduce" else {"smooth"}), behaviours
    finally:
        ctx.close()


def focus_state(page) -> dict:
    return page.evaluate("""() => {
        const e = document.activeElement;
        const cs = getComputedStyle(e);
        const lum = (c) => { const m = c.match(/[\\d.]+/g).map(Number).slice(0, 3).map(v => v / 255)
            .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
            return 0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2]; };
        const bg = getComputedStyle(document.body).backgroundColor;
        const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
        const r = e.getBoundingClientRect();
        return {key: e.id ? '#' + e.id : e.tagName.toLowerCase() + (e.getAttribute('href') ? '[' + e.getAttribute('href') + ']' : ''),
                tag: e.tagName.toLowerCase(), visible: e.matches(':focus-visible'),
                outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2,
                outlineContrast: cs.outlineStyle !== 'none' ? ratio(cs.outlineColor, bg) : 0,
                shadow: cs.boxShadow !== 'none', w: r.width, h: r.height,
                onscreen: r.bottom > 0 && r.top < innerHeight};
    }""")


def expected_order(page) -> list[str]:
    return page.evaluate("""(sel) => [...document.querySelectorAll(sel)]
        .filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden' && !e.closest('[hidden]')
                     && (e.matches('summary') || !e.closest('details:not([open])')))
        .map(e => e.id ? '#' + e.id : e.tagName.toLowerCase() + (e.getAttribute('href') ? '[' + e.getAttribute('href') + ']' : ''))""",
                         FOCUSABLE)


def test_arrow_keys_move_between_sentences_and_enter_plays(browser, server, book):
    part = book.narrated_parts[0]
    ids = [f["id"] for f in timed(part.id)]   # the sentences in the narration (the arrow keys skip the others)
    ctx, page = new_page(browser, width=1280, height=900)
    try:
        page.goto(server + f"stories/{part.id}.html", wait_until="load")
        page.focus(f"#{ids[0]}")
        for key, want in (("ArrowDown", 1), ("ArrowDown", 2), ("ArrowUp", 1), ("End", len(ids) - 1),
                          ("Home", 0), ("ArrowRight", 1)):
            page.keyboard.press(key)
            assert page.evaluate("document.activeElement.id") == ids[want], key
            assert page.locator('.s[tabindex="0"]').count() == 1
            assert page.get_attribute(f"#{ids[want]}", "tabindex") == "0"
        page.wait_for_function("() => document.getElementById('narration').readyState >= 1", timeout=20000)
        page.keyboard.press("Enter")
        begin = float(page.get_attribute(f"#{ids[1]}", "data-begin"))
        # playback starts at once, so look at the position just after the seek, not at a single instant
        page.wait_for_function("(b) => { const a = document.getElementById('narration');"
                               " return !a.seeking && a.currentTime >= b - 0.05 && a.currentTime < b + 2; }",
                               arg=begin, timeout=20000)
        assert page.evaluate("document.querySelector('.s.current').id") == ids[1]
    finally:
        ctx.close()


@pytest.mark.parametrize("which", ["index", "story"])
def test_keyboard_order_and_visible_focus(browser, server, book, which):
    part = book.narrated_parts[len(book.narrated_parts) // 2]
    url = server + ("index.html" if which == "index" else f"stories/{part.id}.html")
    ctx, page = new_page(browser, width=1280, height=900)
    try:
        page.goto(url, wait_until="load")
        want = expected_order(page)
        got: list[str] = []
        for _ in range(len(want) * 3 + 20):
            page.keyboard.press("Tab")
            s = focus_state(page)
            if s["tag"] == "body":
                break
            if got and got[-1] == s["key"]:
                continue   # inside the audio player's own controls
            got.append(s["key"])
            assert s["visible"] and (s["outline"] or s["shadow"]), f"no visible focus on {s}"
            assert s["outline"] and s["outlineContrast"] >= 3, f"focus outline contrast too low on {s}"
            assert s["onscreen"], f"focused element scrolled out of view: {s}"
            if s["tag"] != "span":
                assert s["w"] >= 24 and s["h"] >= 24, f"target smaller than 24x24: {s}"
            if len(got) == len(want):
                break
        assert got == want, f"tab order\n got {got}\nwant {want}"
        assert got[0] == "a[#main]", "the skip link comes first"
        if which == "story":
            assert "#player-play" in got and "#readalong" in got and "#narration" not in got   # the bar replaces the player
            # the text is one tab stop (a roving tabindex): the first sentence after the player
            sentence_stops = [k for k in got if k.startswith(f"#{part.id}-s")]
            assert len(sentence_stops) == 1 and sentence_stops[0] != f"#{part.sentences()[0].id}", sentence_stops
            assert got.index("#player-play") < got.index("#readalong") < got.index(sentence_stops[0])
            nav = page.evaluate("[...document.querySelectorAll('.part-nav a')].map(a => 'a[' + a.getAttribute('href') + ']')")
            assert len(nav) >= 2 and got[-len(nav):] == nav, "previous / contents / next come after the text"
        # the skip link moves the reading position to the main text
        page.goto(url, wait_until="load")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        after = focus_state(page)["key"]
        first_in_main = page.evaluate("""(sel) => { const e = [...document.querySelector('main').querySelectorAll(sel)]
                .find(e => e.getClientRects().length && !e.closest('[hidden], audio'));
            return e.id ? '#' + e.id : e.tagName.toLowerCase() + '[' + e.getAttribute('href') + ']'; }""", FOCUSABLE)
        assert after == first_in_main, (after, first_in_main)
    finally:
        ctx.close()


def test_print_stylesheet(browser, server, book):
    ctx, page = new_page(browser)
    try:
        page.goto(server + f"stories/{book.narrated_parts[0].id}.html", wait_until="load")
        page.emulate_media(media="print", color_scheme="dark")
        p = page.evaluate("""() => { const cs = getComputedStyle(document.querySelector('main section p'));
            return {size: parseFloat(cs.fontSize), color: cs.color, bg: getComputedStyle(document.body).backgroundColor,
                    listen: getComputedStyle(document.querySelector('.listen')).display,
                    nav: getComputedStyle(document.querySelector('.part-nav')).display}; }""")
        assert p["size"] == pytest.approx(24.0, abs=0.1)   # 18 pt, the large-print size on paper
        assert p["color"] == "rgb(0, 0, 0)" and p["bg"] == "rgb(255, 255, 255)", p
        assert p["listen"] == "none" and p["nav"] == "none", p
        pdf = page.pdf(format="A4")
        assert pdf.startswith(b"%PDF") and len(pdf) > 10000
    finally:
        ctx.close()


def test_without_scripting_everything_reads_and_plays(browser, server, book):
    part = book.narrated_parts[0]
    ctx, page = new_page(browser, java_script_enabled=False)
    try:
        page.goto(server + f"stories/{part.id}.html", wait_until="load")
        assert not page.locator("#readalong-controls").is_visible()
        assert page.locator(".s[tabindex]").count() == 0
        assert page.locator("audio#narration[controls]").is_visible()
        assert page.locator("audio#narration track[kind=captions]").get_attribute("src") == f"../transcripts/{part.id}.vtt"
        body = page.inner_text("main")
        for s in part.sentences()[:5] + part.sentences()[-3:]:
            assert s.text in body
        assert float(page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")) >= 24
    finally:
        ctx.close()


def test_file_url_page_works(browser, site, book):
    part = book.narrated_parts[-1]
    duration = read_syncmap(SYNC / f"{part.id}.json").duration
    ctx, page = new_page(browser)
    try:
        watch = Watch(page)
        page.goto((site / "stories" / f"{part.id}.html").as_uri(), wait_until="load")
        assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 24, "stylesheet not applied"
        assert page.locator("#readalong-controls").is_visible(), "read-along script did not run from file://"
        page.wait_for_function("() => document.getElementById('narration').readyState >= 1", timeout=10000)
        assert page.evaluate("document.getElementById('narration').duration") == pytest.approx(duration, abs=0.5)
        # links from file:// name files, and they open
        page.click("a[rel=next]" if part is not book.parts[-1] else ".site-name a")
        page.wait_for_load_state("load")
        assert page.url.startswith("file://") and page.url.endswith(".html")
        assert page.locator("h1").count() == 1
        csp = [p for p in watch.problems if "Content Security Policy" in p]
        assert csp == [], csp
    finally:
        ctx.close()


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.strip().lstrip("#")
    assert len(h) == 6, f"not a #rrggbb colour: {hex_colour!r}"
    return tuple(int(h[k:k + 2], 16) for k in (0, 2, 4))


def _share(pixels, colour: tuple[int, int, int], tolerance: int = 6) -> float:
    """The share of the picture's pixels within ``tolerance`` (per channel) of ``colour``."""
    import numpy as np

    return float((np.abs(pixels.astype(int) - colour).max(axis=2) <= tolerance).mean())


def _luminance(colour: tuple[int, int, int]) -> float:
    return (0.2126 * colour[0] + 0.7152 * colour[1] + 0.0722 * colour[2]) / 255


def test_screenshots(browser, server, book):
    """Screenshots for review (build/screenshots/), and what they show: the picture is the viewport's size
    (the whole page's height for the index), not blank, mostly the large-print page colour of its scheme,
    with text in the large-print text colour, and the sentence being read in the highlight colour."""
    import numpy as np
    from PIL import Image

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    part = book.part("switchback") if any(p.id == "switchback" for p in book.parts) else book.narrated_parts[0]
    frags = timed(part.id)
    shots = []   # (file, scheme, (width, height), whole page?, the page's colours, highlight in view?)
    colours = """(() => { const s = getComputedStyle(document.documentElement);
        return ['--bg', '--fg', '--mark-bg'].map((v) => s.getPropertyValue(v)); })()"""
    for scheme in ("light", "dark"):
        for width, height in ((1280, 900), (320, 640)):
            ctx, page = new_page(browser, width=width, height=height, color_scheme=scheme)
            try:
                page.goto(server + "index.html", wait_until="load")
                out = SCREENSHOTS / f"index-{scheme}-{width}.png"
                page.screenshot(path=str(out), full_page=True)
                shots.append((out, scheme, (width, height), True, page.evaluate(colours), False))
                page.goto(server + f"stories/{part.id}.html", wait_until="load")
                highlight_at(page, frags[2]["begin"] + 0.1)
                # the listening bar at the top, the first paragraph (being read) below it
                page.evaluate("document.querySelector('.listen').scrollIntoView({block: 'start'})")
                box = page.locator(".s.current").bounding_box()
                out = SCREENSHOTS / f"{part.id}-{scheme}-{width}.png"
                page.screenshot(path=str(out), full_page=False)
                shots.append((out, scheme, (width, height), False, page.evaluate(colours),
                              box is not None and box["y"] + box["height"] <= height))
            finally:
                ctx.close()
    assert any(visible for *_, visible in shots), "the highlighted sentence is in no screenshot"
    for out, scheme, (width, height), whole, (bg, fg, mark), highlighted in shots:
        img = Image.open(out)
        assert img.format == "PNG", out
        pixels = np.asarray(img.convert("RGB"))
        if whole:
            assert img.width == width and img.height >= height, (out, img.size)
        else:
            assert img.size == (width, height), (out, img.size)
        bg, fg, mark = _rgb(bg), _rgb(fg), _rgb(mark)
        assert (_luminance(bg) > 0.9) == (scheme == "light") and (_luminance(bg) < 0.1) == (scheme == "dark"), \
            (out, bg)
        packed = pixels.reshape(-1, 3).astype(np.int32) @ [65536, 256, 1]
        assert len(np.unique(packed)) > 50, f"{out}: blank or nearly uniform"
        assert _share(pixels, bg) > 0.6, (out, bg, _share(pixels, bg))           # the page's own colour
        assert _share(pixels, fg, 24) > 0.005, (out, fg, _share(pixels, fg, 24))  # its text
        if highlighted:
            assert _share(pixels, mark) > 0.01, (out, mark, _share(pixels, mark))
