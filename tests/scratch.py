"""A scratch copy of the project for the tests that run `make` end to end (the release and the build
graph): the Makefile and the package files copied with their times (so the shared .venv stays up to date),
the package, scripts, .venv and node_modules linked, the repository's book.toml with the given parts, and
one synthesised narration per part (the first an MP3, the others Ogg, as a user hands them over).

Building one is slow, so a test module builds its project once per session (`shared_template`: the first
xdist worker builds it, the others wait for it) and every test works on its own copy (`copy_project`:
file times kept, so `make` sees the copy as up to date): no test sees another's changes, whatever order
they run in and however they are spread over the workers."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from narration import make_narration, write_wav

ROOT = Path(__file__).resolve().parents[1]


def scratch_project(proj: Path, parts: dict[str, str], narrated: tuple[str, ...],
                    narration: Callable[[int], dict[str, Any]]) -> Path:
    """Make the project ``proj`` with ``parts`` (file name -> Markdown) in texts/ and a recording of each
    of ``narrated``; ``narration(i)`` gives the i-th recording's `make_narration` settings (voice, pauses,
    level...)."""
    from pipeline.model.sources import load_book

    proj.mkdir(parents=True)
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


def shared_template(tmp_path_factory: pytest.TempPathFactory, name: str,
                    build: Callable[[Path], Any]) -> tuple[Path, Any]:
    """The project ``name``, built once per test session: ``build(proj)`` makes it at ``proj`` (a path
    that does not exist yet) and returns what the tests need to know about it (JSON). Read only: tests
    work on copies. Returns the project and what ``build`` returned."""
    base = tmp_path_factory.getbasetemp()
    # a folder all the xdist workers of this session share (each worker has its own basetemp in it)
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    done = root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)           # the first worker builds it, the others wait for it
        if not done.exists():
            folder = root / name
            shutil.rmtree(folder, ignore_errors=True)   # what a failed attempt left
            folder.mkdir()
            proj = folder / "proj"
            data = build(proj)
            done.write_text(json.dumps({"project": str(proj), "data": data}), encoding="utf-8")
        made = json.loads(done.read_text(encoding="utf-8"))
    return Path(made["project"]), made["data"]


def copy_project(template: Path, proj: Path) -> Path:
    """A copy of the project ``template`` at ``proj``: file times kept (shutil.copy2), so `make` sees it as
    up to date as the template; the links to the shared package and tools stay links."""
    shutil.copytree(template, proj, symlinks=True)
    return proj
