#!/usr/bin/env python3
"""Make the synthetic demo narrations in recordings/ (stand-ins for human recordings) and their ground truth.

usage: python3 scripts/make_demo_recordings.py [--only ID ...] [--texts texts] [--out recordings]
                                               [--truth bench/truth]

One narration per narrated part of the book, read with flite (never espeak: the aligner uses espeak-ng as its
reference voice, so the narrations must come from a different engine). Each sentence (title, subtitle,
headings, body sentences, list items) is synthesised on its own, its leading and trailing silence trimmed,
and the sentences are joined with pauses drawn from an RNG seeded by the part id, so the output is
deterministic. Each part has its own voice, speed, format, sample rate, channels, loudness and head/tail
silence (``STYLES`` below), so that the files are as varied as real recordings.

Writes ``recordings/ID.EXT`` and the exact ground truth ``bench/truth/ID.json``:
``{"part": ID, "recording": "recordings/ID.EXT", "fragments": [{"id", "begin", "end"}]}`` with the speech
onset and offset of every sentence in the recording's own timeline (head silence included), in seconds.
Only the files it writes are touched; every write is atomic (temporary file beside the target, then
``os.replace``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d
from scipy.signal import lfilter, resample_poly

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.model.problems import InputError  # noqa: E402
from pipeline.model.sources import Part, load_book  # noqa: E402
from pipeline.system.fsutil import atomic_path, atomic_write_text  # noqa: E402

# ---------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Style:
    """How one part's narration is voiced, levelled and delivered."""
    fmt: str                # mp3 | ogg (Vorbis) | opus | m4a (AAC)
    rate: int               # output sample rate (Opus is always 48000)
    channels: int           # 1 or 2 (stereo: right channel delayed and quieter, never identical)
    kbps: int               # audio bitrate
    voice: str              # flite voice
    stretch: float          # flite duration_stretch (>1 is slower)
    lufs: float             # integrated loudness target, ebur128 with dualmono=true
    head: float             # seconds of room tone before the first word
    tail: float             # seconds of room tone after the last word
    noise: str = ""         # "" | "pink" (-45 dBFS pink noise) | "hum" (-50 dBFS mains hum)
    delay: int = 4          # stereo only: right-channel delay in samples


# One row per part (the eleven parts of the book). Bitrates are low on purpose: flite reads at about 150 words
# a minute, so the eleven parts run to about 85 minutes and must fit in 15 MB together (about 20 kbps on
# average). MP3 cannot go below 24 kbps at 22050 Hz or 32 kbps at 44100 Hz, Vorbis below about 20 kbps
# (22050 Hz mono; 32 kbps at 44100 Hz), so Opus and AAC carry the lowest rates. Stereo Opus gets 32 kbps:
# below that libopus codes the two channels as one and the small differences between them are lost.
STYLES: dict[str, Style] = {
    "introduction":             Style("mp3",  22050, 1, 24, "slt",   0.92, -16.0, 1.5, 2.5),
    "grapevine":                Style("opus", 48000, 2, 32, "awb",   0.93, -23.0, 2.0, 1.2, delay=3),
    "gateshead-bridgebuilders": Style("m4a",  44100, 1, 18, "rms",   0.94, -19.0, 1.0, 3.0),
    "switchback":               Style("ogg",  22050, 1, 20, "kal16", 1.00, -27.0, 3.5, 1.5),
    "xenia":                    Style("opus", 48000, 1, 14, "rms",   0.92, -14.0, 1.2, 2.0, noise="pink"),
    "poppys":                   Style("mp3",  22050, 2, 24, "awb",   0.96, -18.0, 2.5, 3.5, delay=5),
    "maia":                     Style("m4a",  22050, 2, 24, "slt",   1.04, -30.0, 1.8, 1.0, delay=6),
    "community-groups":         Style("ogg",  22050, 1, 20, "awb",   0.95, -21.0, 1.0, 4.0, noise="hum"),
    "barking-dagenham":         Style("mp3",  44100, 1, 32, "kal16", 1.15, -12.0, 4.0, 2.2),
    "nhs-palliative-care":      Style("opus", 48000, 1, 14, "slt",   0.90, -25.0, 2.2, 1.6),
    "summary":                  Style("m4a",  48000, 1, 18, "rms",   0.97, -17.0, 1.4, 2.8),
}

# Parts not in the table (a renamed or new part) get one of these, chosen from a hash of the id.
FALLBACK_STYLES: tuple[Style, ...] = (
    Style("ogg",  22050, 1, 20, "slt",   1.02, -20.0, 1.6, 2.0),
    Style("opus", 48000, 1, 16, "awb",   0.96, -15.0, 2.4, 1.3),
    Style("m4a",  44100, 1, 20, "kal16", 1.08, -26.0, 1.2, 3.2),
    Style("mp3",  22050, 1, 24, "rms",   0.94, -22.0, 3.0, 1.8),
)

FORMATS: dict[str, tuple[str, list[str]]] = {   # extension, ffmpeg encoder options ({kbps} filled in)
    "mp3":  (".mp3",  ["-c:a", "libmp3lame", "-b:a", "{kbps}k"]),
    "ogg":  (".ogg",  ["-c:a", "libvorbis", "-b:a", "{kbps}k", "-maxrate", "{kbps}k"]),   # managed: holds the rate
    "opus": (".opus", ["-c:a", "libopus", "-b:a", "{kbps}k", "-application", "voip"]),
    "m4a":  (".m4a",  ["-c:a", "aac", "-b:a", "{kbps}k", "-movflags", "+faststart"]),
}
FORMAT_NAMES = {"mp3": "MP3", "ogg": "Vorbis", "opus": "Opus", "m4a": "AAC"}

PAUSE_SENTENCE = (0.25, 0.9)    # between sentences of one paragraph
PAUSE_BLOCK = (0.5, 1.2)        # between paragraphs, quotes and list items
PAUSE_HEADING = (0.8, 1.6)      # before and after the title, subtitle and headings
TRIM_DB = -40.0                 # a sentence's speech starts/ends where 5 ms frames rise above peak - 40 dB
CEILING_DBFS = -1.5             # sample peak ceiling of the soft limiter
LUFS_TOLERANCE = 0.3            # re-encode (at most twice) if the delivered file misses its target by more


class Failure(Exception):
    """A problem to report in one line (exit 1), not a traceback."""


def style_for(part_id: str) -> Style:
    if part_id in STYLES:
        return STYLES[part_id]
    return FALLBACK_STYLES[_seed(part_id) % len(FALLBACK_STYLES)]


def _seed(part_id: str) -> int:
    return int.from_bytes(hashlib.sha256(part_id.encode("utf-8")).digest()[:8], "big")


# ---------------------------------------------------------------------------- the script of a part


@dataclass(frozen=True)
class Line:
    id: str
    text: str
    heading: bool       # title, subtitle, section heading or sub-heading: long pauses around it
    new_block: bool     # first sentence of a paragraph, quote or list item


def script_of(part: Part) -> list[Line]:
    """Every sentence the narrator reads, in reading order, with what it is."""
    headings = {s.heading.id for s in part.sections}
    if part.subtitle_sentence is not None:
        headings.add(part.subtitle_sentence.id)
    starts: set[str] = set()
    for sec in part.sections:
        for block in sec.blocks:
            if block.kind == "subheading":
                headings.update(s.id for s in block.sentences)
            for item in block.items:
                if item:
                    starts.add(item[0].id)
    return [Line(s.id, s.text, s.id in headings, s.id in starts) for s in part.sentences()]


_FLITE_CHARS = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u2033": '"', "\u00ab": '"', "\u00bb": '"', "\u2026": "...", "\u00a0": " ", "\u202f": " ", "\u2009": " ",
    "\u2011": "-", "\u2212": "-",
})


def flite_text(text: str) -> str:
    """Punctuation flite understands; the words, numbers and symbols stay as written."""
    t = text.translate(_FLITE_CHARS)
    t = re.sub(r"\s*\u2014\s*|\s+\u2013\s+", " -- ", t)     # a dash between words: a short pause
    t = t.replace("\u2013", "-")                             # a range: 2010-2015
    t = "".join(c for c in unicodedata.normalize("NFKD", t) if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", t).strip()


# ---------------------------------------------------------------------------- synthesis


def synthesise(lines: list[Line], style: Style, work: Path) -> tuple[int, list[np.ndarray]]:
    """flite each sentence to a WAV; return the sample rate and each sentence's trimmed speech (float32)."""
    def one(i: int) -> tuple[int, np.ndarray]:
        wav = work / f"s{i:04d}.wav"
        cmd = ["flite", "-voice", style.voice, "--setf", f"duration_stretch={style.stretch}",
               "-t", flite_text(lines[i].text), "-o", str(wav)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0 or not wav.exists():
            raise Failure(f"flite failed on {lines[i].id} (voice {style.voice}): "
                          f"{(r.stderr or r.stdout).strip() or 'exit ' + str(r.returncode)}")
        with wave.open(str(wav)) as w:
            rate, n, width, ch = w.getframerate(), w.getnframes(), w.getsampwidth(), w.getnchannels()
            data = w.readframes(n)
        if width != 2 or ch != 1:
            raise Failure(f"flite wrote an unexpected WAV for {lines[i].id} ({ch} channels, {8 * width}-bit)")
        x = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        return rate, trim(x, rate, lines[i].id)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(one, range(len(lines))))
    rates = {r for r, _ in results}
    if len(rates) != 1:
        raise Failure(f"flite voice {style.voice} wrote WAVs at several rates: {sorted(rates)}")
    return rates.pop(), [x for _, x in results]


def trim(x: np.ndarray, rate: int, sid: str) -> np.ndarray:
    """Cut flite's own leading and trailing silence: keep from the first to the last loud 5 ms frame."""
    hop = max(1, rate // 200)
    n = len(x) // hop
    if n == 0:
        raise Failure(f"flite produced no audio for {sid}")
    rms = np.sqrt(np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1))
    thr = max(rms.max() * 10 ** (TRIM_DB / 20), 1e-4)
    loud = np.flatnonzero(rms > thr)
    if len(loud) == 0:
        raise Failure(f"flite produced only silence for {sid} (is the sentence all symbols?)")
    seg = x[loud[0] * hop: (loud[-1] + 1) * hop].copy()
    fade = min(len(seg) // 4, max(1, rate // 500))       # 2 ms: no click where the cut lands
    ramp = np.linspace(0.0, 1.0, fade, endpoint=False, dtype=np.float32)
    seg[:fade] *= ramp
    seg[len(seg) - fade:] *= ramp[::-1]
    return seg


def assemble(lines: list[Line], speech: list[np.ndarray], rate: int,
             rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Join the sentences with drawn pauses; return the signal and each sentence's (start, end) sample."""
    pieces: list[np.ndarray] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    for i, (line, x) in enumerate(zip(lines, speech)):
        if i:
            prev = lines[i - 1]
            lo, hi = (PAUSE_HEADING if line.heading or prev.heading
                      else PAUSE_BLOCK if line.new_block else PAUSE_SENTENCE)
            gap = int(round(rng.uniform(lo, hi) * rate))
            pieces.append(np.zeros(gap, dtype=np.float32))
            pos += gap
        pieces.append(x)
        spans.append((pos, pos + len(x)))
        pos += len(x)
    return np.concatenate(pieces), spans


# ---------------------------------------------------------------------------- levels and noise


def resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    if src == dst:
        return x.astype(np.float32)
    g = math.gcd(src, dst)
    return resample_poly(x, dst // g, src // g).astype(np.float32)


def room_tone(n: int, channels: int, rate: int, dbfs: float, rng: np.random.Generator) -> np.ndarray:
    """A very low, soft (low-passed) noise floor, independent in each channel: never digital zero."""
    white = rng.standard_normal((n, channels)).astype(np.float32)
    a = math.exp(-2 * math.pi * 3000 / rate)            # one-pole low-pass at about 3 kHz
    soft = lfilter([1 - a], [1, -a], white, axis=0).astype(np.float32)
    return soft * (10 ** (dbfs / 20) / max(float(np.sqrt(np.mean(soft ** 2))), 1e-12))


def pink(n: int, channels: int, dbfs: float, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal((n, channels)).astype(np.float32)
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]     # Paul Kellet's 1/f filter
    a = [1.0, -2.494956002, 2.017265875, -0.522189400]
    p = lfilter(b, a, white, axis=0).astype(np.float32)
    return p * (10 ** (dbfs / 20) / max(float(np.sqrt(np.mean(p ** 2))), 1e-12))


def hum(n: int, channels: int, rate: int, dbfs: float) -> np.ndarray:
    t = np.arange(n, dtype=np.float64) / rate
    h = np.sin(2 * np.pi * 50 * t) + 0.5 * np.sin(2 * np.pi * 100 * t + 0.3) + 0.3 * np.sin(2 * np.pi * 150 * t + 1.1)
    h = (h * (10 ** (dbfs / 20) / np.sqrt(np.mean(h ** 2)))).astype(np.float32)
    return np.repeat(h[:, None], channels, axis=1)


def limit(x: np.ndarray, rate: int, ceiling_dbfs: float) -> np.ndarray:
    """A look-ahead peak limiter: the gain never lets a sample over the ceiling and moves smoothly."""
    ceiling = 10 ** (ceiling_dbfs / 20)
    env = np.abs(x).max(axis=1)
    if env.max() <= ceiling:
        return x
    peak = maximum_filter1d(env, size=2 * (rate // 200) + 1)
    g = np.minimum(1.0, ceiling / np.maximum(peak, 1e-12)).astype(np.float32)
    w = 2 * (rate // 50) + 1                           # 40 ms: a min filter then a mean of the same width
    g = uniform_filter1d(minimum_filter1d(g, size=w), size=w)
    return x * g[:, None]


def to_channels(x: np.ndarray, style: Style) -> np.ndarray:
    """(n, channels): stereo is the voice with the right channel a few samples late and 1 dB quieter."""
    if style.channels == 1:
        return x[:, None]
    right = np.concatenate([np.zeros(style.delay, dtype=np.float32), x[: len(x) - style.delay]])
    return np.stack([x, right * np.float32(10 ** (-1 / 20))], axis=1)


# ---------------------------------------------------------------------------- ffmpeg


def run_ffmpeg(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-nostats", *args], capture_output=True, text=True)


def write_wav(path: Path, x: np.ndarray, rate: int) -> None:
    """32-bit float WAV (WAVE_FORMAT_IEEE_FLOAT), so nothing clips or rounds before encoding."""
    data = np.ascontiguousarray(x, dtype="<f4").tobytes()
    ch = x.shape[1]
    fmt = (b"fmt " + (16).to_bytes(4, "little") + (3).to_bytes(2, "little") + ch.to_bytes(2, "little")
           + rate.to_bytes(4, "little") + (rate * ch * 4).to_bytes(4, "little") + (ch * 4).to_bytes(2, "little")
           + (32).to_bytes(2, "little"))
    body = b"WAVE" + fmt + b"data" + len(data).to_bytes(4, "little")
    with open(path, "wb") as f:
        f.write(b"RIFF" + (len(body) + len(data)).to_bytes(4, "little") + body)
        f.write(data)


def loudness(path: Path) -> float:
    """Integrated loudness in LUFS, ffmpeg ebur128 with dualmono=true (a mono file as on two speakers)."""
    r = run_ffmpeg(["-i", str(path), "-af", "ebur128=dualmono=true", "-f", "null", "-"])
    found = re.findall(r"\bI:\s+(-?[\d.]+|-inf) LUFS", r.stderr)
    if r.returncode != 0 or not found:
        raise Failure(f"ffmpeg could not measure {path.name}: {r.stderr.strip().splitlines()[-1:]}")
    return float(found[-1])


def encode(wav: Path, out: Path, style: Style) -> None:
    ext, opts = FORMATS[style.fmt]
    opts = [o.format(kbps=style.kbps) for o in opts]
    args = ["-y", "-loglevel", "error", "-i", str(wav), "-map_metadata", "-1", "-fflags", "+bitexact",
            "-flags:a", "+bitexact", *opts, "-ar", str(style.rate), "-ac", str(style.channels), str(out)]
    r = run_ffmpeg(args)
    if r.returncode != 0:
        raise Failure(f"ffmpeg could not encode {out.name}: {r.stderr.strip()}")


def seek(measure, gain: float, target: float, tries: int, tolerance: float,
         slope: float = 1.0) -> tuple[float, float, float]:
    """Secant search for the gain (dB) whose measured loudness is within tolerance of target.

    Returns the last gain tried, its loudness and the slope (LU per dB: below 1 where the limiter works)."""
    level = measure(gain)
    for _ in range(tries):
        err = target - level
        if abs(err) <= tolerance:
            break
        step = err / slope
        new_level = measure(gain + step)
        slope = min(1.0, max(0.1, (new_level - level) / step))
        gain, level = gain + step, new_level
    return gain, level, slope


# ---------------------------------------------------------------------------- one part


@dataclass(frozen=True)
class Made:
    part: str
    path: Path
    style: Style
    duration: float
    lufs: float
    size: int
    seconds: float


def make_part(part: Part, out_dir: Path, truth_dir: Path) -> Made:
    t0 = time.monotonic()
    style = style_for(part.id)
    if style.fmt == "opus" and style.rate != 48000:
        raise Failure(f"style for {part.id}: Opus is always 48000 Hz")
    rng = np.random.default_rng(_seed(part.id))
    lines = script_of(part)
    with tempfile.TemporaryDirectory(prefix="demo-rec-") as tmp:
        work = Path(tmp)
        src_rate, speech = synthesise(lines, style, work)
        voice, spans = assemble(lines, speech, src_rate, rng)
        peak = float(np.abs(voice).max())
        voice = resample(voice / max(peak, 1e-9) * np.float32(0.5), src_rate, style.rate)
        head, tail = int(round(style.head * style.rate)), int(round(style.tail * style.rate))
        x = to_channels(np.concatenate([np.zeros(head, np.float32), voice, np.zeros(tail, np.float32)]), style)
        n = len(x)

        floor = room_tone(n, style.channels, style.rate, min(-66.0, style.lufs - 50.0), rng)
        if style.noise == "pink":
            floor += pink(n, style.channels, -45.0, rng)
        elif style.noise == "hum":
            floor += hum(n, style.channels, style.rate, -50.0)

        def render(gain_db: float) -> np.ndarray:
            return limit(x * np.float32(10 ** (gain_db / 20)), style.rate, CEILING_DBFS) + floor

        # Hit the loudness target on the float master (the limiter makes gain and loudness non-linear) ...
        wav = work / "master.wav"

        def master(gain_db: float) -> float:
            write_wav(wav, render(gain_db), style.rate)
            return loudness(wav)

        write_wav(wav, x, style.rate)
        gain = style.lufs - loudness(wav)
        gain, _, slope = seek(master, gain, style.lufs, tries=5, tolerance=0.1)
        # ... then measure what is delivered, and correct for the codec if it drifted.
        target = out_dir / f"{part.id}{FORMATS[style.fmt][0]}"
        with atomic_path(target) as tmp_out:

            def delivered(gain_db: float) -> float:
                if gain_db != gain:
                    write_wav(wav, render(gain_db), style.rate)
                encode(wav, tmp_out, style)
                return loudness(tmp_out)

            _, measured, _ = seek(delivered, gain, style.lufs, tries=2, tolerance=LUFS_TOLERANCE, slope=slope)

    offset = head / style.rate
    fragments = [{"id": ln.id, "begin": round(offset + a / src_rate, 3), "end": round(offset + b / src_rate, 3)}
                 for ln, (a, b) in zip(lines, spans)]
    truth = {"part": part.id, "recording": _shown(target), "fragments": fragments}
    atomic_write_text(truth_dir / f"{part.id}.json", json.dumps(truth, sort_keys=True, indent=1) + "\n")
    return Made(part.id, target, style, n / style.rate, measured, target.stat().st_size, time.monotonic() - t0)


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


# ---------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Make the synthetic demo narrations (flite) and their ground truth.")
    ap.add_argument("--only", nargs="+", metavar="ID", help="only these parts (ids)")
    ap.add_argument("--texts", type=Path, default=Path("texts"), help="the texts folder (default: texts)")
    ap.add_argument("--out", type=Path, default=Path("recordings"), help="where to write (default: recordings)")
    ap.add_argument("--truth", type=Path, default=Path("bench/truth"),
                    help="where to write the ground truth (default: bench/truth)")
    args = ap.parse_args(argv)

    missing = [(tool, pkg) for tool, pkg in (("flite", "flite"), ("ffmpeg", "ffmpeg")) if not shutil.which(tool)]
    for tool, pkg in missing:
        print(f"error: {tool} not found on PATH (install the Debian package '{pkg}')", file=sys.stderr)
    if missing:
        return 1
    try:
        book = load_book(args.texts)
    except InputError as e:
        for p in e.problems:
            print(p, file=sys.stderr)
        return 1
    parts = list(book.narrated_parts)
    if args.only:
        known = {p.id for p in parts}
        unknown = [i for i in args.only if i not in known]
        if unknown:
            print(f"error: no narrated part with id {', '.join(unknown)} in {args.texts} "
                  f"(known: {', '.join(sorted(known))})", file=sys.stderr)
            return 2
        parts = [p for p in parts if p.id in set(args.only)]
    voices = _flite_voices()
    for p in parts:
        st = style_for(p.id)
        if voices and st.voice not in voices:
            print(f"error: flite has no voice '{st.voice}' (for {p.id}); it has {', '.join(sorted(voices))}",
                  file=sys.stderr)
            return 1
        if p.id not in STYLES:
            print(f"note: {p.id} is not in the STYLES table; using a fallback style", file=sys.stderr)

    t0 = time.monotonic()
    made: list[Made] = []
    try:
        for p in parts:
            m = make_part(p, args.out, args.truth)
            made.append(m)
            s = m.style
            print(f"{m.part:<22} {FORMAT_NAMES[s.fmt]:<6} {s.rate:>5} Hz  {'mono' if s.channels == 1 else 'stereo':<6} "
                  f"{m.duration:7.1f} s  {m.lufs:6.1f} LUFS  {m.size / 1e6:5.2f} MB  "
                  f"({s.voice}, x{s.stretch:.2f}, {s.kbps} kbps, {m.seconds:.1f} s to make)", flush=True)
    except Failure as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if made:
        total = sum(m.size for m in made)
        lufs = [m.lufs for m in made]
        print(f"{len(made)} file(s), {total / 1e6:.2f} MB, {sum(m.duration for m in made) / 60:.1f} min, "
              f"loudness {min(lufs):.1f} to {max(lufs):.1f} LUFS, {time.monotonic() - t0:.1f} s")
    return 0


def _flite_voices() -> set[str]:
    r = subprocess.run(["flite", "-lv"], capture_output=True, text=True)
    m = re.search(r"Voices available:(.*)", r.stdout + r.stderr)
    return set(m.group(1).split()) if m else set()


if __name__ == "__main__":
    sys.exit(main())
