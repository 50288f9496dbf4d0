"""The fused attention schedule tile by tile and its buffer needs, derived by hand."""

from __future__ import annotations

import numpy as np

from hwsim.hw import load_hardware
from hwsim.mapping import fused_attention_schedule, fused_buffer_needs
from hwsim.workloads import operators, workload_from_dict


def _op(model: str, stage: str, name: str, prompt: int = 256, gen: int = 1, **attention):
    w = workload_from_dict({"model": model, "prompt_tokens": prompt, "generate_tokens": gen,
                            "attention": {"kernel": "fused", **attention}})
    return next(op for op in operators(w) if op.stage == stage and op.name == name)


def test_buffer_needs_of_a_gqa_tile_by_hand() -> None:
    # Mistral-7B (4 query heads per KV head), default 128 x 64 blocks, 16-bit, head_dim 128:
    # a query block is 32 tokens x 4 heads = 128 rows, a key block 64 keys.
    hw = load_hardware("bitmod")
    assert hw.acc_bits == 32
    needs = fused_buffer_needs(_op("mistral-7b", "prefill", "attn_qk"), hw)
    # Weight: K or V tile twice (double-buffered): 2 x 64 x 128 x 2 B.
    assert needs["buffers.weight.kib"] == 2 * 64 * 128 * 2
    # Activation: Q block and probability tile, twice: 2 x 128 x (128 + 64) x 2 B.
    assert needs["buffers.activation.kib"] == 2 * 128 * (128 + 64) * 2
    # Output: scores and context at 32 bits, plus running max and sum (2 x FP32) per row.
    assert needs["buffers.output.kib"] == (128 * (64 + 128) * 32 + 128 * 2 * 32) / 8


def test_context_is_written_after_each_query_blocks_last_tile() -> None:
    # Llama-2-7B, 256 tokens: query block 0 has tiles 0-1, block 1 tiles 2-5 (causal); O of
    # a block (128 rows x 128 x 2 B) leaves after its last tile.
    hw = load_hardware("bitmod")
    mps, s, offsets = fused_attention_schedule(_op("llama-2-7b", "prefill", "attn_sv"), hw)
    o = 128 * 128 * 2
    assert s.writeback_bytes.tolist() == [0, o, 0, 0, 0, o]
    assert s.load_b_bytes.tolist() == [64 * 128 * 2] * 6  # V per tile
    assert offsets.tolist() == [0, 6]
    # K and V are read once per query block: twice.
    assert mps.b_fetches.tolist() == [2]
    qk_mps, qk, _ = fused_attention_schedule(_op("llama-2-7b", "prefill", "attn_qk"), hw)
    assert qk.load_a_bytes.tolist() == [128 * 128 * 2, 0, 128 * 128 * 2, 0, 0, 0]  # Q
    assert qk_mps.b_fetches.tolist() == [2]


def test_split_k_partials_move_after_the_steps_last_tile() -> None:
    # One decode step at KV length 257: 5 key blocks (64, 64, 64, 64, 1 keys), 4 splits.
    # The partial results, 4 x 130 FP32 values = 2080 B, are written and read back once,
    # charged to the last tile, which also writes O (128 x 2 B).
    hw = load_hardware("bitmod")
    _, s, _ = fused_attention_schedule(_op("llama-2-7b", "decode", "attn_sv", gen=2,
                                           splits=4), hw)
    partial = 4 * 130 * 4
    np.testing.assert_array_equal(s.bk, [64, 64, 64, 64, 1])
    assert s.load_out_bytes.tolist() == [0, 0, 0, 0, partial]
    assert s.writeback_bytes.tolist() == [0, 0, 0, 0, 128 * 2 + partial]
