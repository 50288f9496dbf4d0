"""cocotb testbench of the accelerator core on its generated Verilog (Icarus or Verilator).

The commands and DRAM images come from a JSON file (``HWSIM_TB_CASES``, written by
``test_core_cocotb.py`` from ``core_cases``); the DRAM behind the core's four streams is
`core_dram.DramModel` (the same model as the Amaranth tests). For each command the testbench
records the cycles from the edge accepting it to the edge raising done, the status and the
DRAM's output region, into ``HWSIM_TB_RESULTS``; the pytest side checks them against the
golden model and the simulator.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from hwsim.hw.rtl.core_dram import CORE_OUTPUTS, DramModel


def _drive(dut, values: dict[str, int]) -> None:
    for name, value in values.items():
        getattr(dut, name).value = value


async def run_command(dut, desc: int, dram: DramModel, limit: int) -> tuple[int, int]:
    """(cycles, status) of one command against ``dram``."""
    dut.desc.value = desc
    dut.cmd_valid.value = 1
    _drive(dut, dram.drive())
    await ReadOnly()
    assert int(dut.cmd_ready.value) == 1, "the core is busy"
    outs = {k: int(getattr(dut, k).value) for k in CORE_OUTPUTS}
    dram.step(outs)
    await RisingEdge(dut.clk)               # the command is accepted at this edge
    dut.cmd_valid.value = 0
    cycles = 0
    while True:
        _drive(dut, dram.drive())
        await ReadOnly()
        status = int(dut.status.value)
        if not status & 1:
            return cycles, status
        dram.step({k: int(getattr(dut, k).value) for k in CORE_OUTPUTS})
        await RisingEdge(dut.clk)
        cycles += 1
        assert cycles < limit, "the core did not finish"


@cocotb.test()
async def core_commands(dut):
    cases = json.loads(Path(os.environ["HWSIM_TB_CASES"]).read_text())
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.cmd_valid.value = 0
    _drive(dut, {"rd_req_ready": 0, "rd_valid": 0, "rd_data": 0, "wr_req_ready": 0,
                 "wr_ready": 0})
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    results = []
    for case in cases:
        dram = DramModel({int(a): v for a, v in case["dram"].items()}, case["latency"])
        cycles, status = await run_command(dut, case["desc"], dram, case["limit"])
        lo, hi = case["out_region"]
        results.append({"cycles": cycles, "status": status,
                        "out": {str(a): dram.mem.get(a, 0) for a in range(lo, hi)}})
        await RisingEdge(dut.clk)
    Path(os.environ["HWSIM_TB_RESULTS"]).write_text(json.dumps(results))
