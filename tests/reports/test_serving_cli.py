"""`hwsim run` and `hwsim roofline` with a request trace: outputs, determinism, errors."""

import json

import pandas as pd
import pytest

from hwsim.reports.roofline import analyze, load_machine
from hwsim.reports.roofline_serving import roofline_serving
from hwsim.workloads import operators, workload_from_dict

TRACE = "arrival_s,prompt_tokens,generate_tokens\n0.0,96,6\n0.001,40,9\n0.002,130,3\n"
WORKLOAD = """\
model: llama-2-7b
requests: trace.csv
weights: {format: bitmod3, group_size: 128}
serving: {max_batch: 2, max_tokens_per_step: 128}
hardware: bitmod
"""


@pytest.fixture
def served(tmp_path):
    (tmp_path / "trace.csv").write_text(TRACE, encoding="utf-8")
    path = tmp_path / "w.yaml"
    path.write_text(WORKLOAD, encoding="utf-8")
    return path


def test_run_writes_the_serving_report(run_cli, served, tmp_path):
    outs = []
    for name in ("a", "b"):
        code, cap = run_cli("run", str(served), "--out", str(tmp_path / name))
        assert code == 0, cap.err
        outs.append(tmp_path / name)
    assert "3 requests" in cap.out and "TTFT p50" in cap.out
    summary = json.loads((outs[0] / "summary.json").read_text())
    assert summary["serving"] and summary["costed_by"] == "simulator"
    assert summary["energy_uj"] > 0 and "not_modelled" not in summary
    assert summary["policy"] == {"max_batch": 2, "max_tokens_per_step": 128,
                                 "chunked_prefill": True}
    assert set(summary["ttft_s"]) == {"p50", "p90", "p99", "mean"}
    steps = pd.read_csv(outs[0] / "steps.csv")
    assert steps["batch"].max() == 2 and steps["tokens"].max() <= 128
    requests = pd.read_csv(outs[0] / "requests.csv")
    assert requests["generate_tokens"].tolist() == [6, 9, 3]
    for name in ("summary.json", "requests.csv", "steps.csv", "serving.png"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


def test_roofline_one_request_is_the_plain_roofline():
    machine = load_machine("a100-40g")
    plain = analyze(operators(workload_from_dict(
        {"model": "llama-2-7b", "prompt_tokens": 100, "generate_tokens": 5})), machine)
    run = roofline_serving(workload_from_dict(
        {"model": "llama-2-7b",
         "requests": [{"prompt_tokens": 100, "generate_tokens": 5}]}), machine)
    prefill = plain.loc[plain["stage"] == "prefill", "time_s"].sum()
    assert run.ttft_s[0] == pytest.approx(prefill, rel=1e-12)
    assert run.e2e_s[0] == pytest.approx(plain["time_s"].sum(), rel=1e-12)


def test_roofline_cli_serves_the_trace(run_cli, served, tmp_path):
    code, cap = run_cli("roofline", str(served), "-H", "a100-40g", "--out", str(tmp_path / "r"))
    assert code == 0, cap.err
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["costed_by"] == "roofline" and summary["requests"] == 3
    # The roofline's compute-bound share of time is not the PE array's busy fraction.
    assert "utilization" not in summary and 0 < summary["compute_bound_share"] <= 1
    steps = pd.read_csv(tmp_path / "r" / "steps.csv")
    assert "utilization" not in steps and steps["compute_bound_share"].between(0, 1).all()
    # A roofline models no energy: labelled, null, never 0.
    assert summary["not_modelled"] == ["energy"] and summary["energy_uj"] is None
    assert pd.read_csv(tmp_path / "r" / "steps.csv")["energy_uj"].isna().all()


def test_bad_trace_is_one_line_exit_2(run_cli, served, tmp_path):
    (tmp_path / "trace.csv").write_text(TRACE + "0.0001,5,5\n", encoding="utf-8")
    code, cap = run_cli("run", str(served), "--out", str(tmp_path / "x"))
    assert code == 2
    assert "trace.csv: line 5: arrival_s 0.0001 is before the previous request's 0.002" \
        in cap.err
    assert len(cap.err.strip().splitlines()) == 1
