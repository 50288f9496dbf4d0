"""Nearest-value search on a finite grid with an explicit tie rule.

Every element format with a code table rounds through here, so the tie rules of the
different references live in one place. Comparisons are done against the exact midpoints
between neighbouring grid values; a value exactly on a midpoint is a tie.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["TIE_RULES", "TieRule", "count_below_per_row", "nearest_index"]

TieRule = Literal["even", "lower", "upper", "away"]

#: What each tie rule means, for error messages and docs.
TIE_RULES: dict[str, str] = {
    "even": "round half to even (IEEE/ml_dtypes; torch.round for integers)",
    "lower": "a tie goes to the lower grid value (BitMoD quantizer, bitsandbytes NF4)",
    "upper": "a tie goes to the larger grid value (ANT / OliVe kernels)",
    "away": "a tie goes to the grid value of larger magnitude (half away from zero)",
}


def nearest_index(
    x: np.ndarray,
    grid: np.ndarray,
    midpoints: np.ndarray,
    tie: TieRule,
    even: np.ndarray | None = None,
) -> np.ndarray:
    """Index into `grid` of the value nearest to each element of `x`.

    Args:
        x: values to round (any float dtype; not NaN).
        grid: sorted, unique grid values (float64).
        midpoints: ``(grid[1:] + grid[:-1]) / 2`` in a dtype that compares exactly with `x`.
        tie: what a value exactly on a midpoint rounds to.
        even: for ``tie == "even"``, a bool per grid value saying it is the "even" choice
            (an even integer, or a minifloat code with a zero mantissa LSB).

    Values beyond the ends of the grid round to the end values (saturation).
    """
    # Index of the lower neighbour: the number of midpoints strictly below x, so a tie
    # lands on the lower neighbour. "upper" counts midpoints <= x instead.
    if np.ndim(x) == 0:  # searchsorted gives a scalar, which the ties' update cannot take
        return nearest_index(np.reshape(x, 1), grid, midpoints, tie, even).reshape(())
    idx = _count_below(x, midpoints, strict=tie != "upper")
    if tie in ("lower", "upper") or len(midpoints) == 0:
        return idx
    padded = np.append(midpoints, np.inf).astype(midpoints.dtype)
    at_tie = x == padded[idx]
    if not at_tie.any():
        return idx
    lower = idx[at_tie].astype(np.intp)
    if tie == "away":
        take_upper = np.abs(grid[lower + 1]) > np.abs(grid[lower])
    elif tie == "even":
        if even is None:
            raise ValueError("tie rule 'even' needs the grid's evenness")
        take_upper = ~even[lower]
    else:  # pragma: no cover - the Literal type lists every rule
        raise ValueError(f"unknown tie rule {tie!r}; allowed: {sorted(TIE_RULES)}")
    idx[at_tie] = lower + take_upper
    return idx


# Up to this many midpoints, counting comparisons over cache-sized chunks beats a binary
# search (searchsorted is ~10x slower on 4-bit grids: random access per element).
_LINEAR_MAX_MIDPOINTS = 40
_CHUNK = 1 << 16


def _count_below(x: np.ndarray, midpoints: np.ndarray, strict: bool) -> np.ndarray:
    """Per element: how many midpoints are < x (strict) or <= x."""
    if len(midpoints) > _LINEAR_MAX_MIDPOINTS:
        return np.searchsorted(midpoints, x, side="left" if strict else "right")
    flat = x.reshape(-1)
    out = np.empty(flat.shape, dtype=np.uint8)
    tmp = np.empty(min(_CHUNK, flat.size), dtype=bool)
    compare = np.greater if strict else np.greater_equal
    for start in range(0, flat.size, _CHUNK):
        chunk = flat[start:start + _CHUNK]
        acc = out[start:start + _CHUNK]
        acc[:] = 0
        t = tmp[:chunk.size]
        for m in midpoints:
            compare(chunk, m, out=t)
            acc += t
    return out.reshape(x.shape)


def count_below_per_row(y: np.ndarray, midpoints: np.ndarray, strict: bool = True,
                        ) -> np.ndarray:
    """Per element of row r of `y` (N, g): how many of ``midpoints[r]`` (N, M) are below it.

    The grouped form of the nearest search: each row (a quantization group) has its own
    sorted midpoints, e.g. the grid of the type a mixture chose for that group. Ties go to
    the lower neighbour (`strict`) or the upper one.
    """
    n_rows, g = y.shape
    out = np.empty(y.shape, dtype=np.uint8)
    compare = np.greater if strict else np.greater_equal
    rows_per_chunk = max(1, _CHUNK // max(g, 1))
    for start in range(0, n_rows, rows_per_chunk):
        stop = min(start + rows_per_chunk, n_rows)
        chunk, acc = y[start:stop], out[start:stop]
        acc[:] = 0
        tmp = np.empty(chunk.shape, dtype=bool)
        for j in range(midpoints.shape[1]):
            compare(chunk, midpoints[start:stop, j:j + 1], out=tmp)
            acc += tmp
    return out
