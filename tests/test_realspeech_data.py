"""The real-speech corpus in tests/data/realspeech/ is complete, decodes, and its truth is sane."""
from __future__ import annotations

import json

import numpy as np
import pytest
import realspeech as rs
from realspeech import SR

SETS = rs.load_sets()


def test_there_are_sets_in_english_and_another_language():
    assert len(rs.load_sets("en")) >= 2
    assert len({s.speaker.get("id") for s in rs.load_sets("en")}) >= 2
    others = [s for s in SETS if not s.language.lower().startswith("en")]
    assert others, "no set in a language other than English"
    assert all(s.language.split("-")[0].isalpha() for s in SETS)


def test_language_filter():
    assert all(s.language.startswith("en") for s in rs.load_sets("en"))
    assert rs.load_sets("xx") == []
    assert {s.name for s in rs.load_sets("fr")} <= {s.name for s in SETS}


def test_every_set_says_where_it_comes_from():
    for s in SETS:
        meta = json.loads((s.folder / "SET.json").read_text(encoding="utf-8"))
        for key in ("repository", "path", "licence", "attribution"):
            assert s.source.get(key), (s.name, key)
        assert meta["language"] and meta["speaker"]
        assert meta["utterances"]


def test_files_exist_and_the_corpus_is_small():
    total = 0
    for s in SETS:
        names = set()
        for u in s.utterances:
            assert u.path.is_file(), u.path
            assert u.path.suffix == ".opus"
            assert u.text.strip()
            assert u.path.name not in names
            names.add(u.path.name)
            total += u.path.stat().st_size
        # every audio file in the folder belongs to the set
        assert {p.name for p in s.folder.glob("*.opus")} == names
    assert total < 6 * 1024 * 1024


def test_english_runs_ten_to_twenty_five_minutes():
    minutes = sum(s.duration for s in rs.load_sets("en")) / 60
    assert 10 <= minutes <= 25, minutes


@pytest.mark.parametrize("s", SETS, ids=[s.name for s in SETS])
def test_files_decode_with_plausible_durations(s):
    for u in s.utterances:
        x = rs.decode(u.path)
        assert x.dtype == np.float32 and x.ndim == 1
        d = len(x) / SR
        assert 0.5 <= d <= 30, (u.id, d)
        assert abs(d - u.duration) < 0.05, (u.id, d, u.duration)
        assert np.isfinite(x).all() and 0.05 < np.abs(x).max() <= 1.5, u.id
        on, off = rs.speech_span(x)
        assert 0 <= on < off <= d + 1e-9
        speech = off - on
        # a reading rate a person can have: 6-30 characters a second of speech
        rate = len(u.text) / speech
        assert 6 <= rate <= 30, (u.id, rate, u.text)
        if u.words:
            last = 0.0
            for w in u.words:
                assert w.w and last - 1e-6 <= w.begin <= w.end <= d + 0.05, (u.id, w)
                last = w.begin
            assert on - 0.3 <= u.words[0].begin and u.words[-1].end <= off + 0.3, u.id


@pytest.mark.parametrize("s", SETS, ids=[s.name for s in SETS])
def test_reading_onsets_are_ordered(s):
    r = rs.make_reading(s, pause=(0.3, 1.5), seed=7)
    n = len(s.utterances)
    assert len(r.begins) == len(r.ends) == len(r.texts) == len(r.starts) == n
    expected = 0.5 + 0.5 + sum(u.duration for u in s.utterances)
    assert expected + 0.3 * (n - 1) - 0.1 <= len(r.audio) / SR <= expected + 1.5 * (n - 1) + 0.1
    for i in range(n):
        assert r.starts[i] <= r.begins[i] < r.ends[i]
        if i + 1 < n:
            assert r.ends[i] < r.starts[i + 1] <= r.begins[i + 1]
    assert r.ends[-1] <= len(r.audio) / SR
    if r.words:
        flat = [w for ws in r.words for w in ws]
        assert all(a.begin <= b.begin for a, b in zip(flat, flat[1:]))


def test_reading_truth_matches_the_audio():
    s = next(s for s in SETS if len(s.utterances) >= 3)
    r = rs.make_reading(s, first=1, count=2, pause=1.0, head=0.25, tail=0.25)
    assert r.ids == [u.id for u in s.utterances[1:3]]
    for b, e in zip(r.begins, r.ends):
        seg = r.audio[int(b * SR):int(e * SR)]
        assert np.sqrt(np.mean(seg ** 2)) > 1e-3
    # the gap between the two files is silence
    gap_from = r.starts[0] + s.utterances[1].duration
    gap = r.audio[int((gap_from + 0.05) * SR):int((r.starts[1] - 0.05) * SR)]
    assert len(gap) and np.abs(gap).max() == 0.0
    noisy = rs.make_reading(s, first=1, count=2, pause=1.0, noise_db=-60)
    assert np.abs(noisy.audio[: int(0.2 * SR)]).max() > 0


def test_text_file_is_one_fragment_per_line():
    assert rs.text_file([" a b ", "c"]) == "a b\nc\n"
