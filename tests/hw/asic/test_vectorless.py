"""Default-activity propagation (the published mW's basis) on hand-made netlists."""

from __future__ import annotations

import numpy as np
import pytest
from asic_netlists import adder_chain, counter, enabled_register, hold_register, register_stage

from hwsim.hw.asic.energy import net_loads
from hwsim.hw.asic.library import load_library
from hwsim.hw.asic.netlist import parse_netlist
from hwsim.hw.asic.vectorless import (
    DEFAULT_TOGGLE_RATE,
    default_switching,
    net_activity,
    simulated_activity,
    simulated_switching,
)

T = DEFAULT_TOGGLE_RATE
# Two independent inputs at static probability 1/2 and T toggles per cycle: each is 1 in
# both of two consecutive cycles with probability 1/2 - T/2, so an AND is (1/2 - T/2)^2
# there, 1/4 in a cycle, and toggles 2 (1/4 - (1/2 - T/2)^2) per cycle.
AND_TOGGLES = 2 * (0.25 - (0.5 - T / 2) ** 2)


def test_propagation_through_gates_and_a_flop():
    lib = load_library()
    nl = parse_netlist(adder_chain(), "t", lib)
    toggles = net_activity(nl)
    assert toggles[3] == pytest.approx(T) and toggles[5] == pytest.approx(T)  # input, NOT
    assert toggles[6] == pytest.approx(AND_TOGGLES)
    # The flop's output is its input one cycle later: same statistics (to the fixed point's
    # tolerance); the clock is not a data net.
    assert toggles[7] == pytest.approx(AND_TOGGLES, rel=1e-4)
    assert toggles[8] == pytest.approx(AND_TOGGLES, rel=1e-4)
    assert toggles[2] == 0.0


def test_handshake_inputs_are_held_in_steady_streaming():
    lib = load_library()
    nl = parse_netlist(register_stage(), "t", lib)
    toggles = net_activity(nl)
    assert toggles[8] == 0.0  # in_valid high
    assert toggles[10] == pytest.approx(0.0, abs=1e-5)  # its register quiet (fixed point)
    assert toggles[3] == pytest.approx(T) and toggles[12] == pytest.approx(T, rel=1e-4)


def test_a_part_alone_sees_its_inputs_at_the_default():
    lib = load_library()
    nl = parse_netlist(adder_chain(), "t", lib)
    gates = nl.all_gates()
    owners = ["back" if g.output in (7, 8) else "front" for g in gates]  # flop and last NOT
    sw = default_switching(nl, lib, owners)
    loads = net_loads(nl, lib)
    cell = {g.output: lib.cell(g.type) for g in gates}
    flop = lib.cell("$_DFF_P_")
    clock = 2 * flop.clock_gate_um2
    # Alone, the back part's input (net 6, the AND) toggles at the default, not at the AND's.
    back = (T * flop.pin_load("D") + clock
            + sum(T * (loads[n] + cell[n].internal_gate_um2) for n in (7, 8)))
    assert sw.alone["back"] == pytest.approx(back, rel=1e-4)
    whole = (T * (loads[3] + loads[4] + loads[5]) + clock
             + AND_TOGGLES * sum(loads[n] + cell[n].internal_gate_um2 for n in (6, 7, 8)))
    assert sw.block == pytest.approx(whole, rel=1e-4)


def test_limits_state_loops_keep_their_start_and_enables_are_ignored():
    # Documented limits (vectorless.py), shared with a vectorless tool. A counter's low bit
    # really toggles every cycle (1.0) but a loop of flip-flops alone has no unique fixed
    # point: it keeps the input default. The high bit's loop goes through the low bit:
    # t1 = t1 (1 - t0) + t0 (1 - t1) has the one solution t1 = 1/2 for t0 > 0 (also the truth).
    lib = load_library()
    toggles = net_activity(parse_netlist(counter(), "t", lib))
    assert toggles[3] == pytest.approx(T) and toggles[5] == pytest.approx(T)
    assert toggles[4] == pytest.approx(0.5, abs=1e-3)
    # An enable held low: the register never changes, the model gives its D's toggles.
    toggles = net_activity(parse_netlist(enabled_register(), "t", lib))
    assert toggles[4] == pytest.approx(T, rel=1e-4)


def test_known_error_a_hold_register_is_busier_than_a_simulation_of_its_inputs():
    # The documented error (vectorless.py, "Known error"): Q is propagated as if independent of
    # the hold multiplexer it feeds, though it is that multiplexer's output a cycle earlier.
    # A simulation of the same inputs (independent Markov streams at the default) gives the
    # register's true rate; the propagation says 2.4x that. A fix must change this test and
    # the README's "revisited" section together.
    lib = load_library()
    toggles = net_activity(parse_netlist(hold_register(), "t", lib))
    rng = np.random.default_rng(15)
    n = 400_000
    a, e = (np.cumsum(rng.random(n) < T) & 1 for _ in range(2))
    # q[t] = a[s] for the last cycle s < t with e[s] = 1 (0 before the first).
    last = np.maximum.accumulate(np.where(e == 1, np.arange(n), -1))
    q = np.concatenate(([0], np.where(last[:-1] >= 0, a[last[:-1]], 0)))
    simulated = float(np.mean(q[1:] != q[:-1]))
    assert simulated == pytest.approx(0.064, abs=0.003)
    assert toggles[6] == pytest.approx(0.152, abs=0.002)


def test_a_scope_stopped_at_the_pass_limit_is_reported():
    lib = load_library()
    nl = parse_netlist(counter(), "t", lib)
    owners = ["low" if g.output in (3, 5) else "high" for g in nl.all_gates()]
    assert default_switching(nl, lib, owners).unconverged == ()
    stopped = default_switching(nl, lib, owners, max_passes=2)
    assert stopped.unconverged == ("block", "high")  # the low bit's loop settles at once


def test_the_default_simulated_is_exact_where_propagation_is_and_where_it_is_not():
    # simulated_activity measures the default inputs' switching; where no gate's inputs are
    # correlated (the adder chain) it agrees with the propagation; a counter's low bit toggles
    # every cycle and its high bit every other; the hold register at its true 0.064.
    lib = load_library()
    nl = parse_netlist(adder_chain(), "t", lib)
    sim = simulated_activity(nl, seed=1)
    assert sim[6] == pytest.approx(AND_TOGGLES, rel=0.1)
    assert sim[3] == pytest.approx(T, rel=0.1)
    counted = simulated_activity(parse_netlist(counter(), "t", lib), cycles=200)
    assert counted[3] == 1.0 and counted[4] == 0.5
    held = simulated_activity(parse_netlist(hold_register(), "t", lib), cycles=3000, seed=2)
    assert held[6] == pytest.approx(0.064, abs=0.008)
    # Same scopes and costs as default_switching: alone, the back part reads the AND as a
    # default stream, so both agree within the sampling noise.
    owners = ["back" if g.output in (7, 8) else "front" for g in nl.all_gates()]
    a = default_switching(nl, lib, owners)
    b = simulated_switching(nl, lib, owners, seed=3, cycles=3000)
    assert b.block == pytest.approx(a.block, rel=0.08)
    assert b.alone["back"] == pytest.approx(a.alone["back"], rel=0.08)
