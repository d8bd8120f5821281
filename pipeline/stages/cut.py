"""Cutting retakes: with ``[audio] cut_retakes = true`` in book.toml, the narrator's false starts (the
aligner's ``retake`` deviations) are removed from the delivered audio, and every edition's timeline follows.

``python -m pipeline cut build/master/ID.flac --sync build/sync-aligned/ID.json --texts texts
-o build/cut/ID.flac --sync-out build/sync/ID.json --cuts build/cut/ID.json --mp3 build/encoded/ID.mp3
--epub-audio build/epub-audio/ID.mp3 --loudness build/loudness/ID.json
[--waveform build/waveform-aligned/ID.npy --waveform-out build/waveform/ID.npy]
[--accept recordings/ID.labels.txt]``

1. **Pauses**, from the master's own audio: decoded at 16 kHz mono, its energy per 10 ms frame; a frame
   is quiet below a threshold between the file's noise floor and its speech level, and a pause is at
   least 120 ms of quiet frames.
2. **Cuts**: each retake is cut from the middle of the pause before its false start (the pause nearest
   its begin) to the middle of the pause before the take that follows (the pause nearest its end), on
   the 10 ms grid, so a cut never runs through speech and leaves half of each pause. Cuts that overlap or
   touch are merged. A retake is *kept* (left in the audio and in the sync map's deviations, and listed
   with the reason) when it is accepted in the part's label file (``accept retake FRAGMENT-ID``: an
   editor's word that the detection was wrong), when its sentence was not read (skipped, or of no
   length), when no pause lies within 0.75 s of either end, when the cut would take in the boundary of
   another sentence, or when it would remove more than 1.5 times its sentence's span plus a second.
3. **Audio**: the master is decoded once more, as float PCM at its own rate, and the kept stretches are
   streamed to the master stage's encoders (``audio.py``: the cut master FLAC, the podcast MP3, and the
   EPUB's mono MP3 when ``epub_bitrate`` asks for one, else the podcast MP3 hard-linked), with a 15 ms
   equal-power crossfade (cosine out, sine in) centred on each join, inside the pauses. The podcast MP3 is
   then measured by the independent meter (``build/loudness/ID.json``, keyed by its audio payload).
4. **Timeline**: every time after a cut moves earlier by the cut's length (a time inside a cut moves to
   its join): fragments (still contiguous and covering the shorter audio), chapters and the deviations
   left; the cut retakes leave ``deviations`` (and so does any other deviation whose speech lay wholly
   inside a cut). The list of cuts (``build/cut/ID.json``: each cut's ``begin``/``end`` in the uncut
   master, ``duration`` removed, ``at`` where the join lies in the cut audio, the sentence) maps times
   back (:func:`pipeline.model.contracts.uncut_time`): the proof stage uses it for its labels over the recording.
5. **Re-encoding only when the audio changes**: the list of cuts records a key of the master's bytes, the
   cuts and the encoder settings, and the hashes of the audio it wrote; when a later run (a text edit
   re-aligned the part) finds the same key and the same files, it rewrites the timeline and only touches
   the audio files, as the master stage would not have run for a text edit.

Every output is written to a temporary file and renamed into place.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Set
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

import numpy as np

from pipeline.model.contracts import (
    AlsoRemoved,
    CutAudio,
    CutList,
    CutRetake,
    CutSpan,
    Deviation,
    KeptRetake,
    SyncMap,
    cut_time,
    read_cuts,
    read_envelope,
    read_loudness,
    read_syncmap,
    write_cuts,
    write_envelope,
    write_syncmap,
)
from pipeline.model.problems import InputError, display_path
from pipeline.model.sources import load_book
from pipeline.stages.audio import (
    epub_encoder,
    flac_encoder,
    link_or_copy,
    payload_sha256,
    podcast_encoder,
    write_measurement,
)
from pipeline.stages.proof import read_accepts
from pipeline.system.ffmpeg import BASE_ARGS, ffmpeg_exe, probe, run_encoders, stream_error
from pipeline.system.fsutil import atomic_path, file_sha256

FRAME = 0.010              # s: the analysis frame, and the grid every cut lies on
ANALYSIS_RATE = 16000      # Hz: the rate the master is decoded at to find the pauses
MIN_PAUSE = 0.12           # s of quiet frames that make a pause
SEARCH = 0.75              # s: how far from a retake's begin (end) the pause before it (after it) may be
CROSSFADE = 0.015          # s: the equal-power crossfade centred on each join
MIN_RETAKE = 0.1           # s: a retake shorter than this is not cut (nothing to remove)
MAX_CUT_FACTOR, MAX_CUT_SLACK = 1.5, 1.0   # a cut longer than this times its sentence's span plus this is implausible
AUDIO_VERSION = 1          # part of the reuse key: change when the rendering changes
CHUNK_FRAMES = 1 << 16     # PCM frames per read


# ---------------------------------------------------------------------------- pauses


@dataclass(frozen=True)
class Pauses:
    runs: np.ndarray            # (n, 2) int: [first, end) frame of each pause, in time order
    threshold_db: float         # a frame below this is quiet
    frames: int                 # frames in the master


def frame_energy(master: Path, rate: int = ANALYSIS_RATE) -> np.ndarray:
    """Energy (dB) of every 10 ms frame of ``master``, decoded mono at ``rate`` through a pipe, a chunk at a
    time (a few bytes a frame in memory)."""
    hop = int(round(rate * FRAME))
    out: list[np.ndarray] = []
    carry = np.zeros(0, np.float32)
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([ffmpeg_exe(), *BASE_ARGS, "-v", "error", "-i", str(master), "-map", "0:a:0",
                                 "-ac", "1", "-ar", str(rate), "-f", "f32le", "pipe:1"],
                                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
        assert proc.stdout is not None, "Popen sets stdout when it is given stdout=PIPE"
        try:
            while True:
                raw = proc.stdout.read(hop * 4 * 1000)
                if not raw:
                    break
                x = np.concatenate([carry, np.frombuffer(raw, "<f4")])
                n = len(x) // hop
                if n:
                    blocks = x[: n * hop].reshape(n, hop).astype(np.float64)
                    out.append(10 * np.log10(np.mean(blocks * blocks, axis=1) + 1e-12))
                carry = x[n * hop:]
        finally:
            proc.stdout.close()
            rc = proc.wait()
        if rc != 0:
            raise stream_error(err, master)
    if len(carry):
        out.append(np.array([10 * np.log10(np.mean(carry.astype(np.float64) ** 2) + 1e-12)]))
    return np.concatenate(out) if out else np.zeros(0)


def find_pauses(energy_db: np.ndarray) -> Pauses:
    """The pauses of a narration: runs of at least ``MIN_PAUSE`` of frames quieter than a threshold a
    quarter of the way from the noise floor (10th percentile) to the speech level (99th), and never more
    than 45 dB under the speech."""
    n = len(energy_db)
    if n == 0:
        return Pauses(np.zeros((0, 2), np.int64), 0.0, 0)
    floor, peak = float(np.percentile(energy_db, 10)), float(np.percentile(energy_db, 99))
    threshold = max(floor + 0.25 * (peak - floor), peak - 45.0)
    quiet = energy_db < threshold
    edges = np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    keep = (ends - starts) >= int(round(MIN_PAUSE / FRAME))
    return Pauses(np.stack([starts[keep], ends[keep]], axis=1).astype(np.int64), threshold, n)


def pause_near(pauses: Pauses, t: float, after: int = -1, before: float | None = None) -> int | None:
    """The index of the pause nearest ``t`` (s): within ``SEARCH`` of it (0 when it lies inside), a little
    in favour of longer pauses (a gap between two words is not a pause between takes); only pauses after
    the one numbered ``after`` and starting before ``before`` (s)."""
    runs = pauses.runs
    if not len(runs):
        return None
    tf = t / FRAME
    s, e = runs[:, 0].astype(float), runs[:, 1].astype(float)
    dist = np.maximum(0.0, np.maximum(s - tf, tf - e))
    ok = dist <= SEARCH / FRAME
    ok &= np.arange(len(runs)) > after
    if before is not None:
        ok &= s < before / FRAME
    if not ok.any():
        return None
    score = np.where(ok, dist - 0.5 * np.minimum(e - s, 0.6 / FRAME), np.inf)
    return int(np.argmin(score))


# ---------------------------------------------------------------------------- planning the cuts


@dataclass
class Cut:
    first: int                  # frame where the cut begins (the middle of the pause before the false start)
    end: int                    # frame where it ends (the middle of the pause before the take that follows)
    fragment: str               # the sentence whose false start it removes
    retakes: list[Deviation] = field(default_factory=list)

    @property
    def begin_s(self) -> float:
        return round(self.first * FRAME, 2)

    @property
    def end_s(self) -> float:
        return round(self.end * FRAME, 2)


def plan_cuts(sync: SyncMap, pauses: Pauses, accepted: Set[tuple[str, str]] = frozenset()
              ) -> tuple[list[Cut], list[KeptRetake]]:
    """The cuts for the sync map's retakes (merged, in time order) and the retakes kept, each with why."""
    frags = {f.id: f for f in sync.fragments}
    order = [f.id for f in sync.fragments]
    skipped = {d.fragment for d in sync.deviations if d.kind == "skip"}
    boundaries = sorted({round(f.begin, 3) for f in sync.fragments[1:]})
    cuts: list[Cut] = []
    kept: list[KeptRetake] = []

    def keep(d: Deviation, reason: str) -> None:
        f = frags.get(d.fragment)
        kept.append(KeptRetake(begin=round(d.begin, 3), end=round(d.end, 3), fragment=d.fragment,
                               text=f.text if f else "", reason=reason))

    for d in sorted((d for d in sync.deviations if d.kind == "retake"), key=lambda d: (d.begin, d.end)):
        b, e, fid = d.begin, d.end, d.fragment
        f = frags.get(fid)
        if ("retake", fid) in accepted:
            keep(d, "accepted in the label file")
            continue
        if e - b < MIN_RETAKE:
            keep(d, f"shorter than {MIN_RETAKE:g} s")
            continue
        if f is None or fid in skipped or f.end <= f.begin:
            keep(d, "its sentence was not read")
            continue
        p1 = pause_near(pauses, b, before=e)
        p2 = pause_near(pauses, e, after=p1) if p1 is not None else None
        if p1 is None or p2 is None:
            keep(d, f"no pause within {SEARCH:g} s of its {'begin' if p1 is None else 'end'}")
            continue
        first = int((pauses.runs[p1, 0] + pauses.runs[p1, 1]) // 2)
        end = int((pauses.runs[p2, 0] + pauses.runs[p2, 1]) // 2)
        cb, ce = first * FRAME, end * FRAME
        fb = round(f.begin, 3)
        inside = [t for t in boundaries if cb + 0.001 < t < ce - 0.001 and abs(t - fb) > 0.001]
        if inside:
            k = order.index(fid)
            keep(d, f"the cut would take in the boundary at {inside[0]:.2f} s of another sentence than "
                    f"{fid}" + (f" (after {order[k - 1]})" if k else ""))
            continue
        span = f.end - f.begin
        if ce - cb > MAX_CUT_FACTOR * span + MAX_CUT_SLACK:
            keep(d, f"the cut ({ce - cb:.2f} s) would be longer than its sentence's span allows ({span:.2f} s)")
            continue
        cuts.append(Cut(first, end, fid, [d]))
    merged: list[Cut] = []
    gap = int(np.ceil(2 * CROSSFADE / FRAME)) + 1
    for c in sorted(cuts, key=lambda c: (c.first, c.end)):
        if merged and c.first - merged[-1].end < gap:
            m = merged[-1]
            m.end = max(m.end, c.end)
            m.retakes += c.retakes
        else:
            merged.append(c)
    return merged, kept


@dataclass(frozen=True)
class Removed:
    """A cut's stretch of the uncut master, in seconds (what ``cut_time`` and ``uncut_time`` take)."""
    begin: float
    end: float


def cut_list(cuts: list[Cut]) -> list[Removed]:
    """The cuts as the timeline helpers take them (seconds in the uncut master)."""
    return [Removed(c.begin_s, c.end_s) for c in cuts]


def shift_sync(sync: SyncMap, cuts: list[Cut], audio_name: str) -> tuple[SyncMap, dict[int, list[AlsoRemoved]]]:
    """The sync map of the cut audio, and per cut the other deviations that went with it."""
    spans = cut_list(cuts)
    removed_ids = {id(d) for c in cuts for d in c.retakes}
    also: dict[int, list[AlsoRemoved]] = {i: [] for i in range(len(cuts))}

    def t(x: float) -> float:
        return round(cut_time(x, spans), 6)

    deviations = []
    for d in sync.deviations:
        if id(d) in removed_ids:
            continue
        b, e = d.begin, d.end
        inside = next((i for i, c in enumerate(spans) if d.kind != "skip" and e > b
                       and c.begin <= b and e <= c.end), None)
        if inside is not None:
            also[inside].append(AlsoRemoved(kind=d.kind, begin=d.begin, end=d.end, fragment=d.fragment))
            continue
        deviations.append(replace(d, begin=t(b), end=t(e)))
    # words move like every other time (a word inside a cut closes up at its join)
    fragments = tuple(replace(f, begin=t(f.begin), end=t(f.end),
                              words=tuple(replace(w, begin=t(w.begin), end=t(w.end)) for w in f.words))
                      for f in sync.fragments)
    chapters = tuple(replace(c, begin=t(c.begin), end=t(c.end)) for c in sync.chapters)
    return SyncMap(part=sync.part, audio=audio_name, duration=t(sync.duration), fragments=fragments,
                   chapters=chapters, deviations=tuple(deviations)), also


def cut_envelope(env: np.ndarray, cuts: list[Cut]) -> np.ndarray:
    """The aligner's envelope (one row per 10 ms) without the rows of the cuts."""
    keep = np.ones(len(env), bool)
    for c in cuts:
        keep[min(c.first, len(env)):min(c.end, len(env))] = False
    return env[keep]


# ---------------------------------------------------------------------------- the audio


class _PCM:
    """Float PCM frames read from a pipe, in order: take some, skip some."""

    def __init__(self, stream: IO[bytes], channels: int):
        self.stream, self.channels = stream, channels
        self.buf = np.zeros((0, channels), np.float32)
        self.eof = False

    def _fill(self, n: int) -> None:
        while len(self.buf) < n and not self.eof:
            raw = self.stream.read(CHUNK_FRAMES * 4 * self.channels)
            if not raw:
                self.eof = True
                break
            usable = len(raw) - len(raw) % (4 * self.channels)
            x = np.frombuffer(raw[:usable], "<f4").reshape(-1, self.channels)
            self.buf = np.concatenate([self.buf, x]) if len(self.buf) else x

    def take(self, n: int) -> np.ndarray:
        """Exactly ``n`` frames (zeros past the end)."""
        self._fill(n)
        out, self.buf = self.buf[:n], self.buf[n:]
        if len(out) < n:
            out = np.concatenate([out, np.zeros((n - len(out), self.channels), np.float32)])
        return out

    def chunks(self, n: int | None):
        """``n`` frames (or all that are left when None), a chunk at a time."""
        while n is None or n > 0:
            want = CHUNK_FRAMES if n is None else min(n, CHUNK_FRAMES)
            self._fill(want)
            if not len(self.buf):
                return
            out, self.buf = self.buf[:want], self.buf[want:]
            if n is not None:
                n -= len(out)
            yield out

    def skip(self, n: int) -> None:
        for _ in self.chunks(n):
            pass


def sample_ranges(cuts: list[Cut], rate: int) -> list[tuple[int, int]]:
    """Each cut as [first, end) samples at ``rate``."""
    return [(int(round(c.first * FRAME * rate)), int(round(c.end * FRAME * rate))) for c in cuts]


def render_cut(master: Path, ranges: list[tuple[int, int]], rate: int, channels: int, encoders: list[list[str]],
               mono_for: set[int]) -> int:
    """Stream the master without ``ranges`` (samples) to the encoders, with an equal-power crossfade centred on
    each join; the encoders numbered in ``mono_for`` get the mono mix. Returns the frames written."""
    n = max(2, int(round(CROSSFADE * rate)))
    half = n // 2
    ramp = (np.arange(n, dtype=np.float64) + 0.5) / n
    fade_in = np.sin(0.5 * np.pi * ramp).astype(np.float32)[:, None]
    fade_out = np.cos(0.5 * np.pi * ramp).astype(np.float32)[:, None]
    written = 0

    def feed(pipes: list[IO[bytes]]) -> None:
        nonlocal written
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen([ffmpeg_exe(), *BASE_ARGS, "-v", "error", "-i", str(master), "-map", "0:a:0",
                                     "-f", "f32le", "-ac", str(channels), "-ar", str(rate), "pipe:1"],
                                    stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
            assert proc.stdout is not None, "Popen sets stdout when it is given stdout=PIPE"
            src = _PCM(proc.stdout, channels)

            def out(x: np.ndarray) -> None:
                nonlocal written
                if not len(x):
                    return
                x = np.ascontiguousarray(x, dtype=np.float32)
                data = x.tobytes()
                mono = (x.mean(axis=1) if channels > 1 else x[:, 0]).astype(np.float32).tobytes() if mono_for else b""
                for i, p in enumerate(pipes):
                    p.write(mono if i in mono_for else data)
                written += len(x)

            try:
                pos = 0
                for first, end in ranges:
                    for x in src.chunks(first - half - pos):
                        out(x)
                    a = src.take(n)                                   # [first - half, first - half + n)
                    src.skip(end - first - n)                         # up to end - half
                    b = src.take(n)                                   # [end - half, end - half + n)
                    out(a * fade_out + b * fade_in)
                    pos = end - half + n
                for x in src.chunks(None):
                    out(x)
            finally:
                proc.stdout.close()
                rc = proc.wait()
            if rc != 0:
                raise stream_error(err, master)

    run_encoders(encoders, feed, master)
    return written


def _reusable(previous: Path, key: str, outputs: dict[str, Path]) -> bool:
    """The audio the last run wrote is still there, unchanged, and was made from the same master, cuts and
    settings: nothing to re-encode."""
    try:
        audio = read_cuts(previous).audio
    except InputError:
        return False
    if audio.key != key:
        return False
    return all(p.exists() and audio.outputs.get(name) == file_sha256(p) for name, p in outputs.items())


# ---------------------------------------------------------------------------- the stage


def cmd_cut(args: argparse.Namespace) -> int:
    if (args.waveform is None) != (args.waveform_out is None):
        print("pipeline cut: error: give --waveform and --waveform-out together", file=sys.stderr)
        return 2
    book = load_book(args.texts)
    sync = read_syncmap(args.sync)
    accepted: set[tuple[str, str]] = set()
    if args.accept:
        accepted = read_accepts(args.accept, {f.id for f in sync.fragments})
    info = probe(args.master)
    rate, channels = info.sample_rate, min(info.channels, 2)
    settings = dataclasses.replace(book.audio, sample_rate=rate)

    pauses = find_pauses(frame_energy(args.master))
    cuts, kept = plan_cuts(sync, pauses, accepted)
    ranges = sample_ranges(cuts, rate)
    cut_sync, also = shift_sync(sync, cuts, args.output.name)
    env = read_envelope(args.waveform) if args.waveform is not None else None

    separate_epub = bool(settings.epub_bitrate)
    key = hashlib.sha256(json.dumps({
        "version": AUDIO_VERSION, "master": file_sha256(args.master), "ranges": ranges, "rate": rate,
        "channels": channels, "crossfade": CROSSFADE, "podcast": podcast_encoder(settings, channels, Path("-")),
        "epub": epub_encoder(settings, Path("-")) if separate_epub else None,
        "flac": flac_encoder(settings, channels, Path("-"))}, sort_keys=True).encode()).hexdigest()
    outputs = {"flac": args.output, "mp3": args.mp3, "epub": args.epub_audio}
    reused = _reusable(args.cuts, key, outputs)
    if reused and args.loudness is not None:
        try:
            reused = read_loudness(args.loudness).payload_sha256 == payload_sha256(args.mp3)
        except InputError:
            reused = False
    if reused:
        # the same audio as last time: bring the files up to date without re-encoding them
        for p in (args.output, args.mp3, args.epub_audio, args.loudness):
            if p is not None:
                os.utime(p)
    else:
        with contextlib.ExitStack() as stack:
            tf = stack.enter_context(atomic_path(args.output))
            tm = stack.enter_context(atomic_path(args.mp3))
            ta = stack.enter_context(atomic_path(args.epub_audio))
            encoders = [flac_encoder(settings, channels, tf), podcast_encoder(settings, channels, tm)]
            if separate_epub:
                encoders.append(epub_encoder(settings, ta))
            render_cut(args.master, ranges, rate, channels, encoders, {2} if separate_epub else set())
            if not separate_epub:
                link_or_copy(tm, ta)
        if args.loudness is not None:
            write_measurement(args.mp3, args.loudness)

    removed = sum(c.end_s - c.begin_s for c in cuts)
    spans = cut_list(cuts)
    texts = {f.id: f.text for f in sync.fragments}
    entries = tuple(CutSpan(
        begin=c.begin_s, end=c.end_s, duration=round(c.end_s - c.begin_s, 3), at=round(cut_time(c.begin_s, spans), 3),
        fragment=c.fragment, text=texts.get(c.fragment, ""),
        retakes=tuple(CutRetake(begin=round(d.begin, 3), end=round(d.end, 3), fragment=d.fragment,
                                confidence=None if d.confidence is None else round(d.confidence, 3))
                      for d in c.retakes),
        also_removed=tuple(also[i])) for i, c in enumerate(cuts))
    listed = CutList(part=sync.part, master=display_path(args.master), sample_rate=rate, crossfade=CROSSFADE,
                     pause_threshold_db=round(pauses.threshold_db, 1), duration_before=round(sync.duration, 3),
                     duration_after=round(cut_sync.duration, 3), removed=round(removed, 3), cuts=entries,
                     kept=tuple(kept),
                     audio=CutAudio(key=key, outputs={name: file_sha256(p) for name, p in outputs.items()}))
    write_syncmap(args.sync_out, cut_sync)
    write_cuts(args.cuts, listed)
    if env is not None:
        # last, so the report finds it no older than the cut master
        write_envelope(args.waveform_out, cut_envelope(env, cuts))
    reasons = "; ".join(f"{k.fragment}: {k.reason}" for k in kept)
    print(f"cut: {sync.part}: {sum(len(c.retakes) for c in cuts)} retake(s) cut, {removed:.2f} s removed"
          + (f"; {len(kept)} kept ({reasons})" if kept else "")
          + ("; audio unchanged, not re-encoded" if reused else ""))
    return 0


def register(add) -> None:
    def setup(p: argparse.ArgumentParser) -> None:
        p.add_argument("master", type=Path, help="the uncut master FLAC (build/master/ID.flac)")
        p.add_argument("--sync", type=Path, required=True,
                       help="the aligner's sync map of the uncut master (build/sync-aligned/ID.json)")
        p.add_argument("--texts", type=Path, default=Path("texts"), help="texts/ (for book.toml [audio])")
        p.add_argument("-o", "--output", type=Path, required=True, help="the cut master FLAC (build/cut/ID.flac)")
        p.add_argument("--sync-out", type=Path, required=True,
                       help="the sync map of the cut audio, for every edition (build/sync/ID.json)")
        p.add_argument("--cuts", type=Path, required=True, help="the list of cuts (build/cut/ID.json)")
        p.add_argument("--mp3", type=Path, required=True, help="the untagged podcast MP3 (build/encoded/ID.mp3)")
        p.add_argument("--epub-audio", type=Path, required=True,
                       help="the EPUB audio: the podcast MP3, or a mono MP3 at book.toml's epub_bitrate")
        p.add_argument("--loudness", type=Path, default=None,
                       help="measure the podcast MP3 as written (ffmpeg ebur128) into this JSON")
        p.add_argument("--waveform", type=Path, default=None,
                       help="the aligner's envelope of the uncut master (align --waveform)")
        p.add_argument("--waveform-out", type=Path, default=None,
                       help="the envelope of the cut audio, for the report's timeline (build/waveform/ID.npy)")
        p.add_argument("--accept", type=Path, default=None,
                       help="the part's label file: a retake accepted there ('accept retake FRAGMENT-ID') is not cut")

    add("cut", "remove the narrator's false starts (retakes) from the master; re-encode; shift the timeline",
        setup, cmd_cut)
