#!/usr/bin/env python3
"""Where a build's time goes: each pipeline command's start, end and CPU time, and how many cores the
build kept busy over time.

    # record: bench/ruletrace.sh in front of every pipeline command
    RULETRACE=TRACE make -j2 release PIPELINE="$PWD/bench/ruletrace.sh .venv/bin/python -m pipeline"
    # read: the commands in start order, the busy cores over time, CPU per stage, what ran last
    python bench/ruletrace.py TRACE [CORES]

Each line of the trace is one command (tab-separated): start and end (seconds since the epoch), the user
and system CPU time of it and its children, the exit code and the command. A rule's CPU is spread
evenly over its wall time to estimate the cores busy at each moment.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def _seconds(t: str) -> float:
    m, s = t.rstrip("s").split("m")
    return int(m) * 60 + float(s)


def read(trace: Path) -> list[dict]:
    rows = []
    for ln in trace.read_text(encoding="utf-8").splitlines():
        if not ln.strip():
            continue
        start, end, user, sys_, code, cmd = ln.split("\t", 5)
        words = cmd.split()
        stage = next((w for w in words[words.index("pipeline") + 1:] if not w.startswith("-")), "?") \
            if "pipeline" in words else os.path.basename(words[0])
        out = words[words.index("-o") + 1] if "-o" in words[:-1] else ""
        rows.append({"stage": stage, "out": out, "start": float(start), "end": float(end),
                     "cpu": _seconds(user) + _seconds(sys_), "exit": int(code)})
    return rows


def show(trace: Path, cores: int) -> None:
    rows = read(trace)
    rows.sort(key=lambda r: r["start"])
    t0 = min(r["start"] for r in rows)
    t1 = max(r["end"] for r in rows)
    wall = t1 - t0
    print(f"{'start':>6} {'end':>6} {'wall':>6} {'cpu':>6} {'par':>4}  stage  output")
    for r in rows:
        w = r["end"] - r["start"]
        print(f"{r['start'] - t0:6.1f} {r['end'] - t0:6.1f} {w:6.1f} {r['cpu']:6.1f} {r['cpu'] / max(w, 1e-3):4.1f}"
              f"  {r['stage']}  {r['out']}")
    # the cores kept busy, second by second (each rule's CPU spread evenly over its wall time)
    step = 1.0
    n = int(wall / step) + 1
    busy = [0.0] * n
    for r in rows:
        w = max(r["end"] - r["start"], 1e-3)
        rate = r["cpu"] / w
        for i in range(n):
            a, b = t0 + i * step, t0 + (i + 1) * step
            ov = min(b, r["end"]) - max(a, r["start"])
            if ov > 0:
                busy[i] += rate * ov / step
    cpu = sum(r["cpu"] for r in rows)
    print(f"\nwall {wall:.1f} s (first command to last), CPU {cpu:.1f} s, busy {100 * cpu / wall:.0f}% "
          f"of {100 * cores}%")
    idle = sum(max(0.0, cores - min(b, cores)) * step for b in busy)
    print(f"idle core-seconds: {idle:.1f}")
    print("busy cores per 5 s: " + " ".join(f"{sum(busy[i:i + 5]) / 5:.1f}" for i in range(0, n, 5)))
    by_stage: dict[str, list[float]] = {}
    for r in rows:
        s = by_stage.setdefault(r["stage"], [0, 0.0, 0.0])
        s[0] += 1
        s[1] += r["end"] - r["start"]
        s[2] += r["cpu"]
    print("\nper stage: count, wall s (summed), CPU s")
    for k, (c, w, u) in sorted(by_stage.items(), key=lambda kv: -kv[1][2]):
        print(f"  {k:<14} {c:3d} {w:7.1f} {u:7.1f}")
    # the tail: from the last per-part command to the end, which rules ran
    print("\nwhat ran last (commands ending in the last 40% of the build):")
    for r in rows:
        if r["end"] - t0 > 0.6 * wall:
            print(f"  {r['start'] - t0:6.1f}-{r['end'] - t0:6.1f}  {r['stage']} {r['out']}")


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    show(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else os.cpu_count() or 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
