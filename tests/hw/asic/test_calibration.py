"""The node calibration's fit, errors and leave-one-out, on stand-in costs."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from hwsim.errors import HwsimError
from hwsim.hw.asic import calibration as cal_mod
from hwsim.hw.asic.calibration import PUBLISHED, RATIO_SCOPES, calibrate, check_node
from hwsim.hw.asic.cost import Activity, BlockCost
from hwsim.hw.asic.energy import Switching
from hwsim.hw.asic.report import calibration_lines, calibration_markdown

# Stand-ins in two parts: the FP16 MAC (multiplier and adder) and the INT8 / dINT MACs, whose
# ratio is also checked at the multiplier.
_TWO_PARTS = ("fp16_mac", "int_mac", "dint_mac")


def _cost(block: str, area: float, energy: float, sub: dict | None = None, *,
          whole: float = 0.5, alone: float = 0.5) -> BlockCost:
    """A stand-in cost whose sub-blocks share ``energy`` (on real operands) as they share
    ``area``; the total area is the sum of the sub-blocks (``area`` is that of the published
    scope). At the default activity the whole block switches ``whole`` x its real figure and
    each sub-block analysed alone ``alone`` x its own, so the three figures differ."""
    sub = sub or ({"multiply": area / 2, "add": area / 2} if block in _TWO_PARTS
                  else {"all": area})
    sw = Switching(energy * sum(sub.values()) / area, 0.0,
                   {k: energy * v / area for k, v in sub.items()}, 0.1)
    fmts = ("bitmod3", "bitmod4") if block == "bitmod_pe" else ("x",)
    acts = tuple(Activity(f, sw, 10, 10, "test") for f in fmts)
    return BlockCost(block, {}, "", {}, sum(sub.values()), area / 3.75, 0, sub, acts,
                     default_block=whole * sw.total,
                     default_alone={k: alone * v for k, v in sw.by_subblock.items()})


def test_check_node():
    assert check_node("28nm") == "28nm"
    with pytest.raises(HwsimError, match="calibrated nodes: 28nm"):
        check_node("7nm")


def test_fit_is_the_geometric_mean_and_loo_uses_the_others(monkeypatch):
    # The PE estimated 2x too large relative to the MAC in area, exact ratio in energy.
    # Only the PE's published scope counts: its control, input register and operand decode
    # are left out.
    scope = {"exponent match": 2 * 17937.0 - 3000.0, "bit-serial multiply": 1000.0,
             "group accumulate": 1000.0, "dequantize": 1000.0}
    outside = {"control": 500.0, "input registers": 400.0, "operand decode": 700.0}
    costs = {
        "bitmod_pe": _cost("bitmod_pe", 2 * 17937.0, 0.586 * 100, scope | outside),
        "fp16_int_mac": _cost("fp16_int_mac", 1318.6 * 10, 0.613 * 100),
        "fp16_mac": _cost("fp16_mac", 1968.7 * 10, 0.77 * 100),
        # Out of sample, 1.5x too large: fitted, it would move both constants below.
        "fp16_dual_mac": _cost("fp16_dual_mac", 2318.9 * 15, 0.851 * 150),
        "int_mac": _cost("int_mac", 6.0, 5.0),
        "dint_mac": _cost("dint_mac", 3.0, 2.0),
    }
    monkeypatch.setattr(cal_mod, "block_cost", lambda name, params, cache: costs[name])
    cal = calibrate("28nm")
    # Fitted on three: the PE 2x too large in area, both MACs exact (10 um^2 per published).
    assert cal.area_per_lib_um2 == pytest.approx(0.1 / 2 ** (1 / 3))
    assert cal.pj_per_unit == pytest.approx(0.02)  # fitted at the default: half the real
    rows = {r.name: r for r in cal.rows}
    pe, mac = rows["BitMoD PE"], rows["FP16 x INT8 MAC"]
    assert pe.area_error == pytest.approx(2 ** (2 / 3) - 1)
    assert mac.area_error == pytest.approx(2 ** (-1 / 3) - 1)
    # Leave one out: the PE predicted with the MACs' constant alone (2x); a MAC with the
    # geometric mean of the PE's and the other MAC's (1/sqrt(2) of the published).
    assert pe.area_loo_error == pytest.approx(1.0)
    assert mac.area_loo_error == pytest.approx(1 / math.sqrt(2) - 1)
    assert pe.power_error == pytest.approx(0) and pe.power_loo_error == pytest.approx(0)
    assert pe.power_real_mw == pytest.approx(2 * 0.586) and pe.power_real_error == pytest.approx(1)
    em = rows["BitMoD exponent match"]
    assert em.area_um2 == pytest.approx((2 * 17937.0 - 3000.0) * cal.area_per_lib_um2)
    dual = rows["FP16 x (INT8 or 2x FP4) MAC"]  # predicted by the three's constants
    assert not dual.fit and dual.area_loo_error is None and dual.power_loo_error is None
    assert dual.area_error == pytest.approx(1.5 / 2 ** (1 / 3) - 1)
    assert dual.power_error == pytest.approx(0.5)
    # Both halves of each stand-in scale alike: the same ratio whole and at the multiplier.
    assert [(r.name, r.scope, r.published_area, r.area, r.published_power, r.power)
            for r in cal.ratios] == [("INT8 MAC / dINT MAC", label, 1.93, 2.0, 2.56, 2.5)
                                     for label, _ in RATIO_SCOPES]


def test_mac_area_order_compares_only_what_is_estimated(monkeypatch):
    costs = {name: _cost(name, area, 1.0) for name, area in
             (("fp16_int_mac", 3.0), ("fp16_mac", 2.0), ("fp16_dual_mac", 4.0),
              ("int_mac", 1.0), ("dint_mac", 1.0))}
    scope = dict.fromkeys(("exponent match", "bit-serial multiply", "group accumulate",
                           "dequantize"), 1.25)
    costs["bitmod_pe"] = _cost("bitmod_pe", 5.0, 1.0, scope)
    monkeypatch.setattr(cal_mod, "block_cost", lambda name, params, cache: costs[name])
    published, ours, missing = calibrate("28nm").mac_order()
    # The published sheet's order (areas 1318.6 < 1793.7 < 1968.7 < 2318.9 um^2).
    assert published == ("FP16 x INT8 MAC", "BitMoD PE", "FP16 MAC (mul + add)",
                         "FP16 x (INT8 or 2x FP4) MAC")
    assert ours == ("FP16 MAC (mul + add)", "FP16 x INT8 MAC", "FP16 x (INT8 or 2x FP4) MAC",
                    "BitMoD PE")
    assert missing == ()
    assert not calibrate("28nm").mac_order_reproduced()
    costs["fp16_mac"] = _cost("fp16_mac", 6.0, 1.0)
    costs["bitmod_pe"] = _cost("bitmod_pe", 5.0, 1.0, scope | {"control": 9.0})  # not compared
    assert not calibrate("28nm").mac_order_reproduced()  # the dual-mode MAC is not the largest
    costs["fp16_dual_mac"] = _cost("fp16_dual_mac", 7.0, 1.0)
    assert calibrate("28nm").mac_order_reproduced()
    # A published MAC without RTL is left out of the order, not counted against it.
    costs["fp16_dual_mac"] = _cost("fp16_dual_mac", 1.0, 1.0)  # would be out of order
    monkeypatch.setattr(cal_mod, "PUBLISHED", {"28nm": tuple(
        replace(p, block=None) if p.block == "fp16_dual_mac" else p
        for p in PUBLISHED["28nm"])})
    cal = calibrate("28nm")
    assert cal.mac_order()[2] == ("FP16 x (INT8 or 2x FP4) MAC",)
    assert cal.mac_order_reproduced()


def test_every_published_block_is_listed_with_its_counterpart_or_a_note():
    for blocks in PUBLISHED.values():
        assert sum(p.fit for p in blocks) >= 2  # leave-one-out needs two
        for p in blocks:
            assert p.block is not None or p.note


def test_power_is_fitted_at_the_default_and_the_real_operands_shown_beside_it(monkeypatch):
    # Whole block, parts alone and real operands all differ, so a fit on the wrong figure, a
    # MAC analysed in the wrong scope or swapped columns each change a number below.
    scope = dict.fromkeys(("exponent match", "bit-serial multiply", "group accumulate",
                           "dequantize"), 250.0)
    costs = {
        "bitmod_pe": _cost("bitmod_pe", 1000.0, 0.586 * 100, scope | {"control": 50.0},
                           whole=0.9, alone=0.2),
        "fp16_int_mac": _cost("fp16_int_mac", 1000.0, 0.613 * 100, whole=0.5, alone=0.7),
        "fp16_mac": _cost("fp16_mac", 1000.0, 0.77 * 100, whole=0.9, alone=0.4),
        "fp16_dual_mac": _cost("fp16_dual_mac", 1000.0, 0.851 * 100, whole=0.6, alone=0.3),
        "int_mac": _cost("int_mac", 6.0, 5.0, whole=0.5),
        "dint_mac": _cost("dint_mac", 3.0, 2.0, whole=0.25),
    }
    monkeypatch.setattr(cal_mod, "block_cost", lambda name, params, cache: costs[name])
    cal = calibrate("28nm")
    # The artifact synthesized the PE as four modules and the FP16 MAC as two (the sum of the
    # parts alone: 0.2 and 0.4 of real), the FP16 x INT8 MAC as one (the whole block: 0.5).
    # The dual-mode MAC is one module too (0.6), and not fitted.
    default = {"BitMoD PE": 0.2, "FP16 x INT8 MAC": 0.5, "FP16 MAC (mul + add)": 0.4,
               "FP16 x (INT8 or 2x FP4) MAC": 0.6}
    assert cal.pj_per_unit == pytest.approx(0.01 / (0.2 * 0.5 * 0.4) ** (1 / 3))
    rows = {r.name: r for r in cal.rows}
    for name, share in default.items():
        real = rows[name].published_power_mw * 100
        assert rows[name].power_mw == pytest.approx(share * real * cal.pj_per_unit)
        assert rows[name].power_real_mw == pytest.approx(real * cal.pj_per_unit)
    # The unfitted ratio at the default (whole blocks): 2.5 / 0.5 = 5, not the real 2.5.
    assert cal.ratios[0].power == pytest.approx(5.0)


def test_the_dint_ratio_is_checked_whole_and_at_the_multiplier(monkeypatch):
    # Stand-ins whose multipliers take different shares of their blocks, with different
    # default-activity figures whole and alone: each scope's ratio follows from the
    # attribution (area per sub-block, each part's default-activity power analysed alone).
    scope = dict.fromkeys(("exponent match", "bit-serial multiply", "group accumulate",
                           "dequantize"), 250.0)
    costs = {
        "bitmod_pe": _cost("bitmod_pe", 1000.0, 1.0, scope),
        "fp16_int_mac": _cost("fp16_int_mac", 1000.0, 1.0),
        "fp16_mac": _cost("fp16_mac", 1000.0, 1.0),
        "fp16_dual_mac": _cost("fp16_dual_mac", 1000.0, 1.0),
        "int_mac": _cost("int_mac", 600.0, 60.0, {"multiply": 390.0, "accumulate": 120.0,
                                                   "output register": 50.0, "control": 40.0},
                         whole=0.6, alone=0.3),
        "dint_mac": _cost("dint_mac", 360.0, 30.0, {"multiply": 160.0, "accumulate": 110.0,
                                                     "output register": 45.0, "control": 45.0},
                          whole=0.5, alone=0.4),
    }
    monkeypatch.setattr(cal_mod, "block_cost", lambda name, params, cache: costs[name])
    cal = calibrate("28nm")
    num, den = costs["int_mac"], costs["dint_mac"]
    whole, multiplier = cal.ratios
    # The whole block is the headline, the multiplier the second view.
    assert [whole.scope, multiplier.scope] == [label for label, _ in RATIO_SCOPES]
    assert RATIO_SCOPES[0][1] is None and "second view" in multiplier.scope
    assert whole.area == pytest.approx(num.area_um2 / den.area_um2)
    assert whole.power == pytest.approx(num.default_block / den.default_block)
    assert multiplier.area == pytest.approx(num.subblock_area_um2["multiply"]
                                            / den.subblock_area_um2["multiply"])
    assert multiplier.power == pytest.approx(num.default_alone["multiply"]
                                             / den.default_alone["multiply"])
    assert multiplier.area != pytest.approx(whole.area)
    assert multiplier.power != pytest.approx(whole.power)
    assert multiplier.area_error == pytest.approx(multiplier.area / 1.93 - 1)
    assert multiplier.power_error == pytest.approx(multiplier.power / 2.56 - 1)
    # Both scopes are printed and written, with the source's missing scope.
    for text in ("\n".join(calibration_lines(cal)), calibration_markdown(cal)):
        for r in cal.ratios:
            assert f"{r.scope}" in text and f"{r.area:.2f}x" in text
            assert f"{r.power:.2f}x" in text
        assert "does not state the scope" in text
    # A block without the scope's sub-block is named, not divided by zero.
    costs["dint_mac"] = _cost("dint_mac", 360.0, 30.0, {"all": 360.0})
    with pytest.raises(HwsimError, match="dint_mac has no sub-block"):
        calibrate("28nm")


def test_rows_whose_default_figure_did_not_converge_are_named(monkeypatch):
    scope = dict.fromkeys(("exponent match", "bit-serial multiply", "group accumulate",
                           "dequantize"), 250.0)
    costs = {
        # The PE's unconverged control is outside its compared scope; the MAC's whole block is
        # its scope; the FP16 MAC's adder is one of its parts.
        "bitmod_pe": replace(_cost("bitmod_pe", 1000.0, 1.0, scope | {"control": 5.0}),
                             default_unconverged=("block", "control")),
        "fp16_int_mac": replace(_cost("fp16_int_mac", 1000.0, 1.0),
                                default_unconverged=("block",)),
        "fp16_mac": replace(_cost("fp16_mac", 1000.0, 1.0), default_unconverged=("add",)),
        "fp16_dual_mac": replace(_cost("fp16_dual_mac", 1000.0, 1.0),
                                 default_unconverged=("block",)),
        # The ratio's whole-MAC scope is approximate through one of its two blocks; its
        # multiplier scope is not.
        "int_mac": replace(_cost("int_mac", 6.0, 5.0, {"multiply": 3.0}),
                           default_unconverged=("block",)),
        "dint_mac": _cost("dint_mac", 3.0, 2.0, {"multiply": 2.0}),
    }
    monkeypatch.setattr(cal_mod, "block_cost", lambda name, params, cache: costs[name])
    cal = calibrate("28nm")
    assert cal.unconverged == ("FP16 x INT8 MAC", "FP16 MAC (mul + add)",
                               "FP16 x (INT8 or 2x FP4) MAC", "INT8 MAC / dINT MAC (whole MAC)")
    assert "those power figures are approximate" in "\n".join(calibration_lines(cal))
