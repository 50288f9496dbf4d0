"""Netlist reading, sub-block attribution, the gate simulator and switching, on hand-made
netlists (no Yosys): every expected number follows from the netlist and the cell table."""

from __future__ import annotations

import itertools

import pytest
from asic_netlists import YOSYS_GATES, adder_chain, module, register_stage

from hwsim.errors import HwsimError
from hwsim.hw.asic.energy import net_loads, switching
from hwsim.hw.asic.gatesim import GateSim, run_stream
from hwsim.hw.asic.library import load_library
from hwsim.hw.asic.netlist import GATE_EXPRESSIONS, parse_netlist
from hwsim.hw.asic.vectorless import _transfer

LIB = load_library()


def test_topological_order_and_names():
    nl = parse_netlist(adder_chain(), "t", LIB)
    order = [g.output for g in nl.gates]
    assert sorted(order) == [5, 6, 8] and order.index(5) < order.index(6)  # g1 before g2
    assert [g.output for g in nl.flops] == [7]
    assert nl.names[6] == ("x",) and nl.names[7] == ("acc",)
    assert set(nl.inputs) == {"a", "b"}  # the clock is not a data input


def test_attribution_follows_the_nearest_named_signal():
    nl = parse_netlist(adder_chain(), "t", LIB)
    owners = nl.attribute(((r"x", "X"), (r"acc", "A")), "ctl")
    by_output = {g.output: o for g, o in zip(nl.all_gates(), owners, strict=True)}
    # g1 (unnamed) reaches x first; g2 drives x; g3 drives only the port o; the flop is acc.
    assert by_output == {5: "X", 6: "X", 8: "ctl", 7: "A"}


def test_bad_netlists_are_one_line_errors():
    loop = module({"clk": ("input", [2]), "o": ("output", [5])},
                  {"g1": ("$_NOT_", {"A": 6, "Y": 5}), "g2": ("$_NOT_", {"A": 5, "Y": 6})})
    with pytest.raises(HwsimError, match="combinational loop"):
        parse_netlist(loop, "t", LIB)
    odd = module({"clk": ("input", [2]), "o": ("output", [5])},
                 {"g": ("$_FANCY_", {"A": 2, "Y": 5})})
    with pytest.raises(HwsimError, match=r"\$_FANCY_"):
        parse_netlist(odd, "t", LIB)


@pytest.mark.parametrize("gate", sorted(t for t in GATE_EXPRESSIONS if not t.startswith("$_DFF")))
def test_every_gate_against_its_truth_table(gate):
    # Yosys' definitions of its internal gates, one stream per input pattern, in both users
    # of the one gate table: the simulator and the default-activity propagation.
    truth = YOSYS_GATES[gate]
    pins = [p for p in "ABCDS" if "{" + p + "}" in GATE_EXPRESSIONS[gate]]
    nets = {p: 3 + i for i, p in enumerate(pins)}
    data = module({"clk": ("input", [2]), **{p: ("input", [n]) for p, n in nets.items()},
                   "y": ("output", [20])},
                  {"g": (gate, {**nets, "Y": 20})})
    nl = parse_netlist(data, "t", LIB)
    streams = 1 << len(pins)
    sim = GateSim(nl, streams)
    inputs = tuple(sum(((s >> i) & 1) << s for s in range(streams)) for i in range(len(pins)))
    values, _ = sim.step(inputs, ())
    y = values[sim.nets.index(20)]
    for s in range(streams):
        bits = {p: (s >> i) & 1 for i, p in enumerate(pins)}
        args = [bits.get(p, 0) for p in "ABCDS"]
        assert (y >> s) & 1 == truth(*args), (gate, bits)
    # Every (previous, current) joint state of the inputs to the output's.
    transfer = _transfer(gate, len(pins))
    for row, states in enumerate(itertools.product(range(4), repeat=len(pins))):
        prev, cur = ([(dict(zip(pins, states, strict=True)).get(p, 0) >> shift) & 1
                      for p in "ABCDS"] for shift in (1, 0))
        assert transfer[row, 2 * truth(*prev) + truth(*cur)] == 1.0, (gate, states)


def test_stream_driver_outputs_cycles_and_toggles():
    nl = parse_netlist(register_stage(), "t", LIB)
    sim = GateSim(nl, 1)
    run = run_stream(sim, [[{"a": 1}, {"a": 0}, {"a": 1}]], 3)
    assert [o["out"] for o in run.outputs[0]] == [1, 0, 1]
    # Counted from the cycle after the first accepted beat: a goes 1->0->1->0 (idle),
    # out follows one cycle later (0->1->0->1), in_valid falls once, out_valid rises once.
    assert run.cycles == 3
    tog = dict(zip(sim.nets, run.toggles, strict=True))
    assert (tog[3], tog[12], tog[8], tog[10]) == (3, 3, 1, 1)

    sw = switching(nl, LIB, sim.nets, run.toggles, run.cycles, 1, ["a", "b"])
    dff = LIB.cell("$_DFF_P_")
    loads = net_loads(nl, LIB)
    assert loads[3] == dff.input_gate_um2["D"]
    assert loads[12] == dff.output_diff_um2
    q_switch = dff.output_diff_um2 + dff.internal_gate_um2
    expect = (3 * dff.input_gate_um2["D"] + 3 * q_switch + dff.input_gate_um2["D"]
              + q_switch) / 3
    assert sw.data == pytest.approx(expect)
    assert sw.clock == pytest.approx(2 * 2 * dff.clock_gate_um2)
    assert sum(sw.by_subblock.values()) == pytest.approx(sw.total)


def test_an_input_read_by_two_sub_blocks_splits_its_switching():
    # Input a (net 3) feeds the D pins of flops in sub-blocks x and y: toggling 4 times in
    # 4 cycles it switches 4 x 2 D-pin loads / 4 = 2 D per cycle (an input port has no
    # internal switching), half to each reader, so the sub-blocks still sum to the total.
    nl = parse_netlist(module(
        {"clk": ("input", [2]), "a": ("input", [3]), "p": ("output", [5]),
         "q": ("output", [6])},
        {"f1": ("$_DFF_P_", {"C": 2, "D": 3, "Q": 5}),
         "f2": ("$_DFF_P_", {"C": 2, "D": 3, "Q": 6})}), "t", LIB)
    sw = switching(nl, LIB, [3], (4,), 4, 1, ["x", "y"])
    dff = LIB.cell("$_DFF_P_")
    d_pin, clk = dff.input_gate_um2["D"], 2 * dff.clock_gate_um2  # per flop and cycle
    assert sw.data == pytest.approx(2 * d_pin)
    assert sw.by_subblock == pytest.approx({"x": d_pin + clk, "y": d_pin + clk})
    assert sum(sw.by_subblock.values()) == pytest.approx(sw.total)


def test_streams_must_stay_in_lockstep():
    nl = parse_netlist(register_stage(), "t", LIB)
    with pytest.raises(HwsimError, match="equal length"):
        run_stream(GateSim(nl, 2), [[{"a": 1}], [{"a": 1}, {"a": 0}]], 1)
