"""Error metrics of a quantized tensor against its original.

Differences are taken in the working precision of the quantizer (float32 for float16,
bfloat16 and float32 input, else float64); their squares are summed in float64 (NumPy's
pairwise summation), scaled by a power of two in float64 where they would overflow or
underflow.
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
            over the broadcast shape and divided it by ``x.size``), a dtype that is not real
            (complex, object) or wider than float64, a NaN or an infinity in either.
    """
    x, approx = np.asarray(x), np.asarray(approx)
    if x.shape != approx.shape:
        raise HwsimError(f"error_metrics: x has shape {x.shape} and approx {approx.shape}; "
                         "give two tensors of one shape")
    for what, a in (("x", x), ("approx", approx)):
        real = a.dtype.kind in "biu" or a.dtype.name == "bfloat16" or (
            a.dtype.kind == "f" and a.dtype.itemsize <= 8)
        if not real:  # complex lost its imaginary part; longdouble was computed in float32
            raise HwsimError(f"error_metrics: {what} has dtype {a.dtype}; give real numbers "
                             "of at most float64")
    x, approx = x.reshape(-1), approx.reshape(-1)  # a 0-d pair is one element
    if x.size == 0:
        return 0.0, math.inf, 0.0
    narrow = x.dtype.name == "bfloat16" or (x.dtype.kind == "f" and x.dtype.itemsize <= 4)
    work = np.float32 if narrow else np.float64
    xs = x.astype(work, copy=False)
    with np.errstate(over="ignore", invalid="ignore"):  # both said by name just below
        err = approx.astype(work, copy=False) - xs
    np.abs(err, out=err)
    max_err = float(err.max())
    shift = 0
    if not math.isfinite(max_err):
        for what, a in (("x", xs), ("approx", approx)):
            bad = ~np.isfinite(a.astype(np.float32, copy=False) if a.dtype.name == "bfloat16"
                               else a)
            if bad.any():
                i = int(np.argmax(bad))
                kind = "NaN" if np.isnan(a[i]) else "an infinity"
                raise HwsimError(f"error_metrics: {what} holds {kind} (flat index {i}); "
                                 "its error is not a number")
        # Finite operands whose difference overflowed the working dtype (3e38 against -3e38
        # in float32): halved first, in float64, exactly, and the figures scaled back.
        shift = -1
        err = np.abs(np.ldexp(approx.astype(np.float64), shift)
                     - np.ldexp(xs.astype(np.float64), shift))
        max_err = float(np.ldexp(err.max(), -shift)) if work is np.float32 else math.inf
    # Squares are taken in float64 (einsum casts in buffered chunks, no float64 copy). A
    # tensor far from 1 is first scaled by a power of two (exact, in float64) that brings its
    # largest value near 1, the error and the signal each by their own: squares of 1e-170
    # underflowed to 0 (a tensor whose every value was lost read as exact, SQNR inf), and a
    # float32 signal of 1 beside errors of 1e300 underflowed to 0 (SQNR -inf for -5993 dB).
    noise, n_shift = _sum_of_squares(err, shift)
    del err
    signal, s_shift = _sum_of_squares(xs, 0)
    with np.errstate(over="ignore"):  # an MSE beyond float64 (errors of 1e160) is inf
        mse = float(np.ldexp(noise, -2 * n_shift)) / x.size
    if noise == 0.0 or signal == 0.0:
        return mse, sqnr_db(signal, noise), max_err
    sqnr = 10.0 * math.log10(signal / noise) + 20.0 * (n_shift - s_shift) * math.log10(2.0)
    return mse, sqnr, max_err


def _sum_of_squares(a: np.ndarray, applied: int) -> tuple[float, int]:
    """The sum of the squares of ``a``, which is a tensor already scaled by ``2**applied``,
    scaled further where the squares would overflow or underflow, and the total shift: the
    tensor's own sum is ``sum * 2**(-2 * shift)``."""
    top = float(np.abs(a).max())
    extra = 0
    if 0 < top < np.inf and not 2.0**-400 < top < 2.0**400:
        extra = -int(np.frexp(top)[1])
    flat = np.ldexp(a.astype(np.float64, copy=False), extra).reshape(-1) if extra \
        else a.reshape(-1)
    return float(np.einsum("i,i->", flat, flat, dtype=np.float64)), applied + extra
