"""Word timing: every word of every fragment in the sync map (the command-line contract), and how close
the word starts are to the truth: exact on generated narrations, automatic references on real speech.
bench/words.py measures the same on larger sets."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import realspeech as rs
from narration import flite_available, make_narration, write_wav

from pipeline.model.contracts import read_syncmap, words_of
from pipeline.model.sources import load_part
from pipeline.stages.align import Espeak, synthesise
from pipeline.stages.align import Fragment as RefFragment
from pipeline.stages.normalise import speakable
from pipeline.stages.words import reference_words, token_spans

ROOT = Path(__file__).resolve().parents[1]
SWITCHBACK = ROOT / "texts" / "03-switchback.md"
NUMBERS = "In 2019 Dr. Smith reviewed 1,000 abstracts – and 80% of them – by 6 December 2018."


def _errors(sync, truth) -> np.ndarray:
    errs = []
    for f, t in zip(sync.fragments, truth):
        if t is None:
            continue
        assert [w[0] for w in t] == [w.text for w in f.words]
        errs += [abs(w.begin - b) for w, (_, b, _) in zip(f.words, t) if any(c.isalnum() for c in w.text)]
    return np.array(errs)


def _check_words(sync) -> None:
    for f in sync.fragments:
        assert [w.text for w in f.words] == words_of(f.text), f.id
        assert all(f.begin - 1e-3 <= w.begin <= w.end <= f.end + 1e-3 for w in f.words), f.id


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    return [s.text for s in load_part(SWITCHBACK).sentences()][:12] + [NUMBERS]


@pytest.fixture(scope="module")
def narration(sentences):
    assert flite_available(), "flite gives the narrations their exact word truth"
    return make_narration(sentences, seed=21, voice="awb", noise_db=-60, gain_db=-10, words=True)


def test_written_words_map_onto_the_spoken_text() -> None:
    """Numbers and abbreviations own the words they are read as; a dash owns nothing it is spoken as."""
    spoken = speakable(NUMBERS, "en")
    spans = token_spans(NUMBERS, spoken)
    tokens = words_of(NUMBERS)
    said = dict(zip(tokens, (spoken[a:b] for a, b in spans)))
    assert "twenty" in said["2019"] and "nineteen" in said["2019"]
    assert "thousand" in said["1,000"]
    assert "octor" in said["Dr."]
    assert "cent" in said["80%"]
    assert not any(c.isalnum() for c in said["–"])
    # in the reference every written word but the dash starts at a spoken word, in order
    ref = synthesise([RefFragment("f1", NUMBERS)], language="en")
    frames = ref.words[0]
    assert len(frames) == len(tokens)
    dash = [i for i, t in enumerate(tokens) if t == "–"]
    assert np.isnan(frames[dash]).all()
    spoken_frames = frames[np.isfinite(frames)]
    assert len(spoken_frames) == len(tokens) - len(dash)
    assert (np.diff(spoken_frames) > 0).all()
    assert spoken_frames[0] < 5 and spoken_frames[-1] < ref.speech_frames[0]


def test_reference_words_without_events_are_unspoken() -> None:
    assert np.isnan(reference_words("a b", "a b", [], 10)).all()
    out = reference_words("one 2", "one two", [(0, 0.0), (4, 20.0)], 40)
    assert list(out) == [0.0, 20.0]


def test_espeak_reports_a_word_event_per_word() -> None:
    tts = Espeak.get()
    x, marks = tts.say_words("Hello world, again.")
    assert [c for c, _ in marks] == [0, 6, 13]
    samples = [s for _, s in marks]
    assert samples == sorted(samples) and samples[-1] < len(x)


def test_cli_plain_text_times_every_word(narration, sentences, tmp_path) -> None:
    """`python -m pipeline align AUDIO TEXT -o SYNC.json`: every fragment has its words, they read back
    through the contract (read_syncmap checks them), and their starts are close to the exact truth."""
    wav = write_wav(tmp_path / "n.wav", narration.audio)
    txt = tmp_path / "n.txt"
    txt.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    out = tmp_path / "sync.json"
    subprocess.run([sys.executable, "-m", "pipeline", "align", str(wav), str(txt), "-o", str(out)], check=True,
                   cwd=ROOT)
    sync = read_syncmap(out)
    _check_words(sync)
    assert sum(len(f.words) for f in sync.fragments) == sum(len(words_of(s)) for s in sentences)
    err = _errors(sync, narration.words)
    assert len(err) > 150
    assert np.median(err) <= 0.04, np.median(err)
    assert np.mean(err <= 0.15) >= 0.93, np.mean(err <= 0.15)
    # the number is read as words: "2019" lasts as long as "twenty nineteen"
    last = sync.fragments[-1]
    year = next(w for w in last.words if w.text == "2019")
    assert year.end - year.begin > 0.3
    dash = [w for w in last.words if w.text == "–"]
    assert dash and all(w.begin == w.end for w in dash)


def test_markdown_part_and_skipped_sentence(tmp_path) -> None:
    """A part's Markdown gets words too; a sentence not read gets its words with no length."""
    part = load_part(SWITCHBACK)
    text = SWITCHBACK.read_text(encoding="utf-8")
    cut = text.index(f"## {part.sections[2].title}")
    md = tmp_path / "03-switchback.md"
    md.write_text(text[:cut], encoding="utf-8")
    sents = load_part(md).sentences()
    skip = next(i for i, s in enumerate(sents) if i > 3 and len(words_of(s.text)) >= 6)
    n = make_narration([s.text for i, s in enumerate(sents) if i != skip], seed=9, voice="rms", noise_db=-60,
                       gain_db=-10)
    wav = write_wav(tmp_path / "p.wav", n.audio)
    out = tmp_path / "sync.json"
    subprocess.run([sys.executable, "-m", "pipeline", "align", str(wav), str(md), "-o", str(out)], check=True,
                   cwd=ROOT)
    sync = read_syncmap(out)
    _check_words(sync)
    assert [f.id for f in sync.fragments] == [s.id for s in sents]
    assert any(d.kind == "skip" and d.fragment == sents[skip].id for d in sync.deviations)
    skipped = sync.fragments[skip]
    assert skipped.words and all(w.begin == w.end == skipped.begin for w in skipped.words)
    read = [f for i, f in enumerate(sync.fragments) if i != skip]
    assert all(sum(w.end - w.begin for w in f.words) > 0.25 * (f.end - f.begin) for f in read if len(f.words) > 3)


def test_real_speech_word_starts(tmp_path) -> None:
    """LJ Speech (Linda Johnson) against PocketSphinx's forced alignment (tests/data/realspeech)."""
    s = next(s for s in rs.load_sets() if s.name == "lj-printing")
    utts = [u for u in s.utterances if u.words][:10]
    r = rs.make_reading(s, utterances=utts, pause=(0.4, 1.0), seed=3, noise_db=-75)
    wav = write_wav(tmp_path / "lj.wav", r.audio)
    txt = tmp_path / "lj.txt"
    txt.write_text(rs.text_file(r.texts), encoding="utf-8")
    out = tmp_path / "sync.json"
    subprocess.run([sys.executable, "-m", "pipeline", "align", str(wav), str(txt), "-o", str(out)], check=True,
                   cwd=ROOT)
    sync = read_syncmap(out)
    _check_words(sync)
    truth = [[(w.w, w.begin, w.end) for w in ws] for ws in r.words]
    err = _errors(sync, truth)
    assert len(err) > 120
    assert np.median(err) <= 0.04, np.median(err)
    assert np.mean(err <= 0.15) >= 0.9, np.mean(err <= 0.15)


def test_cutting_a_retake_moves_the_words_with_their_fragment(tmp_path) -> None:
    """With [audio] cut_retakes the cut stage moves every time after a cut earlier: the words too, so the
    cut audio's sync map still reads (E-SYNC-006 holds)."""
    from pipeline.model.contracts import Deviation, Fragment, SyncMap, Word, write_syncmap
    from pipeline.stages.cut import Cut, shift_sync

    a = Fragment("s1", 0.0, 2.0, "One two.", words=(Word(0.2, 0.6, "One"), Word(0.6, 1.0, "two.")))
    b = Fragment("s2", 2.0, 6.0, "Three four five.",
                 words=(Word(3.6, 4.2, "Three"), Word(4.2, 4.8, "four"), Word(4.8, 5.5, "five.")))
    sync = SyncMap(part="p", audio="a.flac", duration=6.0, fragments=(a, b),
                   deviations=(Deviation("retake", 2.2, 3.4, "s2"),))
    cut = Cut(first=210, end=350, fragment="s2", retakes=[sync.deviations[0]])
    shifted, _ = shift_sync(sync, [cut], "a.flac")
    out = tmp_path / "cut.json"
    write_syncmap(out, shifted)
    back = read_syncmap(out)
    assert [w.begin for w in back.fragments[1].words] == [pytest.approx(2.2), pytest.approx(2.8), pytest.approx(3.4)]
    assert back.fragments[0].words == a.words
