#!/usr/bin/env python3
"""Count 12-word runs a text shares with the source Case Maker (must be 0: our own words only).

usage: python3 tools/overlap.py [FILES...]   (default: texts/*.md)
"""
import glob
import re
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent.parent / "shared" / "source" / "case-maker.md"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("\u2019", "'"))


def main(argv: list[str]) -> int:
    src = words(SOURCE.read_text(encoding="utf-8"))
    grams = {tuple(src[i:i + 12]) for i in range(len(src) - 11)}
    files = argv or sorted(glob.glob(str(Path(__file__).resolve().parent.parent / "texts" / "*.md")))
    total = 0
    for f in files:
        w = words(Path(f).read_text(encoding="utf-8", errors="replace"))
        hits = [" ".join(w[i:i + 12]) for i in range(len(w) - 11) if tuple(w[i:i + 12]) in grams]
        total += len(hits)
        print(f"{f}: {len(hits)} shared 12-word runs, {len(w)} words")
        for h in hits[:20]:
            print(f"    {h}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
