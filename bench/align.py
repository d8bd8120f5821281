#!/usr/bin/env python3
"""Benchmark the aligner: realtime factor on one core, peak memory, accuracy and drift.

    .venv/bin/python bench/align.py [--minutes 120] [--cores 0]

The demo narrations in recordings/ (flite voices, varied formats, levels and pauses; espeak-ng is the
aligner's reference, so the voices differ) come with exact ground truth in bench/truth/. They are
levelled (as the master stage would) and laid end to end until the narration is --minutes long (2 hours
by default), ending with the recording it starts with, and the whole text is aligned
in one run of `python -m pipeline align`, pinned to one core with taskset. Printed: realtime factor
(audio seconds per wall second, and per CPU second, which a loaded machine disturbs less), peak
memory, the number of words timed, mean / p97 / worst boundary error against the true
speech onsets, the share within 0.5 s, and the mean error in the first and last 10 minutes (drift).
Goals (issue 4): >= 400x realtime on one core, <= 500 MB for 2 hours, mean <= 50 ms, worst <= 250 ms,
and the last 10 minutes no worse than the first 10.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.model.sources import load_book  # noqa: E402
from pipeline.system.ffmpeg import ffmpeg_exe  # noqa: E402

SR = 16000


def decode(path: Path) -> np.ndarray:
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(SR), "-f", "s16le",
                          "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, "<i2")


def build(minutes: float, d: Path) -> tuple[Path, Path, list[float], list[str]]:
    """The demo narrations end to end, cycling through the book, and ending with the same recording it
    starts with (so the first and the last minutes of the file hold the same audio and text: a fair
    test of drift). Returns the narration, the text, the true onsets and each fragment's part."""
    book = load_book(ROOT / "texts", ROOT / "recordings")
    parts = list(book.narrated_parts)
    audio, lines, truth, owner = [], [], [], []
    offset = 0
    cache: dict[str, tuple[np.ndarray, dict]] = {}

    def piece(part) -> tuple[np.ndarray, dict]:
        if part.id not in cache:
            t = json.loads((ROOT / "bench" / "truth" / f"{part.id}.json").read_text())
            texts = {s.id: s.text for s in part.sentences()}
            if [f["id"] for f in t["fragments"]] != list(texts):
                raise SystemExit(f"bench/truth/{part.id}.json is stale: run `make demo-recordings`")
            x = decode(part.recording)
            # level every piece as the master stage would (the aligner's input is a normalised master)
            rms = np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-9
            x = np.clip(x * (3000.0 / rms), -32768, 32767).astype("<i2")
            cache[part.id] = (x, {"truth": t, "texts": texts})
        return cache[part.id]

    def add(part) -> None:
        nonlocal offset
        x, info = piece(part)
        audio.append(x)
        for f in info["truth"]["fragments"]:
            lines.append(info["texts"][f["id"]])
            truth.append(offset / SR + f["begin"])
            owner.append(part.id)
        offset += len(x)

    first_len = len(piece(parts[0])[0])
    k = 0
    while offset + first_len < minutes * 60 * SR or k == 0:
        add(parts[k % len(parts)])
        k += 1
    add(parts[0])
    wav = d / "narration.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        for x in audio:
            w.writeframes(x.tobytes())
    txt = d / "narration.txt"
    txt.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return wav, txt, truth, owner


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=120.0)
    ap.add_argument("--cores", default="0", help="taskset CPU list (default: one core)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-align-") as d:
        d = Path(d)
        wav, txt, truth, owner = build(args.minutes, d)
        duration = wav.stat().st_size / 2 / SR
        out = d / "sync.json"
        # warm the numba cache so compilation is not timed
        cmd = [sys.executable, "-m", "pipeline", "align", str(wav), str(txt), "-o", str(out)]
        pin = ["taskset", "-c", args.cores] if shutil.which("taskset") else []
        t = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", *pin, *cmd], capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - t
        if r.returncode != 0:
            raise SystemExit(r.stderr)
        peak_kb, user, system = r.stderr.strip().splitlines()[-1].split()
        peak, cpu = int(peak_kb), float(user) + float(system)
        sync = json.loads(out.read_text())
        begins = np.array([f["begin"] for f in sync["fragments"]])
        truth_a = np.array(truth)
        err = np.abs(begins[1:] - truth_a[1:])
        t1 = truth_a[1:]
        first = err[t1 < 600]
        last = err[t1 > duration - 600]
        conf = np.array([f["confidence"] for f in sync["fragments"]])
        words = [w for f in sync["fragments"] for w in f.get("words", [])]
        print(f"narration: {duration / 60:.1f} min, {len(truth)} fragments (demo narrations end to end)")
        print(f"realtime factor: {duration / wall:.0f}x on {'one core' if pin and ',' not in args.cores else args.cores} "
              f"({wall:.1f} s wall); {duration / cpu:.0f}x per CPU second ({cpu:.1f} s user+system: what the wall "
              f"figure is on an idle core)")
        print(f"peak memory: {peak / 1024:.0f} MB")
        if words:
            print(f"words timed: {len(words)} in {len(sync['fragments'])} fragments, "
                  f"{np.mean([w['end'] <= w['begin'] for w in words]) * 100:.1f}% with no length "
                  f"(bench/words.py measures their accuracy)")
        print(f"boundary error: mean {err.mean() * 1000:.0f} ms, median {np.median(err) * 1000:.0f} ms, "
              f"p97 {np.percentile(err, 97) * 1000:.0f} ms, worst {err.max() * 1000:.0f} ms, "
              f"within 0.5 s {np.mean(err <= 0.5) * 100:.1f}%")
        print(f"drift: mean error first 10 min {first.mean() * 1000:.0f} ms, last 10 min {last.mean() * 1000:.0f} ms "
              f"(the same recording, {owner[0]}, opens and closes the file)")
        # the same recording at the start and at the end, boundary by boundary (its first fragment is
        # the file's start at the beginning, so both copies are compared on fragments 2..n)
        n = next(i for i, o in enumerate(owner) if o != owner[0])
        a, b = err[:n - 1], err[len(err) - (n - 1):]
        print(f"drift, {owner[0]} at 0 min and again at {truth_a[len(truth_a) - n] / 60:.0f} min "
              f"({n - 1} boundaries each): mean {a.mean() * 1000:.0f} ms and {b.mean() * 1000:.0f} ms, "
              f"worst {a.max() * 1000:.0f} ms and {b.max() * 1000:.0f} ms")
        worst = np.argsort(err)[-5:][::-1]
        for i in worst:
            f = sync["fragments"][i + 1]
            print(f"  {err[i]:.3f} s  conf {f['confidence']:.2f}  {f['text'][:70]}")
        print(f"confidence: median {np.median(conf):.2f}, lowest {conf.min():.2f}, "
              f"below 0.5: {int(np.sum(conf < 0.5))}")
        devs = sync.get("deviations", [])
        kinds = {k: sum(1 for d in devs if d["kind"] == k) for k in ("skip", "retake", "extra", "misread")}
        print(f"deviations reported on this exact reading: {len(devs)} "
              f"({', '.join(f'{k} {v}' for k, v in kinds.items())}); "
              f"{len(devs) / (duration / 600):.2f} per 10 minutes")
        for d in devs[:5]:
            print(f"  {d['kind']} at {d['begin']:.1f} s ({d['fragment']}) {d['text'][:60]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
