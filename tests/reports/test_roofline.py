"""Roofline analyzer: hand-derived numbers, invariants as properties, presets, files, plots."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.dtypes import get_format
from hwsim.errors import HwsimError
from hwsim.reports.roofline import (
    COLUMNS,
    Machine,
    analyze,
    list_machines,
    load_machine,
    machine_from_dict,
    op_step_costs,
    roofline_report,
    summarize,
)
from hwsim.workloads import Op, operators, workload_from_dict

A100 = load_machine("a100-40g")


def _gemm(m: int | list[int], n: int, k: int, *, a_bits: float = 16, b_bits: float = 16,
          count: int = 1, stage: str = "prefill") -> Op:
    arr = np.atleast_1d(np.asarray(m, dtype=np.int64))
    return Op(name="g", op_class="gemm", stage=stage, layer="gemm", kind="gemm", m=arr,
              n=np.full_like(arr, n), k=np.full_like(arr, k), count=count, a_bits=a_bits,
              b_bits=b_bits, out_bits=a_bits, step=np.arange(arr.size),
              kv_len=np.zeros_like(arr))


def test_square_fp16_gemm_on_a100_is_compute_bound() -> None:
    row = analyze([_gemm(1024, 1024, 1024)], A100).iloc[0]
    # 2 x 1024^3 FLOPs; three 1024^2 fp16 matrices = 6 MiB; intensity 341 > ridge 312/1.555.
    assert row["flops"] == 2 * 1024**3
    assert row["bytes"] == 3 * 1024**2 * 2
    assert row["intensity"] == pytest.approx(2 * 1024**3 / (6 * 1024**2))
    assert row["bound"] == "compute"
    assert row["time_s"] == pytest.approx(2 * 1024**3 / 312e12)


def test_int4_gemv_is_memory_bound_at_effective_bits() -> None:
    # 4096 x 4096 weights at 4.125 bits (INT4 + FP16 scale per 128) dominate the traffic.
    row = analyze([_gemm(1, 4096, 4096, b_bits=4.125)], A100).iloc[0]
    nbytes = (4096 * 16 + 4096 * 4096 * 4.125 + 4096 * 16) / 8
    assert row["bytes"] == pytest.approx(nbytes)
    assert row["bound"] == "memory"
    assert row["time_s"] == pytest.approx(nbytes / 1555e9)


def test_peak_follows_operand_widths() -> None:
    # W4A4 takes A100's INT4 path, W4A16 stays on FP16; H100 has no INT4 path -> INT8.
    assert A100.gemm_peak_flops(4, 4) == 1248e12
    assert A100.gemm_peak_flops(16, 4) == 312e12
    assert load_machine("h100-sxm").gemm_peak_flops(4, 4) == pytest.approx(1978.9e12)
    with pytest.raises(HwsimError, match="no compute path for 32-bit x 16-bit"):
        load_machine("bitmod").gemm_peak_flops(32, 16)


def test_accelerator_peaks_follow_pes_lanes_and_clock() -> None:
    # BitMoD: 1024 PEs x 4 lanes, 2 cycles per 3/4-bit weight, 2 FLOP per MAC, 1 GHz.
    assert load_machine("bitmod").gemm_peak_flops(16, 3) == pytest.approx(1024 * 4 / 2 * 2e9)
    assert load_machine("fp16").gemm_peak_flops(16, 16) == pytest.approx(32 * 24 * 2e9)
    assert load_machine("olive").gemm_peak_flops(16, 4) == pytest.approx(36 * 32 * 2e9)
    # DRAM of the design points: 256 bits per cycle at 1 GHz.
    assert load_machine("ant").memory_bw_bytes_per_s == 256 / 8 * 1e9


def test_every_preset_loads(rtl_figures_stood_in) -> None:
    # `rtl` PE figures are stood in for (tests/conftest.py): a roofline uses no PE energy.
    names = list_machines()
    for required in ("a100-40g", "a100-80g", "h100-sxm", "rtx4090", "a6000", "bitmod", "ant",
                     "olive", "fp16", "dint", "int8-systolic"):
        assert required in names
    for name in names:
        m = load_machine(name)
        assert m.name == name and m.peaks and m.memory_bw_bytes_per_s > 0


def test_machine_errors_name_the_key() -> None:
    with pytest.raises(HwsimError, match=r"unknown machine preset 'a100' \(did you mean"):
        load_machine("a100")
    with pytest.raises(HwsimError, match=r"m.yaml: compute\[0\].tflops: Input should be greater"):
        machine_from_dict({"name": "x", "memory_bandwidth_gb_per_s": 1,
                           "memory_capacity_gib": 1, "vector_tflops": 1,
                           "compute": [{"a_bits": 16, "b_bits": 16, "tflops": 0}]}, "m.yaml")
    with pytest.raises(HwsimError, match="bandwidth: unknown key"):
        machine_from_dict({"name": "x", "bandwidth": 1}, "m.yaml")
    good = {"name": "x", "memory_bandwidth_gb_per_s": 1, "memory_capacity_gib": 1,
            "vector_tflops": 1, "compute": [{"a_bits": 16, "b_bits": 16, "tflops": 1}]}
    # A boolean is no bandwidth (lax parsing took true for 1 GB/s).
    with pytest.raises(HwsimError, match=r"m.yaml: memory_bandwidth_gb_per_s: Input should be "
                                         r"a valid number"):
        machine_from_dict({**good, "memory_bandwidth_gb_per_s": True}, "m.yaml")
    # Unit slips (GB/s written as B/s, TFLOP/s as FLOP/s) and values whose times overflow.
    for patch, message in [
        ({"memory_bandwidth_gb_per_s": 2.0e12}, r"memory_bandwidth_gb_per_s: 2,000,000,000,000 "
                                                r"is above the limit of 1,000,000 \(1 PB/s"),
        ({"memory_bandwidth_gb_per_s": 1e-300}, r"memory_bandwidth_gb_per_s: 1e-300 is below "
                                                r"the limit of 1e-06 \(1 kB/s"),
        ({"vector_tflops": 3.12e14}, r"vector_tflops: 312,000,000,000,000 is above the limit "
                                     r"of 1,000,000 \(1 EFLOP/s"),
        ({"compute": [{"a_bits": 16, "b_bits": 16, "tflops": 1e-12}]},
         r"compute\[0\].tflops: 1e-12 is below the limit of 1e-09"),
        ({"compute": [{"a_bits": 128, "b_bits": 16, "tflops": 1}]},
         r"compute\[0\].a_bits: 128 is above the limit of 64"),
        ({"memory_capacity_gib": 2.0**40}, r"memory_capacity_gib: 1,099,511,627,776 is above"),
        ({"onchip_mib": 2.0**21}, r"onchip_mib: 2,097,152 is above the limit of 1,048,576"),
    ]:
        with pytest.raises(HwsimError, match=rf"^m.yaml: {message}"):
            machine_from_dict({**good, **patch}, "m.yaml")
    # Two paths for one operand pair: the faster was taken without a word.
    with pytest.raises(HwsimError, match=r"m.yaml: compute\[1\]: a second 16x16-bit path "
                                         r"\(compute\[0\] is one\)"):
        machine_from_dict({**good, "compute": good["compute"] * 2}, "m.yaml")


def _machine(bw_gb_per_s: float, tflops: float) -> Machine:
    return machine_from_dict({"name": "t", "memory_bandwidth_gb_per_s": bw_gb_per_s,
                              "memory_capacity_gib": 1, "vector_tflops": tflops,
                              "compute": [{"a_bits": 16, "b_bits": 16, "tflops": tflops}]})


shapes = st.tuples(st.lists(st.integers(1, 4096), min_size=1, max_size=8),
                   st.integers(1, 8192), st.integers(1, 8192), st.integers(1, 64),
                   st.sampled_from([2.0, 3.078125, 4.125, 8.0, 16.0]))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(shapes, st.floats(1.0, 5000.0), st.floats(0.1, 2000.0))
def test_doubling_bandwidth_never_slows_an_operator(shape, bw: float, tflops: float) -> None:
    m, n, k, count, b_bits = shape
    op = _gemm(m, n, k, b_bits=b_bits, count=count)
    slow = op_step_costs(op, _machine(bw, tflops))
    fast = op_step_costs(op, _machine(2 * bw, tflops))
    assert (fast["time_s"] <= slow["time_s"]).all()
    memory_bound = slow["memory_time_s"] > slow["compute_time_s"]
    # A memory-bound step gets strictly faster (down to at most half, or the compute roof).
    assert (fast["time_s"][memory_bound] < slow["time_s"][memory_bound]).all()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(shapes, st.floats(1.0, 5000.0), st.floats(0.1, 2000.0))
def test_time_is_at_least_both_roofs(shape, bw: float, tflops: float) -> None:
    m, n, k, count, b_bits = shape
    machine = _machine(bw, tflops)
    row = analyze([_gemm(m, n, k, b_bits=b_bits, count=count)], machine).iloc[0]
    floor = max(row["flops"] / machine.gemm_peak_flops(16, 16),
                row["bytes"] / machine.memory_bw_bytes_per_s)
    assert row["time_s"] >= floor * (1 - 1e-12)


def test_decode_rows_sum_their_steps_and_can_be_mixed() -> None:
    # m grows 1 -> 1024: the first steps are memory bound, the last compute bound.
    op = _gemm([1, 1024], 4096, 4096, stage="decode")
    row = analyze([op], A100).iloc[0]
    per_step = op_step_costs(op, A100)
    assert row["bound"] == "mixed" and row["steps"] == 2
    assert row["time_s"] == pytest.approx(per_step["time_s"].sum())
    # By hand on A100 (1555 GB/s, 312 TFLOP/s FP16): step 1 moves the 4096 x 4096 weights
    # and two 4096-vectors at 2 B; step 2 computes 2 x 1024 x 4096 x 4096 FLOPs.
    mixed_s = (2 * 4096 + 4096 * 4096) * 2 / 1555e9 + 2 * 1024 * 4096**2 / 312e12
    assert row["time_s"] == pytest.approx(mixed_s)
    # The stage summary's bound times count steps: the mixed row's memory-bound first step
    # is memory-bound time, its second compute-bound (whole rows left it out of both).
    memory_op = _gemm([1, 1], 4096, 4096, b_bits=4.125, stage="decode")
    compute_op = _gemm([1024, 1024], 4096, 4096, stage="decode")
    table = analyze([op, memory_op, compute_op], A100)
    assert table["bound"].tolist() == ["mixed", "memory", "compute"]
    decode = summarize(table, batch=1, prompt_tokens=0, generate_tokens=3,
                       decode_steps=2)["stages"]["decode"]
    memory_s, compute_s = table["time_s"].iloc[1], table["time_s"].iloc[2]
    step_memory_s = (2 * 4096 + 4096 * 4096) * 2 / 1555e9
    assert table["memory_bound_time_s"].tolist() == pytest.approx([step_memory_s, memory_s, 0])
    assert decode["memory_bound_time_s"] == pytest.approx(step_memory_s + memory_s)
    assert decode["compute_bound_time_s"] == pytest.approx(mixed_s - step_memory_s + compute_s)
    assert decode["time_s"] == pytest.approx(mixed_s + memory_s + compute_s)
    # Both memory-bound rows by hand: 2 steps x (4096 x 4096 x 4.125 + 2 x 4096 x 16) bits.
    assert memory_s == pytest.approx(2 * (4096**2 * 4.125 + 2 * 4096 * 16) / 8 / 1555e9)
    assert compute_s == pytest.approx(2 * 2 * 1024 * 4096**2 / 312e12)


def _small_workload():
    return workload_from_dict({"model": "opt-1.3b", "prompt_tokens": 32, "generate_tokens": 9,
                               "weights": {"format": "int4", "group_size": 128}},
                              source="small")


def test_a_norm_reads_its_parameter_row_once_per_instance() -> None:
    # OPT-1.3B's input LayerNorm over a 32-token prompt: 24 layers x (32 x 2048 FP16 in,
    # one 2048-channel row of scale and shift at 2 x 16 bits, 32 x 2048 FP16 out). The
    # parameter row is read once for all tokens, not once per token.
    ops = [op for op in operators(_small_workload()) if op.name == "input_norm"]
    row = analyze(ops, A100).set_index("stage").loc["prefill"]
    assert row["bytes"] == 24 * (32 * 2048 * 2 + 2048 * 4 + 32 * 2048 * 2)
    assert row["bytes_weights"] == 24 * 2048 * 4
    assert row["bytes_activations"] == row["bytes_outputs"] == 24 * 32 * 2048 * 2


def test_report_files_summary_and_byte_identical_plots(tmp_path: Path) -> None:
    w = _small_workload()
    rep = roofline_report(w, A100, tmp_path / "a")
    for f in ("roofline.csv", "roofline.md", "summary.json", "roofline.png",
              "latency_breakdown.png"):
        assert (tmp_path / "a" / f).stat().st_size > 0
    assert (tmp_path / "a" / "roofline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    header = (tmp_path / "a" / "roofline.csv").read_text().splitlines()[0].split(",")
    assert header == COLUMNS
    for col in ("stage", "layer", "op", "flops", "bytes", "intensity", "bound", "time_s"):
        assert col in header

    s = json.loads((tmp_path / "a" / "summary.json").read_text())
    pre, dec = s["stages"]["prefill"], s["stages"]["decode"]
    table = rep.table
    assert pre["time_s"] == pytest.approx(table.loc[table.stage == "prefill", "time_s"].sum())
    assert s["total"]["ttft_s"] == pre["time_s"]
    assert s["total"]["tpot_s"] == pytest.approx(dec["time_s"] / 8)  # 9 tokens: 8 steps
    assert pre["tokens_per_s"] == pytest.approx(32 / pre["time_s"])
    # Token rates named as in `hwsim run`: all 32 prompt + 8 decode-step tokens over the total
    # time; the 8 tokens the decode steps generate over the decode time (1 / TPOT at batch 1).
    assert s["total"]["throughput_tokens_per_s"] == pytest.approx(
        (32 + 8) / (pre["time_s"] + dec["time_s"]))
    assert s["total"]["decode_tokens_per_s"] == pytest.approx(8 / dec["time_s"])
    assert s["total"]["decode_tokens_per_s"] == pytest.approx(1 / s["total"]["tpot_s"])
    assert "tokens_per_s" not in s["total"]  # the old, output-tokens-only figure is gone
    assert s["memory"]["fits"] is True

    roofline_report(w, A100, tmp_path / "b")
    for f in ("roofline.csv", "summary.json", "roofline.png", "latency_breakdown.png"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_prefill_only_and_gemm_workloads_report(tmp_path: Path) -> None:
    w = workload_from_dict({"gemms": [{"name": "g", "m": 64, "n": 64, "k": 64}]})
    rep = roofline_report(w, A100, tmp_path, plots=False)
    assert rep.summary["total"]["tpot_s"] is None and "decode" not in rep.summary["stages"]
    assert len(rep.table) == 1 and not (tmp_path / "roofline.png").exists()


def test_user_machine_yaml(tmp_path: Path) -> None:
    path = tmp_path / "my-npu.yaml"
    path.write_text("name: my-npu\nmemory_bandwidth_gb_per_s: 100\nmemory_capacity_gib: 16\n"
                    "vector_tflops: 1\ncompute: [{a_bits: 8, b_bits: 4, tflops: 50}]\n")
    m = load_machine(path)
    assert (m.memory_bw_bytes_per_s, m.gemm_peak_flops(8, 4)) == (100e9, 50e12)
    path.write_text("name: [unclosed\n")
    with pytest.raises(HwsimError, match=r"my-npu\.yaml: malformed YAML"):
        load_machine(path)


def test_w4a8_with_an_activation_format_takes_the_8_bit_path() -> None:
    # int8 activations carry an FP16 scale per 128: 8 + 16/128 = 8.125 bits moved, but the
    # datapath sees 8-bit codes. A100's paths: 16x16 312, 8x8 624, 4x4 1248 TFLOP/s; a 8 x 4
    # GEMM fits 8x8 and 16x16, so 624e12 (8.125 fits only 16x16: 312e12 was the bug).
    op = dataclasses.replace(_gemm(1024, 1024, 1024, a_bits=8.125, b_bits=4.125),
                             a_format=get_format("int8"), b_format=get_format("int4"),
                             group_size=128)
    c = op_step_costs(op, A100)
    assert c["peak_flops_per_s"] == 624e12
    # Traffic still counts the scales: a 1024^2 x 8.125, b 1024^2 x 4.125, out at 8.125 bits.
    assert c["bytes"][0] == pytest.approx(1024**2 * (8.125 + 4.125 + 8.125) / 8)


def test_an_accelerator_machine_is_derived_from_its_hardware_description() -> None:
    from hwsim.hw import load_hardware

    hw = load_hardware("bitmod")
    m = load_machine("bitmod")
    assert m.name == hw.name and m.source == hw.source
    # The three buffers: 512 + 512 + 128 KiB (the hand-written machine said 1 MiB).
    assert m.onchip_bytes == (512 + 512 + 128) * 1024
    # Booth digits of a width-only operand: ceil(bits / 2) cycles per weight per lane.
    for bits, cycles in ((2, 1), (4, 2), (6, 3), (8, 4), (16, 8)):
        assert m.gemm_peak_flops(16, bits) == pytest.approx(1024 * 4 / cycles * 2e9)
    # The dINT PE runs at most 4-bit second operands, as the simulator says.
    with pytest.raises(HwsimError, match="no compute path for 8-bit x 8-bit"):
        load_machine("dint").gemm_peak_flops(8, 8)


def test_a_build_stating_its_formats_has_paths_at_their_code_widths_only() -> None:
    from hwsim.hw import load_hardware

    # fpga-bitmod-ecp5-25k runs fp3/fp4 (3 and 4 bits, 2 terms a weight), int4 (2 Booth
    # digits), int6 (3) and int8 (4): paths at 4, 6 and 8 bits, none for FP16 (the simulator
    # refuses those operands on it too).
    hw = load_hardware("fpga-bitmod-ecp5-25k")
    m = load_machine("fpga-bitmod-ecp5-25k")
    pes_hz = hw.array.rows * hw.array.cols * hw.pe.lanes * 2 * hw.clock_mhz * 1e6
    assert [(p.a_bits, p.b_bits) for p in m.peaks] == [(16, 4), (16, 6), (16, 8)]
    for bits, terms in ((3, 2), (4, 2), (6, 3), (8, 4)):
        assert m.gemm_peak_flops(16, bits) == pytest.approx(pes_hz / terms)
    with pytest.raises(HwsimError, match=r"'fpga-bitmod-ecp5-25k' \(.*fpga-bitmod-ecp5-25k"
                                         r"\.yaml\) has no compute path for 16-bit x 16-bit "
                                         r"operands \(its paths: 16x4, 16x6, 16x8\)"):
        m.gemm_peak_flops(16, 16)
    # In an analysis the error names the op and the workload key of its second operand.
    qk = dataclasses.replace(_gemm(1, 300, 128, stage="decode"), name="attn_qk", b_kind="kv")
    with pytest.raises(HwsimError, match=r"^decode op 'attn_qk' \(kv_cache 16-bit\): machine "
                                         r"'fpga-bitmod-ecp5-25k' \(.*\) has no compute path"):
        op_step_costs(qk, m)


def test_a_hardware_yaml_is_a_machine_file_too(tmp_path) -> None:
    from hwsim.hw import hardware_to_dict, load_hardware

    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(hardware_to_dict(load_hardware("olive"))))
    assert load_machine(str(path)).peaks == load_machine("olive").peaks


def test_a_core_machine_moves_the_bytes_in_the_widths_the_simulator_costs(tmp_path) -> None:
    # On the RTL core's description (a `core` section) `hwsim run` costs every GEMM in the
    # core's storage widths (`hwsim.sim.engine.stored_op`); its roofline counts each operand
    # once in those same widths: FP16 activations, an 8-bit code slot + a 16-bit scale field
    # per group of 128 per weight, 128-bit output words (the 8x8 weights=bitmod build).
    from hwsim.hw import load_hardware
    from hwsim.hw.fpga.design_point import write_hardware_yaml
    from hwsim.hw.rtl.core_config import CoreConfig
    from hwsim.hw.rtl.core_layout import core_hardware
    from hwsim.hw.rtl.registry import resolve_params
    from hwsim.sim.engine import stored_op
    from hwsim.workloads import operators

    core = CoreConfig(**resolve_params("accel_core", {"rows": 8, "cols": 8,
                                                      "weights": "bitmod"}))
    path = write_hardware_yaml(core_hardware(core), tmp_path / "core.yaml")
    hw, machine = load_hardware(path), load_machine(str(path))
    w = workload_from_dict({"gemms": [{"name": "g", "m": 64, "n": 256, "k": 512}],
                            "activations": {"bits": 16},
                            "weights": {"format": "bitmod4", "group_size": 128}})
    (op,) = operators(w)
    stored = stored_op(op, hw)
    assert (stored.a_bits, stored.b_bits, stored.out_bits) == (16, 8 + 16 / 128, 128)
    row = analyze([op], machine).iloc[0]
    nbytes = (64 * 512 * 16 + 512 * 256 * (8 + 16 / 128) + 64 * 256 * 128) / 8
    assert row["bytes"] == nbytes == 460_800   # in the workload's widths: 166,144
    assert row["intensity"] == 2 * 64 * 256 * 512 / nbytes
    assert (row["a_bits"], row["b_bits"]) == (stored.a_bits, stored.b_bits)
    # Split as `hwsim run` splits it: the code slot is weights, the scale field scales.
    assert row["bytes_weights"] == 512 * 256
    assert row["bytes_scales"] == pytest.approx(512 * 256 * 2 / 128, rel=1e-12)
    assert row["bytes_outputs"] == 64 * 256 * 16
    # The peak is still the workload's format's path (bitmod4 codes, 2 terms a weight).
    assert row["peak_flops_per_s"] == machine.gemm_peak_flops(16, 4)
    # The report says which widths its bytes are in.
    summary = roofline_report(w, machine).summary
    assert summary["conventions"]["bytes"].endswith(
        "; GEMM operands stored as the core does: 8-bit code slots and a 16-bit scale per "
        "group of 128, FP16 activations, 128-bit output words")
    assert summary["total"]["bytes"] == nbytes


def test_a_core_machine_refuses_weights_in_groups_it_does_not_store(tmp_path) -> None:
    # The core's storage widths carry one scale field per group of the build's size: a GEMM
    # quantized in groups of 4 on a core of groups of 8 has no storage on it. `hwsim run`
    # refuses it (the mapper); the roofline counted it in the core's groups (304 bytes for
    # groups of 4, 8 and 16 alike) and now refuses it with the same message.
    from hwsim.hw.fpga.design_point import write_hardware_yaml
    from hwsim.hw.rtl.core_config import CoreConfig
    from hwsim.hw.rtl.core_layout import core_hardware
    from hwsim.workloads import operators

    core = CoreConfig(rows=2, cols=2, lanes=2, group_size=8, k_max=64)
    path = write_hardware_yaml(core_hardware(core), tmp_path / "core.yaml")
    machine = load_machine(str(path))

    def ops(group_size: int) -> list[Op]:
        return operators(workload_from_dict({
            "gemms": [{"name": "g", "m": 4, "n": 4, "k": 16}], "activations": {"bits": 16},
            "weights": {"format": "bitmod4", "group_size": group_size}}))

    assert analyze(ops(8), machine).iloc[0]["bytes"] == 4 * 16 * 2 + 16 * 4 * (4 + 2) / 8 \
        + 4 * 4 * 8
    for group_size in (4, 16):
        with pytest.raises(HwsimError, match=re.escape(
                f"core.yaml: core.group_size: the core runs groups of 8 weights, not "
                f"{group_size} (g)")):
            analyze(ops(group_size), machine)


def test_a_core_machine_refuses_a_fused_attention_kernel_as_the_simulator_does(run_cli,
                                                                               tmp_path) -> None:
    # The RTL core runs one GEMM per command: `hwsim run` refuses a fused attention kernel on
    # its YAML; the roofline analysed one (exit 0). Both now stop in one line naming the op
    # and the kernel the core runs, exit 2; with the naive kernel the roofline runs.
    from hwsim.hw.fpga.design_point import write_hardware_yaml
    from hwsim.hw.rtl.core_config import CoreConfig
    from hwsim.hw.rtl.core_layout import core_hardware
    from hwsim.hw.rtl.registry import resolve_params

    core = CoreConfig(**resolve_params("accel_core", {"rows": 8, "cols": 8, "weights": "bitmod"}))
    hw = write_hardware_yaml(core_hardware(core), tmp_path / "core.yaml")
    wl = tmp_path / "w.yaml"
    for kernel in ("fused", "naive"):
        wl.write_text("model: llama-2-7b\nprompt_tokens: 16\ngenerate_tokens: 2\n"
                      f"attention: {{kernel: {kernel}}}\n"
                      "weights: {format: bitmod4, group_size: 128}\n"
                      "kv_cache: {format: bitmod4, group_size: 128}\n")
        for command in ("run", "roofline") if kernel == "fused" else ("roofline",):
            code, out = run_cli(command, str(wl), "-H", str(hw), "-o",
                                str(tmp_path / f"{command}_{kernel}"))
            if kernel == "naive":
                assert code == 0, out.err
                continue
            assert code == 2
            assert out.err.strip().splitlines() == [
                f"error: {hw}: core: the RTL core runs one GEMM per command, not a fused "
                "attention kernel (attn_qk); use the workload's attention: {kernel: naive}"]


def test_a_workload_without_a_model_has_no_ttft(tmp_path: Path) -> None:
    # Raw GEMMs have no prompt: TTFT was their total time (0.39 ns), `hwsim run` gives null.
    from hwsim.reports.roofline_report import totals_line

    w = workload_from_dict({"gemms": [{"name": "g", "m": 1, "n": 8, "k": 128}]})
    rep = roofline_report(w, A100, tmp_path, plots=False)
    assert rep.summary["total"]["ttft_s"] is None
    assert json.loads((tmp_path / "summary.json").read_text())["total"]["ttft_s"] is None
    assert "TTFT -  TPOT -" in totals_line(rep.summary, A100.name)
    assert roofline_report(_small_workload(), A100).summary["total"]["ttft_s"] > 0


def test_roof_labels_keep_three_significant_digits() -> None:
    # EngFormatter(places=0) wrote 1.555 TB/s as "2 TB/s" and 1248 TFLOP/s as "1 PFLOP/s".
    from hwsim.reports.roofline_plot import roofline_figure

    rep = roofline_report(_small_workload(), A100)
    fig = roofline_figure(rep.table, A100)
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert "memory: 1.56 TB/s" in labels
    assert any(label.endswith(": 1.25 PFLOP/s") for label in labels), labels
    assert any(label.endswith(": 19.5 TFLOP/s") for label in labels), labels


def test_memory_bound_share_below_half_a_percent_is_not_printed_as_0() -> None:
    from hwsim.reports.roofline_report import summary_text_table

    w = workload_from_dict({"gemms": [{"name": "big", "m": 4096, "n": 4096, "k": 4096},
                                      {"name": "gemv", "m": 1, "n": 256, "k": 256}],
                            "weights": {"format": "int4", "group_size": 128}})
    summary = roofline_report(w, load_machine("a100-80g")).summary
    prefill = summary["stages"]["prefill"]
    assert 0 < prefill["memory_bound_time_s"] < 0.005 * prefill["time_s"]
    table = summary_text_table(summary, "mix")
    assert table.rows[0][-1] == "<1"
