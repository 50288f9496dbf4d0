"""Transaction-level NumPy golden models of the RTL blocks, bit-exact to their arithmetic.

Each model takes whole transactions as arrays (a leading axis ``n`` = outputs) and returns
exactly the integers the hardware's output ports carry: the same alignment truncation, the same
fixed-point LSBs, the same widths (results are Python ints in object arrays where they may
exceed 64 bits). Vectorized over outputs, beats, lanes and terms: no Python loop per element
(the FP16-accumulating MACs loop over their products only: rounding after every add makes
them sequential).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.dtypes import get_format
from hwsim.hw.rtl.bitmod import BITMOD_MAN_BITS, BitModConfig
from hwsim.hw.rtl.fp16_arith import FP16_QNAN
from hwsim.hw.rtl.terms import fp16_fields, weight_terms

__all__ = [
    "BitModResult",
    "bipolar_model",
    "bitmod_accumulate_step",
    "bitmod_model",
    "dequant_model",
    "dint_mac_model",
    "fp16_dual_mac_model",
    "fp16_int_fp16_acc_model",
    "fp16_int_mac_model",
    "fp16_mac_model",
    "int_mac_model",
]


@dataclass(frozen=True)
class BitModResult:
    """What a `BitModArray` produces for ``n`` outputs.

    Attributes:
        out: ``(n, rows, cols)`` object array of ints, LSB = 2**config.lsb_exp.
        nonfinite: ``(n, rows, cols)`` bool, an Inf/NaN activation reached the PE.
        psum: ``(n, groups, rows, cols)`` int64 group partial sums before dequantization.
        emax: ``(n, beats, rows, cols, terms)`` alignment exponent of every cycle.
        partial: ``(n, beats, rows, cols, terms)`` aligned lane sum of every cycle (the group
            accumulator's operand, at ``emax``).
    """

    out: np.ndarray
    nonfinite: np.ndarray
    psum: np.ndarray
    emax: np.ndarray
    partial: np.ndarray


def _group_index(config: BitModConfig) -> np.ndarray:
    """Quantization group of every beat of an output."""
    return np.minimum(np.arange(config.beats) // config.beats_full, config.groups - 1)


def bitmod_model(
    config: BitModConfig,
    w: np.ndarray,
    a: np.ndarray,
    scale: np.ndarray,
    scale_neg: np.ndarray,
    wtype: np.ndarray | int = 0,
    mode: np.ndarray | int = 0,
) -> BitModResult:
    """Golden model of `BitModArray` / `BitModPE` for ``n`` outputs.

    Args:
        config: the hardware's parameters.
        w: ``(n, beats, rows, lanes)`` weight codes (a family reads its ``bits`` LSBs).
        a: ``(n, beats, cols, lanes)`` FP16 bit patterns (uint16).
        scale: ``(n, beats, rows)`` unsigned group scales (a group uses its last beat's).
        scale_neg: ``(n, beats, rows)`` scale signs (same rule).
        wtype: ``(n, beats, rows)`` special-value selectors (fp families), or one int.
        mode: ``(n,)`` index into ``config.families`` per output, or one int; codes beyond
            the families decode as mode 0 (as the RTL does).
    """
    c = config
    w = np.asarray(w, np.int64)
    n = w.shape[0]
    wt = wtype
    if np.ndim(wtype):  # one selector per row and beat, shared by the row's lanes
        wt = np.broadcast_to(np.asarray(wtype, np.int64)[..., None], w.shape)
    tneg, texp, tnz = _mode_terms(c, w, wt, mode)  # (n, beats, rows, lanes, T)
    asign, aexp, amant, anf = fp16_fields(a)  # (n, beats, cols, lanes)

    # Broadcast to (n, beats, rows, cols, lanes, T).
    tneg, texp, tnz = (x[:, :, :, None] for x in (tneg, texp, tnz))
    asign, aexp, amant = (x[:, :, None, :, :, None] for x in (asign, aexp, amant))
    pe = aexp + texp
    valid = tnz & (amant != 0)
    emax = np.where(valid, pe, 0).max(axis=4)  # (n, beats, rows, cols, T)
    shift = np.minimum(emax[:, :, :, :, None] - pe, 63)
    mag = (amant << c.align_bits) >> np.where(valid, shift, 0)
    lane = np.where(valid, np.where(tneg ^ asign, -mag, mag), 0)
    partial = lane.sum(axis=4)
    # Groups wider than int64 (large groups, many lanes, 8 guard bits) use Python integers,
    # so the model stays exact wherever the RTL's accumulator is.
    gidx = _group_index(c)
    last_beat = np.array([np.flatnonzero(gidx == g)[-1] for g in range(c.groups)])
    if c.accumulator == "bitmod":
        man, exp = _bitmod_accumulate(c, partial, emax, _mode_term_counts(c, mode), last_beat)
        psum = man.astype(object) << exp.astype(object)
    else:
        man, exp = _exact_accumulate(c, partial, emax, gidx), 0
        psum = man
    g_scale = np.asarray(scale, np.int64)[:, last_beat].astype(object)  # (n, G, rows)
    g_neg = np.asarray(scale_neg, bool)[:, last_beat]
    # Sign-magnitude dequantization: |psum| * scale, negated when the signs differ (the
    # bitmod accumulator: of the mantissa, then placed at its exponent).
    mag_p = np.abs(man).astype(object)
    neg = np.asarray(man < 0, bool) ^ g_neg[..., None]
    deq = np.where(neg, -1, 1).astype(object) * mag_p * g_scale[..., None]
    out = (deq << np.asarray(exp, dtype=object)).sum(axis=1)
    nonfinite = np.broadcast_to(anf.any(axis=(1, 3))[:, None, :], (n, c.rows, c.cols))
    return BitModResult(out, nonfinite.copy(), psum, emax, partial)


def _exact_accumulate(c: BitModConfig, partial, emax, gidx) -> np.ndarray:
    """Group sums in fixed point: sum of ``partial << emax`` over the group's cycles."""
    n = partial.shape[0]
    wide = c.acc_width > 62
    # Groups wider than int64 (large groups, many lanes, 8 guard bits) use Python integers,
    # so the model stays exact wherever the RTL's accumulator is.
    if wide:
        contrib = (partial.astype(object) << emax.astype(object)).sum(axis=-1)
    else:
        contrib = (partial << emax).sum(axis=-1)  # (n, beats, rows, cols)
    psum = np.zeros((n, c.groups, c.rows, c.cols), object if wide else np.int64)
    np.add.at(psum, (slice(None), gidx), contrib)
    return psum


def _bitlen(x: np.ndarray) -> np.ndarray:
    """Bit length of non-negative int64 values below 2**53 (exact through frexp)."""
    return np.frexp(x.astype(np.float64))[1].astype(np.int64)


def bitmod_accumulate_step(man, exp, partial, emax, man_bits: int = BITMOD_MAN_BITS):
    """One cycle of BitMoD's reduced-precision group accumulator, elementwise.

    The state ``man * 2**exp`` and the cycle's ``partial * 2**emax`` are both aligned to the
    larger exponent X by arithmetic right shifts (floor), added, and the sum is normalized: if
    its magnitude needs more than ``man_bits - 1`` bits it is shifted right (floor) by the
    excess ``inc`` and the exponent becomes ``X + inc``. (The artifact shifts only the stored
    mantissa; the cycle's sum is shifted too here, else a later product would be added at the
    accumulator's exponent instead of its own.)
    """
    x = np.maximum(exp, emax)
    total = (partial >> np.minimum(x - emax, 62)) + (man >> np.minimum(x - exp, 62))
    inc = np.maximum(_bitlen(np.abs(total)) - (man_bits - 1), 0)
    return total >> inc, x + inc


def _bitmod_accumulate(c: BitModConfig, partial, emax, terms, last_beat):
    """(mantissa, exponent) of every group, ``(n, G, rows, cols)``, cycle by cycle."""
    n, beats = partial.shape[:2]
    shape = (n, c.rows, c.cols)
    man, exp = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    g_man = np.zeros((n, c.groups, c.rows, c.cols), np.int64)
    g_exp = np.zeros_like(g_man)
    active = np.arange(c.terms)[None, :] < terms[:, None]  # (n, T): cycles the mode runs
    for b in range(beats):
        for t in range(c.terms):
            nm, ne = bitmod_accumulate_step(man, exp, partial[:, b, ..., t], emax[:, b, ..., t])
            on = active[:, t, None, None]
            man, exp = np.where(on, nm, man), np.where(on, ne, exp)
        if b in last_beat:
            g = int(np.flatnonzero(last_beat == b)[0])
            g_man[:, g], g_exp[:, g] = man, exp
            man, exp = np.zeros_like(man), np.zeros_like(exp)
    return g_man, g_exp


def _mode_term_counts(c: BitModConfig, mode) -> np.ndarray:
    """Terms per weight of each output's mode, ``(n,)`` (n = 1 broadcasts)."""
    mode = np.atleast_1d(np.asarray(mode, np.int64))
    counts = np.array([f.terms for f in c.families])
    return counts[np.where(mode < c.modes, mode, 0)]


def _mode_terms(c: BitModConfig, w: np.ndarray, wt, mode):
    """Terms of every code in its output's mode, padded with zero terms to ``c.terms``."""
    mode = np.broadcast_to(np.asarray(mode, np.int64), (w.shape[0],))
    mode = np.where(mode < c.modes, mode, 0)[:, None, None, None, None]
    shape = (*w.shape, c.terms)
    neg, exp, nz = np.zeros(shape, bool), np.zeros(shape, np.int64), np.zeros(shape, bool)
    for i, fam in enumerate(c.families):
        fneg, fexp, fnz = weight_terms(fam, w & ((1 << fam.bits) - 1), wt)
        pick = mode == i
        tt = fam.terms
        neg[..., :tt] = np.where(pick, fneg, neg[..., :tt])
        exp[..., :tt] = np.where(pick, fexp, exp[..., :tt])
        nz[..., :tt] = np.where(pick, fnz, nz[..., :tt])
    return neg, exp, nz


def dequant_model(psum: np.ndarray, scale: np.ndarray, scale_neg: np.ndarray) -> np.ndarray:
    """Golden model of `BitSerialDequant`: sign-magnitude product, object ints."""
    psum = np.asarray(psum, dtype=object)
    neg = (np.asarray(psum) < 0) ^ np.asarray(scale_neg, bool)
    return np.where(neg, -1, 1).astype(object) * np.abs(psum) * np.asarray(scale, dtype=object)


def dint_mac_model(a: np.ndarray, w: np.ndarray, special_half_lsb: int = 1) -> np.ndarray:
    """Golden model of `DIntMAC`: sum of INT8 x dINT4 over axes (beats, lanes), half-LSB units.

    Args:
        a: ``(n, beats, lanes)`` signed INT8 activations.
        w: ``(n, beats, lanes)`` 4-bit dINT codes (two's complement; 0b1000 is the special).
        special_half_lsb: the special code's value in half LSBs (1 = +0.5).
    """
    w = np.asarray(w, np.int64)
    half = np.where(w == 8, special_half_lsb, 2 * np.where(w >= 8, w - 16, w))
    return (np.asarray(a, np.int64) * half).sum(axis=(1, 2))


def fp16_int_mac_model(
    a: np.ndarray, w: np.ndarray, align_bits: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Golden model of `FP16IntMAC`: exponent-aligned sum of FP16 x INT over (beats, lanes).

    Args:
        a: ``(n, beats, lanes)`` FP16 bit patterns (uint16).
        w: ``(n, beats, lanes)`` signed integer weights.
        align_bits: guard bits kept at alignment.

    Returns:
        ``(out, nonfinite)``: ``(n,)`` object array of ints, LSB = 2**-(25 + align_bits), and
        ``(n,)`` bool (an Inf/NaN activation reached the output).
    """
    asign, aexp, amant, anf = fp16_fields(a)
    w = np.asarray(w, np.int64)
    prod = amant * np.abs(w)
    valid = prod != 0
    emax = np.where(valid, aexp, 0).max(axis=2, keepdims=True)  # (n, beats, 1)
    mag = (prod << align_bits) >> np.where(valid, emax - aexp, 0)
    lane = np.where(valid, np.where(asign ^ (w < 0), -mag, mag), 0)
    # One cycle's partial sum fits int64; shifted by emax (up to 30) it may not: Python ints.
    contrib = lane.sum(axis=2).astype(object) << emax[..., 0].astype(object)
    return contrib.sum(axis=1), anf.any(axis=(1, 2))


def _fp16_accumulate(a16: np.ndarray, w: np.ndarray, on: np.ndarray | None = None
                     ) -> np.ndarray:
    """FP16 bits of ``acc = fp16(acc + a * w)`` per row over its products in order from +0,
    each exact product added with one rounding; where ``on`` is False the product is skipped
    (the accumulator holds).

    In float64 the product (an FP16 significand times a weight of at most 8 significant bits)
    and the sum (FP16 values and such products span fewer than 53 bits) are exact, so NumPy's
    one float64 -> float16 rounding (to nearest even) is the hardware's.
    """
    acc = np.zeros(a16.shape[0], np.float16)
    with np.errstate(over="ignore", invalid="ignore"):
        for j in range(a16.shape[1]):
            new = (acc.astype(np.float64) + a16[:, j].astype(np.float64) * w[:, j]
                   ).astype(np.float16)
            acc = new if on is None else np.where(on[:, j], new, acc)
    bits = acc.view(np.uint16).copy()
    bits[np.isnan(acc)] = FP16_QNAN
    return bits


def fp16_int_fp16_acc_model(a: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Golden model of `FP16IntMAC` with ``accumulator="fp16"``: per output,
    ``acc = fp16(acc + a * w)`` over its products in order from +0, each exact product added
    with one rounding (`_fp16_accumulate`).

    Args:
        a: ``(n, products)`` FP16 bit patterns; w: ``(n, products)`` signed integer weights.

    Returns:
        ``(out, nonfinite)``: ``(n,)`` FP16 bit patterns (every NaN 0x7E00) and ``(n,)`` bool
        (an Inf/NaN activation reached the output).
    """
    a16 = np.asarray(a, np.uint16).view(np.float16)
    out = _fp16_accumulate(a16, np.asarray(w, np.float64))
    return out, ~np.isfinite(a16).all(axis=1)


def fp16_dual_mac_model(a: np.ndarray, w: np.ndarray, mode: np.ndarray | int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Golden model of `FP16DualMAC`: FP16 activations times 8-bit weight codes, each product
    added exactly into an FP16 accumulator with one rounding (`_fp16_accumulate`).

    Mode 0: the code is a two's-complement INT8 weight, its products summed into ``out``.
    Mode 1: the code is two FP4 E2M1 weights (values from `hwsim.dtypes`' ``fp4_e2m1``), the
    low nibble's products summed into ``out`` and the high nibble's into ``out_hi``; a mode-0
    product leaves ``out_hi`` as it is (+0 for an output of INT8 products only).

    Args:
        a: ``(n, products)`` FP16 bit patterns; w: ``(n, products)`` codes 0..255.
        mode: one int, ``(n,)`` per output or ``(n, products)`` per product.

    Returns:
        ``(out, out_hi, nonfinite)``: ``(n,)`` FP16 bit patterns (every NaN 0x7E00) twice and
        ``(n,)`` bool (an Inf/NaN activation reached the output).
    """
    a16 = np.asarray(a, np.uint16).view(np.float16)
    codes = np.asarray(w, np.int64) & 0xFF
    mode = np.asarray(mode, bool)
    fp4 = np.broadcast_to(mode[:, None] if mode.ndim == 1 else mode, codes.shape)
    e2m1 = get_format("fp4_e2m1").types[0].code_values
    int8 = np.where(codes >= 128, codes - 256, codes).astype(np.float64)
    out = _fp16_accumulate(a16, np.where(fp4, e2m1[codes & 0xF], int8))
    out_hi = _fp16_accumulate(a16, e2m1[codes >> 4], on=fp4)
    return out, out_hi, ~np.isfinite(a16).all(axis=1)


def fp16_mac_model(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Golden model of `FP16MAC`: per output, ``acc = fp16(acc + fp16(a * w))`` over its
    products in order, from +0.

    NumPy's float16 arithmetic is correctly rounded (computed in float32, whose 24 bits are
    enough for one rounding to binary16 to be exact: 24 >= 2 * 11 + 2), so it is IEEE's.

    Args:
        a, w: ``(n, products)`` FP16 bit patterns.

    Returns:
        ``(n,)`` FP16 bit patterns (uint16); every NaN is 0x7E00.
    """
    a = np.asarray(a, np.uint16).view(np.float16)
    w = np.asarray(w, np.uint16).view(np.float16)
    acc = np.zeros(a.shape[0], np.float16)
    with np.errstate(over="ignore", invalid="ignore"):
        for j in range(a.shape[1]):
            acc = (acc + a[:, j] * w[:, j]).astype(np.float16)
    bits = acc.view(np.uint16).copy()
    bits[np.isnan(acc)] = FP16_QNAN
    return bits


def int_mac_model(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Golden model of `IntMAC`: sum of signed a x signed w over axes (beats, lanes)."""
    return (np.asarray(a, np.int64) * np.asarray(w, np.int64)).sum(axis=(1, 2))


def bipolar_model(a: np.ndarray, u: np.ndarray, weight_bits: int, act_bits: int) -> np.ndarray:
    """Golden model of `BipolarPE` by bit planes, as the hardware computes it.

    Args:
        a: ``(n, beats, lanes)`` signed activations (two's complement, ``act_bits``).
        u: ``(n, beats, lanes)`` unsigned bipolar codes, value ``2u - (2**weight_bits - 1)``.

    Returns:
        ``(n,)`` int64 dot products. For each activation plane i (two's complement: plane
        ``act_bits - 1`` weighs ``-2**i``) and weight plane j the hardware adds
        ``±2**(i + j) * (2 * popcount(a_i & u_j) - popcount(a_i))``.
    """
    a = np.asarray(a, np.int64) & ((1 << act_bits) - 1)
    u = np.asarray(u, np.int64)
    i = np.arange(act_bits)[:, None]
    j = np.arange(weight_bits)[None, :]
    a_pl = (a[..., None, None] >> i) & 1  # (n, beats, lanes, I, 1)
    u_pl = (u[..., None, None] >> j) & 1  # (n, beats, lanes, 1, J)
    both = (a_pl & u_pl).sum(axis=2)  # (n, beats, I, J)
    ones = a_pl.sum(axis=2)  # (n, beats, I, 1)
    sign = np.where(i == act_bits - 1, -1, 1)
    terms = sign * (2 * both - ones) << (i + j)
    return terms.sum(axis=(1, 2, 3))
