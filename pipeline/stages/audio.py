"""Audio: decode, trim, measure (BS.1770), normalise, limit, encode, tag (ID3v2.4 + CHAP/CTOC).

Two streamed ffmpeg passes, never the whole recording in memory:

1. **analyse**: ``astats`` on a minute from the middle (per-channel levels: which audio stream and which
   channels carry the narration, :func:`narration_mix`), then one decode of that mix with ``ebur128``
   (integrated loudness with BS.1770-4 gating, dual mono, and the 100 ms momentary loudness used to find
   the speech): the gain is measured on the signal the render delivers.
2. **render**: one decode, mixed as analysed, trimmed to the speech plus ``silence_pad``, high-passed (DC and rumble), gain
   to the target, and, only where the measured peaks need it, a 2x-oversampled look-ahead limiter so
   that the true peak of the delivered MP3 stays under the ceiling; then, from the same decoded
   stream, the master FLAC and the podcast MP3 (CBR, Xing/LAME header), which the EPUB carries too
   (or, with ``epub_bitrate`` set in book.toml, a separate smaller mono MP3 for the EPUB). Decoding and
   filtering run in one ffmpeg process, feeding float PCM through pipes to the encoder processes, so
   the stage uses both cores.

The podcast MP3 is written untagged to ``build/encoded/``; ``tag`` adds ID3v2.4 tags, cover art and
chapters from the sync map when that exists, so the timeline is the only source of chapter times.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import math
import os
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mutagen.id3 import APIC, CHAP, COMM, CTOC, TALB, TCON, TCOP, TDRC, TIT2, TLAN, TPE1, TPUB, TRCK, CTOCFlags, Frame
from mutagen.id3._tags import ID3SaveConfig, save_frame

from pipeline.model.contracts import (
    Analysis,
    AudioReport,
    Chapter,
    LoudnessRecord,
    RenderPlan,
    read_syncmap,
    write_audio_report,
    write_loudness,
)
from pipeline.model.problems import InputError, Problem, display_path
from pipeline.model.sources import AudioSettings, load_book
from pipeline.stages.cover import normalised_cover, typographic_cover
from pipeline.system.ffmpeg import StreamInfo, audio_streams, run, run_fanout
from pipeline.system.fsutil import atomic_path

# LAME's CBR presets below 160 kbps scale the input by 0.95 (-0.45 dB); we aim for the delivered MP3.
LAME_SCALE_DB = 0.45
# Headroom between the limiter's (oversampled) ceiling and the true-peak target, for MP3 overshoot.
MP3_OVERSHOOT_DB = 0.7
# Speech is the part of the recording whose momentary loudness is within this of the integrated level.
SPEECH_BELOW_INTEGRATED_LU = 20.0
# A channel this far under the loudest one carries no narration (see narration_mix).
SILENT_BELOW_LOUDEST_DB = 30.0
# An audio stream whose loudest channel is under this (RMS, dBFS) is silent: a later stream is used.
SILENT_STREAM_DB = -70.0
# The limiter runs at this multiple of the sample rate, so it sees (most of) the peaks between samples.
OVERSAMPLE = 2
MIN_LOUDNESS = -60.0
# Both passes start with this: a short fade from the first sample (so a file that starts with a DC offset
# or mid-waveform does not step), then a high-pass that removes DC and rumble. Measuring after it means
# the gain is computed on what is delivered.
PRE_FILTER = "afade=t=in:d=0.05,highpass=f=50:poles=2"


# The master stage's report (what ``analyse`` measured, what ``plan`` decided) is a contract between stages:
# ``Analysis``, ``RenderPlan`` and ``AudioReport`` live in pipeline.model.contracts.

_FRAME = re.compile(r"t:\s*([\d.]+)\s+TARGET:\S+ LUFS\s+M:\s*(-?[\d.]+)")
_INTEGRATED = re.compile(r"Integrated loudness:\s*\n\s*I:\s*(-?[\d.]+) LUFS")
_CHANNEL = re.compile(r"Channel: (\d+)\s*\n(?:.*\n)*?.*Peak level dB: (-?[\d.]+|-?inf)"
                      r"\s*\n.*RMS level dB: (-?[\d.]+|-?inf)")


def analyse(recording: Path) -> Analysis:
    """Pass 1: pick the audio stream and the channels that carry the narration (:func:`narration_mix`), then
    decode once and measure, on exactly the signal the render delivers, the loudness, the peaks and where
    the speech is."""
    streams = audio_streams(recording)
    shown = display_path(recording)
    k, levels = _narration_stream(recording, streams)
    info = streams[k]
    mix, out_channels, dead = narration_mix(levels, info.names) if info.channels >= 2 else ("", 1, None)
    stderr = run(["-v", "info", "-i", str(recording), "-map", f"0:a:{k}", "-vn", "-af",
                  f"{_with_mix(mix, PRE_FILTER)},ebur128=dualmono=true:peak=sample:framelog=info",
                  "-f", "null", "-"], recording)
    frames = [(float(t), float(m)) for t, m in _FRAME.findall(stderr)]
    mi = _INTEGRATED.search(stderr)
    if not frames or not mi:
        raise InputError(Problem(shown, 0, "E-AUDIO-003", "unreadable audio file: no audio decoded"))
    duration = frames[-1][0]
    if duration < 0.5:
        raise InputError(Problem(shown, 0, "E-AUDIO-002", f"recording is too short ({duration:.2f} s)"))
    # the audio stream's own duration (a video track may run longer): less decoded than it declares is a cut
    if (info.duration and "Estimating duration" not in stderr
            and duration < info.duration * 0.98 - 1.0):
        which = "" if len(streams) == 1 else f"audio stream {k + 1} of {len(streams)}: "
        raise InputError(Problem(shown, 0, "E-AUDIO-005",
                                 f"truncated or corrupt: {which}decoded {duration:.1f} s of the {info.duration:.1f} s "
                                 "the file declares"))
    integrated = float(mi.group(1))
    ms = _SAMPLE_PEAK.search(stderr)
    peak_db = _db(ms.group(1)) if ms else 0.0
    if integrated <= MIN_LOUDNESS:
        raise InputError(Problem(shown, 0, "E-AUDIO-006",
                                 f"recording is silent or too quiet to measure ({integrated:.1f} LUFS)"))
    threshold = integrated - SPEECH_BELOW_INTEGRATED_LU
    loud = [t for t, m in frames if m > threshold]
    # the momentary window is 400 ms long and ends at t: the onset lies in [t - 0.4, t]
    speech_start = max(0.0, loud[0] - 0.25) if loud else 0.0
    speech_end = min(duration, loud[-1] - 0.1) if loud else duration
    return Analysis(
        source=shown, codec=info.codec, sample_rate=info.sample_rate, channels=info.channels,
        duration=duration, integrated=integrated,
        peak_db=peak_db, dead_channel=dead, speech_start=speech_start, speech_end=speech_end,
        stream=k, layout=info.layout, mix=mix, out_channels=out_channels,
    )


_SAMPLE_PEAK = re.compile(r"Sample peak:\s*\n\s*Peak:\s*(-?[\d.]+|-inf) dBFS")


def _with_mix(mix: str, chain: str) -> str:
    return f"{mix},{chain}" if mix else chain


def _narration_stream(recording: Path, streams: list[StreamInfo]) -> tuple[int, list[tuple[float, float]]]:
    """The audio stream to master, and its channels' levels (none measured for a single mono stream): the
    first audio stream that is not silent (its loudest channel's RMS over :data:`SILENT_STREAM_DB`), so a
    video's silent or empty first track gives way to the one with the narration; the first when all are."""
    if len(streams) == 1 and streams[0].channels == 1:
        return 0, []
    first: list[tuple[float, float]] | None = None
    for k, info in enumerate(streams):
        levels = _channel_levels(recording, info.duration or 0.0, k)
        if len(streams) == 1:
            return 0, levels
        first = levels if first is None else first
        if levels and max(rms for _, rms in levels) > SILENT_STREAM_DB:
            return k, levels
    return 0, first or []


def narration_mix(levels: Sequence[tuple[float, float]], names: Sequence[str]) -> tuple[str, int, int | None]:
    """The downmix rule: which channels carry the narration, and how they become the master's one or two.

    - A channel is *silent* when its RMS (over the minute measured) is more than
      :data:`SILENT_BELOW_LOUDEST_DB` under the loudest channel's, or no signal at all (an unplugged input,
      preamp noise, a track left empty); silent channels are dropped.
    - A channel the layout names LFE is never used (unless every other channel is silent: then the file's
      labels are wrong).
    - One channel left: the master is mono, that channel. A two-channel file with both channels live is
      delivered as it is (stereo; a dual-mono file too).
    - Otherwise, when the layout names both front channels (FL and FR) and both are live: stereo, by the
      ITU-R BS.775 matrix over the live channels: L = FL + 0.707 x (each other left channel: FLC, SL, BL,
      ...) + 0.707 x (each centre channel: FC, BC, ...), R likewise.
    - Otherwise (an unlabelled N-channel file, or a layout whose front pair is not live): mono, the mean of
      the live channels.

    The pass-1 measurement runs after this mix, so the gain is computed on exactly what is delivered.
    Returns the ``pan`` filter ("" when the channels are delivered as they are), the master's channel
    count, and, for a two-channel file, the dropped channel's index."""
    n = len(levels)
    if n < 2:
        return "", 1, None
    named = tuple(names) if len(names) == n else ()
    lfe = {i for i, nm in enumerate(named) if nm.startswith("LFE")}
    rms = [r for _, r in levels]

    def live_of(candidates: list[int]) -> list[int]:
        loudest = max((rms[i] for i in candidates), default=-math.inf)
        if loudest == -math.inf:
            return []
        return [i for i in candidates if rms[i] > -math.inf and rms[i] >= loudest - SILENT_BELOW_LOUDEST_DB]

    live = live_of([i for i in range(n) if i not in lfe]) or live_of(sorted(lfe)) or list(range(n))
    if n == 2 and live == [0, 1]:
        return "", 2, None
    dead = (1 - live[0]) if n == 2 and len(live) == 1 else None
    if len(live) == 1:
        return f"pan=mono|c0=c{live[0]}", 1, dead
    front = {nm: i for i, nm in enumerate(named)}
    if "FL" in front and "FR" in front and front["FL"] in live and front["FR"] in live:
        left: list[str] = []
        right: list[str] = []
        for i in live:
            nm = named[i]
            if nm in ("FL", "FR"):
                (left if nm == "FL" else right).append(f"c{i}")
            elif nm.endswith("L") or nm == "FLC":
                left.append(f"0.707*c{i}")
            elif nm.endswith("R") or nm == "FRC":
                right.append(f"0.707*c{i}")
            else:
                left.append(f"0.707*c{i}")
                right.append(f"0.707*c{i}")
        return f"pan=stereo|c0={'+'.join(left)}|c1={'+'.join(right)}", 2, None
    weight = f"{1 / len(live):.6g}"
    return "pan=mono|c0=" + "+".join(f"{weight}*c{i}" for i in live), 1, None


def _channel_levels(recording: Path, duration: float, stream: int = 0) -> list[tuple[float, float]]:
    """Peak and RMS level (dB) of each channel of an audio stream, from a minute in the middle of the
    recording (enough to tell a silent channel; far cheaper than measuring every channel of the whole
    file)."""
    start = max(0.0, duration / 2 - 30)
    stderr = run(["-v", "info", "-ss", f"{start:.3f}", "-t", "60", "-i", str(recording), "-map", f"0:a:{stream}",
                  "-af", "astats=metadata=0:measure_perchannel=Peak_level+RMS_level:measure_overall=none",
                  "-f", "null", "-"], recording)
    return [(_db(peak), _db(rms)) for _, peak, rms in _CHANNEL.findall(stderr)]


def _db(v: str) -> float:
    return -math.inf if "inf" in v else float(v)


def plan(a: Analysis, s: AudioSettings) -> RenderPlan:
    """Decide trim, channels, gain and whether the limiter is needed."""
    start = max(0.0, a.speech_start - s.silence_pad)
    end = min(a.duration, a.speech_end + s.silence_pad)
    # pass 1 measured the narration mix itself (a mono mix as dual mono, as the meter reads the mono MP3)
    out_channels = a.out_channels or (1 if a.channels == 1 else 2)
    gain = s.loudness - a.integrated + LAME_SCALE_DB
    limit_db = s.true_peak - MP3_OVERSHOOT_DB
    # sample peaks after gain, plus up to 3 dB of inter-sample peaks, against the ceiling
    needs_limiter = a.peak_db + gain + 3.0 > limit_db
    return RenderPlan(trim_start=round(start, 3), trim_end=round(end, 3), channels=out_channels,
                      gain_db=round(gain, 2), limiter=needs_limiter, limit_db=limit_db)


def filter_chain(a: Analysis, p: RenderPlan, s: AudioSettings) -> str:
    # high-pass (DC and rumble) before trimming, so its settling happens outside the kept audio
    # the narration mix first, exactly as pass 1 measured it
    chain = [*([a.mix] if a.mix else []), PRE_FILTER, f"atrim=start={p.trim_start:.3f}:end={p.trim_end:.3f}",
             "asetpts=PTS-STARTPTS", "afade=t=in:d=0.02",
             f"afade=t=out:st={max(0.0, p.trim_end - p.trim_start - 0.02):.3f}:d=0.02"]
    chain.append(f"aresample={s.sample_rate}")
    chain.append(f"volume={p.gain_db:.2f}dB")
    if p.limiter:
        limit = 10 ** (p.limit_db / 20)
        chain.append(f"aresample={s.sample_rate * OVERSAMPLE}")
        chain.append(f"alimiter=limit={limit:.4f}:attack=3:release=60:level=disabled:latency=1")
        chain.append(f"aresample={s.sample_rate}")
    chain.append(f"aformat=sample_fmts=flt:channel_layouts={'mono' if p.channels == 1 else 'stereo'}")
    return ",".join(chain)


BITEXACT = ["-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1", "-map_chapters", "-1"]
# The EPUB's mono MP3 from a stereo stream (the same mix everywhere it is made).
DOWNMIX = "pan=mono|c0=0.5*c0+0.5*c1"


# ---------------------------------------------------------------------------- the encoders
# One set of encoder settings for every stage that writes the delivered audio (the master stage from the
# recording, the cut stage from the cut master): each is an ffmpeg command that reads float PCM at the
# book's sample rate on its stdin.


def pcm_input(settings: AudioSettings, channels: int) -> list[str]:
    """ffmpeg's options for the raw float PCM an encoder reads (or a producer writes)."""
    return ["-f", "f32le", "-ar", str(settings.sample_rate), "-ac", str(channels)]


def _layout(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


def podcast_bitrate(settings: AudioSettings, channels: int) -> int:
    return settings.mono_bitrate if channels == 1 else settings.stereo_bitrate


def _mp3_options() -> list[str]:
    return [*BITEXACT, "-c:a", "libmp3lame", "-abr", "0", "-id3v2_version", "0", "-write_id3v1", "0",
            "-write_xing", "1", "-f", "mp3"]


def podcast_encoder(settings: AudioSettings, channels: int, out: Path) -> list[str]:
    """The untagged podcast MP3 (CBR, Xing/LAME header) from PCM with ``channels`` channels."""
    return ["-v", "error", "-y", *pcm_input(settings, channels), "-channel_layout", _layout(channels), "-i", "-",
            "-b:a", f"{podcast_bitrate(settings, channels)}k", *_mp3_options(), str(out)]


def epub_encoder(settings: AudioSettings, out: Path) -> list[str]:
    """The EPUB's separate mono MP3 at ``settings.epub_bitrate`` from mono PCM (mix a stereo stream with
    :data:`DOWNMIX` first)."""
    return ["-v", "error", "-y", *pcm_input(settings, 1), "-channel_layout", "mono", "-i", "-",
            "-b:a", f"{settings.epub_bitrate}k", *_mp3_options(), str(out)]


def flac_encoder(settings: AudioSettings, channels: int, out: Path) -> list[str]:
    """A master FLAC (16-bit) from PCM with ``channels`` channels."""
    return ["-v", "error", "-y", *pcm_input(settings, channels), "-channel_layout", _layout(channels), "-i", "-",
            *BITEXACT, "-sample_fmt", "s16", "-c:a", "flac", "-compression_level", "0", "-f", "flac", str(out)]


def link_or_copy(src: Path, dst: Path) -> None:
    """``dst`` becomes the same file as ``src`` (a hard link where the file system allows one)."""
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def render(recording: Path, master: Path, encoded: Path | None, epub_audio: Path | None, settings: AudioSettings,
           report: Path | None = None) -> AudioReport:
    """Pass 2: write the master FLAC, the untagged podcast MP3 and the EPUB MP3 from one decode. The EPUB
    MP3 is the podcast MP3 itself unless ``settings.epub_bitrate`` asks for a separate mono encode. With
    neither MP3 (``encoded`` and ``epub_audio`` None), the master alone: the cut stage encodes the MP3s from
    the cut master (``[audio] cut_retakes``)."""
    if (encoded is None) != (epub_audio is None):
        raise ValueError("the podcast MP3 and the EPUB audio are written together, or neither")
    a = analyse(recording)
    p = plan(a, settings)
    bitrate = podcast_bitrate(settings, p.channels)
    chain = filter_chain(a, p, settings)
    with contextlib.ExitStack() as stack:
        tm = stack.enter_context(atomic_path(master))
        full = pcm_input(settings, p.channels)
        flac = flac_encoder(settings, p.channels, tm)
        if encoded is None or epub_audio is None:
            # the master alone (the two MP3s are both None or both given: checked above)
            run_fanout(["-v", "error", "-i", str(recording), "-filter_complex", f"[0:a:{a.stream}]{chain}[master]",
                        "-map", "[master]", *full, "pipe:1"], [flac], recording)
        else:
            te = stack.enter_context(atomic_path(encoded))
            ta = stack.enter_context(atomic_path(epub_audio))
            downmix = "anull" if p.channels == 1 else DOWNMIX
            podcast = podcast_encoder(settings, p.channels, te)
            if settings.epub_bitrate:
                # a separate, smaller mono MP3 for the EPUB
                run_fanout(
                    ["-v", "error", "-i", str(recording), "-filter_complex",
                     f"[0:a:{a.stream}]{chain},asplit=3[pod][m][master];[m]{downmix}[mono]",
                     "-map", "[pod]", *full, "pipe:1", "-map", "[mono]", *pcm_input(settings, 1), "{fd1}",
                     "-map", "[master]", *full, "{fd2}"],
                    [podcast, epub_encoder(settings, ta), flac],
                    recording)
            else:
                # the EPUB carries the podcast MP3 itself: one encode, the same audio in every edition
                run_fanout(
                    ["-v", "error", "-i", str(recording), "-filter_complex", f"[0:a:{a.stream}]{chain},asplit=2[pod][master]",
                     "-map", "[pod]", *full, "pipe:1", "-map", "[master]", *full, "{fd1}"],
                    [podcast, flac],
                    recording)
                link_or_copy(te, ta)
    facts = AudioReport(analysis=a, plan=p, filter=chain, bitrate=bitrate)
    if report is not None:
        write_audio_report(report, facts)
    return facts


# ---------------------------------------------------------------------------- measuring

_TP = re.compile(r"True peak:\s*\n\s*Peak:\s*(-?[\d.]+|-inf) dBFS")


@dataclass(frozen=True)
class Loudness:
    integrated: float
    true_peak: float
    duration: float


def measure(path: Path) -> Loudness:
    """The independent meter: ffmpeg ebur128 with true peak and dual mono, as the checks use it.
    Measured once per file version in a process (the release checks and the report both ask)."""
    st = Path(path).stat()
    return _measure(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=256)
def _measure(path_str: str, mtime_ns: int, size: int) -> Loudness:
    path = Path(path_str)
    stderr = run(["-v", "info", "-i", str(path), "-map", "0:a:0", "-af",
                  "ebur128=peak=true:dualmono=true:framelog=verbose", "-f", "null", "-"], path)
    mi = _INTEGRATED.search(stderr)
    mt = _TP.search(stderr)
    md = re.findall(r"time=(\d+):(\d\d):(\d\d\.\d+)", stderr)
    dur = 0.0
    if md:
        h, m, s_ = md[-1]
        dur = int(h) * 3600 + int(m) * 60 + float(s_)
    if not mi or not mt:
        raise InputError(Problem(display_path(path), 0, "E-AUDIO-003", "could not measure loudness"))
    tp = -math.inf if "inf" in mt.group(1) else float(mt.group(1))
    return Loudness(integrated=float(mi.group(1)), true_peak=tp, duration=dur)


# ---------------------------------------------------------------------------- tagging

def id3_tag(frames: list[Frame]) -> bytes:
    """An ID3v2.4 tag with the frames in exactly the given order (mutagen sorts by size when saving,
    which would put CHAP frames out of time order)."""
    config = ID3SaveConfig(4, None)
    body = b"".join(save_frame(f, config=config) for f in frames)
    padding = b"\0" * 256
    size = len(body) + len(padding)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3" + bytes([4, 0, 0]) + syncsafe + body + padding


def tag_frames(*, title: str, artist: str, album: str, track: int, total: int, date: str, language: str,
               copyright_: str, publisher: str, comment: str, cover_png: bytes | None,
               chapters: Sequence[Chapter]) -> list[Frame]:
    frames: list[Frame] = [
        TIT2(encoding=3, text=[title]),
        TPE1(encoding=3, text=[artist]),
        TALB(encoding=3, text=[album]),
        TRCK(encoding=3, text=[f"{track}/{total}"]),
        TDRC(encoding=3, text=[date]),
        TLAN(encoding=3, text=[language]),
        TCOP(encoding=3, text=[copyright_]),
        TPUB(encoding=3, text=[publisher]),
        TCON(encoding=3, text=["Podcast"]),
        COMM(encoding=3, lang=language, desc="", text=[comment]),
    ]
    if cover_png:
        frames.append(APIC(encoding=3, mime="image/png", type=3, desc="Cover", data=cover_png))
    if chapters:
        ids = [c.id for c in chapters]
        frames.append(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                           child_element_ids=ids, sub_frames=[TIT2(encoding=3, text=["Chapters"])]))
        for c in chapters:
            frames.append(CHAP(element_id=c.id, start_time=int(round(c.begin * 1000)),
                               end_time=int(round(c.end * 1000)), start_offset=0xFFFFFFFF,
                               end_offset=0xFFFFFFFF, sub_frames=[TIT2(encoding=3, text=[c.title])]))
    return frames


def audio_payload(data: bytes) -> bytes:
    """An MP3's bytes without its leading ID3v2 tag: the audio itself (tagging never changes it)."""
    if data[:3] == b"ID3":
        size = data[6:10]
        n = (size[0] << 21) | (size[1] << 14) | (size[2] << 7) | size[3]
        return data[10 + n + (10 if data[5] & 0x10 else 0):]
    return data


def payload_sha256(path: Path) -> str:
    return hashlib.sha256(audio_payload(Path(path).read_bytes())).hexdigest()


def write_tagged(encoded: Path, out: Path, frames: list[Frame]) -> None:
    data = audio_payload(encoded.read_bytes())   # never stack tags: drop an existing one
    with atomic_path(out) as tmp:
        tmp.write_bytes(id3_tag(frames) + data)


def iso639_2(lang: str) -> str:
    base = lang.split("-")[0].lower()
    return {"en": "eng", "fr": "fra", "de": "deu", "es": "spa", "cy": "cym", "ga": "gle", "gd": "gla",
            "it": "ita", "nl": "nld", "pt": "por", "pl": "pol"}.get(base, base if len(base) == 3 else "und")


# ---------------------------------------------------------------------------- stages


def cmd_master(args: argparse.Namespace) -> int:
    book = load_book(args.texts)
    if (args.mp3 is None) != (args.epub_audio is None) or (args.loudness and args.mp3 is None):
        print("pipeline master: error: give --mp3 and --epub-audio together, and --loudness only with them",
              file=sys.stderr)
        return 2
    facts = render(args.recording, args.output, args.mp3, args.epub_audio, book.audio, report=args.report)
    if args.loudness:
        write_measurement(args.mp3, args.loudness)
    a, p = facts.analysis, facts.plan
    print(f"{display_path(args.recording)}: {a.integrated:.1f} LUFS in, gain {p.gain_db:+.1f} dB, "
          f"trimmed to {p.trim_end - p.trim_start:.1f} s, {'mono' if p.channels == 1 else 'stereo'}"
          f"{', limited' if p.limiter else ''}")
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    book = load_book(args.texts)
    try:
        part = book.part(args.part)
    except KeyError:
        raise InputError(f"E-ID-005 no part with id '{args.part}' in {display_path(args.texts)}") from None
    sync = read_syncmap(args.sync)
    narrated = list(book.narrated_parts)
    cover = args.cover.read_bytes() if args.cover else (
        normalised_cover(book.cover) if book.cover else
        typographic_cover(book.title, book.subtitle, book.authors, book.publisher))
    frames = tag_frames(
        title=part.title, artist=book.narrator, album=book.title, track=narrated.index(part) + 1,
        total=len(narrated), date=part.published.isoformat(), language=iso639_2(book.language),
        copyright_=book.rights, publisher=book.publisher, comment=part.subtitle, cover_png=cover,
        chapters=sync.chapters)
    write_tagged(args.mp3, args.output, frames)
    return 0


def write_measurement(mp3: Path, out: Path) -> Loudness:
    """Measure an encoded MP3 with the independent meter (ffmpeg decodes the file as written) as soon as
    it exists, beside the other parts' work, keyed by its audio payload so the release check can trust
    it for the tagged copy."""
    m = measure(mp3)
    write_loudness(out, LoudnessRecord(integrated=m.integrated, true_peak=m.true_peak, duration=m.duration,
                                       payload_sha256=payload_sha256(mp3)))
    return m


def register(add) -> None:
    def setup_master(p: argparse.ArgumentParser) -> None:
        p.add_argument("recording", type=Path, help="the narration, any common format")
        p.add_argument("--texts", type=Path, default=Path("texts"), help="texts/ (for book.toml [audio])")
        p.add_argument("-o", "--output", type=Path, required=True, help="the master FLAC")
        p.add_argument("--mp3", type=Path, default=None,
                       help="the untagged podcast MP3 (without it and --epub-audio, the master alone: "
                            "with [audio] cut_retakes the cut stage encodes the MP3s)")
        p.add_argument("--epub-audio", type=Path, default=None,
                       help="the EPUB audio (the podcast MP3, or a mono MP3 at book.toml's epub_bitrate)")
        p.add_argument("--report", type=Path, default=None, help="write the measurements as JSON")
        p.add_argument("--loudness", type=Path, default=None,
                       help="then measure the podcast MP3 as written (ffmpeg ebur128) into this JSON")

    def setup_tag(p: argparse.ArgumentParser) -> None:
        p.add_argument("mp3", type=Path, help="the untagged podcast MP3")
        p.add_argument("--sync", type=Path, required=True, help="the part's sync map (chapter times)")
        p.add_argument("--part", required=True, help="the part id")
        p.add_argument("--texts", type=Path, default=Path("texts"))
        p.add_argument("--cover", type=Path, default=None, help="cover PNG (default: from book.toml)")
        p.add_argument("-o", "--output", type=Path, required=True)

    add("master", "trim, normalise and limit a recording; write the master FLAC and both MP3s",
        setup_master, cmd_master)
    add("tag", "tag the podcast MP3 (ID3v2.4, cover, CHAP/CTOC chapters from the sync map)", setup_tag, cmd_tag)
