"""Parsers for what Yosys and nextpnr write: cell statistics, utilization, fmax, critical path.

Pure functions over the tools' text, tested on real logs stored in ``tests/hw/fpga/data``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from hwsim.errors import HwsimError

__all__ = [
    "CriticalPath",
    "NextpnrLog",
    "NextpnrReport",
    "Shortfall",
    "classify_cells",
    "clock_name",
    "find_shortfalls",
    "gate_depth",
    "nextpnr_progress",
    "parse_nextpnr_log",
    "parse_nextpnr_report",
    "parse_yosys_stat",
]

# Yosys cell type -> generic resource, per synthesis target. Types not listed count as "other".
_CELL_CLASSES = {
    "ecp5": {
        "LUT4": "logic",
        "TRELLIS_FF": "ff",
        "CCU2C": "carry",
        "MULT18X18D": "dsp",
        "ALU54B": "dsp",
        "DP16KD": "bram",
        "TRELLIS_DPR16X4": "lutram",
    },
    "ice40": {
        "SB_LUT4": "logic",
        "SB_CARRY": "carry",
        "SB_MAC16": "dsp",
        "SB_RAM40_4K": "bram",
        "SB_SPRAM256KA": "spram",
    },
    "generic": {"$lut": "logic"},
}
# Flip-flop cell types: the iCE40 SB_DFF family and Yosys' internal $_DFF_*/$_SDFF_*/... cells.
_FF_RE = re.compile(r"^(SB_DFF\w*|\$_(S|AL)?DFF\w*|\$_DFFSR\w*|\$_DLATCH\w*)$")

_UTIL_RE = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%\s*$")
_FMAX_RE = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz")
_NO_BELS_RE = re.compile(r"no BELs remaining to implement cell type '(\w+)'")
# nextpnr names a clock after its global buffer net, e.g. "$glbnet$clk$TRELLIS_IO_IN" (ECP5)
# or "clk$SB_IO_IN_$glb_clk" (iCE40); the design's own name is the part before the suffixes.
_CLOCK_NOISE_RE = re.compile(r"^\$glbnet\$|\$(TRELLIS_IO_IN|SB_IO_IN)(_\$glb_clk)?$")


def clock_name(net: str) -> str:
    """The design's clock name in a nextpnr clock net name (``"$glbnet$clk$TRELLIS_IO_IN"`` ->
    ``"clk"``); other names are returned unchanged."""
    return _CLOCK_NOISE_RE.sub("", net) or net


def parse_yosys_stat(text: str) -> dict[str, int]:
    """Cell counts by type of the whole design from Yosys ``stat -json`` output.

    Yosys' bookkeeping cell ``$scopeinfo`` (no hardware) is left out.

    Raises:
        HwsimError: the text is not a Yosys ``stat -json`` report.
    """
    try:
        stat = json.loads(text)
        cells = stat["design"]["num_cells_by_type"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise HwsimError(f"not a Yosys 'stat -json' report: {exc}") from exc
    return {k: int(v) for k, v in sorted(cells.items()) if k != "$scopeinfo"}


def classify_cells(cells: dict[str, int], target: str) -> dict[str, int]:
    """Sum cell counts into generic resources (``logic``, ``ff``, ``carry``, ``dsp``, ``bram``,
    ...; anything unknown to ``target`` goes to ``other``).

    Args:
        cells: counts by Yosys cell type (`parse_yosys_stat`).
        target: ``"ecp5"``, ``"ice40"`` or ``"generic"`` (Yosys ``synth -lut 4``).
    """
    table = _CELL_CLASSES[target]
    out: dict[str, int] = {}
    for cell, count in cells.items():
        kind = table.get(cell) or ("ff" if _FF_RE.match(cell) else "other")
        out[kind] = out.get(kind, 0) + count
    return out


@dataclass(frozen=True)
class NextpnrLog:
    """What a nextpnr log says.

    Attributes:
        utilization: bel type -> (used, available) from "Device utilisation" (printed before
            placement, so also present when the design does not fit).
        max_freq_mhz: clock -> the last "Max frequency" line (nextpnr prints one estimate
            before routing and the final one after).
        missing_bel_types: cell types nextpnr found no bels left for ("Unable to place").
        errors: the ``ERROR:`` lines.
    """

    utilization: dict[str, tuple[int, int]]
    max_freq_mhz: dict[str, float]
    missing_bel_types: tuple[str, ...]
    errors: tuple[str, ...]


def parse_nextpnr_log(text: str) -> NextpnrLog:
    """Parse a nextpnr-ecp5 / nextpnr-ice40 log (``-l FILE`` or its console output)."""
    utilization: dict[str, tuple[int, int]] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Info: Device utilisation:"):
            utilization = {}  # keep only the last table (there is one per run)
            for row in lines[i + 1 :]:
                m = _UTIL_RE.match(row)
                if not m:
                    break
                utilization[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    fmax = {clock_name(c): float(mhz) for c, mhz in _FMAX_RE.findall(text)}  # last one wins
    errors = tuple(line for line in lines if line.startswith("ERROR:"))
    missing = tuple(dict.fromkeys(_NO_BELS_RE.findall(text)))
    return NextpnrLog(utilization, fmax, missing, errors)


# router1's progress table, one row per 1000 iterations: "... | remaining| time spent |".
_ROUTER_ROW = re.compile(r"^Info:\s+\d+ \|\s+\d+\s+\d+ \|\s+\d+\s+\d+ \|\s+(\d+)\|"
                         r"\s+[\d.]+\s+([\d.]+)\|$", re.MULTILINE)
_ROUTE_START = re.compile(r"^Info: Routing (\d+) arcs\.$", re.MULTILINE)


def nextpnr_progress(log: str) -> str:
    """What a nextpnr run is doing, from its log so far, in a few words (for a status line:
    a large design routes for an hour)."""
    if "\nInfo: Program finished normally." in log:
        return "done"
    if "\nInfo: Routing complete." in log:
        return "timing analysis"
    start = _ROUTE_START.search(log)
    if start:
        rows = _ROUTER_ROW.findall(log, start.end())
        if not rows:
            return f"routing {start[1]} arcs"
        left, seconds = rows[-1]
        return f"routing: {left} of {start[1]} arcs left after {float(seconds):.0f} s"
    if "\nInfo: Routing" in log:  # ECP5's "Routing globals...", router1's "Routing.."
        return "routing"
    if "\nInfo: Running simulated annealing placer for refinement." in log:
        return "placing (refinement)"
    if "\nInfo: Running " in log or "\nInfo: Creating initial analytic placement" in log:
        return "placing"
    return "packing" if "\nInfo: Packing" in log else "starting"


@dataclass(frozen=True)
class CriticalPath:
    """The longest register-to-register path of one clock.

    Attributes:
        clock: the clock net as nextpnr names it.
        start: startpoint, ``cell.port``.
        end: endpoint, ``cell.port``.
        delay_ns: sum of the path's logic, routing and clock-to-q delays.
        logic_levels: cells the path passes through (its "logic" segments).
    """

    clock: str
    start: str
    end: str
    delay_ns: float
    logic_levels: int


@dataclass(frozen=True)
class NextpnrReport:
    """nextpnr's ``--report`` JSON, reduced to what hwsim reports.

    Attributes:
        utilization: bel type -> (used, available).
        fmax_mhz: clock -> (achieved, requested) in MHz.
        critical_paths: one per clock, register to register (paths to and from pins are left
            out: they depend on the board, not the design).
    """

    utilization: dict[str, tuple[int, int]]
    fmax_mhz: dict[str, tuple[float, float]]
    critical_paths: tuple[CriticalPath, ...]


def _endpoint(point: dict) -> str:
    return f"{point['cell']}.{point['port']}"


def parse_nextpnr_report(text: str) -> NextpnrReport:
    """Parse nextpnr's ``--report`` JSON (written only when placement and routing finished).

    Raises:
        HwsimError: the text is not a nextpnr report.
    """
    try:
        rep = json.loads(text)
        utilization = {
            bel: (int(u["used"]), int(u["available"])) for bel, u in rep["utilization"].items()
        }
        fmax = {
            clock_name(c): (float(f["achieved"]), float(f["constraint"]))
            for c, f in rep["fmax"].items()
        }
        paths = []
        for cp in rep.get("critical_paths", []):
            # Same-clock paths only: "posedge X" -> "posedge X"; "<async>" marks pins. A path
            # between two clocks is no clock's critical path (its launch clock's fmax does
            # not bound it).
            if ("<async>" in (cp["from"], cp["to"]) or not cp["path"]
                    or clock_name(cp["from"].split(" ", 1)[-1])
                    != clock_name(cp["to"].split(" ", 1)[-1])):
                continue
            segments = cp["path"]
            paths.append(
                CriticalPath(
                    clock=clock_name(cp["from"].split(" ", 1)[-1]),
                    start=_endpoint(segments[0]["from"]),
                    end=_endpoint(segments[-1]["to"]),
                    delay_ns=round(sum(float(s["delay"]) for s in segments), 3),
                    logic_levels=sum(1 for s in segments if s["type"] == "logic"),
                )
            )
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise HwsimError(f"not a nextpnr --report JSON: {exc}") from exc
    return NextpnrReport(utilization, fmax, tuple(paths))


@dataclass(frozen=True)
class Shortfall:
    """A resource the design needs more of than the device has."""

    bel: str
    needed: int
    available: int

    def __str__(self) -> str:
        return f"{self.bel}: needs {self.needed}, device has {self.available}"


def find_shortfalls(log: NextpnrLog, needed_by_bel: dict[str, int]) -> list[Shortfall]:
    """Resources that do not fit, from a nextpnr log (a failed run or a ``--pack-only`` one).

    A bel type over 100% in the utilization table is a shortfall. So is a bel type the design
    needs (``needed_by_bel``: Yosys' cell counts mapped to bel types by the caller) that the
    table does not list, i.e. the device has none (DSPs on an iCE40 HX), reported with
    ``available == 0``.
    """
    out = [Shortfall(bel, used, avail) for bel, (used, avail) in log.utilization.items()
           if used > avail]
    if log.utilization:  # no table: the run stopped before packing, nothing to compare
        out += [Shortfall(bel, needed, 0) for bel, needed in sorted(needed_by_bel.items())
                if needed > 0 and bel not in log.utilization]
    return out


# 2-input gates of Yosys' generic mapping (``abc -g`` with `GATE_DEPTH_GATES`); inverters and
# buffers are free (a CMOS gate absorbs them), constants and flip-flops end a path.
GATE_DEPTH_GATES = "AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT"
_TWO_INPUT = {f"$_{g}_" for g in GATE_DEPTH_GATES.split(",")}
_FREE = {"$_NOT_", "$_BUF_"}


def gate_depth(netlist: dict, top: str = "top") -> int:
    """Longest register-to-register (or port-to-register, register-to-port) path of a Yosys
    JSON netlist mapped to 2-input gates, counted in 2-input gates.

    Every cell that is neither a 2-input gate nor an inverter/buffer (flip-flops of any kind)
    starts and ends paths: its outputs are at depth 0 and its inputs are endpoints.

    Raises:
        HwsimError: a combinational loop or an unknown gate type between registers.
    """
    module = netlist["modules"][top]
    driver: dict[int, tuple[str, list[int]]] = {}
    for cell in module["cells"].values():
        kind = cell["type"]
        if kind in _TWO_INPUT or kind in _FREE:
            ins = [b for pin, bits in cell["connections"].items()
                   if cell["port_directions"][pin] == "input" for b in bits]
            for b in cell["connections"]["Y"]:
                driver[b] = (kind, [i for i in ins if isinstance(i, int)])
    depth: dict[int, int] = {}

    def level(bit: int) -> int:
        # Iterative DFS: nets are numbered by Yosys in no useful order.
        stack = [bit]
        while stack:
            b = stack[-1]
            if b in depth:
                stack.pop()
                continue
            if b not in driver:
                depth[b] = 0
                stack.pop()
                continue
            kind, ins = driver[b]
            todo = [i for i in ins if i not in depth]
            if todo:
                if len(stack) > 4 * len(driver) + 8:
                    raise HwsimError(f"combinational loop in the gate netlist of {top}")
                stack.extend(todo)
                continue
            depth[b] = max((depth[i] for i in ins), default=0) + (kind in _TWO_INPUT)
            stack.pop()
        return depth[bit]

    ends = [b for cell in module["cells"].values()
            if cell["type"] not in _TWO_INPUT and cell["type"] not in _FREE
            for pin, bits in cell["connections"].items()
            if cell["port_directions"][pin] == "input" for b in bits if isinstance(b, int)]
    ends += [b for port in module["ports"].values() if port["direction"] == "output"
             for b in port["bits"] if isinstance(b, int)]
    return max((level(b) for b in ends), default=0)
