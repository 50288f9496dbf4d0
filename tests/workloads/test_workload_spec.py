"""Workload YAML validation: good files load, bad ones fail with the file and YAML path."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwsim.dtypes import bits_per_weight
from hwsim.errors import HwsimError
from hwsim.workloads import (
    DEFAULT_WORKLOAD,
    example_path,
    example_workloads,
    load_workload,
    operators,
    workload_from_dict,
)

BASE = {"model": "llama-2-7b", "prompt_tokens": 16, "generate_tokens": 4}


def _err(data: object) -> str:
    with pytest.raises(HwsimError) as info:
        workload_from_dict(data, source="w.yaml")
    msg = str(info.value)
    assert msg.startswith("w.yaml: ") and "\n" not in msg
    return msg


def test_format_weights_use_effective_bits_from_dtypes() -> None:
    w = workload_from_dict({**BASE, "weights": {"format": "BitMoD3", "group_size": 128}})
    assert w.weights.format == "bitmod3" and w.weights.group_size == 128
    # Two-level scales add a per-row factor: the reference size is the hidden width 4096.
    assert w.weights.bits == bits_per_weight("bitmod3", group_size=128, in_features=4096)
    assert w.weights.bits > 3  # scales and type selectors are paid for


def test_per_row_formats_get_exact_bits_per_layer() -> None:
    # ANT scales each output row with one FP16 scale: 4 + 16 / in_features bits per weight.
    w = workload_from_dict({**BASE, "weights": {"format": "ant4"}})
    assert w.weights.group_size is None
    ops = {o.name: o for o in operators(w) if o.stage == "prefill"}
    assert ops["q_proj"].b_bits == pytest.approx(4 + 16 / 4096)
    assert ops["down_proj"].b_bits == pytest.approx(4 + 16 / 11008)


def test_default_group_size_is_the_formats() -> None:
    w = workload_from_dict({**BASE, "weights": {"format": "mxfp4"}})
    assert w.weights.group_size == 32  # OCP MX block


def test_width_only_weights() -> None:
    w = workload_from_dict({**BASE, "weights": {"bits": 5.5}})
    assert (w.weights.bits, w.weights.format, w.weights.group_size) == (5.5, None, None)


def test_unknown_format_names_the_yaml_path_and_suggests() -> None:
    msg = _err({**BASE, "weights": {"format": "fp5x"}})
    assert "weights.format: unknown format 'fp5x'" in msg and "did you mean" in msg


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"prompt_tokens": 0}, "prompt_tokens: Input should be greater than 0"),
        ({"generate_tokens": -3}, "generate_tokens: Input should be greater than 0"),
        ({"batch": 0}, "batch: Input should be greater than 0"),
        ({"batch": 1.5}, "batch: Input should be a valid integer"),
        ({"prompt_tokens": True}, "prompt_tokens: Input should be a valid integer"),
        ({"promt_tokens": 5}, "promt_tokens: unknown key"),
        ({"weights": {"format": "int4", "gruop_size": 64}}, "weights.gruop_size: unknown key"),
        ({"weights": {"format": "int4", "bits": 4}}, "weights: give exactly one of"),
        ({"weights": {"bits": 4, "group_size": 64}}, "'group_size' needs 'format'"),
        ({"weights": {"bits": -1}}, "weights.bits: Input should be greater than or equal to 1"),
        ({"weights": {"format": "int4", "overrides": {"mlp": {"bits": 8}}}},
         "weights.overrides.mlp: unknown layer class or name (allowed: attn_proj, ffn"),
        ({"weights": {"format": "int4", "group_size": 8192}},
         "weights.group_size: 8192 is larger than the reduction dimension k=4096 of q_proj"),
        ({"kv_cache": {"format": "int8", "group_size": 256}},
         "kv_cache.group_size: 256 is larger than head_dim 128"),
        # Clipped to k without a word (weights and the KV cache were refused).
        ({"activations": {"format": "int8", "group_size": 8192}},
         "activations.group_size: 8192 is larger than the reduction dimension k=4096 of"),
        # fp16 has no scales: the group size used to be ignored without a word.
        ({"weights": {"format": "fp16", "group_size": 128}},
         "weights.group_size: fp16 is a plain cast without scales or groups"),
        ({"weights": {"format": "int4", "overrides": {"lm_head": {"format": "bf16",
                                                                  "group_size": 64}}}},
         "weights.overrides.lm_head.group_size: bf16 is a plain cast"),
        ({"kv_cache": {"format": "fp16", "group_size": 64}},
         "kv_cache.group_size: fp16 is a plain cast"),
        # OliVe pairs neighbours: 127 leaves one alone (quantize refused it only later).
        ({"weights": {"format": "olive4", "group_size": 127}},
         "weights.group_size: 127 is odd; olive4 pairs neighbouring weights"),
        ({"model": "llama-9b"}, "model: unknown model 'llama-9b'"),
        # `hwsim run` ran its default design as if the key were absent.
        ({"hardware": ""}, "hardware: empty; give a hardware preset or a hardware YAML"),
        ({"hardware": " "}, "hardware: empty; give a hardware preset or a hardware YAML"),
        ({"logits": "first"}, "logits: Input should be 'all' or 'last'"),
        ({"name": ""}, "name: String should have at least 1 character"),
        # Lax pydantic read true as 1 bit, "yes" as true and "no" as false.
        ({"weights": {"bits": True}}, "weights.bits: Input should be a valid number"),
        ({"attention": {"kernel": "fused", "causal": "yes"}},
         "attention.causal: Input should be a valid boolean"),
    ],
)
def test_bad_values_are_reported_with_their_path(patch: dict, expected: str) -> None:
    assert expected in _err({**BASE, **patch})


def test_an_inline_model_config_names_its_keys_once() -> None:
    msg = _err({**BASE, "model": {}})
    assert msg.startswith("w.yaml: model: model_type: unsupported architecture None")  # not
    # "model: model: model_type", as the path's prefix was added twice


def test_a_trace_takes_numbers_and_booleans_not_text() -> None:
    one = {"prompt_tokens": 4, "generate_tokens": 2}
    assert "requests[0].arrival_s: Input should be a valid number" in _err(
        {"model": "llama-2-7b", "requests": [{**one, "arrival_s": True}]})
    assert "serving.chunked_prefill: Input should be a valid boolean" in _err(
        {"model": "llama-2-7b", "requests": [one], "serving": {"chunked_prefill": "no"}})


def test_missing_keys_and_tied_embedding_override() -> None:
    msg = _err({"model": "llama-2-7b"})
    assert "prompt_tokens: missing" in msg and "generate_tokens: missing" in msg
    assert "lm_head instead" in _err({**BASE, "model": "opt-1.3b",
                                      "weights": {"bits": 4, "overrides": {"embed": {"bits": 8}}}})
    assert "expected a mapping" in _err([1, 2])


def test_an_override_the_workload_has_no_layer_for_is_refused() -> None:
    # Each named a real layer of some model, so it passed the name check and changed nothing.
    dense = {**BASE, "model": "llama-2-7b"}
    for key in ("router", "fc1", "expert_up_proj"):
        assert (f"weights.overrides.{key}: llama-2-7b has no layer of this name or class "
                "(its layers and classes: q_proj, attn_proj,") in _err(
            {**dense, "weights": {"format": "int4", "overrides": {key: {"bits": 8}}}})
    g = [{"name": "q_proj", "m": 4, "n": 64, "k": 64}]
    assert ("weights.overrides.ffn: none of the gemms is named ffn (an override of a gemms "
            "workload names one of its GEMMs: q_proj)") in _err(
        {"gemms": g, "weights": {"format": "int4", "group_size": 32,
                                 "overrides": {"ffn": {"bits": 8}}}})
    # What a workload does have stays allowed: a class, a name, a GEMM's name, the embedding.
    for key in ("ffn", "down_proj", "embed", "lm_head"):
        workload_from_dict({**dense, "weights": {"format": "int4",
                                                 "overrides": {key: {"bits": 8}}}})
    w = workload_from_dict({"gemms": g, "weights": {"format": "int4", "group_size": 32,
                                                    "overrides": {"q_proj": {"bits": 8}}}})
    assert w.weights.for_layer("q_proj", "gemm").bits_at(64) == 8


def test_a_gemm_of_any_name_takes_an_override() -> None:
    # A GEMM called "a" was refused as an unknown layer class or name, though the message for
    # a gemms workload says an override names one of its GEMMs.
    g = [{"name": "a", "m": 4, "n": 64, "k": 64}, {"name": "b", "m": 4, "n": 64, "k": 64}]
    w = workload_from_dict({"gemms": g, "weights": {"format": "int4", "group_size": 32,
                                                    "overrides": {"a": {"bits": 8}}}})
    assert w.weights.for_layer("a", "gemm").bits_at(64) == 8
    assert w.weights.for_layer("b", "gemm").format == "int4"
    assert _err({"gemms": g, "weights": {"format": "int4", "group_size": 32,
                                         "overrides": {"c": {"bits": 8}}}}) == (
        "w.yaml: weights.overrides.c: none of the gemms is named c (an override of a gemms "
        "workload names one of its GEMMs: a, b)")


def test_the_allowed_override_keys_are_listed_once() -> None:
    msg = _err({**BASE, "weights": {"format": "int4", "overrides": {"mlp": {"bits": 8}}}})
    allowed = msg.split("(allowed: ", 1)[1].rstrip(")").split(", ")
    assert len(allowed) == len(set(allowed)) and {"router", "lm_head"} <= set(allowed)


def test_gemms_exclude_model_keys_and_check_group_size() -> None:
    g = [{"name": "g", "m": 4, "n": 64, "k": 64}]
    assert "model: not allowed together with 'gemms'" in _err({**BASE, "gemms": g})
    assert "group_size: 128 is larger than the reduction dimension k=64 of g" in _err(
        {"gemms": g, "weights": {"format": "int4", "group_size": 128}})
    assert "duplicate name 'g'" in _err({"gemms": g + g})


def test_load_workload_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: llama-2-7b\nbatch: [1,\n")
    with pytest.raises(HwsimError, match=r"bad\.yaml: malformed YAML at line 3"):
        load_workload(bad)
    with pytest.raises(HwsimError, match="cannot read workload"):
        load_workload(tmp_path / "missing.yaml")


def test_relative_config_path_is_resolved_next_to_the_yaml(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(
        '{"model_type": "llama", "hidden_size": 256, "num_attention_heads": 4, '
        '"num_hidden_layers": 2, "intermediate_size": 512, "vocab_size": 1000}')
    (tmp_path / "w.yaml").write_text("model: m/config.json\nprompt_tokens: 8\n"
                                     "generate_tokens: 2\n")
    w = load_workload(tmp_path / "w.yaml")
    assert w.model is not None and w.model.hidden == 256 and w.name == "w"


def test_every_bundled_example_loads_and_has_operators() -> None:
    examples = example_workloads()
    assert DEFAULT_WORKLOAD in examples
    for model in ("opt-1.3b", "phi-2", "yi-6b", "llama-2-7b", "llama-2-13b", "llama-3-8b"):
        assert f"{model}-generative" in examples  # the six models of the BitMoD comparison
    for name, path in examples.items():
        w = load_workload(path)
        assert w.name == name and w.hardware and operators(w)
    default = load_workload(example_path())
    assert (default.prompt_tokens, default.decode_steps, default.weights.format) == (
        256, 20, "bitmod3")
    with pytest.raises(HwsimError, match="did you mean llama-2-7b-generative"):
        example_path("llama-2-7b-generativ")


def test_even_olive_groups_and_per_row_olive_are_accepted() -> None:
    # olive4 keeps one FP16 scale per group: 4 + 16/128 at group 128.
    w = workload_from_dict({**BASE, "weights": {"format": "olive4", "group_size": 128}})
    assert w.weights.bits == pytest.approx(4 + 16 / 128)
    assert workload_from_dict({**BASE, "weights": {"format": "olive4"}}).weights.group_size \
        is None


def test_hardware_is_resolved_against_the_workload_folder(tmp_path):
    sub = tmp_path / "study"
    sub.mkdir()
    text = "model: opt-1.3b\nprompt_tokens: 8\ngenerate_tokens: 2\nhardware: "
    (sub / "w.yaml").write_text(text + "hw/mine.yaml\n")
    (sub / "p.yaml").write_text(text + "BitMoD\n")
    assert load_workload(sub / "w.yaml").hardware == sub / "hw" / "mine.yaml"
    assert load_workload(sub / "p.yaml").hardware == "bitmod"


def test_an_empty_trace_name_is_refused() -> None:
    # "" resolved to the workload's folder: "cannot read the request trace (Is a directory)".
    assert "requests: empty; give a CSV trace file or a list of requests" in _err(
        {"model": "llama-2-7b", "requests": " "})
