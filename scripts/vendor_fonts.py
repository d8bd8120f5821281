#!/usr/bin/env python3
"""Copy the web edition's reader font into ``pipeline/static/fonts/`` from the pinned npm package.

usage: python3 scripts/vendor_fonts.py [--check]

The large-print web edition offers Atkinson Hyperlegible (the Braille Institute's low-vision face, SIL
Open Font License 1.1) as a reader setting. It comes from the npm package
``@fontsource/atkinson-hyperlegible`` (pinned in package.json, installed by ``npm ci`` into node_modules),
which ships the face cut into per-unicode-range WOFF2 subsets. The book needs the ``latin`` subset only
(ASCII, Latin-1 — £ © é —, curly quotes, dashes and the other General Punctuation, €, ™); regular and
bold (emphasis is by weight; nothing is set in italics). This script copies those two files and the
licence, byte for byte, so the web stage (and a reader's site) never depends on node_modules:

    pipeline/static/fonts/atkinson-hyperlegible-latin-400-normal.woff2
    pipeline/static/fonts/atkinson-hyperlegible-latin-700-normal.woff2
    pipeline/static/fonts/OFL.txt

``--check`` copies nothing and exits 1 when the vendored files differ from the package's (the tests run
the same comparison). Run it again after changing the pinned version in package.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "@fontsource/atkinson-hyperlegible"
SUBSET = "latin"
WEIGHTS = (400, 700)
TARGET = ROOT / "pipeline" / "static" / "fonts"


def package_dir(root: Path = ROOT) -> Path:
    return root / "node_modules" / PACKAGE


def files(root: Path = ROOT) -> dict[Path, Path]:
    """Vendored file -> its source in the installed package."""
    src = package_dir(root)
    out = {TARGET / f"atkinson-hyperlegible-{SUBSET}-{w}-normal.woff2":
           src / "files" / f"atkinson-hyperlegible-{SUBSET}-{w}-normal.woff2" for w in WEIGHTS}
    out[TARGET / "OFL.txt"] = src / "LICENSE"
    return out


def pinned_version(root: Path = ROOT) -> str:
    manifest = json.loads((root / "package.json").read_text(encoding="utf-8"))
    deps = {**manifest.get("dependencies", {}), **manifest.get("devDependencies", {})}
    return deps[PACKAGE]


def installed_version(root: Path = ROOT) -> str | None:
    try:
        return json.loads((package_dir(root) / "package.json").read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare only; exit 1 when they differ")
    args = ap.parse_args(argv)
    want, have = pinned_version(), installed_version()
    if have != want:
        print(f"{PACKAGE} {want} is pinned in package.json but {have or 'nothing'} is installed: run npm ci",
              file=sys.stderr)
        return 1
    differ = [dst for dst, src in files().items() if not dst.exists() or dst.read_bytes() != src.read_bytes()]
    if args.check:
        for dst in differ:
            print(f"{dst.relative_to(ROOT)} differs from {PACKAGE} {want}", file=sys.stderr)
        return 1 if differ else 0
    TARGET.mkdir(parents=True, exist_ok=True)
    for dst in differ:
        data = files()[dst].read_bytes()
        fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
        print(f"{dst.relative_to(ROOT)}: {len(data)} bytes from {PACKAGE} {want}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
