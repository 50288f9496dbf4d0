"""The accelerator core's generated Verilog under Icarus and Verilator (cocotb): whole GEMMs
bit-exact against the golden model, cycles equal to the simulator's (see test_accel_core)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from core_cases import make_case
from test_accel_core import MULTI

from hwsim.hw.rtl.core_config import status_fields
from hwsim.hw.rtl.core_layout import read_outputs

_HERE = Path(__file__).resolve().parent
LATENCY = 3
# Its PEs pipelined: the generated Verilog waits for each tile's result to leave them.
CORE = dataclasses.replace(MULTI, pipeline=2)
# One core running BitMoD's families by the descriptor's mode; several blocks along every
# dimension, ragged m and n, k not a multiple of the group, m = 1.
SHAPES = [(6, 10, 40, "fp4"), (9, 5, 52, "int8"), (1, 12, 64, "fp3")]


def _params():
    return [pytest.param(sim, marks=[pytest.mark.rtl, pytest.mark.xdist_group("accel_core")],
                         id=sim) for sim in ("icarus", "verilator")]


@pytest.mark.parametrize("sim", _params())
def test_core_gemms_under_simulator(sim, sim_env, hdl_build, tmp_path):
    params = asdict(CORE)
    runner, build_dir, top = hdl_build("accel_core", params, sim)
    cases = [make_case(CORE, m, n, k, LATENCY, seed=m + n + k, family=f)
             for m, n, k, f in SHAPES]
    spec = []
    for case in cases:
        lines = -(-case.n // CORE.rows) * -(-case.m // CORE.cols) * CORE.rows
        out_beats = lines * CORE.beats_per_line(CORE.o_line_bits)
        spec.append({"desc": case.descriptor, "latency": LATENCY,
                     "dram": {str(a): v for a, v in case.image.beats.items()},
                     "out_region": [case.image.o_addr, case.image.o_addr + out_beats],
                     "limit": 10 * case.line_cycles + 1000})
    cases_file, results_file = tmp_path / "cases.json", tmp_path / "results.json"
    cases_file.write_text(json.dumps(spec))
    runner.test(test_module="core_cocotb_tb", hdl_toplevel=top, build_dir=build_dir,
                test_dir=tmp_path, timescale=("1ns", "1ps"),
                extra_env={"HWSIM_TB_CASES": str(cases_file),
                           "HWSIM_TB_RESULTS": str(results_file), "PYTHONPATH": str(_HERE)})
    results = json.loads(results_file.read_text())
    assert len(results) == len(cases)
    for case, res in zip(cases, results, strict=True):
        assert status_fields(res["status"]) == {"busy": 0, "done": 1, "error": 0, "reason": 0}
        dram = {int(a): v for a, v in res["out"].items()}
        got = read_outputs(CORE, case.image, dram)
        assert np.array_equal(got, case.expected)
        assert res["cycles"] == case.line_cycles
        aligned = case.m % CORE.cols == 0 and case.n % CORE.rows == 0 and \
            case.k % CORE.group_size == 0
        assert (res["cycles"] == case.model_cycles) == aligned
