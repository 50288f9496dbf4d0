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
        # One point run twice under two keys.
        ({"axes": [{"field": "weights.format", "values": ["int4", "INT4"]}]},
         "axes[0] (weights.format): 'int4' and 'INT4' are one format, int4; give it once"),
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


def test_a_zipped_axis_may_repeat_a_value_but_not_a_tuple():
    # Three iso-area designs: rows repeat within the group, the (x, y) tuples do not.
    axes = [{"field": "x", "values": [2, 4, 8]}, {"field": "y", "values": [32, 32, 16]}]
    spec = parse(spec_dict(axes=axes, zip=[["x", "y"]]))
    assert spec.axes[1].values == (32, 32, 16)
    assert [p.values for p in plan_points(spec, TOY)] == [
        {"x": 2, "y": 32}, {"x": 4, "y": 32}, {"x": 8, "y": 16}]
    with pytest.raises(HwsimError) as info:
        parse(spec_dict(axes=[{"field": "x", "values": [2, 4, 2]},
                              {"field": "y", "values": [16, 32, 16]}], zip=[["x", "y"]]))
    assert str(info.value) == ("s.yaml: zip[0] (x, y): the tuple (2, 16) is given twice; "
                               "give each tuple once")
    # Unzipped, the axis keeps its own check.
    with pytest.raises(HwsimError, match=r"axes\[1\] \(y\): repeated values in \[32, 32, 16\]"):
        parse(spec_dict(axes=axes))


def test_a_zipped_format_spelled_twice_is_one_tuple():
    axes = [{"field": "weights.format", "values": ["int4", "INT4", "int4"]},
            {"field": "x", "values": [1, 1, 2]}]
    with pytest.raises(HwsimError) as info:
        parse(spec_dict(axes=axes, zip=[["weights.format", "x"]]))
    assert str(info.value) == ("s.yaml: zip[0] (weights.format, x): (int4, 1) and (INT4, 1) "
                               "are one tuple (a format spelled twice); give each tuple once")


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
    with pytest.raises(HwsimError, match="expected a mapping of sweep keys, got a list"):
        load_sweep(listed)


@pytest.mark.parametrize("text", ["", "# axes to come\n"])
def test_an_empty_sweep_file_is_called_empty(tmp_path, text):
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(HwsimError) as info:
        load_sweep(path)  # was "must be a mapping, got NoneType"
    assert str(info.value) == (f"{path}: the sweep file is empty; it needs workload, hardware, "
                               "axes and objectives")


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


@pytest.mark.parametrize(("axis", "message"), [
    ({"field": "kind", "values": ["a", "b"]},
     "s.yaml: constraints[0]: field 'kind' takes strings (a, b); min/max need a numeric axis"),
    ({"field": "x", "values": [True, False]},
     "s.yaml: constraints[0]: field 'x' takes booleans (true, false); min/max need a numeric "
     "axis"),
])
def test_a_bound_on_an_axis_of_names_is_refused_when_read(axis, message):
    # It used to pass, run every point and then fail converting 'a' to a float.
    with pytest.raises(HwsimError) as info:
        parse(spec_dict(axes=[axis], constraints=[{"field": axis["field"], "max": 4}]))
    assert str(info.value) == message


def test_a_metric_constraint_naming_an_axis_is_refused():
    # Without a list of metrics any name passes as one; an axis' name would read its column.
    data = spec_dict(objectives=[{"metric": "latency_s", "goal": "min"}],
                     constraints=[{"metric": "kind", "max": 4}])
    with pytest.raises(HwsimError) as info:
        sweep_from_dict(data, sections=("params",), source="s.yaml")
    assert str(info.value) == ("s.yaml: constraints[0]: 'kind' is an axis field, not a metric; "
                               "bound it with `field: kind`")


def test_a_bound_on_a_numeric_axis_is_kept():
    spec = parse(spec_dict(constraints=[{"field": "x", "min": 1.5}]))
    assert [(c.name, c.kind, c.min) for c in spec.constraints] == [("x", "field", 1.5)]


def test_an_optuna_batch_larger_than_the_trials_is_refused():
    with pytest.raises(HwsimError) as info:
        parse(spec_dict(strategy={"kind": "optuna", "trials": 2, "batch_size": 10**9}))
    assert str(info.value) == ("s.yaml: strategy: `batch_size` 1,000,000,000 is more than "
                               "`trials` 2; a batch holds at most all the trials")
    # Left at its default, the batch is cut to the trials.
    assert parse(spec_dict(strategy={"kind": "optuna", "trials": 2})).strategy.batch_size == 8
    assert parse(spec_dict(strategy={"kind": "optuna", "trials": 2, "batch_size": 2}))


@pytest.mark.parametrize(("changes", "message"), [
    ({"axes": [{"field": "x", "range": {"start": True, "stop": 2}}]},
     "s.yaml: axes[0].range.start: Input should be a valid number, not true"),
    ({"axes": [{"field": "x", "range": {"start": "1", "stop": 2}}]},
     "s.yaml: axes[0].range.start: Input should be a valid number, not the text '1' (write a "
     "number unquoted)"),
    ({"axes": [{"field": "x", "range": {"start": 1, "stop": 4, "step": True}}]},
     "s.yaml: axes[0].range.step: Input should be a valid number, not true"),
    ({"axes": [{"field": "x", "range": {"start": 1, "stop": 4, "num": "3"}}]},
     "s.yaml: axes[0].range.num: Input should be a valid integer, not the text '3' (write a "
     "number unquoted)"),
    ({"axes": [{"field": "x", "range": {"start": 1, "stop": 4, "num": 3.0}}]},
     "s.yaml: axes[0].range.num: Input should be a valid integer"),
    ({"strategy": {"kind": "random", "samples": True}},
     "s.yaml: strategy.samples: Input should be a valid integer, not true"),
    ({"strategy": {"kind": "optuna", "trials": "2"}},
     "s.yaml: strategy.trials: Input should be a valid integer, not the text '2' (write a "
     "number unquoted)"),
    ({"strategy": {"kind": "optuna", "trials": 4, "batch_size": True}},
     "s.yaml: strategy.batch_size: Input should be a valid integer, not true"),
    ({"strategy": {"kind": "random", "samples": 1, "seed": "7"}},
     "s.yaml: strategy.seed: Input should be a valid integer, not the text '7' (write a "
     "number unquoted)"),
    ({"constraints": [{"metric": "area_mm2", "max": "4"}]},
     "s.yaml: constraints[0].max: Input should be a valid number, not the text '4' (write a "
     "number unquoted)"),
    ({"constraints": [{"metric": "area_mm2", "min": True}]},
     "s.yaml: constraints[0].min: Input should be a valid number, not true"),
])
def test_booleans_and_quoted_numbers_are_not_numbers(changes, message):
    with pytest.raises(HwsimError) as info:
        parse(spec_dict(**changes))
    assert str(info.value) == message


def test_strict_numbers_still_take_ints_for_floats_and_keep_integer_ranges():
    assert axis_values({"start": 1, "stop": 2.0, "step": 0.5}) == (1.0, 1.5, 2.0)
    assert axis_values({"start": 1, "stop": 3}) == (1, 2, 3)
    assert all(type(v) is int for v in axis_values({"start": 1, "stop": 3}))
    spec = parse(spec_dict(constraints=[{"metric": "area_mm2", "max": 4}]))
    assert spec.constraints[0].max == 4.0
