"""Finding and running ffmpeg, and turning its failures into one clear line naming the file."""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO

from pipeline.model.problems import InputError, Problem, display_path


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """$FFMPEG, else the system ffmpeg, else the static build shipped by imageio-ffmpeg (pip only)."""
    env = os.environ.get("FFMPEG")
    if env:
        return env
    system = shutil.which("ffmpeg")
    if system:
        return system
    try:   # imported only when there is no system ffmpeg: the package is the fallback
        import imageio_ffmpeg
    except ImportError as e:  # pragma: no cover - imageio-ffmpeg is a dependency
        raise InputError("E-AUDIO-000 ffmpeg not found: install ffmpeg or the imageio-ffmpeg package") from e
    return imageio_ffmpeg.get_ffmpeg_exe()


BASE_ARGS = ("-nostdin", "-hide_banner")


@lru_cache(maxsize=1)
def ffprobe_exe() -> str | None:
    """$FFPROBE, else the ffprobe beside the ffmpeg in use, else the system's; None when there is none (the
    static ffmpeg of imageio-ffmpeg comes without one)."""
    env = os.environ.get("FFPROBE")
    if env:
        return env
    beside = Path(ffmpeg_exe()).with_name("ffprobe")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("ffprobe")


@dataclass(frozen=True)
class StreamInfo:
    """One audio stream of a file. ``duration`` is the stream's own (as its header or index declares it),
    not the container's: a video track may run longer than the audio."""
    codec: str
    sample_rate: int
    channels: int
    duration: float | None
    layout: str = ""                    # as ffmpeg names it: "mono", "5.1(side)", "4 channels"
    names: tuple[str, ...] = ()         # the channels' names (FL, FR, FC, LFE...); () when the file names none


_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_STREAM = re.compile(r"^\s*Stream #\d+:\d+.*?: (Audio|Video|Subtitle|Data|Attachment): (.*)$", re.M)
_AUDIO = re.compile(r"([^,\s]+)[^,]*, (\d+) Hz, ([^,]+),")
_TAG_DURATION = re.compile(r"^\s*DURATION\s*: (\d+):(\d\d):(\d\d(?:\.\d+)?)", re.M)
_COMMON_LAYOUTS = {"mono": ("FC",), "stereo": ("FL", "FR")}     # without asking ffmpeg for its table
_LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "3.0": 3, "quad": 4, "4.0": 4, "5.0": 5,
                    "5.1": 6, "5.1(side)": 6, "6.1": 7, "7.1": 8, "downmix": 2}


@lru_cache(maxsize=1)
def standard_layouts() -> dict[str, tuple[str, ...]]:
    """ffmpeg's own table of named channel layouts (``ffmpeg -layouts``): name -> the channels in order."""
    r = subprocess.run([ffmpeg_exe(), *BASE_ARGS, "-layouts"], capture_output=True, text=True, errors="replace")
    text = r.stdout + r.stderr
    table = text[text.find("Standard channel layouts"):] if "Standard channel layouts" in text else ""
    layouts = {}
    for m in re.finditer(r"^(\S+)\s+([A-Z0-9]+(?:\+[A-Z0-9]+)*)\s*$", table, re.M):
        layouts[m.group(1)] = tuple(m.group(2).split("+"))
    return layouts


def _channels(layout: str) -> tuple[int, tuple[str, ...]]:
    """The number of channels and their names, from the layout as ffmpeg prints it ("5.1(side)",
    "4 channels", "3 channels (FC+LFE+BC)")."""
    m = re.match(r"(\d+) channels(?: \(([A-Z0-9+]+)\))?", layout)
    if m:
        names = tuple(m.group(2).split("+")) if m.group(2) else ()
        return int(m.group(1)), names if len(names) == int(m.group(1)) else ()
    names = _COMMON_LAYOUTS.get(layout) or standard_layouts().get(layout, ())
    if names:
        return len(names), names
    return _LAYOUT_CHANNELS.get(layout, 2), ()


def _hms(m: re.Match[str]) -> float:
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def _stream_durations(path: Path) -> list[float | None] | None:
    """Each audio stream's own duration, by ffprobe (its header, index or ``DURATION`` tag); None without
    ffprobe."""
    exe = ffprobe_exe()
    if exe is None:
        return None
    r = subprocess.run([exe, "-v", "error", "-select_streams", "a", "-show_entries",
                        "stream=duration:stream_tags=DURATION", "-of", "json", str(path)],
                       capture_output=True, text=True, errors="replace")
    try:
        streams = json.loads(r.stdout).get("streams", [])
    except ValueError:
        return None
    out: list[float | None] = []
    for st in streams:
        d: float | None = None
        try:
            d = float(st["duration"])
        except (KeyError, TypeError, ValueError):
            tag = _TAG_DURATION.match("DURATION: " + str((st.get("tags") or {}).get("DURATION", "")))
            d = _hms(tag) if tag else None
        out.append(d)
    return out


def audio_streams(path: Path) -> list[StreamInfo]:
    """Every audio stream of a file, in order (``-map 0:a:K`` picks the K-th), from ``ffmpeg -i`` and, for
    each stream's own duration, ffprobe. The layout is the file's own: ``-guess_layout_max 0`` keeps ffmpeg
    from guessing one for a file that names none (it would call an unlabelled 6-channel WAV 5.1, and its
    fourth track the LFE). Without ffprobe, the duration is a Matroska stream's ``DURATION`` tag, else the
    container's when the audio is the file's only timed stream, else unknown."""
    shown = display_path(path)
    if not path.exists():
        raise InputError(Problem(shown, 0, "E-AUDIO-001", "file not found"))
    if path.stat().st_size == 0:
        raise InputError(Problem(shown, 0, "E-AUDIO-002", "file is empty (zero bytes)"))
    r = subprocess.run([ffmpeg_exe(), *BASE_ARGS, "-guess_layout_max", "0", "-i", str(path)], capture_output=True,
                       text=True, errors="replace")
    text = r.stderr
    d = _DURATION.search(text)
    container = _hms(d) if d else None
    found = list(_STREAM.finditer(text))
    timed = [m for m in found if m.group(1) in ("Audio", "Video") and "attached pic" not in m.group(2)]
    streams: list[tuple[str, int, str, float | None]] = []
    for i, m in enumerate(found):
        a = _AUDIO.match(m.group(2) + ",") if m.group(1) == "Audio" else None
        if not a:
            continue
        block = text[m.end():found[i + 1].start() if i + 1 < len(found) else len(text)]
        tag = _TAG_DURATION.search(block)
        streams.append((a.group(1), int(a.group(2)), a.group(3).strip(), _hms(tag) if tag else None))
    if not streams:
        reason = error_line(text) or "no audio stream found"
        raise InputError(Problem(shown, 0, "E-AUDIO-003", f"unreadable audio file: {reason}"))
    probed = _stream_durations(path) if len(timed) > 1 else None
    if probed is not None and len(probed) != len(streams):
        probed = None
    out = []
    for k, (codec, rate, layout, tagged) in enumerate(streams):
        own = probed[k] if probed else None
        if own is None:
            own = tagged if tagged is not None else (container if len(timed) <= 1 else None)
        n, names = _channels(layout)
        out.append(StreamInfo(codec=codec, sample_rate=rate, channels=n, duration=own, layout=layout, names=names))
    return out


def probe(path: Path) -> StreamInfo:
    """Codec, rate, channels, layout and duration of the first audio stream (see :func:`audio_streams`)."""
    return audio_streams(path)[0]


def error_line(stderr: str) -> str:
    """The line of ffmpeg's stderr that says what went wrong (its last error-like line, without the
    ``[component @ 0x...]`` prefix), at most 200 characters; for a coded problem's message."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if any(w in ln for w in ("Invalid", "invalid", "Error", "error", "not", "failed", "corrupt", "truncat")):
            return re.sub(r"^\[[^\]]+\]\s*", "", ln)[:200]
    return lines[-1][:200] if lines else ""


_last_error = error_line    # the old private name, for callers not yet switched to error_line / stream_error


def stream_error(err, what: Path, code: str = "E-AUDIO-004", action: str = "could not decode") -> InputError:
    """The one coded line for an ffmpeg process that failed, from its stderr captured in the file ``err``."""
    err.seek(0)
    text = err.read().decode("utf-8", "replace")
    return InputError(Problem(display_path(what), 0, code, f"{action}: {error_line(text) or 'ffmpeg failed'}"))


def run(args: list[str], what: Path, code: str = "E-AUDIO-004", action: str = "could not decode") -> str:
    """Run ffmpeg; on failure raise one InputError line naming ``what``. Returns stderr."""
    r = subprocess.run([ffmpeg_exe(), *BASE_ARGS, *args], capture_output=True, text=True, errors="replace")
    if r.returncode != 0:
        raise InputError(Problem(display_path(what), 0, code, f"{action}: {error_line(r.stderr) or 'ffmpeg failed'}"))
    return r.stderr


def _grow_pipe(fd: int, size: int = 1 << 20) -> None:
    """Enlarge a pipe's buffer (Linux), so the producer and the encoders do not wait on each other."""
    try:
        fcntl.fcntl(fd, 1031, size)   # F_SETPIPE_SZ
    except OSError:
        pass


def run_fanout(producer: list[str], consumers: list[list[str]], what: Path, code: str = "E-AUDIO-004",
               action: str = "could not decode or encode") -> None:
    """One ffmpeg process decodes and filters, writing one PCM stream per consumer (``pipe:1``, then the
    descriptors named by ``{fd1}``, ``{fd2}``... in its arguments); each consumer encodes from its stdin.
    The processes run concurrently, so the encoders share the cores. On failure of any, one InputError
    line naming ``what``; no output is trusted unless every process succeeded."""
    extra = [os.pipe() for _ in consumers[1:]]
    for r, _ in extra:
        _grow_pipe(r)
    names = {f"fd{i + 1}": f"pipe:{w}" for i, (_, w) in enumerate(extra)}
    args = [a.format(**names) if "{fd" in a else a for a in producer]
    errs = [tempfile.TemporaryFile() for _ in range(len(consumers) + 1)]
    procs = []
    try:
        prod = subprocess.Popen([ffmpeg_exe(), *BASE_ARGS, *args], stdout=subprocess.PIPE, stderr=errs[0],
                                stdin=subprocess.DEVNULL, pass_fds=[w for _, w in extra])
        for _, w in extra:
            os.close(w)
        assert prod.stdout is not None, "Popen sets stdout when it is given stdout=PIPE"
        _grow_pipe(prod.stdout.fileno())
        inputs: list[IO[bytes] | int] = [prod.stdout, *(r for r, _ in extra)]
        for i, (cmd, src) in enumerate(zip(consumers, inputs)):
            procs.append(subprocess.Popen([ffmpeg_exe(), *BASE_ARGS, *cmd], stdin=src, stderr=errs[i + 1]))
            if isinstance(src, int):
                os.close(src)
            else:
                src.close()
        codes = [p.wait() for p in procs]
        codes.insert(0, prod.wait())
        for rc, err in zip(codes, errs):
            if rc != 0:
                raise stream_error(err, what, code, action)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for e in errs:
            e.close()


def run_encoders(consumers: list[list[str]], feed: Callable[[list[IO[bytes]]], None], what: Path, code: str = "E-AUDIO-004",
                 action: str = "could not encode") -> None:
    """Start one ffmpeg per consumer, each encoding the raw PCM on its stdin; ``feed(pipes)`` writes to their
    stdins (a list of binary files, in the consumers' order), then they are closed and awaited. The
    encoders run concurrently with the feeder. On failure of any, one InputError line naming ``what``; no
    output is trusted unless every process succeeded."""
    errs = [tempfile.TemporaryFile() for _ in consumers]
    procs: list[subprocess.Popen[bytes]] = []
    stdins: list[IO[bytes]] = []     # the encoders' stdins, in the consumers' order
    try:
        for cmd, err in zip(consumers, errs):
            p = subprocess.Popen([ffmpeg_exe(), *BASE_ARGS, *cmd], stdin=subprocess.PIPE, stderr=err)
            procs.append(p)
            assert p.stdin is not None, "Popen sets stdin when it is given stdin=PIPE"
            stdins.append(p.stdin)
            _grow_pipe(p.stdin.fileno())
        broken = False
        try:
            feed(stdins)
        except BrokenPipeError:
            broken = True            # an encoder died: its own error is the one to report
        for stdin in stdins:
            try:
                stdin.close()
            except BrokenPipeError:
                broken = True
        codes = [p.wait() for p in procs]
        for rc, err in zip(codes, errs):
            if rc != 0:
                raise stream_error(err, what, code, action)
        if broken:
            raise InputError(Problem(display_path(what), 0, code, f"{action}: an encoder stopped reading"))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for e in errs:
            e.close()
