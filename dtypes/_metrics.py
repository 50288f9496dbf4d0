"""Error metrics of a quantized tensor against its original, accumulated in float64."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["error_metrics", "sqnr_db"]

_CHUNK = 1 << 15  # elements per float64 temporary: cache-sized, and bounds peak memory


def sqnr_db(signal_energy: float, noise_energy: float) -> float:
    """10 log10(signal / noise); +inf for an exact result."""
    if noise_energy == 0.0:
        return math.inf
    if signal_energy == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal_energy / noise_energy)


def error_metrics(x: np.ndarray, approx: np.ndarray) -> tuple[float, float, float]:
    """(MSE, SQNR in dB, max absolute error) of `approx` against `x` (same shape)."""
    flat_x = x.reshape(-1)
    flat_a = approx.reshape(-1)
    n = flat_x.size
    if n == 0:
        return 0.0, math.inf, 0.0
    signal = noise = 0.0
    max_err = 0.0
    for start in range(0, n, _CHUNK):
        xs = flat_x[start:start + _CHUNK].astype(np.float64)
        err = flat_a[start:start + _CHUNK].astype(np.float64) - xs
        signal += float(np.dot(xs, xs))
        noise += float(np.dot(err, err))
        max_err = max(max_err, float(np.abs(err).max()))
    return noise / n, sqnr_db(signal, noise), max_err
