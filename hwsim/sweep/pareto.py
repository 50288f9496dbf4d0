"""Pareto fronts and constraint checks, vectorized over all points."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hwsim.sweep.spec import Constraint, Goal

__all__ = ["pareto_mask", "violation"]

# Rows compared at once: a (chunk, n, k) boolean block stays small for tens of thousands of points.
_CHUNK = 256


def pareto_mask(values: np.ndarray, goals: Sequence[Goal]) -> np.ndarray:
    """Which rows are Pareto-optimal (not dominated by any other row).

    Row ``j`` dominates row ``i`` when it is at least as good in every objective and strictly
    better in one. Equal rows do not dominate each other, so duplicates on the front all stay.

    Args:
        values: (n_points, n_objectives) array of objective values.
        goals: ``"min"`` or ``"max"`` per column.

    Returns:
        Boolean array of length n_points.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(goals):
        raise ValueError(f"values of shape {values.shape} do not match {len(goals)} goals")
    sign = np.array([1.0 if g == "min" else -1.0 for g in goals])
    cost = values * sign  # everything minimized from here on
    n = cost.shape[0]
    mask = np.ones(n, dtype=bool)
    for start in range(0, n, _CHUNK):
        block = cost[start:start + _CHUNK, None, :]          # (c, 1, k)
        no_worse = np.all(cost[None, :, :] <= block, axis=2)  # (c, n): j no worse than i
        better = np.any(cost[None, :, :] < block, axis=2)     # (c, n): j better somewhere
        mask[start:start + _CHUNK] = ~np.any(no_worse & better, axis=1)
    return mask


def violation(constraint: Constraint, value: np.ndarray | float) -> np.ndarray:
    """How far `value` lies outside the constraint's bounds (0 where it is satisfied).

    Works on scalars and arrays; NaN (a missing value) counts as a violation of infinite size.
    """
    value = np.asarray(value, dtype=np.float64)
    out = np.zeros_like(value)
    if constraint.min is not None:
        out = np.maximum(out, constraint.min - value)
    if constraint.max is not None:
        out = np.maximum(out, value - constraint.max)
    return np.where(np.isnan(value), np.inf, out)
