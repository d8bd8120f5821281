"""Where a narration departs from its text: skipped sentences, retakes, unscripted speech, misread phrases.

The deviation-tolerant DTW (``dtw.dtw_band`` with pause rows) leaves two traces that this module reads:
- fragments the path **jumped** over, or that it squeezed into a stretch with almost no speech: the
  narrator did not read them (``skip``);
- narration speech **held** at a pause of the reference (speech the text does not have between two
  sentences). Held speech that matches the beginning of the sentence after it is a false start
  (``retake``); held speech that matches the whole sentence before it is that sentence read again (a
  ``retake`` of it: the sentence moves to its last complete take); anything else is ``extra``.

Each report carries a confidence in 0..1 (see ``docs/architecture.md``, "Proofing", for how it is
calibrated against the planted deviations of ``bench/deviations.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.model import contracts

HOP = 0.010
MIN_HELD_S = 0.35          # held speech shorter than this (voiced) is a breath, a click or an onset
HELD_GAP_S = 0.8           # held runs at one pause closer than this are one stretch
MIN_PAUSE = 12             # frames: a pause that separates held speech from a sentence
SKIP_HEARD = 0.25          # a fragment with less than this share of its expected speech was not read
RETAKE_MARGIN = 0.15       # held speech is a retake when it is this much closer to the take than other speech


@dataclass(frozen=True)
class Finding:
    """A deviation as the aligner finds it: ``fragment`` is the index of the fragment it names."""
    kind: str
    begin: float
    end: float
    fragment: int
    confidence: float

    def contract(self, fragment_ids: list[str], texts: list[str]) -> contracts.Deviation:
        """The sync map's deviation (times and confidence to the millisecond, as the file has them)."""
        return contracts.Deviation(kind=self.kind, begin=round(self.begin, 3), end=round(self.end, 3),
                                   fragment=fragment_ids[self.fragment], text=texts[self.fragment],
                                   confidence=round(float(self.confidence), 3))


def held_stretches(held: list[tuple[int, int, int]], voiced: np.ndarray) -> list[tuple[int, int, int]]:
    """Held runs merged per pause (gaps under HELD_GAP_S), trimmed to their speech, kept when they hold
    at least MIN_HELD_S of speech: (k, first frame, end frame), k = the fragment the pause precedes.

    Speech that runs straight on from the sentence before (no pause between) is that sentence's own
    tail, read differently from the text; speech that runs straight into the next sentence is its
    onset. Only the islands of speech with a pause on both sides count as held."""
    out: list[list[int]] = []
    gap = int(HELD_GAP_S / HOP)
    for k, a, b in sorted(held, key=lambda h: (h[1], h[0])):
        if out and out[-1][0] == k and a - out[-1][2] <= gap:
            out[-1][2] = max(out[-1][2], b)
        else:
            out.append([k, a, b])
    result = []
    n = len(voiced)
    for k, a, b in out:
        # islands of speech inside the stretch, split at pauses of MIN_PAUSE frames or more
        islands = speech_islands(voiced, a, b, gap=MIN_PAUSE, shortest=1)
        if islands and islands[0][0] > 0 and voiced[max(0, islands[0][0] - MIN_PAUSE):islands[0][0]].all():
            islands = islands[1:]         # glued to the sentence before
        if islands and islands[-1][1] < n and voiced[islands[-1][1]:min(n, islands[-1][1] + MIN_PAUSE)].all():
            islands = islands[:-1]        # glued to the sentence after
        if not islands:
            continue
        first, end = islands[0][0], islands[-1][1]
        if np.count_nonzero(voiced[first:end]) * HOP < MIN_HELD_S:
            continue
        result.append((k, first, end))
    return result


def classify_held(seg: np.ndarray, takes: dict[int, np.ndarray], k: int) -> tuple[str, float, bool]:
    """(kind, confidence, is_repeat_of_previous) for held speech ``seg`` (the narration's features, speech
    frames only) held at the pause before fragment ``k``.

    ``takes`` holds, per fragment near k, the narration's own speech from that fragment's onset on. A
    false start is the same voice saying the same words as the take that follows it, so the held speech
    is compared with the narrator's own reading (much closer than to the synthetic reference): with the
    start of fragment k (a false start of it), with fragment k-1 (that sentence read again), and, as the
    yardstick of unrelated speech, with the other fragments around."""
    from pipeline.stages.dtw import open_end_cost  # numba: imported only when aligning (as in align.py)

    if len(seg) < 5:
        return "extra", 0.6, False
    cost = {}
    for j, take in takes.items():
        if len(take) >= 5:
            cost[j] = open_end_cost(np.ascontiguousarray(seg, np.float32),
                                    np.ascontiguousarray(take[: int(len(seg) * 1.6) + 5], np.float32))
    others = [c for j, c in cost.items() if j not in (k, k - 1)]
    if not others or (k not in cost and k - 1 not in cost):
        return "extra", 0.6, False
    base = float(np.median(others))
    score_k = (base - cost[k]) / base if k in cost else -1.0
    score_p = (base - cost[k - 1]) / base if k - 1 in cost and len(seg) >= 0.6 * len(takes[k - 1]) else -1.0
    score, repeat = (score_k, False) if score_k >= score_p else (score_p, True)
    if score >= RETAKE_MARGIN:
        return "retake", float(np.clip(0.5 + (score - RETAKE_MARGIN) * 2, 0.5, 0.99)), repeat
    return "extra", float(np.clip(0.5 + (RETAKE_MARGIN - score) * 2, 0.5, 0.99)), False


def skipped_fragments(jumped: np.ndarray, heard: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Fragments not read: jumped over by the path, or holding less than SKIP_HEARD of the speech their
    text needs (and not a sliver of a long one)."""
    share = np.where(expected > 0, heard / np.maximum(expected, 1e-6), 1.0)
    return jumped | ((share < SKIP_HEARD) & (expected >= 0.4))


# ---------------------------------------------------------------------------- local re-decoding

REDECODE_MARGIN = 2        # fragments on each side of a deviation that the re-decoding may reassign
ISLAND_GAP = 15            # frames: speech islands are split at pauses this long (0.15 s)
TAU_FACTOR = 1.22          # a sentence matches speech when its cost per frame is under this many times the typical
SUSPECT_FACTOR = 1.08       # a sentence costing more than this many times the typical may hold another's speech
LAST_TAKE = 1.05           # held speech after a sentence that matches it this well is its last take
MAX_WINDOW = 30            # fragments: a longer window is left as the path found it
MAX_ISLANDS = 8            # a sentence spans at most this many islands


def _unit_cost(ref: np.ndarray, speech: np.ndarray) -> float:
    """Total DTW distance between a sentence's reference and a stretch of speech, per frame of both: the
    sentence-level measure that tells the text read from other speech (much better than any frame)."""
    from pipeline.stages.dtw import dtw_band  # numba: imported only when aligning (as in align.py)

    n, m = len(ref), len(speech)
    if n < 3 or m < 3:
        return float("inf")
    _, _, d = dtw_band(ref, speech, np.zeros(n, np.int64), np.full(n, m, np.int64))
    return float(d.sum() / (n + m))


def speech_islands(voiced: np.ndarray, start: int, end: int, gap: int = ISLAND_GAP,
                   shortest: int = 10) -> list[tuple[int, int]]:
    """Runs of speech in frames [start, end), split at pauses of ``gap`` frames or more, at least
    ``shortest`` frames long."""
    v = voiced[start:end]
    d = np.diff(np.concatenate([[0], v.astype(np.int8), [0]]))
    out: list[list[int]] = []
    for s0, e0 in zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()):
        if out and s0 - out[-1][1] < gap:
            out[-1][1] = e0
        else:
            out.append([s0, e0])
    return [(start + a, start + b) for a, b in out if b - a >= shortest]


def redecode(refs: list[np.ndarray], expected: np.ndarray, islands: list[tuple[int, int]], speech_of,
             tau: float) -> tuple[dict[int, tuple[int, int]], list[int]]:
    """Which of the window's fragments own which islands of speech, by sentence-level costs.

    ``refs[f]`` is fragment f's reference (fine frames, at the narrator's rate), ``expected[f]`` its
    speech in frames; ``speech_of(i, j)`` the narration's speech frames of islands i..j-1. A dynamic
    programme over (fragment, island) lets each fragment take a run of islands, or be skipped, and each
    island be held as speech the text lacks; a fragment matched to speech scores (cost - tau) per frame
    of both, so a sentence is only given speech that it matches better than tau. Returns, per fragment
    given speech, its (first, end) islands, and the islands held."""
    nf, ni = len(refs), len(islands)
    INF = float("inf")
    best = np.full((nf + 1, ni + 1), INF)
    move: dict[tuple[int, int], tuple[str, int]] = {}
    best[0, 0] = 0.0
    hold_cost, skip_cost = 0.02, 1.0     # ties go to reading the text (as in assignment_score)
    cache: dict[tuple[int, int, int], float] = {}
    for f in range(nf + 1):
        for i in range(ni + 1):
            b = best[f, i]
            if b == INF:
                continue
            if i < ni:       # hold island i
                c = b + hold_cost * (islands[i][1] - islands[i][0])
                if c < best[f, i + 1]:
                    best[f, i + 1] = c
                    move[(f, i + 1)] = ("hold", i)
            if f < nf:       # skip fragment f
                c = b + skip_cost
                if c < best[f + 1, i]:
                    best[f + 1, i] = c
                    move[(f + 1, i)] = ("skip", i)
                for j in range(i + 1, min(ni, i + MAX_ISLANDS) + 1):
                    frames = sum(islands[t][1] - islands[t][0] for t in range(i, j))
                    if frames > 3.0 * expected[f] + 50:
                        break
                    if frames < 0.3 * expected[f]:
                        continue
                    key = (f, i, j)
                    if key not in cache:
                        sp = speech_of(i, j)
                        u = _unit_cost(refs[f], sp)
                        cache[key] = (u - tau) * (len(refs[f]) + len(sp))
                    c = b + cache[key]
                    if c < best[f + 1, j]:
                        best[f + 1, j] = c
                        move[(f + 1, j)] = ("match", i)
    owned: dict[int, tuple[int, int]] = {}
    held: list[int] = []
    f, i = nf, ni
    while (f, i) != (0, 0):
        kind, prev = move[(f, i)]
        if kind == "hold":
            held.append(prev)
            i = prev
        elif kind == "skip":
            f -= 1
        else:
            owned[f - 1] = (prev, i)
            f, i = f - 1, prev
    return owned, sorted(held)

