"""A fused attention kernel on the accelerator: its tiles' traffic by hand, buffer refusal."""

import pytest

from hwsim.errors import HwsimError
from hwsim.hw import load_hardware
from hwsim.sim import simulate_workload
from hwsim.workloads import workload_from_dict


def _run(hw="bitmod", **attention):
    w = workload_from_dict({"model": "llama-2-7b", "prompt_tokens": 256, "generate_tokens": 1,
                            "weights": {"format": "bitmod3", "group_size": 128},
                            "attention": attention})
    return simulate_workload(w, load_hardware(hw)).layers.set_index("op")


def test_fused_tiles_move_q_k_v_o_once_per_tile_by_hand():
    layers = _run(kernel="fused")
    count = 32 * 32  # layers x KV heads
    # 6 tiles of 128 query rows x 64 keys (see the workload test). Scores: Q of each query
    # block once (256 x 128 x 2 B), K per tile (384 keys x 128 x 2 B); no score write-back.
    assert layers.loc["attn_qk", "dram_read_bytes"] == (256 + 384) * 128 * 2 * count
    assert layers.loc["attn_qk", "dram_write_bytes"] == 0
    # Context: V per tile, O written once per query block.
    assert layers.loc["attn_sv", "dram_read_bytes"] == 384 * 128 * 2 * count
    assert layers.loc["attn_sv", "dram_write_bytes"] == 256 * 128 * 2 * count
    # The MACs are the tiles' (causal skipping), as in the operator list.
    assert layers.loc["attn_qk", "macs"] == 6 * 128 * 64 * 128 * count
    assert layers.loc["attn_qk", "mapping"].startswith("fused attention 128x64x128 tiles")


def test_split_k_partials_are_written_once_and_read_back_once():
    # One decode step at KV length 257 in 4 splits (see the workload test): each split writes
    # a partial context and two statistics, 130 FP32 values = 520 B, and the combine pass
    # reads them back: 2080 B written, 2080 B read, per (layer, KV head).
    w = workload_from_dict({"model": "llama-2-7b", "prompt_tokens": 256, "generate_tokens": 2,
                            "weights": {"format": "bitmod3", "group_size": 128},
                            "attention": {"kernel": "fused", "splits": 4}})
    layers = simulate_workload(w, load_hardware("bitmod")).layers
    sv = layers[(layers["op"] == "attn_sv") & (layers["stage"] == "decode")].iloc[0]
    count = 32 * 32
    partials = 4 * 130 * 4
    v, o = 257 * 128 * 2, 128 * 2
    assert sv["dram_read_bytes"] == (v + partials) * count
    assert sv["dram_write_bytes"] == (o + partials) * count
    # Both directions of the partials are the op's outputs.
    assert sv["dram_outputs_bytes"] == (o + 2 * partials) * count


def test_fused_causal_is_faster_than_naive_on_the_accelerator():
    naive, fused = _run(), _run(kernel="fused")
    attn = ["attn_qk", "attn_sv"]
    assert fused.loc[attn, "cycles"].sum() < naive.loc[attn, "cycles"].sum()
    # Everything outside attention is unchanged.
    rest = [op for op in naive.index if op not in attn]
    assert fused.loc[rest, "cycles"].tolist() == naive.loc[rest, "cycles"].tolist()


def test_a_tile_too_large_for_the_buffers_is_refused():
    # A query block of the whole 256-token prompt: score tile and context accumulator
    # 256 x (64 + 128) x 4 B + statistics 256 x 8 B = 194 KiB > 128 KiB.
    with pytest.raises(HwsimError, match=r"buffers.output.kib: 128 KiB cannot hold the fused "
                                         r"attention tile of prefill attn_qk \(attention.block_q"
                                         r" 1024, block_kv 64"):
        _run(kernel="fused", block_q=1024)
