"""Narrations with planted deviations (skip, retake, extra, misread) and their exact truth, for the
aligner's deviation bench (bench/deviations.py) and tests.

An item is a narration (16 kHz mono), the TEXT it is aligned against (plain text, one fragment per line,
ids f000001, f000002, ...) and its truth::

    {"fragments": [{"id", "text", "read": bool, "begin", "end"}],
     "deviations": [{"kind", "begin", "end", "fragment", ...}],
     "exact": bool, "duration": s, "source": "flite"|"real"|"demo", "name", ...}

The begin/end of a read fragment is the true speech onset/end of its last complete take. What each
planted deviation is, and its truth:

- skip: a sentence's audio left out (``run`` > 1: 4-10 consecutive sentences, a skipped paragraph; one
  deviation per skipped sentence). begin = end = where it would have been: the onset of the next speech
  (or the end of the last speech when nothing follows); the fragment has read false and begin == end there.
- retake: before sentence k, one or two false starts (its first 30-70 %: flite speaks the first words,
  real speech is cut at a low-energy point) each followed by a pause of 0.3-1.2 s, then the whole
  sentence. begin/end span the false start(s); the fragment is the sentence (timed by its full take).
- extra: speech not in the text (flite: a slate such as "Switchback, take two.", a page number, an
  apology, or a sentence of another part; real speech: an utterance whose line is left out of the TEXT
  while its audio stays) before the first sentence, between two, or after the last. begin/end span it;
  the fragment is the sentence it precedes, or the last sentence when it comes at the end.
- misread: 2-4 consecutive words read differently (flite: the altered sentence is spoken while the TEXT
  keeps the original; real speech: the TEXT line is altered instead). begin/end span the sentence.

Items mix 3-6 deviations of different kinds, at least two unplanted sentences apart; EXACT items have
none. Everything is drawn from RNGs seeded by the item, so the set is deterministic, and ``ensure``
caches each item under ``build/bench-deviations/<source>-<hash of the settings and this file>/<name>/``
(narration.wav, text.txt or the part's Markdown, truth.json).

Real speech plugs in as a list of utterances, ``(audio float32 at SR, transcript)`` in reading order:
``make_real_item(utterances, ...)``; ``real_sets()`` reads them from ``tests/realspeech.py`` when it is there.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata
import wave
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SR = 16000
KINDS = ("skip", "retake", "extra", "misread")
VOICES = ("slt", "awb", "rms", "kal16")
CACHE = ROOT / "build" / "bench-deviations"

# Said on a recording but not in the text ({title}: the part's title).
SLATES = ("{title}, take two.", "{title}, pickup from the top of the page.", "Page forty-two.",
          "Page one hundred and six.", "Sorry, I'll read that again.", "Sorry, let me go back a line.",
          "Chapter three, take one.", "Hang on, I lost my place.")

GENERATOR_VERSION = 1


# ---------------------------------------------------------------------------- items on disk


@dataclass
class Item:
    name: str
    source: str             # flite | real | demo
    audio: Path
    text: Path
    truth: dict

    @property
    def exact(self) -> bool:
        return bool(self.truth.get("exact"))


def write_wav(path: Path, x: np.ndarray, sr: int = SR) -> Path:
    y = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(y.tobytes())
    return path


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        sr, ch = w.getframerate(), w.getnchannels()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
    if ch > 1:
        x = x.reshape(-1, ch).mean(axis=1)
    return resample(x, sr)


def resample(x: np.ndarray, sr: int) -> np.ndarray:
    if sr == SR:
        return x.astype(np.float32)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(sr), SR)
    return resample_poly(x, SR // g, int(sr) // g).astype(np.float32)


def settings_hash(settings: object) -> str:
    """A key for the cache: the settings, the generator's own source and the texts it reads."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    h.update(Path(__file__).read_bytes())
    for p in sorted((ROOT / "texts").glob("*.md")):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()[:12]


def _save(d: Path, audio: np.ndarray, lines: list[str] | None, truth: dict) -> None:
    """Write an item's files into a fresh folder and move it into place in one step."""
    d.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{d.name}-", dir=d.parent))
    try:
        write_wav(tmp / "narration.wav", audio)
        if lines is not None:
            (tmp / "text.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (tmp / "truth.json").write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        try:
            os.rename(tmp, d)
        except OSError:             # made meanwhile by another process: theirs is the same
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _prune(current: Path) -> None:
    """Remove the cached items of older generator settings of the same source (``flite-*`` beside
    ``flite-<key>``): they are never read again."""
    source = current.name.rsplit("-", 1)[0]
    for old in current.parent.glob(f"{source}-*"):
        if old != current and old.is_dir() and old.name.rsplit("-", 1)[0] == source:
            shutil.rmtree(old, ignore_errors=True)


def _load(d: Path, source: str, text: Path | None = None) -> Item:
    truth = json.loads((d / "truth.json").read_text(encoding="utf-8"))
    return Item(name=truth.get("name", d.name), source=source, audio=d / "narration.wav", text=text or d / "text.txt",
                truth=truth)


# ---------------------------------------------------------------------------- speech pieces


@dataclass
class Take:
    """One stretch of speech in the narration: speech from ``on`` to ``off`` (s) inside ``audio``."""
    audio: np.ndarray
    role: str               # sentence | false | extra
    k: int                  # the fragment it belongs to (extra: the fragment it precedes, or the last)
    on: float = 0.0
    off: float = -1.0
    said: str = ""
    misread: bool = False

    def __post_init__(self) -> None:
        if self.off < 0:
            self.off = len(self.audio) / SR


def flite_text(text: str) -> str:
    """Punctuation flite understands (as scripts/make_demo_recordings.py gives it)."""
    t = text.translate(str.maketrans({
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
        "\u2033": '"', "\u00ab": '"', "\u00bb": '"', "\u2026": "...", "\u00a0": " ", "\u202f": " ", "\u2009": " ",
        "\u2011": "-", "\u2212": "-"}))
    t = re.sub(r"\s*\u2014\s*|\s+\u2013\s+", " -- ", t)
    t = t.replace("\u2013", "-")
    t = "".join(c for c in unicodedata.normalize("NFKD", t) if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", t).strip()


def trim(x: np.ndarray, sr: int = SR, db: float = -40.0) -> np.ndarray:
    """From the first to the last 5 ms frame within ``db`` of the loudest (the demo truth's rule)."""
    hop = max(1, sr // 200)
    n = len(x) // hop
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1))
    loud = np.flatnonzero(rms > max(rms.max() * 10 ** (db / 20), 1e-5))
    if not len(loud):
        return x[:0]
    seg = x[loud[0] * hop: (loud[-1] + 1) * hop].astype(np.float32).copy()
    fade = min(len(seg) // 4, max(1, sr // 500))
    ramp = np.linspace(0.0, 1.0, fade, endpoint=False, dtype=np.float32)
    seg[:fade] *= ramp
    seg[len(seg) - fade:] *= ramp[::-1]
    return seg


def flite(text: str, voice: str, stretch: float) -> np.ndarray:
    """``text`` spoken by flite, trimmed to its speech, at SR."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "s.wav"
        subprocess.run(["flite", "-voice", voice, "--setf", f"duration_stretch={stretch:.3f}",
                        "-t", flite_text(text), "-o", str(out)], check=True, capture_output=True)
        with wave.open(str(out)) as w:
            sr = w.getframerate()
            x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
    return trim(resample(trim(x, sr), sr))


def speech_span(x: np.ndarray) -> tuple[float, float]:
    """Onset and end (s) of the speech in a real utterance: 10 ms frames above a threshold between its
    noise floor and its speech level, ignoring blips shorter than 40 ms."""
    hop = SR // 100
    n = len(x) // hop
    if n < 3:
        return 0.0, len(x) / SR
    e = 10 * np.log10(np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1) + 1e-12)
    floor, peak = np.percentile(e, 10), np.percentile(e, 99)
    thr = max(floor + 0.25 * (peak - floor), peak - 40)
    loud = np.convolve((e > thr).astype(float), np.ones(4), mode="same") >= 4   # runs of 40 ms
    idx = np.flatnonzero(loud)
    if not len(idx):
        return 0.0, len(x) / SR
    return max(0, idx[0] - 2) * hop / SR, min(n, idx[-1] + 3) * hop / SR


def low_energy_cut(x: np.ndarray, on: float, off: float, rng: np.random.Generator) -> float:
    """A point of low energy 30-70 % into the speech from ``on`` to ``off`` (s): a false start's end."""
    hop = SR // 100
    a, b = int((on + 0.3 * (off - on)) * SR) // hop, int((on + 0.7 * (off - on)) * SR) // hop
    n = len(x) // hop
    e = np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1)
    e = np.convolve(e, np.ones(5) / 5, mode="same")
    a, b = max(0, min(a, n - 1)), max(1, min(b, n))
    if b <= a + 1:
        return on + 0.5 * (off - on)
    seg = e[a:b]
    # the quietest few frames, one of them at random (not always the very lowest)
    cands = np.argsort(seg)[:max(1, len(seg) // 20)]
    return (a + int(rng.choice(cands))) * hop / SR


_WORD = re.compile(r"^([^\w]*)([A-Za-z][A-Za-z'\u2019]*)([^\w]*)$")


def misread_words(text: str, pool: list[str], rng: np.random.Generator) -> tuple[str, tuple[int, int]] | None:
    """``text`` with 2-4 consecutive plain words replaced by others drawn from ``pool`` (punctuation kept);
    and the word span replaced. None when the sentence has no such run."""
    words = text.split()
    m = int(rng.integers(2, 5))
    ok = [bool(_WORD.match(w)) for w in words]
    starts = [i for i in range(len(words) - m + 1) if all(ok[i:i + m]) and
              sum(len(_WORD.match(w).group(2)) for w in words[i:i + m]) >= 3 * m]
    if not starts:
        return None
    i = int(rng.choice(starts))
    new = list(words)
    for j in range(i, i + m):
        pre, core, post = _WORD.match(words[j]).groups()
        choices = [p for p in pool if p.lower() != core.lower()]
        w = str(rng.choice(choices))
        w = w.capitalize() if core[0].isupper() else w.lower()
        new[j] = pre + w + post
    return " ".join(new), (i, i + m)


def _vocabulary(texts: list[str]) -> list[str]:
    out = set()
    for t in texts:
        for w in t.split():
            m = _WORD.match(w)
            if m and len(m.group(2)) >= 4:
                out.add(m.group(2).lower())
    return sorted(out)


# ---------------------------------------------------------------------------- the plan


@dataclass
class Plan:
    n: int
    extras: dict[int, int] = field(default_factory=dict)       # k (0..n; n = after the last) -> count
    skips: list[tuple[int, int]] = field(default_factory=list)  # (first, count)
    retakes: dict[int, int] = field(default_factory=dict)       # k -> number of false starts
    misreads: list[int] = field(default_factory=list)

    def skipped(self) -> set[int]:
        return {a + i for a, c in self.skips for i in range(c)}


def choose_kinds(n_dev: int, rng: np.random.Generator) -> list[str]:
    """n_dev kinds, as varied as n_dev allows; "run" is a skipped paragraph (at most one per item)."""
    kinds = [str(k) for k in rng.permutation(KINDS)][:n_dev]
    while len(kinds) < n_dev:
        kinds.append(str(rng.choice(KINDS)))
    skips = [i for i, k in enumerate(kinds) if k == "skip"]
    if skips and rng.random() < 0.5:
        kinds[skips[0]] = "run"
    return kinds


class _Spacer:
    """Keeps planted deviations apart: every footprint at least ``gap`` fragments from the others."""

    def __init__(self, n: int, gap: int = 3):
        self.n, self.gap, self.taken = n, gap, []

    def free(self, lo: int, hi: int) -> bool:
        return all(hi + self.gap <= a or b + self.gap <= lo for a, b in self.taken)

    def take(self, lo: int, hi: int) -> None:
        self.taken.append((lo, hi))


def place_extras(n: int, count: int, rng: np.random.Generator, spacer: _Spacer) -> dict[int, int]:
    """Where ``count`` extras go: at most one before the first sentence (k = 0), one after the last
    (k = n), the rest between two sentences."""
    out: dict[int, int] = {}
    for _ in range(count):
        where = rng.choice(["before", "between", "between", "after"])
        cands = {"before": [0], "after": [n]}.get(str(where), list(range(2, n - 1)))
        cands = [k for k in cands if k not in out and spacer.free(max(0, k - 1), min(n, k + 1))]
        if not cands:
            cands = [k for k in range(2, n - 1) if k not in out and spacer.free(k - 1, k + 1)]
        if not cands:
            continue
        k = int(rng.choice(cands))
        spacer.take(max(0, k - 1), min(n, k + 1))
        out[k] = 1
    return out


def place_others(texts: list[str], kinds: list[str], rng: np.random.Generator, spacer: _Spacer, plan: Plan,
                 misread_ok) -> None:
    n = len(texts)
    words = [len(t.split()) for t in texts]
    for kind in sorted(kinds, key=lambda k: k != "run"):        # the long run first, while there is room
        if kind == "run":
            c = int(rng.integers(4, 11))
            cands = [a for a in range(1, n - c) if spacer.free(a, a + c)]
            if cands:
                a = int(rng.choice(cands))
                plan.skips.append((a, c))
                spacer.take(a, a + c)
        elif kind == "skip":
            cands = [k for k in range(1, n - 1) if spacer.free(k, k + 1)]
            if cands:
                k = int(rng.choice(cands))
                plan.skips.append((k, 1))
                spacer.take(k, k + 1)
        elif kind == "retake":
            cands = [k for k in range(0, n) if words[k] >= 6 and spacer.free(k, k + 1)]
            if cands:
                k = int(rng.choice(cands))
                plan.retakes[k] = 2 if rng.random() < 0.2 else 1
                spacer.take(k, k + 1)
        elif kind == "misread":
            cands = [k for k in range(0, n) if words[k] >= 6 and misread_ok(k) and spacer.free(k, k + 1)]
            if cands:
                k = int(rng.choice(cands))
                plan.misreads.append(k)
                spacer.take(k, k + 1)
    plan.skips.sort()
    plan.misreads.sort()


# ---------------------------------------------------------------------------- the narration


@dataclass(frozen=True)
class Style:
    head: tuple[float, float] = (0.5, 2.0)
    tail: tuple[float, float] = (0.5, 2.0)
    pause: tuple[float, float] = (0.3, 1.5)         # between sentences
    retake_pause: tuple[float, float] = (0.3, 1.2)  # after a false start
    level_db: float = 3.0                           # each take's level varies within +-
    breaths: float = 0.0                            # share of pauses over 0.7 s with a breath
    noise_db: float | None = -58.0                  # white noise under it all (dBFS); None: keep as is
    gain_db: float = -8.0


def assemble(takes: list[Take], style: Style, rng: np.random.Generator,
             noise: np.ndarray | None = None) -> tuple[np.ndarray, list[tuple[Take, float, float]]]:
    """Lay the takes end to end with pauses; returns the audio and each take with its true speech span."""
    from tests.narration import add_breath, breath_filter

    b, a = breath_filter()
    pieces = [np.zeros(int(rng.uniform(*style.head) * SR), np.float32)]
    pos = len(pieces[0])
    spans = []
    for i, t in enumerate(takes):
        g = 10 ** (rng.uniform(-style.level_db, style.level_db) / 20)
        pieces.append((t.audio * g).astype(np.float32))
        spans.append((t, (pos + t.on * SR) / SR, (pos + t.off * SR) / SR))
        pos += len(t.audio)
        if i + 1 == len(takes):
            gap = np.zeros(int(rng.uniform(*style.tail) * SR), np.float32)
        else:
            lo_hi = style.retake_pause if t.role == "false" else style.pause
            gap_s = rng.uniform(*lo_hi)
            gap = np.zeros(int(gap_s * SR), np.float32)
            if gap_s > 0.7 and rng.random() < style.breaths:
                add_breath(gap, rng, (-28, -20), (b, a))
        pieces.append(gap)
        pos += len(gap)
    audio = np.concatenate(pieces) * 10 ** (style.gain_db / 20)
    if style.noise_db is not None:
        audio = audio + rng.normal(0, 10 ** (style.noise_db / 20), len(audio))
    if noise is not None:
        audio = audio + np.resize(noise, len(audio))
    return audio.astype(np.float32), spans


def truth_of(name: str, source: str, lines: list[str], spans: list[tuple[Take, float, float]], duration: float,
             plan: Plan, meta: dict) -> dict:
    """The exact truth of a narration built from ``spans`` (takes with their speech spans) under ``plan``."""
    n = len(lines)
    ids = [f"f{i:06d}" for i in range(1, n + 1)]
    last: dict[int, tuple[float, float]] = {}
    for t, b, e in spans:
        if t.role == "sentence":
            last[t.k] = (b, e)          # the last complete take
    frags = []
    skipped = plan.skipped()
    for k in range(n):
        if k in last:
            frags.append({"id": ids[k], "text": lines[k], "read": True, "begin": round(last[k][0], 4),
                          "end": round(last[k][1], 4)})
            continue
        assert k in skipped, (name, k)
        # where it would have been: the onset of the next speech that belongs to a later fragment (or the
        # end of the speech before it, when nothing follows)
        nxt = [b for t, b, e in spans if t.k > k]
        at = min(nxt) if nxt else max((e for t, b, e in spans), default=0.0)
        frags.append({"id": ids[k], "text": lines[k], "read": False, "begin": round(at, 4), "end": round(at, 4)})
    devs = []
    for a, c in plan.skips:
        for k in range(a, a + c):
            d = {"kind": "skip", "begin": frags[k]["begin"], "end": frags[k]["end"], "fragment": ids[k],
                 "text": lines[k]}
            if c > 1:
                d["run"] = [ids[a], ids[a + c - 1]]
            devs.append(d)
    falses: dict[int, list[tuple[float, float, str]]] = {}
    for t, b, e in spans:
        if t.role == "false":
            falses.setdefault(t.k, []).append((b, e, t.said))
        elif t.role == "extra":
            devs.append({"kind": "extra", "begin": round(b, 4), "end": round(e, 4), "fragment": ids[t.k],
                         "text": t.said})
        elif t.misread:
            devs.append({"kind": "misread", "begin": round(b, 4), "end": round(e, 4), "fragment": ids[t.k],
                         "text": t.said})
    for k, fs in falses.items():
        devs.append({"kind": "retake", "begin": round(fs[0][0], 4), "end": round(fs[-1][1], 4),
                     "fragment": ids[k], "text": " / ".join(s for _, _, s in fs), "takes": len(fs) + 1})
    devs.sort(key=lambda d: (d["begin"], d["fragment"]))
    return {"name": name, "source": source, "exact": not devs, "duration": round(duration, 4),
            "fragments": frags, "deviations": devs, **meta}


def _kinds_for(n_dev: int, rng: np.random.Generator) -> list[str]:
    return choose_kinds(n_dev, rng) if n_dev else []


# ---------------------------------------------------------------------------- flite items


@dataclass(frozen=True)
class FliteSpec:
    name: str
    seed: int
    part: str               # the part whose sentences are read
    n: int                  # how many sentences (30-60)
    n_dev: int              # 0: an EXACT item
    voice: str
    stretch: float
    breaths: float = 0.0
    inner_pauses: float = 0.0   # share of long sentences read with a pause inside


def make_flite_item(spec: FliteSpec) -> tuple[np.ndarray, list[str], dict]:
    from pipeline.model.sources import load_book

    book = load_book(ROOT / "texts")
    parts = {p.id: p for p in book.parts}
    rng = np.random.default_rng(spec.seed)
    part = parts[spec.part]
    allsents = [s.text for s in part.sentences()]
    n = min(spec.n, len(allsents))
    start = int(rng.integers(0, len(allsents) - n + 1))
    texts = allsents[start:start + n]
    others = [s.text for p in book.parts if p.id != part.id for s in p.sentences() if len(s.text.split()) >= 6]
    vocab = _vocabulary([s.text for p in book.parts if p.id != part.id for s in p.sentences()])

    kinds = _kinds_for(spec.n_dev, rng)
    plan = Plan(n)
    spacer = _Spacer(n)
    plan.extras = place_extras(n, kinds.count("extra"), rng, spacer)
    mis: dict[int, tuple[str, tuple[int, int]]] = {}

    def misread_ok(k: int) -> bool:
        if k not in mis:
            r = misread_words(texts[k], vocab, np.random.default_rng([spec.seed, k]))
            if r is None:
                return False
            mis[k] = r
        return True

    place_others(texts, [k for k in kinds if k != "extra"], rng, spacer, plan, misread_ok)

    def stretch() -> float:
        return spec.stretch * rng.uniform(0.92, 1.08)

    def sentence(k: int, text: str) -> np.ndarray:
        st = stretch()
        words = text.split()
        if len(words) > 14 and rng.random() < spec.inner_pauses:
            cut = next((i + 1 for i, w in enumerate(words[:-3]) if w.endswith(",") and i > 2), len(words) // 2)
            a, b = flite(" ".join(words[:cut]), spec.voice, st), flite(" ".join(words[cut:]), spec.voice, st)
            return np.concatenate([a, np.zeros(int(rng.uniform(0.25, 0.6) * SR), np.float32), b])
        return flite(text, spec.voice, st)

    def norm(x: np.ndarray) -> np.ndarray:
        return (x / (np.abs(x).max() + 1e-9) * 0.7).astype(np.float32)

    takes: list[Take] = []
    skipped = plan.skipped()
    for k in range(n + 1):
        if k in plan.extras:
            if rng.random() < 0.6:
                said = str(rng.choice(SLATES)).format(title=part.title)
            else:
                said = str(rng.choice(others))
            takes.append(Take(norm(flite(said, spec.voice, stretch())), "extra", min(k, n - 1), said=said))
        if k == n:
            break
        if k in skipped:
            continue
        words = texts[k].split()
        for _ in range(plan.retakes.get(k, 0)):
            m = min(len(words) - 1, max(2, int(round(len(words) * rng.uniform(0.3, 0.7)))))
            said = " ".join(words[:m]).rstrip(",;:")
            takes.append(Take(norm(flite(said, spec.voice, stretch())), "false", k, said=said))
        if k in plan.misreads:
            said = mis[k][0]
            takes.append(Take(norm(sentence(k, said)), "sentence", k, said=said, misread=True))
        else:
            takes.append(Take(norm(sentence(k, texts[k])), "sentence", k))
    style = Style(breaths=spec.breaths, noise_db=float(rng.uniform(-64, -52)), gain_db=float(rng.uniform(-16, -6)),
                  pause=(0.3, float(rng.uniform(1.0, 1.8))))
    audio, spans = assemble(takes, style, rng)
    truth = truth_of(spec.name, "flite", texts, spans, len(audio) / SR, plan,
                     {"voice": spec.voice, "part": part.id, "first_sentence": start, "seed": spec.seed})
    return audio, texts, truth


def flite_specs(items: int = 24, exact: int = 6, seed: int = 2026) -> list[FliteSpec]:
    """The flite set: ``items`` with 3-6 deviations and ``exact`` without, across voices and parts."""
    from pipeline.model.sources import load_book

    parts = [p.id for p in load_book(ROOT / "texts").parts]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(items + exact):
        dev = i < items
        out.append(FliteSpec(
            name=f"flite-{i + 1:02d}" + ("" if dev else "-exact"), seed=seed * 1000 + i,
            part=parts[(i * 4 + 1) % len(parts)], n=int(rng.integers(30, 61)),
            n_dev=int(rng.integers(3, 7)) if dev else 0, voice=VOICES[i % len(VOICES)],
            stretch=round(float(rng.uniform(0.85, 1.15)), 3), breaths=float(rng.choice([0.0, 0.6])),
            inner_pauses=float(rng.choice([0.0, 0.4]))))
    return out


def _folder(spec) -> str:
    """An item's folder in its source's cache: its name and a hash of its own settings."""
    return f"{spec.name}-{hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode()).hexdigest()[:8]}"


def flite_cache(cache: Path = CACHE) -> Path:
    """The flite items' folder: keyed by the generator (this file, the texts, flite's version)."""
    return cache / f"flite-{settings_hash({'v': GENERATOR_VERSION, 'flite_version': _flite_version()})}"


def ensure_flite(specs: list[FliteSpec], jobs: int = 2, cache: Path = CACHE) -> list[Item]:
    """The flite items, generated into the cache (in ``jobs`` processes) when not there yet."""
    d = flite_cache(cache)
    todo = [s for s in specs if not (d / _folder(s) / "truth.json").exists()]
    if todo:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
            list(pool.map(_make_flite_into, [d] * len(todo), todo))
        _prune(d)
    return [_load(d / _folder(s), "flite") for s in specs]


def _make_flite_into(d: Path, spec: FliteSpec) -> None:
    audio, lines, truth = make_flite_item(spec)
    _save(d / _folder(spec), audio, lines, truth)


def _flite_version() -> str:
    try:
        return subprocess.run(["flite", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "none"


# ---------------------------------------------------------------------------- real speech


Utterance = tuple  # (audio: float32 array at SR, transcript: str)


def make_real_item(name: str, utterances: list[Utterance], seed: int, n_dev: int,
                   style: Style | None = None, vocab: list[str] | None = None,
                   meta: dict | None = None) -> tuple[np.ndarray, list[str], dict]:
    """A reading of real utterances (in order, one line each) with ``n_dev`` planted deviations.

    An extra is an utterance whose line is left out of the TEXT while its audio stays (in its place);
    a misread alters 2-4 words of a TEXT line while the audio stays as spoken; a retake's false start is
    the utterance cut at a low-energy point 30-70 % into its speech. Each utterance is trimmed to its
    speech with 0.12 s of its own room tone either side; the pauses hold noise at the utterances' floor.
    """
    rng = np.random.default_rng(seed)
    kinds = _kinds_for(n_dev, rng)
    n_extra = kinds.count("extra")
    n = len(utterances) - n_extra
    if n < 8:
        raise ValueError(f"{name}: {len(utterances)} utterances are too few")
    plan = Plan(n)
    spacer = _Spacer(n)
    plan.extras = place_extras(n, n_extra, rng, spacer)
    # utterances in order: an extra takes the next utterance before its fragment
    stream = iter(range(len(utterances)))
    order: list[tuple[str, int, int]] = []          # (role, fragment, utterance)
    for k in range(n + 1):
        for _ in range(plan.extras.get(k, 0)):
            order.append(("extra", min(k, n - 1), next(stream)))
        if k < n:
            order.append(("sentence", k, next(stream)))
    unused = list(stream)        # extras that found no place: their audio is simply not used
    texts = [" ".join(utterances[u][1].split()) for role, k, u in order if role == "sentence"]
    vocab = vocab or _vocabulary([t for _, t in utterances])
    mis: dict[int, tuple[str, tuple[int, int]]] = {}

    def misread_ok(k: int) -> bool:
        if k not in mis:
            r = misread_words(texts[k], vocab, np.random.default_rng([seed, k]))
            if r is None:
                return False
            mis[k] = r
        return True

    place_others(texts, [k for k in kinds if k != "extra"], rng, spacer, plan, misread_ok)
    lines = list(texts)
    for k in plan.misreads:
        lines[k] = mis[k][0]            # the TEXT is altered; the audio stays as read

    pad = int(0.12 * SR)
    floors = []

    def piece(u: int) -> tuple[np.ndarray, float, float]:
        x = np.asarray(utterances[u][0], np.float32)
        on, off = speech_span(x)
        a, b = max(0, int(on * SR) - pad), min(len(x), int(off * SR) + pad)
        seg = x[a:b].copy()
        quiet = np.concatenate([x[:max(0, int(on * SR) - 800)], x[int(off * SR) + 800:]])
        if len(quiet) > SR // 20:
            floors.append(float(np.sqrt(np.mean(quiet.astype(np.float64) ** 2))))
        f = min(len(seg) // 4, int(0.01 * SR))
        ramp = np.linspace(0, 1, f, endpoint=False, dtype=np.float32)
        seg[:f] *= ramp
        seg[len(seg) - f:] *= ramp[::-1]
        return seg, on - a / SR, off - a / SR

    takes: list[Take] = []
    skipped = plan.skipped()
    for role, k, u in order:
        seg, on, off = piece(u)
        if role == "extra":
            takes.append(Take(seg, "extra", k, on, off, said=utterances[u][1]))
            continue
        if k in skipped:
            continue
        for _ in range(plan.retakes.get(k, 0)):
            cut = low_energy_cut(seg, on, off, rng)
            f = seg[: int(cut * SR)].copy()
            fl = min(len(f) // 4, int(0.02 * SR))
            f[len(f) - fl:] *= np.linspace(1, 0, fl, dtype=np.float32)
            frac = (cut - on) / max(1e-6, off - on)
            words = texts[k].split()
            said = " ".join(words[:max(1, int(round(len(words) * frac)))]) + " ..."
            takes.append(Take(f, "false", k, on, cut, said=said))
        takes.append(Take(seg, "sentence", k, on, off, said=texts[k] if k in plan.misreads else "",
                          misread=k in plan.misreads))
    floor = float(np.median(floors)) if floors else 10 ** (-60 / 20)
    style = style or Style(level_db=0.0, gain_db=0.0, noise_db=None, pause=(0.3, 1.3))
    audio, spans = assemble(takes, style, rng, noise=rng.normal(0, floor, SR * 10).astype(np.float32))
    truth = truth_of(name, "real", lines, spans, len(audio) / SR, plan,
                     {"seed": seed, "unused_utterances": len(unused), **(meta or {})})
    for k in plan.misreads:
        truth["fragments"][k]["said"] = texts[k]
    return audio, lines, truth


def real_sets() -> dict[str, list[Utterance]]:
    """Real speech from tests/realspeech.py when it is there: {set name: [(audio at SR, transcript)]}
    in reading order; {} when it is not (or has nothing)."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        import realspeech  # noqa: F401
    except ImportError:
        return {}
    sets = realspeech.load_sets()
    return {name: [_as_utterance(u) for u in _utterances_of(s)] for name, s in _named(sets)}


def _named(sets) -> list:
    if isinstance(sets, dict):
        return list(sets.items())
    return [(getattr(s, "name", f"set{i + 1}"), s) for i, s in enumerate(sets)]


def _utterances_of(s) -> list:
    for attr in ("utterances", "items"):
        if hasattr(s, attr):
            return list(getattr(s, attr))
    return list(s)


def _as_utterance(u) -> Utterance:
    """(audio, text) from a tuple, or an object with audio/text (or a path to an audio file)."""
    if isinstance(u, (tuple, list)):
        audio, text = u[0], u[1]
        sr = u[2] if len(u) > 2 else SR
    else:
        audio = next(getattr(u, a) for a in ("audio", "samples", "path", "wav") if hasattr(u, a))
        text = next(getattr(u, a) for a in ("text", "transcript", "sentence") if hasattr(u, a))
        sr = getattr(u, "sr", getattr(u, "sample_rate", SR))
    if isinstance(audio, (str, Path)):
        audio = decode(Path(audio))
        sr = SR
    return resample(np.asarray(audio, np.float32), int(sr)), str(text)


@dataclass(frozen=True)
class RealSpec:
    name: str
    set: str
    first: int              # first utterance of the set read
    count: int              # utterances read (lines of the text plus the extras)
    seed: int
    n_dev: int


def real_specs(sets: dict[str, list[Utterance]], per_set: int = 4, exact_per_set: int = 1,
               seed: int = 3031) -> list[RealSpec]:
    """Items over each real set: consecutive runs of 30-60 utterances (fewer when the set is small)."""
    rng = np.random.default_rng(seed)
    out = []
    for si, (name, utts) in enumerate(sorted(sets.items())):
        total = per_set + exact_per_set
        if len(utts) < 12:
            continue
        for i in range(total):
            count = int(min(len(utts), rng.integers(30, 61)))
            first = int(rng.integers(0, len(utts) - count + 1))
            dev = i < per_set
            out.append(RealSpec(name=f"real-{_slug(name)}-{i + 1:02d}" + ("" if dev else "-exact"), set=name,
                                first=first, count=count, seed=seed * 1000 + si * 50 + i,
                                n_dev=int(rng.integers(3, 7)) if dev else 0))
    return out


def ensure_real(specs: list[RealSpec], sets: dict[str, list[Utterance]], cache: Path = CACHE) -> list[Item]:
    d = real_cache(sets, cache)
    out = []
    if any(not (d / _folder(s) / "truth.json").exists() for s in specs):
        _prune(d)
    for s in specs:
        if not (d / _folder(s) / "truth.json").exists():
            utts = sets[s.set][s.first:s.first + s.count]
            audio, lines, truth = make_real_item(s.name, utts, s.seed, s.n_dev,
                                                 meta={"set": s.set, "first_utterance": s.first})
            _save(d / _folder(s), audio, lines, truth)
        out.append(_load(d / _folder(s), "real"))
    return out


def real_cache(sets: dict[str, list[Utterance]], cache: Path = CACHE) -> Path:
    """The real items' folder: keyed by the generator and the utterances (lengths and transcripts)."""
    h = hashlib.sha256()
    for name, utts in sorted(sets.items()):
        h.update(name.encode())
        for a, t in utts:
            h.update(f"{len(a)}:{float(np.sum(np.abs(a[::97]))):.4f}:{t}".encode())
    return cache / f"real-{settings_hash({'v': GENERATOR_VERSION, 'data': h.hexdigest()})}"


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-") or "set"


# ---------------------------------------------------------------------------- the demo recordings


def decode(path: Path) -> np.ndarray:
    from pipeline.system.ffmpeg import ffmpeg_exe

    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(SR), "-f", "s16le",
                          "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, "<i2").astype(np.float32) / 32768


def ensure_demo(ids: list[str] | None = None, cache: Path = CACHE) -> list[Item]:
    """The demo narrations in recordings/ as EXACT items: decoded to 16 kHz mono and levelled as
    bench/align.py does (the master stage's job), aligned against the part's Markdown; truth from
    bench/truth/ID.json."""
    from pipeline.model.sources import load_book

    book = load_book(ROOT / "texts", ROOT / "recordings")
    h = hashlib.sha256()
    for p in book.narrated_parts:       # all of them: the quick subset shares the full set's folder
        h.update(p.id.encode() + p.recording.read_bytes() + (ROOT / "bench" / "truth" / f"{p.id}.json").read_bytes())
    d = cache / f"demo-{settings_hash({'v': GENERATOR_VERSION, 'demo': h.hexdigest()})}"
    parts = [p for p in book.narrated_parts if ids is None or p.id in ids]
    out = []
    if any(not (d / p.id / "truth.json").exists() for p in parts):
        _prune(d)
    for p in parts:
        item = d / p.id
        if not (item / "truth.json").exists():
            t = json.loads((ROOT / "bench" / "truth" / f"{p.id}.json").read_text())
            sents = p.sentences()
            if [f["id"] for f in t["fragments"]] != [s.id for s in sents]:
                raise SystemExit(f"bench/truth/{p.id}.json is stale: run `make demo-recordings`")
            x = decode(p.recording)
            rms = np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-9
            x = np.clip(x * (3000.0 / 32768 / rms), -1, 32767 / 32768)
            truth = {"name": p.id, "source": "demo", "exact": True, "duration": round(len(x) / SR, 4),
                     "fragments": [{"id": f["id"], "text": s.text, "read": True, "begin": f["begin"], "end": f["end"]}
                                   for f, s in zip(t["fragments"], sents)],
                     "deviations": [], "part": p.id}
            _save(item, x, None, truth)
        out.append(_load(item, "demo", text=p.source))
    return out
