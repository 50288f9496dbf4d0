"""Constructors of the element formats' code tables.

Facts come from the formats' published references; each function says which. Bit layouts
are given MSB first.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from hwsim.dtypes._element import ElementFormat

__all__ = [
    "NF4_VALUES",
    "binary",
    "bipolar",
    "bitmod_fp3",
    "bitmod_fp4",
    "dint4",
    "e8m0",
    "flint4",
    "int_asym",
    "int_symmetric",
    "int_twos_complement",
    "minifloat",
    "nf4",
    "olive_outlier",
    "pot4",
    "ternary",
]


def _table(bits: int, values: np.ndarray, valid: np.ndarray | None = None) -> tuple:
    values = np.asarray(values, dtype=np.float64)
    if valid is None:
        valid = np.ones(1 << bits, dtype=bool)
    return values, np.asarray(valid, dtype=bool)


def _twos(bits: int) -> np.ndarray:
    """Two's-complement value of every code."""
    codes = np.arange(1 << bits)
    return np.where(codes >= 1 << (bits - 1), codes - (1 << bits), codes)


def _int_layout(bits: int) -> str:
    return " ".join(f"b{i}" for i in range(bits - 1, -1, -1))


def int_symmetric(bits: int) -> ElementFormat:
    """Symmetric signed integer: q in [-(2^(b-1)-1), 2^(b-1)-1], two's-complement codes.

    The most negative code is unused (balanced range, as in BitMoD's INT baseline).
    Ties to even, as torch.round in AWQ/GPTQ.
    """
    values, _ = _table(bits, _twos(bits))
    valid = values > -(1 << (bits - 1))
    return ElementFormat(
        name=f"int{bits}", bits=bits, code_values=values, valid=valid, tie="even",
        layout=_int_layout(bits) + " (two's complement)", family="int",
        description=f"symmetric signed integer ±{(1 << (bits - 1)) - 1}",
        source="BitMoD INT baseline; AWQ/GPTQ symmetric",
    )


def int_twos_complement(bits: int, name: str, source: str) -> ElementFormat:
    """Full-range two's-complement integer -2^(b-1) .. 2^(b-1)-1 (ANT's int4)."""
    values, valid = _table(bits, _twos(bits))
    return ElementFormat(
        name=name, bits=bits, code_values=values, valid=valid, tie="upper",
        layout=_int_layout(bits) + " (two's complement)", family="ant",
        description=f"two's-complement integer {-(1 << (bits - 1))} .. {(1 << (bits - 1)) - 1}",
        source=source,
    )


def int_asym(bits: int) -> ElementFormat:
    """Unsigned codes 0 .. 2^b-1 used with a per-group zero point (AWQ style)."""
    values, valid = _table(bits, np.arange(1 << bits))
    return ElementFormat(
        name=f"int{bits}_asym", bits=bits, code_values=values, valid=valid, tie="even",
        layout=_int_layout(bits) + " (unsigned, zero point per group)", family="int",
        description=f"unsigned 0 .. {(1 << bits) - 1} with zero point",
        source="AWQ asymmetric group quantization",
    )


Specials = Literal["finite", "fn", "ieee"]


def minifloat(exp_bits: int, man_bits: int, specials: Specials, name: str | None = None,
              bias: int | None = None, source: str = "") -> ElementFormat:
    """Sign + exponent + mantissa minifloat with subnormals.

    Args:
        specials: ``"finite"``: every code is a number (OCP FP4/FP6); ``"fn"``: only
            S.1..1.1..1 is NaN, no infinities (OCP/ml_dtypes float8_e4m3fn);
            ``"ieee"``: the top exponent holds Inf and NaN (float8_e5m2, fp16, bf16).
        bias: exponent bias, ``2**(exp_bits-1) - 1`` by default.
    """
    bits = 1 + exp_bits + man_bits
    bias = (1 << (exp_bits - 1)) - 1 if bias is None else bias
    codes = np.arange(1 << bits)
    sign = np.where(codes >> (bits - 1), -1.0, 1.0)
    e = (codes >> man_bits) & ((1 << exp_bits) - 1)
    m = codes & ((1 << man_bits) - 1)
    frac = m / float(1 << man_bits)
    mag = np.where(e == 0, frac * 2.0 ** (1 - bias), (1.0 + frac) * 2.0 ** (e - bias))
    values = sign * mag
    top = (1 << exp_bits) - 1
    if specials == "ieee":
        values = np.where((e == top) & (m == 0), sign * np.inf, values)
        values = np.where((e == top) & (m != 0), np.nan, values)
    elif specials == "fn":
        values = np.where((e == top) & (m == (1 << man_bits) - 1), np.nan, values)
    name = name or f"fp{bits}_e{exp_bits}m{man_bits}"
    layout = "s " + " ".join(f"e{i}" for i in range(exp_bits - 1, -1, -1))
    layout += "".join(f" m{i}" for i in range(man_bits - 1, -1, -1))
    finite = values[np.isfinite(values)]
    what = {"finite": "no Inf/NaN", "fn": "NaN only at S.1..1.1..1, no Inf",
            "ieee": "IEEE Inf/NaN"}[specials]
    return ElementFormat(
        name=name, bits=bits, code_values=values, valid=np.ones(1 << bits, dtype=bool),
        tie="even", layout=layout + f" (bias {bias})", family="fp",
        description=f"E{exp_bits}M{man_bits} minifloat, max {np.max(finite):g}, {what}",
        source=source or "OCP / IEEE-style minifloat (values as ml_dtypes)",
    )


def _bitmod(base: np.ndarray, bits: int, special: float | None, name: str,
            layout: str, description: str) -> ElementFormat:
    """Sign-magnitude BitMoD type; the negative-zero code holds the special value."""
    half = 1 << (bits - 1)
    values = np.concatenate([base, -base]).astype(np.float64)
    if special is not None:
        values[half] = special  # sign=1, magnitude=0 ("-0") is repurposed
    return ElementFormat(
        name=name, bits=bits, code_values=values, valid=np.ones(1 << bits, dtype=bool),
        tie="lower", layout=layout, family="bitmod", description=description,
        source="BitMoD (HPCA 2025) reference quantizer",
    )


_FP3_MAGNITUDES = np.array([0.0, 1.0, 2.0, 4.0])
_E2M1_MAGNITUDES = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])


def bitmod_fp3(special: float | None, name: str) -> ElementFormat:
    """BitMoD FP3: sign + 2 exponent bits (0, ±1, ±2, ±4); code 0b100 -> special value."""
    extra = "" if special is None else f", 0b100 -> {special:+g}"
    return _bitmod(_FP3_MAGNITUDES, 3, special, name, "s e1 e0",
                   f"BitMoD FP3 0, ±1, ±2, ±4{extra}")


def bitmod_fp4(special: float | None, name: str) -> ElementFormat:
    """BitMoD FP4 in E2M1 units; code 0b1000 -> special value (ER ±5, EA ±8)."""
    extra = "" if special is None else f", 0b1000 -> {special:+g}"
    return _bitmod(_E2M1_MAGNITUDES, 4, special, name, "s e1 e0 m0",
                   f"BitMoD FP4 (E2M1 units){extra}")


def flint4() -> ElementFormat:
    """ANT signed flint4: sign + 3-bit magnitude {0, 1, 2, 3, 4, 6, 8, 16}.

    Ties go to the larger grid value, as in ANT's kernels.
    """
    mags = np.array([0, 1, 2, 3, 4, 6, 8, 16], dtype=np.float64)
    return ElementFormat(
        name="flint4", bits=4, code_values=np.concatenate([mags, -mags]),
        valid=np.ones(16, dtype=bool), tie="upper", layout="s f2 f1 f0", family="ant",
        description="ANT float-int: sign + magnitude {0,1,2,3,4,6,8,16}",
        source="ANT (MICRO 2022)",
    )


def pot4() -> ElementFormat:
    """ANT power of two: {0, ±2^0 .. ±2^6}; the negative-zero code is unused."""
    mags = np.array([0, 1, 2, 4, 8, 16, 32, 64], dtype=np.float64)
    valid = np.ones(16, dtype=bool)
    valid[8] = False
    return ElementFormat(
        name="pot4", bits=4, code_values=np.concatenate([mags, -mags]), valid=valid,
        tie="upper", layout="s p2 p1 p0", family="ant",
        description="ANT power of two {0, ±1 .. ±64}", source="ANT (MICRO 2022)",
    )


def dint4(special: float = 0.5) -> ElementFormat:
    """dINT: balanced INT4 -7..7; the freed code 0b1000 decodes to `special` (in LSBs).

    The exact dINT code points are not public. This is the natural reading of the paper
    ("balanced quantization range with a separate special value for small values"):
    the special value is a sub-LSB magnitude, +0.5 LSB by default. It is a parameter.
    """
    values = _twos(4).astype(np.float64)
    values[8] = special
    name = "dint4" if special == 0.5 else f"dint4_s{special:g}".replace(".", "p").replace("-", "m")
    return ElementFormat(
        name=name, bits=4, code_values=values, valid=np.ones(16, dtype=bool), tie="even",
        layout="b3 b2 b1 b0 (two's complement; 0b1000 -> special)", family="dint",
        description=f"dINT4: -7..7 plus denormal {special:+g} (assumed code point)",
        source="dINT (EMNLP 2023), code points assumed (see docstring)",
    )


def bipolar(bits: int) -> ElementFormat:
    """bipolar-INT: value = sum_i (2 x_i - 1) 2^i = 2u - (2^n - 1); odd, symmetric, no zero."""
    u = np.arange(1 << bits)
    return ElementFormat(
        name=f"bipolar{bits}", bits=bits, code_values=(2 * u - ((1 << bits) - 1)).astype(float),
        valid=np.ones(1 << bits, dtype=bool), tie="even",
        layout=_int_layout(bits) + " (each bit ±1)", family="bipolar",
        description=f"bipolar-INT odd values ±1 .. ±{(1 << bits) - 1}, no zero",
        source="bipolar-INT arbitrary-precision LLM kernels (2024)",
    )


#: QLoRA NormalFloat4 table (bitsandbytes), ascending by code.
NF4_VALUES = np.array([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
])


def nf4() -> ElementFormat:
    """QLoRA NF4: 16 quantiles of N(0, 1) normalized to [-1, 1]; ties to the lower value."""
    return ElementFormat(
        name="nf4", bits=4, code_values=NF4_VALUES.copy(), valid=np.ones(16, dtype=bool),
        tie="lower", layout="c3 c2 c1 c0 (table index)", family="nf",
        description="NormalFloat4 table in [-1, 1]", source="QLoRA / bitsandbytes",
    )


def ternary() -> ElementFormat:
    """BitNet b1.58 ternary {-1, 0, +1} in 2-bit two's-complement codes (0b10 unused)."""
    values = _twos(2).astype(np.float64)
    valid = np.array([True, True, False, True])
    return ElementFormat(
        name="ternary", bits=2, code_values=values, valid=valid, tie="even",
        layout="b1 b0 (two's complement)", family="ternary",
        description="BitNet b1.58 {-1, 0, +1}", source="BitNet b1.58",
    )


def binary() -> ElementFormat:
    """Sign binarization: code 0 -> -1, code 1 -> +1 (a zero input rounds to +1)."""
    return ElementFormat(
        name="binary", bits=1, code_values=np.array([-1.0, 1.0]), valid=np.ones(2, dtype=bool),
        tie="upper", layout="s (1 -> +1)", family="ternary",
        description="sign {-1, +1} with a per-row scale", source="BinaryConnect / BiLLM",
    )


def olive_outlier() -> ElementFormat:
    """OliVe abfloat outlier magnitudes {12, 16, 24, 32, 48, 64, 96} with a sign.

    E2M1 with a bias placing its range just above int4's; magnitude code 0 is unused
    (an outlier is never zero). Ties go to the larger grid value (OliVe's kernels).
    """
    mags = np.array([0, 12, 16, 24, 32, 48, 64, 96], dtype=np.float64)
    valid = np.ones(16, dtype=bool)
    valid[[0, 8]] = False
    return ElementFormat(
        name="olive_abfloat4", bits=4, code_values=np.concatenate([mags, -mags]), valid=valid,
        tie="upper", layout="s e1 e0 m0 (abfloat, biased)", family="olive",
        description="OliVe abfloat outliers ±12 .. ±96", source="OliVe (ISCA 2023)",
    )


def e8m0() -> ElementFormat:
    """OCP MX shared scale: 2^(code - 127), code 0xFF is NaN. Rounds to the nearest power of
    two, a tie (3 between 2 and 4) up, as ml_dtypes' float8_e8m0fnu rounds the mantissa
    (MX quantization floors log2 of the block's absmax instead: `hwsim.dtypes.quantize`)."""
    codes = np.arange(256)
    values = np.where(codes == 255, np.nan, 2.0 ** (codes - 127.0))
    return ElementFormat(
        name="e8m0", bits=8, code_values=values, valid=np.ones(256, dtype=bool), tie="upper",
        layout="e7 .. e0 (bias 127)", family="scale", description="power-of-two scale",
        source="OCP Microscaling v1.0",
    )

