"""Content stamps: every input enters the build graph through a file whose time moves only when the
input's content does (`python -m pipeline stamp-inputs`).

Make compares times, and an input's time says little: a file moved in from a download folder, a
symbolic link, a file extracted from an archive with its original dates, or a recording replaced by an
older one all keep (or bring) a time older than the outputs made from what was there before. So every
rule that reads an input depends on its stamp instead, ``build/stamps/<the input's path>``, which holds
the SHA-256 of the input's bytes and is rewritten (its time moved to now) only when that changes or the
stamp does not exist yet. A file that disappears leaves its stamp as it is: put back unchanged, it
changes nothing (the list of inputs, `build/inputs.txt`, is what sees it go).

Reading every recording on every `make` would cost seconds on a long book, so a cache
(``build/stamps/cache.json``) keeps each input's digest with what `stat` said of it then: size,
modification and change times (nanoseconds), inode and device. A file whose `stat` is the same is not
read again. The change time cannot be set by a user (`touch -d`, `tar -x` and `cp -p` all move it), so a
rewrite that restores the old size and modification time is still seen. A file changed within a couple
of seconds of being hashed could keep all of those (timestamps advance in clock ticks), so such a file
is not cached: it is read again next time.
"""
from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path, PurePosixPath

from pipeline.model.problems import InputError, Problem
from pipeline.system.fsutil import atomic_write_text, file_sha256, link_problem

CACHE_NAME = "cache.json"
CACHE_VERSION = 1
# a file whose modification or change time is this close to the run's start is read again next time
RACY_NS = 2_000_000_000


def _signature(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _load_cache(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("files"), dict):
        return {}
    return data["files"]


def digest(path: Path, cache: dict[str, dict], fresh: dict[str, dict], start_ns: int) -> str:
    """What the stamp of ``path`` holds: ``sha256:HEX`` of its bytes (through a symbolic link: its
    target's), ``directory``, or ``missing`` (nothing there, or a dangling link; the list of parts
    reports that). Reads the file only when its `stat` differs from the cached one; records what it
    learnt in ``fresh``."""
    key = path.as_posix()
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    sig = _signature(st)
    known = cache.get(key)
    if known is not None and known.get("stat") == sig and isinstance(known.get("digest"), str):
        value: str = known["digest"]
    else:
        try:
            value = "sha256:" + file_sha256(path)
        except OSError:
            return "missing"
    if max(st.st_mtime_ns, st.st_ctime_ns) < start_ns - RACY_NS:
        fresh[key] = {"stat": sig, "digest": value}
    return value


def stamp_inputs(paths: list[Path], stamps: Path) -> list[str]:
    """Bring the stamp of each of ``paths`` (relative paths inside the project, the working folder) up to
    date under ``stamps``; return the inputs whose stamp was written (new or changed). A symbolic link
    out of the project or to nothing is its coded error (E-REC-004, E-REC-005: the list of parts says the
    same), raised before any stamp is written."""
    project = Path.cwd()
    links = [Problem(str(p), 0, *found) for p in paths if (found := link_problem(p, project)) is not None]
    if links:
        raise InputError(links)
    start_ns = time.time_ns()
    cache_path = stamps / CACHE_NAME
    cache = _load_cache(cache_path)
    fresh: dict[str, dict] = {}
    changed = []
    for path in paths:
        rel = PurePosixPath(path.as_posix())
        if rel.is_absolute() or ".." in rel.parts or not rel.parts or rel.as_posix() == CACHE_NAME:
            raise ValueError(f"not a path inside the project: {path}")
        value = digest(path, cache, fresh, start_ns) + "\n"
        stamp = stamps / rel
        try:
            if stamp.read_text(encoding="utf-8") == value:
                continue
        except (OSError, UnicodeDecodeError):
            pass
        atomic_write_text(stamp, value)     # its time, now, is what Make reads
        changed.append(rel.as_posix())
    if fresh != cache:
        atomic_write_text(cache_path, json.dumps({"version": CACHE_VERSION, "files": fresh}, indent=0,
                                                 sort_keys=True) + "\n")
    return changed
