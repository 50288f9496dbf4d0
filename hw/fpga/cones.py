"""The deepest register-to-register cones of an ECP5 netlist, ranked before placement.

Placing and routing a large design takes an hour per seed; Yosys' netlist is there in minutes.
`deepest_cones` walks the mapped netlist (``synth_ecp5``'s JSON) from every register input
back to the registers, RAM/DSP outputs and ports that feed it and ranks the endpoints (a
register, all its flip-flops; a block RAM's or registered DSP's inputs; an output port) by a
score in nanoseconds: the cells' delays of nextpnr's ECP5 timing model (speed grade 6: the
values nextpnr charged on the routed critical paths it reported for this project's designs)
plus a routing charge for every net the path crosses, ``ROUTE_NS`` + ``FANOUT_NS`` per
doubling of the net's fan-out (a high-fan-out net spreads its sinks over the die).

The score ranks; it does not predict. Routing is most of a routed path on a large die and
depends on where the placer puts the cells, which no netlist walk knows: on 21 placed seeds
of 9 versions of the 8x8 accelerator core (ECP5-85k), nextpnr's failing endpoint was among
the score's first 3 endpoints (of about 6,000) in 9 of them and its first 50 in 11; nine of
the other ten failed on paths of 0-4 LUTs that placement stretched (``hw/fpga/README.md``).
The two routing constants are the middle of the plateau of that hit rate over a grid of both
(``hw/fpga/README.md``). Cone depth is what a designer can change in the RTL: the first
entries are the cones worth cutting before spending a placement.

Simplifications, none of which the designs here exercise: a LUT RAM (TRELLIS_DPR16X4) read
starts a path at 0 ns instead of running through; a MULT18X18D registered at its output only
charges no array delay to its inputs; inside a carry cell, the first half's data inputs reach
the second half's sum at a LUT's delay.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass

from hwsim.errors import HwsimError

__all__ = ["CONES_WRITTEN", "FANOUT_NS", "ROUTE_NS", "Cone", "deepest_cones", "endpoint_name"]

ROUTE_NS = 1.0  # charged for every net a path crosses, whatever its fan-out
FANOUT_NS = 0.3  # charged per doubling of that net's fan-out
CONES_WRITTEN = 30  # endpoints the flow writes to cones.json

# nextpnr-ecp5's delays at speed grade 6, as its --report JSON states them on routed paths.
_FF_CLK_TO_Q = 0.525
_LUT = 0.236  # any input to F
_CARRY_IN = 0.447  # A/B of a CCU2C to its carry out
_CARRY_THROUGH = 0.036  # FCI -> FCO, the mean of nextpnr's alternating 0 / 0.071 per cell
_CARRY_SUM = 0.443  # FCI -> F (nextpnr also reports 0.403)
_EBR_CLK_TO_OUT = 5.83  # DP16KD read data without its output register (REGMODE NOREG)
_MULT = 3.927  # MULT18X18D's array, input to product

# Cells a path runs through (a MULT18X18D without registers too); every other cell
# (flip-flops, block RAMs, registered DSPs) ends the paths into it and starts those out of it.
_THROUGH = {"LUT4", "CCU2C", "PFUMX", "L6MUX21"}
_LUT_LEVELS = {"LUT4", "PFUMX", "L6MUX21"}
# A combinational multiplier's pins that carry no data through it (clocks, enables, resets).
_CONTROL_PIN = re.compile(r"^(CLK|CE|RST)[AB]?\d*$")
_FF_CELL = re.compile(r"_TRELLIS_FF_Q(_\d+)?$")  # Yosys' name for a register's flip-flops


@dataclass(frozen=True)
class Cone:
    """The deepest path into one endpoint: a register (all its flip-flops), a block RAM's or
    registered DSP's inputs, or an output port.

    Attributes:
        end: the register (its flip-flops' cell name without Yosys' ``_TRELLIS_FF_Q_<i>``
            suffix), ``cell (TYPE)`` for a block RAM or DSP, ``name (output port)``.
        width: the register's flip-flops, else the input bits.
        start: where the deepest path starts: a register bit, a RAM/DSP output or an input port.
        score_ns: the ranking score (module docstring); not a predicted delay.
        luts: LUTs along the path; carries: carry cells (CCU2C) it enters or runs through.
        nets: the nets it crosses, start to end (the start's first).
        max_fanout: the largest fan-out among them.
    """

    end: str
    width: int
    start: str
    score_ns: float
    luts: int
    carries: int
    nets: tuple[str, ...]
    max_fanout: int

    def to_dict(self) -> dict:
        """JSON-ready description."""
        return {"end": self.end, "width": self.width, "start": self.start,
                "score_ns": round(self.score_ns, 3), "luts": self.luts,
                "carries": self.carries, "hops": len(self.nets), "max_fanout": self.max_fanout,
                "nets": list(self.nets)}


def _route(fanout: int) -> float:
    return ROUTE_NS + FANOUT_NS * math.log2(max(fanout, 1))


def _registered(cell: dict, regs: tuple[str, ...]) -> bool:
    params = cell.get("parameters", {})
    return any(params.get(f"REG_{r}_CLK", "NONE") != "NONE" for r in regs)


def _through(cell: dict) -> bool:
    return cell["type"] in _THROUGH or (cell["type"] == "MULT18X18D" and not _registered(
        cell, ("INPUTA", "INPUTB", "INPUTC", "PIPELINE", "OUTPUT")))


def _start_delay(cell: dict) -> float:
    """Clock-to-output of a cell that starts paths (`_through` cells never do)."""
    if cell["type"] == "DP16KD":
        return _EBR_CLK_TO_OUT  # only the unregistered read is measured (the designs build it)
    if cell["type"] == "MULT18X18D":
        return _FF_CLK_TO_Q + (0.0 if _registered(cell, ("OUTPUT", "PIPELINE")) else _MULT)
    return _FF_CLK_TO_Q if cell["type"] == "TRELLIS_FF" else 0.0


def _arcs(cell: dict, out: str) -> list[tuple[str, float]]:
    """(input pin, cell delay) of each input that output ``out`` of a `_through` cell
    depends on."""
    ins = [p for p, d in cell["port_directions"].items()
           if d == "input" and not _CONTROL_PIN.match(p)]
    kind = cell["type"]
    if kind == "MULT18X18D":
        return [(p, _MULT) for p in ins]
    if kind != "CCU2C":
        return [(p, _LUT) for p in ins]
    arcs = []
    for p in ins:
        if out == "S0" and p.endswith("1"):
            continue  # the second half's inputs do not reach the first half's sum
        if p == "CIN":
            arcs.append((p, _CARRY_THROUGH if out == "COUT" else _CARRY_SUM))
        else:
            arcs.append((p, _CARRY_IN if out == "COUT" else _LUT))
    return arcs


def _top_module(netlist: dict) -> dict:
    try:
        tops = [m for m in netlist["modules"].values() if m.get("attributes", {}).get("top")]
    except (KeyError, AttributeError, TypeError) as exc:
        raise HwsimError(f"not a Yosys JSON netlist: {exc!r}") from None
    if len(tops) != 1:
        raise HwsimError(f"a Yosys JSON netlist has one top module; this one has {len(tops)}")
    return tops[0]


def _bit_names(module: dict) -> dict[int, str]:
    """A readable name per net bit: user names before Yosys' ``$`` ones, ``name[i]`` for
    buses."""
    names: dict[int, str] = {}
    ranked = sorted(module["netnames"].items(), key=lambda kv: ("$" in kv[0], len(kv[0]), kv[0]))
    for name, net in ranked:
        bits = net["bits"]
        for i, b in enumerate(bits):
            if isinstance(b, int) and b not in names:
                names[b] = name if len(bits) == 1 else f"{name}[{i}]"
    return names


def _endpoint(cname: str, cell: dict) -> str:
    if cell["type"] == "TRELLIS_FF":
        return _FF_CELL.sub("", cname)
    return f"{cname} ({cell['type']})"


def endpoint_name(netlist: dict, cell: str) -> str:
    """The `Cone.end` that the inputs of ``cell`` belong to (e.g. to find where the endpoint
    of nextpnr's critical path ranks).

    Raises:
        HwsimError: not a Yosys JSON netlist, or no such cell in it.
    """
    cells = _top_module(netlist).get("cells", {})
    if cell not in cells or "type" not in cells[cell]:
        raise HwsimError(f"no cell {cell!r} in the netlist")
    return _endpoint(cell, cells[cell])


def deepest_cones(netlist: dict, count: int = 20) -> tuple[Cone, ...]:
    """The ``count`` endpoints of a ``synth_ecp5`` netlist with the highest scores, highest
    first, each with its deepest path (ties broken by name, so the order is deterministic).

    Raises:
        HwsimError: not a Yosys JSON netlist with one top module, a combinational loop, or a
            negative ``count``.
    """
    if count < 0:
        raise HwsimError(f"count must be at least 0, not {count}")
    module = _top_module(netlist)
    try:
        return _rank(module, count)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise HwsimError(f"not a Yosys JSON netlist: {type(exc).__name__} {exc}") from None


def _rank(module: dict, count: int) -> tuple[Cone, ...]:
    cells = module["cells"]
    names = _bit_names(module)
    driver: dict[int, tuple[str, str]] = {}
    fanout: dict[int, int] = defaultdict(int)
    for cname, cell in cells.items():
        for pin, bits in cell["connections"].items():
            out = cell["port_directions"][pin] == "output"
            for b in bits:
                if isinstance(b, int):
                    if out:
                        driver[b] = (cname, pin)
                    else:
                        fanout[b] += 1
    outputs = {pname: [b for b in port["bits"] if isinstance(b, int)]
               for pname, port in module["ports"].items() if port["direction"] == "output"}
    for bits in outputs.values():
        for b in bits:
            fanout[b] += 1

    # arrival[b]: score at net bit b's driver output; back[b]: the input bit it came from;
    # depth[b]: (LUTs, carry cells) on that path.
    arrival: dict[int, float] = {}
    back: dict[int, int | None] = {}
    depth: dict[int, tuple[int, int]] = {}
    expanded: set[int] = set()  # waiting for their inputs: met again, a loop

    def visit(bit: int) -> None:
        stack = [bit]
        while stack:
            b = stack[-1]
            if b in arrival:
                stack.pop()
                continue
            if b not in driver or not _through(cells[driver[b][0]]):
                # An input port, a constant, or a cell that starts paths.
                start = 0.0 if b not in driver else _start_delay(cells[driver[b][0]])
                arrival[b], back[b], depth[b] = start, None, (0, 0)
                stack.pop()
                continue
            cname, pin = driver[b]
            cell = cells[cname]
            ins = [(i, delay, p == "CIN") for p, delay in _arcs(cell, pin)
                   for i in cell["connections"][p] if isinstance(i, int)]
            todo = [i for i, _, _ in ins if i not in arrival]
            if todo:
                if b in expanded:
                    raise HwsimError(f"combinational loop through {names.get(b, b)} "
                                     f"(cell {cname})")
                expanded.add(b)
                stack.extend(todo)
                continue
            best, src = 0.0, None
            for i, delay, chained in ins:
                hop = 0.0 if chained else _route(fanout[i])  # the carry chain is hard-wired
                at = arrival[i] + hop + delay
                if src is None or at > best or (at == best and i < src):
                    best, src = at, i
            luts, carries = depth[src] if src is not None else (0, 0)
            arrival[b], back[b] = best, src
            depth[b] = (luts + (cell["type"] in _LUT_LEVELS), carries + (cell["type"] == "CCU2C"))
            stack.pop()

    # Endpoints: the data inputs of every cell that ends paths, and the top's output ports.
    ends: dict[str, list[int]] = defaultdict(list)
    width: dict[str, int] = defaultdict(int)
    for cname, cell in cells.items():
        if _through(cell):
            continue
        key = _endpoint(cname, cell)
        live = [b for pin, bits in cell["connections"].items()
                if cell["port_directions"][pin] == "input" and not pin.startswith("CLK")
                for b in bits if isinstance(b, int)]  # not the clocks, not the constants
        if live:
            ends[key] += live
            width[key] += 1 if cell["type"] == "TRELLIS_FF" else len(live)
    for pname, bits in outputs.items():
        if bits:
            ends[f"{pname} (output port)"] = bits
            width[f"{pname} (output port)"] = len(bits)

    scored = []
    for key, bits in ends.items():
        for b in bits:
            visit(b)
        worst = max(bits, key=lambda b: (arrival[b] + _route(fanout[b]), -b))
        scored.append((arrival[worst] + _route(fanout[worst]), key, worst))
    scored.sort(key=lambda s: (-s[0], s[1]))
    cones = []
    for score, key, worst in scored[:count]:
        path = [worst]
        while back[path[-1]] is not None:
            path.append(back[path[-1]])
        path.reverse()
        luts, carries = depth[worst]
        cones.append(Cone(
            end=key, width=width[key], start=names.get(path[0], str(path[0])), score_ns=score,
            luts=luts, carries=carries, nets=tuple(names.get(b, str(b)) for b in path),
            max_fanout=max(fanout[b] for b in path)))
    return tuple(cones)

