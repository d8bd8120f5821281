"""`[audio] cut_retakes`: the narrator's false starts cut out of the delivered audio, every timeline shifted.

A synthetic master (harmonic "speech" with syllables, a quiet hum in the pauses so that a hard cut would
click) and a hand-made sync map with a retake: the cut lands in the middle of the pauses either side of
the false start, the audio is shorter by exactly the cut (ffprobe), the join has no click, every later
time moves by exactly the cut, the retake leaves the deviations, the cuts are listed, the MP3s are made
with the master stage's encoder settings and measured; retakes that must not be cut are kept. Then
book.toml's validation of the option, the proof labels mapped back to the recording, the report's list,
and `make release` on a small generated book with a planted false start."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import wave
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline import cli  # noqa: E402
from pipeline.model.contracts import (  # noqa: E402
    Analysis,
    AudioReport,
    Chapter,
    Deviation,
    Fragment,
    RenderPlan,
    SyncMap,
    cut_time,
    read_audio_report,
    read_syncmap,
    uncut_time,
    write_audio_report,
    write_syncmap,
)
from pipeline.model.problems import InputError, display_path  # noqa: E402
from pipeline.stages.cut import Removed  # noqa: E402

pytestmark = pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("ffprobe")), reason="needs ffmpeg")

SR = 44100
HUM_HZ = 137.0
HUM = 0.004

BOOK_TOML = """\
id = "cuts"
title = "A Book of Cuts"
authors = ["A. Writer"]
publisher = "Test Press"
language = "en-GB"
published = 2024-03-01
description = "A small book read with a false start."
narrator = "A Narrator"

[podcast]
base_url = "https://example.org/"
owner = "Owner"
email = "owner@example.org"

[audio]
cut_retakes = true
"""

PART = """\
---
id: tale
title: A Tale
order: 1
published: 2024-03-02
---

The second sentence is read cleanly. The third sentence was started twice.

The last sentence ends the tale.
"""

# The master (seconds): speech and pauses; the narrator starts the third sentence, stops, and reads it.
SPEECH = [(0.5, 2.5), (3.2, 5.0), (5.8, 6.8), (7.6, 10.0), (10.8, 12.5)]   # the third span is the false start
DURATION = 13.5
FRAGMENTS = [("tale-s0001", 0.0, 3.0, "A Tale"),
             ("tale-s0002", 3.0, 7.5, "The second sentence is read cleanly."),
             ("tale-s0003", 7.5, 10.4, "The third sentence was started twice."),
             ("tale-s0004", 10.4, DURATION, "The last sentence ends the tale.")]
RETAKE = {"kind": "retake", "begin": 5.85, "end": 6.8, "fragment": "tale-s0003", "confidence": 0.9,
          "text": FRAGMENTS[2][3]}
EXTRA = {"kind": "extra", "begin": 11.9, "end": 12.4, "fragment": "tale-s0004", "confidence": 0.7,
         "text": FRAGMENTS[3][3]}
# the cut: from the middle of the pause before the false start to the middle of the pause after it
CUT = (5.4, 7.2)


def speech(seconds: float, f0: float, rng: np.random.Generator) -> np.ndarray:
    """A voiced stretch: harmonics of ``f0`` in syllables about 0.2 s long (near-silent between them for
    a moment, as speech is between words), faded in and out."""
    n = int(round(seconds * SR))
    t = np.arange(n) / SR
    voice = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 6))
    syllables = np.abs(np.sin(np.pi * t / 0.2)) ** 0.5
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)
    return (0.3 * voice * syllables * ramp).astype(np.float64)


def make_master(path: Path, channels: int = 1, spans=SPEECH, duration: float = DURATION, seed: int = 3) -> np.ndarray:
    """A master FLAC as the master stage writes it (16-bit, 44.1 kHz); returns its samples (mono)."""
    rng = np.random.default_rng(seed)
    n = int(round(duration * SR))
    t = np.arange(n) / SR
    x = HUM * np.sin(2 * np.pi * HUM_HZ * t) + rng.normal(0, 2e-5, n)
    for i, (b, e) in enumerate(spans):
        a = int(round(b * SR))
        s = speech(e - b, 150 + 20 * i, rng)
        x[a:a + len(s)] += s
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    wav = path.with_suffix(".wav")
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(np.repeat(pcm[:, None], channels, axis=1).tobytes())
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "flac", str(path)], check=True)
    wav.unlink()
    return pcm.astype(np.float64) / 32768


def make_sync(deviations=None, fragments=FRAGMENTS, duration: float = DURATION) -> SyncMap:
    devs = [RETAKE, EXTRA] if deviations is None else deviations
    return SyncMap(part="tale", audio="tale.flac", duration=duration,
                   fragments=tuple(Fragment(id=i, begin=b, end=e, confidence=0.9, text=tx)
                                   for i, b, e, tx in fragments),
                   chapters=(Chapter(id="tale-c01", title="A Tale", begin=0.0, end=duration),),
                   deviations=tuple(Deviation(**d) for d in devs))


def write_texts(root: Path, book: str = BOOK_TOML) -> Path:
    texts = root / "texts"
    texts.mkdir(parents=True, exist_ok=True)
    (texts / "book.toml").write_text(book, encoding="utf-8")
    (texts / "01-tale.md").write_text(PART, encoding="utf-8")
    return texts


def run_cut(root: Path, accept: Path | None = None, waveform: bool = True) -> int:
    b = root / "build"
    args = ["cut", str(b / "master" / "tale.flac"), "--sync", str(b / "sync-aligned" / "tale.json"),
            "--texts", str(root / "texts"), "-o", str(b / "cut" / "tale.flac"),
            "--sync-out", str(b / "sync" / "tale.json"), "--cuts", str(b / "cut" / "tale.json"),
            "--mp3", str(b / "encoded" / "tale.mp3"), "--epub-audio", str(b / "epub-audio" / "tale.mp3"),
            "--loudness", str(b / "loudness" / "tale.json")]
    if waveform:
        args += ["--waveform", str(b / "waveform-aligned" / "tale.npy"), "--waveform-out", str(b / "waveform" / "tale.npy")]
    if accept is not None:
        args += ["--accept", str(accept)]
    return cli.main(args)


def ffprobe_duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip())


def decode(path: Path, channels: int = 1) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", str(channels), "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, "<i2").astype(np.float64).reshape(-1, channels) / 32768


def setup_part(root: Path, channels: int = 1, book: str = BOOK_TOML, sync: SyncMap | None = None) -> np.ndarray:
    write_texts(root, book)
    x = make_master(root / "build" / "master" / "tale.flac", channels)
    write_syncmap(root / "build" / "sync-aligned" / "tale.json", sync or make_sync())
    env_dir = root / "build" / "waveform-aligned"
    env_dir.mkdir(parents=True, exist_ok=True)
    n = int(round(DURATION * 100))
    rows = np.arange(n, dtype=np.int16)
    np.save(env_dir / "tale.npy", np.stack([-rows, rows], axis=1))   # row i holds i: which rows are left shows
    return x


@pytest.fixture(scope="module", params=[(1, 0), (2, 48)], ids=["mono", "stereo-separate-epub"])
def cut_part(request, tmp_path_factory):
    channels, epub = request.param
    root = tmp_path_factory.mktemp(f"cut{channels}")
    book = BOOK_TOML + (f"epub_bitrate = {epub}\n" if epub else "")
    x = setup_part(root, channels, book)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert run_cut(root) == 0
    finally:
        os.chdir(cwd)
    return root, x, channels, epub


# ---------------------------------------------------------------------------- the cut


def test_the_cut_lies_in_the_middle_of_the_pauses(cut_part) -> None:
    root, *_ = cut_part
    cuts = json.loads((root / "build" / "cut" / "tale.json").read_text())
    assert [(c["begin"], c["end"]) for c in cuts["cuts"]] == [CUT]
    c = cuts["cuts"][0]
    assert c["duration"] == pytest.approx(CUT[1] - CUT[0], abs=1e-9)
    assert c["fragment"] == "tale-s0003" and c["text"] == FRAGMENTS[2][3]
    assert c["at"] == CUT[0]
    assert c["retakes"][0]["begin"] == RETAKE["begin"] and c["retakes"][0]["end"] == RETAKE["end"]
    assert cuts["removed"] == pytest.approx(1.8) and cuts["kept"] == []
    assert cuts["duration_before"] == DURATION and cuts["duration_after"] == pytest.approx(DURATION - 1.8)


def test_cut_audio_is_shorter_by_the_cut(cut_part) -> None:
    root, *_ = cut_part
    removed = CUT[1] - CUT[0]
    master = ffprobe_duration(root / "build" / "master" / "tale.flac")
    assert ffprobe_duration(root / "build" / "cut" / "tale.flac") == pytest.approx(master - removed, abs=0.0005)
    # the MP3s within a frame of it (their own padding aside)
    for mp3 in ("encoded", "epub-audio"):
        assert ffprobe_duration(root / "build" / mp3 / "tale.mp3") == pytest.approx(master - removed, abs=0.06)


def test_no_click_at_the_join(cut_part) -> None:
    root, x, channels, _ = cut_part
    y = decode(root / "build" / "cut" / "tale.flac", channels)[:, 0]
    assert np.abs(y[: int(CUT[0] * SR) - 2000] - x[: int(CUT[0] * SR) - 2000]).max() < 1e-4   # untouched before
    after = int(CUT[1] * SR) + 2000
    assert np.abs(y[after - int(1.8 * SR):][:SR] - x[after:][:SR]).max() < 1e-4              # and after
    join = int(round(CUT[0] * SR))
    near = np.abs(np.diff(y[join - 2000: join + 2000])).max()
    # the hum of the pause, far from the join: its usual largest step from one sample to the next
    usual = np.abs(np.diff(x[int(2.6 * SR): int(3.1 * SR)])).max()
    hard = abs(x[int(round(CUT[1] * SR))] - x[join - 1])          # what a plain cut would jump by
    assert hard > 10 * usual                                      # (so the check below can fail)
    assert near <= 1.5 * usual + 2 / 32768, (near, usual, hard)
    # and the join is quiet: the crossfade lies inside the pauses
    assert np.abs(y[join - 700: join + 700]).max() < 3 * HUM


def test_later_times_move_by_exactly_the_cut(cut_part) -> None:
    root, *_ = cut_part
    before = read_syncmap(root / "build" / "sync-aligned" / "tale.json")
    after = read_syncmap(root / "build" / "sync" / "tale.json")
    removed = CUT[1] - CUT[0]
    for f, g in zip(before.fragments, after.fragments):
        assert g.id == f.id
        for k in ("begin", "end"):
            was = getattr(f, k)
            want = was if was <= CUT[0] else was - removed
            assert getattr(g, k) == pytest.approx(want, abs=1e-9), (f.id, k)
    # contiguous and covering the shorter audio
    assert after.fragments[0].begin == 0.0
    assert all(a.end == b.begin for a, b in zip(after.fragments, after.fragments[1:]))
    assert after.fragments[-1].end == after.duration == pytest.approx(DURATION - removed)
    assert after.chapters[0].end == pytest.approx(DURATION - removed)
    # the retake is gone; the unscripted speech after it has moved with the rest
    assert [d.kind for d in after.deviations] == ["extra"]
    assert after.deviations[0].begin == pytest.approx(EXTRA["begin"] - removed, abs=1e-9)
    assert after.deviations[0].end == pytest.approx(EXTRA["end"] - removed, abs=1e-9)


def test_mp3s_are_the_master_stages_and_measured(cut_part) -> None:
    root, _, channels, epub = cut_part
    from pipeline.stages.audio import payload_sha256

    b = root / "build"
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=channels,sample_rate,bit_rate",
                          "-of", "json", str(b / "encoded" / "tale.mp3")], capture_output=True, text=True).stdout
    s = json.loads(out)["streams"][0]
    assert int(s["channels"]) == channels and int(s["sample_rate"]) == SR
    assert int(s["bit_rate"]) == (96000 if channels == 1 else 128000)
    epub_mp3, podcast = b / "epub-audio" / "tale.mp3", b / "encoded" / "tale.mp3"
    if epub:
        out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=channels,bit_rate", "-of", "json",
                              str(epub_mp3)], capture_output=True, text=True).stdout
        s = json.loads(out)["streams"][0]
        assert int(s["channels"]) == 1 and int(s["bit_rate"]) == epub * 1000
    else:
        assert os.path.samefile(epub_mp3, podcast)
    loud = json.loads((b / "loudness" / "tale.json").read_text())
    assert loud["payload_sha256"] == payload_sha256(podcast)
    assert loud["duration"] == pytest.approx(DURATION - 1.8, abs=0.1)


def test_the_envelope_loses_the_cut_rows(cut_part) -> None:
    root, *_ = cut_part
    env = np.load(root / "build" / "waveform" / "tale.npy")
    rows = env[:, 1].astype(int)
    assert len(rows) == int(round(DURATION * 100)) - 180
    assert rows[539] == 539 and rows[540] == 720    # rows 540..719 (5.40-7.20 s) are gone


def test_second_run_does_not_re_encode(cut_part, capsys) -> None:
    root, *_ = cut_part
    b = root / "build"
    mp3 = b / "encoded" / "tale.mp3"
    inode, data = mp3.stat().st_ino, mp3.read_bytes()
    old = time.time() - 100
    os.utime(mp3, (old, old))
    cwd = os.getcwd()
    os.chdir(root)
    try:
        # a re-alignment that moved a boundary but not the retake's pauses: the same cut
        sync = make_sync()
        frags = list(sync.fragments)
        frags[1], frags[2] = replace(frags[1], end=7.45), replace(frags[2], begin=7.45)
        write_syncmap(b / "sync-aligned" / "tale.json", replace(sync, fragments=tuple(frags)))
        assert run_cut(root) == 0
    finally:
        os.chdir(cwd)
    assert "not re-encoded" in capsys.readouterr().out
    assert mp3.stat().st_ino == inode and mp3.read_bytes() == data and mp3.stat().st_mtime > old + 50
    assert read_syncmap(b / "sync" / "tale.json").fragments[2].begin == pytest.approx(7.45 - 1.8)


# ---------------------------------------------------------------------------- what is not cut


def run_in(root: Path, **kw) -> dict:
    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert run_cut(root, **kw) == 0
    finally:
        os.chdir(cwd)
    return json.loads((root / "build" / "cut" / "tale.json").read_text())


@pytest.mark.parametrize("deviation, fragments, reason", [
    # the sentence it names was never read (the aligner's "retake" is then its only reading)
    ({**RETAKE}, [*FRAGMENTS[:2], ("tale-s0003", 7.5, 7.5, ""), ("tale-s0004", 7.5, DURATION, "")], "not read"),
    # no pause near its end: it would cut through speech
    ({**RETAKE, "begin": 8.0, "end": 9.0}, FRAGMENTS, "no pause"),
    # its cut would take a whole other sentence with it
    ({**RETAKE, "begin": 0.5, "end": 6.8}, FRAGMENTS, "boundary"),
    # a zero-length or inverted report
    ({**RETAKE, "begin": 6.8, "end": 6.78}, FRAGMENTS, "shorter"),
], ids=["sentence-not-read", "no-pause", "takes-a-sentence", "empty"])
def test_retakes_that_must_not_be_cut_are_kept(tmp_path, deviation, fragments, reason) -> None:
    setup_part(tmp_path, sync=make_sync([deviation], fragments=fragments))
    cuts = run_in(tmp_path, waveform=False)
    assert cuts["cuts"] == [] and len(cuts["kept"]) == 1 and reason in cuts["kept"][0]["reason"]
    after = read_syncmap(tmp_path / "build" / "sync" / "tale.json")
    assert [d.kind for d in after.deviations] == ["retake"]        # still there, to proof
    assert ffprobe_duration(tmp_path / "build" / "cut" / "tale.flac") == pytest.approx(DURATION, abs=0.0005)


def test_an_accepted_retake_is_kept(tmp_path) -> None:
    setup_part(tmp_path)
    labels = tmp_path / "tale.labels.txt"
    labels.write_text("6.0\t6.0\taccept retake tale-s0003: read that way on purpose\n", encoding="utf-8")
    cuts = run_in(tmp_path, accept=labels, waveform=False)
    assert cuts["cuts"] == [] and cuts["kept"][0]["reason"] == "accepted in the label file"


def test_two_reports_of_one_false_start_make_one_cut(tmp_path) -> None:
    setup_part(tmp_path, sync=make_sync([RETAKE, {**RETAKE, "begin": 5.9, "end": 6.7}, EXTRA]))
    cuts = run_in(tmp_path, waveform=False)
    assert [(c["begin"], c["end"]) for c in cuts["cuts"]] == [CUT] and len(cuts["cuts"][0]["retakes"]) == 2
    after = read_syncmap(tmp_path / "build" / "sync" / "tale.json")
    assert [d.kind for d in after.deviations] == ["extra"]


def test_without_retakes_the_audio_is_the_master(tmp_path) -> None:
    x = setup_part(tmp_path, sync=make_sync([EXTRA]))
    cuts = run_in(tmp_path, waveform=False)
    assert cuts["cuts"] == [] and cuts["removed"] == 0
    y = decode(tmp_path / "build" / "cut" / "tale.flac")[:, 0]
    assert len(y) == len(x) and np.abs(y - x).max() < 1e-4


# ---------------------------------------------------------------------------- the timeline helpers


def test_uncut_time_inverts_the_cut() -> None:
    cuts = [Removed(2.0, 3.0), Removed(5.0, 7.5)]
    for t in (0.0, 1.99, 3.0, 4.2, 7.5, 9.0):
        assert uncut_time(cut_time(t, cuts), cuts) == pytest.approx(t)
    assert cut_time(2.5, cuts) == 2.0                                  # inside a cut: its join
    assert uncut_time(2.0, cuts) == 3.0 and uncut_time(2.0, cuts, at_join="before") == 2.0
    assert uncut_time(4.0, cuts, at_join="before") == 5.0 and uncut_time(4.0, cuts) == 7.5


# ---------------------------------------------------------------------------- book.toml


def _problems(texts: Path) -> str:
    from pipeline.model.sources import load_book

    with pytest.raises(InputError) as e:
        load_book(texts)
    return "\n".join(str(p) for p in e.value.problems)


def test_book_toml_option(tmp_path) -> None:
    from pipeline.model.sources import load_book

    texts = write_texts(tmp_path)
    assert load_book(texts).audio.cut_retakes is True
    texts = write_texts(tmp_path / "off", BOOK_TOML.replace("cut_retakes = true\n", ""))
    assert load_book(texts).audio.cut_retakes is False                  # the default
    for bad in ('"no"', "1", '"true"'):
        texts = write_texts(tmp_path / f"bad{len(bad)}", BOOK_TOML.replace("cut_retakes = true", f"cut_retakes = {bad}"))
        line = BOOK_TOML.splitlines().index("cut_retakes = true") + 1
        assert f"E-BOOK-004 {display_path(texts / 'book.toml')}:{line} field 'audio.cut_retakes' must be true " \
               f"or false, got {tomllib.loads('v = ' + bad)['v']!r}" in _problems(texts)


def test_parts_mk_says_whether_to_cut(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    texts = write_texts(tmp_path)
    (tmp_path / "recordings").mkdir()
    (tmp_path / "recordings" / "tale.wav").write_bytes(b"")
    assert cli.main(["parts-mk", "texts", "--recordings", "recordings", "-o", "parts.mk"]) == 0
    assert "CUT_RETAKES := 1\n" in (tmp_path / "parts.mk").read_text()
    (texts / "book.toml").write_text(BOOK_TOML.replace("cut_retakes = true\n", ""), encoding="utf-8")
    assert cli.main(["parts-mk", "texts", "--recordings", "recordings", "-o", "parts.mk"]) == 0
    assert "CUT_RETAKES := \n" in (tmp_path / "parts.mk").read_text()


# ---------------------------------------------------------------------------- proof and report


def test_proof_labels_map_back_to_the_recording(cut_part, tmp_path) -> None:
    root, *_ = cut_part
    b = root / "build"
    trim = 1.25
    (b / "audio").mkdir(exist_ok=True)
    write_audio_report(b / "audio" / "tale.json", AudioReport(
        analysis=Analysis(source="recordings/tale.wav", codec="pcm_s16le", sample_rate=SR, channels=1, duration=16.0,
                          integrated=-20.0, peak_db=-3.0, dead_channel=None, speech_start=trim + 0.5,
                          speech_end=trim + DURATION - 0.5),
        plan=RenderPlan(trim_start=trim, trim_end=trim + DURATION, channels=1, gain_db=4.0, limiter=False,
                        limit_db=-1.7),
        filter="anull", bitrate=96))
    out = tmp_path / "proof"
    assert cli.main(["proof", str(b / "sync" / "tale.json"), "--audio-report", str(b / "audio" / "tale.json"),
                     "--cuts", str(b / "cut" / "tale.json"), "-o", str(out / "tale.txt"),
                     "--json", str(out / "tale.json")]) == 0
    labels = [line.split("\t") for line in (out / "tale.txt").read_text(encoding="utf-8").splitlines()]
    # the cut, over the recording: where the false start and its pauses were
    assert labels[0] == [f"{CUT[0] + trim:.6f}", f"{CUT[1] + trim:.6f}",
                         "retake tale-s0003: The third sentence was started twice. [cut]"]
    # the unscripted speech after the cut: its time in the cut audio, mapped back, is the recording's
    assert labels[1][:2] == [f"{EXTRA['begin'] + trim:.6f}", f"{EXTRA['end'] + trim:.6f}"]
    assert labels[1][2].startswith("extra tale-s0004")
    data = json.loads((out / "tale.json").read_text(encoding="utf-8"))
    assert data["deviations"][0]["begin"] == pytest.approx(EXTRA["begin"] - 1.8)   # the published MP3's time
    assert data["cuts"][0]["duration"] == pytest.approx(1.8)
    # accepting the cut's label (as the report says) keeps that false start at the next cut
    from pipeline.stages.proof import read_accepts

    accept = tmp_path / "tale.labels.txt"
    accept.write_text("\t".join(labels[0][:2] + ["accept " + labels[0][2]]) + "\n", encoding="utf-8")
    assert read_accepts(accept, {f[0] for f in FRAGMENTS}) == {("retake", "tale-s0003")}


def test_report_lists_the_cuts(cut_part, tmp_path) -> None:
    from pipeline.report.facts import PartFacts, part_cuts
    from pipeline.report.page import render_page
    from pipeline.report.terminal import cuts_line

    root, *_ = cut_part
    cuts = part_cuts(root / "build" / "cut" / "tale.json", 1.3)
    part = PartFacts(id="tale", title="A Tale", cuts=cuts)
    page = render_page(tmp_path, "Release report", "en", [part], [], -16.0, -1.0)
    assert "Retakes cut from A Tale" in page and "1 cut, 1.80 s removed" in page
    assert "<td class=\"num\">0:05.4</td><td class=\"num\">1.80</td><th scope=\"row\">tale-s0003</th>" in page
    assert FRAGMENTS[2][3] in page and "0:06.7–0:08.5" in page          # in the recording: + the head trim
    assert cuts_line([part]) == ["cuts: 1 false start(s) cut, 1.8 s removed (tale 1)"]


# ---------------------------------------------------------------------------- make release


RELEASE_PART = """\
---
id: alpha
title: Alpha and Omega
subtitle: A first story
order: 1
published: 2024-03-02
---

Alpha began with a small team of volunteers. They met every Tuesday in the old library by the river.

## The middle

People brought their neighbours along to the meetings. Over the years they built trust slowly and carefully.

## The end

The group still meets today.
"""
RETAKEN = 3                      # the sentence the narrator starts, stops and reads again
FALSE_START = "They met every Tuesday in the"


@pytest.fixture(scope="module")
def released_with_cuts(tmp_path_factory):
    """A one-part book with `cut_retakes = true` and a narration (flite) with a false start, released once.
    Returns the project and the truth: per take (``false`` or the sentence number) its speech span."""
    from deviations import SR as NSR
    from deviations import flite, write_wav
    from narration import flite_available
    from scratch import make

    if not (flite_available() and Path("/usr/bin/chromium").exists()):
        pytest.skip("needs flite and Chromium (installed by .ci/run)")
    proj = tmp_path_factory.mktemp("cutrelease") / "proj"
    proj.mkdir()
    for name in ("Makefile", "pyproject.toml", "constraints.txt", "package.json", "package-lock.json"):
        shutil.copy2(ROOT / name, proj / name)
    for name in ("pipeline", "scripts", ".venv", "node_modules"):
        (proj / name).symlink_to(ROOT / name)
    texts = proj / "texts"
    texts.mkdir()
    book = (ROOT / "texts" / "book.toml").read_text(encoding="utf-8")
    (texts / "book.toml").write_text(book.replace("[audio]\n", "[audio]\ncut_retakes = true\n"), encoding="utf-8")
    (texts / "01-alpha.md").write_text(RELEASE_PART, encoding="utf-8")
    from pipeline.model.sources import load_book

    sentences = [s.text for s in load_book(texts).part("alpha").sentences()]
    rng = np.random.default_rng(5)
    pieces, pos, truth = [np.zeros(int(0.8 * NSR), np.float32)], int(0.8 * NSR), []

    def add(x: np.ndarray, what, pause: float) -> None:
        nonlocal pos
        pieces.append((x / np.abs(x).max() * 0.7).astype(np.float32))
        truth.append((what, pos / NSR, (pos + len(x)) / NSR))
        pieces.append(np.zeros(int(pause * NSR), np.float32))
        pos += len(x) + int(pause * NSR)

    for k, s in enumerate(sentences):
        if k == RETAKEN:
            add(flite(FALSE_START, "slt", 1.0), "false", 0.8)
        add(flite(s, "slt", 1.0), k, float(rng.uniform(0.5, 0.9)))
    audio = np.concatenate(pieces) * 10 ** (-10 / 20) + rng.normal(0, 1e-3, pos).astype(np.float32)
    rec = proj / "recordings"
    rec.mkdir()
    wav = write_wav(rec / "alpha.wav", audio.astype(np.float32))
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), str(rec / "alpha.mp3")], check=True)
    wav.unlink()
    r = make(proj, "release")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return proj, truth, r


def pipeline_commands(r) -> list[str]:
    return [ln for ln in r.stdout.splitlines() if "-m pipeline" in ln]


def test_release_with_cut_retakes_runs_the_cut_stage(released_with_cuts) -> None:
    proj, _, r = released_with_cuts
    commands = pipeline_commands(r)
    assert any(c.endswith("--report build/audio/alpha.json") and " master " in c for c in commands)   # master alone
    assert any(" align build/master/alpha.flac" in c and "-o build/sync-aligned/alpha.json" in c for c in commands)
    assert any(" cut build/master/alpha.flac --sync build/sync-aligned/alpha.json" in c for c in commands)
    assert (proj / "build" / "cut" / "alpha.json").exists() and (proj / "output" / "audio" / "alpha.mp3").exists()
    assert "CUT_RETAKES := 1" in (proj / "build" / "parts.mk").read_text()
    # the audiobook is made from the cut master, whose timeline its chapters follow
    assert any(" aac build/cut/alpha.flac" in c for c in commands), commands
    assert len(list((proj / "output").glob("*.m4b"))) == 1


def test_release_with_cut_retakes_twice_does_nothing(released_with_cuts) -> None:
    from scratch import make

    proj, *_ = released_with_cuts
    r = make(proj, "release")
    assert r.returncode == 0 and "pipeline" not in r.stdout, r.stdout


def test_text_edit_with_cut_retakes_does_not_re_encode(released_with_cuts) -> None:
    from scratch import make

    proj, *_ = released_with_cuts
    cuts_before = json.loads((proj / "build" / "cut" / "alpha.json").read_text())["cuts"]
    text = proj / "texts" / "01-alpha.md"
    text.write_text(text.read_text(encoding="utf-8").replace("The group still meets today.",
                                                              "The group still meets to this day."), encoding="utf-8")
    r = make(proj, "release")
    assert r.returncode == 0, r.stderr[-2000:]
    commands = pipeline_commands(r)
    assert not any(" master " in c for c in commands), commands
    assert any(" align " in c for c in commands) and any(" cut " in c for c in commands)
    if json.loads((proj / "build" / "cut" / "alpha.json").read_text())["cuts"] == cuts_before:
        assert "audio unchanged, not re-encoded" in r.stdout


def test_a_reported_retake_is_cut_from_every_edition(released_with_cuts) -> None:
    """The aligner's report of the false start (planted into its sync map when the aligner of the day
    missed it, as the aligner is not what is tested here) cuts it from the published audio: only the cut
    stage and what follows it run again; the MP3 is shorter by the cut; every timeline follows; the proof
    labels and the report show the cut."""
    from scratch import make

    proj, truth, _ = released_with_cuts
    b = proj / "build"
    trim = read_audio_report(b / "audio" / "alpha.json").trim_start
    spans = {what: (s - trim, e - trim) for what, s, e in truth}
    aligned = read_syncmap(b / "sync-aligned" / "alpha.json")
    fid = aligned.fragments[RETAKEN].id
    if not any(d.kind == "retake" and d.fragment == fid for d in aligned.deviations):
        added = Deviation(kind="retake", begin=round(spans["false"][0], 3), end=round(spans["false"][1], 3),
                          fragment=fid, confidence=0.9, text=aligned.fragments[RETAKEN].text)
        aligned = replace(aligned, deviations=tuple(sorted((*aligned.deviations, added), key=lambda d: d.begin)))
        write_syncmap(b / "sync-aligned" / "alpha.json", aligned)
    r = make(proj, "release")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    commands = pipeline_commands(r)
    assert not any(" master " in c or " align " in c for c in commands), commands
    assert any(" cut " in c for c in commands) and any(" tag " in c for c in commands)

    cuts = json.loads((b / "cut" / "alpha.json").read_text())["cuts"]
    assert len(cuts) == 1 and cuts[0]["fragment"] == fid
    c = cuts[0]
    # inside the pauses: after the sentence before, before the false start; after it, before the take
    assert spans[RETAKEN - 1][1] < c["begin"] < spans["false"][0]
    assert spans["false"][1] < c["end"] < spans[RETAKEN][0]
    master = ffprobe_duration(b / "master" / "alpha.flac")
    assert ffprobe_duration(b / "cut" / "alpha.flac") == pytest.approx(master - c["duration"], abs=0.0005)
    assert ffprobe_duration(proj / "output" / "audio" / "alpha.mp3") == pytest.approx(master - c["duration"], abs=0.06)

    sync = read_syncmap(b / "sync" / "alpha.json")
    assert not any(d.kind == "retake" and d.fragment == fid for d in sync.deviations)
    for f, g in zip(aligned.fragments, sync.fragments):
        want = f.begin if f.begin <= c["begin"] else max(c["begin"], f.begin - c["duration"])
        assert g.begin == pytest.approx(want, abs=1e-6), f.id
    vtt = (proj / "output" / "transcripts" / "alpha.vtt").read_text(encoding="utf-8")
    from pipeline.stages.syncmap import timestamp

    assert f"{fid}\n{timestamp(sync.fragments[RETAKEN].begin)} --> " in vtt

    labels = (b / "proof" / "alpha.txt").read_text(encoding="utf-8")
    assert f"{c['begin'] + trim:.6f}\t{c['end'] + trim:.6f}\tretake {fid}: They met every Tuesday" in labels
    report = (b / "report" / "index.html").read_text(encoding="utf-8")
    assert "Retakes cut from Alpha and Omega" in report and f"{c['duration']:.2f}</td>" in report
    assert "cuts: 1 false start(s) cut" in r.stdout

    r = make(proj, "release")
    assert r.returncode == 0 and "pipeline" not in r.stdout, r.stdout
