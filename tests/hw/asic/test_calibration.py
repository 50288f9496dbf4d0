"""The node calibration's fit, errors and leave-one-out, on stand-in costs."""

from __future__ import annotations

import math

import pytest

from hwsim.errors import HwsimError
from hwsim.hw.asic import calibration as cal_mod
from hwsim.hw.asic.calibration import PUBLISHED, calibrate, check_node
from hwsim.hw.asic.cost import Activity, BlockCost
from hwsim.hw.asic.energy import Switching


def _cost(block: str, area: float, energy: float, sub: dict | None = None) -> BlockCost:
    """A stand-in cost whose sub-blocks share ``energy`` as they share ``area``; the total
    area is the sum of the sub-blocks (``area`` is that of the published scope)."""
    sub = sub or {"all": area}
    sw = Switching(energy * sum(sub.values()) / area, 0.0,
                   {k: energy * v / area for k, v in sub.items()}, 0.1)
    fmts = ("bitmod3", "bitmod4") if block == "bitmod_pe" else ("x",)
    acts = tuple(Activity(f, sw, 10, 10, "test") for f in fmts)
    return BlockCost(block, {}, "", {}, sum(sub.values()), area / 3.75, 0, sub, acts)


def test_check_node():
    assert check_node("28nm") == "28nm"
    with pytest.raises(HwsimError, match="calibrated nodes: 28nm"):
        check_node("7nm")


def test_fit_is_the_geometric_mean_and_loo_uses_the_others(monkeypatch):
    # The PE estimated 2x too large relative to the MAC in area, exact ratio in energy.
    # Only the PE's published scope counts: its control is left out of the comparison.
    scope = {"exponent match": 3069.0, "bit-serial multiply": 1000.0, "group accumulate": 1000.0,
             "dequantize": 1000.0, "operand registers": 2 * 17937.0 - 6069.0}
    costs = {
        "bitmod_pe": _cost("bitmod_pe", 2 * 17937.0, 0.586 * 100, scope | {"control": 500.0}),
        "fp16_int_mac": _cost("fp16_int_mac", 1318.6 * 10, 0.613 * 100),
        "int_mac": _cost("int_mac", 6.0, 5.0),
        "dint_mac": _cost("dint_mac", 3.0, 2.0),
    }
    monkeypatch.setattr(cal_mod, "block_cost", lambda name, params, cache: costs[name])
    cal = calibrate("28nm")
    assert cal.area_per_lib_um2 == pytest.approx(1 / (10 * math.sqrt(2)))
    assert cal.pj_per_unit == pytest.approx(0.01)
    rows = {r.name: r for r in cal.rows}
    pe, mac = rows["BitMoD PE"], rows["FP16 x INT8 MAC"]
    assert pe.area_error == pytest.approx(math.sqrt(2) - 1)
    assert mac.area_error == pytest.approx(1 / math.sqrt(2) - 1)
    # Leave one out: the PE predicted with the MAC's constant alone (2x), and vice versa.
    assert pe.area_loo_error == pytest.approx(1.0)
    assert mac.area_loo_error == pytest.approx(-0.5)
    assert pe.power_error == pytest.approx(0) and pe.power_loo_error == pytest.approx(0)
    em = rows["BitMoD exponent match"]
    assert em.area_um2 == pytest.approx(3069.0 * cal.area_per_lib_um2)
    assert rows["FP16 MAC (mul + add)"].area_um2 is None  # no counterpart: stated, not guessed
    assert cal.ratios == (("INT8 MAC / dINT MAC", 1.93, 2.0, 2.56, 2.5),)


def test_every_published_block_is_listed_with_its_counterpart_or_a_note():
    for blocks in PUBLISHED.values():
        assert sum(p.fit for p in blocks) >= 2  # leave-one-out needs two
        for p in blocks:
            assert p.block is not None or p.note
