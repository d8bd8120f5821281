#!/usr/bin/env python3
"""Benchmark the audio stage against the bare floor and ffmpeg-normalize, on the same input and ffmpeg.

    .venv/bin/python bench/audio.py [--minutes 60] [--channels 2] [--skip-normalize]

Builds a long speech recording (the demo narrations laid end to end, resampled to 44.1 kHz, FLAC),
then times, each from one run:
  * ours: `python -m pipeline master` (analysis pass + one decode feeding the master FLAC, the podcast
    MP3 and, when book.toml sets epub_bitrate, a separate EPUB MP3; by default the EPUB carries the
    podcast MP3);
  * floor: one ffmpeg decode plus the encodes of the MP3s we deliver (the podcast MP3, and the EPUB MP3
    when there is a separate one);
  * ffmpeg-normalize 1.43 doing the same loudness job (`-nt ebu -t -16 -tp -1
    --keep-loudness-range-target -c:a libmp3lame`), installed into .venv on first use;
and prints wall times, ratios and our peak memory (the Python process and its ffmpeg children).
Goal (issue 3): ours <= 1.25x the floor and >= 3x faster than ffmpeg-normalize.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.model.sources import load_book  # noqa: E402
from pipeline.system.ffmpeg import ffmpeg_exe  # noqa: E402


def make_input(minutes: float, channels: int, out: Path) -> Path:
    """The demo narrations decoded to 44.1 kHz and streamed, end to end and repeated, into one FLAC."""
    recs = sorted(p for p in (ROOT / "recordings").iterdir() if not p.name.endswith(".labels.txt"))
    pan = "pan=stereo|c0=c0|c1=0.92*c0" if channels == 2 else "anull"
    enc = subprocess.Popen([ffmpeg_exe(), "-v", "error", "-y", "-f", "s16le", "-ar", "44100", "-ac", "1", "-i", "-",
                            "-af", pan, "-c:a", "flac", str(out)], stdin=subprocess.PIPE)
    need = int(minutes * 60 * 44100) * 2
    while need > 0:
        for rec in recs:
            pcm = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(rec), "-ac", "1", "-ar", "44100",
                                  "-f", "s16le", "-"], capture_output=True, check=True).stdout[:need]
            enc.stdin.write(pcm)
            need -= len(pcm)
            if need <= 0:
                break
    enc.stdin.close()
    if enc.wait() != 0:
        raise SystemExit("could not build the benchmark input")
    return out


def tree_rss(root: int) -> int:
    """Memory (kB) of a process and all its descendants, from /proc: the sum of their proportional set
    sizes (Pss: a page shared by n processes counts 1/n to each), so shared libraries and a browser's
    shared memory are not counted once per process."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d.name))
    todo = [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    rss[pid] = int(line.split()[1])
        except OSError:
            continue
    return sum(rss.values())


def timed(cmd: list[str], **kw) -> tuple[float, int]:
    """Wall time and peak resident memory (kB) of the command with all its processes together,
    sampled every 50 ms."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    peak = 0
    while p.poll() is None:
        peak = max(peak, tree_rss(p.pid))
        time.sleep(0.05)
    wall = time.perf_counter() - t
    out, err = p.communicate()
    if p.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err[-2000:]}")
    return wall, peak


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--channels", type=int, default=2, choices=(1, 2))
    ap.add_argument("--skip-normalize", action="store_true")
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-audio-") as d:
        d = Path(d)
        src = make_input(args.minutes, args.channels, d / "input.flac")
        print(f"input: {args.minutes:.0f} min, {'stereo' if args.channels == 2 else 'mono'}, 44.1 kHz FLAC "
              f"({src.stat().st_size / 1e6:.0f} MB); ffmpeg: {ffmpeg_exe()}")
        bitrate = "128k" if args.channels == 2 else "96k"
        epub_kbps = load_book(ROOT / "texts").audio.epub_bitrate
        epub_out = ["-ac", "1", "-c:a", "libmp3lame", "-b:a", f"{epub_kbps}k", str(d / "floor-epub.mp3")] \
            if epub_kbps else []
        floor, _ = timed([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(src),
                          "-c:a", "libmp3lame", "-b:a", bitrate, str(d / "floor.mp3"), *epub_out])
        ours, peak = timed([py, "-m", "pipeline", "master", str(src), "--texts", str(ROOT / "texts"),
                            "-o", str(d / "m.flac"), "--mp3", str(d / "e.mp3"), "--epub-audio", str(d / "a.mp3")],
                           cwd=ROOT)
        what = "podcast and EPUB MP3 encodes" if epub_kbps else "the podcast MP3 encode"
        print(f"{'floor (1 decode + ' + what + '):':<48} {floor:7.1f} s")
        print(f"{'ours (master stage):':<48} {ours:7.1f} s  = {ours / floor:.2f}x the floor, "
              f"peak memory {peak / 1024:.0f} MB (all its processes together)")
        if not args.skip_normalize:
            fn = Path(py).with_name("ffmpeg-normalize")
            if not fn.exists():
                subprocess.run([py, "-m", "pip", "install", "-q", "ffmpeg-normalize==1.43.0"], check=True)
            env = dict(os.environ, FFMPEG_PATH=ffmpeg_exe())
            norm, _ = timed([str(fn), str(src), "-nt", "ebu", "-t", "-16", "-tp", "-1",
                             "--keep-loudness-range-target", "-c:a", "libmp3lame", "-b:a", bitrate,
                             "-o", str(d / "norm.mp3"), "-f"], env=env)
            print(f"{'ffmpeg-normalize 1.43:':<48} {norm:7.1f} s  = {norm / floor:.2f}x the floor; "
                  f"ours is {norm / ours:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
