"""A gate netlist read from Yosys JSON: gates, flip-flops, ports, the names on each net, and
the sub-block each gate belongs to.

Nets are Yosys bit numbers; the constants ``"0"``/``"1"`` are nets -1 and -2 (``"x"``/``"z"``
read as 0). Gate inputs are in the gate's pin order (A, B, C, D, S).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from types import MappingProxyType

from hwsim.errors import HwsimError
from hwsim.hw.asic.library import CellLibrary

__all__ = ["CONST0", "CONST1", "GATE_EXPRESSIONS", "Gate", "Netlist", "gate_function", "gate_pins",
           "parse_netlist"]

CONST0, CONST1 = -1, -2
_CONSTS = {"0": CONST0, "1": CONST1, "x": CONST0, "z": CONST0}
_INPUT_PINS = ("A", "B", "C", "D", "S", "E")
_SUFFIX = re.compile(r"(\$\d+)+$")

# Every gate type's function, one table for the simulator (`gatesim`) and the default-activity
# propagation (`vectorless`): a Python expression over its pins, bitwise on ints whose bits are
# independent (``M`` the all-ones mask of as many bits); a flip-flop's is its next state.
GATE_EXPRESSIONS = {
    "$_NOT_": "M ^ {A}",
    "$_BUF_": "{A}",
    "$_AND_": "{A} & {B}",
    "$_NAND_": "M ^ ({A} & {B})",
    "$_OR_": "{A} | {B}",
    "$_NOR_": "M ^ ({A} | {B})",
    "$_XOR_": "{A} ^ {B}",
    "$_XNOR_": "M ^ {A} ^ {B}",
    "$_ANDNOT_": "{A} & (M ^ {B})",
    "$_ORNOT_": "{A} | (M ^ {B})",
    "$_MUX_": "({A} & (M ^ {S})) | ({B} & {S})",
    "$_NMUX_": "M ^ (({A} & (M ^ {S})) | ({B} & {S}))",
    "$_AOI3_": "M ^ (({A} & {B}) | {C})",
    "$_OAI3_": "M ^ (({A} | {B}) & {C})",
    "$_AOI4_": "M ^ (({A} & {B}) | ({C} & {D}))",
    "$_OAI4_": "M ^ (({A} | {B}) & ({C} | {D}))",
    "$_DFF_P_": "{D}",
    "$_DFFE_PP_": "({D} & {E}) | ({Q} & (M ^ {E}))",
}


@dataclass(frozen=True)
class Gate:
    """One library gate instance.

    Attributes:
        type: Yosys gate type (a key of the cell table).
        inputs: (pin, net) in pin order; flip-flops: ``C`` (the clock), ``D`` (and ``E``).
        output: the net it drives (``Y`` or ``Q``).
    """

    type: str
    inputs: tuple[tuple[str, int], ...]
    output: int


@dataclass(frozen=True)
class Netlist:
    """A flat gate netlist.

    Attributes:
        top: module name.
        gates: combinational gates, in evaluation (topological) order.
        flops: flip-flops (``$_DFF_P_`` / ``$_DFFE_PP_``).
        inputs, outputs: port name -> nets, LSB first (the clock is left out of ``inputs``).
        names: net -> the base signal names on it (Amaranth names without ``$N`` suffixes).
    """

    top: str
    gates: tuple[Gate, ...]
    flops: tuple[Gate, ...]
    inputs: MappingProxyType
    outputs: MappingProxyType
    names: MappingProxyType
    clock: str

    def all_gates(self) -> tuple[Gate, ...]:
        return self.gates + self.flops

    def nets(self) -> list[int]:
        """Every driven or input net (constants excluded), in a fixed order."""
        seen = [n for bits in self.inputs.values() for n in bits]
        seen += [g.output for g in self.flops] + [g.output for g in self.gates]
        return list(dict.fromkeys(n for n in seen if n >= 0))

    def attribute(self, rules: tuple[tuple[str, str], ...], default: str) -> list[str]:
        """The sub-block of every gate of `all_gates`.

        A gate belongs to the first named signal it reaches going forward (its own output's
        name first, through combinational gates, stopping at flip-flops, which carry their
        output's name): the base name is matched against ``rules`` ((regex, sub-block), first
        match wins); a gate reaching no matching name gets ``default``.
        """
        compiled = [(re.compile(p), block) for p, block in rules]

        def block_of(net: int) -> str | None:
            for name in self.names.get(net, ()):
                for pattern, block in compiled:
                    if pattern.fullmatch(name):
                        return block
            return None

        fanout: dict[int, list[int]] = {}
        gates = self.all_gates()
        for i, g in enumerate(gates):
            for _, net in g.inputs:
                fanout.setdefault(net, []).append(i)
        n_comb = len(self.gates)
        result: list[str] = []
        for i, g in enumerate(gates):
            found = block_of(g.output)
            if found is None and i < n_comb:
                found = self._search(g.output, fanout, gates, n_comb, block_of)
            result.append(found or default)
        return result

    @staticmethod
    def _search(start, fanout, gates, n_comb, block_of) -> str | None:
        # Breadth first: the nearest named signal downstream decides.
        queue, seen = deque([start]), {start}
        while queue:
            net = queue.popleft()
            for j in fanout.get(net, ()):
                out = gates[j].output
                found = block_of(out)
                if found is not None:
                    return found
                if j < n_comb and out not in seen:
                    seen.add(out)
                    queue.append(out)
        return None


def _bit(b) -> int:
    return _CONSTS[b] if isinstance(b, str) else int(b)


def parse_netlist(data: dict, top: str, library: CellLibrary, clock: str = "clk") -> Netlist:
    """The `Netlist` of module ``top`` in Yosys JSON ``data``, checked against ``library``.

    Raises:
        HwsimError: a gate type the library has no cell for, a combinational loop, or a
            flip-flop not clocked by ``clock``.
    """
    mod = data["modules"][top]
    ports = mod["ports"]
    inputs = {n: tuple(_bit(b) for b in p["bits"]) for n, p in ports.items()
              if p["direction"] == "input" and n != clock}
    outputs = {n: tuple(_bit(b) for b in p["bits"]) for n, p in ports.items()
               if p["direction"] == "output"}
    clock_bits = {_bit(b) for b in ports[clock]["bits"]} if clock in ports else set()
    comb, flops = [], []
    for cname, cell in sorted(mod["cells"].items()):
        ctype = cell["type"]
        if ctype not in library.cells:
            raise HwsimError(f"{top}: synthesis left a {ctype} cell ({cname}) that the cell "
                             f"table {library.name} has no cell for")
        conns = {p: _bit(bits[0]) for p, bits in cell["connections"].items()}
        out_pin = "Q" if "Q" in conns else "Y"
        gate = Gate(ctype, tuple((p, conns[p]) for p in _INPUT_PINS if p in conns), conns[out_pin])
        if out_pin == "Q":
            if conns.get("C") not in clock_bits:
                raise HwsimError(f"{top}: flip-flop {cname} is not clocked by {clock}")
            flops.append(gate)
        else:
            comb.append(gate)
    names: dict[int, list[str]] = {}
    for name, info in sorted(mod["netnames"].items()):
        if info.get("hide_name"):
            continue
        base = _SUFFIX.sub("", name.split(".")[-1])
        for b in info["bits"]:
            if isinstance(b, int) and base not in names.setdefault(b, []):
                names[b].append(base)
    return Netlist(top, tuple(_topological(comb, top)), tuple(flops),
                   MappingProxyType(inputs), MappingProxyType(outputs),
                   MappingProxyType({k: tuple(v) for k, v in names.items()}), clock)


def _topological(gates: list[Gate], top: str) -> list[Gate]:
    driver = {g.output: i for i, g in enumerate(gates)}
    pending = [sum(1 for _, n in g.inputs if n in driver) for g in gates]
    users: dict[int, list[int]] = {}
    for i, g in enumerate(gates):
        for _, n in g.inputs:
            if n in driver:
                users.setdefault(driver[n], []).append(i)
    ready = deque(i for i, p in enumerate(pending) if p == 0)
    order = []
    while ready:
        i = ready.popleft()
        order.append(gates[i])
        for j in users.get(i, ()):
            pending[j] -= 1
            if pending[j] == 0:
                ready.append(j)
    if len(order) != len(gates):
        raise HwsimError(f"{top}: the gate netlist has a combinational loop")
    return order


def gate_pins(gate_type: str) -> tuple[str, ...]:
    """A gate type's input pins in `Gate.inputs` order, as its `GATE_EXPRESSIONS` entry uses
    them."""
    expr = GATE_EXPRESSIONS[gate_type]
    return tuple(p for p in _INPUT_PINS if f"{{{p}}}" in expr)


def gate_function(gate_type: str):
    """A combinational gate's function ``f(M, *inputs)`` of its input values in pin order
    (`Gate.inputs`, `gate_pins`), from `GATE_EXPRESSIONS`: ``f(1, a, b)`` on single bits."""
    expr = GATE_EXPRESSIONS[gate_type]
    pins = gate_pins(gate_type)
    if "{Q}" in expr:
        raise ValueError(f"{gate_type} is a flip-flop, not a combinational gate")
    source = f"lambda M, {', '.join(pins)}: {expr.format(**{p: p for p in pins})}"
    return eval(compile(source, f"<gate {gate_type}>", "eval"))
