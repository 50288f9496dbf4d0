"""The accelerator core's generated Verilog under Icarus and Verilator (cocotb): whole GEMMs
bit-exact against the golden model, cycles equal to the simulator's (see test_accel_core), and
bad descriptors refused between them, and a GEMM under random DRAM stalls."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from core_cases import GOOD, MULTI, make_case, refusal_cycles, tb_command

from hwsim.hw.rtl.core_config import CoreError, pack_descriptor, status_fields
from hwsim.hw.rtl.core_layout import read_outputs

_HERE = Path(__file__).resolve().parent
LATENCY = 3
STALL = 0.35     # share of cycles without read data / write readiness in the stalled run
# Its PEs pipelined: the generated Verilog waits for each tile's result to leave them.
CORE = dataclasses.replace(MULTI, pipeline=2)
# One core running BitMoD's families by the descriptor's mode; several blocks along every
# dimension, ragged m and n, k not a multiple of the group, m = 1; Inf and NaN activations
# (status bit 3; each counts as 0): an Inf in the last tile drained only (one row tile), so
# the bit must rise between that tile's drain and done, and a NaN in a first tile.
SHAPES = [(6, 10, 40, "fp4", ()), (9, 5, 52, "int8", ()), (1, 12, 64, "fp3", ()),
          (4, 6, 32, "int4", ()), (6, 2, 40, "int8", ((5, 39, np.inf),)),
          (4, 6, 32, "fp3", ((0, 0, np.nan),))]
# One bad descriptor per reason code, run after the first GEMM: each is refused in one cycle
# (a block too big for the buffers in two: `refusal_cycles`) without a DRAM transfer, and
# the GEMMs after them still run exactly (the buffers' contents are checked in
# test_accel_core, where the Amaranth simulator can read them).
BAD = [
    ({"m": 0}, CoreError.ZERO_SIZE),
    ({"mode": 2}, CoreError.BAD_MODE),          # int2: not among BitMoD's families
    ({"group_size": 16}, CoreError.BAD_GROUP),
    ({"block_k": 12}, CoreError.BAD_BLOCK),     # not whole groups
    ({"m": 40, "block_m": 40, "k": 64, "block_k": 64}, CoreError.TOO_BIG),  # buffer half
]


def _params():
    # One xdist group per simulator: each build is shared by its tests, and the two
    # simulators run on different workers.
    return [pytest.param(sim, marks=[pytest.mark.rtl,
                                     pytest.mark.xdist_group(f"accel_core-{sim}")], id=sim)
            for sim in ("icarus", "verilator")]


@pytest.mark.parametrize("sim", _params())
def test_core_gemms_under_simulator(sim, sim_env, hdl_build, tmp_path):
    runner, build_dir, top = hdl_build("accel_core", asdict(CORE), sim)
    cases = [make_case(CORE, m, n, k, LATENCY, seed=m + n + k, family=f, specials=sp)
             for m, n, k, f, sp in SHAPES]
    assert [case.nonfinite for case in cases] == [False] * 4 + [True] * 2
    bad = [pack_descriptor(**{**GOOD, **fields}) for fields, _ in BAD]
    spec = [tb_command(CORE, cases[0], LATENCY)] + \
        [tb_command(CORE, cases[0], LATENCY, desc) for desc in bad] + \
        [tb_command(CORE, case, LATENCY) for case in cases[1:]] + \
        [tb_command(CORE, cases[0], LATENCY, stall=STALL)]
    cases_file, results_file = tmp_path / "cases.json", tmp_path / "results.json"
    cases_file.write_text(json.dumps(spec))
    runner.test(test_module="core_cocotb_tb", hdl_toplevel=top, build_dir=build_dir,
                test_dir=tmp_path, timescale=("1ns", "1ps"),
                extra_env={"HWSIM_TB_CASES": str(cases_file),
                           "HWSIM_TB_RESULTS": str(results_file), "PYTHONPATH": str(_HERE)})
    results = json.loads(results_file.read_text())
    assert len(results) == len(spec)
    refused, gemms = results[1:len(BAD) + 1], results[:1] + results[len(BAD) + 1:-1]
    for res, (fields, code) in zip(refused, BAD, strict=True):
        assert status_fields(res["status"]) == \
            {"busy": 0, "done": 0, "error": 1, "nonfinite": 0, "reason": int(code)}, fields
        assert (res["cycles"], res["beats"]) == (refusal_cycles(fields, code, CORE), 0), fields
        assert not any(res["out"].values())
    for case, res in zip(cases, gemms, strict=True):
        assert status_fields(res["status"]) == {"busy": 0, "done": 1, "error": 0,
                                                "nonfinite": int(case.nonfinite), "reason": 0}
        dram = {int(a): v for a, v in res["out"].items()}
        got = read_outputs(CORE, case.image, dram)
        assert np.array_equal(got, case.expected)
        assert res["beats"] == case.line_beats
        assert res["cycles"] == case.line_cycles == case.model_cycles
    # The first GEMM again with the DRAM stalling the read data and the write stream in random
    # cycles: every beat once, the same outputs, later.
    stalled = results[-1]
    assert status_fields(stalled["status"])["done"] == 1
    got = read_outputs(CORE, cases[0].image, {int(a): v for a, v in stalled["out"].items()})
    assert np.array_equal(got, cases[0].expected)
    assert stalled["beats"] == cases[0].line_beats
    assert stalled["cycles"] > cases[0].line_cycles
