"""Sentence splitting for narrated English prose.

Rule based and deterministic: a boundary is terminal punctuation (. ! ? …), optionally followed by
closing quotes or brackets, then whitespace, then something that can start a sentence. A full stop
does not end a sentence after a known abbreviation ("Dr.", "e.g.", "p. 14"), after a single-letter
initial ("J. R. Smith"), inside a number ("3.5", "£1.2m") or before a lower-case word.
"""
from __future__ import annotations

import re

# Abbreviations that never end a sentence when followed by more text.
ABBREVIATIONS = frozenset(
    """
    mr mrs ms mx dr prof rev revd fr sr jr st cllr capt col gen lt sgt hon rt
    e.g eg i.e ie cf viz vs v al approx ca c no nos vol vols p pp ch fig figs ed eds
    dept est inc ltd co corp mt ft jan feb mar apr jun jul aug sep sept oct nov dec
    """.split()
)
# Abbreviations that may end a sentence (split when an upper-case word follows).
SOFT_ABBREVIATIONS = frozenset({"etc", "ltd", "inc", "co", "al"})

_BOUNDARY = re.compile(r"([.!?…]+)([\"'”’)\]]*)(\s+)(?=[\"'“‘(\[]?[A-Z0-9£$€])")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Return (start, end) character spans of the sentences in ``text`` (whitespace trimmed)."""
    spans: list[tuple[int, int]] = []
    start = _skip_space(text, 0)
    for m in _BOUNDARY.finditer(text):
        if m.start() < start:
            continue
        if not _is_boundary(text, m):
            continue
        end = m.end(2)
        if text[start:end].strip():
            spans.append((start, end))
        start = _skip_space(text, m.end())
    end = len(text.rstrip())
    if start < end:
        spans.append((start, end))
    return spans


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _is_boundary(text: str, m: re.Match[str]) -> bool:
    punct = m.group(1)
    if punct != ".":
        return True  # ! ? … and runs like "?!" always end a sentence
    before = text[: m.start()]
    w = _WORD_BEFORE.search(before)
    if not w:
        return True  # after a digit, quote or bracket: "in 2007." ends a sentence
    word = w.group(1)
    key = word.lower().rstrip(".")
    nxt = text[m.end():m.end() + 1]
    if len(word) == 1 and word.isupper():
        return False  # an initial: "J. Smith"
    if "." in word.rstrip("."):
        return False  # dotted abbreviation such as "e.g" or "U.K"
    if key in SOFT_ABBREVIATIONS:
        return nxt.isupper()
    if key in ABBREVIATIONS:
        return False
    return True
