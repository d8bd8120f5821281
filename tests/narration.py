"""Generated narrations with exact ground truth, for the aligner's tests and benchmark.

Sentences are spoken by a voice other than the aligner's reference (flite when installed, else
espeak-ng with another voice, pitch and speed), joined with random pauses, then noise and a level
change are added. The true begin and end of every sentence's speech are known to the sample.

With ``words=True`` (flite only) the truth also has every written word's span (``contracts.words_of``):
flite prints the end of every segment it speaks (``-psdur``); each written word, spoken alone, gives its
number of segments, and the sentence's segments (without its pauses) are dealt out to the words in
order. A word starts where the segment before its first one ends (the end of a pause when it follows
one) and ends with its last segment; a word flite says nothing for (a dash) has no length. A sentence
whose segments do not add up (context changed a word's pronunciation) has no word truth (None).
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

SR = 16000


@dataclass
class Narration:
    audio: np.ndarray           # float32 mono at SR
    begins: list[float]         # true speech onset of each sentence (s)
    ends: list[float]
    words: list[list[tuple[str, float, float]] | None] | None = None   # per sentence (word, begin, end), s


def flite_available() -> bool:
    return shutil.which("flite") is not None


def _flite(text: str, voice: str, stretch: float) -> np.ndarray:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "s.wav"
        subprocess.run(["flite", "-voice", voice, "--setf", f"duration_stretch={stretch}", "-t", text,
                        "-o", str(out)], check=True, capture_output=True)
        with wave.open(str(out)) as w:
            sr = w.getframerate()
            x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
    return _resample(x, sr)


def _flite_timed(text: str, voice: str, stretch: float) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """flite's speech of ``text`` at SR and its segments: (phone, end time in seconds)."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "s.wav"
        r = subprocess.run(["flite", "-voice", voice, "--setf", f"duration_stretch={stretch}", "-psdur", "-t", text,
                            "-o", str(out)], check=True, capture_output=True, text=True)
        with wave.open(str(out)) as w:
            sr = w.getframerate()
            x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
    segs = []
    for item in r.stdout.split():
        phone, _, end = item.rpartition(":")
        segs.append((phone, float(end)))
    return _resample(x, sr), segs


@lru_cache(maxsize=4096)
def _phone_count(token: str, voice: str) -> int:
    r = subprocess.run(["flite", "-voice", voice, "-ps", "-t", token, "-o", "none"], check=True, capture_output=True,
                       text=True)
    return sum(1 for p in r.stdout.split() if p != "pau")


def flite_words(text: str, voice: str, stretch: float) -> tuple[np.ndarray, list[tuple[str, float, float]] | None]:
    """flite's speech of ``text`` and the span (seconds, in that audio) of every written word, or None when
    the segments cannot be dealt out (see the module's doc)."""
    from pipeline.model.contracts import words_of

    x, segs = _flite_timed(text, voice, stretch)
    tokens = words_of(text)
    counts = [_phone_count(t, voice) for t in tokens]
    phones = [(k, end) for k, (p, end) in enumerate(segs) if p != "pau"]
    if sum(counts) != len(phones):
        return x, None
    out, i = [], 0
    for t, c in zip(tokens, counts):
        if c == 0:
            at = segs[phones[i][0] - 1][1] if i < len(phones) and phones[i][0] > 0 else (phones[i - 1][1] if i else 0.0)
            out.append((t, at, at))
            continue
        first = phones[i][0]
        begin = segs[first - 1][1] if first > 0 else 0.0
        out.append((t, begin, phones[i + c - 1][1]))
        i += c
    return x, out


def _espeak_other(text: str) -> np.ndarray:
    from pipeline.stages.align import Espeak

    tts = Espeak.get(voice="en-us", rate=150, pitch=70)
    x = tts.say(text)
    return _resample(x, tts.sample_rate)


def _resample(x: np.ndarray, sr: int) -> np.ndarray:
    if sr == SR:
        return x
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(sr, SR)
    return resample_poly(x, SR // g, sr // g).astype(np.float32)


def _trim(x: np.ndarray) -> np.ndarray:
    a, b = _trim_bounds(x)
    return x[a:b]


def _trim_bounds(x: np.ndarray) -> tuple[int, int]:
    env = np.convolve(np.abs(x), np.ones(80) / 80, mode="same")
    on = np.flatnonzero(env > 0.02 * env.max())
    return (int(on[0]), int(on[-1]) + 1) if len(on) else (0, len(x))


def make_narration(sentences: list[str], seed: int = 1, voice: str = "slt", stretch: float = 1.0,
                   pause_range: tuple[float, float] = (0.2, 2.0), head: float = 1.0, tail: float = 1.0,
                   noise_db: float = -50.0, gain_db: float = -6.0, intro: np.ndarray | None = None,
                   words: bool = False) -> Narration:
    """``words``: also the exact span of every written word (flite only; see the module's doc)."""
    rng = np.random.default_rng(seed)
    pieces, begins, ends = [], [], []
    word_truth: list[list[tuple[str, float, float]] | None] = []
    pos = 0
    def add(x):
        nonlocal pos
        pieces.append(x)
        pos += len(x)
    add(np.zeros(int(head * SR), np.float32))
    if intro is not None:
        add(intro.astype(np.float32))
        add(np.zeros(int(0.5 * SR), np.float32))
    for i, s in enumerate(sentences):
        if words and flite_available():
            raw, timed = flite_words(s, voice, stretch)
            a, b = _trim_bounds(raw)
            x = raw[a:b]
            word_truth.append(None if timed is None else
                              [(w, pos / SR + min(max(t0 - a / SR, 0.0), len(x) / SR),
                                pos / SR + min(max(t1 - a / SR, 0.0), len(x) / SR)) for w, t0, t1 in timed])
        else:
            x = _trim(_flite(s, voice, stretch) if flite_available() else _espeak_other(s))
            word_truth.append(None)
        x = x / (np.abs(x).max() + 1e-9) * 0.7
        begins.append(pos / SR)
        add(x)
        ends.append(pos / SR)
        if i + 1 < len(sentences):
            add(np.zeros(int(rng.uniform(*pause_range) * SR), np.float32))
    add(np.zeros(int(tail * SR), np.float32))
    audio = np.concatenate(pieces)
    audio = audio * 10 ** (gain_db / 20)
    audio = audio + rng.normal(0, 10 ** (noise_db / 20), len(audio)).astype(np.float32)
    return Narration(audio=audio.astype(np.float32), begins=begins, ends=ends, words=word_truth if words else None)


def write_wav(path: Path, x: np.ndarray, sr: int = SR) -> Path:
    y = np.clip(x * 32767, -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(y.tobytes())
    return path


def boundary_errors(sync_fragments: list[dict], truth_begins: list[float]) -> np.ndarray:
    """Error of every inner boundary: our fragment begin against the true speech onset."""
    ours = np.array([f.begin for f in sync_fragments[1:]])
    return np.abs(ours - np.array(truth_begins[1:]))


def breath_filter() -> tuple[np.ndarray, np.ndarray]:
    """The band (500-4000 Hz) of a breath."""
    from scipy.signal import butter

    return butter(2, [500 / (SR / 2), 4000 / (SR / 2)], btype="band")


def add_breath(gap: np.ndarray, rng: np.random.Generator, level_db: tuple[float, float], ba) -> None:
    """An audible breath (band-passed noise, 0.25-0.45 s, ``level_db`` under full scale x 0.7) in a pause."""
    from scipy.signal import lfilter

    n = int(rng.uniform(0.25, 0.45) * SR)
    breath = lfilter(ba[0], ba[1], rng.standard_normal(n)) * np.hanning(n)
    breath = breath / np.abs(breath).max() * 0.7 * 10 ** (rng.uniform(*level_db) / 20)
    start = int((len(gap) - n) * rng.uniform(0.2, 0.6))
    gap[start:start + n] += breath.astype(np.float32)


def make_varied_narration(sentences: list[str], seed: int = 1, voice: str = "awb") -> Narration:
    """Closer to a person reading: the rate changes from sentence to sentence (0.8-1.3x), half the long
    sentences get a pause inside (at a comma, or halfway), the level of each sentence varies by 6 dB,
    and most longer pauses hold an audible breath (band-passed noise 18-26 dB under the voice)."""
    rng = np.random.default_rng(seed)
    b, a = breath_filter()
    pieces, begins, ends = [np.zeros(SR, np.float32)], [], []
    pos = SR
    for i, s in enumerate(sentences):
        stretch = rng.uniform(0.8, 1.3)
        words = s.split()
        chunks = [s]
        if len(words) > 12 and rng.random() < 0.5:
            cut = next((k + 1 for k, w in enumerate(words[:-3]) if w.endswith(",") and k > 2), len(words) // 2)
            chunks = [" ".join(words[:cut]), " ".join(words[cut:])]
        begins.append(pos / SR)
        for j, chunk in enumerate(chunks):
            x = _trim(_flite(chunk, voice, stretch) if flite_available() else _espeak_other(chunk))
            x = (x / (np.abs(x).max() + 1e-9) * rng.uniform(0.4, 0.8)).astype(np.float32)
            if j:
                gap = np.zeros(int(rng.uniform(0.25, 0.6) * SR), np.float32)
                pieces.append(gap)
                pos += len(gap)
            pieces.append(x)
            pos += len(x)
        ends.append(pos / SR)
        if i + 1 < len(sentences):
            gap_s = rng.uniform(0.3, 1.8)
            gap = np.zeros(int(gap_s * SR), np.float32)
            if gap_s > 0.7 and rng.random() < 0.6:
                add_breath(gap, rng, (-26, -18), (b, a))
            pieces.append(gap)
            pos += len(gap)
    pieces.append(np.zeros(SR, np.float32))
    audio = np.concatenate(pieces) * 10 ** (-8 / 20)
    audio = audio + rng.normal(0, 10 ** (-62 / 20), len(audio))
    return Narration(audio=audio.astype(np.float32), begins=begins, ends=ends)
