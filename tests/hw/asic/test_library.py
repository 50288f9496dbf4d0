"""The committed cell table and its derivation from the library's LEF and CDL files."""

from __future__ import annotations

import pytest

from hwsim.hw.asic.derive_library import CELL_MAP, _cdl_gates, _lef_cell
from hwsim.hw.asic.library import load_library

NAND2_LEF = """MACRO sky130_fd_sc_hd__nand2_1
  SIZE  1.380000 BY  2.720000 ;
  PIN A
    ANTENNAGATEAREA  0.247500 ;
    DIRECTION INPUT ;
  END A
  PIN Y
    ANTENNADIFFAREA  0.439000 ;
    DIRECTION OUTPUT ;
  END Y
END sky130_fd_sc_hd__nand2_1
"""

# A buffer with a clocked pass gate, in the CDL layout of the library (continuation lines).
CDL = """.SUBCKT cell A CLK VGND VNB VPB VPWR X
MM0 n1 A VGND VNB nfet_01v8 m=1 w=0.5 l=0.15 mult=1
+ sa=0.265
MM1 X n1 VGND VNB nfet_01v8 m=1 w=0.6 l=0.15 mult=1
MM2 X clkneg n2 VNB nfet_01v8 m=1 w=0.4 l=0.15 mult=1
MM3 clkneg CLK VGND VNB nfet_01v8 m=1 w=0.2 l=0.15 mult=1
.ENDS
"""


def test_lef_footprint_and_pins():
    cell = _lef_cell(NAND2_LEF)
    assert cell["area_um2"] == pytest.approx(1.38 * 2.72)
    assert cell["input_gate_um2"] == {"A": 0.2475}
    assert cell["output_diff_um2"] == 0.439


def test_cdl_internal_and_clock_gate_area():
    internal, clock = _cdl_gates(CDL, {"A": 0.075, "CLK": 0.03})
    assert internal == pytest.approx(0.6 * 0.15)  # MM1: gate n1, an internal stage
    assert clock == pytest.approx((0.4 + 0.2) * 0.15)  # MM2 (clkneg) and MM3 (CLK)


def test_committed_table_covers_every_mapped_gate_with_provenance():
    lib = load_library()
    assert set(lib.cells) == set(CELL_MAP)
    assert lib.reference_area_um2 == pytest.approx(1.38 * 2.72)
    assert lib.cell("$_NAND_").area_um2 == lib.reference_area_um2
    for ytype, (name, pins) in CELL_MAP.items():
        cell = lib.cell(ytype)
        assert cell.name.endswith(name) and cell.area_um2 > 0
        inputs = [p for y, p in pins.items() if y not in ("Y", "Q")]
        assert set(inputs) == set(cell.input_gate_um2)
    assert lib.cell("$_DFF_P_").is_flop and lib.cell("$_DFF_P_").clock_gate_um2 > 0
    assert len(lib.source["sha256"]) == 2 * len(CELL_MAP)  # one LEF and one CDL each
