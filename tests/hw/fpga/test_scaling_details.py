"""The scaling search's rules on a model of the tools (no Yosys, no nextpnr): which shapes it
packs, which it routes, what it says when the smallest one fails, and the extrapolation's and
the ceiling's arithmetic at their edges."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hwsim.errors import HwsimError
from hwsim.hw.fpga import scaling
from hwsim.hw.fpga.flow import FitCheck, Implementation, ResourceUse
from hwsim.hw.fpga.reports import Shortfall
from hwsim.hw.fpga.wrapper import WrapperCost

# A model ECP5-25k-like device: 10000 LUTs, 28 multipliers.
_LUT, _DSP = 10_000, 28


def _impl(rows: int, cols: int) -> Implementation:
    return Implementation(
        block="pe_array", params={"rows": rows, "cols": cols}, device="ecp5-25k",
        freq_mhz=50.0, dsp=True, seeds=(1,),
        resources=(ResourceUse("logic", "TRELLIS_COMB", 10, 100),),
        fmax_mhz={"clk": 60.0}, fmax_by_seed_mhz={"clk": (60.0,)}, critical_path=None,
        cells={}, wrapper=WrapperCost(1, 1, 1, 2, 1, 5))


def _model(monkeypatch, use: Callable[[int], tuple[int, int]],
           routes: Callable[[int, int], bool] = lambda rows, cols: True) -> list:
    """The tools replaced: ``use(pes)`` is (LUTs, DSPs) after packing, a shortfall where over;
    ``routes`` says whether place and route of a shape succeeds. Returns the routed shapes."""
    routed: list[tuple[int, int]] = []

    def check_fit(block, device, out_dir, *, dsp, timeout_s):
        rows, cols = block
        luts, dsps = use(rows * cols)
        short = [Shortfall(b, u, a) for b, u, a in (("TRELLIS_COMB", luts, _LUT),
                                                    ("MULT18X18D", dsps, _DSP)) if u > a]
        return FitCheck(tuple(short), {"TRELLIS_COMB": (luts, _LUT), "MULT18X18D": (dsps, _DSP)})

    def implement(block, device, out_dir, *, name, params, **_kw):
        rows, cols = block
        routed.append((rows, cols))
        if not routes(rows, cols):
            raise HwsimError(f"{rows}x{cols}: routing did not finish")
        return _impl(rows, cols)

    monkeypatch.setattr(scaling, "build_array", lambda study, rows, cols: (rows, cols))
    monkeypatch.setattr(scaling, "check_fit", check_fit)
    monkeypatch.setattr(scaling, "implement", implement)
    return routed


def test_a_predicted_shape_already_packed_is_not_packed_again(monkeypatch, tmp_path):
    # 2000 LUTs per PE on a base of 50: (10000 - 50) // 2000 = 4 PEs, shaped 2x2, which the
    # extrapolation itself packed: the search routes it without a third pack.
    routed = _model(monkeypatch, lambda n: (50 + 2000 * n, 0))
    point = scaling.largest_array("bitmod", "ecp5-25k", tmp_path)
    assert [t[:2] for t in point.tried] == [(1, 1), (2, 2)]
    assert routed == [(2, 2)] and point.pes == 4


def test_each_step_down_packs_a_smaller_shape(monkeypatch, tmp_path):
    """580 LUTs per PE up to 4 PEs predicts (10000 - 50) // 580 = 17 PEs; BitMoD's side is
    at most 16, so 17 is shaped 4x4 (16). Beyond 4 PEs a PE costs 700 LUTs: 4x4 needs 11250
    and does not pack. The next count is below the shape just refused (15: 15x1, 10550 LUTs,
    refused; then 14: 7x2, 9850, packs), not 95% of 17 = 16, which is 4x4 again."""
    routed = _model(monkeypatch, lambda n: (50 + (580 if n <= 4 else 700) * n, 0))
    point = scaling.largest_array("bitmod", "ecp5-25k", tmp_path)
    assert [t[:3] for t in point.tried] == [(1, 1, True), (2, 2, True), (4, 4, False),
                                            (15, 1, False), (7, 2, True)]
    assert routed == [(7, 2)]


def test_when_2x2_does_not_pack_the_search_tries_3_pes(monkeypatch, tmp_path):
    # 3000 LUTs per PE: 1 PE packs (3050), 2x2 does not (12050) and extrapolates nothing.
    # Its packer's figures past the device are no base for a line: the search tries 3 PEs
    # (9050 LUTs), which pack.
    _model(monkeypatch, lambda n: (50 + 3000 * n if n < 4 else 30_000, 0))
    point = scaling.largest_array("bitmod", "ecp5-25k", tmp_path)
    assert (point.rows, point.cols) == (3, 1)


def test_not_even_one_pe_names_the_worst_shortfall(monkeypatch, tmp_path):
    # LUTs 1% over, multipliers 43% over: the multipliers are what to say.
    routed = _model(monkeypatch, lambda n: (10_100 * n, 40 * n))
    with pytest.raises(HwsimError, match=r"^not even one bitmod PE fits ecp5-25k: MULT18X18D: "
                                         r"needs 40, device has 28$"):
        scaling.largest_array("bitmod", "ecp5-25k", tmp_path)
    assert routed == []


def test_a_single_pe_that_does_not_route_is_the_error(monkeypatch, tmp_path):
    # Nothing smaller to try: the 1x1's own failure is raised.
    routed = _model(monkeypatch, lambda n: (50 + 6000 * n, 0), routes=lambda r, c: False)
    with pytest.raises(HwsimError, match=r"^1x1: routing did not finish$"):
        scaling.largest_array("bitmod", "ecp5-25k", tmp_path)
    assert routed == [(1, 1)]


def test_a_dsp_bound_under_a_logic_ceiling_names_no_ceiling(monkeypatch, tmp_path):
    # 4 multipliers per PE: 28 // 4 = 7 PEs, while the LUTs' 90% ceiling (9000, 100 per PE)
    # would allow 89. The log says the multipliers run out, not the ceiling.
    _model(monkeypatch, lambda n: (50 + 100 * n, 4 * n))
    lines: list[str] = []
    scaling.largest_array("bitmod", "ecp5-25k", tmp_path, max_logic=0.9, log=lines.append)
    assert "bitmod: linear extrapolation predicts 7 PEs (MULT18X18D runs out)" in lines


def test_a_bel_the_small_array_does_not_list_grows_from_zero():
    # LUTs: 90 per PE on a base of 10 -> 11. DSPs absent at 1 PE, 4 at 4 PEs: 4/3 per PE
    # from 0 used, base 4 - 16/3 = -4/3, so (28 + 4/3) // (4/3) = 22: the LUTs bind.
    assert scaling.predict_max_pes({"LUT": (100, 1000)}, 1,
                                   {"LUT": (370, 1000), "DSP": (4, 28)}, 4) == (11, "LUT")


def test_a_shape_using_exactly_the_ceiling_is_within_it():
    fit = FitCheck((), {"TRELLIS_COMB": (900, 1000)})
    assert scaling._above_ceiling(fit, "TRELLIS_COMB", 0.9) == ""
    fit = FitCheck((), {"TRELLIS_COMB": (901, 1000)})
    assert scaling._above_ceiling(fit, "TRELLIS_COMB", 0.9) == (
        "TRELLIS_COMB: uses 901 of 1000, above the 90% ceiling")


def test_the_ceiling_rounds_the_logic_down():
    # 90% of 1001 LUTs is 900.9: a shape may use 900, not 901.
    util = {"TRELLIS_COMB": (5, 1001), "MULT18X18D": (1, 28)}
    assert scaling._with_ceiling(util, "TRELLIS_COMB", 0.9) == {
        "TRELLIS_COMB": (5, 900), "MULT18X18D": (1, 28)}


def test_a_points_summary_says_used_and_available():
    point = scaling.ScalingPoint("bitmod", "ecp5-25k", 2, 1, 4, _impl(2, 1))
    assert point.to_dict()["resources"] == {"logic": {"used": 10, "available": 100}}
    assert point.to_dict()["pes"] == 2
