"""`hwsim tradeoff` on several designs: every design given is in the outputs, with each format
it did not cost and why; one design given twice is refused; two designs of one name are
labelled apart."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from hwsim.errors import HwsimError
from hwsim.reports.fidelity_cost import costs_on_designs, format_costs
from hwsim.reports.tradeoff_report import tradeoff_html, tradeoff_summary

# Short: each pairing is one simulation.
WORKLOAD = {"model": "opt-1.3b", "batch": 1, "prompt_tokens": 8, "generate_tokens": 2,
            "weights": {"format": "bitmod4"}, "activations": {"bits": 16},
            "kv_cache": {"bits": 16}, "hardware": "bitmod"}
PRESETS = Path(__file__).resolve().parents[2] / "hw" / "presets"


@pytest.fixture
def workload_file(tmp_path: Path) -> Path:
    p = tmp_path / "w.yaml"
    p.write_text(yaml.safe_dump(WORKLOAD))
    return p


@pytest.fixture
def quantize_folder(tmp_path: Path, summary_row) -> Path:
    q = tmp_path / "q"
    q.mkdir()
    rows = [summary_row(f, bits_per_weight=b, sqnr_db_mean=d)
            for f, b, d in (("int4", 4.125, 17.9), ("nf4", 4.5, 20.5), ("fp16", 16.0, 90.0))]
    pd.DataFrame(rows).to_csv(q / "summary.csv", index=False)
    return q


def test_every_design_is_listed_with_what_it_did_not_cost(workload_file):
    # dint and fp16 were dropped from the outputs, and nf4's missing bitmod row had no reason.
    c = costs_on_designs(workload_file, ["int4", "nf4"], hardware="bitmod,ant,dint,fp16")
    assert c.designs == ("bitmod", "ant", "dint", "fp16")
    assert c.not_costed["bitmod"] == {"nf4": "bitmod (bitmod PE) cannot run it"}
    assert c.not_costed["ant"] == {}
    # The dint PE takes 8-bit activations: the workload's 16, not the format, is the reason.
    assert set(c.not_costed["dint"]) == {"int4", "nf4"}
    assert "activations are 16-bit but pe.act_bits is 8" in c.not_costed["dint"]["int4"]
    assert c.not_costed["fp16"] == dict.fromkeys(["int4", "nf4"],
                                                 "fp16 stores its own weight format")
    assert list(zip(c.costs["format"], c.costs["hardware"], strict=True)) == [
        ("int4", "bitmod"), ("int4", "ant"), ("nf4", "ant")]


def test_a_design_with_its_own_format_costs_that_format(workload_file, tmp_path):
    # The FP16 baseline refused every format, fp16 included.
    from hwsim.hw import load_hardware
    from hwsim.sim import simulate_workload
    from hwsim.workloads import load_workload

    costs = format_costs(workload_file, ["fp16"], hardware="bitmod,fp16")
    fp16 = costs.set_index("hardware").loc["fp16"]
    p = tmp_path / "fp16.yaml"
    p.write_text(yaml.safe_dump({**WORKLOAD, "weights": {"format": "fp16"}}))
    direct = simulate_workload(load_workload(p), load_hardware("fp16"))
    assert fp16["latency_ms"] == pytest.approx(direct.latency_ms)
    assert fp16["energy_uj"] == pytest.approx(direct.energy_uj)


def test_a_design_storing_the_format_at_another_group_does_not_cost_it(workload_file,
                                                                        tmp_path):
    own = yaml.safe_load((PRESETS / "bitmod.yaml").read_text()) | {
        "name": "bm64", "weights": {"format": "int4", "group_size": 64}}
    (tmp_path / "bm64.yaml").write_text(yaml.safe_dump(own))
    hw = [str(tmp_path / "bm64.yaml")]
    at64 = costs_on_designs(workload_file, ["int4"], hardware=hw, group_size=64)
    assert at64.not_costed == {"bm64": {}}
    at128 = costs_on_designs(workload_file, ["int4"], hardware=hw, group_size=128)
    assert at128.not_costed == {"bm64": {
        "int4": "bm64 stores its own weight format (int4 at group size 64)"}}


@pytest.mark.parametrize("second", ["BITMOD", str(PRESETS / "bitmod.yaml")])
def test_one_design_given_twice_is_refused(workload_file, second):
    # Every row appeared twice (`bitmod,bitmod` alone was refused).
    with pytest.raises(HwsimError, match=rf"--hardware: '{second}' is the same design as "
                                         r"'bitmod'; give each design once"):
        format_costs(workload_file, ["int4"], hardware=f"bitmod,{second}")


def test_two_designs_of_one_name_are_labelled_apart(workload_file, tmp_path):
    # Both rows said "bitmod" and summary.json listed one design.
    mine = yaml.safe_load((PRESETS / "bitmod.yaml").read_text()) | {
        "array": {"rows": 16, "cols": 32}}
    (tmp_path / "mybm.yaml").write_text(yaml.safe_dump(mine))
    c = costs_on_designs(workload_file, ["int4"], hardware=f"bitmod,{tmp_path / 'mybm.yaml'}")
    assert c.designs == ("bitmod", "bitmod#2")
    assert list(c.costs["hardware"]) == ["bitmod", "bitmod#2"]
    assert c.costs["latency_ms"].iloc[0] != c.costs["latency_ms"].iloc[1]


def test_a_workload_without_hardware_is_named(tmp_path):
    # The error named "." (the workload's folder).
    p = tmp_path / "nohw.yaml"
    p.write_text(yaml.safe_dump({k: v for k, v in WORKLOAD.items() if k != "hardware"}))
    with pytest.raises(HwsimError, match=rf"^{p}: the workload names no 'hardware'"):
        format_costs(p, ["int4"])


def test_the_cli_states_every_pair_not_costed(run_cli, quantize_folder, workload_file,
                                              tmp_path):
    out = tmp_path / "t"
    code, cap = run_cli("tradeoff", str(quantize_folder), "-w", str(workload_file), "-H",
                        "bitmod,ant,dint,fp16", "-o", str(out))
    assert code == 0, cap.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["designs"] == ["bitmod", "ant", "dint", "fp16"]
    assert summary["not_costed"]["bitmod"] == {"nf4": "bitmod (bitmod PE) cannot run it"}
    assert set(summary["not_costed"]["dint"]) == {"int4", "nf4", "fp16"}
    assert summary["not_costed"]["fp16"] == dict.fromkeys(["int4", "nf4"],
                                                          "fp16 stores its own weight format")
    table = pd.read_csv(out / "tradeoff.csv")
    assert ("fp16", "fp16") in set(zip(table["format"], table["hardware"], strict=True))
    flat = " ".join(cap.out.split())
    assert "nf4: not costed: bitmod (bitmod PE) cannot run it" in flat
    assert "int4, nf4: not costed: fp16 stores its own weight format" in flat
    assert "int4, nf4, fp16: not costed: dint (dint PE) cannot run this workload" in flat


def test_the_page_shows_each_cost_note_and_pair_not_costed():
    # report.html left cost_note out: a "-" cost without its reason.
    table = pd.DataFrame({"format": ["int4", "nf4"], "bits_per_weight": [4.125, 4.5],
                          "sqnr_db_mean": [17.9, 20.5], "hardware": ["bitmod", ""],
                          "energy_uj": [1.0, float("nan")],
                          "cost_note": ["", "not costed: bitmod (bitmod PE) cannot run it"]})
    summary = tradeoff_summary(table, "energy_uj", "sqnr_db_mean", y_higher_is_better=True,
                               fidelity_model="tiny", fidelity_label="SQNR",
                               not_costed={"bitmod": {"nf4": "bitmod (bitmod PE) cannot "
                                                              "run it"}})
    page = tradeoff_html(table, summary, "energy", "SQNR")
    assert "cost_note" in page
    assert page.count("bitmod (bitmod PE) cannot run it") == 2  # the row's, and the note


def test_reasons_keep_the_key_and_do_not_parse_op_names(tmp_path: Path):
    # A GEMM named with a quote lost the activation reason (its repr took double quotes),
    # and a workload refusal kept the text after its last ": " (the key was cut off).
    wl = tmp_path / "g.yaml"
    wl.write_text(yaml.safe_dump({"gemms": [{"name": "bob's: gemm", "m": 4, "n": 64,
                                             "k": 256}],
                                  "weights": {"format": "int4"}, "activations": {"bits": 16},
                                  "hardware": "bitmod"}))
    dint = costs_on_designs(wl, ["int4"], hardware="dint").not_costed["dint"]["int4"]
    assert dint == ("dint (dint PE) cannot run this workload: activations are 16-bit but "
                    "pe.act_bits is 8 (set activations.bits <= 8)")
    result = costs_on_designs(wl, ["int4"], hardware="bitmod", group_size=512)
    assert result.costs.iloc[0]["cost_note"].startswith("not costed: weights.group_size: 512 ")


def test_the_pareto_pairings_are_in_cost_order_when_lower_fidelity_is_better():
    # Perplexity: lower is better. Each cheaper format is worse, so all three are on the front;
    # by energy int4 (1), int8 (2), fp16 (4), the reverse of the perplexity order.
    table = pd.DataFrame({"format": ["fp16", "int4", "int8"], "hardware": "bitmod",
                          "perplexity": [5.5, 7.0, 5.6], "energy_uj": [4.0, 1.0, 2.0]})
    summary = tradeoff_summary(table, "energy_uj", "perplexity", y_higher_is_better=False,
                               fidelity_model="m", fidelity_label="perplexity")
    assert [p["format"] for p in summary["pareto"]] == ["int4", "int8", "fp16"]
