"""`deepest_cones` on small hand-written ECP5 netlists (Yosys' JSON layout), whose scores follow
from the cells' delays and the routing charge by hand."""

from __future__ import annotations

import math

import pytest

from hwsim.errors import HwsimError
from hwsim.hw.fpga.cones import FANOUT_NS, ROUTE_NS, Cone, deepest_cones

CLK_TO_Q, LUT, CARRY_IN, CARRY_SUM, EBR, MULT = 0.525, 0.236, 0.447, 0.443, 5.83, 3.927


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

    def ff(self, name: str, d: str, q: str) -> None:
        # LSR: the synchronous reset, an endpoint too (of the same register)
        self.cell(f"{name}_TRELLIS_FF", "TRELLIS_FF", {"CLK": "clk", "DI": d, "LSR": "rst"},
                  {"Q": q})

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
    n.ff("r_1", "q0", "r1")  # bit 1 of the same register straight from q0
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
    assert "mreg.A0" in cones and "ram.ADB0" in cones  # registered inputs end paths


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


def test_a_combinational_loop_is_an_error_naming_a_net():
    n = chain(1)
    n.lut("l1", ["$n0", "$m"], "$m")
    n.ff("m", "$m", "m")
    with pytest.raises(HwsimError, match=r"combinational loop through \$m"):
        deepest_cones(n.json())


@pytest.mark.parametrize("bad", [{}, {"modules": {"a": {}, "b": {}}}, {"modules": []}])
def test_not_a_netlist_is_an_error(bad):
    with pytest.raises(HwsimError, match="netlist"):
        deepest_cones(bad)
