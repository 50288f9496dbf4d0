"""Sweep files: validation messages name the YAML path, ranges expand as documented."""

from __future__ import annotations

import pytest
from sweep_support import METRICS, TOY

from hwsim.errors import HwsimError
from hwsim.sweep import load_sweep, plan_points, sweep_from_dict


def spec_dict(**changes):
    data = {
        "params": {"x": 0, "y": 0, "kind": "a"},
        "axes": [{"field": "x", "values": [1, 2]}, {"field": "kind", "values": ["a", "b"]}],
        "objectives": ["latency_s", {"metric": "energy_pj", "goal": "min"}],
    }
    data.update(changes)
    return data


def parse(data):
    return sweep_from_dict(data, sections=("params",), metrics=METRICS, source="s.yaml")


def axis_values(range_):
    return parse(spec_dict(axes=[{"field": "x", "range": range_}])).axes[0].values


def test_ranges_are_inclusive_and_keep_integers():
    assert axis_values({"start": 1, "stop": 4}) == (1, 2, 3, 4)
    assert axis_values({"start": 16, "stop": 64, "step": 16}) == (16, 32, 48, 64)
    # 16 * 2**k <= 256 for k = 0..4; the stop is reached despite float logs.
    assert axis_values({"start": 16, "stop": 256, "factor": 2}) == (16, 32, 64, 128, 256)
    assert axis_values({"start": 16, "stop": 200, "factor": 2}) == (16, 32, 64, 128)
    assert axis_values({"start": 0.5, "stop": 1.0, "num": 3}) == (0.5, 0.75, 1.0)
    # 0.1 steps accumulate rounding error; the inclusive stop must survive it.
    assert axis_values({"start": 0.1, "stop": 0.3, "step": 0.1})[-1] == pytest.approx(0.3)
    assert len(axis_values({"start": 0.1, "stop": 0.3, "step": 0.1})) == 3


def test_goals_default_from_the_model():
    spec = parse(spec_dict(objectives=["latency_s", "score"]))
    assert [(o.metric, o.goal) for o in spec.objectives] == [("latency_s", "min"), ("score", "max")]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"axes": [{"field": "x", "range": {"start": 8, "stop": 1}}]},
         "axes[0] (x): empty range: start 8 > stop 1"),
        ({"axes": [{"field": "x", "values": []}]}, "axes[0] (x): empty list of values"),
        ({"axes": [{"field": "x", "range": {"start": 1, "stop": 4, "step": 0}}]},
         "step must be > 0"),
        ({"axes": [{"field": "x", "range": {"start": 1, "stop": 4, "num": 0}}]},
         "num must be >= 1"),
        ({"axes": [{"field": "x", "values": [1], "range": {"start": 1, "stop": 2}}]},
         "axes[0]: give exactly one of `values`"),
        ({"axes": []}, "give at least one axis"),
        ({"axes": [{"field": "x", "values": [1, 1]}]}, "repeated values"),
        ({"axes": [{"field": "x", "values": [1]}, {"field": "x", "values": [2]}]},
         "given twice: x"),
        ({"axse": []}, "s.yaml: axse: unknown key (allowed: name, axes, zip,"),
        ({"objectives": ["speed"]}, "objectives[0]: unknown metric 'speed'; metrics: latency_s"),
        ({"zip": [["x", "kind", "y"]]}, "zip[0]: y is not an axis"),
        ({"axes": [{"field": "x", "values": [1, 2, 3]}, {"field": "y", "values": [1, 2]}],
          "zip": [["x", "y"]]},
         "zip[0]: zipped axes need the same number of values, got x: 3, y: 2"),
        ({"constraints": [{"metric": "area_mm2", "min": 3, "max": 1}]}, "min 3 > max 1"),
        ({"constraints": [{"field": "y", "max": 1}]}, "constraints[0]: field 'y' is not an axis"),
        ({"strategy": {"kind": "random"}}, "random sampling needs `samples` >= 1"),
        ({"strategy": {"kind": "grid", "seed": 3}}, "seed has no effect with kind grid"),
        ({"strategy": {"kind": "random", "samples": 3, "sampler": "tpe"}},
         "sampler has no effect with kind random"),
        ({"strategy": {"kind": "optuna", "trials": 5, "sampler": "cmaes"}},
         "strategy.sampler: Input should be 'tpe', 'nsga2', 'nsga3' or 'random'"),
    ],
)
def test_bad_sweep_files_are_named_precisely(changes, message):
    with pytest.raises(HwsimError) as info:
        parse(spec_dict(**changes))
    assert message in str(info.value)
    assert str(info.value).startswith("s.yaml")


def test_unknown_field_lists_the_valid_fields():
    spec = parse(spec_dict(axes=[{"field": "kindd", "values": ["a"]}]))
    with pytest.raises(HwsimError) as info:
        plan_points(spec, TOY)
    msg = str(info.value)
    assert "axes[0].field: no field 'kindd' (closest: kind" in msg
    assert "valid fields: params.x, params.y, params.kind" in msg


def test_group_and_ambiguous_fields_are_refused():
    from hwsim.sweep.fields import resolve_field

    valid = {"hardware": ["array.rows", "array.cols", "name"], "workload": ["name"]}
    assert resolve_field("array.rows", valid, "w") == "hardware.array.rows"
    assert resolve_field("workload.name", valid, "w") == "workload.name"
    with pytest.raises(HwsimError) as info:
        resolve_field("array", valid, "w")
    assert str(info.value) == ("w: 'array' is a group of fields, not a field; its fields: "
                               "hardware.array.rows, hardware.array.cols")
    with pytest.raises(HwsimError) as info:
        resolve_field("name", valid, "w")
    assert str(info.value) == "w: 'name' is ambiguous; write one of: hardware.name, workload.name"
    # With the base at hand, the section holding more of the path wins; a tie stays ambiguous.
    base = {"hardware": {"array": {"rows": 1, "cols": 1}}, "workload": {"name": "w"}}
    assert resolve_field("name", valid, "w", base) == "workload.name"
    valid = {"hardware": ["weights.bits"], "workload": ["weights.bits", "weights.format"]}
    base = {"hardware": {}, "workload": {"weights": {"format": "int4"}}}
    assert resolve_field("weights.bits", valid, "w", base) == "workload.weights.bits"
    with pytest.raises(HwsimError, match="ambiguous"):
        resolve_field("weights.bits", valid, "w", {"hardware": {}, "workload": {}})


def test_load_sweep_reports_file_problems(tmp_path):
    with pytest.raises(HwsimError, match="cannot read the sweep file"):
        load_sweep(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("axes: [\n")
    with pytest.raises(HwsimError, match=r"bad\.yaml: malformed YAML at line 2"):
        load_sweep(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n")
    with pytest.raises(HwsimError, match="a sweep file must be a mapping"):
        load_sweep(listed)


@pytest.mark.parametrize(("values", "message"), [
    ([64, float("nan")], "values must be finite, got nan"),
    ([64, float("inf")], "values must be finite, got inf"),
    ([64, "abc"], "values of one axis must be of one kind, got number and str"),
])
def test_axis_values_must_be_finite_and_of_one_kind(values, message):
    data = {"params": {"x": 0}, "axes": [{"field": "x", "values": values}],
            "objectives": ["latency_s"]}
    with pytest.raises(HwsimError, match=message):
        sweep_from_dict(data, sections=("params",), metrics={"latency_s": "min"},
                        source="s.yaml")


def test_every_problem_of_a_sweep_file_is_reported_at_once():
    changes = {"objectives": ["speed"], "zip": [["x", "y"]],
               "constraints": [{"field": "y", "max": 1}]}
    with pytest.raises(HwsimError) as info:
        parse(spec_dict(**changes))
    msg = str(info.value)
    assert msg.startswith("s.yaml: ") and msg.count("s.yaml") == 1
    for part in ("zip[0]: y is not an axis", "objectives[0]: unknown metric 'speed'",
                 "constraints[0]: field 'y' is not an axis"):
        assert part in msg
