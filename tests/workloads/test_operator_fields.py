"""Operator fields the totals do not pin: vector FLOPs and operands, norm parameters, RoPE
width under GQA, KV writes, precisions; each value derived by hand from the config and the
documented per-element estimates (`hwsim.workloads.operators` module docstring)."""

from __future__ import annotations

import numpy as np

from hwsim.workloads import Op, operators, workload_from_dict


def _ops(model: object, prompt: int = 4, gen: int = 1, **kw: object) -> list[Op]:
    return operators(workload_from_dict({"model": model, "prompt_tokens": prompt,
                                         "generate_tokens": gen, **kw}))


def _by(ops: list[Op], stage: str = "prefill") -> dict[str, Op]:
    return {o.name: o for o in ops if o.stage == stage}


def test_llama_vector_ops_flops_and_operands() -> None:
    # Llama-2-7B, 4 tokens: RMSNorm 4 FLOPs/element, RoPE 3, SiLU-gate 5 (reads gate and
    # up), residual add 1 (reads 2), embedding lookup 0 (RoPE, no position table).
    pre = _by(_ops("llama-2-7b"))
    expect = {  # name: (flops per element, a_operands, count, elements per instance)
        "embed": (0.0, 1, 1, 4 * 4096),
        "input_norm": (4.0, 1, 32, 4 * 4096),
        "rope": (3.0, 1, 32, 4 * (32 + 32) * 128),
        "attn_residual": (1.0, 2, 32, 4 * 4096),
        "post_attn_norm": (4.0, 1, 32, 4 * 4096),
        "act": (5.0, 2, 32, 4 * 11008),
        "ffn_residual": (1.0, 2, 32, 4 * 4096),
        "final_norm": (4.0, 1, 1, 4 * 4096),
    }
    for name, (fpe, operands, count, elements) in expect.items():
        op = pre[name]
        assert (op.flops_per_element, op.a_operands, op.count) == (fpe, operands, count), name
        assert int(op.m[0] * op.n[0]) == elements, name
        assert op.flops.tolist() == [elements * count * fpe], name


def test_rope_rotates_the_query_heads_and_only_the_kv_heads_under_gqa() -> None:
    # Llama-3-8B: RoPE on 32 query heads and 8 KV heads of 128 channels: (32 + 8) x 128.
    rope = _by(_ops("llama-3-8b"))["rope"]
    assert rope.n.tolist() == [40 * 128]


def test_norm_parameters_are_read_at_16_bits_per_stored_value() -> None:
    # RMSNorm stores a scale (16 bits per channel); LayerNorm a scale and a shift (32 bits).
    llama = _by(_ops("llama-2-7b"))
    opt = _by(_ops("opt-1.3b"))
    for name in ("input_norm", "post_attn_norm", "final_norm"):
        assert llama[name].b_bits == 16.0 and llama[name].b_kind == "weight", name
        assert opt[name].b_bits == 32.0 and opt[name].b_kind == "weight", name


def test_opt_embedding_adds_the_position_row() -> None:
    # OPT: token row + learned position row, one add per element, two tables read.
    emb = _by(_ops("opt-1.3b"))["embed"]
    assert (emb.flops_per_element, emb.a_operands) == (1.0, 2)
    assert (emb.m[0], emb.n[0]) == (4, 2048)


def test_opt_plain_ffn_activation_reads_one_tensor() -> None:
    act = _by(_ops("opt-1.3b"))["act"]
    assert (act.flops_per_element, act.a_operands, act.n[0]) == (1.0, 1, 8192)  # ReLU


def test_phi2_parallel_residual_adds_three_operands() -> None:
    # x + attention(x) + ffn(x): 2 adds per element; GELU (tanh form) 8 FLOPs, LayerNorm 7.
    pre = _by(_ops("phi-2"))
    assert (pre["residual"].flops_per_element, pre["residual"].a_operands) == (2.0, 3)
    assert pre["act"].flops_per_element == 8.0
    assert pre["input_norm"].flops_per_element == 7.0


def test_mixtral_router_softmax_expert_activation_and_combine() -> None:
    # Decode, batch 1: router softmax over all 8 experts (5 FLOPs each), two experts'
    # SiLU-gate over 14336 channels, weighted sum of top-2: 2 multiplies + 1 add = 3 FLOPs.
    dec = _by(_ops("mixtral-8x7b", gen=2), "decode")
    rs = dec["router_softmax"]
    assert (rs.m[0], rs.n[0], rs.count, rs.flops_per_element) == (1, 8, 32, 5.0)
    act = dec["expert_act"]
    assert (act.m[0], act.n[0], act.count, act.a_operands) == (1, 14336, 32 * 2, 2)
    comb = dec["expert_combine"]
    assert (comb.n[0], comb.flops_per_element, comb.a_operands) == (4096, 3.0, 2)
    assert comb.flops.tolist() == [4096 * 32 * 3.0]


def test_v_proj_writes_the_kv_cache_like_k_proj() -> None:
    pre = _by(_ops("llama-2-7b", weights={"bits": 4}, activations={"bits": 8},
                   kv_cache={"bits": 4}))
    for name in ("k_proj", "v_proj"):
        assert (pre[name].out_kind, pre[name].out_bits) == ("kv", 4), name
    assert (pre["q_proj"].out_kind, pre["q_proj"].out_bits) == ("activation", 8)


def test_attention_reads_the_kv_cache_in_its_groups() -> None:
    # int8 KV with one scale per 64 elements along head_dim: the attention GEMMs' b operand.
    pre = _by(_ops("llama-2-7b", kv_cache={"format": "int8", "group_size": 64}))
    for name in ("attn_qk", "attn_sv"):
        assert (pre[name].group_size, pre[name].b_kind) == (64, "kv"), name
    assert pre["attn_qk"].b_bits == 8 + 16 / 64  # FP16 scale per 64


def test_a_tied_table_is_gathered_at_lm_head_precision() -> None:
    # OPT ties its token table to lm_head: that tensor is stored at lm_head's 8 bits, so the
    # embedding gathers 8-bit token rows; its learned position table is a tensor of its own
    # (never tied), at an embedding's 16-bit default: two rows a token, 8 + 16 bits.
    pre = _by(_ops("opt-1.3b", weights={"bits": 4, "overrides": {"lm_head": {"bits": 8}}}))
    assert pre["embed"].a_operands == 2 and pre["embed"].a_bits == (8.0 + 16.0) / 2
    assert pre["embed"].a_format is None  # two widths: no one format
    # int4 groups of 128 in the token table: its rows' scales split out as scales (0.125 bits
    # per token-table element, so 0.0625 of the two rows' mean), none of the position rows.
    int4 = _by(_ops("opt-1.3b", weights={"format": "int4", "group_size": 128}))
    assert int4["embed"].a_bits == (4.125 + 16) / 2
    assert int4["embed"].stored_code_bits[0] == (4 + 16) / 2
    assert pre["lm_head"].b_bits == 8.0 and pre["q_proj"].b_bits == 4.0
    opt_untied = {"model_type": "opt", "hidden_size": 256, "num_attention_heads": 4,
                  "num_hidden_layers": 2, "ffn_dim": 1024, "vocab_size": 1000,
                  "max_position_embeddings": 64, "tie_word_embeddings": False}
    untied = _by(_ops(opt_untied, weights={"bits": 4, "overrides": {"embed": {"bits": 8}}}))
    assert untied["embed"].a_bits == 8.0  # both tables at the embed override


def test_an_explicit_head_dim_gives_o_proj_the_heads_width() -> None:
    # head_dim 128 x 4 heads = 512 channels into o_proj, 256 out (hidden).
    cfg = {"model_type": "llama", "hidden_size": 256, "num_attention_heads": 4,
           "num_key_value_heads": 2, "head_dim": 128, "num_hidden_layers": 2,
           "intermediate_size": 512, "vocab_size": 1000}
    pre = _by(_ops(cfg))
    assert (pre["o_proj"].k[0], pre["o_proj"].n[0]) == (512, 256)
    assert (pre["q_proj"].n[0], pre["attn_qk"].k[0]) == (512, 128)
    np.testing.assert_array_equal(pre["attn_qk"].m, [4 * 2])  # 2 query heads per KV head
