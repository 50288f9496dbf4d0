"""The fused attention kernel: work and traffic derived by hand on small cases."""

import numpy as np
import pytest

from hwsim.errors import HwsimError
from hwsim.reports.roofline import analyze, load_machine
from hwsim.workloads import operators, workload_from_dict
from hwsim.workloads.attention import AttentionKernel, fused_blocks


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
    # One decode step at KV length 257: 5 key blocks of 64, so 4 splits are possible; each
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
