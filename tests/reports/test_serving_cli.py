"""`hwsim run` and `hwsim roofline` with a request trace: outputs, determinism, errors."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from hwsim.reports.roofline import analyze, load_machine, op_step_costs
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
    assert summary["idle_energy_uj"] is not None and summary["idle_energy_uj"] >= 0
    assert summary["policy"] == {"max_batch": 2, "max_tokens_per_step": 128,
                                 "chunked_prefill": True}
    assert set(summary["ttft_s"]) == {"p50", "p90", "p99", "mean"}
    steps = pd.read_csv(outs[0] / "steps.csv")
    assert steps["batch"].max() == 2 and steps["tokens"].max() <= 128
    assert steps["cycles"].dtype == np.int64 and (steps["cycles"] > 0).all()
    # Throughput counts the tokens the steps process: prompts and decode steps.
    assert steps["tokens"].sum() == 96 + 40 + 130 + 5 + 8 + 2
    assert summary["throughput_tokens_per_s"] == pytest.approx(
        steps["tokens"].sum() / summary["makespan_s"], rel=1e-12)
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


def test_roofline_identical_simultaneous_requests_are_the_batched_roofline():
    # Each step holds one group of 3 equal sequences, costed as a group by the step cache,
    # which must give the batched steps: the prefill, then 4 decode steps.
    machine = load_machine("a100-40g")
    batched = operators(workload_from_dict(
        {"model": "llama-2-7b", "batch": 3, "prompt_tokens": 100, "generate_tokens": 5}))
    steps = np.zeros(5)
    for op in batched:
        time_s = op_step_costs(op, machine)["time_s"]
        if op.stage == "prefill":
            steps[0] += float(np.sum(time_s))
        else:
            steps[1:] += time_s
    run = roofline_serving(workload_from_dict(
        {"model": "llama-2-7b", "requests": [{"prompt_tokens": 100, "generate_tokens": 5}] * 3,
         "serving": {"max_batch": 3, "max_tokens_per_step": None}}), machine)
    assert run.step_s.tolist() == pytest.approx(steps.tolist(), rel=1e-12)


@pytest.mark.parametrize("prompt", [100, 1024])
def test_the_compute_bound_share_is_the_time_of_compute_bound_operators(prompt):
    # It was compute time / time: a prefill whose every operator is memory-bound read 0.60.
    machine = load_machine("a100-80g")
    plain = analyze(operators(workload_from_dict(
        {"model": "llama-2-7b", "prompt_tokens": prompt, "generate_tokens": 3})), machine)
    run = roofline_serving(workload_from_dict(
        {"model": "llama-2-7b",
         "requests": [{"prompt_tokens": prompt, "generate_tokens": 3}]}), machine)
    # The plain roofline's compute-bound time per stage (its decode rows sum the two steps).
    bound = {stage: float((rows["time_s"] - rows["memory_bound_time_s"]).sum())
             for stage, rows in plain.groupby("stage")}
    prefill_s = plain.loc[plain["stage"] == "prefill", "time_s"].sum()
    assert run.step_utilization[0] == pytest.approx(bound["prefill"] / prefill_s, rel=1e-12)
    # 100 tokens on a100-80g: every operator memory-bound; 1024: the linear layers are not.
    assert (run.step_utilization[0] == 0) == (prompt == 100)
    assert 0 <= run.step_utilization[0] < 1
    decode = run.step_utilization[1:] * run.step_s[1:]
    assert decode.sum() == bound["decode"] == 0  # batch 1 decode: all memory-bound


def test_a_batch_limit_beyond_the_trace_costs_no_more_than_the_trace():
    # A step never holds more sequences than the trace has: max_batch 10**12 is the trace's
    # 3 (its step costs were once tabulated for every batch up to max_batch: a MemoryError).
    machine = load_machine("a100-40g")
    runs = [roofline_serving(workload_from_dict(
        {"model": "llama-2-7b", "requests": [{"prompt_tokens": 100, "generate_tokens": 5}] * 3,
         "serving": {"max_batch": most, "max_tokens_per_step": None}}), machine)
        for most in (3, 10**12)]
    assert runs[1].step_s.tolist() == runs[0].step_s.tolist()
    assert runs[1].e2e_s.tolist() == runs[0].e2e_s.tolist()


def test_roofline_cli_serves_the_trace(run_cli, served, tmp_path):
    code, cap = run_cli("roofline", str(served), "-H", "a100-40g", "--out", str(tmp_path / "r"))
    assert code == 0, cap.err
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["costed_by"] == "roofline" and summary["requests"] == 3
    # The roofline's compute-bound share of time is not the PE array's busy fraction.
    assert "utilization" not in summary and 0 < summary["compute_bound_share"] <= 1
    steps = pd.read_csv(tmp_path / "r" / "steps.csv")
    assert "utilization" not in steps and steps["compute_bound_share"].between(0, 1).all()
    # A roofline models no energy: labelled, null, never 0 (the idle leakage neither).
    assert summary["not_modelled"] == ["energy"] and summary["energy_uj"] is None
    assert summary["idle_energy_uj"] is None
    assert steps["energy_uj"].isna().all()
    # It costs steps by time: no cycles, blank rather than 0 beside a duration.
    assert steps["cycles"].isna().all() and (steps["duration_s"] > 0).all()
    assert summary["throughput_tokens_per_s"] == pytest.approx(
        steps["tokens"].sum() / summary["makespan_s"], rel=1e-12)


SHORT = "model: llama-2-7b\nhardware: bitmod\n"


@pytest.mark.parametrize("command", ["run", "roofline"])
@pytest.mark.parametrize("trace", [
    "requests: [{prompt_tokens: 8, generate_tokens: 3}]\n",
    "batch: [8]\ngenerate_tokens: 3\n",
])
def test_one_request_served_has_the_plain_workloads_throughput(run_cli, tmp_path, command,
                                                                trace):
    # One definition under one key: the tokens processed (prompt + generate_tokens - 1
    # decode steps) over the time, for a trace as for the plain workload (a served trace
    # once counted prompt + generated, 11 tokens where the plain workload counts 10).
    rates = []
    for name, body in (("plain", "prompt_tokens: 8\ngenerate_tokens: 3\n"),
                       ("served", trace)):
        (tmp_path / f"{name}.yaml").write_text(SHORT + body, encoding="utf-8")
        args = ["-H", "a100-40g", "--no-plots"] if command == "roofline" else []
        code, cap = run_cli(command, str(tmp_path / f"{name}.yaml"), *args,
                            "--out", str(tmp_path / name))
        assert code == 0, cap.err
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        # A plain roofline gives its totals under "total".
        figures = summary["total"] if command == "roofline" and name == "plain" else summary
        rates.append(figures["throughput_tokens_per_s"])
    assert rates[1] == pytest.approx(rates[0], rel=1e-12)


HEADER = "arrival_s,prompt_tokens,generate_tokens\n"


@pytest.mark.parametrize("command", ["run", "roofline"])
@pytest.mark.parametrize(("rows", "message"), [
    ("", "trace.csv: empty trace (give at least one request)"),
    ("-1,5,5\n", "trace.csv: line 2: arrival_s -1.0 is not a time >= 0 (seconds)"),
    ("0.5,5,5\n0.25,5,5\n", "trace.csv: line 3: arrival_s 0.25 is before the previous "
     "request's 0.5; sort the trace by arrival time"),
    ("0,4000,200\n", "trace.csv: line 2: prompt_tokens + generate_tokens - 1 = 4199 is "
     "beyond llama-2-7b's context of 4096"),
])
def test_bad_trace_is_one_line_exit_2(run_cli, served, tmp_path, command, rows, message):
    (tmp_path / "trace.csv").write_text(HEADER + rows, encoding="utf-8")
    code, cap = run_cli(command, str(served), "--out", str(tmp_path / "x"))
    assert code == 2
    assert message in cap.err
    assert len(cap.err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_a_run_into_a_folder_leaves_no_file_of_an_earlier_run_of_another_kind(run_cli, served,
                                                                               tmp_path):
    # A served trace's files stayed beside a later workload's (and the other way round) as if
    # they were its results; a file of the user's is never touched.
    out = tmp_path / "o"
    batch = tmp_path / "g.yaml"
    batch.write_text("gemms: [{name: g, m: 64, n: 96, k: 256}]\n"
                     "weights: {format: int4, group_size: 128}\nhardware: bitmod\n")
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    served_files = {"summary.json", "requests.csv", "steps.csv", "serving.png", "notes.txt"}
    batch_files = {"summary.json", "layers.csv", "report.html", "latency_breakdown.png",
                   "energy_breakdown.png", "notes.txt"}
    for workload, files in ((served, served_files), (batch, batch_files),
                            (served, served_files)):
        code, cap = run_cli("run", str(workload), "--out", str(out))
        assert code == 0, cap.err
        assert {p.name for p in out.iterdir()} == files
    files = json.loads((out / "summary.json").read_text())["files"]
    assert sorted(files) == ["requests.csv", "serving.png", "steps.csv"]
    assert files["steps.csv"] == hashlib.sha256((out / "steps.csv").read_bytes()).hexdigest()
    # A file of the same name written there since by another command is not the run's.
    code, cap = run_cli("run", str(batch), "--out", str(out))
    assert code == 0, cap.err
    (out / "layers.csv").write_text("layer,format\nq,int4\n")  # e.g. hwsim quantize's
    code, cap = run_cli("run", str(served), "--out", str(out))
    assert code == 0, cap.err
    assert (out / "layers.csv").read_text() == "layer,format\nq,int4\n"
    assert not (out / "report.html").exists()


def _gapped_run():
    """Three requests served one at a time, a second per token: TTFT 10, 4 and 2 s."""
    from hwsim.workloads.serving import Request, ServingPolicy, StepCost, serve

    return serve([Request(0.0, 10, 3), Request(30.0, 4, 2), Request(50.0, 2, 2)],
                 ServingPolicy(), lambda shape: StepCost(seconds=float(shape.tokens)))


def test_serving_line_ttft_percentiles_are_the_summarys():
    from hwsim.reports.serving_report import serving_lines
    from hwsim.reports.units import format_quantity

    run = _gapped_run()
    ttft = run.summary()["ttft_s"]
    # Of [2, 4, 10] s: p50 4 s, p99 4 + 0.98 x 6 = 9.88 s.
    assert ttft["p50"] == 4.0 and ttft["p99"] == pytest.approx(9.88)
    [line] = serving_lines([("d", run)])
    assert (f"TTFT p50 {format_quantity(ttft['p50'], 'time')} "
            f"p99 {format_quantity(ttft['p99'], 'time')}," in line)


def test_steps_and_requests_tables_hold_each_figure_in_its_column():
    from hwsim.reports.serving_report import requests_table, steps_table

    run = _gapped_run()
    steps = steps_table([("d", run)])
    # prefill A (10), 2 decodes; prefill B (4), 1 decode; prefill C (2), 1 decode.
    assert steps["tokens"].tolist() == [10, 1, 1, 4, 1, 2, 1]
    assert steps["prefill_tokens"].tolist() == [10, 0, 0, 4, 0, 2, 0]
    requests = requests_table([("d", run)])
    assert requests["ttft_s"].tolist() == [10.0, 4.0, 2.0] == run.ttft_s.tolist()
    assert requests["tpot_s"].tolist() == [1.0, 1.0, 1.0] == run.tpot_s.tolist()
