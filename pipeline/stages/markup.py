"""What every edition writes the same way from the source model: a sentence's emphasis as runs of plain
and emphasised text (the EPUB's XHTML, the feed's HTML, the web edition's templates), and a list of names
in prose ("A, B and C": the title page, the cover's text description, the web pages)."""
from __future__ import annotations

import html
from collections.abc import Iterable


def segments(text: str, strong: Iterable[tuple[int, int]]) -> tuple[tuple[str, bool], ...]:
    """Split a sentence's text into plain and emphasised runs, in order: ``(run, emphasised)``. Ranges
    are taken in order, clipped to the text and to the runs before them; an empty text is one empty run."""
    out: list[tuple[str, bool]] = []
    pos = 0
    for a, b in sorted(strong):
        a, b = max(a, pos), min(b, len(text))
        if a >= b:
            continue
        if a > pos:
            out.append((text[pos:a], False))
        out.append((text[a:b], True))
        pos = b
    if pos < len(text) or not out:
        out.append((text[pos:], False))
    return tuple(out)


def sentence_html(text: str, strong: Iterable[tuple[int, int]]) -> str:
    """A sentence as escaped HTML, its emphasised runs in ``<strong>``."""
    return "".join(f"<strong>{html.escape(run, quote=False)}</strong>" if em else html.escape(run, quote=False)
                   for run, em in segments(text, strong))


def join_names(names: Iterable[str]) -> str:
    """"A", "A and B", "A, B and C" (no serial comma); "" for none."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]
