"""The cheapest speed-limited path through a table of per-frame costs, compiled with numba.

A joint's angle is chosen from a grid in every frame; between two frames it may move at most `reach`
grid entries. Dynamic programming finds the path of least summed cost over the whole clip: the best
cost of arriving at an entry is its own cost plus the least best cost within reach one frame
earlier. The windowed minimum is van Herk / Gil-Werman's (three passes, independent of the window's
width), so a frame costs a few operations per grid entry however fast the joint may move.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _window_min(x: np.ndarray, reach: int, out: np.ndarray, scratch: np.ndarray) -> None:
    """out[i] = min(x[i - reach : i + reach + 1]) (clipped at the ends). `scratch` holds 3 * (n + 2 reach)."""
    n = x.shape[0]
    width = 2 * reach + 1
    m = n + 2 * reach
    padded = scratch[:m]
    forward = scratch[m : 2 * m]
    backward = scratch[2 * m : 3 * m]
    for i in range(m):
        padded[i] = np.inf
    for i in range(n):
        padded[i + reach] = x[i]
    for i in range(m):
        forward[i] = padded[i] if i % width == 0 else min(forward[i - 1], padded[i])
    for i in range(m - 1, -1, -1):
        backward[i] = padded[i] if (i + 1) % width == 0 or i == m - 1 else min(backward[i + 1], padded[i])
    for i in range(n):
        out[i] = min(backward[i], forward[i + 2 * reach])


@njit(cache=True)
def cheapest_path_1d(cost: np.ndarray, reach: int) -> np.ndarray:
    """Grid indices (T,) of least summed `cost (T, G)` moving at most `reach` entries per frame."""
    n, g = cost.shape
    best = np.empty((n, g))
    best[0] = cost[0]
    window = np.empty(g)
    scratch = np.empty(3 * (g + 2 * reach))
    for t in range(1, n):
        _window_min(best[t - 1], reach, window, scratch)
        for k in range(g):
            best[t, k] = cost[t, k] + window[k]
    path = np.empty(n, dtype=np.int64)
    index = int(np.argmin(best[n - 1]))
    path[n - 1] = index
    for t in range(n - 2, -1, -1):
        lo, hi = max(index - reach, 0), min(index + reach + 1, g)
        index = lo + int(np.argmin(best[t, lo:hi]))
        path[t] = index
    return path


@njit(cache=True)
def cheapest_path_2d(cost: np.ndarray, reach_a: int, reach_b: int) -> np.ndarray:
    """Grid indices (T, 2) of least summed `cost (T, A, B)` moving at most `reach_a` entries along A
    and `reach_b` along B per frame (a rectangular window, as two independent speed limits give)."""
    n, size_a, size_b = cost.shape
    best = np.empty((n, size_a, size_b))
    best[0] = cost[0]
    rows = np.empty((size_a, size_b))
    column = np.empty(size_a)
    column_min = np.empty(size_a)
    scratch = np.empty(3 * (max(size_a, size_b) + 2 * max(reach_a, reach_b)))
    for t in range(1, n):
        for i in range(size_a):
            _window_min(best[t - 1, i], reach_b, rows[i], scratch)
        for j in range(size_b):
            for i in range(size_a):
                column[i] = rows[i, j]
            _window_min(column, reach_a, column_min, scratch)
            for i in range(size_a):
                best[t, i, j] = cost[t, i, j] + column_min[i]
    path = np.empty((n, 2), dtype=np.int64)
    flat = int(np.argmin(best[n - 1]))
    i, j = flat // size_b, flat % size_b
    path[n - 1, 0], path[n - 1, 1] = i, j
    for t in range(n - 2, -1, -1):
        lo_a, hi_a = max(i - reach_a, 0), min(i + reach_a + 1, size_a)
        lo_b, hi_b = max(j - reach_b, 0), min(j + reach_b + 1, size_b)
        value = np.inf
        bi, bj = lo_a, lo_b
        for a in range(lo_a, hi_a):
            for b in range(lo_b, hi_b):
                if best[t, a, b] < value:
                    value = best[t, a, b]
                    bi, bj = a, b
        i, j = bi, bj
        path[t, 0], path[t, 1] = i, j
    return path
