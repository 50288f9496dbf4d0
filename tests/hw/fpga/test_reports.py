"""Parsers on real Yosys and nextpnr outputs (data/README.md says how each was made).

Expected numbers are derived from the test design (data/README.md): 4 lanes of 8 x 8 -> 16-bit
products and a 24-bit accumulator are 4 x 16 + 24 = 88 flip-flops and 4 multipliers; the
harness adds 65 + 24 = 89 flip-flops; device capacities are the vendors' data-sheet figures.
"""

from __future__ import annotations

import json

import pytest

from hwsim.errors import HwsimError
from hwsim.hw.fpga.devices import DEVICES
from hwsim.hw.fpga.flow import _resources
from hwsim.hw.fpga.reports import (
    NextpnrLog,
    Shortfall,
    classify_cells,
    clock_name,
    find_shortfalls,
    nextpnr_progress,
    parse_nextpnr_log,
    parse_nextpnr_report,
    parse_yosys_stat,
)

BLOCK_FF = 4 * 16 + 24
HARNESS_FF = 65 + 24


def test_yosys_stat_generic_counts_luts_and_flip_flops(data):
    cells = parse_yosys_stat((data / "generic_mac4_stat.json").read_text())
    res = classify_cells(cells, "generic")
    assert res["ff"] == BLOCK_FF
    assert set(res) == {"logic", "ff"}  # synth -lut 4 leaves LUTs and flip-flops only
    assert "$scopeinfo" not in cells


def test_yosys_stat_ice40_without_dsp_has_carry_chains(data):
    res = classify_cells(parse_yosys_stat((data / "ice40_mac4_stat.json").read_text()), "ice40")
    assert res["ff"] == BLOCK_FF
    assert res["carry"] > 0 and "dsp" not in res


def test_yosys_stat_of_harnessed_tops_counts_harness_and_multipliers(data):
    ecp5 = classify_cells(parse_yosys_stat((data / "ecp5_mac4_stat.json").read_text()), "ecp5")
    ice40 = classify_cells(parse_yosys_stat((data / "ice40_dsp_mac4_stat.json").read_text()),
                           "ice40")
    for res in (ecp5, ice40):
        assert res["ff"] == BLOCK_FF + HARNESS_FF
        assert res["dsp"] == 4  # one hard multiplier per 8 x 8 product
    # ECP5's CCU2C (two-bit carry cell) is carry, not logic: the stored stat lists 21 of
    # them next to 104 LUT4.
    assert (ecp5["carry"], ecp5["logic"]) == (21, 104)


def test_yosys_stat_rejects_other_text():
    with pytest.raises(HwsimError, match="stat -json"):
        parse_yosys_stat("=== top ===\n 12 cells\n")


def test_unknown_cells_are_other():
    assert classify_cells({"LUT4": 3, "EHXPLLL": 1}, "ecp5") == {"logic": 3, "other": 1}


@pytest.mark.parametrize(("net", "name"), [
    ("$glbnet$clk$TRELLIS_IO_IN", "clk"),
    ("clk$SB_IO_IN_$glb_clk", "clk"),
    ("sys_clk", "sys_clk"),
])
def test_clock_names(net, name):
    assert clock_name(net) == name


@pytest.mark.parametrize("stem", ["ecp5_25k_mac4", "ice40_up5k_mac4"])
def test_log_and_report_agree_on_fmax_and_path(data, stem):
    log = parse_nextpnr_log((data / f"{stem}_nextpnr.log").read_text())
    rep = parse_nextpnr_report((data / f"{stem}_report.json").read_text())
    assert not log.errors and not log.missing_bel_types
    achieved, requested = rep.fmax_mhz["clk"]
    assert requested == 100.0  # --freq 100
    # The log prints fmax twice (placement estimate, then after routing) with 2 decimals;
    # the last one is the routed result that the report holds.
    assert log.max_freq_mhz["clk"] == pytest.approx(achieved, abs=0.005)
    (path,) = rep.critical_paths  # the clock's own path; pin paths are left out
    assert path.clock == "clk"
    # The critical path's delay is the clock period the fmax stands for.
    assert 1000.0 / path.delay_ns == pytest.approx(achieved, rel=1e-3)
    assert path.start.startswith("block.") and path.logic_levels > 0
    assert rep.utilization == log.utilization


@pytest.mark.parametrize(("stem", "levels"), [("ecp5_25k_mac4", 18), ("ice40_up5k_mac4", 25)])
def test_logic_levels_count_only_logic_segments(data, stem, levels):
    # Counted from the stored reports' "logic" segments; the path's clk-to-q and setup
    # segments are not logic levels (counting every non-routing segment gives 20 and 27).
    (path,) = parse_nextpnr_report((data / f"{stem}_report.json").read_text()).critical_paths
    assert path.logic_levels == levels


def test_ecp5_log_takes_the_routed_fmax_not_the_estimate(data):
    text = (data / "ecp5_25k_mac4_nextpnr.log").read_text()
    lines = [ln for ln in text.splitlines() if "Max frequency" in ln]
    assert len(lines) == 2
    last = float(lines[-1].split(": ")[-1].split()[0])
    assert parse_nextpnr_log(text).max_freq_mhz["clk"] == last


def test_utilization_of_placed_designs(data):
    util = parse_nextpnr_log((data / "ecp5_25k_mac4_nextpnr.log").read_text()).utilization
    assert util["TRELLIS_FF"][0] == BLOCK_FF + HARNESS_FF
    assert util["MULT18X18D"][0] == 4
    assert util["TRELLIS_IO"][0] == 5  # din, dout, load, clk, rst


@pytest.mark.parametrize(("log", "device"), [
    ("ecp5_25k_mac4_nextpnr.log", "ecp5-25k"),
    ("ecp5_45k_mac4_nextpnr.log", "ecp5-45k"),
    ("ecp5_85k_mac4_nextpnr.log", "ecp5-85k"),
    ("ice40_up5k_mac4_nextpnr.log", "ice40-up5k"),
    ("ice40_hx8k_mac4_nextpnr.log", "ice40-hx8k"),
])
def test_device_table_matches_what_nextpnr_offers(data, log, device):
    util = parse_nextpnr_log((data / log).read_text()).utilization
    dev = DEVICES[device]
    for res in ("logic", "dsp", "bram"):
        bel = dev.bels[res]
        available = util[bel][1] if bel in util else 0  # HX8K lists no DSP at all
        assert available == dev.available[res], res
    # nextpnr counts the die's I/O sites; the package bonds at most that many.
    assert dev.available["io"] <= util[dev.bels["io"]][1]


@pytest.mark.parametrize(("log", "device", "pins"), [
    ("ecp5_45k_mac4_nextpnr.log", "ecp5-45k", 203),  # nextpnr offers 245 sites
    ("ecp5_85k_mac4_nextpnr.log", "ecp5-85k", 205),  # nextpnr offers 365 sites
])
def test_io_available_is_capped_at_the_package_pins(data, log, device, pins):
    util = parse_nextpnr_log((data / log).read_text()).utilization
    (io,) = [r for r in _resources(DEVICES[device], util, {}) if r.resource == "io"]
    assert (io.used, io.available) == (5, pins)  # din, dout, load, clk, rst


@pytest.mark.parametrize(("log", "arcs", "left"), [
    ("ecp5_25k_mac4_nextpnr.log", 889, ["491 of 889 arcs left after 2 s",
                                        "54 of 889 arcs left after 2 s",
                                        "0 of 889 arcs left after 2 s"]),
    ("ice40_up5k_mac4_nextpnr.log", 805, ["110 of 805 arcs left after 0 s",
                                          "0 of 805 arcs left after 0 s"]),
])
def test_progress_follows_the_log_as_it_grows(data, log, arcs, left):
    # The log cut after each line, as a running nextpnr leaves it: the stages in order, with
    # router1's arcs left from its progress table. "routing" alone: ECP5's globals, or
    # router1 setting up (a run stopped there was routing, not placing).
    lines = (data / log).read_text().splitlines(keepends=True)
    seen = [nextpnr_progress("".join(lines[:n])) for n in range(len(lines) + 1)]
    stages = [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]]
    assert stages == ["starting", "packing", "placing", "placing (refinement)", "routing",
                      f"routing {arcs} arcs", *(f"routing: {x}" for x in left),
                      "timing analysis", "done"]


def test_failed_fit_names_resource_and_amounts(data):
    log = parse_nextpnr_log((data / "ecp5_25k_mac32_nofit_nextpnr.log").read_text())
    assert log.errors and log.missing_bel_types == ("MULT18X18D",)
    # 32 lanes -> 32 multipliers; an LFE5U-25F has 28.
    assert find_shortfalls(log, {"MULT18X18D": 32}) == [Shortfall("MULT18X18D", 32, 28)]
    assert str(find_shortfalls(log, {})[0]) == "MULT18X18D: needs 32, device has 28"


def test_failed_fit_on_a_device_without_the_resource(data):
    log = parse_nextpnr_log((data / "ice40_hx8k_dsp_nofit_nextpnr.log").read_text())
    assert log.missing_bel_types == ("ICESTORM_DSP",)
    assert "ICESTORM_DSP" not in log.utilization  # the HX8K has none to list
    # The needed count comes from Yosys: 4 SB_MAC16 cells in the netlist.
    assert [str(s) for s in find_shortfalls(log, {"ICESTORM_DSP": 4})] == [
        "ICESTORM_DSP: needs 4, device has 0"
    ]


def test_a_fitting_design_has_no_shortfall(data):
    log = parse_nextpnr_log((data / "ecp5_25k_mac4_nextpnr.log").read_text())
    assert find_shortfalls(log, {"MULT18X18D": 4}) == []


def test_a_design_using_exactly_all_of_a_resource_fits():
    # 28 of the LFE5U-25F's 28 multipliers: full, not short.
    log = NextpnrLog({"MULT18X18D": (28, 28), "TRELLIS_COMB": (100, 24288)}, {}, (), ())
    assert find_shortfalls(log, {"MULT18X18D": 28}) == []


def test_report_rejects_other_json():
    with pytest.raises(HwsimError, match="report"):
        parse_nextpnr_report(json.dumps({"fmax": {}}))


def _gate_netlist(cells, outputs):
    """A Yosys JSON module of gates ``(type, {pin: bits})``; pins A/B/D/E are inputs."""
    made = {}
    for i, (kind, conns) in enumerate(cells):
        dirs = {p: "output" if p in ("Y", "Q") else "input" for p in conns}
        made[f"c{i}"] = {"type": kind, "connections": conns, "port_directions": dirs}
    ports = {"o": {"direction": "output", "bits": outputs}}
    return {"modules": {"top": {"cells": made, "ports": ports}}}


def test_gate_depth_counts_two_input_gates_between_registers():
    from hwsim.hw.fpga.reports import gate_depth

    # ff1.Q (net 2) -> AND -> NOT -> XOR -> ff2.D: 2 gates (the inverter is free); a side
    # branch ff1.Q -> OR -> output port: 1 gate. An input port (net 9) starts at depth 0.
    cells = [
        ("$_DFF_P_", {"C": [1], "D": [6], "Q": [2]}),
        ("$_AND_", {"A": [2], "B": [9], "Y": [3]}),
        ("$_NOT_", {"A": [3], "Y": [4]}),
        ("$_XOR_", {"A": [4], "B": [2], "Y": [5]}),
        ("$_DFF_P_", {"C": [1], "D": [5], "Q": [6]}),
        ("$_OR_", {"A": [2], "B": "0", "Y": [7]}),
    ]
    assert gate_depth(_gate_netlist(cells, [7])) == 2
    # The XOR's other input through NAND -> NOR -> ANDNOT (3 gates): 3 + the XOR = 4.
    cells[3] = ("$_XOR_", {"A": [4], "B": [12], "Y": [5]})
    cells += [("$_NAND_", {"A": [2], "B": [2], "Y": [10]}),
              ("$_NOR_", {"A": [10], "B": [2], "Y": [11]}),
              ("$_ANDNOT_", {"A": [11], "B": [4], "Y": [12]})]
    assert gate_depth(_gate_netlist(cells, [7])) == 4
