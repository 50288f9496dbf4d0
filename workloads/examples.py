"""The example workloads bundled with hwsim (``workloads/examples/*.yaml``)."""

from __future__ import annotations

import difflib
from pathlib import Path

from hwsim.errors import HwsimError

__all__ = ["DEFAULT_WORKLOAD", "example_path", "example_workloads", "resolve_workload_path"]

# `hwsim run` without arguments: the BitMoD generative setting on Llama-2-7B.
DEFAULT_WORKLOAD = "llama-2-7b-generative"

_DIR = Path(__file__).resolve().parent / "examples"


def example_workloads() -> dict[str, Path]:
    """Bundled example workloads: name (file stem) -> path, sorted by name."""
    return {p.stem: p for p in sorted(_DIR.glob("*.yaml"))}


def example_path(name: str = DEFAULT_WORKLOAD) -> Path:
    """Path of the bundled example `name`.

    Raises:
        HwsimError: no such example; the message lists the closest and all names.
    """
    examples = example_workloads()
    if name in examples:
        return examples[name]
    close = difflib.get_close_matches(name, list(examples), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise HwsimError(f"unknown example workload {name!r}{hint} "
                     f"(bundled: {', '.join(examples)})")


def resolve_workload_path(ref: str | Path) -> Path:
    """A workload file: `ref` when it is a path, else the bundled example of that name.

    Raises:
        HwsimError: neither a file nor an example; the message lists the examples.
    """
    if not str(ref).strip():
        raise HwsimError(f"workload {str(ref)!r}: empty; give a workload YAML or the name of "
                         f"an example ({', '.join(example_workloads())})")
    path = Path(ref)
    if path.is_file() or path.suffix in (".yaml", ".yml") or len(path.parts) > 1:
        return path  # a path: reading it reports what is wrong with it
    examples = example_workloads()
    if str(ref) in examples:
        return examples[str(ref)]
    close = difflib.get_close_matches(str(ref), list(examples), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise HwsimError(f"workload {str(ref)!r}: no such file and no bundled example of that "
                     f"name{hint} (examples: {', '.join(examples)})")
