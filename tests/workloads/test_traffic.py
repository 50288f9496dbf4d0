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
    # Accesses: the same traffic in 64-bit DRAM words (16 int4 weights, 8 int8 KV entries).
    assert q["accesses_64b_weights"] == 4096 * 4096 / 16 * layers
    assert qk["accesses_64b_kv_read"] == (65 + 66) * 128 * 32 / 8 * layers
    assert embed["accesses_64b_weights"] == 64 * 4096 / 4


def test_roofline_tensors_sum_to_the_bytes(table):
    parts = table[[f"bytes_{t}" for t in TENSORS]].sum(axis=1)
    assert np.allclose(parts, table["bytes"], rtol=1e-12, atol=0)
    accesses = table[[f"accesses_64b_{t}" for t in TENSORS]].sum(axis=1)
    assert np.allclose(accesses, table["accesses_64b"], rtol=1e-12, atol=0)
    assert np.allclose(table["accesses_64b"], table["bytes"] / 8, rtol=1e-12, atol=0)
    s = summarize(table.reset_index(), batch=1, prompt_tokens=64, generate_tokens=3,
                  decode_steps=2)
    assert sum(s["total"]["bytes_by_tensor"].values()) == pytest.approx(s["total"]["bytes"],
                                                                        rel=1e-12)
    assert sum(s["total"]["accesses_64b_by_tensor"].values()) == pytest.approx(
        s["total"]["accesses_64b"], rel=1e-12)


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
    # Every level: its tensors' bytes, accesses and energy sum to the level's totals.
    hw = r.hardware
    dram_bytes = layers["dram_read_bytes"] + layers["dram_write_bytes"]
    for d in ("read", "write"):
        assert np.allclose(layers[f"dram_{d}_accesses_64b"], layers[f"dram_{d}_bytes"] / 8,
                           rtol=1e-12, atol=0)
    assert np.allclose(layers[[f"dram_{t}_accesses_64b" for t in TENSORS]].sum(axis=1),
                       dram_bytes / 8, rtol=1e-12, atol=0)
    for b in BUFFERS:
        port = getattr(hw.buffers, b).port_bits
        rw = layers[f"sram_{b}_read_bytes"] + layers[f"sram_{b}_write_bytes"]
        assert np.allclose(layers[[f"sram_{b}_{t}_bytes" for t in TENSORS]].sum(axis=1), rw,
                           rtol=1e-12, atol=0)
        accesses = layers[[f"sram_{b}_{t}_port_accesses" for t in TENSORS]].sum(axis=1)
        assert np.allclose(accesses, rw * 8 / port, rtol=1e-12, atol=0)
        assert np.allclose(layers[f"sram_{b}_read_port_accesses"]
                           + layers[f"sram_{b}_write_port_accesses"], accesses, rtol=1e-12)
    for level in LEVELS:
        by_tensor = layers[[f"energy_{level}_{t}_uj" for t in TENSORS]].sum(axis=1)
        assert np.allclose(by_tensor, layers[f"energy_{level}_uj"], rtol=1e-12, atol=0)
    for t in TENSORS:
        levels = layers[[f"energy_{level}_{t}_uj" for level in LEVELS]].sum(axis=1)
        assert np.allclose(levels, layers[f"energy_tensor_{t}_uj"], rtol=1e-12, atol=0)
    t = r.summary()["traffic"]
    assert sum(t["dram_bytes_by_tensor"].values()) == pytest.approx(dram_bytes.sum(), rel=1e-12)
    assert [t["levels"][level]["word_bits"] for level in LEVELS] == [
        64, *(getattr(hw.buffers, b).port_bits for b in BUFFERS)]
    for level in LEVELS:
        tensors = t["levels"][level]["tensors"].values()
        assert sum(x["energy_uj"] for x in tensors) == pytest.approx(
            r.energy_breakdown_uj[level], rel=1e-12)
        assert sum(x["accesses"] for x in tensors) == pytest.approx(
            sum(t["levels"][level]["accesses"].values()), rel=1e-12)
    # The fused kernel reads the KV cache and writes no score matrix: its outputs are O only.
    sv = layers[(layers["op"] == "attn_sv") & (layers["stage"] == "prefill")].iloc[0]
    assert sv["dram_outputs_bytes"] == 64 * 128 * 2 * 32 * 32
