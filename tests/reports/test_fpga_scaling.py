"""Cycles per lane-MAC of the FPGA study's PEs, from their kinds' cycle models."""

from __future__ import annotations

import pytest

from hwsim.errors import HwsimError
from hwsim.hw.fpga.scaling import SCALING_KINDS
from hwsim.hw.rtl.registry import resolve_params
from hwsim.reports.fpga_scaling import cycles_per_lane_mac


def _study_params(kind: str) -> dict:
    study = SCALING_KINDS[kind]
    return resolve_params(study.block, dict(study.params))


@pytest.mark.parametrize(("kind", "fmt", "cycles"), [
    # BitMoD: fp3/fp4 weights are 2 terms each; a group of 128 over 4 lanes accumulates in
    # 32 x 2 = 64 cycles, longer than the 8-cycle dequantization it overlaps: 64 x 4 / 128.
    ("bitmod", "bitmod4", 2.0),
    ("bitmod", "bitmod3", 2.0),
    # INT8 by radix-4 Booth: 4 digits per weight -> 32 x 4 = 128 cycles per group: 4.
    ("bitmod", "int8", 4.0),
    ("int8_mac", "int8", 1.0),
    # The FP16 x INT8 MAC multiplies a whole weight per lane and cycle, INT4 as INT8.
    ("fp16_int_mac", "int4", 1.0),
    ("dint_mac", "dint4", 1.0),
    # Bipolar: every (activation plane, weight plane) pair is a cycle: 8 x 4.
    ("bipolar", "bipolar4", 32.0),
])
def test_cycles_per_lane_mac(kind, fmt, cycles):
    assert cycles_per_lane_mac(kind, fmt, _study_params(kind)) == cycles


def test_a_mac_narrower_than_the_weight_takes_two_passes():
    # An INT x INT MAC with 4-bit weight inputs runs INT8 weights in two 4-bit slices.
    params = {**_study_params("int8_mac"), "weight_bits": 4}
    assert cycles_per_lane_mac("int8_mac", "int8", params) == 2.0


def test_every_study_format_has_a_cycle_count():
    for kind, study in SCALING_KINDS.items():
        for fmt in study.weight_formats:
            assert cycles_per_lane_mac(kind, fmt, _study_params(kind)) >= 1


def test_unknown_study_and_unrunnable_format_are_errors():
    with pytest.raises(HwsimError, match="unknown PE kind 'nope'; allowed: bitmod, int8_mac"):
        cycles_per_lane_mac("nope", "int8", {})
    with pytest.raises(HwsimError, match="the dint PE cannot run bipolar4"):
        cycles_per_lane_mac("dint_mac", "bipolar4", _study_params("dint_mac"))


def test_a_format_outside_the_builds_set_is_an_error():
    # A BitMoD build of one family runs its formats only: the group-cycle count (which knows
    # every format) must not give int8 cycles to the fp4 build.
    params = {**_study_params("bitmod"), "weights": "fp4"}
    assert cycles_per_lane_mac("bitmod", "bitmod4", params) == 2.0
    with pytest.raises(HwsimError, match=r"the bitmod PE cannot run int8: its build runs "
                                         r"fp4_e2m1, .*bitmod4 \(pe.weight_formats\)"):
        cycles_per_lane_mac("bitmod", "int8", params)
