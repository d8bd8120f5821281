"""Dynamic time warping in a band, compiled with numba.

Rows are reference frames, columns narration frames; row ``i`` may only visit columns
``lo[i] <= j < hi[i]``. Steps: diagonal, down (reference advances) and right (narration advances),
each adding the local Euclidean distance. Backpointers are two bits per cell inside the band only
(the local distances along the path are recomputed after backtracking),
so memory is (band width x rows) bytes, never the full matrix.
"""
from __future__ import annotations

import numpy as np
from numba import njit

INF = np.float32(3.0e38)


@njit(cache=True, nogil=True)
def _dtw(x, y, lo, hi, base, back, pause, first, last, jbase, jsrc, garbage, skip_pen, skip_row):  # pragma: no cover
    n = x.shape[0]
    d = x.shape[1]
    m = y.shape[0]
    prev = np.full(m + 1, INF, dtype=np.float32)
    cur = np.full(m + 1, INF, dtype=np.float32)
    # per column, the cheapest way to have finished any earlier pause of the reference (its last row r),
    # less r * skip_row, and that row: a jump from there to the first row i of a later pause skips the
    # fragments between, for skip_pen + (i - r) * skip_row
    best = np.full(m + 1, 1e300, dtype=np.float64)
    best_row = np.full(m + 1, -1, dtype=np.int32)
    for i in range(n):
        a = lo[i]
        b = hi[i]
        for j in range(a, b):
            s = np.float32(0.0)
            for k in range(d):
                t = x[i, k] - y[j, k]
                s += t * t
            dist = np.float32(np.sqrt(s))
            if pause[i] and dist > garbage:
                dist = garbage          # speech the text does not have, held at a pause of the reference
            if i == 0 and j == 0:
                cur[j] = dist
                continue
            bestv = INF
            step = 0
            if i > 0 and j > 0 and prev[j - 1] < bestv:
                bestv = prev[j - 1]
                step = 1
            if i > 0 and prev[j] < bestv:
                bestv = prev[j]
                step = 2
            if j > a and cur[j - 1] < bestv:
                bestv = cur[j - 1]
                step = 3
            if first[i]:
                src = -1
                jump = best[j] + skip_pen + i * skip_row
                if jump < bestv:
                    bestv = np.float32(jump)
                    step = 0
                    src = best_row[j]
                jsrc[jbase[i] + j - a] = src
            cur[j] = bestv + dist if bestv < INF else INF
            cell = base[i] + j - a
            back[cell >> 2] |= np.uint8(step << ((cell & 3) * 2))
        if last[i]:
            for j in range(a, b):
                v = np.float64(cur[j]) - i * skip_row
                if cur[j] < INF and v < best[j]:
                    best[j] = v
                    best_row[j] = i
        # reset the parts of prev we will not need and swap
        pa = lo[i - 1] if i > 0 else 0
        pb = hi[i - 1] if i > 0 else 0
        for j in range(pa, pb):
            prev[j] = INF
        for j in range(a, b):
            prev[j] = cur[j]
            cur[j] = INF
    return prev[m - 1]


@njit(cache=True, nogil=True)
def _backtrack(lo, hi, base, back, first, jbase, jsrc, n, m):  # pragma: no cover - compiled
    path_i = np.empty(n + m, dtype=np.int32)
    path_j = np.empty(n + m, dtype=np.int32)
    i = n - 1
    j = m - 1
    k = 0
    while True:
        path_i[k] = i
        path_j[k] = j
        k += 1
        if first[i] and jsrc[jbase[i] + j - lo[i]] >= 0:
            i = jsrc[jbase[i] + j - lo[i]]
            continue
        cell = base[i] + j - lo[i]
        step = (back[cell >> 2] >> ((cell & 3) * 2)) & 3
        if step == 0:
            break
        if step == 1:
            i -= 1
            j -= 1
        elif step == 2:
            i -= 1
        else:
            j -= 1
    return path_i[:k][::-1].copy(), path_j[:k][::-1].copy()


def dtw_band(x: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray, pause: np.ndarray | None = None,
             garbage: float = float("inf"), skip_penalty: float = float("inf"),
             skip_row: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Align ``x`` (n x d) to ``y`` (m x d) inside the band; returns (path_i, path_j, local distance per path point).

    ``pause`` marks the reference's pause rows (rows between fragments; -1 for speech, else the pause's
    number). At a pause row a narration frame costs at most ``garbage``: speech the text does not have
    (a slate, an aside, a false start) is held there at that price instead of being forced onto the
    neighbouring sentences. And the path may jump from the last row of any pause to the first row of a
    later one, in the same narration frame, for ``skip_penalty`` plus ``skip_row`` per row jumped: the
    fragments between were not read.
    A jump shows in the path as a step down by more than one row."""
    n, m = len(x), len(y)
    lo = np.clip(lo.astype(np.int64), 0, m - 1)
    hi = np.clip(hi.astype(np.int64), 1, m)
    lo[0] = 0
    hi[-1] = m
    # a connected band: each row overlaps the one before, and neither edge moves backwards
    hi = np.maximum.accumulate(hi)
    lo = np.minimum.accumulate(lo[::-1])[::-1]
    lo[1:] = np.minimum(lo[1:], hi[:-1] - 1)
    hi = np.maximum(hi, lo + 1)
    widths = hi - lo
    base = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(widths, out=base[1:])
    back = np.zeros((int(base[-1]) + 3) // 4, dtype=np.uint8)   # 2 bits per cell
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.float32)
    if pause is None:
        pause = np.full(n, -1, np.int64)
    is_pause = pause >= 0
    nxt = np.concatenate([pause[1:], [-2]])
    prv = np.concatenate([[-2], pause[:-1]])
    first = is_pause & (prv != pause)
    last = is_pause & (nxt != pause)
    jbase = np.zeros(n, np.int64)
    jbase[first] = np.concatenate([[0], np.cumsum(widths[first])[:-1]]) if first.any() else 0
    jsrc = np.full(max(1, int(widths[first].sum())), -1, np.int32)
    total = _dtw(x, y, lo, hi, base, back, is_pause, first, last, jbase, jsrc,
                 np.float32(min(garbage, 1e30)), np.float64(min(skip_penalty, 1e30)), np.float64(skip_row))
    if not np.isfinite(total) or total >= INF:
        raise RuntimeError("no warping path inside the band")
    pi, pj = _backtrack(lo, hi, base, back, first, jbase, jsrc, n, m)
    del back
    return pi, pj, _path_distance(x, y, pi, pj)


@njit(cache=True, nogil=True)
def _path_distance(x, y, pi, pj):  # pragma: no cover - compiled
    out = np.empty(len(pi), dtype=np.float32)
    for k in range(len(pi)):
        s = np.float32(0.0)
        for d in range(x.shape[1]):
            t = x[pi[k], d] - y[pj[k], d]
            s += t * t
        out[k] = np.sqrt(s)
    return out


def diagonal_band(n: int, m: int, half_width: int) -> tuple[np.ndarray, np.ndarray]:
    centre = np.arange(n) * (m / max(n, 1))
    return (centre - half_width).astype(np.int64), (centre + half_width + 1).astype(np.int64)


def band_around_path(path_i: np.ndarray, path_j: np.ndarray, factor: int, n: int, m: int,
                     half_width: int) -> tuple[np.ndarray, np.ndarray]:
    """Project a coarse path (decimated by ``factor``) to fine rows and widen it by ``half_width``."""
    coarse_rows = (n + factor - 1) // factor
    jmin = np.full(coarse_rows, np.iinfo(np.int64).max, dtype=np.int64)
    jmax = np.full(coarse_rows, -1, dtype=np.int64)
    np.minimum.at(jmin, path_i, path_j.astype(np.int64))
    np.maximum.at(jmax, path_i, path_j.astype(np.int64))
    # rows the path jumped over (skipped fragments) take the column of the jump
    seen = jmax >= 0
    if not seen.all():
        idx = np.arange(coarse_rows)
        after = np.minimum.accumulate(np.where(seen, idx, coarse_rows)[::-1])[::-1]
        before = np.maximum.accumulate(np.where(seen, idx, -1))
        after = np.where(after < coarse_rows, after, before)
        before = np.where(before >= 0, before, after)
        jmin = np.where(seen, jmin, jmin[after])
        jmax = np.where(seen, jmax, jmax[before])
    rows = np.arange(n) // factor
    rows = np.minimum(rows, coarse_rows - 1)
    lo = jmin[rows] * factor - half_width
    hi = (jmax[rows] + 1) * factor + half_width
    return lo, hi


@njit(cache=True, nogil=True)
def open_end_cost(a, b):  # pragma: no cover - compiled
    """Mean local distance of the best path that aligns all of ``a`` with a prefix of ``b`` (both start
    together; ``b`` may go on): how well a stretch of narration matches the beginning of a text."""
    n, m, d = a.shape[0], b.shape[0], a.shape[1]
    prev = np.full(m, 3.0e38, dtype=np.float64)
    plen = np.zeros(m, dtype=np.int64)
    cur = np.full(m, 3.0e38, dtype=np.float64)
    clen = np.zeros(m, dtype=np.int64)
    for i in range(n):
        for j in range(m):
            s = 0.0
            for k in range(d):
                t = a[i, k] - b[j, k]
                s += t * t
            dist = np.sqrt(s)
            if i == 0 and j == 0:
                cur[j] = dist
                clen[j] = 1
                continue
            best = 3.0e38
            bl = 0
            if i > 0 and j > 0 and prev[j - 1] < best:
                best = prev[j - 1]
                bl = plen[j - 1]
            if i > 0 and prev[j] < best:
                best = prev[j]
                bl = plen[j]
            if j > 0 and cur[j - 1] < best:
                best = cur[j - 1]
                bl = clen[j - 1]
            cur[j] = best + dist
            clen[j] = bl + 1
        for j in range(m):
            prev[j] = cur[j]
            plen[j] = clen[j]
            cur[j] = 3.0e38
    out = 3.0e38
    for j in range(m):
        if plen[j] > 0 and prev[j] / plen[j] < out:
            out = prev[j] / plen[j]
    return out
