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
def _dtw(x, y, lo, hi, base, back):  # pragma: no cover - compiled
    n = x.shape[0]
    d = x.shape[1]
    m = y.shape[0]
    prev = np.full(m + 1, INF, dtype=np.float32)
    cur = np.full(m + 1, INF, dtype=np.float32)
    for i in range(n):
        a = lo[i]
        b = hi[i]
        for j in range(a, b):
            s = np.float32(0.0)
            for k in range(d):
                t = x[i, k] - y[j, k]
                s += t * t
            dist = np.float32(np.sqrt(s))
            if i == 0 and j == 0:
                cur[j] = dist
                continue
            best = INF
            step = 0
            if i > 0 and j > 0 and prev[j - 1] < best:
                best = prev[j - 1]
                step = 1
            if i > 0 and prev[j] < best:
                best = prev[j]
                step = 2
            if j > a and cur[j - 1] < best:
                best = cur[j - 1]
                step = 3
            cur[j] = best + dist if best < INF else INF
            cell = base[i] + j - a
            back[cell >> 2] |= np.uint8(step << ((cell & 3) * 2))
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
def _backtrack(lo, hi, base, back, n, m):  # pragma: no cover - compiled
    path_i = np.empty(n + m, dtype=np.int32)
    path_j = np.empty(n + m, dtype=np.int32)
    i = n - 1
    j = m - 1
    k = 0
    while True:
        path_i[k] = i
        path_j[k] = j
        k += 1
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


def dtw_band(x: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Align ``x`` (n x d) to ``y`` (m x d) inside the band; returns (path_i, path_j, local distance per path point)."""
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
    total = _dtw(x, y, lo, hi, base, back)
    if not np.isfinite(total) or total >= INF:
        raise RuntimeError("no warping path inside the band")
    pi, pj = _backtrack(lo, hi, base, back, n, m)
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
    rows = np.arange(n) // factor
    rows = np.minimum(rows, coarse_rows - 1)
    lo = jmin[rows] * factor - half_width
    hi = (jmax[rows] + 1) * factor + half_width
    return lo, hi
