"""Library modules import `hwsim` modules at module level, so the dependency graph is visible at
the top of each file. A function-local `hwsim` import is allowed only with a comment, on its
line or the line above, naming why: an import cycle (``# cycle: a -> b``) or a heavy optional
dependency the importer must not load on a light path (``# matplotlib: only when plotting``).
`hwsim/cli` is exempt: its lazy imports keep command start-up fast."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("dtypes", "workloads", "hw", "mapping", "sim", "reports", "hwsim")
EXEMPT = ("hwsim/cli/",)
HEAVY = ("matplotlib", "bokeh", "amaranth", "torch", "transformers", "safetensors", "dask",
         "distributed", "optuna", "yowasp", "pyarrow")
REASON = re.compile(r"#\s*(cycle|" + "|".join(HEAVY) + r")\b[^:\n]*:\s*\S")


def _imports_hwsim(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level == 0 and (node.module or "").split(".")[0] == "hwsim"
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] == "hwsim" for alias in node.names)
    return False


def unexplained_local_imports(source: str) -> list[int]:
    """Line numbers of function-local `hwsim` imports with no reason comment."""
    lines = source.splitlines()
    found: set[int] = set()
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if not _imports_hwsim(node):
                continue
            here = lines[node.lineno - 1]
            above = lines[node.lineno - 2] if node.lineno > 1 else ""
            if not (REASON.search(here) or REASON.match(above.strip())):
                found.add(node.lineno)
    return sorted(found)


def _library_files() -> list[Path]:
    files = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(EXEMPT) or "sim_build" in path.parts or ".venv" in path.parts:
                continue
            files.append(path)
    return files


def test_checker_flags_a_bare_local_import() -> None:
    bare = "def f():\n    from hwsim.sim import run\n    return run\n"
    assert unexplained_local_imports(bare) == [2]
    # A comment that names no reason does not count, nor one two lines above.
    vague = "def f():\n    # lazy\n    from hwsim.sim import run\n"
    assert unexplained_local_imports(vague) == [3]
    far = "def f():\n    # cycle: a -> b\n\n    from hwsim.sim import run\n"
    assert unexplained_local_imports(far) == [4]
    nested = "class C:\n    def m(self):\n        if x:\n            import hwsim.sim\n"
    assert unexplained_local_imports(nested) == [4]


def test_checker_accepts_a_stated_reason() -> None:
    above = "def f():\n    # cycle: hw.spec <- hw.asic.pe_costs\n    from hwsim.hw import x\n"
    inline = "def f():\n    from hwsim.reports import p  # matplotlib: only when plotting\n"
    top = "from hwsim.sim import run\n\ndef f():\n    import numpy\n"
    for source in (above, inline, top):
        assert unexplained_local_imports(source) == []


def test_library_has_no_unexplained_local_hwsim_import() -> None:
    files = _library_files()
    assert len(files) > 100  # the walk found the library
    bad = [f"{path.relative_to(ROOT)}:{line}"
           for path in files
           for line in unexplained_local_imports(path.read_text(encoding="utf-8"))]
    assert not bad, ("function-local hwsim imports without a reason comment "
                     "(move them to module level, or say `# cycle: ...` / "
                     "`# matplotlib: ...` on the line above): " + ", ".join(bad))
