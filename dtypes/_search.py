"""MSE-optimal scale search over candidate scales, without re-quantizing per candidate.

ANT searches, per row, the scale ``s = base * f`` over 100 fractions ``f`` of the row's
``base`` (absmax mapped to the type's largest value). Rounding to the grid ``s * g`` puts
the elements between consecutive thresholds ``s * mid_j`` into bin ``j``; with the count,
sum and sum of squares of the elements below every threshold, the squared error of a row
for one candidate is

    sum_j  S2_j - 2 s g_j S1_j + n_j (s g_j)**2

In units of the row's base (``u = w / base``) the thresholds ``f * mid_j`` are the same for
every row, so one binary search of every element among those shared thresholds and three
`bincount`s give all rows and all candidates at once: no Python loop over rows, and no pass
over the tensor per candidate.
"""

from __future__ import annotations

import numpy as np

from hwsim.dtypes._element import ElementFormat
from hwsim.limits import MAX_SCALE_SEARCH, check_count

__all__ = ["best_scale_per_row"]

_ELEMENTS_PER_CHUNK = 1 << 22  # bounds the float64 temporaries (~32 MiB each)


def best_scale_per_row(rows: np.ndarray, base: np.ndarray, factors: np.ndarray,
                       elem: ElementFormat) -> tuple[np.ndarray, np.ndarray]:
    """Lowest squared error over the candidate scales ``base[r] * factors[c]``, per row.

    Args:
        rows: (N, n) values.
        base: (N,) non-negative base scale of each row.
        factors: (C,) positive candidate factors, shared by all rows.
        elem: the element format (its grid and tie rule).

    Returns:
        (sse, pick): per row the lowest squared error and the index into `factors` of its
        candidate (the first one when several tie). An element exactly on a threshold is
        binned by the format's tie rule ("lower": lower bin; otherwise upper), up to the
        rounding of ``w / base``: this chooses a scale, the final encode is exact.
    """
    grid = elem.values
    mids = (grid[1:] + grid[:-1]) / 2.0
    n_rows, n = rows.shape
    n_cand, n_mid = len(factors), len(mids)
    shared = (factors[:, None] * mids[None, :]).reshape(-1)  # (C * M,) thresholds in u units
    order = np.argsort(shared, kind="stable")
    sorted_t = shared[order]
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    n_t = len(shared)
    # The search visits every (row, threshold) pair: refuse before minutes of work.
    check_count(n_rows * (n_t + 1), MAX_SCALE_SEARCH, f"scale search: {n_rows:,} groups x "
                f"{n_t + 1:,} thresholds", "use a larger group size")
    # u < t (upper bin on ties) or u <= t ("lower": ties stay in the lower bin); see below.
    side = "left" if elem.tie == "lower" else "right"
    best_sse = np.empty(n_rows)
    pick = np.empty(n_rows, dtype=np.int64)
    # A chunk's arrays hold a row's elements or one entry per threshold (the bincount and
    # the (rows, candidates, midpoints) tables): bound whichever is longer.
    chunk_rows = max(1, _ELEMENTS_PER_CHUNK // max(n, n_t + 1))
    for start in range(0, n_rows, chunk_rows):
        stop = min(start + chunk_rows, n_rows)
        b = stop - start
        scale = base[start:stop].astype(np.float64)
        safe = np.where(scale > 0, scale, 1.0)
        u = rows[start:stop].astype(np.float64) / safe[:, None]
        if n <= n_t:
            below_n, below_s1, total_n, total_s1 = _below_by_bincount(u, sorted_t, side)
        else:
            below_n, below_s1, total_n, total_s1 = _below_by_rows(u, sorted_t, side)
        below_n = below_n[:, inverse].reshape(b, n_cand, n_mid)
        below_s1 = below_s1[:, inverse].reshape(b, n_cand, n_mid)
        total_s2 = np.einsum("ij,ij->i", u, u)
        # Summation by parts over the bins: with v_j = f g_j the grid in u units,
        #   sum_j n_j v_j^2 = N v_last^2 - sum_k below_n[k] (v_{k+1}^2 - v_k^2)
        #   sum_j S1_j v_j  = S1 v_last  - sum_k below_s1[k] (v_{k+1} - v_k)
        # and the squared error is S2 - 2 sum_j S1_j v_j + sum_j n_j v_j^2.
        f = factors[None, :]
        g_last = grid[-1]
        cross = f * (total_s1[:, None] * g_last - below_s1 @ np.diff(grid))
        square = f * f * (total_n[:, None] * g_last**2 - below_n @ np.diff(grid**2))
        sse = (total_s2[:, None] - 2.0 * cross + square) * (scale * scale)[:, None]
        p = np.argmin(sse, axis=1)
        pick[start:stop] = p
        best_sse[start:stop] = sse[np.arange(b), p]
    return best_sse, pick


def _below_by_bincount(u: np.ndarray, sorted_t: np.ndarray, side: str) -> tuple:
    """Count and sum of each row's elements below every sorted threshold (short rows).

    Every element is searched among the thresholds: ``interval[e]`` is the number of
    thresholds that do NOT have e below them, so e is below threshold k exactly when
    ``interval[e] <= k``; a bincount per row and a cumulative sum give the prefixes.
    """
    b, n = u.shape
    n_t = len(sorted_t)
    interval = np.searchsorted(sorted_t, u.reshape(-1), side)
    key = ((np.arange(b, dtype=np.int64) * (n_t + 1))[:, None] + interval.reshape(b, n))
    size = b * (n_t + 1)
    cnt = np.bincount(key.reshape(-1), minlength=size).reshape(b, n_t + 1)
    s1 = np.bincount(key.reshape(-1), weights=u.reshape(-1), minlength=size).reshape(b, n_t + 1)
    return (np.cumsum(cnt, axis=1)[:, :n_t], np.cumsum(s1, axis=1)[:, :n_t],
            np.full(b, float(n)), s1.sum(axis=1))


def _below_by_rows(u: np.ndarray, sorted_t: np.ndarray, side: str) -> tuple:
    """The same for rows longer than the threshold list: thresholds searched in each row.

    The (sorted) thresholds go into each sorted row, one binary search call per row; with
    sorted queries NumPy narrows each search from the previous one.
    """
    b, n = u.shape
    v = np.sort(u, axis=1)
    prefix = np.zeros((b, n + 1))
    np.cumsum(v, axis=1, out=prefix[:, 1:])
    # e below threshold t: v < t when ties go up ("left"), v <= t when they stay low.
    row_side = "right" if side == "left" else "left"
    pos = np.empty((b, len(sorted_t)), dtype=np.int64)
    for i in range(b):
        pos[i] = np.searchsorted(v[i], sorted_t, row_side)
    return (pos.astype(np.float64), np.take_along_axis(prefix, pos, axis=1),
            np.full(b, float(n)), prefix[:, -1])
