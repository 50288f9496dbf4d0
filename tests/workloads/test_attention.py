"""The fused attention kernel: work and traffic derived by hand on small cases."""

import numpy as np
import pytest

from hwsim.errors import HwsimError
from hwsim.reports.roofline import analyze, load_machine
from hwsim.workloads import operators, workload_from_dict
from hwsim.workloads.attention import AttentionKernel, decode_key_blocks, fused_blocks


def _ops(prompt=256, generate=1, **attention):
    w = workload_from_dict({"model": "llama-2-7b", "prompt_tokens": prompt,
                            "generate_tokens": generate, "attention": attention})
    return {(op.stage, op.name): op for op in operators(w)}


def test_causal_blocks_by_hand():
    # 256 tokens, 128-row query blocks (Llama-2-7B: one query head per KV head), 64 keys:
    # query block 0 (tokens 0-127) sees key blocks 0-1, block 1 sees 0-3: 6 tiles of 128 x 64.
    b = fused_blocks(np.array([256]), np.array([256]), AttentionKernel("fused", True, 128, 64),
                     None)
    assert b.q_tokens.tolist() == [128] * 6
    assert b.keys.tolist() == [64] * 6
    assert b.first_kv.tolist() == [True, False, True, False, False, False]
    assert b.last_kv.tolist() == [False, True, False, False, False, True]


def test_fused_flops_are_unfused_minus_the_causal_saving():
    naive, fused = _ops(), _ops(kernel="fused")
    # Per (layer, KV head): dense 256 x 256 pairs; causal tiles skip 2 of the 8 tiles of
    # 128 x 64 (query block 0, key blocks 2 and 3): 16384 pairs.
    saving_pairs = 2 * 128 * 64
    count = 32 * 32  # layers x KV heads
    for name, per_pair in (("attn_qk", 2 * 128), ("attn_sv", 2 * 128), ("softmax", 5)):
        dense = naive[("prefill", name)].flops.sum()
        assert dense == 256 * 256 * per_pair * count
        assert fused[("prefill", name)].flops.sum() == dense - saving_pairs * per_pair * count
    # Without causal skipping the work is exactly the unfused work.
    plain = _ops(kernel="fused", causal=False)
    for name in ("attn_qk", "softmax", "attn_sv"):
        assert plain[("prefill", name)].flops.sum() == naive[("prefill", name)].flops.sum()


def test_fused_roofline_traffic_by_hand():
    ops = _ops(kernel="fused")
    table = analyze(list(ops.values()), load_machine("a100-40g")).set_index(["stage", "op"])
    count = 32 * 32
    # 16-bit everything, head_dim 128. Scores: Q once (256 x 128) + K once per tile: query
    # block 0 reads 128 keys, block 1 256 keys -> 384 x 128.
    q = o = 256 * 128 * 2
    k = v = 384 * 128 * 2
    assert table.loc[("prefill", "attn_qk"), "bytes"] == (q + k) * count
    assert table.loc[("prefill", "softmax"), "bytes"] == 0
    assert table.loc[("prefill", "attn_sv"), "bytes"] == (v + o) * count


def test_split_k_decode_writes_and_reads_partials():
    # One decode step at KV length 257: 5 key blocks of 64, so up to 5 splits; 4 here, each
    # writes a partial context and two statistics (130 FP32 values), read back to combine.
    ops = _ops(generate=2, kernel="fused", splits=4)
    table = analyze(list(ops.values()), load_machine("a100-40g")).set_index(["stage", "op"])
    count = 32 * 32
    v, o, partials = 257 * 128 * 2, 128 * 2, 2 * 4 * 130 * 4
    assert table.loc[("decode", "attn_sv"), "bytes"] == (v + o + partials) * count


@pytest.mark.parametrize(("attention", "match"), [
    ({"causal": True}, r"attention: causal block skipping needs kernel: fused"),
    ({"block_kv": 32}, r"attention: block_kv only apply to kernel: fused"),
    ({"kernel": "flash"}, r"attention.kernel: Input should be 'naive' or 'fused'"),
    ({"kernel": "fused", "block_q": 0}, r"attention.block_q: Input should be greater than 0"),
])
def test_bad_attention_settings_are_one_line(attention, match):
    with pytest.raises(HwsimError, match=match):
        _ops(**attention)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("window", [None, 1, 50, 64, 100, 300])
@pytest.mark.parametrize("block_kv", [1, 16, 64, 100])
def test_decode_key_blocks_is_fused_blocks_of_one_token_steps(causal, window, block_kv):
    kv = np.arange(1, 700)
    kernel = AttentionKernel("fused", causal, 128, block_kv)
    tiled = np.bincount(fused_blocks(np.ones_like(kv), kv, kernel, window).step,
                        minlength=kv.shape[0])
    assert decode_key_blocks(kv, kernel, window).tolist() == tiled.tolist()


def _workload(model="llama-2-7b", **keys):
    return workload_from_dict({"model": model, **keys}, source="w.yaml")


def test_splits_are_bounded_by_the_widest_decode_step():
    fused = {"kernel": "fused"}
    # The last decode step is at KV length 256 + 2 - 1 = 257: 5 blocks of 64.
    assert _workload(prompt_tokens=256, generate_tokens=2,
                     attention={**fused, "splits": 5}).attention.splits == 5
    with pytest.raises(HwsimError, match=r"^w.yaml: attention.splits: 6 parts .* no decode step "
                       r"visits more than 5 key blocks of block_kv 64; give splits 1..5$"):
        _workload(prompt_tokens=256, generate_tokens=2, attention={**fused, "splits": 6})
    # A longer generation reaches a sixth block (KV length 321 at its last step).
    _workload(prompt_tokens=256, generate_tokens=66, attention={**fused, "splits": 6})
    with pytest.raises(HwsimError, match=r"no sequence has a decode step \(generate_tokens 1\)"):
        _workload(prompt_tokens=256, generate_tokens=1, attention={**fused, "splits": 2})
    _workload(prompt_tokens=256, generate_tokens=1, attention={**fused, "splits": 1})
    # A request trace: its longest sequence decides (prompt 1000 + 9 decode steps: 16 blocks).
    trace = {"requests": [{"prompt_tokens": 100, "generate_tokens": 2},
                          {"prompt_tokens": 1000, "generate_tokens": 10}]}
    _workload(**trace, attention={**fused, "splits": 16})
    with pytest.raises(HwsimError, match=r"more than 16 key blocks"):
        _workload(**trace, attention={**fused, "splits": 17})


def test_splits_under_a_sliding_window_count_the_blocks_the_window_spans():
    # Mistral-7B's 4096-token window over 64-key blocks: 64 blocks when the window starts on
    # a block boundary, 65 when it straddles one. Here the last step (query 8191, window from
    # 4096) spans 64, the one before it 65: the widest step is not the last.
    fused = {"kernel": "fused"}
    _workload("mistral-7b", prompt_tokens=8000, generate_tokens=193,
              attention={**fused, "splits": 65})
    with pytest.raises(HwsimError, match=r"more than 65 key blocks"):
        _workload("mistral-7b", prompt_tokens=8000, generate_tokens=193,
                  attention={**fused, "splits": 66})
    # Before the window is full the count grows with the KV length, as without one.
    with pytest.raises(HwsimError, match=r"more than 3 key blocks"):
        _workload("mistral-7b", prompt_tokens=128, generate_tokens=2,
                  attention={**fused, "splits": 4})


def test_a_prompt_longer_than_the_window_reads_every_key_once():
    # Mistral-7B's 4096-token window on an 8192-token prompt: the queries between them see all
    # 8192 keys, so the naive kernel's scores are 8192 x 8192 (masked, computed) and K and V
    # are each read whole; it counted keys 0..4095 (8192 x 4096, half of K and V read).
    w = workload_from_dict({"model": "mistral-7b", "prompt_tokens": 8192,
                            "generate_tokens": 3})
    ops = {(op.stage, op.name): op for op in operators(w)}
    qk = ops[("prefill", "attn_qk")]
    assert qk.n.tolist() == [8192]
    count = 32 * 8  # layers x KV heads
    assert qk.flops.sum() == 2 * (8192 * 4) * 8192 * 128 * count  # 4 query heads per KV head
    # A decode step sees its window (the rolling cache's 4096 keys).
    assert ops[("decode", "attn_qk")].n.tolist() == [4096, 4096]
    # The non-causal fused kernel visits the same keys as naive does.
    fused = workload_from_dict({"model": "mistral-7b", "prompt_tokens": 8192,
                                "generate_tokens": 3,
                                "attention": {"kernel": "fused", "causal": False}})
    fops = {(op.stage, op.name): op for op in operators(fused)}
    for name in ("attn_qk", "softmax", "attn_sv"):
        for stage in ("prefill", "decode"):
            assert fops[(stage, name)].flops.sum() == ops[(stage, name)].flops.sum(), name


def test_a_chunk_under_a_window_spans_its_tokens_and_the_window_before_them():
    from hwsim.workloads.operators import step_operators

    w = workload_from_dict({"model": "mistral-7b", "prompt_tokens": 8192,
                            "generate_tokens": 1})
    # A 512-token chunk at positions 6000..6511: keys 6000 - 4095 .. 6511, 4607 of them; a
    # chunk at the start sees its own tokens only.
    tokens, kv = np.array([512, 512]), np.array([6512, 512])
    qk = {op.name: op for op in step_operators(w, "prefill", tokens=tokens, kv_len=kv,
                                                rows=tokens, logit_rows=tokens,
                                                part="attention")}["attn_qk"]
    assert qk.n.tolist() == [512 + 4096 - 1, 512]


def test_gqa_query_blocks_hold_block_q_rows_by_hand():
    # Mistral-7B: 4 query heads per KV head, so a 128-row query block holds 128 // 4 = 32
    # tokens with all 4 heads (K and V read once for the group). 256 tokens: 8 query blocks;
    # causal, block i (tokens 32i .. 32i + 31) sees key blocks of 64 up to (32i + 31) // 64:
    # 1, 1, 2, 2, 3, 3, 4, 4 = 20 tiles of 32 tokens x 64 keys.
    b = fused_blocks(np.array([256]), np.array([256]), AttentionKernel("fused", True, 128, 64),
                     4096, query_group=4)
    assert b.q_tokens.tolist() == [32] * 20
    assert b.keys.tolist() == [64] * 20
    assert np.bincount(b.q_block).tolist() == [1, 1, 2, 2, 3, 3, 4, 4]
    w = workload_from_dict({"model": "mistral-7b", "prompt_tokens": 256, "generate_tokens": 1,
                            "attention": {"kernel": "fused"}})
    ops = {(op.stage, op.name): op for op in operators(w)}
    count = 32 * 8  # layers x KV heads
    # (query row, key) pairs: 4 heads x 32 tokens x 64 keys x 20 tiles = 163840 (dense:
    # 4 x 256 x 256 = 262144, less the 12 skipped tiles of 4 x 32 x 64); 2 x 128 FLOPs each.
    assert ops[("prefill", "attn_qk")].flops.sum() == 2 * 128 * (4 * 32 * 64 * 20) * count
    table = analyze(list(ops.values()), load_machine("a100-40g")).set_index(["stage", "op"])
    # 16-bit, head_dim 128. Q and O once: 256 tokens x 4 heads; K and V once per tile: 20 x 64.
    q = o = 256 * 4 * 128 * 2
    k = v = 20 * 64 * 128 * 2
    assert table.loc[("prefill", "attn_qk"), "bytes"] == (q + k) * count
    assert table.loc[("prefill", "attn_sv"), "bytes"] == (v + o) * count
