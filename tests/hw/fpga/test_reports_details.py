"""Details of the Yosys / nextpnr parsers the stored logs do not reach: synthetic report text
built to the tools' formats, each case chosen so that one rule decides the answer."""

from __future__ import annotations

import json

import pytest

from hwsim.errors import HwsimError
from hwsim.hw.fpga.reports import (
    NextpnrLog,
    Shortfall,
    classify_cells,
    clock_name,
    find_shortfalls,
    gate_depth,
    parse_nextpnr_log,
    parse_nextpnr_report,
    parse_yosys_stat,
)


def _stat(cells: dict[str, int]) -> str:
    return json.dumps({"design": {"num_cells_by_type": cells}})


def test_scopeinfo_is_no_cell_of_a_harnessed_top(data):
    # The stored ECP5 stat lists one $scopeinfo (Yosys bookkeeping, no hardware): it must not
    # reach the counts, where it would be an "other" resource.
    cells = parse_yosys_stat((data / "ecp5_mac4_stat.json").read_text())
    assert "$scopeinfo" not in cells
    assert "other" not in classify_cells(cells, "ecp5")
    assert parse_yosys_stat(_stat({"$scopeinfo": 3, "LUT4": 2})) == {"LUT4": 2}


@pytest.mark.parametrize("text", [json.dumps({"design": {}}), json.dumps({"top": 1}),
                                  json.dumps([1, 2])])
def test_json_that_is_no_stat_report_is_an_hwsim_error(text):
    """Valid JSON of another shape says what it is not, not a bare KeyError/TypeError."""
    with pytest.raises(HwsimError, match="not a Yosys 'stat -json' report"):
        parse_yosys_stat(text)


def test_block_ram_lut_ram_and_spram_are_their_own_resources():
    # Devices count `bram` in 18 kbit DP16KD (ECP5) or 4 kbit RAM40 (iCE40) blocks; the ECP5's
    # distributed RAM and the UP5K's SPRAM are other resources.
    assert classify_cells({"DP16KD": 2, "TRELLIS_DPR16X4": 3, "LUT4": 1}, "ecp5") == {
        "bram": 2, "lutram": 3, "logic": 1}
    assert classify_cells({"SB_RAM40_4K": 5, "SB_SPRAM256KA": 4}, "ice40") == {
        "bram": 5, "spram": 4}


def test_the_last_utilisation_table_is_the_one_kept():
    # Two tables (a log appended to by a second run): only the last one's rows, not a merge
    # in which a bel listed by the first alone survives.
    first = "Info: Device utilisation:\nInfo:          TRELLIS_COMB:   900/  24288     3%\n" \
            "Info:              DP16KD:     4/     56     7%\n"
    second = "Info: Device utilisation:\nInfo:          TRELLIS_COMB:   100/  24288     0%\n"
    log = parse_nextpnr_log(first + "Info: Packing\n" + second)
    assert log.utilization == {"TRELLIS_COMB": (100, 24288)}


def test_only_error_lines_are_errors_and_missing_bels_are_listed_once():
    text = ("Info: net 'ERROR_flag' has no driver\n"
            "Warning: ERROR counter unused\n"
            "ERROR: Unable to place cell 'm1', no BELs remaining to implement cell type "
            "'MULT18X18D'\n"
            "ERROR: Unable to place cell 'm2', no BELs remaining to implement cell type "
            "'MULT18X18D'\n")
    log = parse_nextpnr_log(text)
    assert log.errors == tuple(text.splitlines()[2:])
    assert log.missing_bel_types == ("MULT18X18D",)


@pytest.mark.parametrize("net", ["$TRELLIS_IO_IN", "$SB_IO_IN_$glb_clk", "$glbnet$"])
def test_a_clock_net_that_is_all_suffix_keeps_its_name(net):
    """Never an empty clock name: a net that is nothing but nextpnr's decoration is returned
    unchanged."""
    assert clock_name(net) == net


def _segment(kind: str, cell: str, port: str, delay: float, to: tuple[str, str] | None = None):
    end = {"cell": to[0], "port": to[1]} if to else {"cell": cell, "port": port}
    return {"type": kind, "delay": delay, "from": {"cell": cell, "port": port}, "to": end}


def _report(paths: list[dict]) -> str:
    return json.dumps({
        "utilization": {"TRELLIS_COMB": {"used": 10, "available": 24288}},
        "fmax": {"$glbnet$clk$TRELLIS_IO_IN": {"achieved": 80.0, "constraint": 50}},
        "critical_paths": paths,
    })


_CLK = "posedge $glbnet$clk$TRELLIS_IO_IN"


def test_a_clock_with_an_empty_path_is_skipped_and_delays_keep_a_picosecond():
    # nextpnr lists a clock pair with no path as an empty list: no critical path, no error.
    path = [_segment("clk-to-q", "a", "Q", 0.5234),
            _segment("routing", "a", "Q", 0.7111, to=("b", "D")),
            _segment("setup", "b", "D", 0.0001)]
    rep = parse_nextpnr_report(_report([{"from": _CLK, "to": _CLK, "path": []},
                                        {"from": _CLK, "to": _CLK, "path": path}]))
    (cp,) = rep.critical_paths
    # 0.5234 + 0.7111 + 0.0001 = 1.2346 ns, rounded to the picosecond: 1.235.
    assert cp.delay_ns == 1.235
    assert (cp.clock, cp.start, cp.end, cp.logic_levels) == ("clk", "a.Q", "b.D", 0)
    assert rep.fmax_mhz == {"clk": (80.0, 50.0)}


def test_a_path_between_two_clocks_is_no_clocks_critical_path():
    """The comment said same-clock paths only, the code kept a cross-clock path under its
    launch clock: a clock could get two critical paths, and the longer one (10 ns, bounded by
    no single fmax) would have been reported as clk's."""
    path = [_segment("clk-to-q", "a", "Q", 0.5), _segment("setup", "b", "D", 0.5)]
    long = [_segment("clk-to-q", "a", "Q", 5.0), _segment("setup", "c", "D", 5.0)]
    rep = parse_nextpnr_report(_report([
        {"from": _CLK, "to": "posedge $glbnet$other$TRELLIS_IO_IN", "path": long},
        {"from": _CLK, "to": _CLK, "path": path}]))
    (cp,) = rep.critical_paths
    assert (cp.clock, cp.delay_ns) == ("clk", 1.0)


def test_shortfalls_need_a_utilisation_table():
    # A run that stopped before packing printed no table: nothing to compare, no shortfall,
    # even for a needed bel type (the caller then reports the tool's error instead).
    assert find_shortfalls(NextpnrLog({}, {}, (), ("ERROR: bad netlist",)),
                           {"ICESTORM_DSP": 4}) == []


def test_a_bel_type_needed_zero_times_is_no_shortfall_and_missing_ones_come_sorted():
    log = NextpnrLog({"ICESTORM_LC": (300, 7680)}, {}, (), ())
    # Reported in bel-name order whatever order the caller counted them in.
    assert find_shortfalls(log, {"ICESTORM_SPRAM": 0, "ICESTORM_RAM": 2, "ICESTORM_DSP": 4}) == [
        Shortfall("ICESTORM_DSP", 4, 0), Shortfall("ICESTORM_RAM", 2, 0)]


def _gates(cells: list[tuple[str, dict]], outputs: list[int]) -> dict:
    made = {}
    for i, (kind, conns) in enumerate(cells):
        dirs = {p: "output" if p in ("Y", "Q") else "input" for p in conns}
        made[f"c{i}"] = {"type": kind, "connections": conns, "port_directions": dirs}
    return {"modules": {"top": {"cells": made, "ports": {"o": {"direction": "output",
                                                                "bits": outputs}}}}}


def test_a_path_to_an_output_port_ends_there():
    # ff.Q (net 2) -> AND -> OR -> XOR -> output port: 3 gates, the deepest path; the register
    # it could also reach sits behind one gate.
    cells = [("$_DFF_P_", {"C": [1], "D": [3], "Q": [2]}),
             ("$_AND_", {"A": [2], "B": [2], "Y": [3]}),
             ("$_OR_", {"A": [3], "B": [2], "Y": [4]}),
             ("$_XOR_", {"A": [4], "B": [2], "Y": [5]})]
    assert gate_depth(_gates(cells, [5])) == 3


def test_a_combinational_loop_is_an_error():
    cells = [("$_AND_", {"A": [3], "B": [2], "Y": [4]}),
             ("$_OR_", {"A": [4], "B": [2], "Y": [3]}),
             ("$_DFF_P_", {"C": [1], "D": [4], "Q": [2]})]
    with pytest.raises(HwsimError, match="combinational loop in the gate netlist of top"):
        gate_depth(_gates(cells, []))
