"""The RTL's number encodings against `hwsim.dtypes` and NumPy's float16, exhaustively."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.dtypes import get_format
from hwsim.hw.rtl.terms import (
    SPECIALS,
    WEIGHT_FAMILIES,
    dtypes_name,
    fp16_fields,
    get_family,
    weight_terms,
)
from hwsim.sim.pe_cycles import bitmod_terms_per_weight


def _term_values(fam, codes, wtype):
    neg, t, nz = weight_terms(fam, codes, wtype)
    return np.where(nz, np.where(neg, -1, 1) * (1 << t), 0).sum(axis=-1)


@pytest.mark.parametrize("family", ["fp3", "fp4"])
@pytest.mark.parametrize("wtype", range(len(SPECIALS)))
def test_fp_terms_sum_to_the_dtypes_value_of_every_code(family, wtype):
    fam = get_family(family)
    fmt = get_format(dtypes_name(fam, wtype))
    codes = np.arange(1 << fam.bits)
    # dtypes decodes in format units; the PE works in hardware units (x2 for fp4: E2M1 x 2).
    expected = fmt.decode(codes) * fam.units_per_value
    np.testing.assert_array_equal(_term_values(fam, codes, wtype), expected)
    # BitMoD's unified representation: at most two terms, as the cycle model assumes.
    assert fam.terms == 2 == bitmod_terms_per_weight(fmt.name)


@pytest.mark.parametrize("bits", range(2, 9))
def test_booth_digits_sum_to_every_int_code(bits):
    fam = get_family(f"int{bits}")
    fmt = get_format(f"int{bits}")
    valid = np.asarray(fmt.codes)
    np.testing.assert_array_equal(_term_values(fam, valid, 0), fmt.decode(valid))
    # The code -2**(B-1) is not in the symmetric format; the hardware still computes it exactly.
    assert _term_values(fam, np.array([1 << (bits - 1)]), 0)[0] == -(1 << (bits - 1))
    assert fam.terms == -(-bits // 2) == bitmod_terms_per_weight(fmt.name)
    _, t, nz = weight_terms(fam, np.arange(1 << bits), 0)
    # Booth digit j is 0, ±4**j or ±2 * 4**j: exponent 2j or 2j + 1.
    j = np.arange(fam.terms)
    assert np.all(~nz | (t == 2 * j) | (t == 2 * j + 1))


def test_reserved_selectors_decode_like_none():
    fam = get_family("fp4")
    codes = np.arange(16)
    for wt in (5, 6, 7):
        np.testing.assert_array_equal(_term_values(fam, codes, wt), _term_values(fam, codes, 0))


def test_fp16_fields_give_the_exact_value_of_every_bit_pattern():
    bits = np.arange(1 << 16, dtype=np.uint16)
    sign, exp_eff, mant, nonfinite = fp16_fields(bits)
    ref = bits.view(np.float16).astype(np.float64)
    np.testing.assert_array_equal(nonfinite, ~np.isfinite(ref))
    value = np.where(sign, -1.0, 1.0) * mant * np.exp2(exp_eff - 25.0)
    finite = ~nonfinite
    np.testing.assert_array_equal(value[finite], ref[finite])  # subnormals and ±0 included
    assert np.all(mant[nonfinite] == 0)


def test_unknown_family_names_the_allowed_ones():
    from hwsim.errors import HwsimError

    with pytest.raises(HwsimError, match="allowed: " + ", ".join(WEIGHT_FAMILIES)):
        get_family("int9")
