"""cocotb testbench of the accelerator core on its generated Verilog (Icarus or Verilator).

The commands and DRAM images come from a JSON file (``HWSIM_TB_CASES``, written by
``test_core_cocotb.py`` from ``core_cases``); the DRAM behind the core's four streams is
`core_dram.DramModel` (the same model as the Amaranth tests). For each command the testbench
records the cycles from the edge accepting it to the edge raising done, the status, the beats
the DRAM moved and its output region, into ``HWSIM_TB_RESULTS``; the pytest side checks them
against the golden model and the simulator.

Event-driven: Python wakes only in cycles where something can happen. While the model serves
nothing (`DramModel.quiet`) and the core raises no request, the testbench sleeps until the
model's next transfer starts, a request valid rises or the core finishes (the cycle is then read
from the simulation time), and the model `skip`s the cycles in between: exactly what stepping it
with the core's idle outputs does. In other cycles it reads only the outputs the model looks at
(`CoreOutputs`) and writes only the inputs that changed (`InputWrites`).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import convert, get_sim_time
from cocotb.triggers import ClockCycles, First, ReadOnly, RisingEdge

PERIOD_NS = 10


def _dram_module():
    """`hwsim.hw.rtl.core_dram` loaded from its file: through its package it would bring the
    package's Amaranth blocks, hardware descriptions and NumPy, whose extension modules load
    slowly into a simulator process (seconds on every run). It needs only the standard
    library."""
    path = Path(__file__).resolve().parents[3] / "hw" / "rtl" / "core_dram.py"
    spec = importlib.util.spec_from_file_location("core_dram", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_dram = _dram_module()
CORE_INPUTS, CORE_OUTPUTS = _dram.CORE_INPUTS, _dram.CORE_OUTPUTS
CoreOutputs, DramModel, InputWrites = _dram.CoreOutputs, _dram.DramModel, _dram.InputWrites


def _ports(dut, names) -> dict:
    return {name: getattr(dut, name) for name in names}


async def run_command(dut, desc: int, dram: DramModel, limit: int) -> tuple[int, int]:
    """(cycles, status) of one command against ``dram``."""
    ins, outs = _ports(dut, CORE_INPUTS), _ports(dut, CORE_OUTPUTS)
    inputs = InputWrites(lambda name, value: setattr(ins[name], "value", value))
    outputs = CoreOutputs(lambda name: outs[name].value)
    period = convert(PERIOD_NS, "ns", to="step")
    dut.desc.value = desc
    dut.cmd_valid.value = 1
    inputs.drive(dram.drive())
    await ReadOnly()
    assert int(dut.cmd_ready.value) == 1, "the core is busy"
    dram.step(outputs.sample())
    await RisingEdge(dut.clk)               # the command is accepted at this edge
    accepted = get_sim_time("step")
    dut.cmd_valid.value = 0
    wake = (RisingEdge(dut.rd_req_valid), RisingEdge(dut.wr_req_valid), RisingEdge(dut.cmd_ready))
    cycles = 0
    while True:
        inputs.drive(dram.drive())
        await ReadOnly()
        status = int(dut.status.value)
        if not status & 1:
            return cycles, status
        core = outputs.sample()
        requests = core["rd_req_valid"] or core["wr_req_valid"]
        dram.step(core)
        quiet = dram.quiet()
        # Edges to the next cycle where the model serves a beat (None: only a request ends it).
        edges = 1 if requests or quiet == 0 else (quiet + 1 if quiet is not None else limit)
        edges = max(1, min(edges, limit - cycles))
        if edges == 1:
            await RisingEdge(dut.clk)
            cycles += 1
        else:
            await First(ClockCycles(dut.clk, edges), *wake)
            now = (get_sim_time("step") - accepted) // period
            dram.skip(now - cycles - 1)     # `step` above already took this cycle's edge
            cycles = now
        assert cycles < limit, "the core did not finish"


@cocotb.test()
async def core_commands(dut):
    cases = json.loads(Path(os.environ["HWSIM_TB_CASES"]).read_text())
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns", impl="gpi").start())
    dut.cmd_valid.value = 0
    for name in CORE_INPUTS:
        getattr(dut, name).value = 0
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    results = []
    for case in cases:
        dram = DramModel({int(a): v for a, v in case["dram"].items()}, case["latency"],
                         case.get("stall", 0.0), case.get("seed", 0))
        cycles, status = await run_command(dut, case["desc"], dram, case["limit"])
        lo, hi = case["out_region"]
        results.append({"cycles": cycles, "status": status,
                        "beats": dram.read_beats + dram.write_beats,
                        "out": {str(a): dram.mem.get(a, 0) for a in range(lo, hi)}})
        await RisingEdge(dut.clk)
    Path(os.environ["HWSIM_TB_RESULTS"]).write_text(json.dumps(results))
