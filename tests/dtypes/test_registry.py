"""Names: canonical, aliases, generic names, and the errors for bad ones."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hwsim.dtypes import bits_per_weight, get_format, list_formats, quantize
from hwsim.errors import HwsimError

ISSUE_NAMES = [
    "fp32", "fp16", "bf16", "int2", "int3", "int4", "int5", "int6", "int7", "int8", "int2_asym",
    "int8_asym", "fp4_e2m1", "fp6_e2m3", "fp6_e3m2", "fp8_e4m3", "fp8_e5m2", "fp3",
    "fp3_er_pos", "fp3_er_neg", "fp3_ea_pos", "fp3_ea_neg", "fp4_er_pos", "fp4_er_neg",
    "fp4_ea_pos", "fp4_ea_neg", "bitmod3", "bitmod4", "flint4", "pot4", "ant4", "olive4",
    "dint4", "bipolar2", "bipolar8", "mxfp4", "mxfp6_e2m3", "mxfp6_e3m2", "mxfp8_e4m3",
    "mxfp8_e5m2", "mxint8", "nvfp4", "nf4", "ternary", "binary",
]


@pytest.mark.parametrize("name", ISSUE_NAMES)
def test_every_issue_name_is_registered(name: str) -> None:
    assert get_format(name).name == name
    assert name in list_formats()


def test_case_insensitive_and_aliases() -> None:
    assert get_format("BitMoD4").name == "bitmod4"
    assert get_format("E4M3").name == "fp8_e4m3"
    assert get_format(" fp8-e5m2 ").name == "fp8_e5m2"


def test_generic_names() -> None:
    f = get_format("fp5_e2m2")
    assert f.bits == 5 and f.values.max() == 7.0  # (1 + 3/4) * 2**(3 - 1)
    assert get_format("int12").bits == 12
    assert get_format("int3_asym").values.max() == 7
    assert get_format("bipolar1").values.tolist() == [-1.0, 1.0]
    # dINT's special value is a documented parameter (the paper does not pin it).
    assert get_format("dint4_s0p25").decode(0b1000) == 0.25
    assert get_format("dint4_sm0p5").decode(0b1000) == -0.5
    assert get_format("dint4").decode(0b1000) == 0.5


@pytest.mark.parametrize(("name", "message"), [
    ("fp5x", r"unknown format 'fp5x'; did you mean"),
    ("fp6_e2m2", r"6 bits cannot hold 1 sign \+ 2 exponent \+ 2 mantissa bits \(need 5\)"),
    ("int0", "integer bits must be 2..16"),
    ("int1", "integer bits must be 2..16"),
    ("bipolar9", "bipolar bits must be 1..8"),
    # Its scale, absmax / 2**127, is an FP32 subnormal: float32 input ended in an IndexError.
    ("fp10_e8m1", r"exponent bits must be 1..7 \(an 8-bit exponent puts the group scale"),
    ("dint4_s1p5", "must be a sub-LSB magnitude"),
    ("qqqqqq", "see `hwsim dtypes list`"),
])
def test_bad_names(name: str, message: str) -> None:
    with pytest.raises(HwsimError, match=message):
        get_format(name)


def test_unknown_name_lists_close_names() -> None:
    with pytest.raises(HwsimError) as err:
        get_format("bitmod5")
    assert "bitmod4" in str(err.value) and "bitmod3" in str(err.value)


@pytest.mark.parametrize(("name", "group", "expected"), [
    ("int4", 128, 4 + 16 / 128),            # FP16 scale per group
    ("int4_asym", 128, 4 + (16 + 4) / 128),  # plus a 4-bit zero point
    ("bitmod3", 128, 3 + (8 + 2) / 128),     # INT8 scale and 2-bit type selector
    ("mxfp4", None, 4 + 8 / 32),             # E8M0 per 32
    ("nvfp4", None, 4 + 8 / 16),             # E4M3 per 16
    ("nf4", None, 4 + 32 / 64),              # FP32 absmax per 64
    ("fp16", None, 16),
    ("ternary", None, 2),
])
def test_bits_per_weight_formula(name: str, group, expected: float) -> None:
    assert bits_per_weight(name, group) == pytest.approx(expected)


def test_bits_per_weight_needs_a_group_for_row_scaled_formats() -> None:
    with pytest.raises(HwsimError, match="pass group_size or in_features"):
        bits_per_weight("ant4")
    assert bits_per_weight("ant4", in_features=4096) == pytest.approx(4 + 16 / 4096)
    with pytest.raises(HwsimError, match="group_size must be a positive integer, not 0"):
        bits_per_weight("int4", 0)


# Formats whose stored bits are all per group (per-tensor scales and selectors, which
# `bits_per_weight` leaves out, would make the tensor's figure differ: nvfp4, ant4).
_GROUPED = ("int4", "int4_asym", "int8", "int8_asym", "nf4", "fp4_e2m1", "bitmod4", "bitmod3",
            "mxfp4", "dint4", "bipolar4", "int3")


@pytest.mark.parametrize("name", _GROUPED)
@pytest.mark.parametrize(("k", "group"), [(4544, 128), (200, 64), (130, 64), (256, 128)])
def test_bits_per_weight_of_a_row_counts_its_padded_last_group(name: str, k: int,
                                                                group: int) -> None:
    # With a group size not dividing the row, the simulator charged one group's fields per g
    # weights (int4 at 128 on rows of 4544: 4.125 bits, quantize stores 4.1268).
    w = np.random.default_rng(k).standard_normal((4, k)).astype(np.float32)
    g = None if get_format(name).scheme == "mx" else group
    stored = quantize(w, name, g).bits_per_weight
    assert bits_per_weight(name, g, in_features=k) == pytest.approx(stored, rel=1e-12)


def test_wide_integers_keep_their_scales_normal():
    """INT14's FP16 scale absmax / 8191 is an FP16 subnormal for any group below 0.5: with
    std-0.02 weights int14 scored below int12 and int16 below int10. Wide formats (beyond
    1024 levels, as E5M2) store FP32 scales, and each extra bit buys its 6 dB."""
    assert [get_format(f"int{b}").scale_format for b in (8, 11, 12, 16)] == [
        "fp16", "fp16", "fp32", "fp32"]
    assert get_format("int11_asym").scale_format == "fp32"  # 2047 levels
    w = (np.random.default_rng(0).standard_normal((64, 1024)) * 0.02).astype(np.float32)
    sqnr = [quantize(w, f"int{b}").sqnr_db for b in range(8, 17)]
    assert all(5.5 < b - a < 6.5 for a, b in itertools.pairwise(sqnr))
