"""Write outputs atomically: a temporary file beside the target, renamed into place when complete."""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: Path | str, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix or ".tmp",
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(target: Path | str, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: Path | str, text: str) -> None:
    atomic_write_bytes(target, text.encode("utf-8"))


def write_text_if_changed(path: Path | str, text: str) -> None:
    """Write ``path`` (atomically) only when its content would change: its time is what Make reads."""
    try:
        if Path(path).read_text(encoding="utf-8") == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    atomic_write_text(path, text)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read a megabyte at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def link_problem(path: Path, project: Path) -> tuple[str, str] | None:
    """Why the symbolic link ``path`` cannot be an input of the project folder ``project`` (its code and
    message), or None when it is not a link or points to an existing file inside the project. A link out
    of the project (E-REC-004) would make the build and the published files depend on a file the project
    does not hold; a dangling link (or a loop) is E-REC-005."""
    if not os.path.islink(path):
        return None
    try:
        target = Path(path).resolve(strict=False)
    except (OSError, RuntimeError):      # a loop of links
        return "E-REC-005", "symbolic link that cannot be followed (a loop)"
    root = Path(project).resolve()
    if not target.is_relative_to(root):
        return "E-REC-004", f"symbolic link to {target}, outside the project {root} (copy the file into the project instead)"
    if not target.exists():
        return "E-REC-005", f"symbolic link to {target.relative_to(root)}, which does not exist"
    return None
