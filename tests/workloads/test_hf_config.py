"""config.json import: the same operators as the built-in entries; clear errors otherwise."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from hwsim.errors import HwsimError
from hwsim.workloads import (
    get_model,
    model_from_hf_config,
    model_from_hf_dict,
    operators,
    workload_from_dict,
)

# Excerpts of the public config.json files (keys the importer reads, values as published).
CONFIGS = {
    "llama-2-7b": {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008,
                   "num_attention_heads": 32, "num_hidden_layers": 32,
                   "num_key_value_heads": 32, "vocab_size": 32000, "hidden_act": "silu",
                   "max_position_embeddings": 4096, "tie_word_embeddings": False},
    "llama-3-8b": {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
                   "num_attention_heads": 32, "num_hidden_layers": 32,
                   "num_key_value_heads": 8, "vocab_size": 128256, "hidden_act": "silu",
                   "max_position_embeddings": 8192, "tie_word_embeddings": False},
    "mistral-7b": {"model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336,
                   "num_attention_heads": 32, "num_hidden_layers": 32,
                   "num_key_value_heads": 8, "vocab_size": 32000, "hidden_act": "silu",
                   "max_position_embeddings": 32768, "sliding_window": 4096,
                   "tie_word_embeddings": False},
    "mixtral-8x7b": {"model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336,
                     "num_attention_heads": 32, "num_hidden_layers": 32,
                     "num_key_value_heads": 8, "vocab_size": 32000, "hidden_act": "silu",
                     "max_position_embeddings": 32768, "num_local_experts": 8,
                     "num_experts_per_tok": 2, "sliding_window": None,
                     "tie_word_embeddings": False},
    "opt-1.3b": {"model_type": "opt", "hidden_size": 2048, "ffn_dim": 8192,
                 "num_attention_heads": 32, "num_hidden_layers": 24, "vocab_size": 50272,
                 "max_position_embeddings": 2048, "activation_function": "relu",
                 "do_layer_norm_before": True, "word_embed_proj_dim": 2048,
                 "enable_bias": True},
    "phi-2": {"model_type": "phi", "hidden_size": 2560, "intermediate_size": 10240,
              "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
              "vocab_size": 51200, "hidden_act": "gelu_new", "partial_rotary_factor": 0.4,
              "max_position_embeddings": 2048, "tie_word_embeddings": False},
}


def _write(tmp_path: Path, name: str, data: dict) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(data))
    return folder / "config.json"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_imported_config_gives_the_builtin_operators(tmp_path: Path, name: str) -> None:
    imported = model_from_hf_config(_write(tmp_path, name, CONFIGS[name]))
    builtin = get_model(name)
    assert imported.name == name
    assert dataclasses.replace(imported, max_context=0) == dataclasses.replace(builtin,
                                                                               max_context=0)
    kw = {"prompt_tokens": 12, "generate_tokens": 3}
    a = operators(workload_from_dict({"model": str(tmp_path / name / "config.json"), **kw}))
    b = operators(workload_from_dict({"model": name, **kw}))
    assert [(o.name, o.stage, o.count) for o in a] == [(o.name, o.stage, o.count) for o in b]
    for x, y in zip(a, b, strict=True):
        for arr in ("m", "n", "k", "kv_len"):
            np.testing.assert_array_equal(getattr(x, arr), getattr(y, arr))


def test_qwen2_has_qkv_bias_and_gqa(tmp_path: Path) -> None:
    cfg = {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,
           "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
           "vocab_size": 151936, "hidden_act": "silu", "tie_word_embeddings": True,
           "sliding_window": 32768, "use_sliding_window": False}
    m = model_from_hf_config(_write(tmp_path, "qwen2-0.5b", cfg))
    assert m.qkv_bias and m.tie_embeddings and m.sliding_window is None
    assert (m.dim_head, m.query_group) == (64, 7)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"model_type": "bert", "hidden_size": 384}, "model_type: unsupported architecture 'bert'"
         " (supported: llama, mistral, mixtral, qwen2, opt, phi)"),
        ({"model_type": "llama", "hidden_size": 64}, "num_attention_heads: missing"),
        ({**CONFIGS["llama-2-7b"], "num_key_value_heads": 5}, "does not divide"),
        ({**CONFIGS["llama-2-7b"], "hidden_size": -4}, "hidden_size: expected a positive integer"),
        ({**CONFIGS["llama-2-7b"], "hidden_act": "swiglu2"}, "unsupported activation"),
        ({**CONFIGS["opt-1.3b"], "word_embed_proj_dim": 512}, "word_embed_proj_dim"),
        ({**CONFIGS["llama-2-7b"], "attention_bias": True}, "not modelled"),
    ],
)
def test_bad_configs_fail_clearly(tmp_path: Path, data: dict, expected: str) -> None:
    path = _write(tmp_path, "m", data)
    with pytest.raises(HwsimError) as info:
        model_from_hf_config(path)
    assert str(info.value).startswith(str(path)) and expected in str(info.value)


def test_unreadable_and_invalid_json(tmp_path: Path) -> None:
    with pytest.raises(HwsimError, match="cannot read model config"):
        model_from_hf_config(tmp_path / "nope.json")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(HwsimError, match="invalid JSON at line 1"):
        model_from_hf_config(tmp_path)  # a folder holding a config.json


# Qwen2-7B's published config: sliding_window set, use_sliding_window false, 28 layers.
QWEN2 = {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,
         "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
         "vocab_size": 151936, "hidden_act": "silu", "sliding_window": 4096,
         "use_sliding_window": True}


@pytest.mark.parametrize(("extra", "window"), [
    # max_window_layers defaults to 28: layers 28.. of 24 slide, i.e. none (it was 4096).
    ({}, None),
    ({"max_window_layers": 24}, None),
    ({"max_window_layers": 0}, 4096),
    # An explicit layer_types list overrides max_window_layers.
    ({"layer_types": ["sliding_attention"] * 24}, 4096),
    ({"max_window_layers": 0, "layer_types": ["full_attention"] * 24}, None),
    # Without use_sliding_window transformers sets no window, whatever the layers say.
    ({"use_sliding_window": False, "max_window_layers": 0}, None),
    ({"use_sliding_window": False, "layer_types": ["sliding_attention"] * 24}, None),
    ({"max_window_layers": 0, "sliding_window": None}, None),
])
def test_qwen2_windows_the_layers_transformers_windows(tmp_path: Path, extra: dict,
                                                       window: int | None) -> None:
    m = model_from_hf_config(_write(tmp_path, "qwen2", {**QWEN2, **extra}))
    assert m.sliding_window == window


@pytest.mark.parametrize(("extra", "expected"), [
    ({"max_window_layers": 12}, "max_window_layers: 12 of 24 layers attend in full and the "
     "other 12 over a sliding window of 4096 (max_window_layers 12); hwsim holds one window "
     "for all layers, so this mix is not modelled"),
    ({"layer_types": ["full_attention"] + ["sliding_attention"] * 23},
     "layer_types: 1 of 24 layers attend in full and the other 23 over a sliding window"),
    ({"layer_types": ["sliding_attention"] * 3}, "layer_types: expected a list of 24 entries "
     "(num_hidden_layers), each one of full_attention, sliding_attention"),
    ({"layer_types": ["sliding"] * 24}, "layer_types: expected a list of 24 entries"),
    ({"max_window_layers": -1}, "max_window_layers: expected an integer >= 0, got -1"),
    ({"max_window_layers": True}, "max_window_layers: expected an integer >= 0, got True"),
    ({"use_sliding_window": "true"}, "use_sliding_window: expected true or false, got 'true'"),
])
def test_qwen2_window_mix_is_refused(tmp_path: Path, extra: dict, expected: str) -> None:
    path = _write(tmp_path, "qwen2", {**QWEN2, **extra})
    with pytest.raises(HwsimError) as info:
        model_from_hf_config(path)
    assert str(info.value).startswith(f"{path}: ") and expected in str(info.value)
    assert "\n" not in str(info.value)


def test_llama_has_no_sliding_window(tmp_path: Path) -> None:
    # transformers' LlamaConfig has no window: the key is unused (it was applied).
    cfg = {**CONFIGS["llama-2-7b"], "sliding_window": 1024}
    assert model_from_hf_config(_write(tmp_path, "m", cfg)).sliding_window is None
    # Mistral's window applies to every layer.
    cfg = {**CONFIGS["mistral-7b"], "sliding_window": 1024}
    assert model_from_hf_config(_write(tmp_path, "n", cfg)).sliding_window == 1024


@pytest.mark.parametrize(("name", "window", "expected"), [
    # The key left out: MistralConfig's default window is 4096 (it read as none); null is
    # none; MixtralConfig's default is none.
    ("mistral-7b", "absent", 4096), ("mistral-7b", None, None), ("mixtral-8x7b", "absent", None),
])
def test_a_sliding_window_left_out_takes_the_config_class_default(tmp_path: Path, name: str,
                                                                  window: object,
                                                                  expected: int | None) -> None:
    cfg = {k: v for k, v in CONFIGS[name].items() if k != "sliding_window"}
    if window != "absent":
        cfg["sliding_window"] = window
    assert model_from_hf_config(_write(tmp_path, "m", cfg)).sliding_window == expected


@pytest.mark.parametrize(("name", "key", "value"), [
    ("llama-2-7b", "tie_word_embeddings", "false"),
    ("phi-2", "tie_word_embeddings", "false"),
    ("opt-1.3b", "tie_word_embeddings", "false"),
    ("opt-1.3b", "enable_bias", "false"),
    ("opt-1.3b", "enable_bias", 0),
    ("opt-1.3b", "do_layer_norm_before", "true"),
    ("llama-2-7b", "attention_bias", "false"),
    ("mistral-7b", "mlp_bias", None),
])
def test_flags_must_be_json_booleans(tmp_path: Path, name: str, key: str, value: object) -> None:
    # bool("false") is True: a quoted flag counted as set.
    path = _write(tmp_path, "m", {**CONFIGS[name], key: value})
    with pytest.raises(HwsimError) as info:
        model_from_hf_config(path)
    assert str(info.value) == f"{path}: {key}: expected true or false, got {value!r}"


def test_null_kv_heads_means_one_per_query_head(tmp_path: Path) -> None:
    # transformers: num_key_value_heads None -> num_attention_heads (it was "missing").
    m = model_from_hf_config(_write(tmp_path, "m", {**CONFIGS["llama-3-8b"],
                                                    "num_key_value_heads": None}))
    assert m.kv_heads == m.heads == 32
    # 0 is not null: still an error, not a head count.
    path = _write(tmp_path, "z", {**CONFIGS["llama-3-8b"], "num_key_value_heads": 0})
    with pytest.raises(HwsimError, match="num_key_value_heads: expected a positive integer, "
                                         "got 0"):
        model_from_hf_config(path)


def test_arguments_of_another_kind_are_named():
    with pytest.raises(HwsimError, match=r"^model name: expected a string, not None$"):
        get_model(None)
    from hwsim.workloads import model_from_hf_dict

    with pytest.raises(HwsimError, match=r"^c.json: expected a JSON object of model keys, not "
                       r"list$"):
        model_from_hf_dict([], source="c.json")


@pytest.mark.parametrize(("mtype", "extra"), [
    *((m, {}) for m in ("llama", "mistral", "mixtral", "qwen2", "opt", "phi")),
    ("qwen2", {"use_sliding_window": True, "max_window_layers": 0})])
def test_keys_left_out_take_the_defaults_of_transformers_config_classes(mtype, extra):
    # Against transformers itself: mistral/mixtral/qwen2 took as many KV heads as query heads
    # (their classes say 8/8/32), a 2048 context (131072/131072/32768), qwen2 no window
    # without the key (4096), phi silu (gelu_new).
    transformers = pytest.importorskip("transformers")
    from hwsim.workloads.hf_config import _ACTIVATIONS

    data = {"model_type": mtype, "hidden_size": 256, "num_attention_heads": 32,
            "num_hidden_layers": 2, "vocab_size": 1000,
            ("ffn_dim" if mtype == "opt" else "intermediate_size"): 512, **extra}
    model = model_from_hf_dict(data)
    cfg = transformers.AutoConfig.for_model(**data)
    kv = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    assert (model.kv_heads, model.max_context) == (kv, cfg.max_position_embeddings)
    act = getattr(cfg, "hidden_act", None) or cfg.activation_function
    assert model.activation == _ACTIVATIONS[act]
    window = getattr(cfg, "sliding_window", None) if mtype != "llama" else None
    assert model.sliding_window == window


def test_keys_transformers_ignores_or_hwsim_cannot_model():
    base = {"hidden_size": 128, "num_attention_heads": 4, "num_hidden_layers": 1,
            "vocab_size": 100}
    # OPT's attention sizes heads hidden / heads whatever head_dim says.
    opt = model_from_hf_dict({"model_type": "opt", "ffn_dim": 256, "head_dim": 16, **base})
    assert opt.dim_head == 32
    for mtype, key, value in (("phi", "qk_layernorm", True),
                              ("opt", "layer_norm_elementwise_affine", False),
                              ("opt", "_remove_final_layer_norm", True)):
        size = "ffn_dim" if mtype == "opt" else "intermediate_size"
        with pytest.raises(HwsimError, match=rf"^config.json: {key}: {value} changes {mtype}'s "
                                             r"norms, which hwsim does not model$"):
            model_from_hf_dict({"model_type": mtype, size: 256, key: value, **base})
    # A family default that does not divide the heads is said to be the default.
    with pytest.raises(HwsimError, match=r"num_key_value_heads: 32 \(qwen2's default: the key "
                                         r"is absent\) does not divide num_attention_heads 28"):
        model_from_hf_dict({"model_type": "qwen2", "hidden_size": 28 * 8,
                            "num_attention_heads": 28, "num_hidden_layers": 1,
                            "vocab_size": 100, "intermediate_size": 64})
    # phi's rotary part is truncated as transformers does: int(64 * 0.4) = 25, not 26.
    phi = model_from_hf_dict({"model_type": "phi", "hidden_size": 2048,
                              "num_attention_heads": 32, "num_hidden_layers": 1,
                              "vocab_size": 100, "intermediate_size": 64,
                              "partial_rotary_factor": 0.4})
    assert phi.rotary_dim == 25
