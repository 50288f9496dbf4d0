"""Gate-level cost of one RTL block: area from the cell table, switching from simulation.

    from hwsim.hw.asic.cost import block_cost
    cost = block_cost("bitmod_pe", {"weights": "fp3"}, cache_dir=user_cache_dir())
    cost.area_um2, cost.subblock_area_um2, cost.switching.total

Areas here are in the cell library's own um^2 (sky130_fd_sc_hd) and NAND2 equivalents;
`hwsim.hw.asic.calibration` scales them to a node. A cost is cached (`hwsim.hw.asic.cache`)
under the sha256 of its netlist key (Verilog, Yosys script, cell table), the operand streams
with their expected outputs, and the source of this flow, so a later process reuses it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from hwsim.errors import HwsimError
from hwsim.hw.asic.cache import read_entry, write_entry
from hwsim.hw.asic.energy import Switching, switching
from hwsim.hw.asic.gatesim import GateSim, run_stream
from hwsim.hw.asic.library import load_library
from hwsim.hw.asic.netlist import parse_netlist
from hwsim.hw.asic.operands import block_formats, block_stimulus
from hwsim.hw.asic.subblocks import subblocks_of
from hwsim.hw.asic.synth import netlist_key, synthesize_gates
from hwsim.hw.asic.vectorless import default_switching
from hwsim.hw.rtl.registry import build, get_block, resolve_params
from hwsim.hw.rtl.verilog import to_verilog

__all__ = ["Activity", "BlockCost", "block_cost"]


@dataclass(frozen=True)
class Activity:
    """Switching of the block running one weight format on the operand stream.

    Attributes:
        weight_format: the `hwsim.dtypes` format of the weights.
        switching: switched capacitance per cycle and stream.
        cycles: simulated cycles (one stream); weights: weights it processed.
        operand_source: where the operands came from.
    """

    weight_format: str
    switching: Switching
    cycles: int
    weights: int
    operand_source: str

    @property
    def units_per_weight(self) -> float:
        """Switched capacitance per weight processed (cycles per weight included)."""
        return self.switching.total * self.cycles / self.weights


@dataclass(frozen=True)
class BlockCost:
    """What synthesis and activity simulation say about one block.

    Attributes:
        block, params: the RTL block and all its parameter values.
        verilog_sha256: hash of the Verilog synthesized.
        cells: gate type -> count.
        area_um2: total cell area in the library's um^2.
        nand2_eq: area in NAND2 equivalents.
        flops: flip-flop count.
        subblock_area_um2: area per sub-block (library um^2).
        activity: per weight format the block runs (native first); empty when there is no
            operand model for the block. The gates matched the golden model on every output
            of every format (else `block_cost` raises).
        cached: the netlist or the whole cost came from a cache (no Yosys run).
        default_block: switching per cycle at a synthesis tool's default activity, the whole
            block (`hwsim.hw.asic.vectorless`): what published, vectorless mW compare with.
        default_alone: the same per sub-block, each analysed alone (its inputs at the default).
        default_unconverged: the default-activity scopes (``"block"`` or sub-blocks) that
            stopped at the propagation's pass limit (`DefaultSwitching.unconverged`).
    """

    block: str
    params: dict
    verilog_sha256: str
    cells: dict[str, int]
    area_um2: float
    nand2_eq: float
    flops: int
    subblock_area_um2: dict[str, float]
    activity: tuple[Activity, ...] = ()
    cached: bool = False
    library: str = field(default="sky130_fd_sc_hd")
    default_block: float = 0.0
    default_alone: dict[str, float] = field(default_factory=dict)
    default_unconverged: tuple[str, ...] = ()

    @property
    def switching(self) -> Switching | None:
        """Switching in the native format (None: not modelled)."""
        return self.activity[0].switching if self.activity else None


_MEMO: dict[tuple, BlockCost] = {}


def block_cost(name: str, params: dict | None = None, cache_dir: Path | None = None, *,
               streams: int = 32, outputs: int = 2) -> BlockCost:
    """Synthesize block ``name`` (parameters ``params`` over its defaults), measure its area
    and, where an operand model exists (`operands.OPERAND_BLOCKS`), its switching.

    Raises:
        HwsimError: unknown block or parameter, synthesis failure, or gates that disagree with
            the golden model (a synthesis or simulation fault; never reported as a cost).
    """

    canonical = get_block(name).name
    values = resolve_params(canonical, params)
    memo_key = (canonical, tuple(sorted(values.items())), streams, outputs)
    if memo_key in _MEMO:
        return _MEMO[memo_key]
    component = build(canonical, **values)
    verilog = to_verilog(component, canonical)
    sub = subblocks_of(canonical)
    stimuli = [block_stimulus(canonical, component, fmt, streams=streams, outputs=outputs)
               for fmt in block_formats(canonical, component)]
    key = _cost_key(netlist_key(verilog, canonical, sub.keep), stimuli)
    result = _cost_from_entry(read_entry(cache_dir, "cost", key), values)
    if result is None:
        result = _measure(canonical, values, verilog, sub, stimuli, cache_dir)
        write_entry(cache_dir, "cost", key, dataclasses.asdict(result))
    _MEMO[memo_key] = result
    return result


@cache
def _flow_source_sha256() -> str:
    """Hash of this flow's code: a changed energy or simulation model invalidates costs."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _cost_key(netlist: str, stimuli: list) -> str:
    # Every field as it is (json is C-fast; dataclasses.asdict deep-copies every beat).
    operands = json.dumps([[getattr(s, f.name) for f in dataclasses.fields(s)]
                           for s in stimuli], sort_keys=True)
    h = hashlib.sha256()
    for part in (netlist, hashlib.sha256(operands.encode()).hexdigest(), _flow_source_sha256()):
        h.update(part.encode() + b"\0")
    return h.hexdigest()


def _cost_from_entry(data: object, params: dict) -> BlockCost | None:
    """The cached cost, or None when there is none or it does not have BlockCost's shape."""
    if not isinstance(data, dict):
        return None
    try:
        activity = tuple(Activity(**{**a, "switching": Switching(**a["switching"])})
                         for a in data["activity"])
        return BlockCost(**{**data, "params": params, "activity": activity, "cached": True,
                            "default_unconverged": tuple(data["default_unconverged"])})
    except (TypeError, KeyError):
        return None


def _measure(canonical: str, values: dict, verilog: str, sub, stimuli: list,
             cache_dir: Path | None) -> BlockCost:
    data, _, cached = synthesize_gates(verilog, canonical, cache_dir, keep=sub.keep)
    lib = load_library()
    netlist = parse_netlist(data, canonical, lib)
    gates = netlist.all_gates()
    owners = netlist.attribute(sub.rules, sub.default)
    areas: Counter[str] = Counter()
    for g, b in zip(gates, owners, strict=True):
        areas[b] += lib.cell(g.type).area_um2
    area = sum(areas.values())
    default = default_switching(netlist, lib, owners)
    cost = {
        "block": canonical, "params": values,
        "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest(),
        "cells": dict(sorted(Counter(g.type for g in gates).items())),
        "area_um2": area, "nand2_eq": lib.nand2_equivalents(area), "flops": len(netlist.flops),
        "subblock_area_um2": dict(sorted(areas.items())), "cached": cached, "library": lib.name,
        "default_block": default.block, "default_alone": default.alone,
        "default_unconverged": default.unconverged,
    }
    activity = []
    sim = None
    for stim in stimuli:
        sim = sim or GateSim(netlist, len(stim.beats))
        run = run_stream(sim, stim.beats, len(stim.expected[0]), stim.out_ports)
        if [list(o) for o in run.outputs] != stim.expected:
            raise HwsimError(f"{canonical}: the synthesized gates disagree with the golden "
                             f"model on {stim.weight_format} operands; no cost reported")
        sw = switching(netlist, lib, sim.nets, run.toggles, run.cycles, run.streams, owners)
        activity.append(Activity(stim.weight_format, sw, run.cycles, stim.weights, stim.source))
    return BlockCost(**cost, activity=tuple(activity))
