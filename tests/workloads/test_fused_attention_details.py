"""Fused attention: split-K capped per step, K read at the KV width, query blocks of
block_q // query_group tokens; derived by hand."""

from __future__ import annotations

import numpy as np

from hwsim.reports.roofline import analyze, load_machine
from hwsim.workloads import operators, workload_from_dict
from hwsim.workloads.attention import PARTIAL_BITS, AttentionKernel, fused_blocks


def _ops(model: str = "llama-2-7b", prompt: int = 256, gen: int = 1, **kw: object):
    w = workload_from_dict({"model": model, "prompt_tokens": prompt, "generate_tokens": gen,
                            **kw})
    return {(op.stage, op.name): op for op in operators(w)}


def test_split_k_never_has_more_parts_than_the_step_has_key_blocks() -> None:
    # Llama-2-7B, prompt 100, 200 tokens out: decode steps at KV length 101 .. 299, each
    # visiting ceil(kv / 64) key blocks: 2 up to 128, 3 up to 192, 4 up to 256, then 5.
    # With splits 4 a step runs min(4, blocks) parts.
    ops = _ops(prompt=100, gen=200, attention={"kernel": "fused", "splits": 4})
    f = ops[("decode", "attn_sv")].fused
    kv = np.arange(101, 300)
    expected = np.where(kv <= 128, 2, np.where(kv <= 192, 3, 4))
    np.testing.assert_array_equal(f.splits, expected)
    # Partial results: parts x (head_dim + 2) FP32 values, written and read back (x 2).
    one = 1 * (128 + 2) * PARTIAL_BITS
    assert f.partial_bits()[0] == 2 * 2 * one  # KV 101: 2 parts
    assert f.partial_bits()[-1] == 2 * 4 * one  # KV 299: 4 parts


def test_fused_kernel_reads_k_and_v_at_the_kv_width() -> None:
    # 8-bit KV, 16-bit activations, 256 tokens (6 causal tiles, 384 keys read per (layer,
    # KV head), see test_attention.py). Scores: Q 256 x 128 x 2 B + K 384 x 128 x 1 B;
    # context: V 384 x 128 x 1 B + O 256 x 128 x 2 B.
    ops = _ops(kv_cache={"bits": 8}, attention={"kernel": "fused"})
    table = analyze(list(ops.values()), load_machine("a100-40g")).set_index(["stage", "op"])
    count = 32 * 32
    assert table.loc[("prefill", "attn_qk"), "bytes"] == (256 * 128 * 2 + 384 * 128) * count
    assert table.loc[("prefill", "attn_sv"), "bytes"] == (384 * 128 + 256 * 128 * 2) * count


def test_a_query_block_holds_block_q_floor_divided_by_the_group_tokens() -> None:
    # block_q 130 rows over 4 query heads per KV head: 130 // 4 = 32 tokens per block (128
    # rows), so 64 tokens are 2 blocks of 32; each sees key block 0 (keys 0 .. 63) only.
    b = fused_blocks(np.array([64]), np.array([64]), AttentionKernel("fused", True, 130, 64),
                     None, query_group=4)
    assert b.q_tokens.tolist() == [32, 32]
    # A partly masked tile is computed in full: both tiles are the 64 keys of block 0.
    assert b.keys.tolist() == [64, 64]
