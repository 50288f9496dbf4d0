"""BitMoD PE and array in Amaranth's simulator against the golden model, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hwsim.hw.rtl.bitmod import BitModArray, BitModConfig, BitModPE
from hwsim.hw.rtl.terms import WEIGHT_FAMILIES
from rtl_stimuli import bitmod_cases, bitmod_random
from rtl_stream import run_stream

# Small but complete: 3 groups per output, the last one partial (40 = 16 + 16 + 8).
SMALL = {"lanes": 4, "group_size": 16, "k": 40}


def _check(dut, case, seed=None):
    n = len(case.expected)
    run = run_stream(dut, case.beats, n, case.out_ports, seed=seed)
    assert run.outputs == case.expected, case.name
    return run


@pytest.mark.parametrize("weights", WEIGHT_FAMILIES)
def test_pe_matches_model_every_code(weights):
    c = BitModConfig(weights=weights, **SMALL)
    dut = BitModPE(c)
    for case in bitmod_cases(c):
        _check(dut, case)


@pytest.mark.parametrize("weights", ["fp4", "int4"])
def test_pe_under_random_stalls_and_backpressure(weights):
    c = BitModConfig(weights=weights, **SMALL)
    _check(BitModPE(c), bitmod_random(c, n=4), seed=11)


def test_pe_default_parameters_full_groups():
    # The published configuration: 4 lanes, groups of 128, 8-bit scales; two outputs of k=256.
    c = BitModConfig()
    _check(BitModPE(c), bitmod_random(c, n=2))


@pytest.mark.parametrize(("rows", "cols", "weights"), [(2, 3, "fp3"), (3, 2, "int8")])
def test_array_matches_model(rows, cols, weights):
    c = BitModConfig(rows=rows, cols=cols, weights=weights, lanes=2, group_size=8, k=20)
    dut = BitModArray(c)
    for case in bitmod_cases(c)[:2]:
        _check(dut, case)
    _check(dut, bitmod_random(c, n=3, seed=9), seed=12)


def test_nonfinite_flag_is_sticky_per_output_and_clears():
    c = BitModConfig(weights="fp4", **SMALL)
    case = next(cs for cs in bitmod_cases(c) if cs.name == "fp16_specials")
    flags = [o["nonfinite"] for o in case.expected]
    # The specials case puts Inf/NaN in outputs 0 and 2 (30% of 40 lanes each) but not in 1.
    assert flags == [1, 0, 1]
    _check(BitModPE(c), case)


def test_config_rejects_bad_parameters():
    from hwsim.errors import HwsimError

    with pytest.raises(HwsimError, match=r"parameter lanes must be an integer in \[1, 16\], not 0"):
        BitModConfig(lanes=0)
    with pytest.raises(HwsimError, match="unknown weight family 'fp5'; allowed: fp3, fp4"):
        BitModConfig(weights="fp5")
    with pytest.raises(HwsimError, match="align_bits"):
        BitModConfig(align_bits=True)


def test_accumulator_widths_are_derived_from_the_worst_case():
    # fp4 EA: largest weight 16 hardware units (8 E2M1 = 0b10000: one term 2**4); FP16 max
    # = 2047 * 2**(30 - 25). One product in accumulator LSBs (2**-(25 + 3)): 2047 * 2**33 * 16.
    # A group of 128: * 2**7 -> 2047 * 2**44 < 2**55, so 55 magnitude bits + sign = 56.
    c = BitModConfig()
    assert c.weight_bound == 2047 * 16 << 33
    assert c.acc_width == 56
    # Output: 2 groups * 255 (largest 8-bit scale) * the group bound: 2047 * 2**45 * 255 < 2**64.
    assert c.out_width == 65
    worst = np.int64(2047) * 16 * 128
    assert int(worst) << 33 < 1 << (c.acc_width - 1)
