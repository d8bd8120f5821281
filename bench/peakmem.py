#!/usr/bin/env python3
"""Run a command; print its wall time, the CPU time of its whole process tree and what share of the
machine's cores that kept busy, and the peak memory of the tree.

    python bench/peakmem.py LABEL -- COMMAND...

CPU time is the user + system time of the command and every descendant it waited for (what wait4
reports); "CPU busy" is that over the wall time, out of 100% per core (200% on 2 cores).
"""
from __future__ import annotations

import os
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
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            break
        peak = max(peak, tree_rss(p.pid))
        time.sleep(0.1)
    wall = time.perf_counter() - t
    code = os.waitstatus_to_exitcode(status)
    p.returncode = code
    cpu = usage.ru_utime + usage.ru_stime
    cores = os.cpu_count() or 1
    print(f"{label}: {wall:.1f} s wall, {cpu:.1f} s CPU (user {usage.ru_utime:.1f} + sys {usage.ru_stime:.1f}), "
          f"CPU busy {100 * cpu / wall:.0f}% of {100 * cores}%, peak memory {peak / 1024:.0f} MB (exit {code})",
          flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
