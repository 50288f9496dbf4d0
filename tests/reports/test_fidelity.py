"""Layer-level fidelity table, per-format summary, plots, atomic outputs and the cost join.

Synthetic checkpoints are written with safetensors; no torch is needed here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hwsim.errors import HwsimError
from hwsim.reports.fidelity import format_summary, layer_fidelity, resolve_formats
from hwsim.reports.fidelity_cost import (
    fidelity_axis,
    format_costs,
    read_fidelity_dir,
    tradeoff_table,
)
from hwsim.reports.fidelity_plots import (
    comparable,
    histogram_png,
    pareto_figure,
    pareto_front,
    pareto_png,
    per_element_scale,
    short_label,
    sqnr_png,
)
from hwsim.reports.output_files import write_outputs
from hwsim.workloads.checkpoints import open_checkpoint

st_numpy = pytest.importorskip("safetensors.numpy", reason="safetensors ([llm] extra) missing")

H, F, V = 128, 256, 64  # hidden, FFN and vocabulary of the synthetic model


def _tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)

    def w(r: int, c: int) -> np.ndarray:
        return (rng.standard_normal((r, c)) * 0.02).astype(np.float32)

    t = {"model.embed_tokens.weight": w(V, H), "model.norm.weight": np.ones(H, np.float32)}
    p = "model.layers.0."
    for n in "qkvo":
        t[p + f"self_attn.{n}_proj.weight"] = w(H, H)
    t[p + "mlp.gate_proj.weight"] = w(F, H)
    t[p + "mlp.up_proj.weight"] = w(F, H)
    down = w(H, F)
    down[5, 40] = 0.9  # one planted outlier: OliVe must pair it with a victim
    t[p + "mlp.down_proj.weight"] = down
    t["lm_head.weight"] = w(V, H)
    return t


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    (d / "config.json").write_text(json.dumps({"model_type": "llama", "tie_word_embeddings":
                                               False, "architectures": ["LlamaForCausalLM"]}))
    st_numpy.save_file(_tensors(), str(d / "model.safetensors"))
    return open_checkpoint(d)


FORMATS = ["int4", "bitmod4", "olive4", "fp16"]


@pytest.fixture(scope="module")
def table(ckpt):
    return layer_fidelity(ckpt, FORMATS)


def test_table_has_a_row_per_layer_and_format_in_model_order(ckpt, table):
    layers = [lin.name for lin in ckpt.linear_layers()]
    assert list(table["layer"]) == [n for n in layers for _ in FORMATS]
    assert list(table["format"]) == FORMATS * len(layers)
    down = table[table["layer"] == "model.layers.0.mlp.down_proj"].iloc[0]
    assert (down["role"], down["block"], down["params"]) == ("ffn_down", 0, H * F)


def test_error_metrics_match_an_independent_computation(ckpt, table):
    from hwsim.dtypes import quantize

    w = ckpt.read("model.layers.0.mlp.up_proj")
    row = table[(table["layer"] == "model.layers.0.mlp.up_proj") & (table["format"] == "int4")]
    deq = quantize(w, "int4").dequantized.astype(np.float64)
    err = deq - w.astype(np.float64)
    mse = np.mean(err**2)
    assert row["mse"].item() == pytest.approx(mse, rel=1e-9)
    assert row["sqnr_db"].item() == pytest.approx(10 * np.log10(np.sum(w.astype(np.float64)**2)
                                                                / np.sum(err**2)), rel=1e-9)
    assert row["max_abs_error"].item() == pytest.approx(np.abs(err).max(), rel=1e-6)


def test_bits_and_sizes(table):
    int4 = table[table["format"] == "int4"]
    # INT4 with an FP16 scale per group of 128 (formats.md): 4 + 16/128 = 4.125 bits.
    assert np.allclose(int4["bits_per_weight"], 4.125)
    assert np.allclose(int4["size_bytes"], int4["params"] * 4.125 / 8)
    fp16 = table[table["format"] == "fp16"]
    assert np.allclose(fp16["bits_per_weight"], 16.0)


def test_mixture_histogram_and_outlier_rate(table):
    bm = table[(table["format"] == "bitmod4") & (table["role"] == "ffn_down")].iloc[0]
    counts = [int(item.rsplit(":", 1)[1]) for item in bm["type_histogram"].split()]
    # One type choice per group: H rows x F/128 groups.
    assert sum(counts) == H * (F // 128)
    assert len(counts) == 4  # four FP4 variants (ER/EA, pos/neg)
    ol = table[(table["format"] == "olive4") & (table["role"] == "ffn_down")].iloc[0]
    # The planted 0.9 is ~45 sigma out: at least its pair holds an outlier.
    assert ol["outlier_pair_rate"] >= 1 / (H * F // 2)
    assert table[table["format"] != "olive4"]["outlier_pair_rate"].isna().all()
    assert (table[table["format"] == "int4"]["type_histogram"] == "").all()


def test_summary_weights_by_parameters_and_counts_other_tensors(ckpt, table):
    s = format_summary(table, ckpt).set_index("format")
    params = 4 * H * H + 3 * H * F + V * H
    assert s.loc["int4", "linear_params"] == params
    assert s.loc["int4", "bits_per_weight"] == pytest.approx(4.125)
    # Other tensors stay as stored (float32): the embedding table and the final norm.
    other = (V * H + H) * 4
    assert s.loc["int4", "model_bytes"] == pytest.approx(params * 4.125 / 8 + other)
    assert s.loc["int4", "compression"] == pytest.approx(32 / 4.125)  # float32 -> 4.125 bits
    assert s.loc["fp16", "compression"] == pytest.approx(2.0)
    # Mean squared error per weight = parameter-weighted mean of the layers' MSE.
    g = table[table["format"] == "bitmod4"]
    assert s.loc["bitmod4", "mse"] == pytest.approx((g["mse"] * g["params"]).sum() / params)
    assert s.loc["int4", "sqnr_db_min"] == pytest.approx(
        table[table["format"] == "int4"]["sqnr_db"].min())
    total = sum(int(i.rsplit(":", 1)[1]) for i in s.loc["bitmod4", "type_histogram"].split())
    assert total == (4 * H + 2 * F + V) * 1 + H * 2  # groups of 128: rows x ceil(k/128)


def test_restricting_layers_and_bad_names(ckpt):
    t = layer_fidelity(ckpt, "int8, int8 ,INT8", layers=["lm_head"])
    assert list(t["layer"]) == ["lm_head"] and list(t["format"]) == ["int8"]
    with pytest.raises(HwsimError, match="nope not among the linear layers"):
        layer_fidelity(ckpt, "int8", layers=["nope"])
    with pytest.raises(HwsimError, match="int44"):
        layer_fidelity(ckpt, "int44")
    with pytest.raises(HwsimError, match="at least one format"):
        resolve_formats(" , ")


def test_group_size_applies_to_quantized_formats_only(ckpt):
    t = layer_fidelity(ckpt, ["int4", "fp16"], group_size=64, layers=["lm_head"])
    # 4 + 16/64 = 4.25 bits; fp16 is a cast and has no groups.
    assert list(t["bits_per_weight"]) == [4.25, 16.0]
    # For casts alone it would change nothing: `-g 64` with `-f fp16` ran without a word.
    with pytest.raises(HwsimError, match=r"^group size 64: fp16, bf16 are plain casts without "
                       r"scales or groups; leave the group size out or add a quantized format$"):
        layer_fidelity(ckpt, ["fp16", "bf16"], group_size=64, layers=["lm_head"])


def test_progress_callback_sees_every_layer(ckpt):
    seen = []
    layer_fidelity(ckpt, "int8", on_layer=lambda i, n, lin: seen.append((i, n, lin.name)))
    names = [lin.name for lin in ckpt.linear_layers()]
    assert seen == [(i, len(names), n) for i, n in enumerate(names)]


def test_plots_are_png_and_deterministic(ckpt, table):
    png = sqnr_png(table)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert sqnr_png(table) == png
    w = ckpt.read("model.layers.0.mlp.down_proj")
    h = histogram_png(w, "down", ["int4_asym", "fp16"])  # zero-point and cast branches
    assert h[:4] == b"\x89PNG" and h == histogram_png(w, "down", ["int4_asym", "fp16"])


@pytest.mark.parametrize("value", [0.5, 1e-30, 0.0])
def test_a_constant_layer_has_a_histogram(value):
    """Every weight equal: no spread to pad by. Near 7 (0.5 at a scale of 1/14) the panel
    was cut 200 bins finer than float64 resolves, and np.histogram refused it after every
    format had been measured."""
    w = np.full((8, 64), value, np.float32)
    for formats in (["int4", "fp16"], ["mxfp4", "nvfp4", "bitmod4"], ["olive4", "nf4"]):
        assert histogram_png(w, "const", formats)[:4] == b"\x89PNG"


def test_short_labels():
    assert short_label("model.layers.3.mlp.down_proj", "ffn_down", 3) == "3.ffn_down"
    assert short_label("encoder.layer.0.output.dense", "ffn_down", 0) == "0.ffn_down"
    assert short_label("lm_head", "lm_head", None) == "lm_head"
    assert short_label("pooler.dense", "other", pd.NA) == "pooler.dense"


def test_per_element_scale_broadcasts_ragged_groups():
    s = np.array([[1.0, 2.0], [3.0, 4.0]])
    # k = 5 with 2 groups: groups of ceil(5/2) = 3, the last one short.
    np.testing.assert_array_equal(per_element_scale(s, (2, 5)),
                                  [[1, 1, 1, 2, 2], [3, 3, 3, 4, 4]])
    np.testing.assert_array_equal(per_element_scale(np.array(7.0), (1, 2)), [[7, 7]])


def test_pareto_front_by_hand():
    x = np.array([1.0, 2.0, 2.0, 3.0, 1.0, 4.0])
    y = np.array([1.0, 2.0, 1.0, 3.0, 0.5, 3.0])
    # (2,1) loses to (1,1); (1,0.5) to (1,1); (4,3) to (3,3).
    assert pareto_front(x, y).tolist() == [True, True, False, True, False, False]
    # Lower y better (perplexity): (1,0.5) beats everything else at x >= 1.
    assert pareto_front(x, y, y_higher_is_better=False).tolist() == [
        False, False, False, False, True, False]
    assert not pareto_front(np.array([np.nan, 1.0]), np.array([1.0, 1.0]))[0]


def test_an_infinite_fidelity_at_the_good_end_is_on_the_front():
    """A format with a layer quantized exactly has a mean SQNR of +inf dB: the best there
    is, not a point to drop (fp16 vanished from hwsim tradeoff's front and plot). A
    perplexity of inf is the bad end: never compared."""
    x = np.array([4.0, 16.0, 8.0, 2.0])
    y = np.array([18.0, np.inf, 30.0, -np.inf])
    assert pareto_front(x, y).tolist() == [True, True, True, False]
    assert pareto_front(np.array([16.0, 20.0]), np.array([np.inf, np.inf])).tolist() == [
        True, False]  # equal fidelity, higher cost: dominated
    ppl = np.array([10.0, np.inf, 12.0])
    assert pareto_front(np.array([4.0, 2.0, 3.0]), ppl, y_higher_is_better=False).tolist() == [
        True, False, True]
    assert comparable(np.array([1.0, np.inf]), np.array([np.inf, 1.0])).tolist() == [True, False]


def test_the_pareto_plot_draws_an_infinite_fidelity_past_the_best():
    table = pd.DataFrame({"format": ["int4", "int8", "fp16"], "bits_per_weight": [4.0, 8.0, 16.0],
                          "sqnr_db_mean": [18.0, 38.0, np.inf]})
    fig = pareto_figure(table, "bits_per_weight", "sqnr_db_mean", x_label="bits",
                        y_label="SQNR")
    ax = fig.axes[0]
    labels = {t.get_text(): t.xy for t in ax.texts}
    assert labels["fp16 (∞)"] == (16.0, 40.0)  # 38 + a tenth of the 20 dB span
    front = next(line for line in ax.lines if line.get_label() == "Pareto front")
    assert front.get_ydata().tolist() == [18.0, 38.0, 40.0]
    # Alone, it has no finite value to be drawn past: no scale is shown (1 dB would be read).
    fig = pareto_figure(table.iloc[2:], "bits_per_weight", "sqnr_db_mean", x_label="bits",
                        y_label="SQNR")
    assert [t.get_text() for t in fig.axes[0].texts] == ["fp16 (∞)"]
    assert list(fig.axes[0].get_yticks()) == []


def test_write_outputs_is_all_or_nothing(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "b": [0.5, np.nan]})
    out = tmp_path / "out"
    paths = write_outputs(out, {"t.csv": df, "n.txt": "hi", "p.bin": b"\x00"})
    assert [p.name for p in paths] == ["t.csv", "n.txt", "p.bin"]
    assert (out / "t.csv").read_text() == "a,b\n1,0.5\n2,\n"
    assert sorted(p.name for p in out.iterdir()) == ["n.txt", "p.bin", "t.csv"]  # no temps
    bad = tmp_path / "bad"
    with pytest.raises(HwsimError, match="plain file name"):
        write_outputs(bad, {"ok.txt": "x", "../escape.txt": "y"})
    assert not bad.exists()
    (tmp_path / "file").write_text("")
    with pytest.raises(HwsimError, match="not a folder"):
        write_outputs(tmp_path / "file", {"a.txt": "x"})


# -- accuracy against cost --------------------------------------------------------------------

WORKLOAD = {"model": "opt-1.3b", "batch": 1, "prompt_tokens": 8, "generate_tokens": 2,
            "weights": {"format": "bitmod4", "overrides": {"lm_head": {"format": "int8"}}},
            "activations": {"bits": 16}, "kv_cache": {"bits": 16}, "hardware": "bitmod"}


@pytest.fixture(scope="module")
def workload_file(tmp_path_factory):
    import yaml

    p = tmp_path_factory.mktemp("wl") / "w.yaml"
    p.write_text(yaml.safe_dump(WORKLOAD))
    return p


def test_costs_match_a_direct_simulation(workload_file, tmp_path):
    import yaml

    from hwsim.hw import load_hardware
    from hwsim.sim import simulate_workload
    from hwsim.workloads import load_workload

    costs = format_costs(workload_file, ["int4", "nf4", "int8"]).set_index("format")
    # The same workload written by hand with int4 weights, simulated directly.
    by_hand = {**WORKLOAD, "weights": {**WORKLOAD["weights"], "format": "int4"}}
    p = tmp_path / "int4.yaml"
    p.write_text(yaml.safe_dump(by_hand))
    direct = simulate_workload(load_workload(p), load_hardware("bitmod"))
    assert costs.loc["int4", "latency_ms"] == pytest.approx(direct.latency_ms)
    assert costs.loc["int4", "energy_uj"] == pytest.approx(direct.energy_uj)
    assert costs.loc["int4", "hardware"] == "bitmod"
    assert costs.loc["int4", "weight_bits"] == pytest.approx(4.125)
    # The BitMoD PE cannot run NF4: no cost, and the table says why.
    assert math.isnan(costs.loc["nf4", "energy_uj"])
    assert costs.loc["nf4", "cost_note"] == "not costed: bitmod (bitmod PE) cannot run it"
    # More weight bits cost more energy on the same hardware.
    assert costs.loc["int8", "energy_uj"] > costs.loc["int4", "energy_uj"]


def test_costs_on_every_design_that_runs_the_format(workload_file):
    costs = format_costs(workload_file, ["nf4", "ant4", "int4"], hardware="bitmod,ant,fp16")
    pairs = list(zip(costs["format"], costs["hardware"], strict=True))
    # Each format on every listed design whose PE runs it, in format then design order: the
    # BitMoD PE runs INT but not NF4/ANT; fp16 stores its own weights, so it costs only its
    # own format (fp16, not asked here).
    assert pairs == [("nf4", "ant"), ("ant4", "ant"), ("int4", "bitmod"), ("int4", "ant")]
    assert (costs["energy_uj"] > 0).all()
    ant = costs.set_index(["format", "hardware"])
    # ant4 scales each row: costed as a run of it, without a group (it was costed at a group
    # of the hidden size, another simulation).
    assert ant.loc[("ant4", "ant"), "cost_note"] == ""
    # The same format on two designs: two different costs.
    assert ant.loc[("int4", "bitmod"), "latency_ms"] != ant.loc[("int4", "ant"), "latency_ms"]


def test_a_format_no_design_runs_gets_one_line(workload_file):
    costs = format_costs(workload_file, ["nf4"], hardware="bitmod,fp16")
    assert len(costs) == 1 and math.isnan(costs.iloc[0]["energy_uj"])
    assert costs.iloc[0]["cost_note"] == ("not costed: bitmod (bitmod PE) cannot run it; fp16 "
                                          "stores its own weight format")


def test_costs_bad_input(workload_file):
    with pytest.raises(HwsimError, match=r"absent\.yaml: cannot read workload"):
        format_costs("absent.yaml", ["int4"])
    with pytest.raises(HwsimError, match="bitmd"):
        format_costs(workload_file, ["int4"], hardware="bitmd")
    with pytest.raises(HwsimError, match="--hardware 'bitmod,,fp16': an empty item"):
        format_costs(workload_file, ["int4"], hardware="bitmod,,fp16")


def test_costs_take_a_list_of_designs_or_the_workloads(workload_file):
    # The library's list: items stripped, an empty list is the workload's own design.
    from hwsim.reports.fidelity_cost import _hardware_refs

    assert _hardware_refs([" bitmod ", "fp16"], "ant", workload_file.parent) == ["bitmod", "fp16"]
    assert _hardware_refs([], "ant", workload_file.parent) == ["ant"]


def test_tradeoff_table_and_axis(table, ckpt, tmp_path):
    summary = format_summary(table, ckpt)
    e2e = pd.DataFrame({"format": ["int4", "bitmod4"], "task": "embedding",
                        "cos_mean": [0.9, 0.95], "cos_min": [0.8, 0.9],
                        "nn_top1_agreement": [0.7, 0.8], "nn_top5_overlap": [0.7, 0.8],
                        "ppl": np.nan, "ppl_ratio": np.nan})
    t = tradeoff_table(summary, e2e)
    assert list(t["format"]) == FORMATS
    assert t.set_index("format").loc["bitmod4", "cos_mean"] == 0.95
    assert math.isnan(t.set_index("format").loc["olive4", "cos_mean"])
    assert fidelity_axis(t) == ("cos_mean", "embedding cosine similarity", True)
    # A format measured end to end only keeps its row, after the summary's formats.
    extra = pd.concat([e2e, e2e.iloc[:1].assign(format="nf4", cos_mean=0.97)])
    t2 = tradeoff_table(summary, extra)
    assert list(t2["format"]) == [*FORMATS, "nf4"]
    assert math.isnan(t2.iloc[-1]["bits_per_weight"]) and t2.iloc[-1]["cos_mean"] == 0.97
    assert fidelity_axis(tradeoff_table(summary))[0] == "sqnr_db_mean"
    png = pareto_png(t, "bits_per_weight", "cos_mean", x_label="bits", y_label="cos")
    assert png[:4] == b"\x89PNG"


def test_read_fidelity_dir_checks_its_tables(table, ckpt, tmp_path):
    with pytest.raises(HwsimError, match=r"summary\.csv: no such file"):
        read_fidelity_dir(tmp_path)
    (tmp_path / "summary.csv").write_text("format,x\nint4,1\n")
    with pytest.raises(HwsimError, match="missing column"):
        read_fidelity_dir(tmp_path)
    write_outputs(tmp_path, {"summary.csv": format_summary(table, ckpt)})
    summary, e2e = read_fidelity_dir(tmp_path)
    assert e2e is None and list(summary["format"]) == FORMATS


def test_shipped_text_set_is_packaged():
    from hwsim.reports.fidelity_e2e import default_texts_path, read_texts

    texts = read_texts(default_texts_path(), lines=True)
    assert len(texts) == 72  # twelve topics x six texts, as the file's header says
    assert len(set(texts)) == len(texts)


def test_read_texts_errors(tmp_path: Path):
    from hwsim.reports.fidelity_e2e import read_texts

    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n")
    with pytest.raises(HwsimError, match="empty"):
        read_texts(empty, lines=False)
    with pytest.raises(HwsimError, match="at least 2 texts"):
        read_texts(empty, lines=True)
    with pytest.raises(HwsimError, match="no such file"):
        read_texts(tmp_path / "absent.txt", lines=False)
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(HwsimError, match="not readable UTF-8"):
        read_texts(tmp_path / "bin.txt", lines=False)


def test_the_tradeoff_summary_keeps_a_format_of_infinite_sqnr():
    from hwsim.reports.tradeoff_report import tradeoff_summary

    table = pd.DataFrame({"format": ["int4", "fp16"], "bits_per_weight": [4.125, 16.0],
                          "sqnr_db_mean": [17.9, np.inf]})
    summary = tradeoff_summary(table, "bits_per_weight", "sqnr_db_mean",
                               y_higher_is_better=True, fidelity_model="tiny",
                               fidelity_label="SQNR")
    assert summary["pairings"] == 2
    # JSON has no infinity: "inf", not a null that reads as unknown.
    assert summary["pareto"] == [
        {"format": "int4", "bits_per_weight": 4.125, "sqnr_db_mean": 17.9},
        {"format": "fp16", "bits_per_weight": 16.0, "sqnr_db_mean": "inf"}]
    from hwsim.reports.tradeoff_report import tradeoff_html

    page = tradeoff_html(table, summary, "bits", "SQNR")
    assert 'data-key="pareto.1.sqnr_db_mean"' in page  # the page names it too
    # A folder whose only format has one: a page without a scatter (it had an IndexError).
    alone = table.iloc[1:]
    page = tradeoff_html(alone, tradeoff_summary(alone, "bits_per_weight", "sqnr_db_mean",
                                                 y_higher_is_better=True, fidelity_model="tiny",
                                                 fidelity_label="SQNR"), "bits", "SQNR")
    assert 'data-key="pareto.0.sqnr_db_mean"' in page
