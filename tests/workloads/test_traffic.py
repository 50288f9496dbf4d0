"""Traffic by tensor: roofline bytes split by hand, and the split always sums to the total."""

import numpy as np
import pytest

from hwsim.hw import load_hardware
from hwsim.reports.roofline import analyze, load_machine, summarize
from hwsim.sim import simulate_workload
from hwsim.sim.run import BUFFERS, LEVELS
from hwsim.workloads import operators, workload_from_dict
from hwsim.workloads.traffic import TENSORS

# int4 weights with an FP16 scale per 128 (4.125 bits), int8 KV with one per 64 (8.25 bits).
W4_KV8 = {"model": "llama-2-7b", "prompt_tokens": 64, "generate_tokens": 3,
          "weights": {"format": "int4", "group_size": 128},
          "kv_cache": {"format": "int8", "group_size": 64}}


@pytest.fixture(scope="module")
def table():
    w = workload_from_dict(W4_KV8)
    return analyze(operators(w), load_machine("a100-40g")).set_index(["stage", "op"])


def test_roofline_bytes_by_tensor_by_hand(table):
    layers = 32
    q = table.loc[("prefill", "q_proj")]
    # Weights 4096 x 4096 at 4 bits, their scales at 0.125 bits; 64 x 4096 FP16 in and out.
    assert q["bytes_weights"] == 4096 * 4096 * 4 / 8 * layers
    assert q["bytes_scales"] == pytest.approx(4096 * 4096 * 0.125 / 8 * layers, rel=1e-12)
    assert q["bytes_activations"] == q["bytes_outputs"] == 64 * 4096 * 2 * layers
    k = table.loc[("prefill", "k_proj")]
    # k_proj writes the KV cache: 64 x 4096 int8 codes, plus 0.25 bits of scales each.
    assert k["bytes_kv_write"] == 64 * 4096 * 1 * layers
    assert k["bytes_outputs"] == 0
    assert k["bytes_scales"] == pytest.approx(
        (4096 * 4096 * 0.125 + 64 * 4096 * 0.25) / 8 * layers, rel=1e-12)
    qk = table.loc[("decode", "attn_qk")]
    # Two decode steps read K of 65 and 66 positions: 128 int8 per head, 32 KV heads.
    assert qk["bytes_kv_read"] == (65 + 66) * 128 * 32 * layers
    embed = table.loc[("prefill", "embed")]
    assert embed["bytes_weights"] == 64 * 4096 * 2  # the gathered FP16 table rows
    assert embed["bytes_activations"] == 0
    # Accesses: per instance and step, each operand's tensor and its scales stream in whole
    # 64-bit DRAM words. q_proj (32 instances): 4096 x 4096 int4 weights = 2^20 words, their
    # scales 4096 x 4096 x 0.125 bits = 2^15 words.
    assert q["accesses_64b_weights"] == 4096 * 4096 * 4 // 64 * layers
    assert q["accesses_64b_scales"] == 4096 * 4096 // 8 // 64 * layers
    assert embed["accesses_64b_weights"] == 64 * 4096 * 16 // 64
    # Decode attn_qk, one instance per layer and head (1024), steps of 65 and 66 keys: K codes
    # 65 x 128 x 8 bits = 1040 words, 66 x 128 x 8 = 1056; K scales 65 x 128 x 0.25 = 2080
    # bits = 32.5 -> 33 words, 66 x 128 x 0.25 = 2112 bits = 33; the query 128 x 16 bits = 32
    # words each step; the FP16 scores 65 x 16 = 1040 bits = 16.25 -> 17, 66 x 16 = 16.5 -> 17.
    heads = 32 * layers
    assert qk["accesses_64b_kv_read"] == (1040 + 1056) * heads
    assert qk["accesses_64b_scales"] == (33 + 33) * heads
    assert qk["accesses_64b_activations"] == (32 + 32) * heads
    assert qk["accesses_64b_outputs"] == (17 + 17) * heads
    assert qk["accesses_64b"] == (1040 + 1056 + 66 + 64 + 34) * heads


def test_roofline_tensors_sum_to_the_bytes(table):
    parts = table[[f"bytes_{t}" for t in TENSORS]].sum(axis=1)
    assert np.allclose(parts, table["bytes"], rtol=1e-12, atol=0)
    accesses = table[[f"accesses_64b_{t}" for t in TENSORS]].sum(axis=1)
    assert (accesses == table["accesses_64b"]).all()
    # Whole words: at least the bytes over 8, at most one word more per stream (two per
    # operand, three operands) per instance and step.
    assert (table["accesses_64b"] >= table["bytes"] / 8 - 1e-6).all()
    streams = 6 * table["count"] * table["steps"]
    assert (table["accesses_64b"] <= table["bytes"] / 8 + streams).all()
    s = summarize(table.reset_index(), batch=1, prompt_tokens=64, generate_tokens=3,
                  decode_steps=2)
    assert sum(s["total"]["bytes_by_tensor"].values()) == pytest.approx(s["total"]["bytes"],
                                                                        rel=1e-12)
    assert sum(s["total"]["accesses_64b_by_tensor"].values()) == s["total"]["accesses_64b"]


@pytest.mark.parametrize("preset", ["bitmod", "scalesim-ws"])
def test_simulator_traffic_and_energy_by_tensor_sum_to_the_totals(preset):
    r = simulate_workload(workload_from_dict({**W4_KV8, "attention": {"kernel": "fused"}}),
                          load_hardware(preset))
    layers = r.layers
    dram = layers[[f"dram_{t}_bytes" for t in TENSORS]].sum(axis=1)
    assert np.allclose(dram, layers["dram_read_bytes"] + layers["dram_write_bytes"],
                       rtol=1e-12, atol=0)
    for d in ("read", "write"):
        by_buffer = layers[[f"sram_{b}_{d}_bytes" for b in ("weight", "activation", "output")]]
        assert np.allclose(by_buffer.sum(axis=1), layers[f"sram_{d}_bytes"], rtol=1e-12)
    memory_uj = layers[["energy_dram_uj", "energy_sram_weight_uj", "energy_sram_activation_uj",
                        "energy_sram_output_uj"]].sum(axis=1)
    tensors_uj = layers[[f"energy_tensor_{t}_uj" for t in TENSORS]].sum(axis=1)
    assert np.allclose(tensors_uj, memory_uj, rtol=1e-12, atol=0)
    # Every level: its tensors' bytes and energy sum to the level's totals. Accesses are
    # whole words per transfer: at least the bits over the word; a tensor's part of a transfer
    # is whole words of its own, so the tensors' accesses are at least the level's.
    hw = r.hardware
    dram_bytes = layers["dram_read_bytes"] + layers["dram_write_bytes"]
    beat = hw.dram_bytes_per_cycle
    for d in ("read", "write"):
        assert (layers[f"dram_{d}_beat_accesses"] >= layers[f"dram_{d}_bytes"] / beat
                - 1e-6).all()
    dram_accesses = layers["dram_read_beat_accesses"] + layers["dram_write_beat_accesses"]
    assert (layers[[f"dram_{t}_beat_accesses" for t in TENSORS]].sum(axis=1)
            >= dram_accesses).all()
    for b in BUFFERS:
        port = getattr(hw.buffers, b).port_bits
        rw = layers[f"sram_{b}_read_bytes"] + layers[f"sram_{b}_write_bytes"]
        assert np.allclose(layers[[f"sram_{b}_{t}_bytes" for t in TENSORS]].sum(axis=1), rw,
                           rtol=1e-12, atol=0)
        accesses = (layers[f"sram_{b}_read_port_accesses"]
                    + layers[f"sram_{b}_write_port_accesses"])
        assert (accesses >= rw * 8 / port - 1e-6).all()
        assert (layers[[f"sram_{b}_{t}_port_accesses" for t in TENSORS]].sum(axis=1)
                >= accesses).all()
    for level in LEVELS:
        by_tensor = layers[[f"energy_{level}_{t}_uj" for t in TENSORS]].sum(axis=1)
        assert np.allclose(by_tensor, layers[f"energy_{level}_uj"], rtol=1e-12, atol=0)
    for t in TENSORS:
        levels = layers[[f"energy_{level}_{t}_uj" for level in LEVELS]].sum(axis=1)
        assert np.allclose(levels, layers[f"energy_tensor_{t}_uj"], rtol=1e-12, atol=0)
    t = r.summary()["traffic"]
    assert sum(t["dram_bytes_by_tensor"].values()) == pytest.approx(dram_bytes.sum(), rel=1e-12)
    assert [t["levels"][level]["word_bits"] for level in LEVELS] == [
        8 * beat, *(getattr(hw.buffers, b).port_bits for b in BUFFERS)]
    for level in LEVELS:
        tensors = t["levels"][level]["tensors"].values()
        assert sum(x["energy_uj"] for x in tensors) == pytest.approx(
            r.energy_breakdown_uj[level], rel=1e-12)
        assert sum(x["accesses"] for x in tensors) >= sum(t["levels"][level]["accesses"].values())
    # The fused kernel reads the KV cache and writes no score matrix: its outputs are O only.
    sv = layers[(layers["op"] == "attn_sv") & (layers["stage"] == "prefill")].iloc[0]
    assert sv["dram_outputs_bytes"] == 64 * 128 * 2 * 32 * 32
