"""The golden models against exact float64 / integer math and `hwsim.dtypes` decoding."""

from __future__ import annotations

import numpy as np
import pytest
from rtl_stimuli import bitmod_random, bitmod_worst, random_fp16

from hwsim.dtypes import get_format
from hwsim.hw.rtl.bitmod import BitModConfig
from hwsim.hw.rtl.models import (
    bipolar_model,
    bitmod_model,
    dequant_model,
    dint_mac_model,
    fp16_dual_mac_model,
    fp16_int_mac_model,
    int_mac_model,
)
from hwsim.hw.rtl.terms import WEIGHT_FAMILIES, dtypes_name, weight_terms


def _exact_and_bound(c: BitModConfig, w, a, scale, sneg, wtype):
    """Exact float64 result from dtypes' decoding, and the model's documented error bound.

    Bound: per cycle only lanes shifted right by the alignment lose bits, each less than one
    unit of 2**(emax - 25 - align_bits) <= 2**-align_bits * |a| * 2**t of its own product, so
    |model - exact| <= (lanes - 1) * 2**-align_bits * sum_g |s_g| sum_i |a_i| sum_t 2**t_i.
    """
    fam = c.family
    a_val = a.view(np.float16).astype(np.float64)
    wt = np.broadcast_to(np.asarray(wtype)[..., None], w.shape)
    w_val = np.zeros(w.shape)
    for sel in range(5):  # decode every code with the dtypes format its selector names
        fmt = get_format(dtypes_name(fam, sel))
        w_val = np.where(wt == sel, fmt.decode(w), w_val)
    _, t, nz = weight_terms(fam, w, wt)
    term_mag = np.where(nz, 1 << t, 0).sum(-1) / fam.units_per_value
    gidx = np.minimum(np.arange(c.beats) // c.beats_full, c.groups - 1)
    last = np.array([np.flatnonzero(gidx == g)[-1] for g in range(c.groups)])
    s = np.where(sneg[:, last], -1.0, 1.0) * scale[:, last]  # (n, G, rows)
    prod = np.einsum("nbrl,nbcl->nbrc", w_val, a_val)
    absum = np.einsum("nbrl,nbcl->nbrc", term_mag, np.abs(a_val))
    exact = np.zeros((w.shape[0], c.groups, c.rows, c.cols))
    bound = np.zeros_like(exact)
    np.add.at(exact, (slice(None), gidx), prod)
    np.add.at(bound, (slice(None), gidx), absum)
    exact = (exact * s[..., None]).sum(1)
    bound = (bound * np.abs(s)[..., None]).sum(1) * (c.lanes - 1) * 2.0 ** -c.align_bits
    return exact, bound


def _stimulus(c, seed):
    rng = np.random.default_rng(seed)
    n = 4
    # dtypes decodes only the format's valid codes (int: not -2**(B-1)).
    codes = np.asarray(get_format(dtypes_name(c.family, 0)).codes)
    w = rng.choice(codes, (n, c.beats, c.rows, c.lanes))
    wt = rng.integers(0, 5, (n, c.beats, c.rows))
    a = random_fp16(rng, (n, c.beats, c.cols, c.lanes), spread=4)
    scale = rng.integers(0, 256, (n, c.beats, c.rows))
    sneg = rng.integers(0, 2, (n, c.beats, c.rows))
    return w, a, scale, sneg, wt


@pytest.mark.parametrize("weights", WEIGHT_FAMILIES)
def test_bitmod_model_within_its_error_bound_of_exact_math(weights):
    c = BitModConfig(weights=weights, rows=2, cols=2, group_size=32, k=96)
    w, a, scale, sneg, wt = _stimulus(c, 1)
    ref = bitmod_model(c, w, a, scale, sneg, wt)
    value = ref.out.astype(np.float64) * 2.0 ** c.lsb_exp / c.family.units_per_value
    exact, bound = _exact_and_bound(c, w, a, scale, sneg, wt)
    err = np.abs(value - exact)
    assert np.all(err <= bound * (1 + 1e-12) + 1e-300)
    # The alignment really truncates here (the bound is not vacuous) ...
    assert err.max() > 0
    # ... and it is small: far below the bound's worst case on random data.
    assert err.max() < bound.max()


def test_bitmod_model_is_exact_without_alignment_loss():
    # All activations with one exponent and weights with one term exponent per cycle: no lane
    # is shifted, so the model must equal exact math (guards against a wrong LSB or scale).
    c = BitModConfig(weights="int2", group_size=8, k=16, lanes=4)  # int2 codes: 0, ±1 -> t = 0
    rng = np.random.default_rng(3)
    w = rng.choice([0, 1, 3], (2, c.beats, 1, c.lanes))
    a = (0x3C00 | rng.integers(0, 1024, (2, c.beats, 1, c.lanes))).astype(np.uint16)
    scale = rng.integers(1, 256, (2, c.beats, 1))
    sneg = rng.integers(0, 2, (2, c.beats, 1))
    ref = bitmod_model(c, w, a, scale, sneg)
    exact, _ = _exact_and_bound(c, w, a, scale, sneg, np.zeros((2, c.beats, 1), np.int64))
    np.testing.assert_array_equal(ref.out.astype(np.float64) * 2.0 ** c.lsb_exp, exact)


@pytest.mark.parametrize("weights", WEIGHT_FAMILIES)
def test_accumulator_widths_make_overflow_impossible(weights):
    """Proof by worst case: |every lane contribution| <= mant << (align_bits + pe) (alignment
    only truncates toward zero), pe <= 30 + t, so a group is bounded by group_size * 2047 *
    2**(30 + align_bits) * max term sum, which is what acc_width holds; the outputs add at most
    `groups` such groups times the largest scale. The worst-case stimulus reaches the bound."""
    c = BitModConfig(weights=weights, group_size=128, k=256)
    group_bound = c.beats_full * c.lanes * 2047 * c.family.max_term_sum << (30 + c.align_bits)
    assert group_bound < 1 << (c.acc_width - 1)
    assert c.groups * group_bound * 255 < 1 << (c.out_width - 1)
    case = bitmod_worst(c)
    w = np.array([b["w"] for b in case.beats])  # packed; recompute from the model instead
    assert len(w) == 2 * c.beats
    ref_out = [e["out"] for e in case.expected]
    # Unsigned packed -> signed: the largest output magnitude the model produces.
    half = 1 << (c.out_width - 1)
    peak = max(abs((v ^ half) - half) for v in ref_out)
    assert 0 < peak < half
    if c.family.is_fp:
        # fp weights have single-signed terms: the worst case meets the bound exactly.
        assert peak == c.groups * group_bound * 255


def test_dequant_model_is_the_exact_signed_product():
    rng = np.random.default_rng(5)
    psum = rng.integers(-(1 << 55), 1 << 55, 50)
    scale = rng.integers(0, 256, 50)
    sneg = rng.integers(0, 2, 50)
    got = dequant_model(psum, scale, sneg)
    want = [int(p) * int(s) * (-1 if g else 1) for p, s, g in zip(psum, scale, sneg, strict=True)]
    assert list(got) == want


@pytest.mark.parametrize("special_half_lsb", [1, -1, 3])
def test_dint_mac_model_matches_dtypes_decoding(special_half_lsb):
    rng = np.random.default_rng(6)
    a = rng.integers(-128, 128, (5, 16, 2))
    w = rng.integers(0, 16, (5, 16, 2))
    got = dint_mac_model(a, w, special_half_lsb)
    fmt = get_format("dint4")
    # dtypes' dint4 decodes code 0b1000 to +0.5; other specials are this test's own table.
    values = fmt.decode(np.arange(16)).astype(np.float64)
    if special_half_lsb != 1:
        values[8] = special_half_lsb / 2
    assert values[8] * 2 == special_half_lsb
    np.testing.assert_array_equal(got, (a * values[w]).sum((1, 2)) * 2)


def test_int_mac_model_is_the_integer_dot_product():
    rng = np.random.default_rng(7)
    a = rng.integers(-128, 128, (3, 8, 4))
    w = rng.integers(-128, 128, (3, 8, 4))
    np.testing.assert_array_equal(int_mac_model(a, w), np.einsum("nbl,nbl->n", a, w))


@pytest.mark.parametrize(("lanes", "wbits", "align"), [(4, 8, 3), (8, 4, 0), (2, 2, 8)])
def test_fp16_int_mac_model_within_its_error_bound_of_exact_math(lanes, wbits, align):
    """A lane shifted right by the alignment loses less than one unit of 2**(emax - 25 -
    align_bits), which is at most 2**-align_bits of the |a w| of the lane at emax (that lane is
    never shifted), so |model - exact| <= (lanes - 1) 2**-align_bits max |a w| per cycle <=
    (lanes - 1) 2**-align_bits sum |a| |w|. With one exponent per cycle nothing is shifted
    and the model is exact."""
    rng = np.random.default_rng(lanes + wbits)
    a = random_fp16(rng, (4, 16, lanes), spread=5)
    w = rng.integers(-(1 << (wbits - 1)), 1 << (wbits - 1), (4, 16, lanes))
    out, nf = fp16_int_mac_model(a, w, align)
    value = out.astype(np.float64) * 2.0 ** -(25 + align)
    a64 = a.view(np.float16).astype(np.float64)
    exact = (a64 * w).sum((1, 2))
    bound = (lanes - 1) * 2.0 ** -align * (np.abs(a64) * np.abs(w)).sum((1, 2))
    err = np.abs(value - exact)
    assert not nf.any()
    assert np.all(err <= bound * (1 + 1e-12)) and 0 < err.max() < bound.max()
    # One exponent field for every activation: no alignment shift, exact to the last bit.
    same = (0x3C00 | (a & 0x83FF)).astype(np.uint16)
    out, _ = fp16_int_mac_model(same, w, align)
    exact = (same.view(np.float16).astype(np.float64) * w).sum((1, 2))
    np.testing.assert_array_equal(out.astype(np.float64) * 2.0 ** -(25 + align), exact)


def test_fp16_int_mac_model_flags_inf_and_nan_even_with_zero_weights():
    a = np.full((2, 3, 2), 0x3C00, np.uint16)
    a[0, 1, 1] = 0xFC00  # -Inf times a zero weight: contributes 0, raises the flag
    w = np.ones((2, 3, 2), np.int64)
    w[0, 1, 1] = 0
    out, nf = fp16_int_mac_model(a, w, 3)
    assert list(nf) == [True, False]
    assert list(out) == [5 << 28, 6 << 28]


@pytest.mark.parametrize(("wbits", "abits"), [(2, 4), (4, 8), (3, 5)])
def test_bipolar_model_matches_dtypes_decoding(wbits, abits):
    rng = np.random.default_rng(wbits * 10 + abits)
    a = rng.integers(-(1 << (abits - 1)), 1 << (abits - 1), (4, 6, 8))
    u = rng.integers(0, 1 << wbits, (4, 6, 8))
    values = get_format(f"bipolar{wbits}").decode(np.arange(1 << wbits))
    np.testing.assert_array_equal(values, 2 * np.arange(1 << wbits) - (2**wbits - 1))
    np.testing.assert_array_equal(bipolar_model(a, u, wbits, abits), (a * values[u]).sum((1, 2)))


def test_model_nonfinite_flag_follows_inf_and_nan():
    c = BitModConfig(weights="fp4", group_size=8, k=8, lanes=4)
    case = bitmod_random(c, n=1)
    assert case.expected[0]["nonfinite"] == 0
    w = np.zeros((1, c.beats, 1, 4), np.int64)
    a = np.full((1, c.beats, 1, 4), 0x3C00, np.uint16)
    a[0, 1, 0, 2] = 0x7E00  # NaN with a zero weight still raises the flag
    ref = bitmod_model(c, w, a, np.ones((1, c.beats, 1)), np.zeros((1, c.beats, 1)))
    assert ref.nonfinite[0, 0, 0] and ref.out[0, 0, 0] == 0


def test_bitmod_accumulate_step_by_hand():
    from hwsim.hw.rtl.models import bitmod_accumulate_step

    def step(man, exp, partial, emax):
        got = bitmod_accumulate_step(*(np.array([v]) for v in (man, exp, partial, emax)))
        return int(got[0][0]), int(got[1][0])

    # Empty accumulator: the partial sum is taken at its own exponent, exactly.
    assert step(0, 0, 5, 3) == (5, 3)
    # 2**13 + 2**13 = 2**14 needs 15 magnitude bits: one normalizing shift, still exact.
    assert step(1 << 13, 0, 1 << 13, 0) == (1 << 13, 1)
    # A larger incoming exponent shifts the stored mantissa right (floor): 16383 >> 2 = 4095,
    # plus -1 -> 4094 at exponent 2 (16376; exact 16379: the truncation this design accepts).
    assert step(16383, 0, -1, 2) == (4094, 2)
    # A larger stored exponent shifts the incoming sum right (floor: -3 >> 1 = -2).
    assert step(100, 1, -3, 0) == (98, 1)


@pytest.mark.parametrize(("lanes", "align_bits"), [(1, 0), (4, 3), (16, 8), (2, 1)])
def test_floating_sum_stays_above_its_sign_bit_threshold(lanes, align_bits):
    # The RTL's floating loop has no normalization threshold at its sum's sign bit: the most
    # negative sum, the most negative mantissa (-2**14: a normalized -(2**15 - 1), floored;
    # every other normalized mantissa has bit length <= 14) plus the most negative lane sum
    # (every lane's significand 2047 with its guard bits, negated), stays above
    # -2**(width - 1) for the sum's width (the lane sum's or the mantissa's + 1).
    from hwsim.hw.rtl.bitmod import BITMOD_MAN_BITS
    from hwsim.hw.rtl.models import bitmod_accumulate_step

    c = BitModConfig(lanes=lanes, align_bits=align_bits, accumulator="bitmod")
    width = max(c.partial_width, BITMOD_MAN_BITS) + 1
    lowest = -(1 << BITMOD_MAN_BITS - 1)
    man, _ = bitmod_accumulate_step(np.array([0]), np.array([0]),
                                    np.array([-(1 << BITMOD_MAN_BITS) + 1]), np.array([0]))
    assert man[0] == lowest
    most_negative = lowest - lanes * (2047 << align_bits)
    assert most_negative > -(1 << width - 1)


def test_bitmod_accumulator_stays_close_to_the_exact_one():
    """Same stimulus through both accumulators: every group value of the bitmod one is within
    its truncation bound of the exact one. Each cycle floors at most two operands by at most
    one unit of 2**X, and a normalization by one more unit of 2**(X + inc) <= 2**E', where
    E' is the exponent after the cycle: |error| <= 3 * sum over cycles of 2**E'."""
    from hwsim.hw.rtl.models import _bitmod_accumulate, _exact_accumulate, _mode_term_counts

    c = BitModConfig(weights="fp4", accumulator="bitmod", group_size=32, k=64)
    rng = np.random.default_rng(12)
    n, beats, terms = 5, c.beats, c.terms
    partial = rng.integers(-(1 << 16), 1 << 16, (n, beats, 1, 1, terms))
    emax = rng.integers(10, 30, (n, beats, 1, 1, terms))
    gidx = np.minimum(np.arange(beats) // c.beats_full, c.groups - 1)
    last = np.array([np.flatnonzero(gidx == g)[-1] for g in range(c.groups)])
    man, exp = _bitmod_accumulate(c, partial, emax, _mode_term_counts(c, 0), last)
    exact = _exact_accumulate(c, partial, emax, gidx)
    approx = man.astype(object) << exp.astype(object)
    err = np.abs((approx - exact).astype(np.float64))
    # The bound with every cycle at the group's final exponent (exponents only grow).
    bound = 3 * beats // c.groups * terms * np.exp2(exp.astype(np.float64))
    assert np.all(err <= bound) and err.max() > 0
    assert np.all(np.abs(man) <= 1 << 14)  # fits the 15-bit signed mantissa


def test_fp16_dual_mac_model_by_hand():
    # Code 0x2B: INT8 +43; FP4 pair high 0x2 (+1.0), low 0xB (-1.5). Code 0xD5: INT8 -43;
    # FP4 high 0xD (-3.0), low 0x5 (+3.0). Activations 1.0 (0x3C00) and 0.5 (0x3800).
    a = np.array([[0x3C00, 0x3800], [0x3C00, 0x3800], [0x3C00, 0x3800]], np.uint16)
    w = np.array([[0x2B, 0xD5], [0x2B, 0xD5], [0x2B, 0xD5]])
    mode = np.array([[0, 0], [1, 1], [1, 0]])
    out, out_hi, nf = fp16_dual_mac_model(a, w, mode)
    # 43 - 21.5 = 21.5 = 0x4D60; -1.5 + 1.5 = +0; -1.5 - 21.5 = -23 = 0xCDC0.
    assert out.tolist() == [0x4D60, 0x0000, 0xCDC0]
    # +0 (INT8 only); 1.0 - 1.5 = -0.5 = 0xB800; 1.0 then held by the INT8 beat = 0x3C00.
    assert out_hi.tolist() == [0x0000, 0xB800, 0x3C00]
    assert not nf.any()


def test_fp16_dual_mac_model_rounds_once_per_product_and_follows_ieee_specials():
    # 2048 x 1.0 + 1.0 x 1.5 = 2049.5 rounds to 2050 (0x6801: FP16 spacing 2 there), the high
    # codes are 0 (+0); Inf x (-0) is NaN in the
    # low accumulator, Inf x 6 is +Inf in the high one; half the smallest subnormal times
    # -0.5 rounds to -0.
    a = np.array([[0x6800, 0x3C00], [0x7C00, 0x3C00], [0x0001, 0x0001]], np.uint16)
    w = np.array([[0x02, 0x03], [0x78, 0x11], [0x99, 0x99]])
    out, out_hi, nf = fp16_dual_mac_model(a, w, np.array([1, 1, 1]))
    assert out.tolist() == [0x6801, 0x7E00, 0x8000]
    assert out_hi.tolist() == [0x0000, 0x7C00, 0x8000]
    assert nf.tolist() == [False, True, False]


def test_widths_follow_the_products_an_output_has():
    # One group of 16 weights whatever group_size says: a group above k built 61/69 bits where
    # 53/61 hold the worst case (16 products of the largest magnitude x the largest scale).
    short, long = BitModConfig(k=16, group_size=16), BitModConfig(k=16, group_size=4096)
    assert (long.acc_width, long.out_width) == (short.acc_width, short.out_width) == (53, 61)
    worst = 16 * short.weight_bound * ((1 << short.scale_bits) - 1)
    assert worst.bit_length() + 1 == short.out_width
    # A short last group counts as long as it is: 130 = 128 + 2 products, not 2 x 128.
    ragged = BitModConfig(k=130, group_size=128, lanes=2)
    assert ragged.out_width == (130 * ragged.weight_bound
                                * ((1 << ragged.scale_bits) - 1)).bit_length() + 1
