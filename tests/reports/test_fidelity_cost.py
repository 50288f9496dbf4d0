"""`read_fidelity_dir`: the quantize/fidelity tables a sweep or `tradeoff` joins with costs are
refused, naming the file, line and column, when a cell, a format or a group size is wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hwsim.errors import HwsimError
from hwsim.reports.fidelity_cost import format_costs, measured_group_sizes, read_fidelity_dir
from hwsim.reports.fidelity_e2e import E2E_COLUMNS


def _e2e_row(fmt: str, **values: object) -> dict:
    cells = dict.fromkeys(E2E_COLUMNS, "") | {"format": fmt, "task": "embedding",
                                              "texts": "t.txt", "n_texts": 8, "cos_mean": 0.9,
                                              "cos_min": 0.8, "nn_top1_agreement": 1.0,
                                              "nn_top5_overlap": 0.9}
    return cells | values


# How `hwsim quantize` and `hwsim fidelity` name the checkpoint they measured.
_TINY = {"checkpoint": "tiny", "checkpoint_digest": "ab" * 32}


def _folder(tmp_path, summary: list[dict], e2e: list[dict] | None = None):
    """Both tables of one checkpoint (`_TINY`) unless a row says otherwise."""
    pd.DataFrame([_TINY | row for row in summary]).to_csv(tmp_path / "summary.csv", index=False)
    if e2e is not None:
        pd.DataFrame([_TINY | row for row in e2e]).to_csv(tmp_path / "fidelity.csv",
                                                          index=False)
    return tmp_path


def test_a_valid_folder_reads_with_its_group_sizes(tmp_path, summary_row):
    folder = _folder(tmp_path, [summary_row("int4"), summary_row("ant4"), summary_row("fp16")],
                     [_e2e_row("float"), _e2e_row("int4", group_size=128)])
    summary, e2e = read_fidelity_dir(folder)
    assert list(e2e["format"]) == ["int4"]  # the reference row is read past
    assert measured_group_sizes(summary, e2e) == {"int4": 128, "ant4": None, "fp16": None}
    assert summary["sqnr_db_mean"].dtype == np.float64


@pytest.mark.parametrize("patch, message", [
    # A text cell made pandas read the column as text, and the sweep dropped the metric.
    ({"sqnr_db_mean": "abc"}, "line 2 (int4), column sqnr_db_mean: 'abc' is not a number"),
    ({"sqnr_db_mean": float("nan")}, "line 2 (int4), column sqnr_db_mean: nan is not a number"),
    ({"bits_per_weight": -4}, "line 2 (int4), column bits_per_weight: -4.0 is not a finite "
                              "number > 0"),
    ({"model_bytes": float("inf")}, "column model_bytes: inf is not a finite number > 0"),
    ({"layers": 1.5}, "column layers: 1.5 is not a whole number >= 1"),
    ({"group_size": 0}, "column group_size: 0 is not empty or a whole number >= 1"),
    ({"outlier_pair_rate": 2.0}, "column outlier_pair_rate: 2.0 is not empty or within 0..1"),
    ({"format": "foo"}, "line 2: format: unknown format 'foo'"),
])
def test_a_bad_summary_cell_is_named(tmp_path, summary_row, patch, message):
    folder = _folder(tmp_path, [summary_row("int4") | patch, summary_row("bitmod4")])
    with pytest.raises(HwsimError) as info:
        read_fidelity_dir(folder)
    assert str(info.value).startswith(f"{folder / 'summary.csv'}: ")
    assert message in str(info.value)


def test_a_format_twice_is_refused(tmp_path, summary_row):
    # The last row silently won.
    folder = _folder(tmp_path, [summary_row("int4"), summary_row("INT4", sqnr_db_mean=1.0)])
    with pytest.raises(HwsimError, match=r"summary.csv: lines 2 and 3: format int4 twice"):
        read_fidelity_dir(folder)


def test_a_bad_fidelity_cell_is_named(tmp_path, summary_row):
    folder = _folder(tmp_path, [summary_row("int4")],
                     [_e2e_row("float"), _e2e_row("int4", group_size=128, cos_mean="x")])
    with pytest.raises(HwsimError, match=r"fidelity.csv: line 3 \(int4\), column cos_mean: "
                                         r"'x' is not empty or within -1..1"):
        read_fidelity_dir(folder)


def test_a_format_measured_at_two_group_sizes_is_refused(tmp_path, summary_row):
    folder = _folder(tmp_path, [summary_row("int4")],
                     [_e2e_row("float"), _e2e_row("int4", group_size=32)])
    with pytest.raises(HwsimError, match=r"int4 was measured at group size 128 in summary.csv "
                                         r"and at group size 32 in fidelity.csv"):
        read_fidelity_dir(folder)


def test_a_fidelity_of_another_checkpoint_is_refused_naming_both(tmp_path, summary_row):
    # tradeoff joined a fidelity.csv of another model with this one's sizes and SQNR.
    other = {"checkpoint": "other-model", "checkpoint_digest": "cd" * 32}
    folder = _folder(tmp_path, [summary_row("int4")],
                     [_e2e_row("float", **other), _e2e_row("int4", group_size=128, **other)])
    with pytest.raises(HwsimError, match=r"summary.csv measured checkpoint tiny \(tensors "
                                         r"abababababab\) and fidelity.csv other-model "
                                         r"\(tensors cdcdcdcdcdcd\): tables of two checkpoints"):
        read_fidelity_dir(folder)


def test_a_fidelity_that_does_not_name_its_checkpoint_asks_for_a_rerun(tmp_path, summary_row):
    folder = _folder(tmp_path, [summary_row("int4")], [_e2e_row("float")])
    e2e = pd.read_csv(folder / "fidelity.csv").drop(columns=["checkpoint_digest"])
    e2e.to_csv(folder / "fidelity.csv", index=False)
    with pytest.raises(HwsimError, match=r"fidelity.csv: missing column\(s\) checkpoint_digest: "
                                         r".* \(an earlier hwsim's table: run hwsim fidelity "
                                         r"again\)"):
        read_fidelity_dir(folder)
    # Without a fidelity.csv there is nothing to match: a summary alone is read as before.
    (folder / "fidelity.csv").unlink()
    read_fidelity_dir(folder)


def test_a_table_without_group_sizes_asks_for_a_rerun(tmp_path, summary_row):
    row = summary_row("int4")
    del row["group_size"]
    folder = _folder(tmp_path, [row])
    with pytest.raises(HwsimError, match=r"missing column\(s\) group_size; .* \(an earlier "
                                         r"hwsim's table: run the command again\)"):
        read_fidelity_dir(folder)


def test_a_fidelity_without_its_token_limit_asks_for_a_rerun(tmp_path, summary_row):
    # Written by hwsim fidelity before it recorded max_length: "expected a table written by
    # hwsim fidelity" alone read as if it were not one.
    folder = _folder(tmp_path, [summary_row("int4")], [_e2e_row("float")])
    e2e = pd.read_csv(folder / "fidelity.csv").drop(columns=["max_length"])
    e2e.to_csv(folder / "fidelity.csv", index=False)
    with pytest.raises(HwsimError, match=r"missing column\(s\) max_length; .* \(an earlier "
                                         r"hwsim's table: run the command again\)"):
        read_fidelity_dir(folder)
    # A limit of 0 tokens is no table hwsim writes.
    (tmp_path / "zero").mkdir()
    folder = _folder(tmp_path / "zero", [summary_row("int4")], [_e2e_row("float", max_length=0)])
    with pytest.raises(HwsimError, match=r"max_length.*empty or a whole number >= 1"):
        read_fidelity_dir(folder)


def test_costs_take_each_formats_measured_group_size():
    costs = format_costs("llama-2-7b-generative", ["int4", "bitmod4"], hardware="bitmod",
                         group_size={"int4": 32, "bitmod4": None})
    bits = dict(zip(costs["format"], costs["weight_bits"], strict=True))
    # int4 at group 32: a 16-bit scale per 32 weights; bitmod4 at its own 128.
    default = format_costs("llama-2-7b-generative", ["int4"], hardware="bitmod")
    assert bits["int4"] > default["weight_bits"].iloc[0]
    assert bits["bitmod4"] < bits["int4"]


def test_a_cosine_a_rounding_above_one_and_an_infinite_perplexity_are_read(tmp_path,
                                                                            summary_row):
    # `hwsim fidelity` wrote 1.0000000000000002 for its own reference row with a few texts,
    # and the check refused the table it had written.
    folder = _folder(tmp_path, [summary_row("int4")],
                     [_e2e_row("float", cos_mean=1.0000000000000002, cos_min=1.0),
                      _e2e_row("int4", group_size=128, task="perplexity", cos_mean="",
                               cos_min="", nn_top1_agreement="", nn_top5_overlap="",
                               ppl_reference=12.5, ppl=float("inf"),
                               ppl_ratio=float("inf"))])
    _, e2e = read_fidelity_dir(folder)
    assert np.isinf(e2e["ppl"].iloc[0])


def test_a_refused_cell_names_its_line_past_blank_lines(tmp_path, summary_row):
    folder = _folder(tmp_path, [summary_row("int4"), summary_row("bitmod4", layers=0)])
    path = folder / "summary.csv"
    header, first, second = path.read_text().splitlines()
    path.write_text(f"{header}\n{first}\n\n{second}\n")  # pandas skips the blank line
    with pytest.raises(HwsimError, match=r"summary.csv: line 4 \(bitmod4\), column layers"):
        read_fidelity_dir(folder)


def test_a_cast_is_measured_at_no_group_whatever_group_size_was_given():
    # fidelity.csv wrote 64 for fp16 given --group-size 64, though a cast takes no group.
    from hwsim.reports.fidelity import asked_group_size

    assert asked_group_size("fp16", 64) is None and asked_group_size("fp32", None) is None
    assert asked_group_size("int4", 64) == 64 and asked_group_size("int4", None) == 128
    assert asked_group_size("ant4", None) is None and asked_group_size("ant4", 32) == 32


@pytest.mark.parametrize("design", ["ant", "olive"])
def test_a_per_row_format_is_costed_as_a_run_of_it(tmp_path, design):
    # hwsim quantize measures ant4 with one scale per row (no group); the cost took a group of
    # the hidden size, another simulation (other blockings, 80% more activation traffic).
    import yaml

    from hwsim.hw import load_hardware
    from hwsim.sim import simulate_workload
    from hwsim.workloads import load_workload

    wl = {"model": "opt-1.3b", "prompt_tokens": 64, "generate_tokens": 2,
          "weights": {"format": "bitmod4", "group_size": 128}, "activations": {"bits": 16},
          "kv_cache": {"bits": 16}, "hardware": "bitmod"}
    p = tmp_path / "w.yaml"
    p.write_text(yaml.safe_dump(wl))
    costs = format_costs(p, ["ant4"], hardware=design, group_size={"ant4": None})
    p.write_text(yaml.safe_dump({**wl, "weights": {"format": "ant4"}}))
    direct = simulate_workload(load_workload(p), load_hardware(design))
    row = costs.iloc[0]
    assert row["latency_ms"] == pytest.approx(direct.latency_ms, rel=1e-12)
    assert row["energy_uj"] == pytest.approx(direct.energy_uj, rel=1e-12)
    assert row["cost_note"] == ""
