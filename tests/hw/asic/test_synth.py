"""The genlib handed to ABC: the cell table's gates, areas and functions (no Yosys run)."""

from __future__ import annotations

import itertools
import re

from asic_netlists import YOSYS_GATES

from hwsim.hw.asic.library import load_library
from hwsim.hw.asic.synth import GENLIB_FILE, SYNTH_SCRIPT, abc_genlib

LIB = load_library()
_GATE = re.compile(r"GATE\s+(\S+)\s+([\d.]+)\s+Y=([^;]+);")


def _evaluate(formula: str, bits: dict[str, int]) -> int:
    """A genlib formula (``*`` and, ``+`` or, ``!`` not, parentheses) on pin values."""
    py = formula.replace("*", " and ").replace("+", " or ").replace("!", " not ")
    py = re.sub(r"\bCONST0\b", "False", re.sub(r"\bCONST1\b", "True", py))
    return int(bool(eval(py, {}, dict(bits))))


def test_genlib_is_the_cell_table_with_yosys_gate_functions():
    gates = {name: (float(area), formula) for name, area, formula in
             _GATE.findall(abc_genlib(LIB))}
    by_cell = {c.name: t for t, c in LIB.cells.items()}
    mapped = {by_cell[n]: v for n, v in gates.items() if n in by_cell}
    # Every combinational gate of the table, nothing else but the constants; flops stay out.
    assert set(mapped) == {t for t, c in LIB.cells.items() if not c.is_flop}
    assert set(gates) - set(by_cell) == {"ZERO", "ONE"}
    for gate, (area, formula) in mapped.items():
        assert area == round(LIB.cell(gate).area_um2, 4), gate
        pins = sorted(set(re.findall(r"[A-DS]", formula)))
        for values in itertools.product((0, 1), repeat=len(pins)):
            bits = dict(zip(pins, values, strict=True))
            args = [bits.get(p, 0) for p in "ABCDS"]
            assert _evaluate(formula, bits) == YOSYS_GATES[gate](*args), (gate, bits)


def test_script_maps_with_the_genlib_and_renames_back_to_yosys_gates():
    assert f"abc -genlib {GENLIB_FILE}" in SYNTH_SCRIPT and "abc -g " not in SYNTH_SCRIPT
    renamed = dict(re.findall(r"chtype -map (\S+) (\S+)", SYNTH_SCRIPT))
    assert renamed == {c.name: t for t, c in LIB.cells.items() if not c.is_flop}
