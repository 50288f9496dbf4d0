"""The scaling table's figures worked by hand: a BitMoD build whose cycles per MAC are not a
whole number, the rounding of each column, and cycle counts at the build's own group size."""

from __future__ import annotations

from hwsim.hw.fpga.flow import Implementation, ResourceUse
from hwsim.hw.fpga.scaling import ScalingPoint
from hwsim.hw.fpga.wrapper import WrapperCost
from hwsim.reports.fpga_scaling import cycles_per_lane_mac, scaling_table


def _bitmod_point(lanes: int) -> ScalingPoint:
    params = {"lanes": lanes, "weights": "bitmod", "k": 256, "group_size": 128,
              "accumulator": "exact", "pipeline": 7, "rows": 2, "cols": 1}
    impl = Implementation(
        block="pe_array", params=params, device="ecp5-25k", freq_mhz=50.0, dsp=True,
        seeds=(1,), resources=(ResourceUse("logic", "TRELLIS_COMB", 1234, 24288),
                               ResourceUse("dsp", "MULT18X18D", 3, 28)),
        fmax_mhz={"clk": 50.0}, fmax_by_seed_mhz={"clk": (50.0,)}, critical_path=None,
        cells={}, wrapper=WrapperCost(1, 1, 1, 2, 1, 5))
    return ScalingPoint("bitmod", "ecp5-25k", rows=2, cols=1, lanes=lanes, implementation=impl)


def test_a_row_states_the_builds_use_and_its_rates_to_their_precision():
    """6 lanes share a group of 128 as ceil(128 / 6) = 22 weights each; bitmod4 takes 2 terms a
    weight: 44 cycles per group (longer than the 8-cycle dequantization), 44 x 6 / 128 = 2.0625
    cycles per lane-MAC. Peak: 2 PEs x 6 lanes x 50 MHz / 2.0625 = 0.2909 GMAC/s."""
    table = scaling_table([_bitmod_point(6)])
    row = table[table.weight_format == "bitmod4"].iloc[0]
    assert row.cycles_per_mac == 2.0625
    assert row.peak_gmac_s == 0.291
    # 1234 of 24288 LUTs is 5.08%: one decimal.
    assert (row.logic, row.logic_pct) == (1234, 5.1)
    assert (row.dsp_used, row.dsp_available) == (3, 28)


def test_cycles_are_counted_at_the_builds_group_size_and_lanes():
    """16 lanes, groups of 32: 2 weights a lane x 2 terms = 4 cycles, shorter than the 8-cycle
    dequantization, which sets the pace: 8 x 16 / 32 = 4 cycles per lane-MAC (at the study's
    group of 128 it would be 2)."""
    assert cycles_per_lane_mac("bitmod", "bitmod4", {"lanes": 16, "group_size": 32}) == 4.0
    assert cycles_per_lane_mac("bitmod", "bitmod4", {"lanes": 16, "group_size": 128}) == 2.0
