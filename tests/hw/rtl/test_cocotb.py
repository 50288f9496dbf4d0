"""cocotb testbenches on the generated Verilog, under Icarus and Verilator.

One test per (design, simulator): it builds the design once (``hdl_build``), writes the
transactions and golden-model outputs to JSON and runs ``rtl_cocotb_tb`` (full rate with the
model's cycle counts, then random stalls and back-pressure).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rtl_stimuli as st

from hwsim.hw.rtl.bitmod import BitModConfig

_HERE = Path(__file__).resolve().parent

# Each design: (block, parameters, cases factory). The fp4 PE has the default (published)
# parameters: full groups of 128, k = 256. The others are small so both simulators run fast,
# yet complete: several groups per output, a partial last group, every code of the family.
_PE = {"lanes": 4, "group_size": 16, "k": 40}
DESIGNS = {
    "bitmod_pe_default": ("bitmod_pe", {}, lambda p: st.bitmod_cases(BitModConfig(**p))),
    "bitmod_pe_fp3": ("bitmod_pe", {"weights": "fp3", **_PE},
                      lambda p: st.bitmod_cases(BitModConfig(**p))),
    "bitmod_pe_int4": ("bitmod_pe", {"weights": "int4", **_PE},
                       lambda p: st.bitmod_cases(BitModConfig(**p))),
    "bitmod_pe_int3": ("bitmod_pe", {"weights": "int3", **_PE},
                       lambda p: st.bitmod_cases(BitModConfig(**p))),
    "pe_array_2x2": ("pe_array", {"rows": 2, "cols": 2, "weights": "fp4", "lanes": 2,
                                  "group_size": 8, "k": 20},
                     lambda p: st.bitmod_cases(BitModConfig(**p))),
    # One dequantizer per row (turns, hand-off registers, the placement cut) with BitMoD's
    # floating accumulator: the shared unit's stalls in the cycles the testbench checks.
    "pe_array_2x2_row": ("pe_array", {"rows": 2, "cols": 2, "weights": "fp4", "lanes": 2,
                                      "group_size": 8, "k": 20, "dequantizer": "row",
                                      "accumulator": "bitmod", "pipeline": 6},
                         lambda p: st.bitmod_cases(BitModConfig(**p))),
    # The floating accumulator's decoded loop at the FPGA build's depth (the placement split
    # around the "place" registers): its exponent corners and -2**k sums in both simulators.
    "bitmod_pe_decoded": ("bitmod_pe", {"weights": "fp4", "accumulator": "bitmod",
                                        "loop": "decoded", "pipeline": 7, **_PE},
                          lambda p: st.bitmod_cases(BitModConfig(**p))),
    "dequant": ("dequant", {}, lambda p: st.dequant_cases(**p)),
    "dint_mac": ("dint_mac", {"lanes": 2, "k": 32}, lambda p: st.dint_mac_cases(**p)),
    "int_mac": ("int_mac", {"lanes": 2, "k": 32}, lambda p: st.int_mac_cases(**p)),
    "fp16_int_mac": ("fp16_int_mac", {"lanes": 2, "k": 32, "weight_bits": 4},
                     lambda p: st.fp16_int_mac_cases(**p)),
    "fp16_dual_mac": ("fp16_dual_mac", {"k": 16}, lambda p: st.fp16_dual_mac_cases(**p)),
    "bipolar_pe": ("bipolar_pe", {"lanes": 8, "weight_bits": 3, "act_bits": 4, "k": 20},
                   lambda p: st.bipolar_cases(**p)),
}


def _params(design):
    params = [pytest.param(design, sim, marks=[pytest.mark.rtl, pytest.mark.xdist_group(design)],
                           id=f"{design}-{sim}")
              for design in DESIGNS for sim in ("icarus", "verilator")]
    return params


@pytest.mark.parametrize(("design", "sim"), _params(None))
def test_design_under_simulator(design, sim, sim_env, hdl_build, tmp_path):
    from cocotb_tools.runner import get_results

    block, params, make_cases = DESIGNS[design]
    runner, build_dir, top = hdl_build(block, params, sim)
    cases = make_cases(params)
    cases_file = tmp_path / "cases.json"
    cases_file.write_text(json.dumps([c.to_json() for c in cases]))
    results = runner.test(
        test_module="rtl_cocotb_tb",
        hdl_toplevel=top,
        build_dir=build_dir,
        test_dir=tmp_path,
        extra_env={"HWSIM_TB_CASES": str(cases_file), "HWSIM_TB_SEED": "7",
                   "PYTHONPATH": str(_HERE)},
        timescale=("1ns", "1ps"),
    )
    total, failed = get_results(results)
    assert (total, failed) == (2, 0)
