"""The flow's arithmetic over placer seeds (no tools run; `test_flow_tools` runs them)."""

from __future__ import annotations

import pytest

from hwsim.hw.fpga.flow import median_over_seeds


def test_every_seed_routed_is_the_plain_median_per_clock():
    routed = {1: {"clk": 70.004, "io": 200.0}, 2: {"clk": 80.0, "io": 150.0},
              3: {"clk": 75.0, "io": 180.0}}
    by_seed, fmax, seed = median_over_seeds((1, 2, 3), routed)
    assert by_seed == {"clk": (70.0, 80.0, 75.0), "io": (200.0, 150.0, 180.0)}
    assert fmax == {"clk": 75.0, "io": 180.0}  # each clock's own median
    assert seed == 3  # its slowest clock (75) is the median of the slowest clocks
    # An even count: the mean of the two middle values, the upper middle seed.
    by_seed, fmax, seed = median_over_seeds((1, 2), {1: {"clk": 70.0}, 2: {"clk": 80.0}})
    assert fmax == {"clk": 75.0} and seed == 2


def test_an_unrouted_seed_ranks_below_every_routed_one():
    routed = {1: {"clk": 74.12}, 3: {"clk": 74.76}}
    by_seed, fmax, seed = median_over_seeds((1, 2, 3), routed)
    assert by_seed == {"clk": (74.12, None, 74.76)}
    assert fmax == {"clk": 74.12} and seed == 1  # the slower of the two routed
    # Four seeds, one unrouted: the middle two are routed.
    routed = {1: {"clk": 60.0}, 2: {"clk": 70.0}, 4: {"clk": 90.0}}
    _by_seed, fmax, seed = median_over_seeds((1, 2, 3, 4), routed)
    assert fmax == {"clk": 65.0} and seed == 2  # the upper middle


def test_equal_fmax_keep_the_seeds_order():
    _by_seed, _fmax, seed = median_over_seeds((5, 6, 7), {5: {"c": 1.0}, 6: {"c": 1.0},
                                                          7: {"c": 1.0}})
    assert seed == 6


@pytest.mark.parametrize(("seeds", "routed"), [
    ((1,), {}),
    ((1, 2), {1: {"clk": 70.0}}),  # half unrouted: no routed median
    ((1, 2, 3), {2: {"clk": 70.0}}),
    ((1, 2, 3, 4), {1: {"clk": 70.0}, 2: {"clk": 71.0}}),
])
def test_no_median_when_at_least_half_did_not_route(seeds, routed):
    assert median_over_seeds(seeds, routed) is None


def test_a_rerun_removes_every_earlier_seeds_files_and_another_familys_cones(tmp_path):
    # Seeds 1-2 on ECP5, then seed 1 on iCE40 into the same folder: seed 2's log and report
    # and ECP5's cone ranking stayed beside an fpga.json of iCE40 with seeds [1].
    from hwsim.hw.fpga.flow import _remove_earlier_run

    names = ["nextpnr_seed1.log", "report_seed1.json", "nextpnr_seed2.log",
             "report_seed12.json", "cones.json", "fpga.json", "notes_seed2.log",
             "report_seed2.json.bak"]
    for name in names:
        (tmp_path / name).write_text("earlier")
    _remove_earlier_run(tmp_path, "ice40")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fpga.json", "notes_seed2.log", "report_seed2.json.bak"]
    (tmp_path / "cones.json").write_text("earlier")
    _remove_earlier_run(tmp_path, "ecp5")  # rewritten by this run's synthesis: kept
    assert (tmp_path / "cones.json").exists()
