"""Problems found in a user's input: one line each, with a stable code and file:line."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    code: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return " ".join(part for part in (self.code, where, self.message) if part)


class InputError(Exception):
    """Bad input from the user: carries every problem found, reported one per line, exit code 1.

    A plain string is a problem whose code and place are written in its text."""

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = Problem("", 0, "", problems)
        self.problems: list[Problem] = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class CheckFailed(Exception):
    """A release check found problems: one line each, exit code 3 (the CLI prints them as ``FAIL``)."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


def display_path(path: Path | str) -> str:
    """A path as the user should see it: relative to the working directory where possible."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)
