"""Finding and running ffmpeg, and turning its failures into one clear line naming the file."""
from __future__ import annotations

import fcntl
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


@dataclass(frozen=True)
class StreamInfo:
    codec: str
    sample_rate: int
    channels: int
    duration: float | None


_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_AUDIO = re.compile(r"Stream #\d+:\d+.*?: Audio: ([^,\s]+)[^,]*, (\d+) Hz, ([^,]+),")
_LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "3.0": 3, "quad": 4, "4.0": 4, "5.0": 5,
                    "5.1": 6, "5.1(side)": 6, "6.1": 7, "7.1": 8, "downmix": 2}


def probe(path: Path) -> StreamInfo:
    """Codec, rate, channels and duration of the first audio stream, from `ffmpeg -i` (no ffprobe needed)."""
    shown = display_path(path)
    if not path.exists():
        raise InputError(Problem(shown, 0, "E-AUDIO-001", "file not found"))
    if path.stat().st_size == 0:
        raise InputError(Problem(shown, 0, "E-AUDIO-002", "file is empty (zero bytes)"))
    r = subprocess.run([ffmpeg_exe(), *BASE_ARGS, "-i", str(path)], capture_output=True, text=True,
                       errors="replace")
    m = _AUDIO.search(r.stderr)
    if not m:
        reason = error_line(r.stderr) or "no audio stream found"
        raise InputError(Problem(shown, 0, "E-AUDIO-003", f"unreadable audio file: {reason}"))
    layout = m.group(3).strip()
    ch_match = re.match(r"(\d+) channels", layout)
    channels = int(ch_match.group(1)) if ch_match else _LAYOUT_CHANNELS.get(layout, 2)
    d = _DURATION.search(r.stderr)
    duration = int(d.group(1)) * 3600 + int(d.group(2)) * 60 + float(d.group(3)) if d else None
    return StreamInfo(codec=m.group(1), sample_rate=int(m.group(2)), channels=channels, duration=duration)


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
