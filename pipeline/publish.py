"""`python -m pipeline publish SITE DEST`: put the checked site (``build/site``) in place of the published
one (``output/``) in one step. The release graph runs it only after every check has passed
(:mod:`pipeline.checks.gate`), so a failed release leaves the published site exactly as it was.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import shutil
from pathlib import Path

from pipeline.model.problems import display_path
from pipeline.system.fsutil import atomic_write_text


def publish(site: Path, dest: Path) -> None:
    """Put the checked site in place of the published one in one step: hard-link it into a folder
    beside ``dest``, then exchange the two folders (renameat2 RENAME_EXCHANGE where available, else two
    renames) and remove the old one. A failure before the exchange leaves ``dest`` exactly as it was."""
    new = dest.with_name(f".{dest.name}.new")
    shutil.rmtree(new, ignore_errors=True)

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(site, new, copy_function=link)
    if dest.exists() and _exchange(new, dest):
        shutil.rmtree(new)
        return
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        os.rename(dest, old)
    os.rename(new, dest)
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def cmd_publish(args: argparse.Namespace) -> int:
    publish(args.site, args.dest)
    print(f"published {display_path(args.site)} to {display_path(args.dest)}")
    if args.output:
        atomic_write_text(args.output, f"{args.dest}\n")
    return 0


def register(add) -> None:
    def setup_publish(p: argparse.ArgumentParser) -> None:
        p.add_argument("site", type=Path, help="the checked site (build/site)")
        p.add_argument("dest", type=Path, help="the published site (output)")
        p.add_argument("-o", "--output", type=Path, default=None, help="a stamp written when published")

    add("publish", "swap a checked site into place (the old one stays untouched until then)",
        setup_publish, cmd_publish)
