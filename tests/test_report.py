"""The release report: timeline pictures, the measured MP3s and the HTML page.

A tiny part (a few seconds of generated noise bursts, a hand-written sync map and master-stage JSON) is
built in tmp_path; the picture's pixels are sampled where the chapter lines and the weak alignment must
be, and the page is checked for its tables, alt text, weakest sentences and check results. One test runs
over the real build (one part) when ``build/sync`` exists.
"""
from __future__ import annotations

import html
import html.parser
import json
import math
import subprocess
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from pipeline import cli
from pipeline.checks.gate import check_web
from pipeline.model.contracts import (
    Analysis,
    AudioReport,
    Chapter,
    CheckResult,
    Finding,
    Fragment,
    KeptRetake,
    Proof,
    ProofDeviation,
    RenderPlan,
    SyncMap,
    read_syncmap,
    write_audio_report,
    write_check_results,
    write_syncmap,
)
from pipeline.model.problems import InputError
from pipeline.model.sources import AudioSettings, load_book
from pipeline.report import facts, report, timeline
from pipeline.report.facts import ReportInputs
from pipeline.stages.align import align
from pipeline.stages.audio import Loudness
from pipeline.system.ffmpeg import ffmpeg_exe

ROOT = Path(__file__).resolve().parents[1]
DURATION = 6.0


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *args], check=True)


def make_master(path: Path, seconds: float = DURATION, rate: int = 44100) -> Path:
    """A 220 Hz tone at amplitude 0.3 (about -10 dBFS), gated on and off twice a second like speech."""
    ffmpeg("-f", "lavfi", "-i", f"sine=f=220:d={seconds}:r={rate}",
           "-af", "volume=2.4,volume='if(lt(mod(t,0.5),0.35),1,0.02)':eval=frame",
           "-ac", "1", "-c:a", "flac", str(path))
    return path


FRAGMENTS = [
    ("tiny-s0001", 0.0, 1.0, 0.91, "Tiny"),
    ("tiny-s0002", 1.0, 2.0, 0.88, "A first sentence."),
    ("tiny-s0003", 2.0, 3.0, 0.75, "A second <sentence> & more."),
    ("tiny-s0004", 3.0, 4.0, 0.93, "Second chapter"),
    ("tiny-s0005", 4.0, 5.0, 0.31, "The sentence that went wrong."),
    ("tiny-s0006", 5.0, 6.0, 0.66, "The last sentence."),
]
CHAPTERS = [("tiny-c01", "Tiny", 0.0, 3.0), ("tiny-c02", "Second chapter", 3.0, 6.0)]


def make_sync(duration: float = DURATION) -> SyncMap:
    return SyncMap(part="tiny", audio="tiny.flac", duration=duration,
                   fragments=tuple(Fragment(id=i, begin=b, end=e, confidence=c, text=t) for i, b, e, c, t in FRAGMENTS),
                   chapters=tuple(Chapter(id=i, title=t, begin=b, end=e) for i, t, b, e in CHAPTERS))


def fake_book(parts=(("tiny", "Tiny"),)) -> SimpleNamespace:
    return SimpleNamespace(title="A Tiny Book", language="en-GB",
                           audio=AudioSettings(-16.0, -1.0, 0.5, 44100, 96, 128, 64),
                           narrated_parts=[SimpleNamespace(id=i, title=t) for i, t in parts])


@pytest.fixture()
def built(tmp_path: Path) -> tuple[Path, Path]:
    """site/audio/tiny.mp3, build/master/tiny.flac, build/sync/tiny.json, build/audio/tiny.json."""
    site, build = tmp_path / "site", tmp_path / "build"
    for d in (site / "audio", build / "master", build / "sync", build / "audio"):
        d.mkdir(parents=True)
    master = make_master(build / "master" / "tiny.flac")
    ffmpeg("-i", str(master), "-c:a", "libmp3lame", "-b:a", "96k", str(site / "audio" / "tiny.mp3"))
    write_syncmap(build / "sync" / "tiny.json", make_sync())
    write_audio_report(build / "audio" / "tiny.json", AudioReport(
        analysis=Analysis(source="recordings/tiny.wav", codec="pcm_s16le", sample_rate=44100, channels=1, duration=8.0,
                          integrated=-27.5, peak_db=-6.25, dead_channel=None, speech_start=1.7, speech_end=6.7),
        plan=RenderPlan(trim_start=1.2, trim_end=7.2, channels=1, gain_db=11.0, limiter=True, limit_db=-1.7),
        filter="anull", bitrate=96))
    return site, build


def pixel_x(t: float, duration: float = DURATION, width: int = 1600) -> int:
    return round(timeline.MARGIN + t / (duration / (width - 2 * timeline.MARGIN)))


def test_timeline_png_size_chapters_and_weak_alignment(tmp_path: Path) -> None:
    master = make_master(tmp_path / "tiny.flac")
    out = timeline.timeline_png(master, make_sync(), tmp_path / "t.png")
    img = Image.open(out).convert("RGB")
    assert img.size == (1600, 260)
    wave_top = timeline.LABEL_STRIP + 2
    y = wave_top + 30                      # above the waveform (amplitude 0.3), below the labels
    # the second chapter's thick line at 3.0 s, and not at 2.5 s
    x = pixel_x(3.0)
    assert [img.getpixel((x + dx, y)) for dx in (-1, 0, 1)] == [timeline.CHAPTER] * 3   # thick: 3 px
    assert img.getpixel((pixel_x(2.5), y)) == timeline.BACKGROUND
    # the first chapter's line at the very start
    assert img.getpixel((timeline.MARGIN, y)) == timeline.CHAPTER
    # a sentence boundary (thin grey) at 2.0 s
    assert img.getpixel((pixel_x(2.0), y)) == timeline.SENTENCE
    # the weak fragment (4–5 s, confidence 0.31) is shaded; the 0.66 one (5–6 s) is not
    assert img.getpixel((pixel_x(4.5), y)) == timeline.LOW_BAND
    assert img.getpixel((pixel_x(5.5), y)) == timeline.BACKGROUND
    # the waveform is drawn around the middle of the row, and its level follows the audio (0.3 -> ~30%)
    mid = (wave_top + 260 - timeline.AXIS_STRIP - 2) // 2
    assert img.getpixel((pixel_x(1.1), mid)) == timeline.WAVE
    half = (260 - timeline.AXIS_STRIP - 2 - wave_top) / 2
    column = [img.getpixel((pixel_x(1.1), yy)) == timeline.WAVE for yy in range(260)]
    extent = (max(i for i, v in enumerate(column) if v) - min(i for i, v in enumerate(column) if v)) / 2
    assert 0.2 * half < extent < 0.4 * half
    # chapter titles are drawn in the label strip (dark text pixels right of each chapter line)
    strip = img.crop((pixel_x(3.0) + 4, 0, pixel_x(3.0) + 120, timeline.LABEL_STRIP))
    assert strip.convert("L").getextrema()[0] < 80
    # deterministic bytes
    again = timeline.timeline_png(master, make_sync(), tmp_path / "t2.png")
    assert again.read_bytes() == out.read_bytes()


def test_timeline_from_the_aligners_envelope(tmp_path: Path) -> None:
    """The aligner leaves the master's envelope (min/max per 10 ms) from its own decode; the picture drawn
    from it matches the one drawn by decoding the master again, column by column."""
    master = make_master(tmp_path / "tiny.flac")
    txt = tmp_path / "tiny.txt"
    txt.write_text("\n".join(t for *_, t in FRAGMENTS) + "\n", encoding="utf-8")
    env = tmp_path / "waveform" / "tiny.npy"
    align(master, txt, waveform=env)
    data = np.load(env)
    assert data.dtype == np.int16 and data.shape[1] == 2 and abs(len(data) - DURATION * 100) <= 2
    a = Image.open(timeline.timeline_png(env, make_sync(), tmp_path / "from-envelope.png")).convert("RGB")
    b = Image.open(timeline.timeline_png(master, make_sync(), tmp_path / "from-master.png")).convert("RGB")
    assert a.size == b.size

    def extent(img, x):
        ys = [y for y in range(img.size[1]) if img.getpixel((x, y)) == timeline.WAVE]
        return (max(ys) - min(ys)) if ys else 0

    # inside the tone's bursts (on for 0.35 s of every 0.5 s) and inside its gaps, away from the edges
    for t in (0.7, 1.2, 2.7, 4.7, 5.2, 0.95, 2.45, 4.45):
        assert abs(extent(a, pixel_x(t)) - extent(b, pixel_x(t))) <= 4, t
    assert extent(a, pixel_x(1.2)) > 10 * max(1, extent(a, pixel_x(0.95)))


def test_timeline_long_part_has_one_row_per_five_minutes(tmp_path: Path) -> None:
    master = make_master(tmp_path / "long.flac", seconds=610.0, rate=8000)
    sync = SyncMap(part="long", audio="long.flac", duration=610.0,
                   fragments=(Fragment(id="long-s0001", begin=0.0, end=400.0, confidence=0.9, text="a"),
                              Fragment(id="long-s0002", begin=400.0, end=610.0, confidence=0.9, text="b")),
                   chapters=(Chapter(id="long-c01", title="One", begin=0.0, end=400.0),
                             Chapter(id="long-c02", title="Two", begin=400.0, end=610.0)))
    img = Image.open(timeline.timeline_png(master, sync, tmp_path / "long.png", width=1000, height=200))
    assert img.size == (1000, 3 * 200)
    # rows of 203.3 s: 400 s falls in the second row
    row_seconds = 610.0 / 3
    x = round(timeline.MARGIN + (400.0 - row_seconds) / (row_seconds / (1000 - 2 * timeline.MARGIN)))
    y = 200 + timeline.LABEL_STRIP + 10
    assert any(img.convert("RGB").getpixel((x + dx, y)) == timeline.CHAPTER for dx in (-1, 0, 1))


def test_timeline_unreadable_master_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(InputError) as e:
        timeline.timeline_png(bad, make_sync(), tmp_path / "bad.png")
    assert "bad.flac" in str(e.value) and "E-REPORT-002" in str(e.value)
    assert not (tmp_path / "bad.png").exists()


def test_measure_mp3(built) -> None:
    site, _ = built
    m = facts.measure_mp3(site / "audio" / "tiny.mp3")
    assert abs(m.duration - DURATION) < 0.1
    assert -30 < m.integrated < -5 and -20 < m.true_peak < 0


class _Page(html.parser.HTMLParser):
    """Collects the page's images (alt), table captions, header cells and whether every <th> has a scope."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs, self.captions, self.th_without_scope, self.lang = [], [], 0, None
        self._in_caption = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "img":
            self.imgs.append(a)
        if tag == "th" and a.get("scope") not in ("col", "row"):
            self.th_without_scope += 1
        if tag == "caption":
            self._in_caption = True
            self.captions.append("")

    def handle_endtag(self, tag):
        if tag == "caption":
            self._in_caption = False

    def handle_data(self, data):
        if self._in_caption:
            self.captions[-1] += data


def test_collect_and_write_report(built, tmp_path: Path) -> None:
    site, build = built
    book = fake_book()
    parts = facts.collect_parts(book, ReportInputs.under(build, site))
    png = build / "report" / "timelines" / "tiny.png"
    assert png.exists() and Image.open(png).size == (1600, 260)
    [p] = parts
    assert p.timeline == png
    assert p.before == facts.Before(integrated=-27.5, peak=-6.25)
    assert abs(p.duration - DURATION) < 0.1 and math.isfinite(p.after.true_peak)
    assert [c.title for c in p.chapters] == ["Tiny", "Second chapter"]
    assert [f.id for f in p.lowest] == ["tiny-s0005", "tiny-s0006", "tiny-s0003", "tiny-s0002", "tiny-s0001"]
    assert p.sentences == 6 and p.low == 1

    checks = [CheckResult("EPUBCheck", True, summary="0 errors, 0 warnings"),
              CheckResult("feed", False, (Finding("C-FEED-012", "item tiny", "enclosure length 0 <does not match>"),),
                          "1 problem")]
    table = report.write_report(build / "report", book, parts, checks)
    page = (build / "report" / "index.html").read_text(encoding="utf-8")
    parsed = _Page()
    parsed.feed(page)
    assert parsed.lang == "en-GB"
    assert "<h1>Release report: A Tiny Book</h1>" in page
    assert parsed.th_without_scope == 0
    assert "Validator results" in parsed.captions
    assert any(c.startswith("Duration, loudness and peak") for c in parsed.captions)
    assert "Chapters of Tiny" in parsed.captions
    assert "The 5 lowest alignment confidences in Tiny" in parsed.captions
    assert parsed.imgs == [{"src": "timelines/tiny.png",
                            "alt": "Timeline of Tiny: 2 chapters, 6 sentences, 1 below 0.5 confidence"}]
    assert "The sentence that went wrong." in page and "0.31" in page
    assert "A second &lt;sentence&gt; &amp; more." in page          # escaped
    assert "EPUBCheck" in page and "0 errors, 0 warnings" in page
    assert "FAIL" in page and "enclosure length 0 &lt;does not match&gt;" in page
    assert "1 of 2 checks failed" in page
    assert "−27.5" in page and "−6.2" in page                       # the before figures
    assert "<script" not in page and "http" not in page and "<link" not in page    # self-contained
    # the terminal table: one line per part, then the checks
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["part", "time", "LUFS"]
    assert lines[1].startswith("tiny") and "0.31 s0005" in lines[1] and "-27.5" in lines[1]
    assert "pass  EPUBCheck: 0 errors, 0 warnings" in table and "FAIL  feed: 1 problem" in table

    # no checks: the page and the table say so; writing again gives the same bytes
    report.write_report(build / "report", book, parts, [])
    first = (build / "report" / "index.html").read_bytes()
    assert b"Checks not run" in first
    assert report.write_report(build / "report", book, parts, []).endswith("checks: not run")
    assert (build / "report" / "index.html").read_bytes() == first


def test_collect_names_every_missing_file(built) -> None:
    site, build = built
    (build / "sync" / "tiny.json").unlink()
    book = fake_book((("tiny", "Tiny"), ("gone", "Gone")))
    with pytest.raises(InputError) as e:
        facts.collect_parts(book, ReportInputs.under(build, site))
    text = str(e.value)
    assert "sync/tiny.json" in text and "audio/gone.json" in text and "master/gone.flac" in text
    assert "audio/gone.mp3" in text and all(ln.startswith("E-REPORT-001") for ln in text.splitlines())


def test_report_stage(built, monkeypatch, capsys) -> None:

    site, build = built
    monkeypatch.setattr(report, "load_book", lambda *a, **k: fake_book())
    report.register(cli.register_stage)
    out = build / "rep" / "index.html"
    assert cli.main(["report", "texts", "--site", str(site), "--build", str(build), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "tiny" in printed and "checks: not run" in printed
    assert out.exists() and (build / "rep" / "timelines" / "tiny.png").exists()
    assert "Checks not run" in out.read_text(encoding="utf-8")
    # with the check stage's results
    results = build / "checks.json"
    write_check_results(results, [CheckResult("links", False, (Finding("C-LINK-001", "index.html",
                                                                         "audio/gone.mp3 not found"),),
                                              "1 broken link", 0.1)])
    assert cli.main(["report", "texts", "--site", str(site), "--build", str(build), "-o", str(out),
                     "--checks", str(results)]) == 0
    assert "FAIL  links: 1 broken link" in capsys.readouterr().out
    assert "audio/gone.mp3 not found" in out.read_text(encoding="utf-8")
    results.write_text("{not json")
    assert cli.main(["report", "texts", "--site", str(site), "--build", str(build), "-o", str(out),
                     "--checks", str(results)]) == 1
    assert "E-CHECK-001" in capsys.readouterr().err


REAL_SYNC = ROOT / "build" / "sync"


@pytest.mark.skipif(not REAL_SYNC.exists(), reason="needs the real build (make release)")
def test_real_build_one_part(tmp_path: Path) -> None:
    book = load_book(ROOT / "texts")
    # the published site, or the staged one the release builds beside it
    site = next((d for d in (ROOT / "output", ROOT / "build" / "site") if (d / "audio").is_dir()), ROOT / "output")
    part = next((p for p in book.narrated_parts if (REAL_SYNC / f"{p.id}.json").exists()
                 and (site / "audio" / f"{p.id}.mp3").exists() and (ROOT / "build" / "audio" / f"{p.id}.json").exists()
                 and (ROOT / "build" / "master" / f"{p.id}.flac").exists()), None)
    if part is None:
        pytest.skip("no part fully built")
    one = SimpleNamespace(title=book.title, language=book.language, audio=book.audio, narrated_parts=[part])
    parts = facts.collect_parts(one, ReportInputs.under(ROOT / "build", site, report_dir=tmp_path))
    [p] = parts
    sync = read_syncmap(REAL_SYNC / f"{part.id}.json")
    measured = json.loads((ROOT / "build" / "audio" / f"{part.id}.json").read_text())
    img = Image.open(tmp_path / "timelines" / f"{part.id}.png")
    assert img.size == (1600, 260 * timeline.timeline_rows(sync.duration))
    assert p.before.integrated == measured["analysis"]["integrated"]
    assert len(p.chapters) == len(sync.chapters) and p.sentences == len(sync.fragments)
    # the delivered MP3 meets the audio targets, and lasts as long as the timeline
    assert abs(p.after.integrated - book.audio.loudness) <= 0.5
    assert p.after.true_peak <= book.audio.true_peak
    assert abs(p.duration - sync.duration) < 0.2
    report.write_report(tmp_path, one, parts, [])
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    alt = (f"Timeline of {part.title}: {len(sync.chapters)} chapters, {len(sync.fragments)} sentences, "
           f"{p.low} below 0.5 confidence")
    assert html.escape(alt, quote=True) in page
    assert p.lowest[0].id in page


# ---------------------------------------------------------------------------- the page from typed facts


class _Tables(html.parser.HTMLParser):
    """Each table's caption and body rows (a row: its cells' text), the page's text, and its headings."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.headings: list[str] = []
        self.text: list[str] = []
        self._caption: str | None = None
        self._row: list[str] | None = None
        self._in: str | None = None
        self._head = False

    def handle_starttag(self, tag, attrs):
        if tag == "caption":
            self._in, self._caption = "caption", ""
        elif tag == "tr":
            self._row = [] if not self._head else None
        elif tag == "thead":
            self._head = True
        elif tag in ("td", "th") and self._row is not None:
            self._row.append("")
            self._in = "cell"
        elif tag in ("h1", "h2", "h3"):
            self.headings.append("")
            self._in = "heading"

    def handle_endtag(self, tag):
        if tag == "caption":
            self.tables[self._caption] = []
            self._in = None
        elif tag == "thead":
            self._head = False
        elif tag == "tr" and self._row is not None:
            self.tables[self._caption].append(self._row)
            self._row = None
        elif tag in ("td", "th", "h1", "h2", "h3"):
            self._in = None

    def handle_data(self, data):
        self.text.append(data)
        if self._in == "caption":
            self._caption += data
        elif self._in == "cell":
            self._row[-1] += data
        elif self._in == "heading":
            self.headings[-1] += data


TRICKY = "Tom & Jerry <live>"


def tricky_facts(tmp_path: Path) -> list[facts.PartFacts]:
    """Two parts: one with a title that needs escaping, measured, proofed with a deviation of each
    state; one not measured and not proofed."""
    def dev(kind, fragment, begin, end, text, confidence, accepted):
        return ProofDeviation(kind=kind, begin=begin, end=end, fragment=fragment, text=text, confidence=confidence,
                              recording_begin=begin + 1.2, recording_end=end + 1.2,
                              label=f"{kind} {fragment}: {text}", accepted=accepted)

    proof = Proof(
        part="tom", trim_start=1.2, recording="recordings/tom.wav", labels="build/proof/tom.txt",
        accept_file="recordings/tom.labels.txt",
        deviations=(dev("skip", "tom-s0004", 3.0, 3.0, "A sentence <never> read & lost.", 0.95, False),
                    dev("retake", "tom-s0002", 1.0, 1.4, "Again.", 0.7, True)))
    tom = facts.PartFacts(
        id="tom", title=TRICKY, duration=371.2, before=facts.Before(integrated=-27.5, peak=-6.25),
        after=Loudness(integrated=-16.04, true_peak=-1.31, duration=371.2),
        chapters=(facts.Chapter(TRICKY, 0.0), facts.Chapter("Cat & mouse", 125.3)),
        lowest=(facts.Weak("tom-s0005", "The sentence that went wrong.", 0.31, 200.0),),
        sentences=40, low=1,
        recording=facts.Recording(source="recordings/tom.wav", duration=380.0, trim_start=1.2, trim_end=372.4,
                                  gain_db=11.0, limiter=True),
        timeline=tmp_path / "report" / "timelines" / "tom.png", mp3=tmp_path / "site" / "audio" / "tom.mp3",
        deviations=2, proof=proof)
    loud = facts.PartFacts(id="loud", title="Too loud", duration=60.0,
                           after=Loudness(integrated=-12.0, true_peak=0.2, duration=60.0))
    return [tom, loud]


def test_page_shows_the_facts_escaped(tmp_path: Path) -> None:
    book = SimpleNamespace(title="Cats & <Dogs>", language="en-GB", audio=AudioSettings())
    parts = tricky_facts(tmp_path)
    checks = [CheckResult("links", False, (Finding("C-LINK-001", "", "a <b> & c"),), "1 broken")]
    table = report.write_report(tmp_path / "report", book, parts, checks)
    page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    t = _Tables()
    t.feed(page)
    # titles escaped in the markup, whole in the text
    assert "<live>" not in page and "Tom &amp; Jerry &lt;live&gt;" in page and "<Dogs>" not in page
    assert t.headings[:1] == ["Release report: Cats & <Dogs>"] and TRICKY in t.headings
    assert "Proof of Tom & Jerry <live>" in t.headings and "Proof of Too loud" in t.headings
    assert '<nav aria-label="Parts"><ul><li><a href="#tom">Tom &amp; Jerry &lt;live&gt;</a></li>' in page
    # the audio table: figures with real minus signs; the loud part outside the targets
    audio = next(rows for cap, rows in t.tables.items() if cap.startswith("Duration, loudness and peak"))
    assert audio == [[TRICKY, "6:11", "−27.5", "−6.2", "−16.0", "−1.3", "yes", "2", "1", "0.31"],
                     ["Too loud", "1:00", "–", "–", "−12.0", "0.2", "no", "0", "–", "–"]]
    assert "1 part outside the audio targets." in "".join(t.text)
    assert "1 of 1 checks failed." in "".join(t.text)
    assert t.tables["Validator results"] == [["links", "FAIL", "1 broken", "C-LINK-001 a <b> & c"]]
    # the part's facts, chapters and weakest sentence
    assert ("Duration 6:11.2; recording tom.wav 6:20.0, trimmed 1.20 s at the head and 7.60 s at the tail; "
            "gain +11.00 dB, limiter on.") in "".join(t.text)
    assert t.tables[f"Chapters of {TRICKY}"] == [["0:00.0", TRICKY], ["2:05.3", "Cat & mouse"]]
    assert t.tables[f"The 1 lowest alignment confidences in {TRICKY}"] == [
        ["tom-s0005", "3:20.0", "0.31", "The sentence that went wrong."]]
    # the deviation rows: the skip not accepted (with a player on its stretch), the retake accepted
    assert t.tables[f"Deviations from the text in {TRICKY} not accepted (times in the published MP3)"] == [
        ["tom-s0004", "skip", "0:03.0", "A sentence <never> read & lost.", "0.95", "Play 0:03.0"]]
    assert t.tables[f"Deviations from the text in {TRICKY} accepted"] == [
        ["tom-s0002", "retake (accepted)", "0:01.0–0:01.4", "Again."]]
    assert ('<audio controls preload="none" src="../site/audio/tom.mp3#t=2.00,4.00" '
            'aria-label="skip at 0:03.0, tom-s0004">') in page
    assert "1 deviation from the text not accepted (1 skip), 1 accepted." in "".join(t.text)
    assert "accept skip tom-s0004: A sentence &lt;never&gt; read &amp; lost." in page
    assert ('<img src="timelines/tom.png" alt="Timeline of Tom &amp; Jerry &lt;live&gt;: 2 chapters, '
            '40 sentences, 1 below 0.5 confidence, 2 deviations from the text">') in page
    assert "Not proofed" in page
    # the terminal
    lines = table.splitlines()
    assert lines[1].split() == ["tom", "6:11", "-27.5", "-6.2", "-16.0", "-1.3", "yes", "2", "1", "0.31", "s0005"]
    assert lines[2].split() == ["loud", "1:00", "-", "-", "-12.0", "0.2", "NO", "0", "-", "-"]
    assert "FAIL  links: 1 broken" in table and "proof: not run for loud" in table
    # the same inputs give the same bytes
    report.write_report(tmp_path / "report", book, parts, checks)
    assert (tmp_path / "report" / "index.html").read_text(encoding="utf-8") == page


def test_page_passes_axe_light_and_dark(tmp_path: Path) -> None:
    """The report's page meets WCAG 2.2 AA (axe-core, enhanced contrast, both colour schemes), checked by
    the release gate's own axe run, on the fixture with every section (cuts, proof, failed checks)."""
    book = SimpleNamespace(title="Cats & <Dogs>", language="en-GB", audio=AudioSettings())
    tom, loud = tricky_facts(tmp_path)
    make_master(tmp_path / "tom.flac")
    sync = make_sync()
    timeline.timeline_png(tmp_path / "tom.flac", sync, tom.timeline)
    cuts = facts.Cuts(cuts=(facts.Cut(at=5.4, duration=1.8, fragment="tom-s0003", text="Twice & <more>.",
                                      recording_begin=6.7, recording_end=8.5),),
                      kept=(KeptRetake(begin=9.0, end=9.4, fragment="tom-s0006", text="Once more.",
                                            reason="no pause near its end"),), removed=1.8,
                      list="build/cut/tom.json")
    report.write_report(tmp_path / "report", book, [replace(tom, cuts=cuts), loud],
                        [CheckResult("links", False, (Finding("C-LINK-001", "", "a <b> & c"),), "1 broken"),
                         CheckResult("axe", True, summary="fine")])
    result = check_web(tmp_path / "report")
    assert result.summary.startswith("1 pages"), result
    assert result.passed, result.problems
