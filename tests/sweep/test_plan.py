"""plan.json: a hand-edited plan that is still JSON is one line naming the file and the key
(it was a traceback, or a table with rows labelled with other points' values)."""

from __future__ import annotations

import json
import shutil

import pytest
from sweep_support import METRICS, TOY

from hwsim.errors import HwsimError
from hwsim.sweep import run_sweep, sweep_from_dict, write_report
from hwsim.sweep.plan import read_plan


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A finished 2 x 2 sweep (x in 1, 2; y in 0, 1) with an area constraint."""
    out = tmp_path_factory.mktemp("plan") / "ref"
    spec = sweep_from_dict({"params": {"x": 0, "y": 0, "kind": "a"},
                            "axes": [{"field": "x", "values": [1, 2]},
                                     {"field": "y", "values": [0, 1]}],
                            "objectives": ["latency_s", "energy_pj"],
                            "constraints": [{"metric": "area_mm2", "max": 9}]},
                           sections=("params",), metrics=METRICS, source="t.yaml")
    run_sweep(spec, out, evaluator=TOY, workers=1)
    return out


def _copy(swept, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(swept, out)
    return out, json.loads((out / "plan.json").read_text())


def _without(plan, key):
    return {k: v for k, v in plan.items() if k != key}


def _point(plan, i, index=None, key=None):
    """The points with entry `i` replaced."""
    points = [list(p) for p in plan["points"]]
    old_index, old_key = points[i]
    points[i] = [old_index if index is None else index, old_key if key is None else key]
    return points


# (name, plan -> edited plan, the message after "<out>/plan.json: ")
CASES = [
    ("top-level-list", lambda p: [], "expected a mapping of plan keys, got a list"),
    ("no-axes", lambda p: _without(p, "axes"), "axes: Field required"),
    ("no-points", lambda p: _without(p, "points"), "points: Field required"),
    ("unknown-key", lambda p: {**p, "extra": 1},
     "extra: unknown key (allowed: name, evaluator, metrics, axes, zip, objectives, "
     "constraints, heatmaps, strategy, complete, points)"),
    ("axes-text", lambda p: {**p, "axes": "x"}, "axes: expected a list, got the text 'x'"),
    ("point-one-item", lambda p: {**p, "points": [[0], *p["points"][1:]]},
     "points[0]: an [index, key] pair is expected, got [0]"),
    ("index-text", lambda p: {**p, "points": _point(p, 0, index="0")},
     'points[0][0]: a point index (an integer) is expected, got "0"'),
    ("index-float", lambda p: {**p, "points": _point(p, 0, index=0.5)},
     "points[0][0]: a point index (an integer) is expected, got 0.5"),
    ("index-bool", lambda p: {**p, "points": _point(p, 1, index=True)},
     "points[1][0]: a point index (an integer) is expected, got true"),
    ("index-outside", lambda p: {**p, "points": _point(p, 0, index=4)},
     "points[0][0]: 4 is outside the axes' 4 points (0..3)"),
    ("key-number", lambda p: {**p, "points": _point(p, 0, key=123)},
     "points[0][1]: a point key (64 hex digits) is expected, got 123"),
    ("key-path", lambda p: {**p, "points": _point(p, 0, key="../plan")},
     'points[0][1]: a point key (64 hex digits) is expected, got "../plan"'),
    ("point-twice", lambda p: {**p, "points": [*p["points"], p["points"][0]]},
     "points[4]: point 0 is listed twice (also points[0])"),
    ("goal-up", lambda p: {**p, "objectives": [{"metric": "latency_s", "goal": "up"}]},
     "objectives[0].goal: Input should be 'min' or 'max'"),
    ("objective-unknown", lambda p: {**p, "objectives": [{"metric": "nope", "goal": "min"}]},
     "objectives[0]: unknown metric 'nope'; metrics: latency_s, energy_pj, area_mm2, score"),
    ("no-objectives", lambda p: {**p, "objectives": []},
     "objectives: give at least one objective"),
    ("constraint-foo", lambda p: {**p, "constraints": [{"foo": 1}]},
     "constraints[0].name: Field required; constraints[0].kind: Field required; "
     "constraints[0].foo: unknown key (allowed: name, kind, min, max)"),
    ("constraint-empty", lambda p: {**p, "constraints": [
        {"name": "area_mm2", "kind": "metric", "min": 5.0, "max": 1.0}]},
     "constraints[0]: min 5 > max 1: no value can satisfy it"),
    ("heatmap-not-an-axis", lambda p: {**p, "heatmaps": [
        {"x": "nope", "y": "y", "metric": "latency_s"}]},
     "heatmaps[0]: 'nope' is not an axis; axes: x, y"),
    ("zip-not-an-axis", lambda p: {**p, "zip": [["x", "q"]]},
     "zip[0]: q is not an axis; axes: x, y"),
    ("metric-goal", lambda p: {**p, "metrics": {"latency_s": "fast"}},
     "metrics.latency_s: Input should be 'min' or 'max'"),
]


def _refusal(out, plan) -> str:
    """The report's error on the folder once its plan.json is ``plan``."""
    (out / "plan.json").write_text(json.dumps(plan))
    with pytest.raises(HwsimError) as info:
        write_report(out)
    return str(info.value)


@pytest.mark.parametrize(("edit", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_hand_edited_plan_is_one_line_naming_the_key(swept, tmp_path, edit, message):
    out, plan = _copy(swept, tmp_path)
    assert _refusal(out, edit(plan)) == (f"{out / 'plan.json'}: {message}; rerun "
                                         f"`hwsim sweep SWEEP.yaml --out {out}`")


def test_a_key_listed_twice_is_refused_not_a_second_row(swept, tmp_path):
    # Point 3 under point 0's key gave 4 rows, two of them point 0's numbers.
    out, plan = _copy(swept, tmp_path)
    key = plan["points"][0][1]
    assert _refusal(out, {**plan, "points": _point(plan, 3, key=key)}) == (
        f"{out / 'plan.json'}: points[3]: key {key} is listed twice (also points[0]); rerun "
        f"`hwsim sweep SWEEP.yaml --out {out}`")


def test_swapped_keys_are_refused_not_labelled_with_the_other_points_values(swept, tmp_path):
    # Each row carried the other point's numbers under its own axis values.
    out, plan = _copy(swept, tmp_path)
    first, last = plan["points"][0][1], plan["points"][3][1]
    points = [list(p) for p in plan["points"]]
    points[0][1], points[3][1] = last, first
    assert _refusal(out, {**plan, "points": points}) == (
        f"{out / 'plan.json'}: points[0]: point 0 (x=1) has the key {last}, whose record "
        f"{out / 'points' / (last + '.json')} is of x=2; delete that record and rerun "
        f"`hwsim sweep SWEEP.yaml --out {out}`")


def test_a_plan_as_written_reads_back(swept):
    plan, space = read_plan(swept)
    assert space.size == 4 and [i for i, _ in plan["points"]] == [0, 1, 2, 3]
    assert plan["objectives"] == [{"metric": "latency_s", "goal": "min"},
                                  {"metric": "energy_pj", "goal": "min"}]
    assert plan["constraints"] == [{"name": "area_mm2", "kind": "metric", "min": None,
                                    "max": 9.0}]
