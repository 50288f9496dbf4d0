"""Exact parameter counts and memory footprints, each derived by hand from the model config.

The published counts are the exact totals of the models' released checkpoints (the sum of
their tensors' elements); each is also written out from the config below it.
"""

from __future__ import annotations

import pytest

from hwsim.workloads import (
    footprint,
    get_model,
    linear_layers,
    model_from_hf_dict,
    parameter_count,
    workload_from_dict,
)


def _llama_by_hand(h: int, layers: int, heads: int, kv: int, ffn: int, vocab: int) -> int:
    # Untied embed + lm_head; per layer q, o (h x h), k, v (h x kv x head_dim), SwiGLU 3 x h x
    # ffn, two RMSNorm scales; a final RMSNorm.
    d = h // heads
    per_layer = 2 * h * h + 2 * h * kv * d + 3 * h * ffn + 2 * h
    return 2 * vocab * h + layers * per_layer + h


def _opt_by_hand(h: int, layers: int, ffn: int) -> int:
    # Token table 50272 x h plus 2050 learned positions (tied lm_head adds nothing); per layer
    # q, k, v, o with biases, fc1 / fc2 with biases, two LayerNorms (scale and shift); the
    # final LayerNorm.
    per_layer = 4 * (h * h + h) + (h * ffn + ffn) + (ffn * h + h) + 2 * 2 * h
    return (50272 + 2050) * h + layers * per_layer + 2 * h


@pytest.mark.parametrize(("name", "by_hand", "published"), [
    ("llama-2-13b", _llama_by_hand(5120, 40, 40, 40, 13824, 32000), 13_015_864_320),
    ("llama-3-70b", _llama_by_hand(8192, 80, 64, 8, 28672, 128256), 70_553_706_496),
    ("yi-6b", _llama_by_hand(4096, 32, 32, 4, 11008, 64000), 6_061_035_520),
    ("opt-6.7b", _opt_by_hand(4096, 32, 16384), 6_658_473_984),
    ("opt-13b", _opt_by_hand(5120, 40, 20480), 12_853_473_280),
])
def test_builtin_parameter_counts_are_exact(name: str, by_hand: int, published: int) -> None:
    assert by_hand == published
    assert parameter_count(get_model(name)) == published


def test_mixtral_count_has_a_bias_free_router_and_every_expert() -> None:
    # Mixtral-8x7B: untied 32000 x 4096 embed and lm_head; per layer q, o 4096^2, k, v
    # 4096 x 1024 (8 KV heads), router 4096 x 8 (no bias), 8 experts x 3 x 4096 x 14336,
    # two RMSNorms; the final norm. 46,702,792,704 as released.
    per_layer = (2 * 4096**2 + 2 * 4096 * 1024 + 4096 * 8 + 8 * 3 * 4096 * 14336
                 + 2 * 4096)
    by_hand = 2 * 32000 * 4096 + 32 * per_layer + 4096
    assert by_hand == 46_702_792_704
    assert parameter_count(get_model("mixtral-8x7b")) == by_hand


def test_phi2_count_has_one_norm_per_layer_and_an_lm_head_bias() -> None:
    # Phi-2: embed 51200 x 2560; per layer q, k, v, dense (2560^2 + 2560 each), fc1
    # 2560 x 10240 + 10240, fc2 10240 x 2560 + 2560, ONE LayerNorm (parallel block) 2 x 2560;
    # final LayerNorm 2 x 2560; untied lm_head 2560 x 51200 plus its 51200-element bias.
    per_layer = 4 * (2560**2 + 2560) + (2560 * 10240 + 10240) + (10240 * 2560 + 2560) + 2 * 2560
    by_hand = 51200 * 2560 + 32 * per_layer + 2 * 2560 + (2560 * 51200 + 51200)
    assert by_hand == 2_779_683_840  # as released
    assert parameter_count(get_model("phi-2")) == by_hand


_QWEN2_05B = {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,
              "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
              "vocab_size": 151936, "hidden_act": "silu", "tie_word_embeddings": True}


def test_qwen2_counts_its_qkv_biases() -> None:
    # Qwen2-0.5B: tied 151936 x 896 table; per layer q 896^2 + 896 (bias), k and v
    # 896 x 128 + 128 (2 KV heads x 64, with bias), o 896^2 (no bias), SwiGLU 3 x 896 x 4864,
    # two RMSNorms; final norm. 494,032,768 as released.
    per_layer = ((896**2 + 896) + 2 * (896 * 128 + 128) + 896**2 + 3 * 896 * 4864 + 2 * 896)
    by_hand = 151936 * 896 + 24 * per_layer + 896
    assert by_hand == 494_032_768
    assert parameter_count(model_from_hf_dict(_QWEN2_05B)) == by_hand


def test_a_tied_phi_still_stores_its_lm_head_bias() -> None:
    # Tying shares lm_head's weight with the embedding, not its bias: a tied Phi-2 has the
    # untied count less the 2560 x 51200 lm_head weight, its 51200 bias kept.
    cfg = {"model_type": "phi", "hidden_size": 2560, "intermediate_size": 10240,
           "num_attention_heads": 32, "num_hidden_layers": 32, "vocab_size": 51200,
           "partial_rotary_factor": 0.4, "tie_word_embeddings": True}
    assert parameter_count(model_from_hf_dict(cfg)) == 2_779_683_840 - 2560 * 51200


_HEAD_DIM_CFG = {"model_type": "llama", "hidden_size": 256, "num_attention_heads": 4,
                 "num_key_value_heads": 2, "head_dim": 128, "num_hidden_layers": 2,
                 "intermediate_size": 512, "vocab_size": 1000}


def test_an_explicit_head_dim_sizes_o_proj_from_the_heads() -> None:
    # head_dim 128 x 4 heads = 512 != hidden 256: q_proj 256 -> 512, k / v 256 -> 256,
    # o_proj 512 -> 256 (its in_features are the heads' width, not the hidden size).
    lin = {x.name: (x.k, x.n) for x in linear_layers(model_from_hf_dict(_HEAD_DIM_CFG))}
    assert lin["q_proj"] == (256, 512) and lin["k_proj"] == (256, 256)
    assert lin["o_proj"] == (512, 256)
    per_layer = 256 * 512 + 2 * 256 * 256 + 512 * 256 + 3 * 256 * 512 + 2 * 256
    assert parameter_count(model_from_hf_dict(_HEAD_DIM_CFG)) == (
        2 * 1000 * 256 + 2 * per_layer + 256)


def _fp(model: object, prompt: int, **kw: object):
    return footprint(workload_from_dict({"model": model, "prompt_tokens": prompt,
                                         "generate_tokens": 1, **kw}))


def test_peak_is_the_score_matrix_of_all_query_heads() -> None:
    # Llama-3-8B, 1024 tokens, logits of the last token only, 16-bit. Candidates: scores of
    # all 32 query heads 32 x 1024 x 1024 = 33,554,432; SwiGLU 2 x 1024 x 14336 = 29,360,128;
    # q/k/v 1024 x (4096 + 2 x 1024) = 6,291,456; logits 1 x 128256. Scores win.
    fp = _fp("llama-3-8b", 1024, logits="last")
    assert fp.peak_activation_bytes == (1024 * 4096 + 32 * 1024 * 1024) * 2


def test_peak_counts_both_swiglu_intermediates() -> None:
    # Llama-2-7B, 64 tokens, logits last: gate and up 2 x 64 x 11008 = 1,409,024 beat q/k/v
    # 64 x 3 x 4096 = 786,432, scores 32 x 64 x 64 = 131,072 and logits 32000.
    fp = _fp("llama-2-7b", 64, logits="last")
    assert fp.peak_activation_bytes == (64 * 4096 + 2 * 64 * 11008) * 2


def test_peak_counts_q_k_and_v_outputs() -> None:
    # A narrow-FFN config where the q/k/v outputs are the largest tensor: 8 tokens x
    # (256 + 2 x 256) = 6144 > SwiGLU 2 x 8 x 128 = 2048 > scores 4 x 8 x 8, logits 1 x 100.
    cfg = {"model_type": "llama", "hidden_size": 256, "num_attention_heads": 4,
           "num_key_value_heads": 4, "num_hidden_layers": 1, "intermediate_size": 128,
           "vocab_size": 100}
    fp = _fp(cfg, 8, logits="last")
    assert fp.peak_activation_bytes == (8 * 256 + 8 * 768) * 2


def test_opt_weight_footprint_has_biases_and_the_shared_table_with_positions() -> None:
    # OPT-1.3B at FP16 throughout: every parameter (biases, LayerNorms, the one tied table
    # of 50272 tokens + 2050 positions) at 2 bytes.
    fp = _fp("opt-1.3b", 8)
    assert fp.weights_bytes == _opt_by_hand(2048, 24, 8192) * 2


def test_opt_position_table_is_not_tied_to_lm_head() -> None:
    # The tie is the token table's: 50272 x 2048 at lm_head's 4 bits; the 2050 x 2048 learned
    # positions stay at an embedding's 16 (it priced them at lm_head's too: 6.3 MB less).
    fp16 = _fp("opt-1.3b", 8).weights_bytes
    w = workload_from_dict({"model": "opt-1.3b", "prompt_tokens": 8, "generate_tokens": 1,
                            "weights": {"bits": 16, "overrides": {"lm_head": {"bits": 4}}}})
    assert fp16 - footprint(w).weights_bytes == 50272 * 2048 * (16 - 4) / 8


def test_gemm_workload_footprint_counts_every_instance() -> None:
    # One GEMM of m 8, n 16, k 32 repeated 3 times, 4-bit weights, 16-bit activations:
    # weights 3 x 32 x 16 x 4 bits = 768 B; activations 3 x 8 x (32 + 16) x 2 B = 2304 B.
    w = workload_from_dict({"gemms": [{"name": "g", "m": 8, "n": 16, "k": 32, "count": 3}],
                            "weights": {"bits": 4}})
    fp = footprint(w)
    assert (fp.weights_bytes, fp.kv_cache_bytes, fp.peak_activation_bytes) == (768, 0, 2304)
