"""A whole workload: totals are the sums of their parts, decode steps follow KV lengths."""

import numpy as np
import pandas as pd
import pytest

from hwsim.dtypes import get_format
from hwsim.hw import load_hardware, with_overrides
from hwsim.sim import ENERGY_KEYS, compare_results, simulate_ops, simulate_workload
from hwsim.sim.run import apply_weight_storage
from hwsim.workloads import operators, workload_from_dict


@pytest.fixture(scope="module")
def workload():
    # A small model keeps this fast: OPT-1.3B, 64-token prompt, 4 decode steps.
    return workload_from_dict({"model": "opt-1.3b", "prompt_tokens": 64, "generate_tokens": 5,
                               "weights": {"format": "bitmod4", "group_size": 128}})


@pytest.fixture(scope="module")
def result(workload):
    hw = with_overrides(load_hardware("bitmod"), {"leakage_mw": 50.0})
    return simulate_workload(workload, hw)


def test_totals_are_sums(result):
    layers = result.layers
    assert result.total_cycles == layers["cycles"].sum()
    assert (layers["cycles"] == layers["compute_cycles"] + layers["stall_cycles"]).all()
    breakdown = result.energy_breakdown_uj
    assert set(breakdown) == set(ENERGY_KEYS)
    assert all(v >= 0 for v in breakdown.values())
    assert sum(breakdown.values()) == pytest.approx(result.energy_uj)
    stages = result.stage_totals()
    assert sum(s["cycles"] for s in stages.values()) == result.total_cycles
    assert sum(s["energy_uj"] for s in stages.values()) == pytest.approx(result.energy_uj)
    # leakage = 50 mW x latency: 50e-3 W x latency_ms x 1e-3 s = J; x 1e6 -> uJ.
    assert breakdown["leakage"] == pytest.approx(50e-3 * result.latency_ms * 1e-3 * 1e6)
    assert ((layers["utilization"] > 0) & (layers["utilization"] <= 1)).all()


def test_utilization_counts_the_silicons_pes(workload, result):
    # bitmod: prefill 32x32, decode 64x16, one silicon of 1024 PEs. Twice the prefill rows
    # make 2048 PEs (the area charges them); the decode array, unchanged, leaves half idle:
    # its busy fraction over the silicon halves (it was divided by the decode shape's 1024).
    hw = load_hardware("bitmod")
    wide = with_overrides(hw, {"array.rows": 64})
    assert (hw.pe_count, wide.pe_count) == (1024, 2048)
    decode = result.layers[result.layers["stage"] == "decode"]
    decode_wide = simulate_workload(workload, wide).layers
    decode_wide = decode_wide[decode_wide["stage"] == "decode"]
    assert decode_wide["cycles"].tolist() == decode["cycles"].tolist()
    assert decode_wide["utilization"].to_numpy() == pytest.approx(
        decode["utilization"].to_numpy() / 2, rel=1e-12)


def test_tokens_and_latency(result):
    # 1 GHz: cycles / 1e6 = ms. Tokens processed: 64 prompt + 4 decode inputs.
    assert result.latency_ms == pytest.approx(result.total_cycles / 1e6)
    assert result.tokens == {"prefill": 64, "decode": 4}
    assert result.throughput_tokens_per_s == pytest.approx(68 / (result.latency_ms * 1e-3))
    # Decode: 4 generated tokens over the decode cycles at 1 GHz (cycles / 1e9 s).
    decode_s = result.step_cycles["decode"].sum() / 1e9
    assert result.decode_tokens_per_s == pytest.approx(4 / decode_s)
    assert result.energy_per_token_uj == pytest.approx(result.energy_uj / 68)


def test_every_decode_step_is_simulated(result):
    steps = result.step_cycles["decode"]
    assert len(steps) == 4
    # The KV cache grows every step, so no step is cheaper than the one before.
    assert np.all(np.diff(steps) >= 0)
    assert steps.sum() == result.stage_totals()["decode"]["cycles"]
    # Vector ops are listed, not silently dropped.
    assert "prefill/softmax" in result.not_simulated


def test_summary_keys(result):
    s = result.summary()
    for key in ("total_cycles", "latency_ms", "energy_uj", "energy_breakdown_uj", "area_mm2",
                "stages", "throughput_tokens_per_s", "decode_tokens_per_s", "not_simulated"):
        assert key in s
    assert "tokens_per_s" not in s  # one name per figure: the throughput is throughput_...
    assert set(s["stages"]) == {"prefill", "decode"}


def test_compare_normalizes_to_baseline(workload, result):
    fp16 = simulate_workload(workload, load_hardware("fp16"))
    table = compare_results([result, fp16], baseline=1)
    assert table.loc[1, "speedup"] == pytest.approx(1.0)
    assert table.loc[0, "speedup"] == pytest.approx(fp16.latency_ms / result.latency_ms)
    assert table.loc[0, "energy_efficiency"] == pytest.approx(fp16.energy_uj / result.energy_uj)


def test_a_design_with_its_own_weight_storage(workload):
    # The fp16 preset stores FP16 weights: weight operands become 16 bits, the KV cache and
    # the other designs keep the workload's precision.
    ops = operators(workload)
    stored = apply_weight_storage(ops, load_hardware("fp16"))
    weight_ops = [o for o in stored if o.kind == "gemm" and o.b_kind == "weight"]
    assert weight_ops and all(o.b_format is get_format("fp16") and o.b_bits == 16.0
                              for o in weight_ops)
    assert all(o.b_bits == 16.0 and o.b_format is None
               for o in stored if o.kind == "gemm" and o.b_kind == "kv")
    assert apply_weight_storage(ops, load_hardware("bitmod")) == ops
    # 8-bit storage via an override: q_proj reads half the weight bytes of the fp16 preset.
    int8 = with_overrides(load_hardware("fp16"), {"weights.format": "int8"})
    q16 = simulate_workload(workload, load_hardware("fp16")).layers.set_index(["stage", "op"])
    q8 = simulate_workload(workload, int8).layers.set_index(["stage", "op"])
    # Decode q_proj (24 layers x 4 steps) reads its 2048 x 2048 weights and the 2048 FP16
    # activations once per step: 16 bits per weight, or int8 with its default FP16 scale per
    # group of 128: 8 + 16 / 128 bits.
    assert q16.loc[("decode", "q_proj"), "dram_read_bytes"] == pytest.approx(
        24 * 4 * (2048 * 2048 * 2 + 2048 * 2))
    assert q8.loc[("decode", "q_proj"), "dram_read_bytes"] == pytest.approx(
        24 * 4 * (2048 * 2048 * (8 + 16 / 128) / 8 + 2048 * 2))


def test_w4a8_with_an_int8_activation_format_runs_on_the_dint_preset():
    # activations {format: int8} are 8.125 effective bits (FP16 scale per 128) of 8-bit codes;
    # the dint PE takes 8-bit activations, so the run is not refused as "9-bit".
    w = workload_from_dict({"gemms": [{"name": "g", "m": 16, "n": 64, "k": 128}],
                            "weights": {"format": "int4"}, "activations": {"format": "int8"}})
    res = simulate_workload(w, load_hardware("dint"))
    assert res.layers["cycles"].sum() > 0


def test_design_weight_storage_counts_scales_at_each_ops_k(workload):
    # OPT-1.3B: q_proj k = 2048, fc2 k = 8192.
    ops = operators(workload)
    by = {o.name: o for o in apply_weight_storage(
        ops, with_overrides(load_hardware("fp16"), {"weights.format": "bitmod4"}))
        if o.stage == "prefill"}
    # bitmod4: 4-bit codes + (INT8 scale 8 + 2 selector bits) per 128 + a per-row FP32
    # factor: 4 + 10/128 + 32/k (the per-row term was dropped: 4.078125).
    assert by["q_proj"].b_bits == pytest.approx(4 + 10 / 128 + 32 / 2048)
    assert by["fc2"].b_bits == pytest.approx(4 + 10 / 128 + 32 / 8192)
    # ant4 has one FP16 scale per row: 4 + 16/k (this raised "ant4 scales each row").
    ant = with_overrides(load_hardware("fp16"), {"weights.format": "ant4"})
    by = {o.name: o for o in apply_weight_storage(ops, ant) if o.stage == "prefill"}
    assert (by["q_proj"].b_format.name, by["q_proj"].group_size) == ("ant4", None)
    assert by["q_proj"].b_bits == pytest.approx(4 + 16 / 2048)
    assert by["fc2"].b_bits == pytest.approx(4 + 16 / 8192)
    assert simulate_workload(workload, ant).total_cycles > 0


def test_operators_of_equal_shape_share_one_simulation_exactly(workload):
    # q_proj, k_proj, v_proj and out_proj of OPT have equal shapes and precisions: the run
    # simulates one and reuses it; each row must equal that operator simulated on its own
    # (k_proj and v_proj write the KV cache, so their traffic by tensor still differs).
    hw = load_hardware("bitmod")
    ops = [op for op in operators(workload) if op.kind == "gemm"]
    together = simulate_ops(ops, hw).layers
    alone = pd.concat([simulate_ops([op], hw).layers for op in ops], ignore_index=True)
    pd.testing.assert_frame_equal(together, alone, check_exact=True)
    prefill = together[together["stage"] == "prefill"].set_index("op")
    assert prefill.loc["k_proj", "cycles"] == prefill.loc["q_proj", "cycles"]
    assert prefill.loc["k_proj", "dram_kv_write_bytes"] > 0
    assert prefill.loc["q_proj", "dram_kv_write_bytes"] == 0


def test_the_run_entry_points_refuse_arguments_of_another_kind():
    from hwsim.errors import HwsimError
    from hwsim.workloads import load_workload

    hw = load_hardware("bitmod")
    workload = load_workload("gemm-kernels")
    # Names where the loaded objects belong, and an empty comparison: AttributeError and
    # IndexError before.
    with pytest.raises(HwsimError, match=r"^workload: expected a Workload \(.*\), not str$"):
        simulate_workload("gemm-kernels", hw)
    with pytest.raises(HwsimError, match=r"^hw: expected a HardwareSpec \(.*\), not str$"):
        simulate_workload(workload, "bitmod")
    with pytest.raises(HwsimError, match=r"^compare_results: no results to compare$"):
        compare_results([])
    with pytest.raises(HwsimError, match=r"baseline 5 is not the index of one of the 1"):
        compare_results([simulate_workload(workload, hw)], baseline=5)


def test_operators_and_the_roofline_refuse_names_for_objects():
    from hwsim.errors import HwsimError
    from hwsim.reports.roofline_machine import load_machine
    from hwsim.reports.roofline_report import roofline_report
    from hwsim.workloads import load_workload

    with pytest.raises(HwsimError, match=r"^workload: expected a Workload .*, not str$"):
        operators("llama-2-7b-generative")
    with pytest.raises(HwsimError, match=r"^machine: expected a roofline Machine .*, not str$"):
        roofline_report(load_workload("gemm-kernels"), "a100-80g")
    assert len(roofline_report(load_workload("gemm-kernels"), load_machine("a100-80g")).table)


def test_a_designs_group_larger_than_k_is_refused_not_clipped():
    # The workload's group is refused beyond k; the design's was clipped to k (int4 at
    # 4.125 bits as with 128), and 2**63 - 1 ran the mapper out of memory.
    from hwsim.errors import HwsimError

    w = workload_from_dict({"gemms": [{"name": "g", "m": 16, "n": 64, "k": 128}]})
    for group in (256, 2**63 - 1):
        hw = with_overrides(load_hardware("bitmod"), {"weights.format": "int4",
                                                      "weights.group_size": group})
        with pytest.raises(HwsimError, match=rf"weights.group_size: {group} is larger than "
                                             r"the reduction dimension k=128 of g"):
            simulate_workload(w, hw)
    # The format's own default group likewise (bitmod4: 128 > 64).
    small = workload_from_dict({"gemms": [{"name": "g", "m": 16, "n": 64, "k": 64}]})
    hw = with_overrides(load_hardware("bitmod"), {"weights.format": "bitmod4"})
    with pytest.raises(HwsimError, match=r"weights.group_size: 128 \(bitmod4's default\) is "
                                         r"larger than the reduction dimension k=64 of g"):
        simulate_workload(small, hw)


def test_fixed_dram_cycles_near_the_counters_limit_are_refused():
    # A latency of 2**63 - 1 cycles wrapped the int64 sum (a run faster than with latency 0;
    # 2**62 gave negative cycles and a traceback in the plots).
    from hwsim.errors import HwsimError

    w = workload_from_dict({"gemms": [{"name": "g", "m": 16, "n": 64, "k": 128}]})
    for field in ("dram.latency_cycles", "transfer_cycles"):
        hw = with_overrides(load_hardware("bitmod"), {field: 2**62})
        with pytest.raises(HwsimError, match=r"DRAM cycles of one GEMM: .* beyond the 2\*\*62 "
                                             r".* or the hardware's cycle counts"):
            simulate_workload(w, hw)



def test_decode_tokens_count_every_sequence_of_the_batch(batched):
    # Prefill: 2 x 16 prompt tokens; decode: 2 sequences x 2 steps = 4 tokens (not 2).
    assert batched.tokens == {"prefill": 32, "decode": 4}
    decode_s = batched.step_cycles["decode"].sum() / 1e9  # 1 GHz
    assert batched.decode_tokens_per_s == pytest.approx(4 / decode_s)
    assert batched.throughput_tokens_per_s == pytest.approx(36 / (batched.latency_ms * 1e-3))
    assert batched.energy_per_token_uj == pytest.approx(batched.energy_uj / 36)


def test_stage_totals_rates_and_cycle_columns(batched):
    stages = batched.stage_totals()
    layers = batched.layers
    for name, stage in stages.items():
        rows = layers[layers["stage"] == name]
        # compute and stall are distinct sums (a decode stage stalls ~half its cycles).
        assert stage["compute_cycles"] == rows["compute_cycles"].sum()
        assert stage["stall_cycles"] == rows["stall_cycles"].sum()
        assert stage["compute_cycles"] != stage["stall_cycles"]
        # tokens per second: latency in ms -> s.
        assert stage["tokens_per_s"] == pytest.approx(
            stage["tokens"] / (stage["latency_ms"] * 1e-3))
    assert stages["decode"]["tokens_per_s"] == pytest.approx(batched.decode_tokens_per_s)


def test_compare_reports_each_designs_own_decode_rate(batched, workload, result):
    # decode tok/s (4 / decode time) differs from the throughput (36 / total time).
    table = compare_results([batched, result])
    assert table.loc[0, "decode_tokens_per_s"] == pytest.approx(batched.decode_tokens_per_s)
    assert table.loc[1, "decode_tokens_per_s"] == pytest.approx(result.decode_tokens_per_s)
    assert batched.decode_tokens_per_s != pytest.approx(batched.throughput_tokens_per_s)

