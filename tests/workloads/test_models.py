"""Built-in model table: parameter counts and footprints derived by hand from the configs."""

from __future__ import annotations

import pytest

from hwsim.errors import HwsimError
from hwsim.workloads import (
    footprint,
    get_model,
    list_models,
    parameter_count,
    workload_from_dict,
)


def test_llama2_7b_parameters_within_0p1_percent_of_6p74b() -> None:
    # Hand count: embed + lm_head 2 x 32000 x 4096; per layer q,k,v,o 4 x 4096^2,
    # SwiGLU 3 x 4096 x 11008, two RMSNorm 2 x 4096; 32 layers; final norm 4096.
    by_hand = 2 * 32000 * 4096 + 32 * (4 * 4096**2 + 3 * 4096 * 11008 + 2 * 4096) + 4096
    assert by_hand == 6_738_415_616
    n = parameter_count(get_model("llama-2-7b"))
    assert n == by_hand
    assert abs(n - 6.74e9) / 6.74e9 < 1e-3


@pytest.mark.parametrize(
    ("name", "published"),
    [
        # Published sizes (model cards): OPT-1.3B 1.316 B (tied lm_head), Phi-2 2.78 B,
        # Llama-3-8B 8.03 B, Llama-2-70B 68.98 B, Mixtral-8x7B 46.7 B total, Mistral-7B 7.24 B.
        ("opt-1.3b", 1.316e9),
        ("phi-2", 2.780e9),
        ("llama-3-8b", 8.030e9),
        ("llama-2-70b", 68.98e9),
        ("mixtral-8x7b", 46.70e9),
        ("mistral-7b", 7.242e9),
    ],
)
def test_parameter_counts_match_published_sizes(name: str, published: float) -> None:
    assert parameter_count(get_model(name)) == pytest.approx(published, rel=2e-3)


def test_opt_counts_biases_positions_and_tied_head_once() -> None:
    # OPT-1.3B by hand: tokens 50272 x 2048 + positions 2050 x 2048 (tied lm_head: 0);
    # per layer 4 x (2048^2 + 2048) attention, fc1 2048 x 8192 + 8192, fc2 8192 x 2048 + 2048,
    # two LayerNorms 2 x 2 x 2048; 24 layers; final LayerNorm 2 x 2048.
    per_layer = 4 * (2048**2 + 2048) + (2048 * 8192 + 8192) + (8192 * 2048 + 2048) + 4 * 2048
    by_hand = (50272 + 2050) * 2048 + 24 * per_layer + 2 * 2048
    assert parameter_count(get_model("opt-1.3b")) == by_hand


def test_llama3_8b_kv_cache_bytes_with_gqa() -> None:
    # K and V x 32 layers x 8 kv heads x 128 dims x 2 bytes = 131072 bytes per token; the cache
    # ends with prompt + decode steps = 1000 + 24 = 1024 tokens -> 128 MiB per sequence.
    w = workload_from_dict({"model": "llama-3-8b", "batch": 2, "prompt_tokens": 1000,
                            "generate_tokens": 25})
    assert footprint(w).kv_cache_bytes == 2 * 131072 * 1024
    # Without GQA (32 kv heads) it would be 4x as much: the sharing is what is pinned here.
    assert get_model("llama-3-8b").kv_heads * 4 == get_model("llama-3-8b").heads


def test_sliding_window_caps_kv_cache() -> None:
    # Mistral-7B v0.1 keeps at most 4096 tokens: 2 x 32 x 8 x 128 x 2 bytes x 4096.
    w = workload_from_dict({"model": "mistral-7b", "prompt_tokens": 5000,
                            "generate_tokens": 10})
    assert footprint(w).kv_cache_bytes == 2 * 32 * 8 * 128 * 2 * 4096


def test_weight_footprint_uses_effective_bits_per_layer_class() -> None:
    # Llama-2-7B, linear layers at 5.5 bits except lm_head at 16; embedding and norms 16 bits.
    w = workload_from_dict({"model": "llama-2-7b", "prompt_tokens": 8, "generate_tokens": 1,
                            "weights": {"bits": 5.5, "overrides": {"lm_head": {"bits": 16}}}})
    decoder_linear = 32 * (4 * 4096**2 + 3 * 4096 * 11008)
    fp16_params = 2 * 32000 * 4096 + 32 * 2 * 4096 + 4096
    assert footprint(w).weights_bytes == pytest.approx(
        (decoder_linear * 5.5 + fp16_params * 16) / 8)


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(HwsimError, match=r"unknown model 'llama-2-8b'; did you mean .*llama-2-7b"):
        get_model("llama-2-8b")
    assert "mixtral-8x7b" in list_models()
    assert get_model("LLaMA-2-7B") is get_model("llama-2-7b")


def test_peak_activations_of_a_prefill() -> None:
    # Llama-2-7B, 256 tokens, 16-bit: residual 256 x 4096 plus the largest other tensor, here
    # the logits 256 x 32000 (> SwiGLU 2 x 256 x 11008 > scores 32 x 256 x 256).
    w = workload_from_dict({"model": "llama-2-7b", "prompt_tokens": 256, "generate_tokens": 2})
    assert footprint(w).peak_activation_bytes == (256 * 4096 + 256 * 32000) * 2
