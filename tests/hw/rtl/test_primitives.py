"""The blocks as built for an ECP5 with DSPs (MULT18X18D instances with their own registers),
simulated under Icarus against the golden model.

Yosys ships no simulation model of MULT18X18D, so `MULT18X18D_MODEL` is ours, written from the
primitive's documented behaviour for the subset `hwsim.hw.rtl.primitives` uses: signed 18 x 18
multiply, A/B input registers and an output register on CLK0 with a chosen clock enable each,
synchronous reset. A wrong bit order, sign extension or clock enable in the instance fails the
same testbench (`rtl_cocotb_tb`: model cycle counts, then random stalls and back-pressure) that
the generic RTL passes.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import rtl_stimuli as st
from amaranth.back import verilog
from core_cases import MULTI, make_case, tb_command

from hwsim.hw.rtl.accel_core import AccelCore
from hwsim.hw.rtl.core_layout import read_outputs
from hwsim.hw.rtl.primitives import FabricTarget
from hwsim.hw.rtl.registry import build, resolve_params

_HERE = Path(__file__).resolve().parent


def _bus(name: str, width: int) -> str:
    return ", ".join(f"{name}{i}" for i in reversed(range(width)))


def _ports(name: str, width: int) -> str:
    return ", ".join(f"{name}{i}" for i in range(width))


MULT18X18D_MODEL = f"""
module MULT18X18D({_ports("A", 18)}, {_ports("B", 18)}, {_ports("C", 18)},
                  SIGNEDA, SIGNEDB, SOURCEA, SOURCEB, CLK0, CE0, CE1, RST0, {_ports("P", 36)});
  parameter REG_INPUTA_CLK = "NONE"; parameter REG_INPUTA_CE = "CE0";
  parameter REG_INPUTA_RST = "RST0";
  parameter REG_INPUTB_CLK = "NONE"; parameter REG_INPUTB_CE = "CE0";
  parameter REG_INPUTB_RST = "RST0";
  parameter REG_OUTPUT_CLK = "NONE"; parameter REG_OUTPUT_CE = "CE0";
  parameter REG_OUTPUT_RST = "RST0";
  parameter RESETMODE = "SYNC"; parameter GSR = "ENABLED";
  input {_ports("A", 18)}, {_ports("B", 18)}, {_ports("C", 18)};
  input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB, CLK0, CE0, CE1, RST0;
  output {_ports("P", 36)};
  wire [17:0] a = {{{_bus("A", 18)}}};
  wire [17:0] b = {{{_bus("B", 18)}}};
  reg [17:0] a_r = 0, b_r = 0;
  reg [35:0] p_r = 0;
  wire ce_a = REG_INPUTA_CE == "CE0" ? CE0 : CE1;
  wire ce_b = REG_INPUTB_CE == "CE0" ? CE0 : CE1;
  wire ce_p = REG_OUTPUT_CE == "CE0" ? CE0 : CE1;
  always @(posedge CLK0) begin
    if (RST0) begin a_r <= 0; b_r <= 0; p_r <= 0; end
    else begin
      if (ce_a) a_r <= a;
      if (ce_b) b_r <= b;
      if (ce_p) p_r <= product;
    end
  end
  wire [17:0] a_in = REG_INPUTA_CLK == "NONE" ? a : a_r;
  wire [17:0] b_in = REG_INPUTB_CLK == "NONE" ? b : b_r;
  wire signed [18:0] a_s = {{SIGNEDA & a_in[17], a_in}};
  wire signed [18:0] b_s = {{SIGNEDB & b_in[17], b_in}};
  wire signed [37:0] wide = a_s * b_s;
  wire [35:0] product = wide[35:0];
  assign {{{_bus("P", 36)}}} = REG_OUTPUT_CLK == "NONE" ? product : p_r;
endmodule
"""

# (block, parameters, cases): every pipeline depth whose registers live in the DSP.
DESIGNS = {
    "int_mac_p3": ("int_mac", {"lanes": 3, "k": 20}, lambda p: st.int_mac_cases(**p)),
    "int_mac_p0": ("int_mac", {"lanes": 2, "k": 9, "pipeline": 0},
                   lambda p: st.int_mac_cases(**p)),
    "dint_mac_p1": ("dint_mac", {"lanes": 4, "k": 24, "special_half_lsb": -5, "pipeline": 1},
                    lambda p: st.dint_mac_cases(**p)),
}


@pytest.mark.rtl
@pytest.mark.parametrize("design", DESIGNS)
def test_ecp5_dsp_build_matches_the_model(design, sim_env, tmp_path):
    from cocotb_tools.runner import get_results, get_runner

    block, params, make_cases = DESIGNS[design]
    component = build(block, **resolve_params(block, params))
    text = verilog.convert(component, name=block, platform=FabricTarget("ecp5", True),
                           emit_src=False)
    # Every lane's multiply is a primitive: no multiplier is left in the fabric.
    assert text.count("MULT18X18D ") == params["lanes"] and " * " not in text
    (tmp_path / f"{block}.v").write_text(text)
    (tmp_path / "mult18x18d_model.v").write_text(MULT18X18D_MODEL)
    runner = get_runner("icarus")
    runner.build(sources=[tmp_path / f"{block}.v", tmp_path / "mult18x18d_model.v"],
                 hdl_toplevel=block, build_dir=tmp_path / "build", timescale=("1ns", "1ps"))
    cases_file = tmp_path / "cases.json"
    cases_file.write_text(json.dumps([c.to_json() for c in make_cases(params)]))
    results = runner.test(
        test_module="rtl_cocotb_tb", hdl_toplevel=block, build_dir=tmp_path / "build",
        test_dir=tmp_path, timescale=("1ns", "1ps"),
        extra_env={"HWSIM_TB_CASES": str(cases_file), "HWSIM_TB_SEED": "11",
                   "PYTHONPATH": str(_HERE)},
    )
    assert get_results(results) == (2, 0)


@pytest.mark.rtl
def test_core_ecp5_dsp_build_runs_gemms_exactly(sim_env, tmp_path):
    """The accelerator core as built for an ECP5 with DSPs: its block-count products, the
    check's products and the command's address steps are MULT18X18D instances whose input
    registers are the factors' (`registered_product`), the steps' output registers the
    products'; two
    GEMMs (one under random DRAM stalls) give the golden outputs, the first in the
    simulator's cycles, as the generic RTL does (test_core_cocotb)."""
    from cocotb_tools.runner import get_runner

    core, latency = dataclasses.replace(MULTI, pipeline=2), 3
    text = verilog.convert(AccelCore(core), name="accel_core",
                           platform=FabricTarget("ecp5", True), emit_src=False)
    assert text.count("MULT18X18D ") == 12 and text.count('.REG_INPUTA_CLK("CLK0")') == 12
    assert text.count('.REG_OUTPUT_CLK("CLK0")') == 4
    (tmp_path / "accel_core.v").write_text(text)
    (tmp_path / "mult18x18d_model.v").write_text(MULT18X18D_MODEL)
    runner = get_runner("icarus")
    runner.build(sources=[tmp_path / "accel_core.v", tmp_path / "mult18x18d_model.v"],
                 hdl_toplevel="accel_core", build_dir=tmp_path / "build",
                 timescale=("1ns", "1ps"))
    case = make_case(core, 6, 10, 40, latency, seed=56, family="fp4")
    spec = [tb_command(core, case, latency), tb_command(core, case, latency, stall=0.35)]
    cases_file, results_file = tmp_path / "cases.json", tmp_path / "results.json"
    cases_file.write_text(json.dumps(spec))
    runner.test(test_module="core_cocotb_tb", hdl_toplevel="accel_core",
                build_dir=tmp_path / "build", test_dir=tmp_path, timescale=("1ns", "1ps"),
                extra_env={"HWSIM_TB_CASES": str(cases_file),
                           "HWSIM_TB_RESULTS": str(results_file), "PYTHONPATH": str(_HERE)})
    exact, stalled = json.loads(results_file.read_text())
    for res in (exact, stalled):
        got = read_outputs(core, case.image, {int(a): v for a, v in res["out"].items()})
        assert np.array_equal(got, case.expected)
        assert res["beats"] == case.line_beats
    assert exact["cycles"] == case.model_cycles
    assert stalled["cycles"] > case.model_cycles
