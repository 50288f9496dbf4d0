"""Error metrics of a quantized tensor against its original.

Differences are taken in the working precision of the quantizer (float32, or float64 for
float64 input); their squares are summed in float64 (NumPy's pairwise summation).
"""

from __future__ import annotations

import math

import numpy as np

from hwsim.errors import HwsimError

__all__ = ["error_metrics", "sqnr_db"]


def sqnr_db(signal_energy: float, noise_energy: float) -> float:
    """10 log10(signal / noise); +inf for an exact result."""
    if noise_energy == 0.0:
        return math.inf
    if signal_energy == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal_energy / noise_energy)


def error_metrics(x: np.ndarray, approx: np.ndarray) -> tuple[float, float, float]:
    """(MSE, SQNR in dB, max absolute error) of `approx` against `x` (same shape).

    Raises:
        HwsimError: shapes that differ (broadcasting one against the other summed the noise
            over the broadcast shape and divided it by ``x.size``).
    """
    x, approx = np.asarray(x), np.asarray(approx)
    if x.shape != approx.shape:
        raise HwsimError(f"error_metrics: x has shape {x.shape} and approx {approx.shape}; "
                         "give two tensors of one shape")
    if x.size == 0:
        return 0.0, math.inf, 0.0
    work = np.float64 if x.dtype == np.float64 else np.float32
    xs = x.astype(work, copy=False)
    err = approx.astype(work, copy=False) - xs
    np.abs(err, out=err)
    max_err = float(err.max())
    # Squares are taken in float64 (einsum casts in buffered chunks, no float64 copy). A
    # float64 tensor far from 1 is first scaled by a power of two (exact) that brings its
    # largest value near 1: squares of 1e-170 underflowed to 0, and a tensor whose every
    # value was lost read as exact (SQNR inf). Narrower inputs' squares always fit.
    top = max(float(np.abs(xs).max()), max_err)
    shift = 0
    if 0 < top < np.inf and not 2.0**-400 < top < 2.0**400:
        shift = -int(np.frexp(top)[1])
        np.ldexp(err, shift, out=err)
    flat_err = err.reshape(-1)
    noise = float(np.einsum("i,i->", flat_err, flat_err, dtype=np.float64))
    del err, flat_err
    flat = np.ldexp(xs.reshape(-1), shift) if shift else xs.reshape(-1)
    signal = float(np.einsum("i,i->", flat, flat, dtype=np.float64))
    with np.errstate(over="ignore"):  # an MSE beyond float64 (errors of 1e160) is inf
        mse = float(np.ldexp(noise, -2 * shift)) / x.size
    return mse, sqnr_db(signal, noise), max_err
