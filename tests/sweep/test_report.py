"""Reports from stored results: tables, fronts, plots, and clear messages instead of empty plots."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from sweep_support import METRICS, TOY, brute_force

from hwsim.errors import HwsimError
from hwsim.sweep import hwsim_evaluator, run_sweep, sweep_from_dict, write_report
from hwsim.sweep.hwsim_eval import METRICS as HWSIM_METRICS
from hwsim.sweep.hwsim_eval import explain_absent


def grid(tmp_path, **changes):
    data = {
        "params": {"x": 0, "y": 0, "kind": "a"},
        "axes": [{"field": "x", "range": {"start": 0, "stop": 6}},
                 {"field": "y", "values": [0, 1, 2]}],
        "objectives": ["latency_s", "energy_pj", "score"],
        "constraints": [{"metric": "area_mm2", "max": 9}],
    }
    data.update(changes)
    spec = sweep_from_dict(data, sections=("params",), metrics=METRICS, source="r.yaml")
    run_sweep(spec, tmp_path, evaluator=TOY, workers=1)
    return tmp_path


def test_tables_front_and_plots(tmp_path):
    out = grid(tmp_path)
    report = write_report(out)
    table = report.table
    assert list(table.columns) == ["point", "x", "y", "latency_s", "energy_pj", "score",
                                   "area_mm2", "error", "feasible", "pareto", "key"]
    assert (report.planned, report.missing, report.failed) == (21, 0, 1)
    # Feasible: no error and area_mm2 = x + 2y <= 9.
    expected_feasible = table.error.isna() & (table.x + 2 * table.y <= 9)
    assert table.feasible.tolist() == expected_feasible.tolist()
    ok = table[table.feasible]
    front = brute_force(ok[["latency_s", "energy_pj", "score"]].to_numpy(), ("min", "min", "max"))
    assert table.loc[table.feasible, "pareto"].tolist() == front.tolist()
    assert not table.loc[~table.feasible, "pareto"].any()
    names = sorted(p.name for p in report.files)
    assert names == sorted([
        "results.csv", "results.parquet", "pareto.csv",
        "pareto_latency_s__energy_pj.png", "pareto_latency_s__score.png",
        "pareto_energy_pj__score.png",
        # exactly two axes vary: one heatmap per objective
        "heatmap_latency_s__x__y.png", "heatmap_energy_pj__x__y.png", "heatmap_score__x__y.png",
        "summary.json", "report.html",
    ])
    for path in report.files:
        assert path.stat().st_size > 0
    csv = pd.read_csv(out / "results.csv")
    parquet = pd.read_parquet(out / "results.parquet")
    assert len(csv) == len(parquet) == 21
    np.testing.assert_allclose(csv.latency_s, parquet.latency_s, equal_nan=True)
    assert pd.read_csv(out / "pareto.csv").key.tolist() == report.front.key.tolist()
    assert set(report.front.key) == set(table.key[table.pareto])


def test_report_re_renders_identically_from_the_store(tmp_path):
    out = grid(tmp_path)
    first = write_report(out)
    before = {p.name: p.read_bytes() for p in first.files}
    for path in first.files:
        path.unlink()
    second = write_report(out)  # no evaluator, no simulation: plan + points only
    assert {p.name: p.read_bytes() for p in second.files} == before


def test_named_heatmap_takes_the_best_over_other_axes(tmp_path):
    out = grid(tmp_path, axes=[{"field": "x", "values": [1, 3]}, {"field": "y", "values": [1, 2]},
                               {"field": "kind", "values": ["a", "b"]}],
               report={"heatmaps": [{"x": "y", "y": "x", "metric": "latency_s"}]},
               constraints=[])
    report = write_report(out)
    assert "heatmap_latency_s__x__y.png" in {p.name for p in report.files}


def test_missing_points_are_counted(tmp_path):
    out = grid(tmp_path)
    next((out / "points").glob("*.json")).unlink()
    report = write_report(out)
    assert (report.planned, report.missing, len(report.table)) == (21, 1, 20)


def test_unsatisfiable_constraint_is_a_clear_error_not_an_empty_plot(tmp_path):
    out = grid(tmp_path, constraints=[{"metric": "area_mm2", "max": 0.5},
                                      {"metric": "energy_pj", "max": 100}])
    with pytest.raises(HwsimError) as info:
        write_report(out)
    # Smallest area of a valid point: x + 2y with (x, y) != (0, 0) is 1 at x=1, y=0.
    assert str(info.value) == (
        f"{out}: no point satisfies the constraints together: area_mm2 <= 0.5: 0 of 20 points "
        "(nearest 1); energy_pj <= 100: 20 of 20 points (nearest 1); relax a constraint or "
        "widen the axes")
    assert (out / "results.csv").exists()
    assert not list(out.glob("*.png"))


def test_all_failed_and_no_results(tmp_path):
    out = grid(tmp_path / "a", axes=[{"field": "x", "values": [0]}, {"field": "y", "values": [0]}])
    with pytest.raises(HwsimError, match="all 1 points failed: 1 x params: x=0 together"):
        write_report(out)
    with pytest.raises(HwsimError, match="no sweep results here"):
        write_report(tmp_path / "empty")
    (tmp_path / "afile").write_text("", encoding="utf-8")
    with pytest.raises(HwsimError, match="afile: a file, not a sweep's output folder"):
        write_report(tmp_path / "afile")


def test_an_objective_no_point_produces_is_named(tmp_path):
    out = grid(tmp_path, constraints=[])
    plan_path = out / "plan.json"
    plan = json.loads(plan_path.read_text())
    plan["objectives"].append({"metric": "sqnr_db_mean", "goal": "max"})
    plan["metrics"]["sqnr_db_mean"] = "max"  # a model that names a metric it never returns
    plan_path.write_text(json.dumps(plan))
    (out / "pareto_latency_s__energy_pj.png").write_bytes(b"stale")
    with pytest.raises(HwsimError) as info:
        write_report(out)
    # The toy model has no `fidelity:` section: no hint about one.
    assert str(info.value) == (f"{out}: no point has a value for the objective sqnr_db_mean: "
                               "the model did not produce it")
    assert not (out / "pareto_latency_s__energy_pj.png").exists()  # no stale plot left


def test_a_render_with_other_objectives_keeps_the_earlier_plots(tmp_path):
    out = grid(tmp_path)
    first = {p.name for p in write_report(out).files if p.suffix == ".png"}
    second = {p.name for p in write_report(out, ["energy_pj", "score"]).files
              if p.suffix == ".png"}
    # `--report DIR --objectives ...` used to delete the sweep's own front and heatmaps.
    assert {p.name for p in out.glob("*.png")} == first | second
    # summary.json lists both renders' plots; a third render keeps them.
    assert set(json.loads((out / "summary.json").read_text())["plots"]) == first | second
    write_report(out)
    assert {p.name for p in out.glob("*.png")} == first | second


def test_another_sweep_into_the_folder_removes_the_earlier_sweeps_plots(tmp_path):
    # Another sweep (other points) into the same --out kept the earlier one's heatmaps over
    # axes it does not have, and its Pareto plot of 21 points beside 3 points' results.
    out = grid(tmp_path)
    first = {p.name for p in write_report(out).files if p.suffix == ".png"}
    (out / "heatmap_mine.png").write_bytes(b"the user's")
    edited = out / "heatmap_score__x__y.png"
    edited.write_bytes(b"edited since")   # not the recorded bytes: left alone
    grid(tmp_path, axes=[{"field": "x", "values": [1, 2, 3]}])
    second = {p.name for p in write_report(out).files if p.suffix == ".png"}
    assert not any(n.startswith("heatmap_") for n in second)
    assert {p.name for p in out.glob("*.png")} == second | {"heatmap_mine.png", edited.name}
    assert "heatmap_latency_s__x__y.png" in first
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["plots"]) == second


def test_zipped_axes_repeating_a_value_run_end_to_end(tmp_path, monkeypatch):
    from hwsim.sweep import report as report_module

    axes = [{"field": "x", "values": [1, 2, 4]}, {"field": "y", "values": [1, 1, 2]}]
    out = grid(tmp_path, axes=axes, zip=[["x", "y"]], constraints=[],
               report={"heatmaps": [{"x": "x", "y": "y", "metric": "latency_s"}]})
    drawn = []
    real = report_module._heatmap
    monkeypatch.setattr(report_module, "_heatmap",
                        lambda table, hm, goal, axes, *a, **k: drawn.append(axes)
                        or real(table, hm, goal, axes, *a, **k))
    report = write_report(out)
    table = report.table
    assert table[["point", "x", "y"]].values.tolist() == [[0, 1, 1], [1, 2, 1], [2, 4, 2]]
    assert table.latency_s.tolist() == [5.0, 2.0, 3.0]  # (x - 3)**2 + y
    assert table.key.nunique() == 3
    assert drawn[0]["y"] == [1, 2]  # one heatmap row per distinct value, not [1, 1, 2]
    before = (out / "results.csv").read_bytes()
    spec = sweep_from_dict({"params": {"x": 0, "y": 0, "kind": "a"}, "axes": axes,
                            "zip": [["x", "y"]], "objectives": ["latency_s", "energy_pj", "score"]},
                           sections=("params",), metrics=METRICS, source="r.yaml")
    rerun = run_sweep(spec, out, evaluator=TOY, workers=1)
    assert (rerun.points, rerun.evaluated, rerun.reused) == (3, 0, 3)
    write_report(out)
    assert (out / "results.csv").read_bytes() == before


def test_other_objectives_at_report_time(tmp_path):
    out = grid(tmp_path)
    report = write_report(out, ["energy_pj", "score"])  # goals from the model: min, max
    table = report.table
    assert list(table.columns[3:5]) == ["energy_pj", "score"]
    ok = table[table.feasible]
    front = brute_force(ok[["energy_pj", "score"]].to_numpy(), ("min", "max"))
    assert table.loc[table.feasible, "pareto"].tolist() == front.tolist()
    assert {p.name for p in report.files if p.suffix == ".png"} == {
        "pareto_energy_pj__score.png", "heatmap_energy_pj__x__y.png", "heatmap_score__x__y.png"}
    flipped = write_report(out, ["energy_pj:max", "score:min"]).table
    ok = flipped[flipped.feasible]
    front = brute_force(ok[["energy_pj", "score"]].to_numpy(), ("max", "min"))
    assert flipped.loc[flipped.feasible, "pareto"].tolist() == front.tolist()
    with pytest.raises(HwsimError, match="no metric speed in the results; metrics: "
                                         "area_mm2, energy_pj, latency_s, score"):
        write_report(out, ["speed:min"])
    with pytest.raises(HwsimError, match="--objectives 'speed': unknown metric 'speed'; "
                                         "metrics: "):
        write_report(out, ["speed"])
    with pytest.raises(HwsimError, match="write score:min or score:max"):
        write_report(out, ["score:best"])
    with pytest.raises(HwsimError, match="--objectives ':min': no metric"):
        write_report(out, [":min"])
    # An evaluator without a metric table (documented): no list to check the name against.
    from hwsim.sweep.report import _objectives_override

    with pytest.raises(HwsimError, match="write latency_s:min or latency_s:max"):
        _objectives_override(["latency_s"], {"metrics": {}})


def _edit_plan(out, **changes):
    """Change the stored plan as another sweep file would have written it."""
    path = out / "plan.json"
    plan = json.loads(path.read_text())
    plan.update(changes)
    path.write_text(json.dumps(plan))


def test_a_constraint_on_a_metric_no_point_has_is_named(tmp_path):
    out = grid(tmp_path, constraints=[])
    _edit_plan(out, metrics={**METRICS, "ghost": "min"},
               constraints=[{"name": "ghost", "kind": "metric", "max": 1.0},
                            {"name": "area_mm2", "kind": "metric", "max": 9.0}])
    with pytest.raises(HwsimError) as info:
        write_report(out)  # was a KeyError in the message about infeasible points
    assert str(info.value) == (f"{out}: no point meets the constraint ghost <= 1: none has a "
                               "value for ghost: the model did not produce it")
    assert (out / "results.csv").exists()


def test_a_heatmap_of_a_metric_no_point_has_is_an_error_before_any_plot(tmp_path):
    out = grid(tmp_path, constraints=[])
    _edit_plan(out, metrics={**METRICS, "ghost": "min"},
               heatmaps=[{"x": "x", "y": "y", "metric": "latency_s"},
                         {"x": "x", "y": "y", "metric": "ghost"}])
    with pytest.raises(HwsimError) as info:
        write_report(out)  # was a KeyError while drawing
    assert str(info.value) == (f"{out}: report.heatmaps[1]: no point has a value for ghost: "
                               "the model did not produce it")
    assert (out / "results.csv").exists()
    assert not list(out.glob("*.png"))  # refused as a whole, as an objective no point has


def test_rows_take_the_plans_axis_values_not_the_records(tmp_path):
    # A record is found by its configuration, which a point of another sweep (other axis
    # names) may share: its row is labelled with this plan's point. A record without a value
    # for an axis was refused ("not a record of this sweep").
    out = grid(tmp_path, constraints=[], zip=[["x", "y"]],
               axes=[{"field": "x", "values": [1, 2, 3]}, {"field": "y", "values": [0, 1, 2]},
                     {"field": "kind", "values": ["a", "b"]}])
    for i, path in enumerate(sorted((out / "points").glob("*.json"))):
        record = json.loads(path.read_text())
        record["values"] = {"params.x": 99} if i % 2 else {}
        path.write_text(json.dumps(record))
    table = write_report(out).table
    assert table[["point", "x", "y", "kind"]].values.tolist() == [
        [0, 1, 0, "a"], [1, 1, 0, "b"], [2, 2, 1, "a"], [3, 2, 1, "b"], [4, 3, 2, "a"],
        [5, 3, 2, "b"]]
    # latency_s = (x - 3)**2 + y + offset: the rows' numbers are their points'.
    assert table.latency_s.tolist() == [4.0, 4.5, 2.0, 2.5, 2.0, 2.5]


def test_a_record_whose_axis_value_is_not_its_points_is_refused(tmp_path):
    # Under the same axis name another value means plan.json or the record was edited: the
    # row would carry one point's label and another point's numbers (it was labelled x=1).
    out = grid(tmp_path, constraints=[], axes=[{"field": "x", "values": [1, 2]}])
    plan = json.loads((out / "plan.json").read_text())
    path = out / "points" / f"{plan['points'][0][1]}.json"
    record = json.loads(path.read_text())
    record["values"]["x"] = 1.0  # a float is another value of the axis than the int 1
    path.write_text(json.dumps(record))
    with pytest.raises(HwsimError) as info:
        write_report(out)
    assert str(info.value) == (
        f"{out / 'plan.json'}: points[0]: point 0 (x=1) has the key {plan['points'][0][1]}, "
        f"whose record {path} is of x=1.0; delete that record and rerun "
        f"`hwsim sweep SWEEP.yaml --out {out}`")


def test_points_stored_under_other_axis_names_are_reused_and_relabelled(tmp_path):
    # The same configurations reached by a sweep that adds an axis at its base value (y: 0)
    # and names x with its section: reused, and the report labels them with the new axes (it
    # stopped with "not a record of this sweep (no value for the axis params.x, y)").
    grid(tmp_path, constraints=[], axes=[{"field": "x", "values": [1, 2]}])
    data = {"params": {"x": 0, "y": 0, "kind": "a"}, "objectives": ["latency_s"],
            "axes": [{"field": "params.x", "values": [1, 2]}, {"field": "y", "values": [0, 1]}]}
    spec = sweep_from_dict(data, sections=("params",), metrics=METRICS, source="r.yaml")
    run = run_sweep(spec, tmp_path, evaluator=TOY, workers=1)
    assert (run.points, run.evaluated, run.reused) == (4, 2, 2)
    table = write_report(tmp_path).table
    assert list(table.columns[:3]) == ["point", "params.x", "y"]
    assert table[["params.x", "y"]].values.tolist() == [[1, 0], [1, 1], [2, 0], [2, 1]]
    assert table.latency_s.tolist() == [4.0, 5.0, 1.0, 2.0]


# Why a metric of hwsim's simulator is missing at every point, said with the metric. Small
# workloads: a few milliseconds a point.
PREFILL_ONLY = {"model": "llama-2-7b", "prompt_tokens": 8, "generate_tokens": 1}
GEMMS = {"gemms": [{"name": "g", "m": 16, "n": 16, "k": 16}]}


def hwsim_sweep(out, workload, **changes):
    data = {"workload": workload, "hardware": "bitmod",
            "axes": [{"field": "array.rows", "values": [16, 32]},
                     {"field": "array.cols", "values": [16, 32]}],
            "objectives": ["latency_ms"]}
    data.update(changes)
    spec = sweep_from_dict(data, metrics=HWSIM_METRICS, source="hw.yaml",
                           optional_sections=("fidelity",))
    # Without the evaluator's check before running (`tests/sweep/test_hwsim_eval.py`), as an
    # evaluator without one: the report says why.
    run_sweep(spec, out, workers=1, evaluator=dataclasses.replace(hwsim_evaluator(),
                                                                  absent=None))
    return out


NO_DECODE = ("the workload has no decode stage (generate_tokens is 1, and the prefill makes "
             "the first token; decoding needs generate_tokens >= 2)")


@pytest.mark.parametrize(
    ("workload", "changes", "message"),
    [
        # The reported case: a constraint on decode of a prefill-only workload.
        (PREFILL_ONLY, {"constraints": [{"metric": "decode_ms_per_token", "max": 1000}]},
         "no point meets the constraint decode_ms_per_token <= 1000: none has a value for "
         f"decode_ms_per_token: {NO_DECODE}"),
        # Once said to need a `fidelity:` folder.
        (PREFILL_ONLY, {"objectives": ["decode_ms_per_token", "area_mm2"]},
         f"no point has a value for the objective decode_ms_per_token: {NO_DECODE}"),
        (GEMMS, {"objectives": ["tokens_per_s", "ttft_p99_s"]},
         "no point has a value for the objective tokens_per_s: a raw-GEMM workload (`gemms:`) "
         "has no tokens and no decode stage; no point has a value for the objective "
         "ttft_p99_s: a serving metric needs a served workload (`requests:` or a `batch:` "
         "list)"),
        (GEMMS, {"report": {"heatmaps": [{"x": "array.rows", "y": "array.cols",
                                          "metric": "sqnr_db_mean"}]}},
         "report.heatmaps[0]: no point has a value for sqnr_db_mean: a fidelity metric needs "
         "a `fidelity:` folder written by `hwsim quantize`"),
    ],
    ids=["decode-constraint", "decode-objective", "gemm-tokens-and-serving", "fidelity-heatmap"],
)
def test_a_metric_the_workload_does_not_produce_says_why(tmp_path, workload, changes, message):
    out = hwsim_sweep(tmp_path, workload, **changes)
    with pytest.raises(HwsimError) as info:
        write_report(out)
    assert str(info.value) == f"{out}: {message}"


@pytest.mark.parametrize(
    ("metric", "config", "reason"),
    [
        ("cos_mean", {"workload": PREFILL_ONLY,
                      "fidelity": {"metrics": {"sqnr_db_mean": 20.0}}},
         "the `fidelity:` folder has no such measurement of the point's weight format; "
         "cos_*, nn_* and ppl* come from `hwsim fidelity`"),
        ("decode_latency_ms", {"workload": {**PREFILL_ONLY, "requests": []}},
         "a served workload has no prefill or decode totals; its metrics are ttft_*, tpot_*, "
         "e2e_p99_s and output_tokens_per_s"),
        ("energy_uj", {"workload": PREFILL_ONLY},
         "the hardware has no energy model (a measured build), so the metric is left out "
         "rather than 0"),
        ("utilization", {"workload": PREFILL_ONLY}, "the model did not produce it"),
    ],
    ids=["fidelity-unmeasured", "served-stage", "unmodelled-energy", "other"],
)
def test_the_reasons_a_simulator_metric_is_missing(metric, config, reason):
    assert explain_absent(metric, config) == reason
