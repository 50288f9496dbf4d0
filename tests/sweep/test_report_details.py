"""Report details the broader tests leave open: the order of the tables, what a point missing
an objective is, the values heatmaps and the front's staircase are drawn from, which heatmaps
are drawn without being named, and the counts of summary.json. Every expected value comes from
the toy model's closed forms (`sweep_support`):

    latency_s = (x - 3)**2 + y + offset[kind]   (offset a: 0, b: 0.5)
    energy_pj = x * y + 1,  area_mm2 = x + 2 * y,  score = -x  (maximized)
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from sweep_support import METRICS, TOY

from hwsim.sweep import run_sweep, sweep_from_dict, write_report


def sweep(out, axes, **changes):
    data = {"params": {"x": 0, "y": 0, "kind": "a"}, "axes": axes,
            "objectives": ["latency_s", "energy_pj"]}
    data.update(changes)
    spec = sweep_from_dict(data, sections=("params",), metrics=METRICS, source="d.yaml")
    run_sweep(spec, out, evaluator=TOY, workers=1)
    return out


X5 = [{"field": "x", "values": [1, 2, 3, 4, 5]}]


def test_pareto_csv_lists_the_front_best_first_for_each_goal(tmp_path):
    # y = 0, kind a: latency = (x - 3)**2 = 4, 1, 0, 1, 4 and score = -x for x = 1..5.
    # Minimizing latency and maximizing score (smaller x): x=4 is beaten by x=2 (1, -2) and
    # x=5 by x=1 (4, -1); the front is x = 1, 2, 3.
    out = sweep(tmp_path, X5, objectives=["latency_s", "score"])
    write_report(out)
    front = pd.read_csv(out / "pareto.csv")
    assert front.x.tolist() == [3, 2, 1]  # latency 0, 1, 4: the lowest first
    # With score first, the highest score first: -1, -2, -3.
    write_report(out, ["score", "latency_s"])
    assert pd.read_csv(out / "pareto.csv").x.tolist() == [1, 2, 3]


def test_results_are_in_point_order_whatever_the_plans_order(tmp_path):
    out = sweep(tmp_path, X5)
    path = out / "plan.json"
    plan = json.loads(path.read_text())
    plan["points"] = plan["points"][::-1]  # still the same points
    path.write_text(json.dumps(plan))
    report = write_report(out)
    assert report.table.point.tolist() == [0, 1, 2, 3, 4]
    assert pd.read_csv(out / "results.csv").x.tolist() == [1, 2, 3, 4, 5]


@pytest.fixture
def drawn(monkeypatch):
    """The arrays of every `imshow` and the x data of every `step` the report draws."""
    calls = {"imshow": [], "step": []}
    imshow, step = Axes.imshow, Axes.step

    def record_imshow(self, data, *args, **kwargs):
        calls["imshow"].append(np.array(data, dtype=float))
        return imshow(self, data, *args, **kwargs)

    def record_step(self, x, y, *args, **kwargs):
        calls["step"].append((list(x), list(y)))
        return step(self, x, y, *args, **kwargs)

    monkeypatch.setattr(Axes, "imshow", record_imshow)
    monkeypatch.setattr(Axes, "step", record_step)
    return calls


def test_a_heatmap_takes_the_objectives_goal_over_feasible_points(tmp_path, drawn):
    # Latency maximized: each (x, y) cell shows the larger of kinds a and b, i.e. kind b's
    # (x - 3)**2 + y + 0.5. Rows are y = 0, 1 and columns x = 1, 2, 3.
    # area = x + 2y <= 3 leaves (2, 1) and (3, 1) with infeasible points only: blank in the
    # coloured layer (and drawn grey over it).
    out = sweep(tmp_path, [{"field": "x", "values": [1, 2, 3]}, {"field": "y", "values": [0, 1]},
                           {"field": "kind", "values": ["a", "b"]}],
                objectives=[{"metric": "latency_s", "goal": "max"}],
                constraints=[{"metric": "area_mm2", "max": 3}],
                report={"heatmaps": [{"x": "x", "y": "y", "metric": "latency_s"}]})
    write_report(out)
    coloured, grey = drawn["imshow"]
    np.testing.assert_array_equal(coloured, [[4.5, 1.5, 0.5], [5.5, np.nan, np.nan]])
    np.testing.assert_array_equal(grey, [[np.nan] * 3, [np.nan, 1.0, 1.0]])


def test_the_front_staircase_runs_from_the_best_of_the_first_objective(tmp_path, drawn):
    # Score (max) against latency (min) over x = 1..5: the front is x = 1, 2, 3 (see above).
    # Drawn `where="post"`, the staircase must start at the best score (-1) and step down to
    # -3, so that between two front points it holds the latency of the better-scoring one.
    out = sweep(tmp_path, X5, objectives=["score", "latency_s"])
    write_report(out)
    (xs, ys), = drawn["step"]
    assert xs == [-1.0, -2.0, -3.0]
    assert ys == [4.0, 1.0, 0.0]


def test_heatmaps_are_drawn_when_two_axes_vary_beside_fixed_ones(tmp_path):
    # kind has one value: x and y are the two varying axes, so one heatmap per objective.
    out = sweep(tmp_path, [{"field": "x", "values": [1, 2, 3]}, {"field": "y", "values": [0, 1]},
                           {"field": "kind", "values": ["a"]}])
    names = {p.name for p in write_report(out).files}
    assert {"heatmap_latency_s__x__y.png", "heatmap_energy_pj__x__y.png"} <= names


def test_no_heatmap_is_drawn_over_two_zipped_axes(tmp_path):
    # x and y move together: a grid of x against y would be a diagonal of 3 cells out of 9.
    out = sweep(tmp_path, [{"field": "x", "values": [1, 2, 3]},
                           {"field": "y", "values": [0, 1, 2]}], zip=[["x", "y"]])
    names = {p.name for p in write_report(out).files}
    assert not any(n.startswith("heatmap_") for n in names)


def test_summary_counts_feasible_points_and_lists_every_objective_of_the_front(tmp_path):
    # x = 1..5, y = 0: area = x, so area <= 3 keeps x = 1, 2, 3 (3 of 5 points feasible).
    # Front of latency (4, 1, 0) and energy (1 for all) among them: x = 3 alone.
    out = sweep(tmp_path, X5, constraints=[{"metric": "area_mm2", "max": 3}])
    write_report(out)
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["planned"], summary["finished"], summary["feasible"]) == (5, 5, 3)
    assert summary["front"] == [{"point": 2, "axes": {"x": 3},
                                 "objectives": {"latency_s": 0.0, "energy_pj": 1.0}}]


@pytest.mark.parametrize(("metric", "label"), [
    # The energy-delay product was labelled "ms": its suffix matched latency's first.
    ("edp_uj_ms", "edp_uj_ms (uJ·ms, lower is better)"),
    ("latency_ms", "latency_ms (ms, lower is better)"),
    ("decode_ms_per_token", "decode_ms_per_token (ms/token, lower is better)"),
    ("energy_per_token_uj", "energy_per_token_uj (uJ, lower is better)"),
    ("ttft_p99_s", "ttft_p99_s (s, lower is better)"),
])
def test_metric_labels_carry_their_units(metric, label):
    from hwsim.sweep.report import metric_label

    assert metric_label(metric, "min") == label
