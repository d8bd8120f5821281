"""The aligner on real human read speech (tests/data/realspeech/): English with planted deviations, and
French in its own voice.

The readings are spliced from the recordings' utterances with pauses between them, so the true onset of
every utterance is known (its speech span inside its file). Deviations are planted the way a narrator
makes them: an utterance whose audio is dropped (a skip), an utterance whose line is dropped from the text
while its audio stays (unscripted speech), the first part of an utterance spliced in before it (a false
start).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.stages.align import align
from tests.narration import write_wav
from tests.realspeech import load_sets, make_reading, speech_span, text_file

SR = 16000


def _set(name: str):
    return next(s for s in load_sets() if s.name == name)


def test_french_reading_in_a_french_voice(tmp_path) -> None:
    """Éric Joanis reads seven sentences in French: with `--language fr` (espeak-ng's French voice and
    French numbers) every boundary lands within 0.3 s of the true onset, and nothing is reported."""
    s = _set("ej-fra")
    r = make_reading(s, pause=(0.4, 0.9), seed=3, noise_db=-60)
    wav = write_wav(tmp_path / "fr.wav", r.audio)
    txt = tmp_path / "fr.txt"
    txt.write_text(text_file(r.texts), encoding="utf-8")
    sync = align(wav, txt, language="fr")
    err = np.abs(np.array([f.begin for f in sync.fragments[1:]]) - np.array(r.begins[1:]))
    assert err.max() < 0.3, err
    assert sync.deviations == ()


def test_real_english_with_a_skip_an_aside_and_a_false_start(tmp_path) -> None:
    """Linda Johnson (LJ Speech) reads 24 consecutive sentences: utterance 6 is not read; before
    utterance 12 someone else says a sentence that is not in the text (another reader of the corpus, as
    a producer's aside in the booth); utterance 18 is started, stopped at a quiet point 30-70% in, and
    read again in full (a false start). Every one is reported with its kind and sentence, and nothing
    else; the boundaries of the sentences read meet the goal."""
    from tests.deviations import low_energy_cut

    s = _set("lj-printing")
    aside = make_reading(_set("pm-newgate"), first=3, count=1, head=0.0, tail=0.0).audio
    rng = np.random.default_rng(7)
    pieces, begins, texts, planted = [np.zeros(int(0.5 * SR), np.float32)], {}, [], set()
    pos = len(pieces[0])

    def add(x: np.ndarray) -> None:
        nonlocal pos
        pieces.append(x.astype(np.float32))
        pos += len(x)

    for i, u in enumerate(s.utterances[:24]):
        x = make_reading(s, utterances=[u], head=0.0, tail=0.0).audio
        texts.append(u.text)
        k = len(texts) - 1
        if i == 6:
            planted.add(("skip", k))
            continue
        if i == 12:
            planted.add(("extra", k))
            add(aside)
            add(np.zeros(int(0.7 * SR), np.float32))
        on, off = speech_span(x)
        if i == 18:
            planted.add(("retake", k))
            add(x[: int(low_energy_cut(x, on, off, rng) * SR)])
            add(np.zeros(int(0.6 * SR), np.float32))
        begins[k] = pos / SR + on
        add(x)
        add(np.zeros(int(rng.uniform(0.4, 1.0) * SR), np.float32))
    wav = write_wav(tmp_path / "lj.wav", np.concatenate(pieces))
    txt = tmp_path / "lj.txt"
    txt.write_text(text_file(texts), encoding="utf-8")
    sync = align(wav, txt, language="en-US")
    ids = [f.id for f in sync.fragments]
    got = {(d.kind, ids.index(d.fragment)) for d in sync.deviations}
    assert got == planted, f"planted {sorted(planted)}, reported {sorted(got)}"
    err = np.array([abs(sync.fragments[k].begin - b) for k, b in begins.items() if k > 0])
    assert err.mean() <= 0.08 and err.max() <= 1.0, (err.mean(), err.max())


@pytest.mark.parametrize("language", ["xx-YY"])
def test_a_language_without_a_voice_is_a_coded_error(tmp_path, language) -> None:
    from pipeline.model.problems import InputError

    s = _set("ej-fra")
    r = make_reading(s, count=2)
    wav = write_wav(tmp_path / "x.wav", r.audio)
    txt = Path(tmp_path / "x.txt")
    txt.write_text(text_file(r.texts), encoding="utf-8")
    with pytest.raises(InputError) as e:
        align(wav, txt, language=language)
    assert "E-LANG-001" in str(e.value.problems[0])
