"""Every edition tells the truth about a narrator's deviations.

A small book whose sync map has what a human narrator does: unscripted speech before the first sentence
(at the head of the first fragment) and between two sentences, a sentence and a heading not read at all,
a false start (retake) and a misread phrase. Checked: the audible clips and the WebVTT transcript built
from them; the EPUB's overlay (a text-only par for each sentence not read, no clip over the unscripted
speech or the false start, media:duration the sum of the clips) through our overlay checks, EPUBCheck and
DAISY Ace; and the web edition in Debian's Chromium (the sentence not read has no times, cannot be played
from and is never highlighted; nothing is highlighted while the narration plays speech that is not the
text; axe-core finds nothing in either colour scheme).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from lxml import etree
from test_epub import MISSING_VALIDATORS, metas, tamper
from test_largeprint import AXE, Page, Watch, chromium_browser, new_page, run_axe, serving

from pipeline.checks.epub import check_epub, check_overlays, parse_clock
from pipeline.cli import main
from pipeline.model.contracts import Chapter, Deviation, Fragment, SyncMap, audible_clips, read_syncmap, write_syncmap
from pipeline.model.sources import load_book
from pipeline.stages.epub import SMIL_NS, clock, mp3_duration
from pipeline.stages.largeprint import build_site
from pipeline.stages.syncmap import to_json_chapters, to_webvtt

BOOK_TOML = """\
id = "takes"
title = "A Book of Takes"
authors = ["A. Writer"]
publisher = "Test Press"
language = "en-GB"
published = 2024-03-01
modified = 2024-03-11T09:00:00Z
description = "A small book read with deviations."
narrator = "A Narrator"
rights = "© Test"

[podcast]
base_url = "https://example.org/"
owner = "Owner"
email = "owner@example.org"
"""

PART = """\
---
id: tale
title: A Tale of Takes
subtitle: Read with deviations
order: 1
published: 2024-03-02
---

The first sentence comes after some chatter. The second sentence is read cleanly.

The third sentence is never read. The fourth sentence is followed by unscripted speech.

## A second section

The fifth sentence is read once. The last sentence ends the tale.
"""

# The timeline (seconds). Fragments stay contiguous and cover the audio; a sentence not read has no
# length, at the place it would have been; unscripted speech and a false start lie inside the span of
# the fragment before them (before the first sentence: at the head of the first fragment).
DURATION = 36.0
FRAGMENTS = [  # id suffix, begin, end
    ("s0001", 0.0, 5.0),     # the title, after 3 s of chatter
    ("s0002", 5.0, 7.5),
    ("s0003", 7.5, 11.0),
    ("s0004", 11.0, 14.0),
    ("s0005", 14.0, 14.0),   # not read
    ("s0006", 14.0, 24.0),   # read 14-18, then unscripted speech 18-23.5
    ("s0007", 24.0, 24.0),   # the heading of the second section: not read
    ("s0008", 24.0, 31.0),   # read 24-28, then a false start of the next sentence 28-29.5
    ("s0009", 31.0, 36.0),   # one phrase misread (its clip is whole)
]
DEVIATIONS = [
    {"kind": "extra", "begin": 0.0, "end": 3.0, "fragment": "tale-s0001", "confidence": 0.8},
    {"kind": "skip", "begin": 14.0, "end": 14.0, "fragment": "tale-s0005", "confidence": 0.95},
    {"kind": "extra", "begin": 18.0, "end": 23.5, "fragment": "tale-s0007", "confidence": 0.9},
    {"kind": "skip", "begin": 24.0, "end": 24.0, "fragment": "tale-s0007", "confidence": 0.9},
    {"kind": "retake", "begin": 28.0, "end": 29.5, "fragment": "tale-s0009", "confidence": 0.7},
    {"kind": "misread", "begin": 32.0, "end": 33.0, "fragment": "tale-s0009", "confidence": 0.6},
]
SKIPPED = ("tale-s0005", "tale-s0007")
CLIPS = {"tale-s0001": (3.0, 5.0), "tale-s0002": (5.0, 7.5), "tale-s0003": (7.5, 11.0),
         "tale-s0004": (11.0, 14.0), "tale-s0005": None, "tale-s0006": (14.0, 18.0), "tale-s0007": None,
         "tale-s0008": (24.0, 28.0), "tale-s0009": (31.0, 36.0)}
NOT_TEXT = [(0.0, 3.0), (18.0, 23.5), (28.0, 29.5)]   # speech that is not the text: in no clip


def the_sync_map(texts: Path) -> SyncMap:
    part = load_book(texts).part("tale")
    text = {s.id: s.text for s in part.sentences()}
    frags = tuple(Fragment(id=f"tale-{k}", text=text[f"tale-{k}"], begin=b, end=e, confidence=0.9)
                  for k, b, e in FRAGMENTS)
    devs = tuple(Deviation(**dict(d, text=text[d["fragment"]])) for d in DEVIATIONS)
    chapters = (Chapter(id="tale-c01", title="A Tale of Takes", begin=0.0, end=24.0),
                Chapter(id="tale-c02", title="A second section", begin=24.0, end=DURATION))
    return SyncMap(part="tale", audio="tale.flac", duration=DURATION, fragments=frags, chapters=chapters,
                   deviations=devs)


@pytest.fixture(scope="module")
def book_dir(tmp_path_factory) -> Path:
    """texts/, sync/tale.json, audio/tale.mp3 (a tone as long as the timeline), cover.png."""
    if not shutil.which("ffmpeg"):
        pytest.skip("needs ffmpeg")
    root = tmp_path_factory.mktemp("takes")
    texts = root / "texts"
    texts.mkdir()
    (texts / "book.toml").write_text(BOOK_TOML, encoding="utf-8")
    (texts / "01-tale.md").write_text(PART, encoding="utf-8")
    write_syncmap(root / "sync" / "tale.json", the_sync_map(texts))
    (root / "audio").mkdir()
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=330:duration={DURATION}",
                    "-ac", "1", "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "64k", str(root / "audio" / "tale.mp3")],
                   check=True)
    assert main(["cover", str(texts), "-o", str(root / "cover.png")]) == 0
    return root


# ============================================================================ the timeline


def test_audible_clips_leave_out_what_is_not_the_text(book_dir):
    sync = read_syncmap(book_dir / "sync" / "tale.json")
    assert sync.deviations and {d.kind for d in sync.deviations} == {"skip", "extra", "retake", "misread"}
    clips = dict(zip((f.id for f in sync.fragments), audible_clips(sync)))
    assert clips == CLIPS
    for a, b in NOT_TEXT:                     # no clip covers speech that is not the text
        assert not [i for i, c in clips.items() if c and c[0] < b and a < c[1]], (a, b)
    timed = [c for c in clips.values() if c]
    assert all(x[1] <= y[0] for x, y in zip(timed, timed[1:])), "clips in order, never overlapping"
    # the chapters stay on fragment begins: the second starts where its unread heading would have been
    chapters = json.loads(to_json_chapters(sync))["chapters"]
    assert [c["startTime"] for c in chapters] == [0.0, 24.0]


def test_webvtt_has_no_cue_for_a_sentence_not_read_and_none_over_unscripted_speech(book_dir):
    sync = read_syncmap(book_dir / "sync" / "tale.json")
    vtt = to_webvtt(sync, "A Tale of Takes")
    cues = re.findall(r"^(tale-s\d{4})\n(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n(.+)$", vtt, re.M)
    assert [c[0] for c in cues] == [i for i, c in CLIPS.items() if c]
    seconds = lambda ts: parse_clock(ts)   # noqa: E731  (HH:MM:SS.mmm)
    for cid, b, e, _text in cues:
        assert (seconds(b), seconds(e)) == pytest.approx(CLIPS[cid], abs=5e-4), cid
    for sid in SKIPPED:
        assert sid not in vtt
    assert "The third sentence is never read." not in vtt and "A second section" not in vtt


def test_a_head_extra_after_the_leading_silence_is_not_the_first_clip():
    """What the aligner writes for chatter before the first sentence: the first fragment starts at 0 (the
    head of the master, about 0.5 s of silence) and the chatter where the speech starts; the deviation
    names the fragment it precedes (the first). Speech held before the next fragment would name that one."""
    frags = (Fragment(id="x-s0001", text="One.", begin=0.0, end=6.0),
             Fragment(id="x-s0002", text="Two.", begin=6.0, end=9.0))
    sync = SyncMap(part="x", audio="x.flac", duration=9.0, fragments=frags,
                   deviations=(Deviation(kind="extra", begin=0.5, end=3.0, fragment="x-s0001", text="One.",
                                         confidence=0.8),))
    assert audible_clips(sync) == [(3.0, 6.0), (6.0, 9.0)]
    # speech after the last sentence names the last fragment and follows its speech
    tail = SyncMap(part="x", audio="x.flac", duration=9.0, fragments=frags,
                   deviations=(Deviation(kind="extra", begin=7.5, end=8.5, fragment="x-s0002", text="Two.",
                                         confidence=0.8),))
    assert audible_clips(tail) == [(0.0, 6.0), (6.0, 7.5)]


# ============================================================================ the EPUB


@pytest.fixture(scope="module")
def epub(book_dir) -> Path:
    out = book_dir / "takes.epub"
    assert main(["epub", str(book_dir / "texts"), "--sync", str(book_dir / "sync"), "--audio",
                 str(book_dir / "audio"), "--cover", str(book_dir / "cover.png"), "-o", str(out)]) == 0
    return out


def _pars(epub: Path) -> dict[str, etree._Element]:
    with zipfile.ZipFile(epub) as z:
        smil = etree.fromstring(z.read("EPUB/smil/tale.smil"))
    return {p.find(f"{{{SMIL_NS}}}text").get("src").rsplit("#", 1)[1]: p for p in smil.iter(f"{{{SMIL_NS}}}par")}


def test_epub_overlay_plays_only_what_is_the_text(epub):
    pars = _pars(epub)
    assert list(pars) == list(CLIPS), "every sentence has a par, in reading order, the unread ones too"
    for sid, clip in CLIPS.items():
        audio = pars[sid].findall(f"{{{SMIL_NS}}}audio")
        if clip is None:
            assert audio == [], f"{sid} was not read: its par has its text only"
            assert [c.tag for c in pars[sid]] == [f"{{{SMIL_NS}}}text"]
            continue
        assert len(audio) == 1 and audio[0].get("src") == "../audio/tale.mp3"
        got = (parse_clock(audio[0].get("clipBegin")), parse_clock(audio[0].get("clipEnd")))
        assert got == pytest.approx(clip, abs=5e-4), sid
        for a, b in NOT_TEXT:
            assert not (got[0] < b and a < got[1]), f"the clip of {sid} {got} plays speech that is not the text"
    # the skipped heading's par opens the second section's seq
    with zipfile.ZipFile(epub) as z:
        smil = etree.fromstring(z.read("EPUB/smil/tale.smil"))
        opf = etree.fromstring(z.read("EPUB/content.opf"))
    seq = smil.find(f".//{{{SMIL_NS}}}seq[@id='seq-tale-c02']")
    assert seq[0].get("id") == "par-tale-s0007" and seq[0].find(f"{{{SMIL_NS}}}audio") is None
    # media:duration: what a reading system plays, the sum of the clips (not the span of the timeline)
    played = sum(e - b for c in CLIPS.values() if c for b, e in [c])
    assert parse_clock(metas(opf, "media:duration", "#smil-tale")[0]) == pytest.approx(played, abs=0.002)
    assert parse_clock(metas(opf, "media:duration")[0]) == pytest.approx(played, abs=0.002)
    assert played < DURATION - 10
    # the accessibility summary says so; audio alone is not sufficient
    summary = metas(opf, "schema:accessibilitySummary")[0]
    assert "2 sentences are not in the narration" in summary
    assert "auditory" not in metas(opf, "schema:accessModeSufficient")


def test_our_overlay_checks_accept_text_only_pars_and_gaps(epub):
    assert check_overlays(epub) == []


def test_our_overlay_checks_still_catch_real_faults(epub, tmp_path):
    # a par with no text at all
    bad = tamper(epub, tmp_path / "notext.epub", "EPUB/smil/tale.smil",
                 lambda s: re.sub(r'<text src="[^"]*#tale-s0004"/>', "", s))
    problems = [str(f) for f in check_overlays(bad)]
    assert any("par par-tale-s0004 lacks a text element" in p for p in problems), problems
    assert any("not in the overlay (first tale-s0004)" in p for p in problems), problems
    # two audio elements in one par
    bad = tamper(epub, tmp_path / "two.epub", "EPUB/smil/tale.smil",
                 lambda s: re.sub(r'(<par id="par-tale-s0003">.*?)(<audio [^>]*/>)', r"\1\2\2", s, flags=re.S))
    assert any("par-tale-s0003 has 1 text and 2 audio" in p for p in map(str, check_overlays(bad)))
    # a clip that reaches back over the gap into the clip before (overlap) is still caught
    bad = tamper(epub, tmp_path / "overlap.epub", "EPUB/smil/tale.smil",
                 lambda s: s.replace('clipBegin="24.000s"', 'clipBegin="17.000s"'))
    assert any("out of order or overlapping" in p for p in map(str, check_overlays(bad)))
    # a text-only par pointing nowhere
    bad = tamper(epub, tmp_path / "dangling.epub", "EPUB/smil/tale.smil",
                 lambda s: s.replace('#tale-s0005"', '#tale-s9999"'))
    problems = [str(f) for f in check_overlays(bad)]
    assert any("#tale-s9999 resolves to no element id" in p for p in problems), problems
    # an overlay that plays nothing
    bad = tamper(epub, tmp_path / "silent.epub", "EPUB/smil/tale.smil", lambda s: re.sub(r"\s*<audio [^>]*/>", "", s))
    assert any("no par has audio" in p for p in map(str, check_overlays(bad)))
    # media:duration declared as the timeline's span instead of the clips' sum
    with zipfile.ZipFile(epub) as z:
        declared = metas(etree.fromstring(z.read("EPUB/content.opf")), "media:duration", "#smil-tale")[0]
    bad = tamper(epub, tmp_path / "dur.epub", "EPUB/content.opf",
                 lambda s: s.replace(f'refines="#smil-tale">{declared}<', f'refines="#smil-tale">{clock(DURATION)}<'))
    assert any("smil/tale.smil: media:duration" in p and "clips add up to" in p for p in map(str, check_overlays(bad)))


@pytest.mark.skipif(bool(MISSING_VALIDATORS), reason=MISSING_VALIDATORS or "validators present")
def test_epubcheck_and_ace_find_nothing(epub):
    result = check_epub(epub)
    counts = result.epubcheck_json["checker"]
    assert (counts["nFatal"], counts["nError"], counts["nWarning"]) == (0, 0, 0), result.epubcheck
    assert result.epubcheck == [] and result.epubcheck_json["publication"]["hasAudio"] is True
    assert result.ace == [] and result.ace_json["earl:result"]["earl:outcome"] == "pass", result.ace
    assert result.overlays == []


def test_epub_audio_covers_the_timeline(book_dir):
    assert mp3_duration(book_dir / "audio" / "tale.mp3") >= DURATION - 0.25


# ============================================================================ the web edition


@pytest.fixture(scope="module")
def site(book_dir) -> Path:
    root = book_dir / "site"
    build_site(book_dir / "texts", book_dir / "sync", root, root / "index.html")
    (root / "audio").mkdir()
    shutil.copy2(book_dir / "audio" / "tale.mp3", root / "audio" / "tale.mp3")
    (root / "transcripts").mkdir()
    (root / "transcripts" / "tale.vtt").write_text(to_webvtt(read_syncmap(book_dir / "sync" / "tale.json")),
                                                   encoding="utf-8")
    (root / "_test").mkdir()
    if AXE.exists():
        shutil.copy2(AXE, root / "_test" / "axe.min.js")
    return root


def test_page_times_are_the_audible_clips(site):
    text = (site / "stories" / "tale.html").read_text(encoding="utf-8")
    page = Page(text)
    spans = {s["id"]: s for s in page.spans}
    assert list(spans) == list(CLIPS)
    for sid, clip in CLIPS.items():
        s = spans[sid]
        if clip is None:
            assert "data-begin" not in s and "data-end" not in s and "tabindex" not in s, s
            assert s["class"].split() == ["s", "unread"]
        else:
            assert (float(s["data-begin"]), float(s["data-end"])) == pytest.approx(clip, abs=5e-4), sid
            assert s["class"] == "s"
    # the note follows the sentence, as text (no inline style or script: the CSP stays strict)
    assert re.search(r'id="tale-s0005" class="s unread">The third sentence is never read\.</span>'
                     r'<span class="unread-note"> \(not in the narration\)</span>', text)
    assert page.inline_scripts == 0 and page.style_attrs == 0 and page.style_elements == 0
    assert "unsafe-inline" not in page.csp


@pytest.fixture(scope="module")
def server(site):
    with serving(site) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as b:
        yield b


RECORDER = """
window.__highlighted = new Set();
window.__samples = [];
window.__seeks = [];
document.addEventListener('DOMContentLoaded', () => {
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.target.classList && r.target.classList.contains('current')) window.__highlighted.add(r.target.id);
    }
  }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ['class']});
  const a = document.getElementById('narration');
  a.addEventListener('seeking', () => window.__seeks.push(a.currentTime));
  const sample = () => {
    if (!a.paused && !a.seeking) {
      const c = document.querySelectorAll('.s.current');
      window.__samples.push([a.currentTime, [...c].map(e => e.id)]);
    }
    requestAnimationFrame(sample);
  };
  requestAnimationFrame(sample);
});
"""


def _clip_at(t: float) -> str | None:
    for sid, c in CLIPS.items():
        if c and c[0] <= t < c[1]:
            return sid
    return None


def test_readalong_never_highlights_what_is_not_read(browser, server):
    ctx, page = new_page(browser, width=1280, height=900)
    try:
        watch = Watch(page)
        page.add_init_script(RECORDER)
        page.goto(server + "stories/tale.html", wait_until="load")
        assert page.locator("#readalong").is_checked()
        page.wait_for_function("() => document.getElementById('narration').readyState >= 1", timeout=20000)
        # the sentences not read take no part: no times, no tab stop, no pointer, a visible note
        for sid in SKIPPED:
            el = page.locator(f"#{sid}")
            assert el.get_attribute("data-begin") is None and el.get_attribute("tabindex") is None
            assert page.evaluate("(id) => getComputedStyle(document.getElementById(id)).cursor", sid) != "pointer"
            assert page.evaluate("(id) => document.getElementById(id).nextElementSibling.textContent", sid) \
                == " (not in the narration)"
            assert page.locator(f"#{sid} + .unread-note").is_visible()
        assert page.locator(".s[tabindex]").count() == sum(1 for c in CLIPS.values() if c)
        # clicking a sentence not read does nothing: no seek, no playback, no highlight
        page.locator("#tale-s0005").click()
        page.wait_for_timeout(400)
        state = page.evaluate("""() => ({seeks: window.__seeks.length, paused: document.getElementById('narration').paused,
                                        current: document.querySelectorAll('.s.current').length})""")
        assert state == {"seeks": 0, "paused": True, "current": 0}, state
        # a click on the sentence after it plays from that sentence's clip
        page.locator("#tale-s0006").click()
        page.wait_for_function("() => window.__seeks.length >= 1", timeout=3000)
        assert page.evaluate("window.__seeks")[0] == pytest.approx(CLIPS["tale-s0006"][0], abs=0.01)
        assert page.evaluate("document.querySelector('.s.current').id") == "tale-s0006"
        # the arrow keys go from the sentence before to the sentence after the one not read
        page.focus("#tale-s0004")
        page.keyboard.press("ArrowDown")
        assert page.evaluate("document.activeElement.id") == "tale-s0006"
        # while the narration plays the unscripted speech, nothing is highlighted
        page.evaluate("() => { const a = document.getElementById('narration'); a.muted = true; a.currentTime = 19.0; }")
        page.wait_for_function("() => { const a = document.getElementById('narration');"
                               " return !a.paused && !a.seeking && a.currentTime > 19.3; }", timeout=10000)
        state = page.evaluate("""() => ({t: document.getElementById('narration').currentTime,
                                        paused: document.getElementById('narration').paused,
                                        current: [...document.querySelectorAll('.s.current, [aria-current]')].map(e => e.id)})""")
        assert 18.0 < state["t"] < 23.5 and not state["paused"] and state["current"] == [], state
        # the whole narration from the start, four times as fast: every sample is checked
        page.evaluate("""() => { const a = document.getElementById('narration'); window.__samples = [];
                                 window.__highlighted.clear(); a.playbackRate = 4; a.currentTime = 0; }""")
        page.wait_for_function("() => document.getElementById('narration').ended", timeout=30000)
        samples = page.evaluate("window.__samples")
        highlighted = set(page.evaluate("[...window.__highlighted]"))
        assert len(samples) > 60, len(samples)
        assert highlighted == {sid for sid, c in CLIPS.items() if c}, highlighted
        assert not highlighted & set(SKIPPED)
        # The read-along sets the highlight from the time it read in its own animation frame, which on a
        # loaded machine can be the frame before this sample's: so a sample is held to what is true over
        # the whole stretch since the sample before (plus a frame or two at 4x), not at its instant.
        margin = 0.15
        prev = None
        for t, current in samples:
            assert len(current) <= 1, (t, current)
            lo = (prev if prev is not None and prev <= t else t) - margin
            hi = t + margin
            prev = t
            if any(a < lo and hi < b for a, b in NOT_TEXT):
                assert current == [], f"{current} highlighted at {t:.2f} s, during speech that is not the text"
            want = _clip_at(t)
            if want and _clip_at(lo) == want == _clip_at(hi):
                assert current == [want], (t, current)
        for a, b in NOT_TEXT[1:]:
            assert any(a + margin < t < b - margin for t, _ in samples), f"no sample in {a}-{b}"
        assert page.locator(".s.current").count() == 0
        assert watch.problems == [], watch.problems
    finally:
        ctx.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_zero_violations_with_sentences_not_read(browser, server, scheme):
    ctx, page = new_page(browser, color_scheme=scheme)
    try:
        watch = Watch(page)
        for url, at in ((server + "stories/tale.html", 12.0), (server + "stories/tale.html", 20.0),
                        (server + "index.html", None)):
            page.goto(url, wait_until="load")
            if at is not None:
                page.evaluate("""(t) => new Promise((done) => {
                    const a = document.getElementById('narration');
                    const go = () => { a.addEventListener('seeked', () => done(), {once: true}); a.currentTime = t; };
                    if (a.readyState >= 1) go(); else a.addEventListener('loadedmetadata', go, {once: true});
                })""", at)
                assert page.locator(".s.current").count() == (1 if _clip_at(at) else 0), at
            r = run_axe(page)
            assert "color-contrast-enhanced" in r["ran"], r["ran"]
            assert r["violations"] == [], f"{scheme} {url} at {at}: {json.dumps(r['violations'], indent=1)}"
            assert not [i for i in r["incomplete"] if i["id"].startswith("color-contrast")], r["incomplete"]
            assert watch.problems == [], watch.problems
    finally:
        ctx.close()
