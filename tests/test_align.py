"""The aligner against generated narrations with exact ground truth, and its command-line contract."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from narration import SR, boundary_errors, flite_available, make_narration, make_varied_narration, write_wav

from pipeline.model.contracts import Chapter, read_audio_report, read_syncmap
from pipeline.model.sources import load_part
from pipeline.stages.align import align, speakable
from pipeline.stages.syncmap import to_json_chapters, to_webvtt

ROOT = Path(__file__).resolve().parents[1]
SWITCHBACK = ROOT / "texts" / "03-switchback.md"


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    return [s.text for s in load_part(SWITCHBACK).sentences()][:30]


@pytest.fixture(scope="module")
def narration(tmp_path_factory, sentences):
    """30 sentences by another voice, pauses of 0.2–2 s, noise 30 dB under the speech, -14 dB level."""
    n = make_narration(sentences, seed=11, voice="awb", noise_db=-58, gain_db=-14)
    d = tmp_path_factory.mktemp("narration")
    wav = write_wav(d / "n.wav", n.audio)
    txt = d / "n.txt"
    txt.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    return n, wav, txt


def _logmel(x: np.ndarray, sr: int) -> np.ndarray:
    from pipeline.stages.align import MFCC

    return MFCC(sr).frames(x)[0]


def _voice_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean MFCC distance (c1-c12, each signal normalised by itself) along the best warping path between
    two readings of the same words: small for the same voice, whatever the pace, large for another voice."""
    from pipeline.stages.align import cepstra
    from pipeline.stages.dtw import dtw_band

    a, b = ((c - c.mean(0)) / (c.std(0) + 1e-6) for c in (cepstra(a), cepstra(b)))
    return float(dtw_band(a, b, np.zeros(len(a), np.int64), np.full(len(a), len(b), np.int64))[2].mean())


def _demo_clip(recording: Path, begin: float, end: float) -> np.ndarray:
    pcm = subprocess.run(["ffmpeg", "-v", "error", "-ss", f"{begin}", "-to", f"{end}", "-i", str(recording),
                          "-ac", "1", "-ar", str(SR), "-f", "f32le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(pcm, np.float32)


def test_reference_voice_differs_from_the_narration(sentences) -> None:
    """The aligner is not tested against its own voice: the narrations of the tests (tests/narration.py)
    and the demo recordings (scripts/make_demo_recordings.py) are spoken by flite, the aligner's reference
    by espeak-ng. For the same sentence, the reference is much further from each narration than another
    take by the narration's own voice at another pace, and than espeak-ng reading it at another rate and
    pitch is from the reference (what the narration would be, were it espeak-ng)."""
    import importlib.util

    from narration import _flite, _trim

    from pipeline.model.sources import load_book
    from pipeline.stages.align import Espeak, Fragment, synthesise
    from pipeline.stages.align import _trim as trim_reference

    assert flite_available(), "flite is the narration voice in the tests and the demo (espeak-ng is the aligner's)"
    spec = importlib.util.spec_from_file_location("make_demo_recordings", ROOT / "scripts" / "make_demo_recordings.py")
    demo = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_demo_recordings", demo)
    spec.loader.exec_module(demo)
    book = load_book(ROOT / "texts")

    clips = []      # (what, text, narration's log mel, flite voice, its stretch)
    for k in (3, 8):  # the tests' narration (make_narration, voice awb), one sentence at a time
        n = make_narration([sentences[k]], seed=k, voice="awb", noise_db=-58, gain_db=-14, head=0.0, tail=0.0)
        clips.append((f"test narration s{k}", sentences[k], _logmel(n.audio, SR), "awb", 1.0))
    for pid in ("switchback", "introduction", "grapevine", "gateshead-bridgebuilders"):   # kal16, slt, awb, rms
        style = demo.STYLES[pid]
        truth = json.loads((ROOT / "bench" / "truth" / f"{pid}.json").read_text(encoding="utf-8"))
        spans = {f["id"]: (f["begin"], f["end"]) for f in truth["fragments"]}
        body = [s for s in book.part(pid).sentences() if len(s.text.split()) >= 6][:2]
        for s in body:
            clip = _demo_clip(ROOT / truth["recording"], *spans[s.id])
            clips.append((f"{truth['recording']} {s.id}", s.text, _logmel(clip, SR), style.voice, style.stretch))
    assert len(clips) == 10

    for what, text, narr, voice, stretch in clips:
        reference = synthesise([Fragment("f", text)]).feats[0]                   # the aligner's own
        same_voice = _logmel(_trim(_flite(text, voice, stretch * 1.25)), SR)     # another take, slower
        tts = Espeak.get(voice="en-us", rate=150, pitch=70)                      # espeak-ng, another voice
        as_espeak = _logmel(trim_reference(tts.say(text), tts.sample_rate), tts.sample_rate)
        to_reference = _voice_distance(reference, narr)
        to_own_voice = _voice_distance(same_voice, narr)
        espeak_to_reference = _voice_distance(reference, as_espeak)
        assert to_reference > 1.3 * to_own_voice, (what, to_reference, to_own_voice)
        assert to_reference > 1.5 * espeak_to_reference, (what, to_reference, espeak_to_reference)


def test_boundaries_within_goal(narration) -> None:
    n, wav, txt = narration
    sync = align(wav, txt)
    err = boundary_errors(sync.fragments, n.begins)
    assert err.mean() <= 0.050, f"mean boundary error {err.mean() * 1000:.0f} ms"
    assert err.max() <= 0.250, f"worst boundary error {err.max() * 1000:.0f} ms"


def test_noise_that_stops_midway(tmp_path, sentences) -> None:
    """Two sessions spliced together: the first with a mains hum under the voice, the second in a quiet
    room. The pauses on the noisy side of the splice must not be taken for speech (the speech detector
    follows the floor on each side of the change, not an average across it: averaged, the worst boundary
    here was 0.5 s off)."""
    n = make_narration(sentences, seed=7, voice="rms", noise_db=-75, gain_db=-12, pause_range=(1.5, 2.5))
    splice = (n.ends[15] + n.begins[16]) / 2
    t = np.arange(int(splice * SR)) / SR
    hum = sum(a * np.sin(2 * np.pi * f * t) for f, a in ((100, 1.0), (200, 0.5), (300, 0.25)))
    audio = n.audio.copy()
    audio[:len(t)] += (hum * 10 ** (-40 / 20)).astype(np.float32)     # 28 dB under the voice's peaks
    wav = write_wav(tmp_path / "n.wav", audio)
    txt = tmp_path / "n.txt"
    txt.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    err = boundary_errors(align(wav, txt).fragments, n.begins)
    assert err.mean() <= 0.050, f"mean boundary error {err.mean() * 1000:.0f} ms"
    assert err.max() <= 0.250, f"worst boundary error {err.max() * 1000:.0f} ms at {np.argmax(err) + 1}"


def test_coughs_skipped_and_repeated_words(tmp_path, sentences) -> None:
    """What narrators do: three words of one sentence not read, three words of another read twice, and a
    cough (a burst of noise at speech level) in three pauses. The boundaries stay within the goal; the
    sentence with the unread words is marked doubtful."""
    from scipy.signal import butter, lfilter

    spoken = list(sentences)
    long = [i for i, s in enumerate(sentences) if len(s.split()) > 14]
    skip, rep = long[1], long[3]
    w = spoken[skip].split()
    spoken[skip] = " ".join(w[:4] + w[7:])
    w = spoken[rep].split()
    spoken[rep] = " ".join(w[:6] + w[3:])
    n = make_narration(spoken, seed=21, voice="awb", noise_db=-60, gain_db=-10, pause_range=(0.6, 2.0))
    audio = n.audio.copy()
    rng = np.random.default_rng(5)
    b, a = butter(2, [300 / (SR / 2), 3000 / (SR / 2)], btype="band")
    for k in (5, 12, 20):
        length = int(0.25 * SR)
        burst = lfilter(b, a, rng.standard_normal(length)) * np.hanning(length)
        burst = burst / np.abs(burst).max() * 0.3 * 10 ** (-10 / 20)     # 7 dB under the speech peaks
        start = int((n.ends[k] + n.begins[k + 1]) / 2 * SR) - length // 2
        audio[start:start + length] += burst.astype(np.float32)
    wav = write_wav(tmp_path / "n.wav", audio)
    txt = tmp_path / "n.txt"
    txt.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    sync = align(wav, txt)
    err = boundary_errors(sync.fragments, n.begins)
    assert err.mean() <= 0.050, f"mean boundary error {err.mean() * 1000:.0f} ms"
    assert err.max() <= 0.250, f"worst boundary error {err.max() * 1000:.0f} ms at {np.argmax(err) + 1}"
    conf = [f.confidence for f in sync.fragments]
    assert conf[skip] < 0.6 <= float(np.median(conf)), (conf[skip], float(np.median(conf)))


@pytest.mark.parametrize("part, voice, seed", [("03-switchback", "awb", 1), ("06-maia", "rms", 2),
                                               ("09-nhs-palliative-care", "slt", 3)])
def test_varied_reading(tmp_path, part, voice, seed) -> None:
    """A reading closer to a person's: the rate changing from sentence to sentence, pauses inside long
    sentences, levels varying and breaths in the pauses (40 sentences each)."""
    sents = [s.text for s in load_part(ROOT / "texts" / f"{part}.md").sentences()][:40]
    n = make_varied_narration(sents, seed=seed, voice=voice)
    wav = write_wav(tmp_path / "n.wav", n.audio)
    txt = tmp_path / "n.txt"
    txt.write_text("\n".join(sents) + "\n", encoding="utf-8")
    err = boundary_errors(align(wav, txt).fragments, n.begins)
    assert err.mean() <= 0.050, f"mean boundary error {err.mean() * 1000:.0f} ms"
    assert err.max() <= 0.250, f"worst boundary error {err.max() * 1000:.0f} ms at {np.argmax(err) + 1}"


def test_sync_map_contract(narration, tmp_path) -> None:
    n, wav, txt = narration
    out = tmp_path / "sync.json"
    r = subprocess.run([sys.executable, "-m", "pipeline", "align", str(wav), str(txt), "-o", str(out)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    sync = read_syncmap(out)   # validates contiguity
    lines = [ln for ln in txt.read_text(encoding="utf-8").splitlines() if ln.strip()]
    assert [f.text for f in sync.fragments] == lines
    assert sync.fragments[0].begin == 0.0
    assert sync.fragments[-1].end == pytest.approx(len(n.audio) / SR, abs=0.02)
    for a, b in zip(sync.fragments, sync.fragments[1:]):
        assert a.end == b.begin and a.begin < a.end
    assert all(0.0 <= f.confidence <= 1.0 for f in sync.fragments)


def test_aligning_twice_gives_identical_files(narration, tmp_path) -> None:
    _, wav, txt = narration
    outs = []
    for name in ("a.json", "b.json"):
        out = tmp_path / name
        subprocess.run([sys.executable, "-m", "pipeline", "align", str(wav), str(txt), "-o", str(out)],
                       check=True, cwd=ROOT)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_markdown_part_gives_sentence_ids_and_chapters(tmp_path) -> None:
    part = load_part(SWITCHBACK)
    first_sections = part.sections[:3]
    sents = [s for sec in first_sections for s in ([sec.heading] if sec is not part.sections[0] else
             [sec.heading, part.subtitle_sentence]) + list(sec.sentences(include_heading=False))]
    n = make_narration([s.text for s in sents], seed=5, voice="rms", noise_db=-60, gain_db=-10)
    wav = write_wav(tmp_path / "p.wav", n.audio)
    # a part file holding only those sections
    text = SWITCHBACK.read_text(encoding="utf-8")
    cut = text.index(f"## {part.sections[3].title}")
    md = tmp_path / "03-switchback.md"
    md.write_text(text[:cut], encoding="utf-8")
    sync = align(wav, md)
    assert [f.id for f in sync.fragments] == [s.id for s in sents]
    assert [c.id for c in sync.chapters] == [s.id for s in first_sections]
    assert sync.chapters[0].begin == 0.0
    heading_begin = {f.id: f.begin for f in sync.fragments}
    for sec, ch in zip(first_sections[1:], sync.chapters[1:]):
        assert ch.begin == heading_begin[sec.heading.id]
        truth = n.begins[[s.id for s in sents].index(sec.heading.id)]
        assert abs(ch.begin - truth) < 0.25
    assert sync.chapters[-1].end == sync.duration


def test_unread_heading_gets_low_confidence(tmp_path, sentences) -> None:
    skip = sentences.index("Both sides of the gate")
    spoken = sentences[:skip] + sentences[skip + 1:]
    n = make_narration(spoken, seed=3, voice="kal16", noise_db=-60, gain_db=-8)
    wav = write_wav(tmp_path / "s.wav", n.audio)
    txt = tmp_path / "s.txt"
    txt.write_text("\n".join(sentences), encoding="utf-8")
    sync = align(wav, txt)
    conf = [f.confidence for f in sync.fragments]
    assert conf[skip] < 0.6 <= float(np.median(conf))
    ours = [f.begin for f in sync.fragments]
    ours = ours[:skip] + ours[skip + 1:]
    err = np.abs(np.array(ours[1:]) - np.array(n.begins[1:]))
    assert err.mean() < 0.08


def test_music_intro_is_absorbed(tmp_path, sentences) -> None:
    t = np.arange(int(8 * SR)) / SR
    music = 0.2 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 0.5 * t) ** 2 \
        + 0.15 * np.sin(2 * np.pi * 330 * t + np.sin(2 * np.pi * 3 * t))
    n = make_narration(sentences[:15], seed=2, voice="slt", intro=music, noise_db=-60)
    wav = write_wav(tmp_path / "m.wav", n.audio)
    txt = tmp_path / "m.txt"
    txt.write_text("\n".join(sentences[:15]), encoding="utf-8")
    sync = align(wav, txt)
    err = boundary_errors(sync.fragments, n.begins)
    assert err.max() < 0.25
    assert sync.fragments[0].end == pytest.approx(n.begins[1], abs=0.1)


def test_labels_fix_boundaries(narration, tmp_path) -> None:
    n, wav, txt = narration
    labels = tmp_path / "n.labels.txt"
    # deliberately move two boundaries: the aligner must keep them exactly and fit the rest around them
    labels.write_text(f"{n.begins[10] + 0.3:.3f}\t{n.begins[10] + 0.3:.3f}\t11\n"
                      f"{n.begins[20]:.3f}\t{n.begins[20]:.3f}\tf000021\n", encoding="utf-8")
    sync = align(wav, txt, labels)
    assert sync.fragments[10].begin == pytest.approx(n.begins[10] + 0.3, abs=0.011)
    assert sync.fragments[20].begin == pytest.approx(n.begins[20], abs=0.011)
    err = boundary_errors(sync.fragments, n.begins)
    others = np.delete(err, [9, 19])
    assert others.max() < 0.25


def test_bad_labels_are_reported(narration, tmp_path) -> None:
    _, wav, txt = narration
    labels = tmp_path / "bad.labels.txt"
    labels.write_text("1.0\t1.0\tno-such-fragment\nabc\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "pipeline", "align", str(wav), str(txt), "--labels", str(labels),
                        "-o", str(tmp_path / "x.json")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1
    assert "E-LABEL-002" in r.stderr and "bad.labels.txt:1" in r.stderr
    assert "E-LABEL-001" in r.stderr and "bad.labels.txt:2" in r.stderr
    # a label file that is not UTF-8: one coded line at the line of the bad byte, no traceback
    labels.write_bytes(b"1.0\t1.0\t2\n2.0\t2.0\tcaf\xe9\n")
    r = subprocess.run([sys.executable, "-m", "pipeline", "align", str(wav), str(txt), "--labels", str(labels),
                        "-o", str(tmp_path / "y.json")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "E-LABEL-003" in r.stderr and "bad.labels.txt:2" in r.stderr
    assert not (tmp_path / "y.json").exists()
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("text, spoken", [
    ("It fell to 8%.", "It fell to eight per cent."),
    ("It cost £1.2m.", "It cost one point two million pounds."),
    ("In 2007 and 1998.", "In two thousand and seven and nineteen ninety-eight."),
    ("Barking & Dagenham", "Barking and Dagenham"),
    ("2019–2023", "twenty nineteen to twenty twenty-three"),
])
def test_speakable(text: str, spoken: str) -> None:
    assert speakable(text).replace("-", " ") == spoken.replace("-", " ")


def test_webvtt_and_json_chapters(narration, tmp_path) -> None:
    import webvtt

    _, wav, txt = narration
    sync = align(wav, txt)
    vtt = tmp_path / "t.vtt"
    vtt.write_text(to_webvtt(sync, "Switchback & <friends>"), encoding="utf-8")
    cues = webvtt.read(str(vtt))
    assert len(cues) == len(sync.fragments)
    assert [c.identifier for c in cues] == [f.id for f in sync.fragments]
    assert cues[3].text == sync.fragments[3].text
    h, m, sec = cues[5].start.split(":")
    assert abs(int(h) * 3600 + int(m) * 60 + float(sec) - sync.fragments[5].begin) < 0.002
    sync_with_chapters = sync.__class__(part="p", audio="a", duration=10.0, fragments=sync.fragments,
                                        chapters=(Chapter(id="p-c01", title="One & two", begin=0.0, end=4.0),
                                                  Chapter(id="p-c02", title="Three", begin=4.0, end=10.0)))
    data = json.loads(to_json_chapters(sync_with_chapters, "P"))
    assert data["version"] == "1.2.0"
    assert [c["startTime"] for c in data["chapters"]] == [0.0, 4.0]
    assert data["chapters"][0]["title"] == "One & two"


def test_demo_recordings_through_the_build_meet_the_goal() -> None:
    """The real pipeline on the real demo narrations (`make site` ran first): every part's sync map
    against the exact truth the demo script wrote (bench/truth/), in the recording's own time (the
    master is trimmed: its trim_start is added back)."""
    import json

    build = ROOT / "build"
    truths = sorted((ROOT / "bench" / "truth").glob("*.json"))
    if not truths or not all((build / "sync" / f"{t.stem}.json").exists() for t in truths):
        pytest.skip("the site is not built (make site)")
    every = []
    for t in truths:
        truth = {f["id"]: f["begin"] for f in json.loads(t.read_text(encoding="utf-8"))["fragments"]}
        sync = read_syncmap(build / "sync" / f"{t.stem}.json")
        trim = read_audio_report(build / "audio" / f"{t.stem}.json").trim_start
        assert [f.id for f in sync.fragments] == list(truth), f"{t.stem}: fragments differ from the truth"
        err = np.array([abs(f.begin + trim - truth[f.id]) for f in sync.fragments[1:]])
        assert err.mean() <= 0.050, f"{t.stem}: mean boundary error {err.mean() * 1000:.0f} ms"
        assert err.max() <= 0.250, f"{t.stem}: worst boundary error {err.max() * 1000:.0f} ms"
        every.extend(err)
    assert np.mean(every) <= 0.030, f"mean over the book {np.mean(every) * 1000:.0f} ms"
