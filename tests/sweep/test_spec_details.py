"""Sweep-file details the broader tests leave open: range edges (one value, fractional `num`
points, degenerate spacings), bounds that are allowed exactly at their limit, and the
objectives and heatmaps a sweep file may not ask for."""

from __future__ import annotations

import pytest
from sweep_support import METRICS

from hwsim.errors import HwsimError
from hwsim.limits import MAX_GRID_POINTS
from hwsim.sweep import sweep_from_dict


def parse(**changes):
    data = {"params": {"x": 0, "y": 0, "kind": "a"},
            "axes": [{"field": "x", "values": [1, 2]}, {"field": "y", "values": [0, 1]}],
            "objectives": ["latency_s"]}
    data.update(changes)
    return sweep_from_dict(data, sections=("params",), metrics=METRICS, source="s.yaml")


def range_values(rng):
    return parse(axes=[{"field": "x", "range": rng}]).axes[0].values


def refused(**changes) -> str:
    with pytest.raises(HwsimError) as info:
        parse(**changes)
    return str(info.value)


def test_a_range_whose_start_is_its_stop_is_one_value():
    # Inclusive at both ends: start == stop is the single value, not an empty range.
    assert range_values({"start": 5, "stop": 5}) == (5,)
    assert range_values({"start": 2, "stop": 2, "factor": 2}) == (2,)
    assert range_values({"start": 0.5, "stop": 0.5, "num": 1}) == (0.5,)


def test_num_points_between_integers_stay_fractional():
    # 3 points from 0 to 1: 0, 0.5, 1. Integer bounds do not make the middle one an integer.
    values = range_values({"start": 0, "stop": 1, "num": 3})
    assert values == (0.0, 0.5, 1.0)
    assert all(type(v) is float for v in values)
    # ... while points that all fall on integers stay integers: 0, 5, 10.
    values = range_values({"start": 0, "stop": 10, "num": 3})
    assert values == (0, 5, 10) and all(type(v) is int for v in values)


@pytest.mark.parametrize(("rng", "message"), [
    # factor 1 never grows (log 1 = 0 would divide by zero); start 0 never leaves 0.
    ({"start": 1, "stop": 8, "factor": 1},
     "s.yaml: axes[0] (x): a geometric range needs factor > 1 and start > 0 "
     "(got factor 1, start 1)"),
    ({"start": 0, "stop": 8, "factor": 2},
     "s.yaml: axes[0] (x): a geometric range needs factor > 1 and start > 0 "
     "(got factor 2, start 0)"),
])
def test_degenerate_geometric_ranges_are_refused(rng, message):
    assert refused(axes=[{"field": "x", "range": rng}]) == message


def test_counts_and_bounds_at_their_limits_are_allowed():
    # A constraint with min == max pins one value: satisfiable, so allowed.
    spec = parse(constraints=[{"metric": "area_mm2", "min": 2.0, "max": 2.0}])
    assert (spec.constraints[0].min, spec.constraints[0].max) == (2.0, 2.0)
    # One random sample is a sample.
    assert parse(strategy={"kind": "random", "samples": 1}).strategy.samples == 1
    # The limit itself is allowed, for samples and for trials.
    assert parse(strategy={"kind": "random", "samples": MAX_GRID_POINTS}).strategy.samples \
        == MAX_GRID_POINTS
    assert parse(strategy={"kind": "optuna", "trials": MAX_GRID_POINTS}).strategy.trials \
        == MAX_GRID_POINTS


def test_an_int_and_a_float_of_one_value_are_two_axis_values():
    # 1 and 1.0 are different configurations as written (an int field against a float one):
    # an axis may list both; the same int twice is refused.
    spec = parse(axes=[{"field": "x", "values": [1, 1.0]}])
    assert [type(v) for v in spec.axes[0].values] == [int, float]
    assert "repeated values in [1, 1]" in refused(axes=[{"field": "x", "values": [1, 1]}])


def test_an_objective_listed_twice_is_refused():
    message = refused(objectives=["latency_s", {"metric": "latency_s", "goal": "max"}])
    assert message == "s.yaml: objectives: a metric is listed twice"


def test_a_heatmap_over_one_axis_twice_is_refused():
    message = refused(report={"heatmaps": [{"x": "x", "y": "x", "metric": "latency_s"}]})
    assert message == "s.yaml: report.heatmaps[0]: x and y must be different axes"
