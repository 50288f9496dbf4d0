"""Cycle-based simulation of a gate netlist with toggle counting on every net.

The netlist is compiled once into a Python function that evaluates every gate with bitwise
operations on Python integers: bit ``l`` of every value is independent stream ``l``, so one
pass simulates many streams (e.g. the rows of a weight matrix) in lockstep. Zero-delay:
glitches are not counted (the usual RTL-activity assumption; it underestimates arithmetic
logic's switching, which the energy calibration absorbs).

The stream driver follows the blocks' valid/ready convention (`hwsim.hw.rtl` README): ``rst``
high for one cycle, then one beat offered per cycle while beats remain, ``out_ready`` high.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwsim.errors import HwsimError
from hwsim.hw.asic.netlist import CONST0, CONST1, GATE_EXPRESSIONS, Netlist

__all__ = ["GateSim", "StreamRun", "run_stream"]



class GateSim:
    """A netlist compiled for ``streams`` parallel streams.

    ``nets`` fixes the order of the value vector `step` returns (`Netlist.nets`).
    """

    def __init__(self, netlist: Netlist, streams: int) -> None:
        self.netlist = netlist
        self.streams = streams
        self.mask = (1 << streams) - 1
        self.nets = netlist.nets()
        self.index = {n: i for i, n in enumerate(self.nets)}
        self.input_nets = [n for bits in netlist.inputs.values() for n in bits if n >= 0]
        self.input_nets = list(dict.fromkeys(self.input_nets))
        self._step = self._compile()

    def _var(self, net: int) -> str:
        if net == CONST0:
            return "0"
        if net == CONST1:
            return "M"
        return f"n{net}"

    def _compile(self):
        nl = self.netlist
        lines = ["def step(inp, state, M):"]
        ins = ", ".join(self._var(n) for n in self.input_nets)
        qs = ", ".join(self._var(g.output) for g in nl.flops)
        lines.append(f"    ({ins}{',' if self.input_nets else ''}) = inp")
        lines.append(f"    ({qs}{',' if nl.flops else ''}) = state")
        for g in nl.gates:
            args = {p: self._var(n) for p, n in g.inputs}
            lines.append(f"    {self._var(g.output)} = {GATE_EXPRESSIONS[g.type].format(**args)}")
        nxt = []
        for g in nl.flops:
            args = {p: self._var(n) for p, n in g.inputs}
            args["Q"] = self._var(g.output)
            nxt.append(GATE_EXPRESSIONS[g.type].format(**args))
        values = ", ".join(self._var(n) for n in self.nets)
        lines.append(f"    return ({values},), ({', '.join(nxt)}{',' if nxt else ''})")
        scope: dict = {}
        exec(compile("\n".join(lines), f"<gatesim {nl.top}>", "exec"), scope)
        return scope["step"]

    def step(self, inputs: tuple[int, ...], state: tuple[int, ...]):
        """(values of `nets`, next flip-flop state) for input-net values ``inputs``."""
        return self._step(inputs, state, self.mask)


@dataclass(frozen=True)
class StreamRun:
    """What `run_stream` measured.

    Attributes:
        outputs: per stream, the output port values of each transfer, in order.
        cycles: clock cycles from the first accepted beat to the last result transfer.
        toggles: per net (`GateSim.nets` order), transitions summed over streams and cycles.
        streams: parallel streams simulated.
    """

    outputs: tuple[tuple[dict[str, int], ...], ...]
    cycles: int
    toggles: tuple[int, ...]
    streams: int


def _bit_planes(values: list[int], width: int) -> list[int]:
    """Per bit of a port, the int whose bit ``l`` is that bit of stream ``l``'s value."""
    planes = []
    for b in range(width):
        plane = 0
        for lane, v in enumerate(values):
            plane |= ((v >> b) & 1) << lane
        planes.append(plane)
    return planes


def run_stream(sim: GateSim, beats: list[list[dict[str, int]]], results: int,
               out_ports: tuple[str, ...] = ("out",), max_cycles: int = 200_000) -> StreamRun:
    """Drive ``beats[stream]`` (the same count per stream) into ``sim`` until ``results``
    outputs per stream have been taken.

    Raises:
        HwsimError: streams that fall out of lockstep (data-dependent handshakes), or no
            result within ``max_cycles``.
    """
    nl, m = sim.netlist, sim.mask
    if len(beats) != sim.streams or len({len(b) for b in beats}) != 1:
        raise HwsimError(f"{nl.top}: need {sim.streams} streams of equal length")
    n_beats = len(beats[0])
    data_ports = [p for p in nl.inputs if p not in ("rst", "in_valid", "out_ready")]
    pos = {n: i for i, n in enumerate(sim.input_nets)}
    planes = []
    for j in range(n_beats):
        vec = [0] * len(sim.input_nets)
        for p in data_ports:
            bits = nl.inputs[p]
            for net, plane in zip(bits, _bit_planes([b[j].get(p, 0) for b in beats], len(bits)),
                                  strict=True):
                if net >= 0:
                    vec[pos[net]] = plane
        planes.append(vec)
    idle = [0] * len(sim.input_nets)

    def control(vec, **levels):
        vec = list(vec)
        for port, level in levels.items():
            for net in nl.inputs.get(port, ()):
                if net >= 0:
                    vec[pos[net]] = m if level else 0
        return tuple(vec)

    idx = {n: i for i, n in enumerate(sim.nets)}

    def level(values, net: int) -> int:
        return m if net == CONST1 else 0 if net == CONST0 else values[idx[net]]

    ready_net, valid_net = nl.outputs["in_ready"][0], nl.outputs["out_valid"][0]
    state = tuple(0 for _ in nl.flops)
    values, state = sim.step(control(idle, rst=1, in_valid=0, out_ready=1), state)
    prev = values
    counts = [0] * len(sim.nets)
    taken: list[list[dict[str, int]]] = [[] for _ in range(sim.streams)]
    j = got = cycles = 0
    started = False
    for _ in range(max_cycles):
        offer = j < n_beats
        values, nxt = sim.step(control(planes[j] if offer else idle, rst=0, in_valid=offer,
                                       out_ready=1), state)
        if started:
            counts = [c + (a ^ b).bit_count() for c, a, b in zip(counts, prev, values,
                                                                 strict=True)]
            cycles += 1
        prev = values
        ready, valid = level(values, ready_net), level(values, valid_net)
        if ready not in (0, m) or valid not in (0, m):
            raise HwsimError(f"{nl.top}: streams fell out of lockstep (data-dependent handshake)")
        if offer and ready:
            j += 1
            started = True
        if valid:
            for lane in range(sim.streams):
                taken[lane].append({p: _read(values, idx, nl.outputs[p], lane) for p in out_ports})
            got += 1
            if got == results:
                break
        state = nxt
    else:
        raise HwsimError(f"{nl.top}: no result after {max_cycles} cycles")
    return StreamRun(tuple(tuple(t) for t in taken), cycles, tuple(counts), sim.streams)


def _read(values, idx, bits, lane) -> int:
    v = 0
    for b, net in enumerate(bits):
        if net == CONST1 or (net >= 0 and (values[idx[net]] >> lane) & 1):
            v |= 1 << b
    return v
