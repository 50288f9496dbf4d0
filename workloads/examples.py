"""The example workloads bundled with hwsim (``workloads/examples/*.yaml``)."""

from __future__ import annotations

import difflib
from pathlib import Path

from hwsim.errors import HwsimError

__all__ = ["DEFAULT_WORKLOAD", "example_path", "example_workloads"]

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
