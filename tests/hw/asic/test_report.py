"""`hwsim area`'s report fields, built from a stand-in cost and calibration (no synthesis):
every number follows from the stand-ins by hand."""

from __future__ import annotations

import pytest

from hwsim.hw.asic.calibration import Calibration
from hwsim.hw.asic.cost import Activity, BlockCost
from hwsim.hw.asic.energy import Switching
from hwsim.hw.asic.report import area_report

# 0.5 node um^2 per library um^2, 0.01 pJ per switched um^2.
CAL = Calibration("28nm", 0.5, 0.01, (), ())


def _cost(activity: tuple[Activity, ...] = ()) -> BlockCost:
    # 1000 library um^2 (266.7 NAND2 equivalents): multiply 600, add 400. At the default
    # activity the whole block switches 200 um^2 per cycle, its sub-blocks alone 150 + 90
    # (analysed alone, their inputs at the default: not a split of the whole).
    return BlockCost("int_mac", {}, "", {}, 1000.0, 266.7, 0,
                     {"multiply": 600.0, "add": 400.0}, activity,
                     default_block=200.0, default_alone={"multiply": 150.0, "add": 90.0})


def test_sub_block_areas_are_calibrated_and_sum_to_the_blocks():
    rep = area_report(_cost(), CAL)
    # 1000 x 0.5 = 500 um^2; multiply 600 x 0.5 = 300, add 400 x 0.5 = 200.
    assert rep["area_um2"] == 500.0
    assert {k: v["area_um2"] for k, v in rep["subblocks"].items()} == {"multiply": 300.0,
                                                                       "add": 200.0}
    assert sum(v["area_um2"] for v in rep["subblocks"].values()) == rep["area_um2"]
    # NAND2 equivalents in proportion: 600 / 1000 x 266.7 = 160.02 -> 160.0.
    assert rep["subblocks"]["multiply"]["nand2_equivalents"] == 160.0


def test_default_activity_is_the_whole_block_not_the_sum_of_sub_blocks_alone():
    # 200 um^2 x 0.01 pJ = 2 pJ per cycle (the sub-blocks alone would say 240 -> 2.4).
    assert area_report(_cost(), CAL)["default_activity_pj_per_cycle"] == pytest.approx(2.0)


def test_energy_per_cycle_per_weight_and_of_the_clock():
    # 300 um^2 of data and 100 of clock switched per cycle; 80 weights in 20 cycles (4 per
    # cycle): 400 x 0.01 = 4 pJ per cycle, 400 x 20 / 80 = 100 um^2 -> 1 pJ per weight; the
    # clock's 100 um^2 -> 1 pJ per cycle.
    sw = Switching(data=300.0, clock=100.0, by_subblock={"multiply": 250.0, "add": 150.0},
                   toggle_rate=0.1)
    act = Activity("int8", sw, cycles=20, weights=80, operand_source="test")
    (e,) = area_report(_cost((act,)), CAL)["energy"]
    assert (e["pj_per_cycle"], e["pj_per_weight"], e["pj_per_cycle_clock"]) == \
        pytest.approx((4.0, 1.0, 1.0))
    assert e["pj_per_cycle_by_subblock"] == pytest.approx({"multiply": 2.5, "add": 1.5})
