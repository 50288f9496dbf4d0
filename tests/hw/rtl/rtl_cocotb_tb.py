"""Generic cocotb testbench for the valid/ready RTL blocks, run on their generated Verilog.

Driver, monitor and in-order checker in one clocked loop; the transactions and the golden
model's outputs come from a JSON file (``HWSIM_TB_CASES``) written by ``test_cocotb.py`` from
``rtl_stimuli`` (which calls `hwsim.hw.rtl.models`). Self-contained: imports only cocotb.

Each case runs twice: at full rate, where the cycles from accepting the first beat to loading
the first result must equal the model's (`hwsim.sim.pe_cycles`) and later results must follow
at the model's steady-state period, and with seeded random idle input cycles and output
back-pressure.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge


async def _reset(dut):
    dut.in_valid.value = 0
    dut.out_ready.value = 0
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


async def _run_case(dut, case, rng):
    beats, expected = case["beats"], case["expected"]
    ports = case["out_ports"]
    got, accept, load = [], [], []
    idx, edge = 0, 0
    in_xfer = out_xfer = False
    fresh = True
    limit = 50 * (len(beats) * 64 + 100) + 20000
    while len(got) < len(expected):
        await RisingEdge(dut.clk)
        edge += 1
        if edge > limit:
            raise AssertionError(f"{case['name']}: timeout with {len(got)} outputs")
        if in_xfer:
            accept.append(edge)
            idx += 1
        # Drive the next cycle: a beat (unless a random idle cycle) and back-pressure.
        offer = idx < len(beats) and (rng is None or rng.random() >= 0.3)
        if offer:
            for name, value in beats[idx].items():
                getattr(dut, name).value = value
        dut.in_valid.value = int(offer)
        ready = rng is None or rng.random() < 0.7
        dut.out_ready.value = int(ready)
        await ReadOnly()
        in_xfer = offer and bool(int(dut.in_ready.value))
        valid = bool(int(dut.out_valid.value))
        if valid and fresh:
            load.append(edge)  # the output register was loaded at this edge
        out_xfer = valid and ready
        fresh = not valid or out_xfer
        if out_xfer:
            # Binary text -> int: works for 1-bit and wide ports, and fails loudly on X/Z.
            values = {p: int(str(getattr(dut, p).value), 2) for p in ports}
            want = expected[len(got)]
            assert values == want, (
                f"{case['name']} output {len(got)}: got {values}, model {want}"
            )
            got.append(values)
    return accept, load


@cocotb.test()
async def full_rate_and_model_cycles(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    await _reset(dut)
    for case in _cases():
        accept, load = await _run_case(dut, case, None)
        assert len(load) == len(case["expected"])
        latency = load[0] - accept[0]
        periods = [b - a for a, b in itertools.pairwise(load)]
        assert (latency, periods) == (case["cycles"], [case["period"]] * len(periods)), (
            f"{case['name']}: first output after {latency} cycles, then every {periods}; "
            f"model {case['cycles']}, then every {case['period']}"
        )


@cocotb.test()
async def random_stalls_and_backpressure(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    await _reset(dut)
    rng = random.Random(int(os.environ.get("HWSIM_TB_SEED", "1")))
    for case in _cases():
        await _run_case(dut, case, rng)


def _cases():
    return json.loads(Path(os.environ["HWSIM_TB_CASES"]).read_text())
