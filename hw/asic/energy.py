"""Switching energy of a gate netlist from its simulated toggles, in capacitance units.

Each transition of a net charges or discharges its load: the driver's output diffusion plus
the gate area of every input pin it feeds (`hwsim.hw.asic.library` proxies, um^2). A gate's
internal stages switch with its output (their gate area is added per output transition). Every
flip-flop's clock pin and internal clock nets make two transitions each cycle whatever the
data. The sum, in um^2 x transitions, becomes pJ through the node's energy constant
(`hwsim.hw.asic.calibration`). Glitches and wires are not modelled (the constant absorbs
their average share).
"""

from __future__ import annotations

from dataclasses import dataclass

from hwsim.hw.asic.library import CellLibrary
from hwsim.hw.asic.netlist import Netlist

__all__ = ["Switching", "net_loads", "switching"]


@dataclass(frozen=True)
class Switching:
    """Switched capacitance per cycle of one stream (um^2 of gate/diffusion area).

    Attributes:
        data: from data-dependent transitions (nets and internal stages).
        clock: from the flip-flops' clock pins and internal clock nets.
        by_subblock: ``data + clock`` split by the sub-block of the driving gate (input port
            nets count to the sub-block of the gates they feed, shared equally).
        toggle_rate: mean transitions per net and cycle.
    """

    data: float
    clock: float
    by_subblock: dict[str, float]
    toggle_rate: float

    @property
    def total(self) -> float:
        return self.data + self.clock


def net_loads(netlist: Netlist, library: CellLibrary) -> dict[int, float]:
    """Load per net: driver diffusion + gate area of the input pins it feeds (um^2)."""
    loads: dict[int, float] = {}
    for g in netlist.all_gates():
        cell = library.cell(g.type)
        loads[g.output] = loads.get(g.output, 0.0) + cell.output_diff_um2
        for pin, net in g.inputs:
            if net >= 0:
                loads[net] = loads.get(net, 0.0) + cell.pin_load(pin)
    return loads


def switching(netlist: Netlist, library: CellLibrary, nets: list[int], toggles: tuple[int, ...],
              cycles: int, streams: int, subblocks: list[str]) -> Switching:
    """`Switching` per stream-cycle from toggle counts (``toggles[i]`` of ``nets[i]``)."""
    gates = netlist.all_gates()
    owner: dict[int, str] = {g.output: b for g, b in zip(gates, subblocks, strict=True)}
    readers: dict[int, list[str]] = {}
    for g, b in zip(gates, subblocks, strict=True):
        for _, net in g.inputs:
            readers.setdefault(net, []).append(b)
    internal = {g.output: library.cell(g.type).internal_gate_um2 for g in gates}
    loads = net_loads(netlist, library)
    per = cycles * streams
    by: dict[str, float] = {}
    data = 0.0
    for net, count in zip(nets, toggles, strict=True):
        if not count:
            continue
        e = count * (loads.get(net, 0.0) + internal.get(net, 0.0)) / per
        data += e
        if net in owner:
            by[owner[net]] = by.get(owner[net], 0.0) + e
        else:  # an input port: shared by the sub-blocks that read it
            share = readers.get(net, ["inputs"])
            for b in share:
                by[b] = by.get(b, 0.0) + e / len(share)
    clock = 0.0
    for g, b in zip(gates, subblocks, strict=True):
        cell = library.cell(g.type)
        if cell.is_flop:
            e = 2.0 * cell.clock_gate_um2  # the CLK pin's transistors included
            clock += e
            by[b] = by.get(b, 0.0) + e
    rate = sum(toggles) / max(1, len(nets) * per)
    return Switching(data, clock, dict(sorted(by.items())), rate)
