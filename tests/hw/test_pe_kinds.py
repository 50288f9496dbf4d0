"""The PE-kind registry: every kind's schema, RTL blocks and FPGA studies are whole."""

from __future__ import annotations

import dataclasses

import pytest

from hwsim.dtypes import get_format
from hwsim.errors import HwsimError
from hwsim.hw import hardware_from_dict
from hwsim.hw.pe_kinds import FPGA_STUDIES, PE_KINDS, get_pe_kind, pe_for_block
from hwsim.hw.rtl.registry import BLOCKS, resolve_params


def _hw(pe: dict) -> dict:
    return {"name": "t", "clock_mhz": 100, "pe": pe, "array": {"rows": 2, "cols": 2},
            "buffers": {b: {"kib": 64} for b in ("weight", "activation", "output")},
            "dram": {"bytes_per_cycle": 8}}


@pytest.mark.parametrize("name", list(PE_KINDS))
def test_every_kind_has_a_schema_chosen_by_its_name(name):
    kind = get_pe_kind(name)
    fields = {f.name: f for f in dataclasses.fields(kind.spec)}
    assert fields["kind"].default == name
    hw = hardware_from_dict(_hw({"kind": name, "energy_pj_per_cycle": 1, "area_um2": 1}))
    assert type(hw.pe) is kind.spec
    q_m, q_n, q_k = hw.pe.tile_quanta(2, 2, 128)
    assert min(q_m, q_n, q_k) >= 1


@pytest.mark.parametrize("name", list(PE_KINDS))
def test_every_rtl_block_of_a_kind_exists_and_describes_that_kind(name):
    kind = PE_KINDS[name]
    for block in kind.rtl_blocks:
        assert block in BLOCKS
        pe, rows, cols = pe_for_block(block, resolve_params(block))
        assert pe["kind"] == name and rows >= 1 and cols >= 1
        assert type(hardware_from_dict(_hw(pe)).pe) is kind.spec
    assert all(core in BLOCKS for core in kind.rtl_cores)
    # A kind without RTL says so with an empty table, and has no FPGA study to build.
    if not kind.rtl_blocks:
        assert kind.fpga_studies == ()


def test_every_fpga_study_builds_a_block_of_its_kind():
    for kind in PE_KINDS.values():
        for study in kind.fpga_studies:
            assert FPGA_STUDIES[study.name] is study
            assert study.block in kind.rtl_blocks
            assert study.array_block is None or study.array_block in kind.rtl_blocks
            resolve_params(study.block, dict(study.params))  # every parameter is allowed
            for fmt in (*study.weight_formats, study.workload["weights"]["format"]):
                get_format(fmt)


@pytest.mark.parametrize("study", list(FPGA_STUDIES.values()), ids=list(FPGA_STUDIES))
def test_every_fpga_studys_benchmark_workload_runs_on_its_build(study):
    # bench_fpga_scale simulates Llama-2-7B on each design point at the study's precisions:
    # every GEMM's operands (attention's KV cache included) must be ones the build runs.
    from hwsim.sim import operand_widths
    from hwsim.workloads import operators, workload_from_dict

    pe, _, _ = pe_for_block(study.block, resolve_params(study.block, dict(study.params)))
    hw = hardware_from_dict(_hw({**pe, "energy_pj_per_cycle": 0, "area_um2": 0}))
    spec = study.workload
    wl = workload_from_dict({"model": "llama-2-7b", "prompt_tokens": 256, "generate_tokens": 21,
                             "weights": dict(spec["weights"]),
                             "activations": {"bits": spec["act_bits"]},
                             "kv_cache": dict(spec["kv_cache"])})
    gemms = [op for op in operators(wl) if op.kind == "gemm"]
    assert {op.b_kind for op in gemms} == {"weight", "kv"}
    for op in gemms:
        operand_widths(op, hw)


def test_unknown_kind_names_the_known_ones():
    with pytest.raises(HwsimError, match=r"unknown PE kind 'macc' .*did you mean mac.*; known: "
                       r"bitmod, mac, dint, bipolar, bit_serial, systolic"):
        get_pe_kind("macc")


def test_a_block_that_is_no_pe_is_refused_with_the_pe_blocks():
    with pytest.raises(HwsimError, match=r"'dequant' is not a PE .*allowed: bitmod_pe, pe_array"):
        pe_for_block("dequant", resolve_params("dequant"))
