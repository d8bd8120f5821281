"""Word timing: every written word of every fragment, inside the fragment's audible clip.

1. **Where each word starts in the reference.** The reference voice speaks the fragment's *speakable*
   text (numbers and abbreviations spelled out); espeak-ng reports a word event (character offset, audio
   position) for every word it says. The written words (``contracts.words_of``: the text split at white
   space) are mapped onto the speakable text character by character (``difflib`` over the two strings,
   identity when they are the same), so "1990" owns "nineteen ninety" and starts where "nineteen"
   starts. A written word that owns no spoken word (a lone dash) is unspoken.
2. **Where it starts in the narration.** The fragment's reference (the aligner's normalised features)
   is stretched to the length of the speech in the fragment's audible clip and aligned to it by DTW at
   10 ms in a band around the diagonal; each word start maps through the path.
3. **Refinement.** A word start that falls in a pause moves to the speech onset after it; a word just
   after a pause inside the sentence starts at that onset. A word ends where the next word starts, or
   where a pause inside the sentence begins, or where the fragment's speech ends. An unspoken word (and
   every word of a skipped fragment) has no length where it falls.
"""
from __future__ import annotations

import difflib
import re

import numpy as np

from pipeline.model.contracts import Word, words_of

HOP = 0.010
BAND_MIN = 40            # frames: the DTW band's half width, at least (0.4 s) ...
BAND_SHARE = 0.3         # ... or this share of the speech's length, at most BAND_MAX
BAND_MAX = 150
GUIDED_BAND = 50         # frames: the half width around the file's own path, where it is known
PAUSE_IN = 8             # frames (80 ms): a quiet run at least this long inside a sentence is a pause
ONSET_PULL = 15          # frames: a word mapped this close after a pause starts at the pause's end
_TOKEN = re.compile(r"\S+")
_SPOKEN = re.compile(r"\w")


def token_spans(text: str, spoken: str) -> list[tuple[int, int]]:
    """For every written word of ``text`` (``words_of``), the span [start, end) of ``spoken`` (its
    speakable form) that it became."""
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    if text == spoken:
        return tokens
    # where each character of the text went in the spoken text: matched characters map one to one; a
    # replaced stretch maps to the whole of its replacement
    start_of = np.zeros(len(text) + 1, np.int64)
    end_of = np.zeros(len(text) + 1, np.int64)
    sm = difflib.SequenceMatcher(None, text.lower(), spoken.lower(), autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            start_of[i1:i2] = np.arange(j1, j2)
            end_of[i1:i2] = np.arange(j1, j2) + 1
        elif tag in ("replace", "delete"):
            start_of[i1:i2] = j1
            end_of[i1:i2] = j2
    return [(int(start_of[a]), int(end_of[b - 1])) for a, b in tokens]


def reference_words(text: str, spoken: str, marks: list[tuple[int, float]], frames: int) -> np.ndarray:
    """Per written word of ``text``, the reference frame (10 ms, in the trimmed reference of ``frames``
    frames) at which its first spoken word starts; nan for a word with nothing spoken.

    ``marks`` are espeak-ng's word events: (character offset in ``spoken``, frame)."""
    spans = token_spans(text, spoken)
    out = np.full(len(spans), np.nan)
    marks = sorted(marks)
    k = 0
    for i, (a, b) in enumerate(spans):
        while k < len(marks) and marks[k][0] < a:
            k += 1
        if k < len(marks) and marks[k][0] < b and _SPOKEN.search(spoken[a:b] or ""):
            out[i] = min(max(marks[k][1], 0.0), max(frames - 1, 0))
            k += 1
            while k < len(marks) and marks[k][0] < b:     # the other spoken words of this written word
                k += 1
    # word events are in order of the text; keep the frames so
    ok = np.flatnonzero(np.isfinite(out))
    if len(ok):
        out[ok] = np.maximum.accumulate(out[ok])
    return out


def _quiet_runs(voiced: np.ndarray, shortest: int) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate([[1], voiced.astype(np.int8), [1]]))
    starts, ends = np.flatnonzero(d == -1), np.flatnonzero(d == 1)
    return [(int(a), int(b)) for a, b in zip(starts, ends) if b - a >= shortest]


def _word_onsets(ref: np.ndarray, narr: np.ndarray, rows: np.ndarray, silence: np.ndarray | None,
                 centre: np.ndarray | None = None) -> np.ndarray:
    """The column of ``narr`` where each word starts: ``ref`` (stretched to len(narr)) is aligned to it
    by DTW, with a pause row (the silence vector every pause frame of the narration has) before every
    word but the first, so a pause the narrator makes between two words costs nothing there, wherever
    the reference had none; a word starts at the first column its first row is paired with."""
    from pipeline.stages.dtw import diagonal_band, dtw_band  # numba: imported only when aligning

    rows = np.asarray(rows, np.int64)
    if silence is not None and len(rows) > 1:
        cut = rows[1:]
        x = np.insert(ref, cut, silence.astype(ref.dtype), axis=0)
        if centre is not None:
            centre = np.insert(centre, cut, centre[cut])
        rows = rows + np.concatenate([[0], np.arange(1, len(rows))])
    else:
        x = ref
    n, m = len(x), len(narr)
    if centre is not None:
        lo, hi = centre - GUIDED_BAND, centre + GUIDED_BAND + 1
    else:
        half = int(min(BAND_MAX, max(BAND_MIN, BAND_SHARE * m)))
        lo, hi = diagonal_band(n, m, half)
    pi, pj, _ = dtw_band(x, narr, lo, hi)
    first = np.full(n, m - 1, np.int64)
    order = np.argsort(pi, kind="stable")
    seen, at = np.unique(pi[order], return_index=True)
    first[seen] = pj[order][at]
    first = np.minimum.accumulate(first[::-1])[::-1]
    return first[np.minimum(rows, n - 1)]


def time_fragment(text: str, clip: tuple[float, float] | None, at: float, ref: np.ndarray | None,
                  ref_words: np.ndarray | None, ceps: np.ndarray, voiced: np.ndarray,
                  silence: np.ndarray | None = None, guide: np.ndarray | None = None) -> tuple[Word, ...]:
    """The words of one fragment. ``clip`` is its audible clip (seconds; None: skipped, every word has
    no length at ``at``); ``ref`` its reference features and ``ref_words`` its words' reference frames
    (``reference_words``); ``ceps`` and ``voiced`` the narration's normalised features and speech mask."""
    tokens = words_of(text)
    if not tokens:
        return ()
    if clip is None:
        return tuple(Word(at, at, t) for t in tokens)
    ja = max(0, int(np.ceil(clip[0] / HOP - 1e-6)))
    jb = min(len(voiced), int(np.floor(clip[1] / HOP + 1e-6)))
    speech = np.flatnonzero(voiced[ja:jb]) if jb > ja else np.zeros(0, np.int64)
    if len(speech) == 0:
        t = min(max(clip[0], at), clip[1])
        return tuple(Word(t, t, w) for w in tokens)
    s0, s1 = ja + int(speech[0]), ja + int(speech[-1]) + 1
    m = s1 - s0
    rw = ref_words if ref_words is not None and len(ref_words) == len(tokens) else np.full(len(tokens), np.nan)
    spoken = np.isfinite(rw)
    starts = np.full(len(tokens), np.nan)
    if spoken.any() and ref is not None and len(ref) >= 2 and m >= 2:
        idx = np.minimum((np.arange(m) * len(ref) / m).astype(np.int64), len(ref) - 1)
        rows = np.minimum((rw[spoken] * m / len(ref)).astype(np.int64), m - 1)
        centre = None
        if guide is not None and len(guide):
            # where the file's own path put this reference (it may have moved since: a last take, a
            # re-decoded stretch); used when it lies in the clip's speech
            c = guide[np.minimum((idx * len(guide) / len(ref)).astype(np.int64), len(guide) - 1)].astype(np.int64) - s0
            if np.mean((c >= -GUIDED_BAND) & (c < m + GUIDED_BAND)) >= 0.9:
                centre = c
        starts[spoken] = s0 + _word_onsets(ref[idx], ceps[s0:s1], rows, silence, centre)
    elif spoken.any():
        # no reference to align with: spread the words over the speech by their length
        lengths = np.array([len(t) + 1 for t in tokens], float)
        starts[spoken] = s0 + np.round((np.cumsum(lengths) - lengths)[spoken] / lengths.sum() * m)
    v = voiced[s0:s1]
    pauses = _quiet_runs(v, PAUSE_IN)
    sp = np.flatnonzero(spoken)
    if len(sp):
        starts[sp[0]] = s0
    prev_start = s0
    for i in sp[1:]:
        t = int(starts[i]) - s0
        for p0, p1 in pauses:
            # in a pause: the word starts where the speech comes back; just after one: likewise
            if p0 <= t < p1 or (p1 <= t < p1 + ONSET_PULL and p0 > prev_start - s0):
                t = p1
                break
        t = min(max(t, prev_start - s0), m - 1)
        starts[i] = s0 + t
        prev_start = s0 + t
    starts = np.where(spoken, starts, np.nan)
    # an unspoken word sits where the next spoken word starts (or at the end of the speech)
    nxt = float(s1)
    for i in range(len(tokens) - 1, -1, -1):
        if not spoken[i]:
            starts[i] = nxt
        else:
            nxt = starts[i]
    starts = np.maximum.accumulate(np.minimum(starts, s1))
    ends = np.empty(len(tokens))
    for i in range(len(tokens)):
        end = starts[i + 1] if i + 1 < len(tokens) else s1
        if spoken[i]:
            for p0, _ in pauses:
                if starts[i] - s0 < p0 and s0 + p0 < end:
                    end = s0 + p0
                    break
        else:
            end = starts[i]
        ends[i] = max(end, starts[i])
    lo, hi = clip
    return tuple(Word(float(min(max(b * HOP, lo), hi)), float(min(max(e * HOP, lo), hi)), t)
                 for b, e, t in zip(starts, ends, tokens))


def time_words(texts: list[str], spans: list[tuple[float, float]], clips: list[tuple[float, float] | None],
               refs: list[np.ndarray] | None, ref_words: list[np.ndarray] | None, ceps: np.ndarray,
               voiced: np.ndarray, silence: np.ndarray | None = None,
               guides: list[np.ndarray] | None = None) -> list[tuple[Word, ...]]:
    """The words of every fragment (see ``time_fragment``); ``spans`` are the fragments' (begin, end)."""
    out = []
    for k, text in enumerate(texts):
        ref = refs[k] if refs is not None and k < len(refs) else None
        rw = ref_words[k] if ref_words is not None and k < len(ref_words) else None
        guide = guides[k] if guides is not None and k < len(guides) else None
        out.append(time_fragment(text, clips[k], spans[k][0], ref, rw, ceps, voiced, silence, guide))
    return out
