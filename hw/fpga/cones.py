"""The deepest register-to-register cones of an ECP5 netlist, ranked before placement.

Placing and routing a large design takes an hour per seed; Yosys' netlist is there in minutes.
`deepest_cones` walks the mapped netlist (``synth_ecp5``'s JSON) from every register input
back to the registers, RAM/DSP outputs and ports that feed it and ranks the endpoints by a
score in nanoseconds: the cells' delays of nextpnr's ECP5 timing model (speed grade 6: the
values nextpnr charged on the routed critical paths it reported for this project's designs)
plus a routing charge for every net the path crosses, ``ROUTE_NS`` + ``FANOUT_NS`` per
doubling of the net's fan-out (a high-fan-out net spreads its sinks over the die).

The score ranks; it does not predict. Routing is most of a routed path on a large die and
depends on where the placer puts the cells, which no netlist walk knows: on 21 placed seeds
of 9 versions of the 8x8 accelerator core (ECP5-85k), nextpnr's failing endpoint was among
the score's first 3 endpoints in 9 of them and its first 50 in 12; the others failed on
shallow paths that placement stretched (long routes from block RAMs or the I/O harness).
The two routing constants are the middle of the plateau of that hit rate over a grid of both
(``hw/fpga/README.md``). Cone depth is what a designer can change in the RTL: the first
entries are the cones worth cutting before spending a placement.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from hwsim.errors import HwsimError

__all__ = ["FANOUT_NS", "ROUTE_NS", "Cone", "deepest_cones", "endpoint_name"]

ROUTE_NS = 1.0  # charged for every net a path crosses, whatever its fan-out
FANOUT_NS = 0.3  # charged per doubling of that net's fan-out

# nextpnr-ecp5's delays at speed grade 6, as its --report JSON states them on routed paths.
_FF_CLK_TO_Q = 0.525
_LUT = 0.236  # any input to F
_CARRY_IN = 0.447  # A/B of a CCU2C to its carry out
_CARRY_THROUGH = 0.036  # FCI -> FCO, the mean of nextpnr's alternating 0 / 0.071 per cell
_CARRY_SUM = 0.443  # FCI -> F
_EBR_CLK_TO_OUT = 5.83  # DP16KD read data without its output register (REGMODE NOREG)
_MULT = 3.927  # MULT18X18D's array, input to product

# Cells a path runs through; every other cell (flip-flops, block RAMs, registered DSPs, I/O
# buffers) ends the paths into it and starts those out of it.
_THROUGH = {"LUT4", "CCU2C", "PFUMX", "L6MUX21"}
_CLOCK_PINS = {"CLK", "CLKA", "CLKB", "CLK0", "CLK1", "CLK2", "CLK3"}


@dataclass(frozen=True)
class Cone:
    """The deepest path into one register (all its bits) or one RAM/DSP/port input.

    Attributes:
        end: the register it loads (the name of the net its flip-flops drive), or
            ``cell.pin`` for a block RAM, DSP or output port.
        width: the register's flip-flops (or the bits of the RAM/DSP pin or output port).
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


def _start_delay(cell: dict) -> float:
    """Clock-to-output of a cell that starts paths (`_THROUGH` cells never do)."""
    kind, params = cell["type"], cell.get("parameters", {})
    if kind == "DP16KD":
        # Only the unregistered read is measured (the designs here build no other).
        return _EBR_CLK_TO_OUT
    if kind == "MULT18X18D":
        registered_out = any(params.get(f"REG_{r}_CLK", "NONE") != "NONE"
                             for r in ("OUTPUT", "PIPELINE"))
        return _FF_CLK_TO_Q + (0.0 if registered_out else _MULT)
    return _FF_CLK_TO_Q if kind == "TRELLIS_FF" else 0.0


def _through_delay(kind: str, pin: str, out: str) -> float:
    if kind != "CCU2C":
        return _LUT
    if pin == "CIN":
        return _CARRY_THROUGH if out == "COUT" else _CARRY_SUM
    return _CARRY_IN if out == "COUT" else _LUT


def _is_comb_mult(cell: dict) -> bool:
    params = cell.get("parameters", {})
    return cell["type"] == "MULT18X18D" and all(
        params.get(f"REG_{r}_CLK", "NONE") == "NONE"
        for r in ("INPUTA", "INPUTB", "INPUTC", "PIPELINE", "OUTPUT"))


def _top_module(netlist: dict) -> dict:
    try:
        tops = [m for m in netlist["modules"].values() if m.get("attributes", {}).get("top")]
    except (KeyError, AttributeError, TypeError) as exc:
        raise HwsimError(f"not a Yosys JSON netlist: {exc}") from exc
    if len(tops) != 1:
        raise HwsimError(f"a Yosys JSON netlist has one top module; this one has {len(tops)}")
    return tops[0]


def _bit_names(module: dict) -> dict[int, str]:
    """A readable name per net bit: user names before Yosys' ``$`` ones, ``name[i]`` for
    buses."""
    names: dict[int, str] = {}
    ranked = sorted(module["netnames"].items(),
                    key=lambda kv: (kv[0].startswith("$") or "$" in kv[0], len(kv[0]), kv[0]))
    for name, net in ranked:
        bits = net["bits"]
        for i, b in enumerate(bits):
            if isinstance(b, int) and b not in names:
                names[b] = name if len(bits) == 1 else f"{name}[{i}]"
    return names


def _endpoint(names: dict[int, str], cname: str, cell: dict, pin: str) -> str:
    q = cell["connections"].get("Q", [None])[0] if cell["type"] == "TRELLIS_FF" else None
    if isinstance(q, int):  # a flip-flop: grouped under its register's name
        return names.get(q, cname).partition("[")[0]
    return f"{cname}.{pin}"


def endpoint_name(netlist: dict, cell: str, pin: str) -> str:
    """The `Cone.end` that an input ``pin`` of ``cell`` belongs to (e.g. to find where the
    endpoint of nextpnr's critical path ranks)."""
    module = _top_module(netlist)
    if cell not in module["cells"]:
        raise HwsimError(f"no cell {cell!r} in the netlist")
    return _endpoint(_bit_names(module), cell, module["cells"][cell], pin)


def deepest_cones(netlist: dict, count: int = 20) -> tuple[Cone, ...]:
    """The ``count`` endpoints of a ``synth_ecp5`` netlist with the highest scores, highest
    first, each with its deepest path (ties broken by name, so the order is deterministic).

    Raises:
        HwsimError: not a Yosys JSON netlist with one top module, or a combinational loop.
    """
    module = _top_module(netlist)
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
    for port in module["ports"].values():
        if port["direction"] == "output":
            for b in port["bits"]:
                if isinstance(b, int):
                    fanout[b] += 1

    def through(cell: dict) -> bool:
        return cell["type"] in _THROUGH or _is_comb_mult(cell)

    # arrival[b]: score at net bit b's driver output; back[b]: the input bit it came from.
    arrival: dict[int, float] = {}
    back: dict[int, int | None] = {}
    luts: dict[int, tuple[int, int]] = {}
    on_stack: set[int] = set()

    def visit(bit: int) -> None:
        stack = [bit]
        while stack:
            b = stack[-1]
            if b in arrival:
                stack.pop()
                on_stack.discard(b)
                continue
            if b not in driver:  # an input port or a constant
                arrival[b], back[b], luts[b] = 0.0, None, (0, 0)
                stack.pop()
                continue
            cname, pin = driver[b]
            cell = cells[cname]
            if not through(cell):
                arrival[b], back[b], luts[b] = _start_delay(cell), None, (0, 0)
                stack.pop()
                continue
            ins = [(p, i) for p, bits in cell["connections"].items()
                   if cell["port_directions"][p] == "input" for i in bits if isinstance(i, int)]
            todo = [i for _, i in ins if i not in arrival]
            if todo:
                if b in on_stack:
                    raise HwsimError(f"combinational loop through {names.get(b, b)} "
                                     f"(cell {cname})")
                on_stack.add(b)
                stack.extend(todo)
                continue
            best, src = -1.0, None
            for p, i in ins:
                hop = 0.0 if p == "CIN" else _route(fanout[i])  # the carry chain is hard-wired
                at = arrival[i] + hop + (_MULT if cell["type"] == "MULT18X18D" else
                                         _through_delay(cell["type"], p, pin))
                if at > best or (at == best and src is not None and i < src):
                    best, src = at, i
            nl, nc = luts[src] if src is not None else (0, 0)
            arrival[b], back[b] = best, src
            luts[b] = (nl + (cell["type"] in {"LUT4", "PFUMX", "L6MUX21"}),
                       nc + (cell["type"] == "CCU2C"))
            stack.pop()
            on_stack.discard(b)

    # Endpoints: inputs of every cell that ends paths, and the top's output ports.
    ends: dict[str, list[int]] = defaultdict(list)
    members: dict[str, set] = defaultdict(set)  # a register's flip-flops, other pins' bits
    for cname, cell in cells.items():
        if through(cell):
            continue
        for pin, bits in cell["connections"].items():
            if cell["port_directions"][pin] != "input" or pin in _CLOCK_PINS:
                continue
            live = [b for b in bits if isinstance(b, int)]  # not the constant inputs
            if live:
                key = _endpoint(names, cname, cell, pin)
                ends[key] += live
                members[key].update([cname] if cell["type"] == "TRELLIS_FF" else live)
    for pname, port in module["ports"].items():
        if port["direction"] == "output":
            live = [b for b in port["bits"] if isinstance(b, int)]
            if live:
                ends[f"{pname} (output port)"] = live
                members[f"{pname} (output port)"] = set(live)

    scored = []
    for key, bits in ends.items():
        for b in bits:
            visit(b)
        worst = max(bits, key=lambda b: (arrival[b] + _route(fanout[b]), -b))
        scored.append((arrival[worst] + _route(fanout[worst]), key, len(members[key]), worst))
    scored.sort(key=lambda s: (-s[0], s[1]))
    cones = []
    for score, key, width, worst in scored[:count]:
        path = [worst]
        while back[path[-1]] is not None:
            path.append(back[path[-1]])
        path.reverse()
        nl, nc = luts[worst]
        cones.append(Cone(
            end=key, width=width, start=names.get(path[0], str(path[0])), score_ns=score,
            luts=nl, carries=nc, nets=tuple(names.get(b, str(b)) for b in path),
            max_fanout=max(fanout[b] for b in path)))
    return tuple(cones)
