"""Switching at a synthesis tool's default activity: the basis of published, vectorless mW.

Design Compiler without a switching-activity file (the BitMoD artifact's ``run_dc.tcl``) gives
every primary input a static probability of 0.5 and a toggle rate of 0.1 per clock cycle and
propagates them probabilistically through the netlist. This module does the same on our gate
netlists, so our power can be compared with the published mW apples to apples; the per-format
energies the simulator uses stay on real operands (`hwsim.hw.asic.energy`).

Propagation (zero-delay, lag one): every net is a two-state chain summarised by the joint
probability of its value in the previous and the current cycle, ``(P00, P01, P10, P11)``; a
gate's output joint follows from its inputs' assuming they are independent (the usual
vectorless assumption, which reconvergent fan-out breaks); a flip-flop's output is its input
one cycle later, so it has the same joint; feedback loops are iterated (damped) towards a
fixed point, at most 200 passes (a wide accumulator's loop converges slowly: within about 1%
of the fixed point on our blocks, the whole BitMoD PE about 1.6% short); a scope that stops at
the limit is listed in `DefaultSwitching.unconverged` and reported by `hwsim area`.
Toggles per cycle of a net are ``P01 + P10``. Handshake inputs are held in steady streaming
(``rst`` low, ``in_valid`` and ``out_ready`` high): the published blocks have no handshake.

Limits, kept because the published figures share them (a vectorless tool propagates the same
way): a loop of flip-flops alone (a toggle flop, a counter's low bit) has no unique fixed
point, since any joint with P01 = P10 is one: it keeps the start, the input default (0.1 toggles
per cycle where a toggle flop really toggles every cycle), so state-driven nets are
underestimated; a flip-flop with enable (``$_DFFE_PP_``) is taken as Q = D one cycle later,
its enable ignored (`gatesim`, on real operands, models it). On the calibrated blocks the
compared sub-blocks do not move with the start; the PE's input registers do, slightly.

Known error (measured 2026-12-02, `hw/asic/README.md`, "revisited"): our netlists' enable
registers are plain flip-flops whose D is a hold multiplexer of their own Q, and the
propagation takes Q as independent of the gates it feeds, though Q is D one cycle earlier: a
register loading a default input under a default enable comes out at 0.152 toggles per cycle
where simulating the same inputs gives 0.064, and control loops are inflated alike. Against
a simulation of the default inputs, every calibrated block's whole data switching is 1.6-2.0x
too high; a chain model of such registers, tried, spread the blocks further and was not
adopted. In the calibrated scopes (the PE's sub-blocks alone) the overestimate is 1.33x on
the PE and 1.5-1.66x on the fitted MACs, so simulating the default exactly
(`simulated_switching`, not used by the calibration) would move the PE's power error from +29%
to +44%, not towards the published figure.

Two scopes, as the published figures were made: the whole block with its primary inputs at the
default activity (a block synthesized as one module), and each sub-block *alone*, with every
net it reads from another sub-block at the default activity (the artifact synthesized each
BitMoD PE sub-block, and the FP16 MAC's multiplier and adder, as its own module). Energies
are in the units of `hwsim.hw.asic.energy` (um^2 of switched gate/diffusion area per cycle).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from hwsim.hw.asic.energy import net_loads
from hwsim.hw.asic.gatesim import GateSim
from hwsim.hw.asic.library import CellLibrary
from hwsim.hw.asic.netlist import CONST0, CONST1, Netlist, gate_function

__all__ = ["DEFAULT_STATIC_PROBABILITY", "DEFAULT_TOGGLE_RATE", "HELD_INPUTS",
           "DefaultSwitching", "default_switching", "net_activity", "simulated_activity",
           "simulated_switching"]

DEFAULT_TOGGLE_RATE = 0.1  # Design Compiler's power_default_toggle_rate, per clock cycle
DEFAULT_STATIC_PROBABILITY = 0.5
HELD_INPUTS = {"rst": 0, "in_valid": 1, "out_ready": 1}


@dataclass(frozen=True)
class DefaultSwitching:
    """Switched capacitance per cycle at the default activity.

    Attributes:
        block: the whole block, its primary inputs at the default activity.
        alone: per sub-block, analysed alone (its inputs from other sub-blocks at the default).
        toggle_rate: the default toggles per cycle of an input.
        unconverged: the scopes (``"block"`` or a sub-block) whose propagation stopped at the
            pass limit before its flip-flops settled: their figure is approximate.
    """

    block: float
    alone: dict[str, float]
    toggle_rate: float
    unconverged: tuple[str, ...] = ()


def _transfer(gate_type: str, k: int) -> np.ndarray:
    """(4**k, 4) 0/1 matrix: the inputs' joint states (2*prev + cur each, first input most
    significant) to the output's joint state."""
    f = gate_function(gate_type)
    m = np.zeros((4 ** k, 4))
    for row, states in enumerate(itertools.product(range(4), repeat=k)):
        prev = f(1, *(s >> 1 for s in states))
        cur = f(1, *(s & 1 for s in states))
        m[row, 2 * prev + cur] = 1.0
    return m


def _default_joint(probability: float, rate: float) -> np.ndarray:
    half = rate / 2
    return np.array([1 - probability - half, half, half, probability - half])


class _Graph:
    """A netlist prepared once for many propagations: net indices (0 and 1 the constants),
    combinational gates grouped by (logic level, type) for one matrix product per group,
    flip-flops' D and Q indices, and the joint every net starts from."""

    def __init__(self, netlist: Netlist, rate: float) -> None:
        gates = netlist.all_gates()
        self.n_comb, self.n_all = len(netlist.gates), len(gates)
        nets = sorted({n for g in gates for _, n in g.inputs if n >= 0}
                      | {g.output for g in gates}
                      | {n for bits in netlist.inputs.values() for n in bits if n >= 0})
        self.nets = nets
        self.index = index = {n: i + 2 for i, n in enumerate(nets)}
        index[CONST0], index[CONST1] = 0, 1
        low, high = (1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0)
        q = np.tile(_default_joint(DEFAULT_STATIC_PROBABILITY, rate), (len(nets) + 2, 1))
        q[0], q[1] = low, high
        # The clock's energy is the flip-flops' clock term (`energy`), never a data toggle.
        for g in netlist.flops:
            for pin, n in g.inputs:
                if pin == "C":
                    q[index[n]] = low
        for port, level in HELD_INPUTS.items():
            for n in netlist.inputs.get(port, ()):
                if n >= 0:
                    q[index[n]] = high if level else low
        self.start = q
        depth: dict[int, int] = {}
        groups: dict[tuple[int, str, int], list[int]] = defaultdict(list)
        for i, g in enumerate(netlist.gates):
            lv = 1 + max((depth.get(n, 0) for _, n in g.inputs), default=0)
            depth[g.output] = lv
            groups[(lv, g.type, len(g.inputs))].append(i)
        self.groups = [(np.array(members),
                        np.array([[index[n] for _, n in gates[i].inputs] for i in members]),
                        np.array([index[gates[i].output] for i in members]),
                        _transfer(gtype, k))
                       for (_, gtype, k), members in sorted(groups.items())]
        self.d_idx = np.array([index[dict(g.inputs)["D"]] for g in netlist.flops], dtype=int)
        self.q_idx = np.array([index[g.output] for g in netlist.flops], dtype=int)
        self.out_idx = np.array([index[g.output] for g in gates], dtype=int)

    def toggles(self, chosen: np.ndarray, tol: float,
                max_passes: int) -> tuple[np.ndarray, bool]:
        """(toggles per cycle of every net index, converged within ``max_passes``),
        propagating through the gates ``chosen`` (a bool per gate of `Netlist.all_gates`);
        every other net keeps its start."""
        q = self.start.copy()
        plan = [(ins[sel], outs[sel], m) for ids, ins, outs, m in self.groups
                if (sel := chosen[ids]).any()]
        sel = chosen[self.n_comb:]
        d_idx, q_idx = self.d_idx[sel], self.q_idx[sel]
        for _ in range(max_passes):
            for ins, outs, m in plan:
                joint = q[ins[:, 0]]
                for col in range(1, ins.shape[1]):
                    joint = (joint[:, :, None] * q[ins[:, col]][:, None, :]).reshape(
                        len(outs), -1)
                out = joint @ m
                # Renormalized: through feedback loops rounding errors would grow
                # geometrically.
                q[outs] = out / out.sum(axis=1, keepdims=True)
            if not len(q_idx):
                return q[:, 1] + q[:, 2], True
            delta = float(np.max(np.abs(q[d_idx] - q[q_idx])))
            # Damped: a loop such as a toggling bit would otherwise swap P00 and P11 forever.
            q[q_idx] = 0.5 * (q[q_idx] + q[d_idx])
            if delta < tol:
                return q[:, 1] + q[:, 2], True
        return q[:, 1] + q[:, 2], False


def net_activity(netlist: Netlist, gates: set[int] | None = None, *,
                 rate: float = DEFAULT_TOGGLE_RATE, tol: float = 1e-5,
                 max_passes: int = 200) -> dict[int, float]:
    """Toggles per cycle of every net, propagating the default activity.

    ``gates`` (indices into `Netlist.all_gates`) restricts the propagation to those gates:
    every other net (primary inputs and nets driven outside) is held at the default activity,
    as an input port of that part synthesized alone. None: the whole block.
    """
    graph = _Graph(netlist, rate)
    chosen = np.ones(graph.n_all, bool)
    if gates is not None:
        chosen[:] = False
        chosen[list(gates)] = True
    t, _ = graph.toggles(chosen, tol, max_passes)
    return {n: float(t[graph.index[n]]) for n in graph.nets}


def default_switching(netlist: Netlist, library: CellLibrary, owners: list[str], *,
                      rate: float = DEFAULT_TOGGLE_RATE, tol: float = 1e-5,
                      max_passes: int = 200) -> DefaultSwitching:
    """`DefaultSwitching` of ``netlist`` whose gates belong to sub-blocks ``owners`` (one per
    gate of `Netlist.all_gates`, as `Netlist.attribute` gives)."""
    graph = _Graph(netlist, rate)
    gates = netlist.all_gates()
    cells = [library.cell(g.type) for g in gates]
    names = sorted(set(owners))
    owner = np.array([names.index(o) for o in owners])
    # Per net index: what one toggle costs driven (load + internal stages), and per
    # sub-block what it costs as that sub-block's input (its own pins only).
    driven_cost = np.zeros(len(graph.start))
    for n, load in net_loads(netlist, library).items():
        driven_cost[graph.index[n]] = load
    np.add.at(driven_cost, graph.out_idx, [c.internal_gate_um2 for c in cells])
    pin_cost = np.zeros((len(names), len(graph.start)))
    clock = np.zeros(len(names))
    for g, c, b in zip(gates, cells, owner, strict=True):
        for pin, net in g.inputs:
            pin_cost[b, graph.index[net]] += c.pin_load(pin)
        if c.is_flop:
            clock[b] += 2.0 * c.clock_gate_um2  # the CLK pin's transistors included
    whole, converged = graph.toggles(np.ones(graph.n_all, bool), tol, max_passes)
    block = float(whole @ driven_cost + clock.sum())
    unconverged = [] if converged else ["block"]
    alone = {}
    for b, name in enumerate(names):
        chosen = owner == b
        t, converged = graph.toggles(chosen, tol, max_passes)
        if not converged:
            unconverged.append(name)
        mine = np.zeros(len(graph.start), bool)
        mine[graph.out_idx[chosen]] = True
        alone[name] = float(t[mine] @ driven_cost[mine] + t[~mine] @ pin_cost[b][~mine]
                            + clock[b])
    return DefaultSwitching(block, alone, rate, tuple(unconverged))


# The default activity measured instead of propagated (`simulated_activity`): not used by the
# calibration (hw/asic/README.md, "revisited": it moves the BitMoD PE's power error from +29%
# to +44%; which basis Design Compiler's figures are closer to is not public), kept so that
# the comparison is reproducible.


def _part(netlist: Netlist, chosen: list[bool]) -> Netlist:
    """The gates ``chosen`` (a bool per gate of `Netlist.all_gates`) as a netlist of their
    own, every net they read from the rest an input port (``n<net>``); the clock stays out."""
    n_comb = len(netlist.gates)
    gates = tuple(g for g, c in zip(netlist.gates, chosen[:n_comb], strict=True) if c)
    flops = tuple(g for g, c in zip(netlist.flops, chosen[n_comb:], strict=True) if c)
    mine = {g.output for g in gates + flops}
    clock = {n for g in netlist.flops for pin, n in g.inputs if pin == "C"}
    reads = sorted({n for g in gates + flops for _, n in g.inputs
                    if n >= 0 and n not in mine and n not in clock})
    return Netlist(netlist.top, gates, flops, MappingProxyType({f"n{n}": (n,) for n in reads}),
                   MappingProxyType({}), MappingProxyType({}), netlist.clock)


def simulated_activity(netlist: Netlist, gates: set[int] | None = None, *,
                       rate: float = DEFAULT_TOGGLE_RATE, streams: int = 64,
                       cycles: int = 1500, warm: int = 100, seed: int = 0) -> dict[int, float]:
    """Toggles per cycle of every net the gates drive or read, measured: ``streams`` runs of
    ``cycles`` cycles from reset (``rst`` high in the first, `HELD_INPUTS` held after), every
    other input an independent two-state Markov stream at static probability 1/2 and ``rate``
    toggles per cycle, the first ``warm`` cycles not counted. The exact expectation of the
    default inputs for these gates (within sampling noise), where `net_activity` propagates it
    with every gate's inputs taken as independent. ``gates``: as `net_activity` (the rest's
    nets read by them become such streams)."""
    if gates is None:
        part = netlist
    else:
        part = _part(netlist, [i in gates for i in range(len(netlist.all_gates()))])
    held = {n: level for port, level in HELD_INPUTS.items() for n in netlist.inputs.get(port, ())}
    reset = set(netlist.inputs.get("rst", ()))
    sim = GateSim(part, streams)
    rng = np.random.default_rng(seed)
    free = [i for i, n in enumerate(sim.input_nets) if n not in held]

    def planes(bits: np.ndarray) -> np.ndarray:  # (..., streams) bool -> one int per stream set
        packed = np.packbits(bits, axis=-1, bitorder="little")
        return np.array([[int.from_bytes(b.tobytes(), "little") for b in row] for row in packed],
                        dtype=object)

    start = planes(rng.random((1, len(free), streams)) < 0.5)[0]
    base = [(sim.mask if held[n] else 0) if n in held else 0 for n in sim.input_nets]
    values = list(start)
    state = tuple(0 for _ in part.flops)
    counts = [0] * len(sim.nets)
    prev = None
    for c in range(cycles):
        inputs = list(base)
        # A stream flips with probability rate / 2 / (1/2) = rate per cycle in either state.
        flips = planes(rng.random((1, len(free), streams)) < rate)[0]
        for j, i in enumerate(free):
            values[j] ^= flips[j]
            inputs[i] = values[j]
        if c == 0:
            for i, n in enumerate(sim.input_nets):
                if n in reset:
                    inputs[i] = sim.mask
        out, state = sim.step(tuple(inputs), state)
        if prev is not None and c >= warm:
            for k, (a, b) in enumerate(zip(prev, out, strict=True)):
                if a != b:
                    counts[k] += (a ^ b).bit_count()
        prev = out
    per = (cycles - max(warm, 1)) * streams
    return {n: counts[k] / per for k, n in enumerate(sim.nets)}


def simulated_switching(netlist: Netlist, library: CellLibrary, owners: list[str],
                        **options) -> DefaultSwitching:
    """`default_switching` with the activity measured by `simulated_activity` (``options``
    passed on): the same scopes and the same costs per toggle."""
    gates = netlist.all_gates()
    cells = [library.cell(g.type) for g in gates]
    driven = net_loads(netlist, library)
    for g, c in zip(gates, cells, strict=True):
        driven[g.output] = driven.get(g.output, 0.0) + c.internal_gate_um2

    def units(chosen: set[int] | None) -> float:
        picked = range(len(gates)) if chosen is None else sorted(chosen)
        mine = {gates[i].output for i in picked}
        pins: dict[int, float] = {}
        clock = 0.0
        for i in picked:
            for pin, n in gates[i].inputs:
                pins[n] = pins.get(n, 0.0) + cells[i].pin_load(pin)
            if cells[i].is_flop:
                clock += 2.0 * cells[i].clock_gate_um2
        toggles = simulated_activity(netlist, chosen, **options)
        return clock + sum(t * (driven.get(n, 0.0) if chosen is None or n in mine
                                else pins.get(n, 0.0)) for n, t in toggles.items())

    alone = {name: units({i for i, o in enumerate(owners) if o == name})
             for name in sorted(set(owners))}
    return DefaultSwitching(units(None), alone, options.get("rate", DEFAULT_TOGGLE_RATE))
