"""The per-PE cycle model against hand-computed cases (one group of tests per PE kind)."""

import numpy as np
import pytest

from hwsim.errors import HwsimError
from hwsim.sim import pe_cycles as pc


@pytest.mark.parametrize(
    ("fmt", "terms"),
    [
        # FP3/FP4 family and BitMoD's mixtures: at most two 1-bits per magnitude -> 2 terms.
        ("bitmod3", 2), ("bitmod4", 2), ("fp3", 2), ("fp4_e2m1", 2), ("fp3_er_pos", 2),
        ("fp3_ea_neg", 2), ("fp4_er_neg", 2), ("fp4_ea_pos", 2), ("BitMoD4", 2),
        # radix-4 Booth: ceil(B / 2) digits for a signed B-bit integer.
        ("int2", 1), ("int3", 2), ("int4", 2), ("int6", 3), ("int8", 4),
        # unsigned codes need one more bit: ceil((B + 1) / 2).
        ("int4_asym", 3), ("int8_asym", 5), ("int3_asym", 2),
    ],
)
def test_bitmod_terms(fmt, terms):
    assert pc.bitmod_terms_per_weight(fmt) == terms


@pytest.mark.parametrize("fmt", ["nf4", "mxfp4", "fp16", "int9", "flint4"])
def test_bitmod_refuses_other_formats(fmt):
    with pytest.raises(HwsimError, match="bitmod PE cannot run"):
        pc.bitmod_terms_per_weight(fmt)


def test_dequant_is_one_cycle_per_scale_bit():
    assert pc.dequant_cycles(8) == 8
    assert list(pc.dequant_cycles(np.array([4, 6]))) == [4, 6]


def test_group_cycles_steady_state():
    # 128 weights / 4 lanes = 32 steps x 2 terms = 64 cycles, dequant (8) hidden behind it.
    assert pc.bitmod_pe_group_cycles(128, 4, "bitmod3") == 64
    # 8 weights / 4 lanes x 2 terms = 4 cycles < 8 dequant cycles: the dequantizer paces it.
    assert pc.bitmod_pe_group_cycles(8, 4, "bitmod3", scale_bits=8) == 8
    # int8: 4 Booth digits: 32 x 4 = 128.
    assert pc.bitmod_pe_group_cycles(128, 4, "int8") == 128


@pytest.mark.parametrize(
    ("k", "lanes", "fmt", "group", "expected"),
    [
        (128, 4, "bitmod3", 128, 64 + 8),            # one group: A + D
        (1, 4, "bitmod3", 128, 2 + 8),               # one partial step
        (256, 4, "int8", 128, 128 + 128 + 8),        # A0 + max(A1, D) + D
        (300, 4, "fp4_er_pos", 128, 64 + 64 + 22 + 8),  # last group 44 -> 11 steps x 2
        (24, 4, "bitmod3", 8, 4 + 8 + 8 + 8),        # dequant-bound: A=4 < D=8
        (4096, 4, "bitmod4", 128, 32 * 64 + 8),      # 32 groups of 64 cycles + last dequant
    ],
)
def test_bitmod_pe_cycles(k, lanes, fmt, group, expected):
    assert pc.bitmod_pe_cycles(k, lanes, fmt, group) == expected


@pytest.mark.parametrize(
    ("k", "fmt", "pes", "expected"),
    [
        # fp4, groups of 128 on 4 lanes: A = 32 steps x 2 terms = 64 per group, D = P x 8.
        (4096, "bitmod4", 1, 32 * 64 + 8),
        (4096, "bitmod4", 8, 32 * 64 + 64),           # P x 8 = 64 <= A: only the drain grows
        (4096, "bitmod4", 16, 64 + 31 * 128 + 128),   # P x 8 = 128 > A: 64 stall cycles a group
        # int8: A = 32 x 4 Booth digits = 128: 16 PEs (128 cycles) still fit.
        (4096, "int8", 16, 32 * 128 + 128),
        (4096, "int8", 32, 128 + 31 * 256 + 256),
        (300, "fp4_er_pos", 4, 64 + 64 + 32 + 32),    # last group 11 steps x 2 = 22 < 32
    ],
)
def test_bitmod_pe_cycles_with_a_shared_dequantizer(k, fmt, pes, expected):
    assert pc.bitmod_pe_cycles(k, 4, fmt, 128, 8, pes) == expected
    assert pc.dequant_cycles(8, pes) == 8 * pes
    # Per group in steady state: the slower of accumulation (32 steps x 2 terms for the fp4
    # family, x 4 Booth digits for int8) and the shared dequantizer.
    accumulation = 32 * (4 if fmt == "int8" else 2)
    assert pc.bitmod_pe_group_cycles(128, 4, fmt, 8, pes) == max(accumulation, 8 * pes)


def test_bitmod_pe_cycles_vectorized_and_terms_form_agree():
    k = np.array([1, 128, 129, 300, 4096])
    by_name = pc.bitmod_pe_cycles(k, 4, "int6", 128)
    by_terms = pc.bitmod_pe_terms_cycles(k, 4, 3, 128)
    assert by_name.tolist() == by_terms.tolist()
    # k=129: groups of 128 and 1 weights: 32 x 3 + max(1 x 3, 8) + 8
    assert by_name[2] == 96 + 8 + 8


def test_bitmod_ungrouped_and_width_terms():
    assert pc.bitmod_terms_for_width(16) == 8
    assert pc.bitmod_terms_for_width(5) == 3
    assert pc.bitmod_pe_ungrouped_cycles(10, 4, 8) == 3 * 8


def test_mac_dint_bitserial_bipolar():
    assert pc.mac_pe_cycles(10, 4) == 3                 # ceil(10 / 4)
    assert pc.mac_pe_cycles(10, 4, passes=2) == 6
    assert pc.dint_mac_cycles(17, 1) == 17
    assert pc.bit_serial_pe_cycles(10, 4, 3) == 9       # 3 steps x 3 weight bits
    assert pc.bipolar_pe_cycles(10, 4, 3, 2) == 18      # 3 steps x 3 x 2 plane pairs
    assert pc.lane_steps(np.array([0, 1, 4, 5]), 4).tolist() == [0, 1, 1, 2]


def test_array_tile_adds_io_latency():
    assert pc.array_tile_cycles(72) == 72 + pc.ARRAY_IO_LATENCY


def test_systolic_fold_model():
    # ws on 4 x 4, m streamed: prefix 4 + stream 8 + skew 3 + drain 3 = 18 per fold.
    assert pc.systolic_fold_cycles(8, 8, 8, 4, 4, "ws") == 18
    # os has no stationary-operand prefix: 4 + 4 + 8 - 2.
    assert pc.systolic_fold_cycles(8, 8, 8, 4, 4, "os") == 14
    assert [int(x) for x in pc.systolic_folds(5, 7, 9, 4, 4, "ws")] == [3, 2]  # k/rows, n/cols
    assert [int(x) for x in pc.systolic_folds(5, 7, 9, 4, 4, "is")] == [3, 2]  # k/rows, m/cols
    with pytest.raises(HwsimError, match="allowed: ws, os, is"):
        pc.systolic_fold_cycles(1, 1, 1, 1, 1, "rs")
