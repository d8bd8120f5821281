"""A scratch copy of the project for the tests that run `make` end to end (the release and the build
graph): the Makefile and the package files copied with their times (so the shared .venv stays up to date),
the package, scripts, .venv and node_modules linked, the repository's book.toml with the given parts, and
one synthesised narration per part (the first an MP3, the others Ogg, as a user hands them over)."""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from narration import make_narration, write_wav

ROOT = Path(__file__).resolve().parents[1]


def scratch_project(tmp: Path, parts: dict[str, str], narrated: tuple[str, ...],
                    narration: Callable[[int], dict[str, Any]]) -> Path:
    """``tmp/proj`` with ``parts`` (file name -> Markdown) in texts/ and a recording of each of ``narrated``;
    ``narration(i)`` gives the i-th recording's `make_narration` settings (voice, pauses, level...)."""
    from pipeline.model.sources import load_book

    proj = tmp / "proj"
    proj.mkdir()
    for name in ("Makefile", "pyproject.toml", "constraints.txt", "package.json", "package-lock.json"):
        shutil.copy2(ROOT / name, proj / name)   # keeps times: the shared .venv stays up to date
    for name in ("pipeline", "scripts", ".venv", "node_modules"):
        (proj / name).symlink_to(ROOT / name)
    texts = proj / "texts"
    texts.mkdir()
    shutil.copy(ROOT / "texts" / "book.toml", texts / "book.toml")
    for name, text in parts.items():
        (texts / name).write_text(text, encoding="utf-8")
    rec = proj / "recordings"
    rec.mkdir()
    book = load_book(texts)
    for i, pid in enumerate(narrated):
        n = make_narration([s.text for s in book.part(pid).sentences()], seed=i, **narration(i))
        wav = write_wav(rec / f"{pid}.wav", n.audio)
        ext = "mp3" if i == 0 else "ogg"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), str(rec / f"{pid}.{ext}")], check=True)
        wav.unlink()
    return proj


def make(proj: Path, *targets: str) -> subprocess.CompletedProcess[str]:
    """`make -j2 TARGETS` in the scratch project, as a user runs it (no MAKEFLAGS from a calling make)."""
    env = dict(os.environ, MAKEFLAGS="")
    return subprocess.run(["make", "-j2", *targets], cwd=proj, capture_output=True, text=True, env=env)
