"""Real human read speech for the aligner's tests: the sets in tests/data/realspeech/.

Each set is a folder with ``SET.json`` (source, licence, language, speaker and the utterances in reading
order) and one Opus file per utterance (16 kHz mono). ``load_sets()`` reads them; ``make_reading()``
splices a run of utterances into one narration, keeping each file whole (its own head and tail of room
sound) and putting a pause of a chosen length between them, and returns the true speech onset and end
of every utterance in it, like ``narration.make_narration`` does for synthetic speech.

The true onset of an utterance is the start of the first 10 ms frame whose RMS is within 30 dB of the
utterance's loudest frame; its end is the end of the last such frame.
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

SR = 16000
DATA = Path(__file__).resolve().parent / "data" / "realspeech"
FRAME = 0.01          # s, the energy detector's frame
WITHIN_DB = 30.0      # a frame is speech when its RMS is within this of the utterance's loudest


@dataclass(frozen=True)
class Word:
    w: str
    begin: float        # s, in the utterance's own file
    end: float


@dataclass(frozen=True)
class Utterance:
    id: str
    path: Path          # the Opus file (decode() gives float32 mono at SR)
    text: str           # what was read (LibriVox/LibriSpeech style sets may be lower case, unpunctuated)
    duration: float     # s, as decoded when the set was made
    words: tuple[Word, ...] | None = None
    text_book: str | None = None   # the book's spelling when it differs from what was read (numbers)


@dataclass(frozen=True)
class RealSet:
    name: str
    language: str       # BCP 47
    speaker: dict
    source: dict
    folder: Path
    utterances: tuple[Utterance, ...]
    info: dict = field(default_factory=dict, compare=False, repr=False)   # the rest of SET.json

    @property
    def duration(self) -> float:
        return sum(u.duration for u in self.utterances)

    def __len__(self) -> int:
        return len(self.utterances)


@dataclass
class Reading:
    """A spliced narration with its truth, in the style of narration.Narration."""
    audio: np.ndarray               # float32 mono at SR
    begins: list[float]             # true speech onset of each utterance (s)
    ends: list[float]               # true speech end of each utterance (s)
    texts: list[str]
    ids: list[str]
    starts: list[float]             # where each utterance's file starts in the reading (s)
    words: list[list[Word]] | None  # per utterance, shifted into the reading; None when the set has none


def load_sets(language: str | None = None, root: Path = DATA) -> list[RealSet]:
    """Every set under ``root``, sorted by name; ``language`` keeps those whose BCP 47 tag is it or starts
    with it and a hyphen ("en" keeps "en" and "en-US")."""
    out = []
    for meta in sorted(root.glob("*/SET.json")):
        d = json.loads(meta.read_text(encoding="utf-8"))
        lang = d["language"]
        if language and not (lang.lower() == language.lower() or lang.lower().startswith(language.lower() + "-")):
            continue
        utts = []
        for u in d["utterances"]:
            words = None
            if u.get("words"):
                words = tuple(Word(w["w"], float(w["begin"]), float(w["end"])) for w in u["words"])
            utts.append(Utterance(id=u.get("id", Path(u["file"]).stem), path=meta.parent / u["file"],
                                  text=u["text"], duration=float(u["duration"]), words=words,
                                  text_book=u.get("text_book")))
        rest = {k: v for k, v in d.items() if k not in ("name", "language", "speaker", "source", "utterances")}
        out.append(RealSet(name=d.get("name", meta.parent.name), language=lang, speaker=d.get("speaker", {}),
                           source=d.get("source", {}), folder=meta.parent, utterances=tuple(utts), info=rest))
    return out


def _ffmpeg() -> str:
    try:
        from pipeline.system.ffmpeg import ffmpeg_exe
    except ImportError:  # run from outside the project root
        import sys
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from pipeline.system.ffmpeg import ffmpeg_exe
    return ffmpeg_exe()


@lru_cache(maxsize=512)
def _decode(path: str, sr: int) -> np.ndarray:
    r = subprocess.run([_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", path,
                        "-f", "f32le", "-ac", "1", "-ar", str(sr), "-"], capture_output=True, check=True)
    x = np.frombuffer(r.stdout, dtype="<f4").astype(np.float32)
    x.setflags(write=False)
    return x


def decode(path: Path | str, sr: int = SR) -> np.ndarray:
    """The file as float32 mono at ``sr`` (decoded by the project's ffmpeg; cached, read-only)."""
    return _decode(str(path), sr)


def speech_span(x: np.ndarray, sr: int = SR, frame: float = FRAME, within_db: float = WITHIN_DB) -> tuple[float, float]:
    """(onset, end) of the speech in ``x``: the start of the first and the end of the last ``frame``-long
    frame whose RMS is within ``within_db`` of the loudest frame's."""
    n = int(round(frame * sr))
    k = len(x) // n
    if k == 0:
        return 0.0, len(x) / sr
    rms = np.sqrt(np.mean(np.square(x[:k * n].reshape(k, n), dtype=np.float64), axis=1))
    on = np.flatnonzero(rms >= rms.max() * 10 ** (-within_db / 20))
    return on[0] * n / sr, (on[-1] + 1) * n / sr


def utterance_span(u: Utterance) -> tuple[float, float]:
    return speech_span(decode(u.path))


def make_reading(s: RealSet, first: int = 0, count: int | None = None, pause: float | tuple[float, float] = 0.6,
                 seed: int = 1, head: float = 0.5, tail: float = 0.5, noise_db: float | None = None,
                 utterances: list[Utterance] | None = None) -> Reading:
    """Splices utterances ``first .. first+count`` of ``s`` (or the given ``utterances``) in order.

    Each file is kept whole; ``pause`` seconds of silence go between two files (a (low, high) pair draws
    each pause uniformly, from ``seed``), ``head`` before the first and ``tail`` after the last. With
    ``noise_db`` (dBFS) Gaussian noise at that RMS is added to the whole reading, so the pauses are not
    digital silence. The truth is each utterance's speech span (speech_span) moved to where its file sits.
    """
    utts = list(utterances) if utterances is not None else list(s.utterances[first:None if count is None else first + count])
    rng = np.random.default_rng(seed)
    pieces = [np.zeros(int(round(head * SR)), np.float32)]
    pos = len(pieces[0])
    begins, ends, starts, words = [], [], [], []
    for i, u in enumerate(utts):
        x = decode(u.path)
        on, off = speech_span(x)
        t0 = pos / SR
        starts.append(t0)
        begins.append(t0 + on)
        ends.append(t0 + off)
        words.append([Word(w.w, t0 + w.begin, t0 + w.end) for w in u.words] if u.words else None)
        pieces.append(x)
        pos += len(x)
        if i + 1 < len(utts):
            gap = pause if isinstance(pause, (int, float)) else rng.uniform(*pause)
            pieces.append(np.zeros(int(round(gap * SR)), np.float32))
            pos += len(pieces[-1])
    pieces.append(np.zeros(int(round(tail * SR)), np.float32))
    audio = np.concatenate(pieces).astype(np.float32)
    if noise_db is not None:
        audio = (audio + rng.normal(0, 10 ** (noise_db / 20), len(audio))).astype(np.float32)
    has_words = bool(utts) and all(w is not None for w in words)
    return Reading(audio=audio, begins=begins, ends=ends, texts=[u.text for u in utts], ids=[u.id for u in utts],
                   starts=starts, words=words if has_words else None)


def text_file(texts: list[str]) -> str:
    """The aligner's TEXT input for a reading: one fragment per line."""
    return "".join(t.strip() + "\n" for t in texts)
