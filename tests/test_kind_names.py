"""Outside the registries, no code compares a PE kind, RTL block or format name with a string
literal: kinds are looked up in `hwsim.hw.pe_kinds`, formats classified as `Format` objects."""

from __future__ import annotations

import ast
from pathlib import Path

from hwsim.dtypes import get_format, list_formats
from hwsim.hw.pe_kinds import FPGA_STUDIES, PE_KINDS
from hwsim.hw.rtl.registry import BLOCKS

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("dtypes", "workloads", "hw", "mapping", "sim", "reports", "hwsim", "benchmarks")
# The registries themselves, where the names are defined.
REGISTRIES = {"dtypes", "hw/pe_kinds.py", "hw/rtl/registry.py", "hw/rtl/terms.py"}


def _names() -> set[str]:
    names = set(PE_KINDS) | set(FPGA_STUDIES) | set(BLOCKS)
    for name in list_formats():
        names |= {name, *get_format(name).aliases}
    return names


def _literals(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [s for elt in node.elts for s in _literals(elt)]
    return []


# What holds a kind, block or format name: ``pe.kind``, ``fmt``, ``block``, ``name``, ...
_NAME_HOLDERS = ("kind", "format", "fmt", "block", "name")


def _holds_a_name(node: ast.AST) -> bool:
    ident = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return any(part in ident.lower() for part in _NAME_HOLDERS)


def _comparisons(path: Path, names: set[str]) -> list[tuple[int, str]]:
    """(line, literal) of every comparison of a kind, block or format name (a variable or
    attribute called so) with a string literal that is a registered name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Compare):
            operands = (node.left, *node.comparators)
            if not any(_holds_a_name(op) for op in operands):
                continue
            for operand in operands:
                found += [(node.lineno, lit) for lit in _literals(operand) if lit in names]
    return found


def _sources() -> list[Path]:
    out = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.split("/")[0] not in REGISTRIES and rel not in REGISTRIES:
                out.append(path)
    return out


def test_no_kind_or_format_name_is_compared_with_a_literal():
    names = _names()
    found = [f"{path.relative_to(ROOT)}:{line}: {lit!r}" for path in _sources()
             for line, lit in _comparisons(path, names)]
    assert found == []


def test_the_check_sees_a_comparison(tmp_path):
    # The check itself: a comparison with a kind name and one with a format tuple are found.
    bad = tmp_path / "bad.py"
    bad.write_text("def f(pe, fmt, c):\n    return pe.kind == 'mac' or fmt in ('fp16', 'bf16') "
                   "or c.accumulator == 'bitmod'\n")
    assert _comparisons(bad, _names()) == [(2, "mac"), (2, "fp16"), (2, "bf16")]
