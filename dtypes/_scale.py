"""How group scales are stored: the scale's own number format.

A quantizer first computes an ideal scale per group, then rounds it to the storage format;
codes are always computed against the *stored* scale, so ``decode(code) * stored_scale`` is
exactly what the hardware multiplies.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from hwsim.errors import HwsimError

__all__ = ["SCALE_BITS", "ScaleFormat", "store_scales"]

ScaleFormat = Literal["fp32", "fp16", "bf16", "e4m3", "e8m0", "int8"]

#: Storage bits per group of each scale format. ``int8`` is BitMoD's two-level scheme: an
#: unsigned 8-bit integer per group times a per-row FP32 factor (counted per row; FP16
#: would be subnormal for typical LLM rows: absmax ~0.05 / 6 / 255 = 3e-5).
SCALE_BITS: dict[str, int] = {"fp32": 32, "fp16": 16, "bf16": 16, "e4m3": 8, "e8m0": 8,
                              "int8": 8}

#: Bits of the per-row factor of the two-level ``int8`` scheme.
INT8_ROW_FACTOR_BITS = 32


def _round_bf16_from_float64(x: np.ndarray) -> np.ndarray:
    """`_round_bf16` of float64 values in one rounding, as ml_dtypes casts them: through
    float32 first, 1 + 2**-8 + 2**-30 rounded to 1 + 2**-8 (a tie) and then to 1, where the
    nearest bfloat16 is 1 + 2**-7."""
    x = np.array(x, dtype=np.float64, copy=True, order="C")
    bits = x.view(np.uint64)
    finite = np.isfinite(x)
    # Normal bfloat16 range: keep 8 significant bits of the 53 (drop 45, half to even).
    lsb = (bits >> np.uint64(45)) & np.uint64(1)
    rounded = (bits + np.uint64(2**44 - 1) + lsb) & ~np.uint64(2**45 - 1)
    out = np.where(finite, rounded.view(np.float64), x)
    # Subnormal bfloat16 (below 2**-126): multiples of 2**-133, half to even (exact scaling).
    tiny = finite & (np.abs(x) < 2.0**-126)
    out[tiny] = np.ldexp(np.rint(np.ldexp(x[tiny], 133)), -133)
    with np.errstate(over="ignore"):  # past the largest bfloat16 it rounds to inf
        return out.astype(np.float32)


def _round_bf16(x: np.ndarray) -> np.ndarray:
    """Round to bfloat16 (round half to even), returned as float32.

    uint32 arithmetic in place: adding 0x7FFF plus the kept LSB to the bit pattern and
    clearing the low half rounds the mantissa; only NaN payloads could carry out of the top,
    so NaNs are restored afterwards. float64 input is rounded once, from its own bits.
    """
    if np.asarray(x).dtype == np.float64:
        return _round_bf16_from_float64(x)
    x32 = np.array(x, dtype=np.float32, copy=True, order="C")
    bits = x32.view(np.uint32)
    nan = np.isnan(x32)
    lsb = (bits >> 16) & 1
    bits += lsb
    del lsb
    bits += 0x7FFF
    bits &= 0xFFFF0000
    if nan.any():
        x32[nan] = np.nan
    return x32


def store_scales(ideal: np.ndarray, fmt: ScaleFormat, what: str = "scale") -> np.ndarray:
    """Round non-negative ideal scales of shape (rows, groups) to their storage format.

    Returns the stored scales as float64 (0 where a group is all zero). ``int8`` is the
    two-level scheme: per row ``s_row = max_g(s_g) / 255`` (rounded up to FP32), per
    group ``round(s_g / s_row)`` in 0..255.
    """
    ideal = np.asarray(ideal, dtype=np.float64)
    if fmt == "fp32":
        with np.errstate(over="ignore"):
            stored = ideal.astype(np.float32).astype(np.float64)
    elif fmt == "fp16":
        with np.errstate(over="ignore"):
            stored = ideal.astype(np.float16).astype(np.float64)
    elif fmt == "bf16":
        stored = _round_bf16(ideal).astype(np.float64)
    elif fmt == "e4m3":
        # cycle: dtypes._registry -> dtypes._format -> dtypes._scale
        from hwsim.dtypes._registry import get_element

        e4m3 = get_element("fp8_e4m3")
        if np.any(ideal > e4m3.max_abs):
            raise HwsimError(f"{what} above 448 cannot be stored in E4M3; use a tensor scale")
        stored = e4m3.round(ideal)
    elif fmt == "e8m0":
        # Only power-of-two scales are stored; callers compute the exponent themselves.
        mant, _ = np.frexp(ideal)
        if np.any((ideal > 0) & (mant != 0.5)):
            raise HwsimError(f"{what}: E8M0 stores powers of two only")
        stored = ideal
    elif fmt == "int8":
        exact = ideal.max(axis=-1, keepdims=True) / 255.0
        row = exact.astype(np.float32)
        # Round the row factor up, so the largest group scale still fits in 255.
        row = np.where(row.astype(np.float64) < exact, np.nextafter(row, np.float32(np.inf)), row)
        row = row.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(row > 0, np.rint(ideal / row), 0.0)
        # The effective multiplier k * s_row, held in float32 like the arithmetic using it.
        stored = (np.clip(q, 0, 255) * row).astype(np.float32).astype(np.float64)
    else:
        raise HwsimError(f"unknown scale format {fmt!r}; allowed: {sorted(SCALE_BITS)}")
    if not np.all(np.isfinite(stored)):
        # The format is part of the definition (hardware stores its scales so); the Python
        # API can store them wider, the CLI's formats cannot.
        wider = ("" if fmt == "fp32" else
                 "; the Python API's `quantize(..., scale_format='fp32')` keeps them")
        raise HwsimError(f"{what} overflows its storage format {fmt} (the weights are too "
                         f"large for it{wider})")
    return stored
