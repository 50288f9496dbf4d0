"""The standard-cell table: area, pin capacitance proxies and clock load of each mapped gate.

Loaded from ``data/sky130_fd_sc_hd.json``, derived from SkyWater's open ``sky130_fd_sc_hd``
library by `hwsim.hw.asic.derive_library` (the file records its source and checksums).
Capacitances are represented by their physical proxies: a pin's gate area and an output's
diffusion area in um^2; the energy calibration turns them into pJ.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = ["Cell", "CellLibrary", "load_library"]

_DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Cell:
    """One library cell standing for a Yosys gate type.

    Attributes:
        yosys_type: the Yosys internal gate (``$_NAND_``, ``$_DFF_P_``, ...).
        name: the library cell (``sky130_fd_sc_hd__nand2_1``).
        area_um2: footprint.
        pins: Yosys pin -> library pin.
        input_gate_um2: library input pin -> gate area (input capacitance proxy).
        output_diff_um2: output diffusion area (self-load proxy).
        internal_gate_um2: gate area of the internal stages, switched with the output.
        clock_gate_um2: gate area on the internal clock nets, switched twice every cycle.
    """

    yosys_type: str
    name: str
    area_um2: float
    pins: MappingProxyType
    input_gate_um2: MappingProxyType
    output_diff_um2: float
    internal_gate_um2: float
    clock_gate_um2: float

    @property
    def is_flop(self) -> bool:
        return "CLK" in self.input_gate_um2

    def pin_load(self, yosys_pin: str) -> float:
        """Input capacitance proxy (gate area) of the Yosys pin ``yosys_pin``."""
        return self.input_gate_um2[self.pins[yosys_pin]]


@dataclass(frozen=True)
class CellLibrary:
    """A cell table: `Cell` per Yosys gate type and the NAND2 reference area."""

    name: str
    reference_cell: str
    reference_area_um2: float
    cells: MappingProxyType
    source: MappingProxyType

    def cell(self, yosys_type: str) -> Cell:
        return self.cells[yosys_type]

    def nand2_equivalents(self, area_um2: float) -> float:
        return area_um2 / self.reference_area_um2


def _cell(entry: dict[str, Any]) -> Cell:
    return Cell(entry["yosys_type"], entry["cell"], entry["area_um2"],
                MappingProxyType(dict(entry["pins"])),
                MappingProxyType(dict(entry["input_gate_um2"])), entry["output_diff_um2"],
                entry["internal_gate_um2"], entry["clock_gate_um2"])


@cache
def load_library(name: str = "sky130_fd_sc_hd") -> CellLibrary:
    """The committed cell table called ``name``."""
    raw = json.loads((_DATA / f"{name}.json").read_text())
    cells = {k: _cell(v) for k, v in raw["cells"].items()}
    return CellLibrary(raw["library"], raw["reference_cell"], raw["reference_area_um2"],
                       MappingProxyType(cells), MappingProxyType(raw["source"]))
