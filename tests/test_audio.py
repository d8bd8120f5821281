"""The audio stage, measured: every delivered file is checked with an independent meter (ffmpeg's
ebur128 filter with true peak and dual mono, run here by the test, not by the pipeline)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from narration import make_narration

ROOT = Path(__file__).resolve().parents[1]
FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")
pytestmark = pytest.mark.skipif(not (FFMPEG and FFPROBE), reason="needs Debian ffmpeg and ffprobe (installed by .ci/run)")

TARGET, CEILING = -16.0, -1.0
SENTENCES = ["Switchback mentors meet young men in prison, months before they are released.",
             "They keep meeting them outside, on the other side of the gate.",
             "Only eight per cent reoffend within a year, against a national average of forty-nine per cent."]


def meter(path: Path) -> tuple[float, float]:
    """Integrated loudness (LUFS, dual mono) and true peak (dBTP) by ffmpeg ebur128."""
    r = subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-i", str(path), "-af",
                        "ebur128=peak=true:dualmono=true", "-f", "null", "-"], capture_output=True, text=True)
    summary = r.stderr[r.stderr.rindex("Summary:"):]
    i = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    tp = float(re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return i, tp


def ffprobe(path: Path, *args: str) -> dict:
    r = subprocess.run([FFPROBE, "-v", "error", "-of", "json", *args, str(path)], capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout)


def write_pcm(path: Path, x: np.ndarray, sr: int, codec: str = "pcm_s16le", extra: tuple[str, ...] = ()) -> Path:
    """Write float samples (n, channels) through ffmpeg in any format."""
    x = np.atleast_2d(x.T).T if x.ndim == 1 else x
    raw = np.clip(x, -1, 1).astype("<f4").tobytes()
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "f32le", "-ar", str(sr), "-ac", str(x.shape[1]), "-i", "-",
                    "-c:a", codec, *extra, str(path)], input=raw, check=True)
    return path


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """About 12 s of speech at 16 kHz (flite, or espeak-ng if flite is missing)."""
    return make_narration(SENTENCES, seed=1, pause_range=(0.4, 0.8), head=2.0, tail=2.5,
                          noise_db=-80, gain_db=0).audio


def _resample(x: np.ndarray, sr: int) -> np.ndarray:
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(sr, 16000)
    return resample_poly(x, sr // g, 16000 // g).astype(np.float32)


def _edge_cases(speech: np.ndarray, d: Path) -> dict[str, Path]:
    s44 = _resample(speech, 44100)
    cases = {}
    whisper = s44 / np.abs(s44).max() * 10 ** (-38 / 20)
    cases["whisper-40lufs"] = write_pcm(d / "whisper.flac", whisper, 44100, "flac")
    clipped = np.clip(s44 / np.abs(s44).max() * 4.0, -1, 1)                     # +12 dB, hard clipped at 0 dBFS
    cases["clipped-0dbfs"] = write_pcm(d / "clipped.wav", clipped, 44100)
    phone = _resample(speech, 8000)
    cases["phone-8khz"] = write_pcm(d / "phone.wav", phone * 0.5, 8000)
    hi = _resample(speech, 96000) * 0.3
    cases["hires-96k-24bit"] = write_pcm(d / "hires.wav", np.stack([hi, hi * 0.9], axis=1), 96000, "pcm_s24le")
    dead = np.stack([s44 * 0.4, np.zeros_like(s44)], axis=1)
    cases["stereo-dead-channel"] = write_pcm(d / "dead.flac", dead, 44100, "flac")
    cases["dc-offset"] = write_pcm(d / "dc.wav", s44 * 0.3 + 0.2, 44100)
    t = np.arange(10 * 44100) / 44100
    tones = 0.25 * np.sin(2 * np.pi * 440 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t))
    cases["music-intro"] = write_pcm(d / "music.m4a", np.concatenate([tones, s44 * 0.5]).astype(np.float32), 44100,
                                     "aac", ("-b:a", "96k"))
    stereo = np.stack([s44 * 0.2, np.roll(s44, 20) * 0.18], axis=1)
    cases["stereo-ogg-48k"] = write_pcm(d / "stereo.ogg", _resample(speech, 48000)[:, None].repeat(2, 1) * 0.2,
                                        48000, "libvorbis")
    cases["stereo-mp3"] = write_pcm(d / "stereo.mp3", stereo, 44100, "libmp3lame", ("-b:a", "128k"))
    cases["opus-mono"] = write_pcm(d / "mono.opus", _resample(speech, 48000) * 0.1, 48000, "libopus",
                                   ("-b:a", "24k"))
    return cases


@pytest.fixture(scope="module")
def rendered(speech, tmp_path_factory) -> dict[str, dict]:
    d = tmp_path_factory.mktemp("audio")
    out = {}
    for name, src in _edge_cases(speech, d).items():
        files = {k: d / name / f"{name}.{ext}" for k, ext in
                 (("master", "flac"), ("mp3", "mp3"), ("epub", "mp3"), ("report", "json"))}
        files["epub"] = d / name / "epub" / f"{name}.mp3"
        r = subprocess.run([sys.executable, "-m", "pipeline", "master", str(src), "--texts", str(ROOT / "texts"),
                            "-o", str(files["master"]), "--mp3", str(files["mp3"]), "--epub-audio",
                            str(files["epub"]), "--report", str(files["report"])],
                           capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 0, f"{name}: {r.stderr}"
        out[name] = {"src": src, **files, "report_data": json.loads(files["report"].read_text())}
    return out


CASES = ["whisper-40lufs", "clipped-0dbfs", "phone-8khz", "hires-96k-24bit", "stereo-dead-channel", "dc-offset",
         "music-intro", "stereo-ogg-48k", "stereo-mp3", "opus-mono"]


@pytest.mark.parametrize("name", CASES)
def test_delivered_mp3_loudness_and_true_peak(rendered, name) -> None:
    loudness, peak = meter(rendered[name]["mp3"])
    assert abs(loudness - TARGET) <= 0.5, f"{name}: {loudness} LUFS"
    assert peak <= CEILING, f"{name}: true peak {peak} dBTP"


@pytest.mark.parametrize("name", CASES)
def test_epub_audio_is_the_podcast_mp3(rendered, name) -> None:
    """By default (epub_bitrate = 0) the EPUB carries the podcast MP3 itself: one encode, the same audio."""
    assert rendered[name]["epub"].read_bytes() == rendered[name]["mp3"].read_bytes()


@pytest.mark.parametrize("name", ["stereo-mp3", "opus-mono", "clipped-0dbfs"])
def test_separate_epub_audio_is_mono_at_its_bitrate_and_never_over_the_ceiling(speech, tmp_path, name) -> None:
    texts = tmp_path / "texts"
    texts.mkdir()
    toml = (ROOT / "texts" / "book.toml").read_text(encoding="utf-8")
    (texts / "book.toml").write_text(re.sub(r"(?m)^epub_bitrate = .*$", "epub_bitrate = 64", toml), encoding="utf-8")
    for part in sorted((ROOT / "texts").glob("*.md")):
        shutil.copy(part, texts / part.name)
    src = _edge_cases(speech, tmp_path)[name]
    out = {k: tmp_path / "out" / f"{k}.{ext}" for k, ext in (("master", "flac"), ("mp3", "mp3"), ("epub", "mp3"))}
    out["epub"] = tmp_path / "out" / "epub" / "e.mp3"
    r = subprocess.run([sys.executable, "-m", "pipeline", "master", str(src), "--texts", str(texts),
                        "-o", str(out["master"]), "--mp3", str(out["mp3"]), "--epub-audio", str(out["epub"])],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    info = ffprobe(out["epub"], "-show_streams")["streams"][0]
    assert info["channels"] == 1 and info["sample_rate"] == "44100"
    assert abs(int(info["bit_rate"]) - 64000) < 2000
    assert meter(out["epub"])[1] <= CEILING


@pytest.mark.parametrize("name, channels", [("stereo-dead-channel", 1), ("hires-96k-24bit", 2), ("phone-8khz", 1),
                                            ("stereo-mp3", 2), ("opus-mono", 1)])
def test_channels_and_rate(rendered, name, channels) -> None:
    for key, bitrate in (("mp3", 96000 if channels == 1 else 128000),):
        s = ffprobe(rendered[name][key], "-show_streams")["streams"][0]
        assert s["channels"] == channels and s["sample_rate"] == "44100"
        assert abs(int(s["bit_rate"]) - bitrate) < 2000
    m = ffprobe(rendered[name]["master"], "-show_streams")["streams"][0]
    assert m["channels"] == channels and m["sample_rate"] == "44100"


@pytest.mark.parametrize("name", ["whisper-40lufs", "phone-8khz", "dc-offset"])
def test_silence_trimmed_to_about_half_a_second(rendered, name) -> None:
    """The fixtures have 2 s of silence before and 2.5 s after the speech."""
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(rendered[name]["master"]), "-ac", "1", "-ar", "8000",
                          "-f", "s16le", "-"], capture_output=True, check=True).stdout
    x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768
    rms = np.sqrt((x[: len(x) // 80 * 80].reshape(-1, 80) ** 2).mean(axis=1)) + 1e-9     # 10 ms frames
    db = 20 * np.log10(rms)
    loud = np.flatnonzero(db > db.max() - 40)
    head, tail = loud[0] * 0.01, (len(db) - 1 - loud[-1]) * 0.01
    assert 0.2 <= head <= 0.9, head
    assert 0.2 <= tail <= 1.0, tail


def test_dc_offset_removed(rendered) -> None:
    r = subprocess.run([FFMPEG, "-nostdin", "-i", str(rendered["dc-offset"]["master"]), "-af",
                        "astats=measure_overall=DC_offset:measure_perchannel=none", "-f", "null", "-"],
                       capture_output=True, text=True)
    dc = float(re.findall(r"DC offset: (-?[\d.e-]+)", r.stderr)[-1])
    assert abs(dc) < 0.002


def test_music_intro_is_kept(rendered) -> None:
    """Tones are not silence: a 10 s musical intro stays in."""
    duration = float(ffprobe(rendered["music-intro"]["master"], "-show_format")["format"]["duration"])
    assert duration > 10 + 10


@pytest.mark.parametrize("name", ["stereo-mp3", "whisper-40lufs"])
def test_mp3_has_xing_header_and_durations_agree(rendered, name) -> None:
    from mutagen.mp3 import MP3

    mp3 = rendered[name]["mp3"]
    data = mp3.read_bytes()
    assert b"Info" in data[:4096] or b"Xing" in data[:4096], "no Xing/LAME header"
    m = MP3(mp3)
    probe = float(ffprobe(mp3, "-show_format")["format"]["duration"])
    master = float(ffprobe(rendered[name]["master"], "-show_format")["format"]["duration"])
    assert m.info.bitrate in (96000, 128000)
    assert abs(m.info.length - probe) < 0.05
    assert abs(m.info.length - master) < 0.05


def test_stage_memory_is_bounded(speech, tmp_path) -> None:
    """Streams, never holds: a 20-minute stereo file is processed in a few tens of MB of Python memory.
    (VmHWM, because ru_maxrss survives exec and would report pytest's own memory.)"""
    s44 = _resample(speech, 44100)
    long = np.tile(s44 * 0.3, int(20 * 60 * 44100 / len(s44)) + 1)
    src = write_pcm(tmp_path / "long.flac", np.stack([long, long * 0.8], axis=1), 44100, "flac")
    code = ("import resource,sys; from pathlib import Path; from pipeline.stages.audio import render; "
            "from pipeline.model.sources import AudioSettings; "
            f"render(Path('{src}'), Path('{tmp_path}/m.flac'), Path('{tmp_path}/e.mp3'), Path('{tmp_path}/a.mp3'), "
            "AudioSettings()); "
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
            "print(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    own, children = (int(x) for x in r.stdout.split())
    assert own < 150_000 and children < 300_000, (own, children)   # kB


# ---------------------------------------------------------------------------- bad input


def _bad_inputs(d: Path, speech: np.ndarray) -> dict[str, tuple[Path, str]]:
    good = write_pcm(d / "good.mp3", _resample(speech, 44100) * 0.3, 44100, "libmp3lame", ("-b:a", "128k"))
    cases = {}
    empty = d / "empty.mp3"
    empty.write_bytes(b"")
    cases["zero length"] = (empty, "E-AUDIO-002")
    junk = d / "junk.ogg"
    junk.write_bytes(b"this is not audio at all\n" * 200)
    cases["unreadable"] = (junk, "E-AUDIO-003")
    trunc = d / "truncated.mp3"
    trunc.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 3])
    cases["truncated"] = (trunc, "E-AUDIO-005")
    silent = write_pcm(d / "silent.wav", np.zeros(44100 * 5, np.float32), 44100)
    cases["silent"] = (silent, "E-AUDIO-006")
    video = d / "video-only.mkv"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=blue:s=64x64:d=1", "-c:v", "ffv1",
                    str(video)], check=True)
    cases["no audio stream"] = (video, "E-AUDIO-003")
    return cases


def test_bad_inputs_fail_with_one_line_naming_the_file(speech, tmp_path) -> None:
    for name, (src, code) in _bad_inputs(tmp_path, speech).items():
        out = tmp_path / "out" / name.replace(" ", "-")
        r = subprocess.run([sys.executable, "-m", "pipeline", "master", str(src), "--texts", str(ROOT / "texts"),
                            "-o", str(out / "m.flac"), "--mp3", str(out / "e.mp3"), "--epub-audio",
                            str(out / "a.mp3")], capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 1, name
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and code in lines[0] and src.name in lines[0], (name, r.stderr)
        assert not out.exists() or not any(out.iterdir()), f"{name}: partial output left behind"


# ---------------------------------------------------------------------------- tags and chapters


def test_tags_and_chapters(speech, tmp_path) -> None:
    from mutagen.id3 import ID3

    src = write_pcm(tmp_path / "n.wav", _resample(speech, 44100) * 0.3, 44100)
    subprocess.run([sys.executable, "-m", "pipeline", "master", str(src), "--texts", str(ROOT / "texts"),
                    "-o", str(tmp_path / "m.flac"), "--mp3", str(tmp_path / "e.mp3"), "--epub-audio",
                    str(tmp_path / "a.mp3")], check=True, cwd=ROOT)
    duration = float(ffprobe(tmp_path / "m.flac", "-show_format")["format"]["duration"])
    # chapters deliberately listed so that sizes differ (mutagen would reorder by size)
    chapters = [{"id": "switchback-c01", "title": "Switchback", "begin": 0.0, "end": 2.0},
                {"id": "switchback-c02", "title": "Both sides of the gate — a much longer chapter title",
                 "begin": 2.0, "end": 5.5},
                {"id": "switchback-c03", "title": "Breaking cycles", "begin": 5.5, "end": duration}]
    sync = {"part": "switchback", "audio": "m.flac", "duration": duration,
            "fragments": [{"id": "switchback-s0001", "text": "x", "begin": 0.0, "end": duration, "confidence": 1.0}],
            "chapters": chapters}
    (tmp_path / "s.json").write_text(json.dumps(sync))
    out = tmp_path / "switchback.mp3"
    r = subprocess.run([sys.executable, "-m", "pipeline", "tag", str(tmp_path / "e.mp3"), "--sync",
                        str(tmp_path / "s.json"), "--part", "switchback", "--texts", str(ROOT / "texts"),
                        "-o", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    tags = ID3(out)
    assert tags.version == (2, 4, 0)
    assert str(tags["TIT2"]) == "Switchback"
    assert "narrator" in str(tags["TPE1"]).lower()
    assert str(tags["TALB"]) == "Putting Relationships First"
    assert str(tags["TRCK"]) == "4/11"
    assert str(tags["TDRC"]) == "2024-03-04"
    assert str(tags["TLAN"]) == "eng"
    assert tags.getall("APIC")[0].mime == "image/png" and len(tags.getall("APIC")[0].data) > 1000
    assert tags.getall("COMM")[0].text[0].startswith("Reliable") or tags.getall("COMM")[0].text[0]
    assert tags["TCOP"].text[0] and tags["TPUB"].text[0] == "The Relationships Project"
    toc = tags.getall("CTOC")[0]
    assert toc.child_element_ids == [c["id"] for c in chapters]
    probe = ffprobe(out, "-show_chapters")["chapters"]
    assert [c["tags"]["title"] for c in probe] == [c["title"] for c in chapters]
    assert [round(float(c["start_time"]), 2) for c in probe] == [round(c["begin"], 2) for c in chapters]
    # the audio is untouched by tagging
    loudness, peak = meter(out)
    assert abs(loudness - TARGET) <= 0.5 and peak <= CEILING
