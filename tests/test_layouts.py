"""Recordings as a team delivers them: every channel layout, audio inside video and other containers, and
still strict on a file that really is cut short. Each case is built here with ffmpeg from a short
synthetic narration, mastered by the ``master`` stage, and checked on the delivered MP3 with an independent
meter (ffmpeg ebur128, true peak, dual mono): loudness within 0.5 LU of the target, true peak at most
-1 dBTP. For the containers, the master's length is checked against the audio stream's own.

``python tests/test_layouts.py`` prints the measured table (every case, mastered in a temporary folder).
"""
from __future__ import annotations

import functools
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from narration import SR, make_narration  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")
pytestmark = pytest.mark.skipif(not (FFMPEG and FFPROBE), reason="needs Debian ffmpeg and ffprobe (installed by .ci/run)")

TARGET, CEILING = -16.0, -1.0          # the demo book's [audio] loudness and true_peak
RATE = 48000
SENTENCES = ["Switchback mentors meet young men in prison, months before they are released.",
             "Only eight per cent reoffend within a year."]


@functools.lru_cache(maxsize=1)
def narration() -> tuple[np.ndarray, float]:
    """About 8 s of speech at 48 kHz, and the length of the span from the first word to the last."""
    from scipy.signal import resample_poly

    n = make_narration(SENTENCES, seed=3, pause_range=(0.5, 0.8), head=1.0, tail=1.2, noise_db=-90, gain_db=0)
    x = resample_poly(n.audio, RATE // 16000, 1).astype(np.float32) if SR == 16000 else n.audio
    return x / np.abs(x).max(), n.ends[-1] - n.begins[0]


def _noise(n: int, db: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 10 ** (db / 20), n).astype(np.float32)


def channels(spec: dict[int, float], n: int, *, lfe: int | None = None, delay: int = 0) -> np.ndarray:
    """``n`` channels: channel i carries the narration at gain ``spec[i]`` (each a few samples later than the
    one before, as separate microphones would), the others only a noise floor at -85 dBFS; the LFE channel,
    if given, a loud 40 Hz hum (which must never reach the master)."""
    x, _ = narration()
    out = np.stack([_noise(len(x), -85, i) for i in range(n)], axis=1)
    for k, (i, g) in enumerate(sorted(spec.items())):
        out[:, i] += np.roll(x, k * delay) * g
    if lfe is not None:
        t = np.arange(len(x)) / RATE
        out[:, lfe] = 0.3 * np.sin(2 * np.pi * 40 * t).astype(np.float32)
    return out


def write(path: Path, x: np.ndarray, *, layout: str | None, codec: tuple[str, ...] = ("-c:a", "pcm_f32le"),
          rate: int = RATE) -> Path:
    """Float samples (frames, channels) through ffmpeg: ``layout`` names the channels (None: a file that
    names none, as a field recorder's polyphonic WAV)."""
    x = np.atleast_2d(x.T).T if x.ndim == 1 else x
    if rate != RATE:
        from scipy.signal import resample_poly

        x = resample_poly(x, rate // 1000, RATE // 1000, axis=0).astype(np.float32)
    named = ["-channel_layout", layout] if layout else ["-guess_layout_max", "0"]
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "f32le", "-ar", str(rate), "-ac", str(x.shape[1]), *named,
                    "-i", "-", *codec, str(path)], input=np.clip(x, -1, 1).astype("<f4").tobytes(), check=True)
    return path


VIDEO = {".mp4": ("-c:v", "libx264", "-preset", "ultrafast"), ".mov": ("-c:v", "libx264", "-preset", "ultrafast"),
         ".mkv": ("-c:v", "ffv1"), ".webm": ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8")}


def mux(out: Path, audio: list[Path], video_seconds: float, acodec: tuple[str, ...],
        extra: tuple[str, ...] = ()) -> Path:
    """A video file: a small picture track ``video_seconds`` long (longer than the audio, as a phone or Zoom
    recording often is), then each audio file as an audio stream, in order."""
    inputs = [a for f in audio for a in ("-i", str(f))]
    maps = [a for i in range(len(audio)) for a in ("-map", f"{i + 1}:a")]
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=s=96x64:r=10:d={video_seconds}",
                    *inputs, "-map", "0:v", *maps, *VIDEO[out.suffix], "-pix_fmt", "yuv420p", *acodec, *extra,
                    str(out)], check=True)
    return out


@dataclass
class Case:
    name: str
    build: Callable[[Path], Path]
    out_channels: int
    stream: int = 0
    mix: str | None = None           # the narration mix the analysis must choose (None: not checked)
    container: bool = False          # check the master's length against the audio stream's


def _in_video(d: Path, suffix: str, acodec: tuple[str, ...], streams: list[np.ndarray], layout: str | None = None,
              seconds: float = 4.0) -> Path:
    wavs = [write(d / f"s{i}.wav", x, layout="mono" if x.ndim == 1 else layout) for i, x in enumerate(streams)]
    x, _ = narration()
    return mux(d / f"recording{suffix}", wavs, len(x) / RATE + seconds, acodec)


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)


def cases() -> list[Case]:
    x, _ = narration()
    L = [
        # ---- channel layouts (narration on different channels)
        Case("mono", lambda d: write(d / "r.wav", x * 0.3, layout="mono"), 1, mix=""),
        Case("stereo", lambda d: write(d / "r.wav", np.stack([x * 0.3, np.roll(x, 30) * 0.2], 1), layout="stereo"),
             2, mix=""),
        Case("dual-mono", lambda d: write(d / "r.flac", np.stack([x * 0.25, x * 0.25], 1), layout="stereo",
                                          codec=("-c:a", "flac")), 2, mix=""),
        Case("stereo-left-dead", lambda d: write(d / "r.wav", channels({1: 0.3}, 2), layout="stereo"), 1,
             mix="pan=mono|c0=c1"),
        Case("quad-all", lambda d: write(d / "r.wav", channels({0: 0.3, 1: 0.3, 2: 0.15, 3: 0.15}, 4, delay=9),
                                         layout="quad"), 2, mix="pan=stereo|c0=c0+0.707*c2|c1=c1+0.707*c3"),
        Case("4ch-unlabelled-track3", lambda d: write(d / "r.wav", channels({2: 0.2}, 4), layout=None), 1,
             mix="pan=mono|c0=c2"),
        Case("4ch-unlabelled-tracks1+4", lambda d: write(d / "r.wav", channels({0: 0.3, 3: 0.1}, 4, delay=13),
                                                         layout=None), 1, mix="pan=mono|c0=0.5*c0+0.5*c3"),
        Case("5.1-centre-only", lambda d: write(d / "r.wav", channels({2: 0.3}, 6, lfe=3), layout="5.1"), 1,
             mix="pan=mono|c0=c2"),
        Case("5.1-all", lambda d: write(d / "r.wav", channels({0: 0.3, 1: 0.3, 2: 0.3, 4: 0.3, 5: 0.3}, 6, lfe=3),
                                        layout="5.1"), 2,
             mix="pan=stereo|c0=c0+0.707*c2+0.707*c4|c1=c1+0.707*c2+0.707*c5"),
        Case("6ch-unlabelled-track4", lambda d: write(d / "r.wav", channels({3: 0.3}, 6), layout=None), 1,
             mix="pan=mono|c0=c3"),
        Case("7.1-front-pair", lambda d: write(d / "r.flac", channels({0: 0.2, 1: 0.2}, 8, lfe=3), layout="7.1",
                                               codec=("-c:a", "flac")), 2, mix="pan=stereo|c0=c0|c1=c1"),
        Case("7.1-centre-and-sides", lambda d: write(d / "r.wav", channels({2: 0.3, 6: 0.1, 7: 0.1}, 8, lfe=3),
                                                     layout="7.1"), 1,
             mix="pan=mono|c0=0.333333*c2+0.333333*c6+0.333333*c7"),
        # ---- sample formats and containers without video
        Case("wav-float32", lambda d: write(d / "r.wav", x * 0.9, layout="mono", codec=("-c:a", "pcm_f32le")), 1),
        Case("wav-8bit", lambda d: write(d / "r.wav", x * 0.5, layout="mono", codec=("-c:a", "pcm_u8")), 1),
        Case("flac-96k-24bit", lambda d: write(d / "r.flac", np.stack([x * 0.3, x * 0.28], 1), layout="stereo",
                                               codec=("-c:a", "flac", "-sample_fmt", "s32"), rate=96000), 2),
        Case("aiff", lambda d: write(d / "r.aiff", x * 0.4, layout="mono", codec=("-c:a", "pcm_s16be")), 1),
        Case("upper-case-ext", lambda d: write(d / "beta.WAV", x * 0.4, layout="mono", codec=("-c:a", "pcm_s16le"),
                                               rate=44100), 1),
        # ---- audio inside video: the picture runs 4 s longer than the sound
        Case("mp4-video-longer", lambda d: _in_video(d, ".mp4", ("-c:a", "aac", "-b:a", "128k"), [x * 0.3]), 1,
             container=True),
        Case("mov-5.1-pcm", lambda d: _in_video(d, ".mov", ("-c:a", "pcm_s16le"),
                                                [channels({2: 0.3}, 6, lfe=3)], "5.1"), 1, mix="pan=mono|c0=c2",
             container=True),
        Case("webm-stereo-opus", lambda d: _in_video(d, ".webm", ("-c:a", "libopus", "-b:a", "96k"),
                                                     [np.stack([x * 0.3, x * 0.25], 1)], "stereo"), 2, container=True),
        # two audio streams: the first is silent (an empty track), so the second, with the narration, is used
        Case("mkv-silent-first-stream", lambda d: _in_video(d, ".mkv", ("-c:a", "flac"),
                                                            [np.zeros_like(x), x * 0.3]), 1, stream=1,
             container=True),
        # two audio streams, both with sound: the first is used (the second is a 3 s tone)
        Case("mp4-two-streams-first-used", lambda d: _in_video(d, ".mp4", ("-c:a", "aac", "-b:a", "128k"),
                                                               [x * 0.3, _tone(3.0)]), 1, stream=0,
             container=True),
    ]
    return L


def meter(path: Path) -> tuple[float, float]:
    """Integrated loudness (LUFS, dual mono) and true peak (dBTP) by ffmpeg ebur128, as the checks measure."""
    r = subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-i", str(path), "-af",
                        "ebur128=peak=true:dualmono=true", "-f", "null", "-"], capture_output=True, text=True)
    summary = r.stderr[r.stderr.rindex("Summary:"):]
    i = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    tp = float(re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return i, tp


def ffprobe(path: Path) -> dict:
    r = subprocess.run([FFPROBE, "-v", "error", "-of", "json", "-show_streams", "-show_format", str(path)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def stream_seconds(st: dict) -> float:
    if "duration" in st:
        return float(st["duration"])
    h, m, s = st["tags"]["DURATION"].split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def master(src: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", "master", str(src), "--texts", str(ROOT / "texts"),
                           "-o", str(out / "m.flac"), "--mp3", str(out / "p.mp3"), "--epub-audio",
                           str(out / "e.mp3"), "--report", str(out / "r.json")],
                          capture_output=True, text=True, cwd=ROOT)


@dataclass
class Result:
    case: Case
    src: Path
    loudness: float
    true_peak: float
    mp3_channels: int
    report: dict
    master_seconds: float
    audio_seconds: float             # the audio stream's own length (ffprobe)
    container_seconds: float


def run_case(case: Case, d: Path) -> Result:
    d.mkdir(parents=True, exist_ok=True)
    src = case.build(d)
    r = master(src, d / "out")
    assert r.returncode == 0, f"{case.name}: {r.stderr}"
    loudness, tp = meter(d / "out" / "p.mp3")
    mp3 = ffprobe(d / "out" / "p.mp3")["streams"][0]
    info = ffprobe(src)
    audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
    flac = ffprobe(d / "out" / "m.flac")
    return Result(case, src, loudness, tp, int(mp3["channels"]), json.loads((d / "out" / "r.json").read_text()),
                  float(flac["format"]["duration"]), stream_seconds(audio[case.stream]),
                  float(info["format"]["duration"]))


ALL = cases()


@pytest.mark.parametrize("case", ALL, ids=[c.name for c in ALL])
def test_every_layout_and_container_masters_to_the_target(case: Case, tmp_path: Path) -> None:
    res = run_case(case, tmp_path)
    a, plan = res.report["analysis"], res.report["plan"]
    assert abs(res.loudness - TARGET) <= 0.5, f"{case.name}: {res.loudness} LUFS (mix {a['mix']!r})"
    assert res.true_peak <= CEILING, f"{case.name}: true peak {res.true_peak} dBTP"
    assert res.mp3_channels == case.out_channels == plan["channels"], (case.name, res.mp3_channels, a["mix"])
    assert a["stream"] == case.stream, (case.name, a["stream"])
    if case.mix is not None:
        assert a["mix"] == case.mix, (case.name, a["mix"])
    if a["layout"] in ("5.1", "5.1(side)", "7.1"):
        assert "c3" not in a["mix"], f"{case.name}: the LFE (the fourth channel) is never used: {a['mix']}"
    # the master holds the narration: its words plus about half a second each side, nothing of the tone
    _, span = narration()
    assert span + 0.6 <= res.master_seconds <= span + 1.4, (case.name, res.master_seconds, span)
    if case.container:
        # the analysis decoded the audio stream's own length (not the container's, which the picture sets)
        assert res.container_seconds > res.audio_seconds + 3.0, (res.container_seconds, res.audio_seconds)
        assert abs(a["duration"] - res.audio_seconds) <= 0.1, (case.name, a["duration"], res.audio_seconds)
        assert abs(res.master_seconds - (plan["trim_end"] - plan["trim_start"])) <= 0.05
        assert plan["trim_end"] <= res.audio_seconds + 0.01


def test_upper_case_extension_is_a_recording(tmp_path: Path) -> None:
    """``recordings/beta.WAV`` is the recording of part ``beta`` (extensions match whatever their case)."""
    from pipeline.model.sources import AUDIO_EXTENSIONS, _recordings

    rec = tmp_path / "recordings"
    rec.mkdir()
    for name in ("beta.WAV", "gamma.Mp4", "delta.MOV", "eps.MKV", "zeta.AIFF", "eta.notes.txt"):
        (rec / name).write_bytes(b"x")
    found = _recordings(rec, [])
    assert sorted(found) == ["beta", "delta", "eps", "gamma", "zeta"]
    assert {".mov", ".mkv", ".webm", ".mp4", ".aiff", ".aif"} <= AUDIO_EXTENSIONS


# ---------------------------------------------------------------------------- still strict


def _cut_audio_in_longer_container(d: Path) -> Path:
    """An MP4 (its index at the front, so it still opens) whose audio stream declares the whole narration but
    whose file stops halfway through it: the audio (PCM-sized AAC at 320 kbit/s, against a tiny picture)
    is most of the bytes, so cutting the file in half cuts the audio stream itself short."""
    x, _ = narration()
    wav = write(d / "s.wav", np.stack([x * 0.3, x * 0.3], 1), layout="stereo")
    full = mux(d / "full.mp4", [wav], len(x) / RATE + 4.0, ("-c:a", "aac", "-b:a", "320k"),
               ("-movflags", "+faststart", "-r", "2"))
    cut = d / "cut-short.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    return cut


def test_audio_stream_cut_short_inside_a_longer_container_is_refused(tmp_path: Path) -> None:
    src = _cut_audio_in_longer_container(tmp_path)
    info = ffprobe(src)
    audio = [s for s in info["streams"] if s["codec_type"] == "audio"][0]
    assert float(info["format"]["duration"]) > float(audio["duration"]) + 3.0   # the container is longer
    out = tmp_path / "out"
    r = master(src, out)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "E-AUDIO-005" in lines[0] and src.name in lines[0], r.stderr
    # measured against the audio stream's own length, not the container's
    assert f"of the {float(audio['duration']):.1f} s" in lines[0], lines[0]
    assert not out.exists() or not any(out.iterdir()), "partial output left behind"


def test_container_without_its_index_is_unreadable(tmp_path: Path) -> None:
    """The same MP4 cut short with its index at the end (as a recording stopped by a crash): unreadable,
    one coded line naming the file, nothing written."""
    x, _ = narration()
    wav = write(tmp_path / "s.wav", x * 0.3, layout="mono")
    full = mux(tmp_path / "full.mp4", [wav], len(x) / RATE + 1.0, ("-c:a", "aac"))
    src = tmp_path / "crashed.mp4"
    src.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    out = tmp_path / "out"
    r = master(src, out)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "E-AUDIO-003" in lines[0] and src.name in lines[0], r.stderr
    assert not out.exists() or not any(out.iterdir())


def main() -> int:
    """Print the measured table: every case mastered in a temporary folder."""
    print(f"{'case':30} {'LUFS':>7} {'dBTP':>6} {'ch':>3} {'stream':>6} {'audio s':>8} {'file s':>7}  mix")
    with tempfile.TemporaryDirectory() as d:
        for case in ALL:
            res = run_case(case, Path(d) / case.name)
            print(f"{case.name:30} {res.loudness:7.2f} {res.true_peak:6.2f} {res.mp3_channels:3d} "
                  f"{res.report['analysis']['stream']:6d} {res.audio_seconds:8.2f} {res.container_seconds:7.2f}  "
                  f"{res.report['analysis']['mix'] or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def test_the_downmix_rule() -> None:
    """``narration_mix`` on measured levels (peak, RMS dB) alone: what is dropped, what is mixed, how."""
    from pipeline.stages.audio import narration_mix

    live, quiet, none = (-3.0, -24.0), (-40.0, -60.0), (-math.inf, -math.inf)
    s51 = ("FL", "FR", "FC", "LFE", "BL", "BR")
    assert narration_mix([live, live], ("FL", "FR")) == ("", 2, None)            # stereo as it is
    assert narration_mix([none, live], ()) == ("pan=mono|c0=c1", 1, 0)            # the dead left dropped
    assert narration_mix([live, quiet], ()) == ("pan=mono|c0=c0", 1, 1)           # 36 dB under: silent
    assert narration_mix([live, (-9.0, -50.0)], ()) == ("", 2, None)               # 26 dB under: live
    # the LFE is never used, however loud; with every other channel silent the labels are wrong: it is
    assert narration_mix([quiet, quiet, live, (0.0, -6.0), quiet, quiet], s51)[0] == "pan=mono|c0=c2"
    assert narration_mix([none, none, none, live, none, none], s51)[0] == "pan=mono|c0=c3"
    # a surround file whose front pair is silent: mono, the mean of the live channels
    assert narration_mix([none, none, live, none, live, live], s51)[0] == "pan=mono|c0=0.333333*c2+0.333333*c4+0.333333*c5"
    # an unlabelled file: its channels are tracks, never a stereo pair
    assert narration_mix([live, live, none], ())[0] == "pan=mono|c0=0.5*c0+0.5*c1"
