"""Code tables: exhaustive over every code of every format up to 8 bits, and pinned facts.

Expected tables are written out from each format's published reference, not from the code.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from hwsim.dtypes import FloatFormat, get_element, get_format, list_formats
from hwsim.errors import HwsimError

SMALL = [n for n in list_formats() if get_format(n).bits <= 8]


@pytest.mark.parametrize("name", SMALL)
def test_every_code_round_trips_to_its_canonical_code(name: str) -> None:
    f = get_format(name)
    codes = f.codes
    values = f.decode(codes)
    finite = np.isfinite(values)
    again = f.encode(values[finite])
    # Decoding the re-encoded code gives the same value...
    np.testing.assert_array_equal(f.decode(again), values[finite] + 0.0)
    # ...and a value held by one code only comes back as exactly that code.
    uniq, counts = np.unique(values[finite] + 0.0, return_counts=True)
    single = np.isin(values[finite] + 0.0, uniq[counts == 1])
    if not f.is_mixture:
        np.testing.assert_array_equal(again[single], codes[finite][single])


@pytest.mark.parametrize("name", SMALL)
def test_values_sorted_unique_and_finite(name: str) -> None:
    v = get_format(name).values
    assert np.all(np.diff(v) > 0)
    assert np.all(np.isfinite(v))


@pytest.mark.parametrize("name", SMALL)
def test_encode_is_nearest_value(name: str) -> None:
    """Every encode lands on a value at minimal distance (brute force over the grid)."""
    f = get_format(name)
    rng = np.random.default_rng(1)
    span = f.max_abs * 1.3
    x = rng.uniform(-span, span, size=2000)
    got = f.decode(f.encode(x))
    dist = np.abs(x[:, None] - f.values[None, :]).min(axis=1)
    np.testing.assert_allclose(np.abs(got - x), dist, rtol=0, atol=1e-12)


EXPECTED_VALUES = {
    "int3": range(-3, 4),
    "int4": range(-7, 8),
    "int8": range(-127, 128),
    "int4_asym": range(16),
    "fp3": [0, 1, 2, 4, -1, -2, -4],
    "fp3_er_pos": [0, 1, 2, 4, -1, -2, -4, 3],
    "fp3_er_neg": [0, 1, 2, 4, -1, -2, -4, -3],
    "fp3_ea_pos": [0, 1, 2, 4, -1, -2, -4, 6],
    "fp3_ea_neg": [0, 1, 2, 4, -1, -2, -4, -6],
    "fp4_er_pos": [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.5, -1, -1.5, -2, -3, -4, -6, 5],
    "fp4_ea_neg": [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.5, -1, -1.5, -2, -3, -4, -6, -8],
    "fp4_e2m1": [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.5, -1, -1.5, -2, -3, -4, -6],
    "flint4": [0, 1, 2, 3, 4, 6, 8, 16, -1, -2, -3, -4, -6, -8, -16],
    "pot4": [0, 1, 2, 4, 8, 16, 32, 64, -1, -2, -4, -8, -16, -32, -64],
    "dint4": [*range(-7, 8), 0.5],
    "bipolar2": [-3, -1, 1, 3],
    "bipolar3": [-7, -5, -3, -1, 1, 3, 5, 7],
    "ternary": [-1, 0, 1],
    "binary": [-1, 1],
}


@pytest.mark.parametrize(("name", "expected"), EXPECTED_VALUES.items())
def test_value_sets(name: str, expected) -> None:
    np.testing.assert_array_equal(get_format(name).values, np.unique(np.asarray(expected, float)))


def test_bitmod_special_value_takes_the_negative_zero_code() -> None:
    assert get_format("fp4_ea_pos").decode(0b1000) == 8
    assert get_format("fp4_er_neg").decode(0b1000) == -5
    assert get_format("fp3_ea_neg").decode(0b100) == -6
    assert get_format("fp3_er_pos").decode(0b100) == 3
    # E2M1 magnitude codes, formats.md: 000..111 -> 0, 0.5, 1, 1.5, 2, 3, 4, 6.
    np.testing.assert_array_equal(get_format("fp4_ea_pos").decode(np.arange(8)),
                                  [0, 0.5, 1, 1.5, 2, 3, 4, 6])
    np.testing.assert_array_equal(get_format("fp4_ea_pos").decode(np.arange(9, 16)),
                                  [-0.5, -1, -1.5, -2, -3, -4, -6])


def test_bipolar_is_twos_complement_with_msb_inverted() -> None:
    """formats.md: x' = 2x + 1, its bit pattern = two's complement of x with the MSB inverted."""
    f = get_format("bipolar4")
    for x in range(-8, 8):
        code = (x & 0xF) ^ 0b1000
        assert f.decode(code) == 2 * x + 1


def test_int_symmetric_leaves_most_negative_code_unused() -> None:
    f = get_format("int4")
    assert 0b1000 not in f.codes
    with pytest.raises(HwsimError, match="not a code of this format"):
        f.decode(0b1000)
    assert f.decode(0b1111) == -1


# bitsandbytes' NF4 constants (functional.py, get_4bit_type("nf4")), as formats.md lists them.
NF4_REFERENCE = [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0,
]


def test_nf4_table_matches_formats_reference() -> None:
    # Exactly, in float64: bitsandbytes holds the table in float32 and these literals are
    # those float32 values; a literal cut short (0.44070982933044) rounds to the same float32
    # but dequantizes float64 weights to another value.
    nf4 = get_format("nf4").values
    np.testing.assert_array_equal(nf4, NF4_REFERENCE)
    np.testing.assert_array_equal(nf4.astype(np.float32).astype(np.float64), nf4)


def test_mxint8_element_and_e8m0() -> None:
    elem = get_element("mxint8_elem")
    assert elem.values.min() == -2.0 and elem.values.max() == 127 / 64
    e8m0 = get_element("e8m0")
    assert e8m0.decode(127) == 1.0 and e8m0.decode(0) == 2.0**-127
    assert np.isnan(e8m0.decode(255))


def test_olive_identifier_decodes_to_zero_and_outlier_grid() -> None:
    normal = get_element("olive_int4")
    assert normal.decode(0b1000) == 0.0
    assert normal.encode(0.0) == 0  # the identifier is never the canonical zero
    np.testing.assert_array_equal(get_element("olive_abfloat4").values[7:],
                                  [12, 16, 24, 32, 48, 64, 96])


def test_fp8_e4m3_limits() -> None:
    """ml_dtypes-style limit: 0b0_1111_110 = (1 + 6/8) * 2**(15 - 7) = 448, S.1111.111 is NaN."""
    f = get_format("fp8_e4m3")
    assert f.decode(0b0_1111_110) == 448.0
    assert np.isnan(f.decode(0b0_1111_111))
    assert f.decode(1) == 2.0**-9  # smallest subnormal
    e5m2 = get_format("fp8_e5m2")
    assert np.isposinf(e5m2.decode(0b0_11111_00))
    assert e5m2.max_abs == 57344.0


def test_nan_and_inf_encoding() -> None:
    # NaN encodes to the lowest quiet NaN (mantissa top bit set), as ml_dtypes does:
    # E4M3 S.1111.111 -> 0x7F; E5M2 S.11111.{01,10,11} -> 0x7E, not the signalling 0x7D.
    assert int(get_element("fp8_e4m3").encode(np.nan)) == 0b0_1111_111
    assert int(get_element("fp8_e5m2").encode(np.nan)) == 0b0_11111_10
    for name, dtype in (("fp8_e4m3", ml_dtypes.float8_e4m3fn),
                        ("fp8_e5m2", ml_dtypes.float8_e5m2)):
        ours = int(get_element(name).encode(np.nan))
        assert ours == int(np.array(np.nan, dtype=dtype).view(np.uint8)), name
    assert int(get_element("fp8_e5m2").encode(np.inf)) == 0b0_11111_00
    e5m2 = get_format("fp8_e5m2")
    assert np.isnan(e5m2.decode(e5m2.encode(np.nan)))
    assert np.isneginf(e5m2.decode(e5m2.encode(-np.inf)))
    with pytest.raises(HwsimError, match=r"cannot represent nan \(first at index \(1,\)\)"):
        get_format("fp4_e2m1").encode(np.array([1.0, np.nan]))


def test_mixture_codes_carry_the_type_index() -> None:
    f = get_format("bitmod4")
    code = f.encode(8.0)  # only EA_POS (type 2) holds +8
    assert code >> 4 == 2 and code & 0xF == 0b1000
    assert f.decode(code) == 8.0
    assert f.decode(f.encode(-5.0)) == -5.0
    assert len(f.codes) == 64


def test_float_reference_formats() -> None:
    fp16 = get_format("half")
    assert isinstance(fp16, FloatFormat) and fp16.name == "fp16"
    assert fp16.decode(fp16.encode(1 / 3)) == np.float64(np.float16(1 / 3))
    bf16 = get_format("bf16")
    assert bf16.decode(0x3F80) == 1.0
    assert len(fp16.values) == 2 * (31 * 1024) - 1  # finite values, +-0 folded
    with pytest.raises(HwsimError, match="not enumerated"):
        _ = get_format("fp32").values
