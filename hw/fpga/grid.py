"""A rows x cols array of any single-PE component, for the FPGA scaling study.

The RTL library has a PE array for the BitMoD PE only; the MACs and the bipolar PE are single
PEs. `PeGrid` lays copies out the way the simulator's array model assumes (rows map output
channels, columns map tokens): the weight-side ports are broadcast along a row, the
activation-side ports down a column, every other input (handshake) goes to all PEs, and every
output is kept per PE. Identical registers behind shared ports (e.g. the operand registers of
PEs in one column) are merged by Yosys, as they would be in a hand-written array.
"""

from __future__ import annotations

from collections.abc import Callable

from amaranth.hdl import Module, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["PeGrid"]


class PeGrid(wiring.Component):
    """``rows x cols`` PEs built by ``factory()``, ports broadcast as in the simulator's array.

    Ports (for every input port ``p`` of the PE, by role):
        ``p_r<i>`` for ``p`` in ``row_ports`` (one per row), ``p_c<j>`` for ``p`` in
        ``col_ports`` (one per column), ``p`` for the other inputs (shared by all PEs);
        ``p_<i>_<j>`` for every output port of PE (i, j).

    Args:
        factory: builds one PE (a `wiring.Component` with flat ports).
        rows, cols: the array shape (positive integers).
        row_ports: PE inputs broadcast along a row (the weights).
        col_ports: PE inputs broadcast down a column (the activations).
    """

    def __init__(
        self,
        factory: Callable[[], wiring.Component],
        rows: int,
        cols: int,
        *,
        row_ports: tuple[str, ...] = ("w",),
        col_ports: tuple[str, ...] = ("a",),
    ) -> None:
        for label, value in (("rows", rows), ("cols", cols)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{label} must be a positive integer, not {value!r}")
        self.rows, self.cols = rows, cols
        self.pes = [[factory() for _ in range(cols)] for _ in range(rows)]
        proto = self.pes[0][0]
        members = dict(proto.signature.members.items())
        unknown = sorted(set(row_ports + col_ports) - set(members))
        if unknown:
            raise ValueError(f"ports {unknown} are not ports of the PE ({sorted(members)})")
        self._row_ports, self._col_ports = row_ports, col_ports
        ports: dict = {}
        for name, member in members.items():
            if member.is_signature:
                raise ValueError(f"PE port {name!r} is an interface; PeGrid takes flat ports")
            if member.flow == wiring.Out:
                for i in range(rows):
                    for j in range(cols):
                        ports[f"{name}_{i}_{j}"] = Out(member.shape)
            elif name in row_ports:
                ports.update({f"{name}_r{i}": In(member.shape) for i in range(rows)})
            elif name in col_ports:
                ports.update({f"{name}_c{j}": In(member.shape) for j in range(cols)})
            else:
                ports[name] = In(member.shape)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        for i, row in enumerate(self.pes):
            for j, pe in enumerate(row):
                m.submodules[f"pe_{i}_{j}"] = pe
                for name, member in pe.signature.members.items():
                    port = Value.cast(getattr(pe, name))
                    if member.flow == wiring.Out:
                        m.d.comb += getattr(self, f"{name}_{i}_{j}").eq(port)
                    elif name in self._row_ports:
                        m.d.comb += port.eq(getattr(self, f"{name}_r{i}"))
                    elif name in self._col_ports:
                        m.d.comb += port.eq(getattr(self, f"{name}_c{j}"))
                    else:
                        m.d.comb += port.eq(getattr(self, name))
        return m
