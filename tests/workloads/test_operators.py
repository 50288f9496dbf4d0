"""Operators of prefill and decode: counts, shapes and MAC totals derived by hand."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.dtypes import get_format
from hwsim.workloads import Op, operators, workload_from_dict


def _w(model: str, prompt: int = 16, gen: int = 5, batch: int = 1, **kw: object):
    return workload_from_dict({"model": model, "batch": batch, "prompt_tokens": prompt,
                               "generate_tokens": gen, **kw})


def _by(ops: list[Op], stage: str) -> dict[str, Op]:
    return {o.name: o for o in ops if o.stage == stage}


def _macs(ops: list[Op], stage: str, b_kind: str | None = None) -> int:
    return int(sum(o.macs.sum() for o in ops if o.stage == stage
                   and (b_kind is None or o.b_kind == b_kind)))


LLAMA_OPS = ["embed", "input_norm", "q_proj", "k_proj", "v_proj", "rope", "attn_qk", "softmax",
             "attn_sv", "o_proj", "attn_residual", "post_attn_norm", "gate_proj", "up_proj",
             "act", "down_proj", "ffn_residual", "final_norm", "lm_head"]


def test_llama2_7b_operator_list_and_shapes() -> None:
    ops = operators(_w("llama-2-7b", prompt=256, gen=21))
    assert [o.name for o in ops if o.stage == "prefill"] == LLAMA_OPS
    assert [o.name for o in ops if o.stage == "decode"] == LLAMA_OPS
    pre, dec = _by(ops, "prefill"), _by(ops, "decode")
    q = pre["q_proj"]
    assert (q.m[0], q.k[0], q.n[0], q.count) == (256, 4096, 4096, 32)
    assert (pre["down_proj"].k[0], pre["down_proj"].n[0]) == (11008, 4096)
    # MHA: one query row per token per kv head, 32 layers x 32 kv heads instances.
    qk = pre["attn_qk"]
    assert (qk.m[0], qk.k[0], qk.n[0], qk.count, qk.b_kind) == (256, 128, 256, 1024, "kv")
    # 21 output tokens: the prefill emits the first, 20 decode steps follow, KV 257 .. 276.
    assert dec["attn_qk"].steps == 20
    np.testing.assert_array_equal(dec["attn_qk"].n, np.arange(257, 277))
    np.testing.assert_array_equal(dec["attn_sv"].k, np.arange(257, 277))
    np.testing.assert_array_equal(dec["q_proj"].m, np.ones(20))
    np.testing.assert_array_equal(dec["attn_qk"].step, np.arange(20))
    assert dec["lm_head"].n[0] == 32000


def test_llama3_8b_gqa_groups_query_rows_per_kv_head() -> None:
    ops = operators(_w("llama-3-8b", prompt=100, gen=3, batch=2))
    pre, dec = _by(ops, "prefill"), _by(ops, "decode")
    assert pre["k_proj"].n[0] == 8 * 128  # 8 kv heads x head_dim 128
    # 4 query heads share a kv head: m = tokens x 4; instances = 32 layers x batch 2 x 8.
    assert (pre["attn_qk"].m[0], pre["attn_qk"].count) == (400, 512)
    assert (dec["attn_qk"].m[0], dec["attn_qk"].count) == (4, 512)
    assert pre["q_proj"].m[0] == 200  # batch x prompt


def test_opt_and_phi_layouts() -> None:
    opt = [o.name for o in operators(_w("opt-1.3b", gen=1))]
    assert opt == ["embed", "input_norm", "q_proj", "k_proj", "v_proj", "attn_qk", "softmax",
                   "attn_sv", "o_proj", "attn_residual", "post_attn_norm", "fc1", "act", "fc2",
                   "ffn_residual", "final_norm", "lm_head"]
    phi = operators(_w("phi-2", gen=1))
    assert [o.name for o in phi] == ["embed", "input_norm", "q_proj", "k_proj", "v_proj", "rope",
                                     "attn_qk", "softmax", "attn_sv", "o_proj", "fc1", "act",
                                     "fc2", "residual", "final_norm", "lm_head"]
    rope = _by(phi, "prefill")["rope"]
    # Partial RoPE: 40% of head_dim 80 = 32 rotated channels of 32 q + 32 k heads.
    assert rope.n[0] == (32 + 32) * 32


def test_prefill_and_decode_mac_totals_llama2_7b() -> None:
    P, G = 64, 11
    ops = operators(_w("llama-2-7b", prompt=P, gen=G))
    # Linear layers: every token meets every decoder weight once, plus lm_head.
    linear_params = 32 * (4 * 4096**2 + 3 * 4096 * 11008) + 4096 * 32000
    assert _macs(ops, "prefill", "weight") == P * linear_params
    # Attention: QK^T and S.V each heads x head_dim x query x key MACs per layer; dense P x P.
    assert _macs(ops, "prefill", "kv") == 2 * 32 * 32 * 128 * P * P
    steps = G - 1
    assert _macs(ops, "decode", "weight") == steps * linear_params
    # Decode step s attends to P + s keys: sum_{s=1}^{S} (P + s) = S P + S (S + 1) / 2.
    assert _macs(ops, "decode", "kv") == 2 * 32 * 32 * 128 * (steps * P + steps * (steps + 1) // 2)


def test_single_output_token_is_prefill_only() -> None:
    ops = operators(_w("llama-2-7b", gen=1))
    assert {o.stage for o in ops} == {"prefill"}


def test_logits_last_runs_lm_head_on_one_row_per_sequence() -> None:
    pre = _by(operators(_w("llama-2-7b", prompt=32, batch=3, logits="last")), "prefill")
    assert pre["lm_head"].m[0] == 3
    assert pre["final_norm"].m[0] == 96  # the norm still runs on every token


def test_mixtral_routes_top2_of_8_experts() -> None:
    # Decode, batch 1: 2 assignments -> 2 distinct experts, 1 row each, per layer.
    dec = [o for o in operators(_w("mixtral-8x7b", prompt=4, gen=3)) if o.stage == "decode"]
    up = [o for o in dec if o.name == "expert_up_proj"]
    assert len(up) == 1 and up[0].count == 32 * 2 and up[0].m[0] == 1
    # Prefill of 5 tokens: 10 assignments over 8 experts -> 2 experts with 2 rows, 6 with 1.
    pre = [o for o in operators(_w("mixtral-8x7b", prompt=5, gen=1)) if o.name == "expert_up_proj"]
    assert sorted((int(o.m[0]), o.count) for o in pre) == [(1, 32 * 6), (2, 32 * 2)]
    # Expert MACs exact: tokens x top-2 x 3 matrices x 4096 x 14336 x 32 layers.
    macs = sum(int(o.macs.sum()) for o in operators(_w("mixtral-8x7b", prompt=5, gen=1))
               if o.name.startswith("expert_") and o.kind == "gemm")
    assert macs == 5 * 2 * 3 * 4096 * 14336 * 32


def test_sliding_window_caps_attended_keys() -> None:
    dec = _by(operators(_w("mistral-7b", prompt=4094, gen=5)), "decode")
    # Steps attend to 4095, 4096, then the window of 4096 keeps the key count there.
    np.testing.assert_array_equal(dec["attn_qk"].n, [4095, 4096, 4096, 4096])
    np.testing.assert_array_equal(dec["attn_qk"].kv_len, [4095, 4096, 4097, 4098])


def test_precisions_reach_the_operands() -> None:
    ops = operators(_w("llama-2-7b", gen=2,
                       weights={"bits": 5.5, "overrides": {"lm_head": {"bits": 8},
                                                           "down_proj": {"bits": 3}}},
                       activations={"bits": 8}, kv_cache={"bits": 4}))
    pre = _by(ops, "prefill")
    assert (pre["q_proj"].b_bits, pre["q_proj"].b_format, pre["q_proj"].a_bits) == (5.5, None, 8)
    assert pre["lm_head"].b_bits == 8 and pre["down_proj"].b_bits == 3
    assert pre["k_proj"].out_bits == 4  # written straight into the KV cache
    assert pre["attn_sv"].b_bits == 4 and pre["attn_sv"].b_kind == "kv"
    assert pre["embed"].a_bits == 16  # the table stays 16-bit unless overridden
    assert pre["q_proj"].a_format is None  # a width only: no format to take code bits from


def test_activation_format_reaches_the_operands() -> None:
    # W4A8: int8 activations carry an FP16 scale per 128 -> 8 + 16/128 = 8.125 bits moved;
    # the format name travels with them so peaks and PE checks can use its 8-bit codes.
    ops = operators(_w("llama-2-7b", gen=2, weights={"format": "int4"},
                       activations={"format": "int8"}))
    for stage in ("prefill", "decode"):
        by = _by(ops, stage)
        for name in ("q_proj", "down_proj", "attn_qk", "attn_sv", "lm_head"):
            assert (by[name].a_bits, by[name].a_format) == (8.125, get_format("int8"))
    # The embedding gathers rows of the weight table (16-bit by default), not activations.
    assert _by(ops, "prefill")["embed"].a_format is get_format("fp16")


def test_gemm_workload_maps_each_gemm_to_one_prefill_op() -> None:
    w = workload_from_dict({"gemms": [{"name": "g1", "m": 8, "n": 16, "k": 32},
                                      {"name": "g2", "m": 1, "n": 64, "k": 64, "count": 3}],
                            "weights": {"bits": 4}})
    ops = operators(w)
    assert [(o.name, o.stage, o.layer, int(o.macs.sum())) for o in ops] == [
        ("g1", "prefill", "gemm", 8 * 16 * 32), ("g2", "prefill", "gemm", 64 * 64 * 3)]


@pytest.mark.parametrize("model", ["llama-2-70b", "mixtral-8x7b", "phi-2", "opt-13b", "yi-6b"])
def test_op_arrays_are_consistent(model: str) -> None:
    for op in operators(_w(model, prompt=8, gen=4)):
        assert op.m.dtype == np.int64 and op.m.shape == op.n.shape == op.k.shape == op.step.shape
        assert op.kv_len.shape == op.m.shape
        assert (op.m > 0).all() and (op.n > 0).all() and (op.k > 0).all() and op.count > 0
