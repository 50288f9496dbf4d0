"""`deepest_cones` on small hand-written ECP5 netlists (Yosys' JSON layout), whose scores follow
from the cells' delays and the routing charge by hand."""

from __future__ import annotations

import json
import math

import pytest

from hwsim.errors import HwsimError
from hwsim.hw.fpga.cones import FANOUT_NS, ROUTE_NS, Cone, deepest_cones, endpoint_name
from hwsim.hw.fpga.flow import cone_rank, write_cones

CLK_TO_Q, LUT, CARRY_IN, CARRY_SUM, EBR, MULT = 0.525, 0.236, 0.447, 0.443, 5.83, 3.927
CARRY_THROUGH = 0.036


def route(fanout: int = 1) -> float:
    return ROUTE_NS + FANOUT_NS * math.log2(fanout)


class Netlist:
    """Builds a one-module Yosys JSON netlist: cells by type, nets by name (one bit each)."""

    def __init__(self) -> None:
        self.cells: dict[str, dict] = {}
        self.nets: dict[str, int] = {}
        self.buses: dict[str, list[str]] = {}
        self.ports: dict[str, dict] = {}

    def bit(self, net: str) -> int:
        return self.nets.setdefault(net, len(self.nets) + 2)  # Yosys numbers from 2

    def cell(self, name: str, kind: str, ins: dict[str, str], outs: dict[str, str],
             **params: str) -> None:
        self.cells[name] = {
            "type": kind, "parameters": params,
            "port_directions": {**dict.fromkeys(ins, "input"), **dict.fromkeys(outs, "output")},
            "connections": {p: [self.bit(n)] for p, n in {**ins, **outs}.items()},
        }

    def ff(self, name: str, d: str, q: str, bit: int = 0) -> None:
        # Named as Yosys names a register's flip-flops; LSR (the synchronous reset) is an
        # endpoint too, of the same register.
        cell = f"{name}_TRELLIS_FF_Q" + (f"_{bit}" if bit else "")
        self.cell(cell, "TRELLIS_FF", {"CLK": "clk", "DI": d, "LSR": "rst"}, {"Q": q})

    def lut(self, name: str, ins: list[str], out: str) -> None:
        self.cell(name, "LUT4", dict(zip("ABCD", ins, strict=False)), {"Z": out})

    def port(self, name: str, direction: str, nets: list[str]) -> None:
        self.ports[name] = {"direction": direction, "bits": [self.bit(n) for n in nets]}

    def json(self) -> dict:
        netnames = {n: {"bits": [b]} for n, b in self.nets.items()}
        for bus, nets in self.buses.items():
            netnames[bus] = {"bits": [self.bit(n) for n in nets]}
        return {"modules": {"top": {"attributes": {"top": "00000000000000000000000000000001"},
                                    "ports": self.ports, "cells": self.cells,
                                    "netnames": netnames}}}


def chain(levels: int) -> Netlist:
    """q0 -> ``levels`` LUTs -> the D of register r."""
    n = Netlist()
    n.ff("q0", "d0", "q0")
    prev = "q0"
    for i in range(levels):
        n.lut(f"lut{i}", [prev], f"$n{i}")
        prev = f"$n{i}"
    n.ff("r", prev, "r")
    return n


def test_a_lut_chain_scores_its_cells_and_one_route_per_net():
    (top, *_), = [deepest_cones(chain(3).json(), 1)]
    assert top == Cone(end="r", width=1, start="q0", score_ns=pytest.approx(
        CLK_TO_Q + 4 * route(1) + 3 * LUT), luts=3, carries=0,
        nets=("q0", "$n0", "$n1", "$n2"), max_fanout=1)


def test_the_deepest_endpoint_comes_first_and_count_limits_the_list():
    n = chain(4)
    n.lut("short", ["q0"], "$s")
    n.ff("s", "$s", "s")
    cones = deepest_cones(n.json())
    assert [c.end for c in cones] == ["r", "s", "q0"]  # q0's D is the port-less net d0
    assert [c.luts for c in cones] == [4, 1, 0]
    assert [c.end for c in deepest_cones(n.json(), 2)] == ["r", "s"]


def test_fanout_is_charged_per_doubling_on_the_net_that_has_it():
    n = chain(1)
    for i in range(3):  # q0 now drives lut0 and three more flip-flops: fan-out 4
        n.ff(f"x{i}", "q0", f"x{i}")
    top = deepest_cones(n.json(), 1)[0]
    assert top.end == "r" and top.max_fanout == 4
    assert top.score_ns == pytest.approx(CLK_TO_Q + route(4) + LUT + route(1))


def test_a_register_bus_is_one_endpoint_ranked_by_its_worst_bit():
    n = chain(2)
    n.ff("r", "q0", "r1", bit=1)  # bit 1 of the same register straight from q0
    n.buses["r"] = ["r", "r1"]
    top = deepest_cones(n.json(), 1)[0]
    assert (top.end, top.width, top.luts) == ("r", 2, 2)
    assert top.nets[0] == "q0" and top.nets[-1] == "$n1"


def test_the_carry_chain_is_hard_wired_and_its_cells_are_counted():
    n = Netlist()
    n.ff("a", "da", "a")
    n.cell("c0", "CCU2C", {"A0": "a", "B0": "a"}, {"COUT": "$c", "S0": "$s0"})
    n.cell("c1", "CCU2C", {"A0": "a", "CIN": "$c"}, {"S0": "$s1"})
    n.ff("s", "$s1", "s")
    top = deepest_cones(n.json(), 1)[0]
    assert (top.end, top.luts, top.carries) == ("s", 0, 2)
    # a (fan-out 3) -> c0 A0 -> COUT -> (no route) c1 CIN -> S0 -> s
    assert top.score_ns == pytest.approx(CLK_TO_Q + route(3) + CARRY_IN + CARRY_SUM + route(1))
    assert top.nets == ("a", "$c", "$s1")


def test_a_carry_runs_through_the_middle_cells_and_data_reach_a_sum_at_a_luts_delay():
    n = Netlist()
    n.ff("a", "da", "a")
    n.cell("c0", "CCU2C", {"A0": "a"}, {"COUT": "$c0"})
    n.cell("c1", "CCU2C", {"CIN": "$c0"}, {"COUT": "$c1"})
    n.cell("c2", "CCU2C", {"CIN": "$c1"}, {"S0": "$s"})
    n.ff("s", "$s", "s")
    n.cell("d", "CCU2C", {"A0": "a"}, {"S0": "$t"})
    n.ff("t", "$t", "t")
    cones = {c.end: c for c in deepest_cones(n.json())}
    assert cones["s"].carries == 3 and cones["s"].score_ns == pytest.approx(
        CLK_TO_Q + route(2) + CARRY_IN + CARRY_THROUGH + CARRY_SUM + route(1))
    assert cones["t"].score_ns == pytest.approx(CLK_TO_Q + route(2) + LUT + route(1))


def test_a_carry_cells_first_sum_does_not_wait_for_its_second_half():
    # S0 -> a LUT -> A1 of the same cell is no loop: S0 reads only the first half's inputs.
    n = Netlist()
    n.ff("a", "da", "a")
    n.cell("c", "CCU2C", {"A0": "a", "A1": "$x"}, {"S0": "$s0", "S1": "$s1"})
    n.lut("l", ["$s0"], "$x")
    n.ff("s", "$s1", "s")
    top = deepest_cones(n.json(), 1)[0]
    assert (top.end, top.luts, top.carries) == ("s", 1, 2)
    assert top.nets == ("a", "$s0", "$x", "$s1")


def test_output_ports_count_in_fanout_and_mux_cells_are_levels():
    n = Netlist()
    n.ff("a", "da", "a")
    n.cell("mx", "PFUMX", {"ALUT": "a"}, {"Z": "$m"})
    n.port("o", "output", ["$m"])
    n.ff("r", "$m", "r")
    cones = {c.end: c for c in deepest_cones(n.json())}
    assert cones["r"].luts == 1 and cones["r"].max_fanout == 2
    assert cones["r"].score_ns == pytest.approx(CLK_TO_Q + route(1) + LUT + route(2))
    assert cones["o (output port)"].score_ns == cones["r"].score_ns


def test_clock_pins_end_no_path_and_carry_none_through_a_multiplier():
    n = Netlist()
    n.ff("q0", "d0", "q0")
    n.lut("gate", ["q0"], "$gclk")  # a gated clock: deep, but not a data path
    n.cell("g_TRELLIS_FF_Q", "TRELLIS_FF", {"CLK": "$gclk", "DI": "q0"}, {"Q": "g"})
    n.cell("m", "MULT18X18D", {"A0": "q0", "CLK0": "$gclk"}, {"P0": "p"})
    n.ff("y", "p", "y")
    cones = {c.end: c for c in deepest_cones(n.json())}
    assert cones["g"].luts == 0 and cones["g"].nets == ("q0",)
    assert cones["y"].nets == ("q0", "p")


def test_every_data_pin_of_a_register_ends_paths_and_no_control_pin_of_a_multiplier_starts():
    # A flip-flop's LSR (its synchronous reset, from logic here) is an endpoint of the register;
    # a combinational multiplier's enables and resets are not data into its product.
    n = chain(1)
    n.lut("deep0", ["q0"], "$d0")
    n.lut("deep1", ["$d0"], "$d1")
    n.cell("k_TRELLIS_FF_Q", "TRELLIS_FF", {"CLK": "clk", "DI": "q0", "LSR": "$d1"}, {"Q": "k"})
    n.cell("m", "MULT18X18D", {"A0": "q0", "CE0": "$d1", "RST0": "$d1", "CLK0": "$d1"},
           {"P0": "p"})
    n.ff("y", "p", "y")
    cones = {c.end: c for c in deepest_cones(n.json())}
    assert cones["k"].luts == 2 and cones["k"].nets == ("q0", "$d0", "$d1")
    assert cones["y"].luts == 0 and cones["y"].nets == ("q0", "p")


def test_a_multiplier_registered_anywhere_ends_and_starts_paths():
    n = Netlist()
    n.ff("x", "dx", "x")
    for reg in ("INPUTA", "INPUTB", "INPUTC", "PIPELINE", "OUTPUT"):
        n.cell(f"m{reg}", "MULT18X18D", {"A0": "x", "CLK0": "clk"}, {"P0": f"p{reg}"},
               **{f"REG_{reg}_CLK": "CLK0"})
        n.lut(f"l{reg}", [f"p{reg}"], f"$l{reg}")
        n.ff(f"y{reg}", f"$l{reg}", f"y{reg}")
    cones = {c.end: c for c in deepest_cones(n.json())}
    for reg in ("INPUTA", "INPUTB", "INPUTC", "PIPELINE", "OUTPUT"):
        assert cones[f"y{reg}"].nets == (f"p{reg}", f"$l{reg}"), reg  # the product starts
        assert f"m{reg} (MULT18X18D)" in cones, reg  # its input ends a path
    # The array's delay is charged after input registers only, not after an output or
    # pipeline register.
    delays = {reg: cones[f"y{reg}"].score_ns - 2 * route(1) - LUT
              for reg in ("INPUTB", "PIPELINE")}
    assert delays == pytest.approx({"INPUTB": CLK_TO_Q + MULT, "PIPELINE": CLK_TO_Q})


def test_no_input_of_a_carry_cells_second_half_reaches_its_first_sum():
    for pin in ("A1", "B1", "C1", "D1"):
        n = Netlist()
        n.ff("a", "da", "a")
        n.cell("c", "CCU2C", {"A0": "a", pin: "$x"}, {"S0": "$s0"})
        n.lut("l", ["$s0"], "$x")  # a loop only if S0 read the second half
        n.ff("s", "$s0", "s")
        assert deepest_cones(n.json(), 1)[0].nets == ("a", "$s0"), pin


def test_yosys_names_come_after_the_designs_and_ports_are_as_wide_as_their_bits():
    n = chain(1)
    n.buses["$q"] = ["q0"]  # as short, and first in order, but Yosys'
    n.port("wide", "output", ["q0", "$n0", "r"])
    cones = {c.end: c for c in deepest_cones(n.json())}
    assert cones["r"].start == "q0"
    assert cones["wide (output port)"].width == 3


def test_ties_pick_the_lowest_net_and_names_the_shortest():
    # Equal inputs of a LUT, in either pin order, and equal bits of a register: the net
    # numbered first wins (a before b), so the order does not depend on the netlist's.
    n = Netlist()
    n.ff("a", "da", "a")
    n.ff("b", "db", "b")
    n.buses["a_longer_alias"] = ["a"]  # a second name of net a: the shorter one is shown
    n.lut("l1", ["b", "a"], "$l1")
    n.ff("r", "$l1", "r")
    n.lut("l2", ["a", "b"], "$l2")
    n.ff("s", "$l2", "s")
    n.lut("t0", ["a"], "$t0")
    n.lut("t1", ["b"], "$t1")
    n.ff("t", "$t0", "t0")
    n.ff("t", "$t1", "t1", bit=1)
    cones = {c.end: c for c in deepest_cones(n.json())}
    assert cones["r"].nets == ("a", "$l1") and cones["s"].nets == ("a", "$l2")
    assert cones["t"].width == 2 and cones["t"].nets == ("a", "$t0")


def test_block_ram_read_and_multipliers_start_paths_with_their_delays():
    n = Netlist()
    n.cell("ram", "DP16KD", {"CLKB": "clk", "ADB0": "addr"}, {"DOB0": "rd"},
           REGMODE_B="NOREG")
    n.lut("after_ram", ["rd"], "$r")
    n.ff("x", "$r", "x")
    n.ff("ra", "d", "addr")
    # A multiplier with no register at all is a path through; one with input registers starts.
    n.cell("mcomb", "MULT18X18D", {"A0": "x", "B0": "x"}, {"P0": "p"})
    n.ff("y", "p", "y")
    n.cell("mreg", "MULT18X18D", {"A0": "x", "CLK0": "clk"}, {"P0": "pr"},
           REG_INPUTA_CLK="CLK0")
    n.ff("z", "pr", "z")
    cones = {c.end: c for c in deepest_cones(n.json())}
    assert cones["x"].score_ns == pytest.approx(EBR + route(1) + LUT + route(1))
    assert cones["x"].start == "rd"
    # x (fan-out 3: both multipliers) -> the multiplier's array -> y
    assert cones["y"].score_ns == pytest.approx(CLK_TO_Q + route(3) + MULT + route(1))
    assert cones["y"].nets == ("x", "p") and cones["y"].luts == 0
    assert cones["z"].score_ns == pytest.approx(CLK_TO_Q + MULT + route(1))
    assert cones["z"].start == "pr"
    # Registered at its output, the product leaves at a register's clock-to-Q.
    n.cell("mout", "MULT18X18D", {"A0": "x", "CLK0": "clk"}, {"P0": "po"},
           REG_OUTPUT_CLK="CLK0")
    n.lut("after", ["po"], "$w")
    n.ff("w", "$w", "w")
    assert {c.end: c for c in deepest_cones(n.json())}["w"].score_ns == pytest.approx(
        CLK_TO_Q + route(1) + LUT + route(1))
    assert "mreg (MULT18X18D)" in cones and "ram (DP16KD)" in cones  # inputs end paths


def test_ports_start_and_end_paths():
    n = Netlist()
    n.port("din", "input", ["din"])
    n.lut("l", ["din"], "$o")
    n.port("dout", "output", ["$o"])
    (top,) = deepest_cones(n.json())
    assert (top.end, top.start, top.luts) == ("dout (output port)", "din", 1)


def test_equal_scores_are_ordered_by_name():
    n = Netlist()
    for name in ("b", "a", "c"):
        n.ff(name, "q", name)
    n.ff("q", "d", "q")
    assert [c.end for c in deepest_cones(n.json())][:3] == ["a", "b", "c"]


def looped() -> Netlist:
    n = chain(1)
    n.lut("l1", ["$n0", "$m2"], "$m1")
    n.lut("l2", ["$m1"], "$m2")
    n.ff("m", "$m1", "m")
    return n


def test_a_combinational_loop_is_an_error_naming_a_net():
    with pytest.raises(HwsimError, match=r"combinational loop through \$m[12]"):
        deepest_cones(looped().json())


def broken(edit: str) -> dict:
    nl = chain(1).json()
    top = nl["modules"]["top"]
    if edit == "netnames":
        del top["netnames"]
    elif edit == "directions":
        del top["cells"]["lut0"]["port_directions"]
    else:
        top["ports"] = {"o": {"bits": [3]}}
    return nl


@pytest.mark.parametrize("bad", [{}, {"modules": {"a": {}, "b": {}}}, {"modules": []}, [],
                                 {"modules": "x"}, broken("netnames"), broken("directions"),
                                 broken("port")])
def test_not_a_netlist_is_an_error(bad):
    with pytest.raises(HwsimError, match="netlist"):
        deepest_cones(bad)


def test_the_top_module_is_the_one_marked_top_and_count_is_not_negative():
    nl = chain(2).json()
    nl["modules"]["MULT18X18D"] = {"attributes": {"blackbox": "1"}, "cells": {}}  # as Yosys
    assert deepest_cones(nl, 1)[0].end == "r"
    with pytest.raises(HwsimError, match="count must be at least 0, not -1"):
        deepest_cones(nl, -1)


def test_endpoint_names_and_the_flows_rank_and_file(tmp_path):
    n = chain(3)
    n.cell("ram", "DP16KD", {"CLKA": "clk", "ADA0": "$n2"}, {"DOA0": "rd"})
    nl = n.json()
    assert endpoint_name(nl, "r_TRELLIS_FF_Q") == "r"
    assert endpoint_name(nl, "ram") == "ram (DP16KD)"
    with pytest.raises(HwsimError, match="no cell 'nope'"):
        endpoint_name(nl, "nope")
    typeless = json.loads(json.dumps(nl))
    del typeless["modules"]["top"]["cells"]["ram"]["type"]
    with pytest.raises(HwsimError, match="no cell 'ram'"):
        endpoint_name(typeless, "ram")
    (tmp_path / "netlist.json").write_text(json.dumps(nl))
    ranked = [c.end for c in deepest_cones(nl, 99)]
    assert ranked[:2] == ["r", "ram (DP16KD)"]
    assert cone_rank(tmp_path, "ram.ADA0") == (1, len(ranked))
    assert cone_rank(tmp_path, "made_by_nextpnr.D") is None
    written = json.loads(write_cones(tmp_path).read_text())
    assert [c["end"] for c in written["cones"]] == ranked
    # A netlist the ranking refuses: the file says why, the flow goes on, no rank.
    (tmp_path / "netlist.json").write_text(json.dumps(looped().json()))
    assert "combinational loop" in json.loads(write_cones(tmp_path).read_text())["error"]
    assert cone_rank(tmp_path, "r_TRELLIS_FF_Q.DI") is None
