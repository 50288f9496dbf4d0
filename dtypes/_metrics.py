"""Error metrics of a quantized tensor against its original.

Differences are taken in the working precision of the quantizer (float32, or float64 for
float64 input); their squares are summed in float64 (NumPy's pairwise summation).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["error_metrics", "sqnr_db"]


def sqnr_db(signal_energy: float, noise_energy: float) -> float:
    """10 log10(signal / noise); +inf for an exact result."""
    if noise_energy == 0.0:
        return math.inf
    if signal_energy == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal_energy / noise_energy)


def error_metrics(x: np.ndarray, approx: np.ndarray) -> tuple[float, float, float]:
    """(MSE, SQNR in dB, max absolute error) of `approx` against `x` (same shape)."""
    if x.size == 0:
        return 0.0, math.inf, 0.0
    work = np.float64 if x.dtype == np.float64 else np.float32
    xs = x.astype(work, copy=False)
    err = approx.astype(work, copy=False) - xs
    np.abs(err, out=err)
    max_err = float(err.max())
    # Squares are taken in float64 (einsum casts in buffered chunks, no float64 copy).
    noise = float(np.einsum("i,i->", err.reshape(-1), err.reshape(-1), dtype=np.float64))
    del err
    flat = xs.reshape(-1)
    signal = float(np.einsum("i,i->", flat, flat, dtype=np.float64))
    return noise / x.size, sqnr_db(signal, noise), max_err
