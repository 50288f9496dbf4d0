"""Synthesis of an RTL block to library gates with Yosys, cached by the Verilog's hash.

Flow: ``synth -flatten`` (generic optimisation, no FPGA cells), flip-flops legalized to plain
positive-edge D flip-flops (synchronous reset and enable become gates, as in a library without
such flops), then ABC maps the logic to the two- to four-input gates the cell table
(`hwsim.hw.asic.library`) has a cell for, given as a genlib with each gate's library area
(`abc_genlib`): ABC's area recovery then minimises the area this flow reports, where with
Yosys' built-in gate costs (``abc -g``: a mux costs a NAND2, sky130's mux2_1 is three) it
minimised a different sum. Every gate keeps the unit delay of Yosys' own genlib, so only the
area objective changes. The netlist keeps Amaranth's signal names, which the sub-block
breakdown reads.

A netlist is cached (`hwsim.hw.asic.cache`) under the sha256 of the Verilog, the Yosys script
and the cell table, so a sweep or a later run that revisits a block does not run Yosys again.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from hwsim.errors import HwsimError
from hwsim.hw.asic.cache import read_entry, write_entry
from hwsim.hw.asic.library import CellLibrary, load_library
from hwsim.hw.asic.netlist import gate_function, gate_pins
from hwsim.hw.fpga.tools import run_tool

__all__ = ["CONSTANTS_FILE", "CONSTANTS_VERILOG", "GENLIB_FILE", "SYNTH_SCRIPT", "abc_genlib",
           "netlist_key", "synthesize_gates"]

GENLIB_FILE = "cells.genlib"
# ABC needs constant gates in a genlib and leaves them in the netlist where an output is
# constant: techmapped back to constant drivers, as Yosys does for its own genlib.
CONSTANTS_FILE = "constants.v"
CONSTANTS_VERILOG = ("module ZERO(output Y); assign Y = 1'b0; endmodule\n"
                     "module ONE(output Y); assign Y = 1'b1; endmodule\n")


def _combinational(library: CellLibrary) -> list[str]:
    return [t for t, c in library.cells.items() if not c.is_flop]


def _sum_of_products(gate_type: str) -> str:
    """The gate's function in genlib syntax: the sum of its minterms (from its truth table,
    `netlist.GATE_EXPRESSIONS`, so the genlib and the gate simulator cannot disagree)."""
    f = gate_function(gate_type)
    pins = gate_pins(gate_type)
    terms = []
    for row in range(1 << len(pins)):
        bits = [(row >> i) & 1 for i in range(len(pins))]
        if f(1, *bits) & 1:
            terms.append("*".join(p if b else f"!{p}" for p, b in zip(pins, bits, strict=True)))
    return "+".join(f"({t})" for t in terms) if terms else "CONST0"


def abc_genlib(library: CellLibrary) -> str:
    """A genlib of the table's combinational gates for ABC: each named after its library
    cell, with the cell's area and the unit delay of Yosys' own ``abc -g`` genlib; pins are
    the Yosys gate's (``chtype`` in the script turns the cells back into Yosys gates)."""
    lines = ["GATE ZERO 0 Y=CONST0;", "GATE ONE 0 Y=CONST1;"]
    for t in _combinational(library):
        cell = library.cell(t)
        lines.append(f"GATE {cell.name} {cell.area_um2:.4f} Y={_sum_of_products(t)};\n"
                     "    PIN * UNKNOWN 1 999 1 0 1 0")
    return "\n".join(lines) + "\n"


def _synth_script(library: CellLibrary) -> str:
    back = "".join(f"chtype -map {library.cell(t).name} {t}\n"
                   for t in _combinational(library))
    return f"""read_verilog top.v
{{keep}}synth -flatten -top {{top}}
dfflegalize -cell $_DFF_P_ 01 -cell $_DFFE_PP_ 01
abc -genlib {GENLIB_FILE}
techmap -map {CONSTANTS_FILE}
{back}opt_clean -purge
setattr -mod -unset src
write_json netlist.json
"""


SYNTH_SCRIPT = _synth_script(load_library())

# In-process memo on top of the folder cache: a sweep in one process reads each netlist once.
_MEMO: dict[str, dict] = {}


def _script(top: str, keep: tuple[str, ...]) -> str:
    # Amaranth names repeated signals ``name$N``: keep those too.
    sel = " ".join(f"w:{k} w:{k}$*" if "*" not in k else f"w:{k}" for k in keep)
    return SYNTH_SCRIPT.format(top=top, keep=f"setattr -set keep 1 {sel}\n" if keep else "")


def netlist_key(verilog: str, top: str, keep: tuple[str, ...] = ()) -> str:
    """Cache key of a netlist: sha256 over the Verilog, the script, the cell table and the
    files the script reads (the genlib made from the table, the constants' map)."""
    table = (Path(__file__).parent / "data" / "sky130_fd_sc_hd.json").read_bytes()
    h = hashlib.sha256()
    for part in (verilog.encode(), _script(top, keep).encode(), table,
                 abc_genlib(load_library()).encode(), CONSTANTS_VERILOG.encode()):
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def synthesize_gates(
    verilog: str, top: str, cache_dir: Path | None, *, keep: tuple[str, ...] = (),
    timeout_s: float = 1800.0,
) -> tuple[dict, str, bool]:
    """The Yosys JSON netlist of module ``top`` in ``verilog``, mapped to library gates.

    Args:
        verilog: the block's Verilog text.
        top: its top module.
        keep: wire name patterns kept as synthesis boundaries (sub-block names survive).
        cache_dir: cache folder (created; see `hwsim.hw.asic.cache`), or None for none.
        timeout_s: limit for the Yosys run.

    Returns:
        ``(netlist, key, cached)``: the parsed JSON, its cache key, whether it came from a cache.

    Raises:
        HwsimError: Yosys is missing or failed (the message quotes its last error line).
    """
    key = netlist_key(verilog, top, keep)
    if key in _MEMO:
        return _MEMO[key], key, True
    netlist = read_entry(cache_dir, "netlist", key)
    if isinstance(netlist, dict) and isinstance(netlist.get("modules"), dict) \
            and top in netlist["modules"]:
        _MEMO[key] = netlist
        return netlist, key, True
    with tempfile.TemporaryDirectory(prefix="hwsim-asic-") as tmp:
        work = Path(tmp)
        (work / "top.v").write_text(verilog)
        (work / GENLIB_FILE).write_text(abc_genlib(load_library()))
        (work / CONSTANTS_FILE).write_text(CONSTANTS_VERILOG)
        (work / "synth.ys").write_text(_script(top, keep))
        run = run_tool("yosys", ["-q", "-s", "synth.ys"], work, timeout_s=timeout_s)
        if run.returncode != 0 or not (work / "netlist.json").is_file():
            errors = [ln for ln in run.output.splitlines() if "ERROR" in ln] or \
                run.output.strip().splitlines()[-1:] or ["no output"]
            raise HwsimError(f"synthesis of {top} failed: {errors[-1].strip()}")
        netlist = json.loads((work / "netlist.json").read_text())
    write_entry(cache_dir, "netlist", key, netlist)
    _MEMO[key] = netlist
    return netlist, key, False
