"""Forced alignment of a narration to its fragments (sentences and headings), ASR-free.

1. **Reference**: every fragment is spoken by espeak-ng (a different engine from the demo narrations),
   after normalising numbers and symbols the way a narrator reads them. Each fragment's speech is
   trimmed, so its onset in the reference is known exactly.
2. **Features**: MFCCs (c1–c12, no c0) every 10 ms for both signals, mean- and variance-normalised
   over the speech of the whole file. The narration is streamed from ffmpeg in chunks, never held whole.
3. **Rate matching**: the reference's speech is stretched to the narrator's speaking rate (speech time
   found by an energy detector), and the pauses between fragments are filled with the narration's own
   silence so the two timelines have the same length.
4. **DTW**, coarse to fine: a 100 ms pass in a wide diagonal band, then a 20 ms pass in a band around
   the coarse path (numba kernel, two bits per cell of the band).
5. **Pause snapping**: each boundary mapped through the path moves to the end of the nearest pause in
   the narration (just before the next onset), when there is one close by.
6. **Confidence** per fragment from the DTW distance along its path, the pause found and how far its
   length departs from the reference; low values mark where audio and text disagree.
7. **Words**: every written word of every fragment, inside its audible clip, from espeak-ng's word
   events and a per-sentence DTW at 10 ms (``words.py``).

An Audacity label file fixes listed boundaries (label = fragment id, or its 1-based number); the
aligner then aligns each stretch between fixed points on its own.
"""
from __future__ import annotations

import argparse
import ctypes
import subprocess
import threading
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

import espeakng_loader
import numpy as np
from scipy.fft import rfft

from pipeline.model import contracts
from pipeline.model.contracts import SyncMap, read_audio_report, write_envelope, write_syncmap
from pipeline.model.problems import InputError, Problem, display_path
from pipeline.model.sources import load_part
from pipeline.stages.deviations import (
    HELD_GAP_S,
    LAST_TAKE,
    MAX_WINDOW,
    MIN_HELD_S,
    REDECODE_MARGIN,
    SUSPECT_FACTOR,
    TAU_FACTOR,
    Finding,
    _unit_cost,
    classify_held,
    held_stretches,
    redecode,
    skipped_fragments,
    speech_islands,
)
from pipeline.stages.normalise import UnknownLanguage, espeak_voice, speakable
from pipeline.stages.words import reference_words, time_words
from pipeline.system.ffmpeg import BASE_ARGS, ffmpeg_exe, probe

SR = 16000
HOP = 0.010
FINE = 2            # fine DTW frames = 2 feature frames (20 ms)
COARSE = 10         # coarse DTW frames = 10 feature frames (100 ms)
COARSE_BAND_S = 90.0
FINE_BAND_S = 3.0
SNAP_WINDOW_S = 0.6
# a fragment whose text has this much speech (seconds, as the rate-matched reference speaks it) that the
# narration lacks, in one run, has words the narrator did not read (about three words)
SKIPPED_WORDS_S = 0.4
MIN_PAUSE_S = 0.12
TTS_RATE = 300
HEADING_PAUSE_WEIGHT = 3.0   # a gap next to a heading gets this many times the silence of other gaps


@dataclass(frozen=True)
class Fragment:
    id: str
    text: str
    is_heading: bool = False


@dataclass(frozen=True)
class Chapter:
    id: str
    title: str
    first_fragment: int


# ---------------------------------------------------------------------------- the reference voice


class _EspeakEvent(ctypes.Structure):
    """espeak_EVENT of speak_lib.h."""
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_EVENT_END_OF_LIST = 0
_EVENT_WORD = 1


class Espeak:
    """espeak-ng through ctypes (the library bundled by PyPI's espeakng-loader: no system package).

    The library is initialised once per process (initialising it twice corrupts its state); use
    ``Espeak.get``. Its output is deterministic for the same sequence of calls in a fresh process,
    which is how the build runs it (one process per part)."""

    _lock = threading.Lock()
    _instance: Espeak | None = None

    @classmethod
    def get(cls, voice: str = "en", rate: int = TTS_RATE, pitch: int = 50) -> Espeak:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            inst = cls._instance
            if inst.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise RuntimeError(f"espeak-ng has no voice {voice!r}")
            inst.lib.espeak_SetParameter(1, rate, 0)
            inst.lib.espeak_SetParameter(3, pitch, 0)
            return inst

    def __init__(self):
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.sample_rate = self.lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0)
        if self.sample_rate <= 0:
            raise RuntimeError("espeak-ng failed to initialise")
        cb_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                   ctypes.POINTER(_EspeakEvent))
        self._chunks: list[np.ndarray] = []
        self._words: list[tuple[int, int]] = []

        def callback(wav, n, events):
            if n > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            if events:
                i = 0
                while events[i].type != _EVENT_END_OF_LIST:
                    e = events[i]
                    if e.type == _EVENT_WORD:
                        # 1-based character position in the text; audio position in ms from the call's start
                        self._words.append((e.text_position - 1, e.audio_position * self.sample_rate // 1000))
                    i += 1
            return 0

        self._cb = cb_type(callback)
        self.lib.espeak_SetSynthCallback(self._cb)

    def say(self, text: str) -> np.ndarray:
        return self.say_words(text)[0]

    def say_words(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """The speech of ``text`` and, for every word espeak-ng spoke, (character offset of the word in
        ``text``, sample at which its sound starts), from its word events."""
        with self._lock:
            self._chunks.clear()
            self._words.clear()
            data = text.encode("utf-8") + b"\0"
            self.lib.espeak_Synth(data, len(data), 0, 1, 0, 1, None, None)
            self.lib.espeak_Synchronize()
            out = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
            words = list(self._words)
        return out.astype(np.float32) / 32768.0, words


def _trim(x: np.ndarray, sr: int) -> np.ndarray:
    start, end = _trim_bounds(x, sr)
    return x[start:end]


def _trim_bounds(x: np.ndarray, sr: int) -> tuple[int, int]:
    """The first and the end sample of the speech in ``x`` (the reference voice's own silence cut)."""
    if len(x) == 0:
        return 0, 0
    level = np.abs(x)
    win = max(1, sr // 200)
    # a moving average over win samples, aligned as np.convolve(level, ones(win) / win, "same"), from a
    # running sum (linear time; the convolution was a tenth of the aligner's time)
    if len(x) < win:
        env = np.convolve(level, np.ones(win) / win, mode="same")
    else:
        cs = np.concatenate([[0.0], np.cumsum(level, dtype=np.float64)])
        k = np.arange(len(x)) + (win - 1) // 2
        env = (cs[np.minimum(k + 1, len(x))] - cs[np.maximum(k + 1 - win, 0)]) / win
    on = np.nonzero(env > max(0.01 * env.max(), 1e-4))[0]
    if len(on) == 0:
        return 0, 0
    return int(on[0]), int(on[-1]) + 1


# ---------------------------------------------------------------------------- features


class MFCC:
    """MFCC c1..c12 and speech-band (250–3500 Hz) log energy, 25 ms windows every 10 ms, 26 mel bands."""

    def __init__(self, sr: int, n_mels: int = 26, n_ceps: int = 12):
        self.sr = sr
        self.win = int(round(0.025 * sr))
        self.hop = int(round(HOP * sr))
        self.nfft = 1 << (self.win - 1).bit_length()
        self.window = np.hamming(self.win).astype(np.float32)
        self.fb = _mel_filterbank(sr, self.nfft, n_mels, 80.0, min(7600.0, sr / 2 - 100)).astype(np.float32)
        freqs = np.arange(self.nfft // 2 + 1) * sr / self.nfft
        self.band = slice(int(np.searchsorted(freqs, 250.0)), int(np.searchsorted(freqs, 3500.0)))

    def frames(self, x: np.ndarray, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """Log mel energies and log energy of every full frame of ``x``, a block of frames at a time
        (bounded memory). ``cepstra`` turns the log mel energies into MFCCs."""
        x = np.asarray(x, dtype=np.float32)
        if len(x) < self.win:
            x = np.pad(x, (0, self.win - len(x)))
        n = 1 + (len(x) - self.win) // self.hop
        view = np.lib.stride_tricks.sliding_window_view(x, self.win)[:: self.hop][:n]
        ceps = np.empty((n, self.fb.shape[0]), np.float32)
        energy = np.empty(n, np.float32)
        for a in range(0, n, block):
            spec = rfft(view[a:a + block] * self.window, n=self.nfft, axis=1, workers=1)
            power = spec.real ** 2 + spec.imag ** 2
            ceps[a:a + block] = np.log(power @ self.fb.T + 1e-10)
            energy[a:a + block] = 10 * np.log10(power.sum(axis=1) / self.nfft + 1e-10)
        return ceps, energy


def cepstra(logmel: np.ndarray, n_ceps: int = 12) -> np.ndarray:
    n_mels = logmel.shape[1]
    k = np.arange(n_mels)
    dct = np.cos(np.pi / n_mels * (k[None, :] + 0.5) * np.arange(1, n_ceps + 1)[:, None]).astype(np.float32)
    return (logmel @ dct.T).astype(np.float32)


def compensate(ref_logmel: list[np.ndarray], ref_voiced: list[np.ndarray], narr: Narration) -> list[np.ndarray]:
    """Add the narration's background noise to the reference, at the same level relative to the speech
    (parallel model combination in the mel power domain), so that noise does not look like a mismatch.
    Works fragment by fragment, in place."""
    voiced_total = sum(int(v.sum()) for v in ref_voiced)
    if narr.voiced.sum() < 10 or (~narr.voiced).sum() < 10 or voiced_total < 10:
        return ref_logmel
    ref_speech = sum(np.exp(m[v]).sum(axis=0, dtype=np.float64) for m, v in zip(ref_logmel, ref_voiced) if len(m))
    ref_speech = ref_speech / voiced_total
    scale = ref_speech.sum() / narr.speech_power.sum()
    noise = (narr.noise_power * scale).astype(np.float32)[None, :]
    out = []
    for m in ref_logmel:
        p = np.exp(m)
        p += noise
        out.append(np.log(p, out=p))
    return out


def _mel_filterbank(sr: int, nfft: int, n: int, fmin: float, fmax: float) -> np.ndarray:
    def mel(f):
        return 2595 * np.log10(1 + f / 700)

    def hz(m):
        return 700 * (10 ** (m / 2595) - 1)

    pts = hz(np.linspace(mel(fmin), mel(fmax), n + 2))
    freqs = np.arange(nfft // 2 + 1) * sr / nfft
    fb = np.zeros((n, len(freqs)))
    for i in range(n):
        lo, c, r = pts[i], pts[i + 1], pts[i + 2]
        fb[i] = np.clip(np.minimum((freqs - lo) / (c - lo), (r - freqs) / (r - c)), 0, None)
    return fb


@dataclass
class Narration:
    ceps: np.ndarray            # MFCC c1..c12 per 10 ms frame (float32)
    voiced: np.ndarray          # speech frames by the energy detector
    speech_power: np.ndarray    # mean mel power of the speech frames, per band
    noise_power: np.ndarray     # median mel power of the pauses, per band
    duration: float
    envelope: np.ndarray | None = None   # (frames, 2) int16: min and max sample per 10 ms, for pictures


def narration_features(audio: Path, chunk_s: float = 60.0) -> Narration:
    """Stream the narration from ffmpeg as 16 kHz mono and compute its features chunk by chunk.

    Log mel energies are kept as float16 until the speech detector has seen the whole file, then turned
    into cepstra and the speech and noise spectra a chunk at a time: about 90 bytes per 10 ms frame in
    all (about 60 MB for two hours)."""
    mf = MFCC(SR)
    cmd = [ffmpeg_exe(), *BASE_ARGS, "-v", "error", "-i", str(audio), "-map", "0:a:0", "-ac", "1",
           "-ar", str(SR), "-f", "s16le", "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    mels, energy, env = [], [], []
    carry = np.zeros(0, np.float32)
    env_carry = np.zeros(0, np.int16)
    total = 0
    step = int(chunk_s * SR)
    assert proc.stdout is not None
    while True:
        raw = proc.stdout.read(step * 2)
        if not raw:
            break
        pcm = np.frombuffer(raw, dtype="<i2")
        # the waveform's envelope (min and max per 10 ms) comes for free here, for the report's pictures
        e = np.concatenate([env_carry, pcm])
        whole = len(e) // mf.hop * mf.hop
        if whole:
            blocks = e[:whole].reshape(-1, mf.hop)
            env.append(np.stack([blocks.min(axis=1), blocks.max(axis=1)], axis=1))
        env_carry = e[whole:]
        x = pcm.astype(np.float32) / 32768.0
        total += len(x)
        buf = np.concatenate([carry, x])
        n = 1 + (len(buf) - mf.win) // mf.hop if len(buf) >= mf.win else 0
        if n > 0:
            c, e = mf.frames(buf[: (n - 1) * mf.hop + mf.win])
            mels.append(c.astype(np.float16))
            energy.append(e)
            carry = buf[n * mf.hop:]
        else:
            carry = buf
    err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    if proc.wait() != 0 or total == 0 or not mels:
        raise InputError(Problem(display_path(audio), 0, "E-AUDIO-004",
                                 f"could not decode: {err.strip().splitlines()[-1] if err.strip() else 'no audio'}"))
    voiced, _ = voiced_mask(np.concatenate(energy))
    del energy
    n_frames = sum(len(m) for m in mels)
    ceps = np.empty((n_frames, 12), np.float32)
    speech_sum = np.zeros(mels[0].shape[1])
    noise_parts = []
    pos = 0
    for m in mels:
        v = voiced[pos:pos + len(m)]
        mf32 = m.astype(np.float32)
        ceps[pos:pos + len(m)] = cepstra(mf32)
        power = np.exp(mf32)
        speech_sum += power[v].sum(axis=0, dtype=np.float64)
        if (~v).any():
            noise_parts.append(np.median(power[~v], axis=0))
        pos += len(m)
    mels.clear()
    speech_power = speech_sum / max(1, int(voiced.sum()))
    noise_power = np.median(np.array(noise_parts), axis=0) if noise_parts else np.zeros_like(speech_power)
    if len(env_carry):
        env.append(np.array([[env_carry.min(), env_carry.max()]], np.int16))
    return Narration(ceps=ceps, voiced=voiced, speech_power=speech_power, noise_power=noise_power,
                     duration=total / SR, envelope=np.concatenate(env).astype(np.int16) if env else None)


def voiced_mask(energy: np.ndarray, window_s: float = 60.0, step_s: float = 1.0) -> tuple[np.ndarray, float]:
    """Speech frames: energy above a threshold between the noise floor and the speech level.

    The floor and the speech level are followed along the recording (percentiles over a minute around
    each point, never below the file's own), so a noise that comes and goes, a hum or a change of room,
    moves the threshold with it. The floor at a point is the higher of the floors of the half-minutes
    before and after it: where the noise changes (a hum stops, a session recorded elsewhere begins), a
    window straddling the change would take the quieter side's floor for the noisier side too and call
    its pauses speech."""
    floor_all = float(np.percentile(energy, 5))
    loud_all = float(np.percentile(energy, 95))
    threshold_all = floor_all + max(6.0, 0.3 * (loud_all - floor_all))
    half = int(window_s / 2 / HOP)
    if len(energy) <= 4 * half:
        thresholds = np.full(len(energy), threshold_all, np.float32)
    else:
        # percentiles of windows of whole steps, from running histograms (0.5 dB bins): cheap for hours
        step = max(1, int(step_s / HOP))
        k = max(1, half // step)                      # steps in half a window
        lo = float(energy.min())
        q = np.minimum(((energy - lo) / 0.5).astype(np.int32), 399)
        nblk = -(-len(energy) // step)
        hist = np.zeros((nblk + 1, 400), np.int32)
        np.add.at(hist, (np.arange(len(energy)) // step + 1, q), 1)
        np.cumsum(hist, axis=0, out=hist)             # hist[i]: counts of the first i steps

        def pct(a: np.ndarray, b: np.ndarray, p: float) -> np.ndarray:
            h = hist[b] - hist[a]                     # each window's histogram, steps [a, b)
            c = np.cumsum(h, axis=1)
            return lo + 0.5 * np.argmax(c >= np.maximum(1, p / 100 * c[:, -1:]), axis=1)

        i = np.arange(nblk)
        floor = np.maximum(np.maximum(pct(np.maximum(0, i - k), i + 1, 5), pct(i, np.minimum(nblk, i + k + 1), 5)),
                           floor_all)
        loud = np.maximum(pct(np.maximum(0, i - k), np.minimum(nblk, i + k + 1), 95), floor + 6.0)
        values = floor + np.maximum(6.0, 0.3 * (loud - floor))
        centres = i * step + step // 2
        thresholds = np.interp(np.arange(len(energy)), centres, values).astype(np.float32)
    mask = energy > thresholds
    # close gaps shorter than 60 ms inside words, drop blips shorter than 30 ms
    mask = _close(mask, 6)
    mask = ~_close(~mask, 3)
    return mask, threshold_all


def _close(mask: np.ndarray, gap: int) -> np.ndarray:
    """Fill runs of False shorter than ``gap`` that lie between True frames."""
    d = np.diff(np.concatenate([[1], mask.astype(np.int8), [1]]))
    starts = np.flatnonzero(d == -1)            # first frame of each run of False
    ends = np.flatnonzero(d == 1)               # the frame after it
    fill = (ends - starts < gap) & (starts > 0) & (ends < len(mask))
    delta = np.zeros(len(mask) + 1, np.int32)
    np.add.at(delta, starts[fill], 1)
    np.add.at(delta, ends[fill], -1)
    return mask | (np.cumsum(delta[:-1]) > 0)


# ---------------------------------------------------------------------------- the alignment


@dataclass
class Reference:
    feats: list[np.ndarray]     # per fragment, log mel frames of its trimmed speech
    speech_frames: np.ndarray   # per fragment, number of frames
    voiced_frames: np.ndarray   # per fragment, frames the energy detector calls speech
    voiced: list[np.ndarray]    # per fragment, the detector's mask
    heading: np.ndarray | None = None   # per fragment, whether it is a title or heading
    words: list[np.ndarray] | None = None   # per fragment, the frame each written word starts at (nan: unspoken)


def synthesise(fragments: list[Fragment], batch_s: float = 60.0, language: str = "en") -> Reference:
    """Speak every fragment with the reference voice; features of each fragment's trimmed speech.

    Trimmed fragments are laid end to end, frame-aligned (no frame straddles two fragments), and
    analysed a batch of about a minute at a time, so only features are kept, never hours of audio."""
    tts = Espeak.get(voice=espeak_voice(language))
    mf = MFCC(tts.sample_rate)
    feats: list[np.ndarray] = []
    energies: list[np.ndarray] = []
    batch: list[tuple[np.ndarray, int]] = []
    batch_len = 0

    def flush() -> None:
        nonlocal batch, batch_len
        if not batch:
            return
        pieces, starts = [], []
        pos = 0
        for x, n in batch:
            starts.append(pos // mf.hop)
            if n:
                length = (n - 1) * mf.hop + mf.win
                padded = -(-length // mf.hop) * mf.hop      # the next fragment starts on a frame boundary
                pieces.append(x[:length])
                pieces.append(np.zeros(padded - length, np.float32))
                pos += padded
        ceps, energy = mf.frames(np.concatenate(pieces)) if pieces else (np.zeros((0, mf.fb.shape[0]), np.float32),
                                                                          np.zeros(0, np.float32))
        for (_, n), a in zip(batch, starts):
            feats.append(ceps[a:a + n] if n else np.zeros((0, mf.fb.shape[0]), np.float32))
            energies.append(energy[a:a + n] if n else np.zeros(0, np.float32))
        batch, batch_len = [], 0

    word_frames: list[np.ndarray] = []
    for f in fragments:
        spoken = speakable(f.text, language)
        x, marks = tts.say_words(spoken)
        start, end = _trim_bounds(x, tts.sample_rate)
        x = x[start:end]
        n = 0 if len(x) < mf.win else 1 + (len(x) - mf.win) // mf.hop
        word_frames.append(reference_words(f.text, spoken, [(c, (s - start) / mf.hop) for c, s in marks], n))
        batch.append((x, n))
        batch_len += len(x)
        if batch_len > batch_s * tts.sample_rate:
            flush()
    flush()
    counts = np.array([len(c) for c in feats])
    allenergy = np.concatenate(energies) if len(energies) and counts.sum() else np.zeros(1, np.float32)
    voiced, _ = voiced_mask(allenergy)
    vf = list(np.split(voiced[: counts.sum()], np.cumsum(counts)[:-1])) if counts.sum() else \
        [np.zeros(0, bool) for _ in counts]
    return Reference(feats=feats, speech_frames=counts, voiced_frames=np.array([int(v.sum()) for v in vf]),
                     voiced=vf, heading=np.array([f.is_heading for f in fragments], dtype=bool), words=word_frames)


def _stretch(c: np.ndarray, ratio: float) -> np.ndarray:
    if len(c) == 0:
        return c
    n = max(1, int(round(len(c) * ratio)))
    idx = np.minimum((np.arange(n) / ratio).astype(np.int64), len(c) - 1)
    return c[idx]


def _decimate(x: np.ndarray, factor: int) -> np.ndarray:
    n = len(x) // factor
    if n == 0:
        return x[:1].copy()
    head = x[: n * factor].reshape(n, factor, -1).mean(axis=1)
    if len(x) > n * factor:
        head = np.vstack([head, x[n * factor:].mean(axis=0, keepdims=True)])
    return head.astype(np.float32)


def align_features(ref: Reference, narr: Narration, anchors: dict[int, int] | None = None) -> Alignment:
    """Onset frame (10 ms) in the narration of every fragment, the mean DTW distance per fragment, and
    the longest stretch of each fragment's text (seconds) that the narration skipped."""
    n_frag = len(ref.feats)
    nvoiced = narr.voiced
    ref_ceps = [cepstra(m) if len(m) else np.zeros((0, 12), np.float32)
                for m in compensate(ref.feats, ref.voiced, narr)]
    # normalise each signal by the statistics of its own speech (in place: the narration is the big one)
    y = narr.ceps
    speech = y[nvoiced] if nvoiced.sum() > 10 else y
    mu_n, sd_n = speech.mean(axis=0), speech.std(axis=0) + 1e-6
    del speech
    y -= mu_n
    y /= sd_n
    silence = y[~nvoiced].mean(axis=0) if (~nvoiced).sum() > 10 else np.full(y.shape[1], -1.5, np.float32)
    # Pauses carry no information but their noise: every frame the detector calls silence becomes the
    # same silence vector, in both signals, so a long pause costs nothing to stretch and noise that
    # changes along the recording cannot pull a sentence into a pause.
    y[~nvoiced] = silence
    allref = np.vstack([c for c in ref_ceps if len(c)]) if any(len(c) for c in ref_ceps) else np.zeros((1, 12))
    # normalise by the statistics of the reference's speech
    mu_r, sd_r = allref.mean(axis=0), allref.std(axis=0) + 1e-6
    del allref
    feats = [((c - mu_r) / sd_r).astype(np.float32) for c in ref_ceps]
    del ref_ceps
    for c, v in zip(feats, ref.voiced):
        if len(c):
            c[~v] = silence

    anchors = dict(sorted((anchors or {}).items()))
    bounds = [(0, 0)] + list(anchors.items()) + [(n_frag, len(y))]
    out = Alignment.empty(n_frag)
    out.guides = [np.zeros(0, np.int32) for _ in range(n_frag)]
    for (f0, j0), (f1, j1) in zip(bounds[:-1], bounds[1:]):
        if f1 <= f0:
            continue
        heading = ref.heading[f0:f1] if ref.heading is not None else np.zeros(f1 - f0, bool)
        seg = _align_segment(feats[f0:f1], ref.voiced_frames[f0:f1], y[j0:j1], nvoiced[j0:j1], silence, heading)
        out.onsets[f0:f1] = seg.onsets + j0
        out.costs[f0:f1] = seg.costs
        out.skipped[f0:f1] = seg.skipped
        out.jumped[f0:f1] = seg.jumped
        out.held += [(k + f0, a + j0, b + j0) for k, a, b in seg.held]
        out.ratio = seg.ratio
        if seg.guides is not None:
            out.guides[f0:f1] = [g + j0 for g in seg.guides]
        if f0 in anchors:
            out.onsets[f0] = anchors[f0]
    out.ref_feats = feats
    out.silence = silence
    return out


@dataclass
class Alignment:
    """What the DTW found, per fragment and per pause of the reference (frames of 10 ms)."""
    onsets: np.ndarray          # onset frame of each fragment in the narration
    costs: np.ndarray           # mean local distance along each fragment's speech
    skipped: np.ndarray         # longest run of each fragment's text the narration skipped (s)
    jumped: np.ndarray          # fragments the path jumped over (not read at all)
    held: list[tuple[int, int, int]]   # (k, first, end): narration speech held at the pause before fragment k
    ref_feats: list[np.ndarray] | None = None   # per fragment, the reference's normalised features
    ratio: float = 1.0           # the narrator's rate against the reference's
    silence: np.ndarray | None = None   # the normalised feature vector every pause frame of both signals has
    # per fragment, the narration frame (10 ms) the path pairs with each frame of its rate-matched
    # reference: where the word timing's local alignment looks
    guides: list[np.ndarray] | None = None

    @classmethod
    def empty(cls, n: int) -> Alignment:
        return cls(onsets=np.zeros(n), costs=np.zeros(n), skipped=np.zeros(n), jumped=np.zeros(n, bool), held=[])


# Deviation-tolerant DTW. A narration frame held at a pause of the reference costs at most the garbage
# price (the GARBAGE_QUANTILE of random speech-pair distances, per level); jumping from one pause to a
# later one costs SKIP_PENALTY_S seconds' worth of it plus SKIP_ROW of it per row jumped.
GARBAGE_QUANTILE = 0.33
SKIP_PENALTY_S = 0.2
SKIP_ROW = 0.4
MIN_REF_PAUSE = 2 * COARSE   # every pause of the reference has a whole row at the coarse level


def _garbage(x: np.ndarray, y: np.ndarray, labels: np.ndarray, voiced: np.ndarray, n: int = 20000) -> float:
    """The price of a narration frame held at a pause: a low quantile of the distances between random
    pairs of speech frames of the two signals (matched speech costs less than that on average, speech
    forced onto the wrong words more), measured at this level of detail."""
    xs = np.flatnonzero(labels < 0)
    ys = np.flatnonzero(voiced[: len(y)])
    if len(xs) < 10 or len(ys) < 10:
        return float("inf")
    rng = np.random.default_rng(0)
    a, b = rng.choice(xs, n), rng.choice(ys, n)
    d = np.sqrt(((x[a] - y[b]) ** 2).sum(axis=1))
    return float(np.quantile(d, GARBAGE_QUANTILE))


def _rows(labels: np.ndarray, factor: int) -> np.ndarray:
    """Labels of decimated rows: a row is pause p when all its frames are."""
    n = -(-len(labels) // factor)
    padded = np.concatenate([labels, np.full(n * factor - len(labels), -1)]).reshape(n, factor)
    same = (padded == padded[:, :1]).all(axis=1)
    return np.where(same, padded[:, 0], -1)


def _align_segment(feats: list[np.ndarray], voiced_frames: np.ndarray, y: np.ndarray, voiced: np.ndarray,
                   silence: np.ndarray, heading: np.ndarray) -> Alignment:
    n_frag = len(feats)
    narr_speech = int(voiced.sum())
    ref_speech = int(voiced_frames.sum())
    ratio = narr_speech / ref_speech if ref_speech else 1.0
    ratio = float(np.clip(ratio, 0.4, 2.5))
    stretched = [_stretch(c, ratio) for c in feats]
    speech_total = sum(len(c) for c in stretched)
    # the narration's silence, shared among the gaps; narrators pause longer around headings
    weight = np.ones(n_frag + 1)
    weight[0] = weight[-1] = HEADING_PAUSE_WEIGHT
    weight[:-1][heading] = HEADING_PAUSE_WEIGHT
    weight[1:][heading] = HEADING_PAUSE_WEIGHT
    silence_total = max(len(y) - speech_total, n_frag + 1)
    pauses_len = np.maximum(MIN_REF_PAUSE, np.round(weight / weight.sum() * silence_total)).astype(int)
    x = np.empty((speech_total + int(pauses_len.sum()), y.shape[1]), np.float32)
    labels = np.full(len(x), -1, np.int64)
    onset_ref = []
    x[: pauses_len[0]] = silence
    labels[: pauses_len[0]] = 0
    pos = int(pauses_len[0])
    speech_len = [len(c) for c in stretched]
    for k, c in enumerate(stretched):
        onset_ref.append(pos)
        x[pos:pos + len(c)] = c
        pos += len(c)
        x[pos:pos + pauses_len[k + 1]] = silence
        labels[pos:pos + pauses_len[k + 1]] = k + 1
        pos += int(pauses_len[k + 1])
    del stretched
    onset_ref_arr = np.array(onset_ref)
    if len(y) < 4 or len(x) < 4:
        return Alignment.empty(n_frag)

    from pipeline.stages.dtw import band_around_path, diagonal_band, dtw_band  # numba: imported only when aligning

    # coarse pass in a wide diagonal band, then a fine pass around the coarse path
    xc, yc = _decimate(x, COARSE), _decimate(y, COARSE)
    half = int(COARSE_BAND_S / (HOP * COARSE))
    lo, hi = diagonal_band(len(xc), len(yc), half)
    coarse_labels = _rows(labels, COARSE)
    xf, yf = _decimate(x, FINE), _decimate(y, FINE)
    fine_labels = _rows(labels, FINE)
    g = _garbage(xc, yc, coarse_labels, _decimate(voiced[:, None].astype(np.float32), COARSE)[:, 0] > 0.5)
    ci, cj, _ = dtw_band(xc, yc, lo, hi, coarse_labels, g, g * SKIP_PENALTY_S / (HOP * COARSE), g * SKIP_ROW)
    lo, hi = band_around_path(ci, cj, COARSE // FINE, len(xf), len(yf), int(FINE_BAND_S / (HOP * FINE)))
    g = _garbage(xf, yf, fine_labels, _decimate(voiced[:, None].astype(np.float32), FINE)[:, 0] > 0.5)
    pi, pj, dist = dtw_band(xf, yf, lo, hi, fine_labels, g, g * SKIP_PENALTY_S / (HOP * FINE), g * SKIP_ROW)

    # first narration frame matched to each reference row; rows the path jumped over take the frame of
    # the jump (the next row it visits)
    first_j = np.full(len(xf) + 1, -1, dtype=np.int64)
    order = np.argsort(pi, kind="stable")
    rows, starts = np.unique(pi[order], return_index=True)
    first_j[rows] = pj[order][starts]
    first_j[-1] = len(yf)
    visited = first_j >= 0
    nxt = np.minimum.accumulate(np.where(visited, np.arange(len(first_j)), len(first_j) - 1)[::-1])[::-1]
    first_j = first_j[nxt]
    onset_rows = np.minimum(onset_ref_arr // FINE, len(xf) - 1)
    onsets = first_j[onset_rows] * FINE
    # mean local distance along each fragment's speech (not the pause after it) on the path
    frag_of_row = np.searchsorted(onset_ref_arr // FINE, pi, side="right") - 1
    speech_end = (onset_ref_arr + np.array(speech_len)) // FINE
    valid = (frag_of_row >= 0)
    valid[valid] &= pi[valid] < speech_end[frag_of_row[valid]]
    sums = np.bincount(frag_of_row[valid], weights=dist[valid], minlength=n_frag)
    counts = np.bincount(frag_of_row[valid], minlength=n_frag)
    costs = sums / np.maximum(counts, 1)
    jumped = counts == 0
    # narration speech held at a pause of the reference: (fragment it precedes, first frame, end frame)
    held = []
    lab = fine_labels[pi]
    at_pause = lab >= 0
    vf = voiced[np.minimum(pj * FINE, len(voiced) - 1)]
    hold = at_pause & vf
    if hold.any():
        d = np.diff(np.concatenate([[0], hold.astype(np.int8), [0]]))
        for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
            held.append((int(lab[a]), int(pj[a]) * FINE, (int(pj[b - 1]) + 1) * FINE))
    column = first_j[np.minimum(np.arange(len(x)) // FINE, len(xf) - 1)].astype(np.int32) * FINE
    guides = [column[a:a + n] for a, n in zip(onset_ref, speech_len)]
    return Alignment(onsets=onsets.astype(np.float64), costs=costs,
                     skipped=_skipped(pi, pj, frag_of_row, valid, n_frag) * FINE * HOP,
                     jumped=jumped, held=held, ratio=ratio, guides=guides)


def _skipped(pi: np.ndarray, pj: np.ndarray, frag_of_row: np.ndarray, valid: np.ndarray, n_frag: int) -> np.ndarray:
    """Per fragment, the longest run (fine frames) of the path along the reference's speech while the
    narration stands still: words in the text that the narrator did not read."""
    di, dj = np.diff(pi), np.diff(pj)
    run = (dj == 0) & (di > 0) & valid[1:]
    out = np.zeros(n_frag, np.int64)
    if run.any():
        d = np.diff(np.concatenate([[0], run.astype(np.int8), [0]]))
        st, en = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
        np.maximum.at(out, frag_of_row[1:][st], en - st)
    return out


def pauses(voiced: np.ndarray) -> list[tuple[int, int]]:
    """Runs of unvoiced frames at least MIN_PAUSE_S long, as (start, end) frame indices."""
    v = np.concatenate([[True], voiced, [True]])
    d = np.diff(v.astype(np.int8))
    starts = np.flatnonzero(d == -1)
    ends = np.flatnonzero(d == 1)
    min_len = int(MIN_PAUSE_S / HOP)
    return [(int(s), int(e)) for s, e in zip(starts, ends) if e - s >= min_len]


def snap(onsets: np.ndarray, voiced: np.ndarray, fixed: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """Move each onset to the end of the nearest pause within SNAP_WINDOW_S; report which were snapped."""
    ps = pauses(voiced)
    p_start = np.array([p[0] for p in ps]) if ps else np.zeros(0, int)
    p_end = np.array([p[1] for p in ps]) if ps else np.zeros(0, int)
    window = SNAP_WINDOW_S / HOP
    out = onsets.astype(np.float64).copy()
    snapped = np.zeros(len(onsets), dtype=bool)
    used_end = -1
    for k in range(1, len(onsets)):
        t = onsets[k]
        if k in fixed:
            snapped[k] = True
            continue
        if len(p_end):
            dist = np.where(t < p_start, p_start - t, np.where(t > p_end, t - p_end, 0))
            cand = np.flatnonzero((dist <= window) & (p_end > used_end))
            if len(cand):
                best = cand[np.argmin(dist[cand] + 0.001 * np.abs(p_end[cand] - t))]
                out[k] = p_end[best]
                snapped[k] = True
                used_end = p_end[best]
        if out[k] <= out[k - 1]:
            out[k] = out[k - 1] + 1
    return out, snapped


def confidence(costs: np.ndarray, snapped: np.ndarray, heard: np.ndarray, expected_heard: np.ndarray,
               skipped: np.ndarray) -> np.ndarray:
    """Per fragment, in [0, 1]: how far to trust its timing. The DTW distance along it against the
    file's spread (only an outlier counts: a synthetic reference is never close to a person's voice),
    whether it begins at a pause, how much speech the narration has in its span (without the held speech
    of a deviation) against what its text needs, and whether a run of its words went unread (``skipped``:
    the longest, in seconds). Calibrated on the planted deviations of bench/deviations.py (see
    docs/architecture.md): below DOUBT a boundary is wrong by more than 0.5 s often enough to check."""
    med = np.median(costs) if len(costs) else 0.0
    spread = np.percentile(costs, 75) - np.percentile(costs, 25) + 1e-6 if len(costs) else 1.0
    z = (costs - med) / spread
    # a short fragment's mean distance rests on few frames: it counts for less
    z = z * np.clip(expected_heard / 2.0, 0.25, 1.0)
    c = 1.0 / (1.0 + np.exp(np.clip(1.5 * (z - 4.0), -50, 50)))
    # a boundary not at a pause is less sure for both fragments it separates
    c = np.where(snapped, c, c * 0.85)
    c[:-1] = np.where(snapped[1:], c[:-1], c[:-1] * 0.85)
    speech = np.where(expected_heard > 0, heard / np.maximum(expected_heard, 1e-6), 1.0)
    # a short title or heading ("MAIA", "One was Jackie.") is often said differently from how the
    # reference spells it out: its length says less than a sentence's
    short = expected_heard < 1.5
    c = np.where(speech < 0.35, c * np.where(short, 0.8, 0.4), c)
    c = np.where(speech > 2.5, c * np.where(short, 0.8, 0.5), c)
    c = np.where(skipped >= SKIPPED_WORDS_S, c * 0.6, c)
    return np.clip(c, 0.0, 1.0)


# ---------------------------------------------------------------------------- inputs


def book_language(part_file: Path) -> str | None:
    """The ``language`` of the book.toml beside a part's Markdown file, if there is one."""
    toml = part_file.parent / "book.toml"
    try:
        value = tomllib.loads(toml.read_text(encoding="utf-8")).get("language")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return value if isinstance(value, str) and value else None


def read_fragments(text: Path) -> tuple[list[Fragment], list[Chapter], str]:
    """A part's Markdown (sentences and headings, with chapters) or plain text, one fragment per line."""
    raw = text.read_bytes()
    try:
        decoded = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(Problem(display_path(text), line, "E-TEXT-001", "invalid UTF-8")) from None
    if text.suffix == ".md" and decoded.startswith("---"):
        part = load_part(text)
        heading_ids = {s.heading.id for s in part.sections}
        sentences = part.sentences()
        frags = [Fragment(s.id, s.text, s.id in heading_ids) for s in sentences]
        index = {s.id: i for i, s in enumerate(sentences)}
        chapters = [Chapter(sec.id, sec.title, 0 if n == 0 else index[sec.heading.id])
                    for n, sec in enumerate(part.sections)]
        return frags, chapters, part.id
    lines = [ln.strip() for ln in decoded.splitlines()]
    frags = [Fragment(f"f{n:06d}", ln) for n, ln in enumerate((ln for ln in lines if ln), 1)]
    if not frags:
        raise InputError(Problem(display_path(text), 0, "E-TEXT-004", "no text to align (no non-empty lines)"))
    return frags, [], text.stem


def read_labels(path: Path, fragments: list[Fragment]) -> dict[int, float]:
    """Audacity labels: `start<TAB>end<TAB>label`; the label names a fragment by id or 1-based number."""
    ids = {f.id: i for i, f in enumerate(fragments)}
    out: dict[int, float] = {}
    problems = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raw = path.read_bytes()
        raise InputError(Problem(display_path(path), raw[: e.start].count(b"\n") + 1, "E-LABEL-003",
                                 "label file is not valid UTF-8")) from None
    except OSError as e:
        raise InputError(Problem(display_path(path), 0, "E-LABEL-003", f"label file cannot be read: {e.strerror}")) from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("\\"):
            continue
        cols = line.split("\t")
        if len(cols) > 2 and cols[2].split()[:1] == ["accept"]:
            continue  # a proofing acceptance (pipeline/proof.py), not a boundary
        try:
            start = float(cols[0])
        except ValueError:
            problems.append(Problem(display_path(path), n, "E-LABEL-001", "expected 'start<TAB>end<TAB>label'"))
            continue
        label = cols[2].strip() if len(cols) > 2 else ""
        k = ids.get(label)
        if k is None and label.isdigit() and 1 <= int(label) <= len(fragments):
            k = int(label) - 1
        if k is None:
            problems.append(Problem(display_path(path), n, "E-LABEL-002", f"label {label!r} names no fragment"))
            continue
        out[k] = start
    if problems:
        raise InputError(problems)
    return out


# ---------------------------------------------------------------------------- the stage


def align(audio: Path, text: Path, labels: Path | None = None, labels_offset: float = 0.0,
          waveform: Path | None = None, language: str | None = None) -> SyncMap:
    """The sync map of ``audio`` against ``text``; with ``waveform``, also the audio's envelope (min and
    max sample per 10 ms, int16, as .npy) for the release report's picture, read from the same decode.
    ``language`` (BCP 47) chooses the reference voice and how numbers are read; by default the book's
    (book.toml beside a part's Markdown), else English."""
    probe(audio)
    fragments, chapters, part_id = read_fragments(text)
    language = language or (book_language(text) if text.suffix == ".md" else None) or "en"
    try:
        espeak_voice(language)
    except UnknownLanguage as e:
        raise InputError(Problem(display_path(text), 0, "E-LANG-001",
                                 f"no reference voice for language {language!r}: {e}")) from None
    narr = narration_features(audio)
    if waveform is not None:
        write_envelope(waveform, narr.envelope if narr.envelope is not None else np.zeros((0, 2), np.int16))
    voiced, duration = narr.voiced, narr.duration
    ref = synthesise(fragments, language=language)
    fixed = read_labels(labels, fragments) if labels else {}
    anchors = {k: int(round((t - labels_offset) / HOP)) for k, t in fixed.items() if 0 < k}
    al = align_features(ref, narr, anchors)
    onsets, costs, skipped = al.onsets, al.costs, al.skipped
    snapped_on, snapped = snap(onsets, voiced, set(anchors))
    for k, j in anchors.items():
        snapped_on[k] = j
    times = np.concatenate([[0.0], snapped_on[1:] * HOP, [duration]])
    times = np.minimum(np.maximum.accumulate(times), duration)
    ratio = voiced.sum() / max(1, ref.voiced_frames.sum())
    expected = ref.speech_frames * ratio * HOP
    found = _deviations(al, narr, times, expected, set(anchors))
    # the first fragment is judged from where its speech starts, not from the head of the file
    spoken = times.copy()
    first_voiced = np.flatnonzero(voiced)
    if len(first_voiced) and len(spoken) > 1:
        spoken[0] = min(max(onsets[0] * HOP, first_voiced[0] * HOP), spoken[1])
    cum = np.concatenate([[0], np.cumsum(voiced)])
    idx = np.clip(np.round(spoken / HOP).astype(int), 0, len(voiced))
    heard = (cum[idx[1:]] - cum[idx[:-1]]) * HOP
    for d in found:       # the held speech of a deviation is not the fragment's own
        if d.kind in ("extra", "retake") and d.end > d.begin:
            j = int(np.searchsorted(times, d.begin, side="right")) - 1
            if 0 <= j < len(heard):
                heard[j] -= (cum[min(len(voiced), int(round(d.end / HOP)))] - cum[int(round(d.begin / HOP))]) * HOP
    conf = confidence(costs, snapped, heard, ref.voiced_frames * ratio * HOP, skipped)
    for d in found:
        if d.kind == "skip":
            conf[d.fragment] = 1.0 - d.confidence
    frags = tuple(contracts.Fragment(id=f.id, text=f.text, begin=float(times[i]), end=float(times[i + 1]),
                                     confidence=round(float(conf[i]), 3)) for i, f in enumerate(fragments))
    ids, texts = [f.id for f in fragments], [f.text for f in fragments]
    deviations = tuple(d.contract(ids, texts) for d in found)
    chaps = []
    for n, c in enumerate(chapters):
        begin = 0.0 if n == 0 else float(times[c.first_fragment])
        end = float(times[chapters[n + 1].first_fragment]) if n + 1 < len(chapters) else duration
        chaps.append(contracts.Chapter(id=c.id, title=c.title, begin=begin, end=end))
    sync = SyncMap(part=part_id, audio=audio.name, duration=duration, fragments=frags, chapters=tuple(chaps),
                   deviations=deviations)
    # every word of every fragment, inside the fragment's audible clip (its span without the unscripted
    # speech or false start folded into it; none for a skipped fragment)
    words = time_words([f.text for f in frags], [(f.begin, f.end) for f in frags], contracts.audible_clips(sync),
                       al.ref_feats, ref.words, narr.ceps, voiced, al.silence, al.guides)
    return replace(sync, fragments=tuple(replace(f, words=w) for f, w in zip(frags, words)))


def _heard(voiced: np.ndarray, times: np.ndarray, held: list[tuple[int, int, int]]) -> np.ndarray:
    """Seconds of speech in each fragment's span (fragment k spans times[k]..times[k+1]), without the
    speech held at a pause inside it."""
    cum = np.concatenate([[0], np.cumsum(voiced)])
    idx = np.clip(np.round(times / HOP).astype(int), 0, len(voiced))
    heard = (cum[idx[1:]] - cum[idx[:-1]]) * HOP
    for _, a, b in held:
        j = int(np.searchsorted(times, a * HOP, side="right")) - 1
        if 0 <= j < len(heard):
            heard[j] -= np.count_nonzero(voiced[a:b]) * HOP
    return heard


def _redecode(al: Alignment, narr: Narration, times: np.ndarray, expected: np.ndarray,
              held: list[tuple[int, int, int]], fixed: set[int]) -> tuple[list[tuple[int, int, int]], dict[int, bool]]:
    """Around every deviation the path found, decide again which sentences own which speech, by
    sentence-level costs (``deviations.redecode``). The path's frame-level costs tell the text read from
    other speech poorly, so near a skip or held speech it can pair a sentence with the speech of its
    neighbour; a whole sentence against a whole stretch of speech tells them apart far better.
    Updates ``times`` in place; returns the held stretches and, per fragment of a window, whether it
    was read (False) or skipped (True)."""
    voiced = narr.voiced
    n = len(expected)
    heard = _heard(voiced, times, held)
    involved = set(np.flatnonzero(skipped_fragments(al.jumped, heard, expected)).tolist())
    for k, _, _ in held:
        involved |= {k - 1, k}
    involved = {f for f in involved if 0 <= f < n}
    if not involved or not al.ref_feats:
        return held, {}
    refs = [_decimate(_stretch(c, al.ratio), FINE) if len(c) else np.zeros((0, narr.ceps.shape[1]), np.float32)
            for c in al.ref_feats]

    def speech(a: int, b: int) -> np.ndarray:
        return _decimate(narr.ceps[a:b][voiced[a:b]], FINE)

    # every sentence against the speech the path gave it: the typical cost, and which ones match badly
    units = np.full(n, np.nan)
    for k in range(n):
        if len(refs[k]) >= 10 and times[k + 1] > times[k]:
            units[k] = _unit_cost(refs[k], speech(int(round(times[k] / HOP)), int(round(times[k + 1] / HOP))))
    good = units[np.isfinite(units)]
    if len(good) < 3:
        return held, {}
    tau = TAU_FACTOR * float(np.median(good))
    bad = ~(units <= SUSPECT_FACTOR * float(np.median(good)))     # nan (no speech) counts as bad
    # a window around each deviation, grown over the badly matched sentences next to it (a path that
    # skipped the wrong sentences pairs the right ones with their neighbours' speech), then a margin
    windows: list[list[int]] = []
    for k in sorted(involved):
        lo, hi = k, k
        while lo > 0 and bad[lo - 1]:
            lo -= 1
        while hi < n - 1 and bad[hi + 1]:
            hi += 1
        lo, hi = max(0, lo - REDECODE_MARGIN), min(n - 1, hi + REDECODE_MARGIN)
        if windows and lo <= windows[-1][1] + 1:
            windows[-1][1] = max(windows[-1][1], hi)
        else:
            windows.append([lo, hi])
    # windows fixed by labels are the labels' business; a window of dozens of sentences is not a local
    # question (and would cost minutes): the path's answer stands there
    windows = [w for w in windows if not any(w[0] <= f <= w[1] for f in fixed) and w[1] - w[0] <= MAX_WINDOW]
    forced: dict[int, bool] = {}
    new_held = [h for h in held]
    for fa, fb in windows:
        start = 0 if fa == 0 else int(round(times[fa] / HOP))
        end = int(round(times[fb + 1] / HOP)) if fb + 1 < n else len(voiced)
        isl = speech_islands(voiced, start, end)
        if not isl:
            continue
        exp_frames = np.array([len(refs[f]) for f in range(fa, fb + 1)], float)

        def speech_of(i: int, j: int, isl=isl) -> np.ndarray:
            return np.vstack([speech(a, b) for a, b in isl[i:j]])

        owned, holds = redecode(refs[fa:fb + 1], exp_frames, isl, speech_of, tau)
        # the last complete take: a sentence given speech that the narrator then read again (held just
        # after it) maps to that later reading, as a sentence read twice should
        for f in sorted(owned):
            i0, i1 = owned[f]
            later = [g for g in owned if g > f]
            stop = owned[min(later)][0] if later else len(isl)
            again = [i for i in range(i1, stop) if i in holds]
            if not again or again != list(range(again[0], stop)):
                continue
            now = _unit_cost(refs[fa + f], speech_of(i0, i1))
            length = len(speech_of(i0, i1))
            tries = [(_unit_cost(refs[fa + f], sp), first) for first in again
                     if abs(len(sp := speech_of(first, stop)) - length) <= 0.3 * length]    # the same words again
            if not tries:
                continue
            cost, first = min(tries)
            if cost <= LAST_TAKE * now:
                holds = sorted(set(holds) - set(range(first, stop)) | set(range(i0, first)))
                owned[f] = (first, stop)
        for f in range(fa, fb + 1):
            forced[f] = (f - fa) not in owned
            if (f - fa) in owned and f > 0:
                times[f] = isl[owned[f - fa][0]][0] * HOP
        new_held = [h for h in new_held if not (start <= h[1] < end)]
        for i in holds:
            a, b = isl[i]
            if np.count_nonzero(voiced[a:b]) * HOP < MIN_HELD_S:
                continue          # a breath or a click, not speech
            nxt = [f for f in range(fa, fb + 1) if (f - fa) in owned and isl[owned[f - fa][0]][0] >= b]
            k = nxt[0] if nxt else fb + 1
            if new_held and new_held[-1][0] == k and a - new_held[-1][2] < int(HELD_GAP_S / HOP) \
                    and start <= new_held[-1][1] < end:
                new_held[-1] = (k, new_held[-1][1], b)
            else:
                new_held.append((k, a, b))
    new_held.sort(key=lambda h: h[1])
    # skipped fragments take no time: keep the others' order
    times[:] = np.minimum(np.maximum.accumulate(times), times[-1])
    return new_held, forced


def _inner_false_start(narr: Narration, a: int, b: int, k: int, onset: np.ndarray, times: np.ndarray,
                       n: int) -> tuple[int, int, float] | None:
    """(start, restart, confidence) when fragment k's span [a, b) (frames) opens with a false start: speech,
    a pause of 0.25 s or more, then speech that begins with the same words (the narrator's own voice
    against itself: a close match), judged as ``classify_held`` judges held speech."""
    voiced = narr.voiced
    isl = speech_islands(voiced, a, b, gap=FALSE_START_PAUSE, shortest=5)
    if len(isl) < 2:
        return None
    best = None
    speech_total = sum(e0 - s0 for s0, e0 in isl)
    for split in range(1, len(isl)):
        head = isl[:split]
        said = sum(e0 - s0 for s0, e0 in head)
        if said * HOP < MIN_HELD_S or said > 0.75 * speech_total:
            continue
        seg = _decimate(np.vstack([narr.ceps[s0:e0] for s0, e0 in head]), FINE)
        r0 = isl[split][0]
        rest = narr.ceps[r0:b][voiced[r0:b]][: int(said * 1.6) + 10]
        takes = {k: _decimate(rest, FINE)}
        for j in range(max(0, k - 3), min(n, k + 4)):
            if j != k and j != k - 1:
                j0 = int(onset[j])
                j1 = int(round(times[j + 1] / HOP))
                takes[j] = _decimate(narr.ceps[j0:j1][voiced[j0:j1]][: int(said * 1.6) + 10], FINE)
        kind, conf, repeat = classify_held(seg, takes, k)
        if kind == "retake" and not repeat and conf >= INNER_RETAKE_CONFIDENCE and (best is None or conf > best[2]):
            best = (head[0][0], r0, conf)
    return best


def _edge_speech(narr: Narration, al: Alignment, a: int, b: int, k: int, lead: bool) -> tuple[int, int, float] | None:
    """(first, end, confidence) of speech at the head (``lead``) or the tail of fragment k's span [a, b)
    that is not its text: leaving those islands out lowers the sentence's whole-sentence DTW cost by
    EDGE_GAIN or more."""
    voiced = narr.voiced
    isl = speech_islands(voiced, a, b, gap=30)
    if len(isl) < 2 or not al.ref_feats or len(al.ref_feats[k]) < 10:
        return None
    ref = _decimate(_stretch(al.ref_feats[k], al.ratio), FINE)

    def speech(i: int, j: int) -> np.ndarray:
        return _decimate(np.vstack([narr.ceps[s0:e0][voiced[s0:e0]] for s0, e0 in isl[i:j]]), FINE)

    whole = _unit_cost(ref, speech(0, len(isl)))
    best = None
    for cut in range(1, len(isl)):
        dropped = isl[:cut] if lead else isl[cut:]
        said = sum(np.count_nonzero(voiced[s0:e0]) for s0, e0 in dropped) * HOP
        if said < 0.5:
            continue
        rest = _unit_cost(ref, speech(cut, len(isl)) if lead else speech(0, cut))
        gain = 1 - rest / whole
        if gain >= EDGE_GAIN and (best is None or gain > best[2]):
            best = (dropped[0][0], dropped[-1][1], gain)
    if best is None:
        return None
    return best[0], best[1], float(np.clip(0.5 + 2 * (best[2] - EDGE_GAIN), 0.5, 0.99))


EDGE_GAIN = 0.12           # a sentence matching this much better without the speech at its edge
FALSE_START_PAUSE = 25     # frames: the pause after a false start (0.25 s)
# a false start the path did not hold needs more evidence than held speech (on the bench, inner reports
# under this were real one time in three)
INNER_RETAKE_CONFIDENCE = 0.7


def _deviations(al: Alignment, narr: Narration, times: np.ndarray, expected: np.ndarray,
                fixed: set[int]) -> list[Finding]:
    """Skips, retakes and unscripted speech from the path's jumps and held speech; moves the boundaries
    they concern in ``times`` (fragment k spans times[k]..times[k+1]) in place: a skipped fragment gets
    no time, a sentence read twice maps to its last take."""
    voiced = narr.voiced
    n = len(expected)
    duration = float(times[-1])
    found: list[Finding] = []
    held = held_stretches(al.held, voiced)
    held, forced = _redecode(al, narr, times, expected, held, fixed)

    onset = np.round(times[:-1] / HOP).astype(int)
    onset[0] = int(al.onsets[0])      # the first fragment's span starts at the file's start, its speech later

    def take(k: int, limit: int, until: int) -> np.ndarray:
        """The narration's speech from fragment k's onset on (frames of 10 ms), at most ``limit`` speech
        frames and never past frame ``until`` (the fragment's own span: not the held speech itself)."""
        j0 = int(onset[k])
        j1 = max(j0, min(len(voiced), j0 + 3 * limit + 100, until))
        return narr.ceps[j0:j1][voiced[j0:j1]][:limit]

    moved: dict[int, float] = {}
    for k, a, b in held:
        speech = narr.ceps[a:b][voiced[a:b]]
        want = int(len(speech) * 1.6) + 10
        near = [j for j in range(k - 3, k + 4) if 0 <= j < n]
        takes = {}
        for j in near:
            until = int(onset[j + 1]) if j + 1 < n else len(voiced)
            if j == k - 1:
                until = min(until, a)
            if j < k and until > a:
                until = a
            takes[j] = _decimate(take(j, want, until), FINE)
        kind, conf, repeat = classify_held(_decimate(speech, FINE), takes, k)
        if kind == "retake" and repeat and k - 1 >= 1 and k - 1 not in fixed:
            # the sentence before, read again: it maps to this, its last take; the first take is the retake
            first_take = float(times[k - 1])
            moved[k - 1] = a * HOP
            found.append(Finding("retake", first_take, a * HOP, k - 1, conf))
        elif kind == "retake":
            found.append(Finding("retake", a * HOP, b * HOP, min(k, n - 1), conf))
        else:
            found.append(Finding("extra", a * HOP, b * HOP, min(k, n - 1), conf))
    for k, t in moved.items():
        times[k] = t
    # speech before the first sentence or after the last that the path gave to it: dropping it makes
    # the sentence match its text clearly better (no other sentence is there to compare with)
    if n and not any(d.kind in ("extra", "retake") and d.fragment in (0, n - 1) for d in found):
        for k, lead in ((0, True), (n - 1, False)):
            if k in fixed:
                continue
            a = int(round(times[k] / HOP)) if k else 0
            b = int(round(times[k + 1] / HOP)) if k + 1 <= n else len(voiced)
            span = _edge_speech(narr, al, a, b, k, lead)
            if span is not None:
                found.append(Finding("extra", span[0] * HOP, span[1] * HOP, k, span[2]))
    # false starts the path folded into the sentence they start: the sentence's span opens with speech
    # that its own later speech (after a pause) begins the same way
    near_held = {h[0] for h in held} | {h[0] - 1 for h in held}
    for k in range(n):
        if k in fixed or k in near_held or k in moved:
            continue
        a, b = int(round(times[k] / HOP)), int(round(times[k + 1] / HOP))
        if k == 0:
            a = int(onset[0])
        hit = _inner_false_start(narr, a, b, k, onset, times, n)
        if hit is not None:
            start, restart, conf = hit
            found.append(Finding("retake", start * HOP, restart * HOP, k, conf))
            if k > 0:
                times[k] = restart * HOP
    # fragments not read: heard speech in their span, without the held speech
    heard = _heard(voiced, times, held)
    skipped = skipped_fragments(al.jumped, heard, expected)
    for k, v in forced.items():
        skipped[k] = v
    skipped[list(fixed)] = False
    for k in range(n - 1, -1, -1):
        if skipped[k]:
            times[k] = times[k + 1] if k + 1 < n else duration
            if k == 0:
                times[0] = 0.0
    times[:] = np.minimum(np.maximum.accumulate(times), duration)
    for k in np.flatnonzero(skipped).tolist():
        found.append(Finding("skip", float(times[k]), float(times[k]), k,
                               0.95 if al.jumped[k] else 0.8 if forced.get(k) else 0.7))
    found.sort(key=lambda d: (d.begin, d.fragment))
    return found


def cmd_align(args: argparse.Namespace) -> int:
    offset = args.labels_offset
    if args.audio_report is not None:
        offset = read_audio_report(args.audio_report).trim_start
    sync = align(args.audio, args.text, args.labels, labels_offset=offset, waveform=args.waveform,
                 language=args.language)
    write_syncmap(args.output, sync)
    low = sorted(sync.fragments, key=lambda f: 1.0 if f.confidence is None else f.confidence)[:1]
    if args.verbose:
        for f in low:
            print(f"lowest confidence {f.confidence or 0.0:.2f}: {f.id} {f.text[:60]}")
    return 0


def register(add) -> None:
    def setup(p: argparse.ArgumentParser) -> None:
        p.add_argument("audio", type=Path, help="the narration (the master FLAC, or any audio file)")
        p.add_argument("text", type=Path, help="a part's Markdown file, or plain text with one fragment per line")
        p.add_argument("--labels", type=Path, default=None, help="Audacity label file fixing boundaries")
        p.add_argument("--labels-offset", type=float, default=0.0,
                       help="seconds to subtract from label times (the head trimmed off the recording)")
        p.add_argument("--audio-report", type=Path, default=None,
                       help="the master stage's report: take the labels offset from its trim")
        p.add_argument("--language", default=None,
                       help="BCP 47 tag of the narration's language (reference voice, numbers); default: the "
                            "book's language for a part, English for plain text")
        p.add_argument("-o", "--output", type=Path, required=True, help="the sync map JSON")
        p.add_argument("--waveform", type=Path, default=None,
                       help="also write the audio's envelope (min/max per 10 ms, .npy) for the report's timeline")

    add("align", "align a narration to its sentences and headings: write the sync map", setup, cmd_align)


__all__ = ["align", "speakable"]
