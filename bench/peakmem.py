#!/usr/bin/env python3
"""Run a command; print its wall time and the peak resident memory of its whole process tree.

    python bench/peakmem.py LABEL -- COMMAND...
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audio import tree_rss  # noqa: E402


def main() -> int:
    sep = sys.argv.index("--")
    label, cmd = " ".join(sys.argv[1:sep]), sys.argv[sep + 1:]
    t = time.perf_counter()
    p = subprocess.Popen(cmd)
    peak = 0
    while p.poll() is None:
        peak = max(peak, tree_rss(p.pid))
        time.sleep(0.1)
    wall = time.perf_counter() - t
    print(f"{label}: {wall:.1f} s wall, peak memory {peak / 1024:.0f} MB (exit {p.returncode})", flush=True)
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
