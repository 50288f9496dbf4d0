"""Sweep files that would hang, allocate without bound or compute nonsense are refused up
front, with one line naming the YAML path and the limit."""

from __future__ import annotations

import os

import pytest
from sweep_support import METRICS, TOY

from hwsim.errors import HwsimError
from hwsim.limits import MAX_AXIS_VALUES, MAX_GRID_POINTS
from hwsim.sweep import ResultStore, run_sweep, sweep_from_dict
from hwsim.sweep.hwsim_eval import METRICS as HWSIM_METRICS
from hwsim.sweep.hwsim_eval import hwsim_evaluator
from hwsim.sweep.run import plan_points
from hwsim.sweep.space import DesignSpace


def _spec(axes, **extra):
    data = {"params": {"x": 0, "y": 1, "kind": "a"}, "axes": axes,
            "objectives": ["latency_s"], **extra}
    return sweep_from_dict(data, sections=("params",), metrics=METRICS, source="s.yaml")


def _err(axes, **extra) -> str:
    with pytest.raises(HwsimError) as info:
        _spec(axes, **extra)
    return str(info.value)


@pytest.mark.parametrize("rng", [
    {"start": 1, "stop": 10**12},
    {"start": 0, "stop": 1, "step": 1e-300},
    {"start": 0, "stop": 1, "num": 10**9},
    {"start": -1e308, "stop": 1e308},
])
def test_ranges_beyond_the_axis_limit_are_refused_before_they_are_built(rng):
    message = _err([{"field": "x", "range": rng}])
    assert f"above the limit of {MAX_AXIS_VALUES:,} values of one axis" in message
    assert message.startswith("s.yaml: axes[0] (x): a range of ")


@pytest.mark.parametrize(("rng", "count"), [
    ({"start": 0, "stop": 1, "step": 1e-300}, "about 1.0e+300"),
    ({"start": 1, "stop": 10**12}, "1,000,000,000,000"),
    ({"start": 0, "stop": 1, "num": 10**400}, "more than 1e+308"),
    ({"start": -1e308, "stop": 1e308}, "more than 1e+308"),
])
def test_a_huge_range_count_is_written_readably(rng, count):
    message = _err([{"field": "x", "range": rng}])
    assert message == (f"s.yaml: axes[0] (x): a range of {count} values is above the limit of "
                       f"{MAX_AXIS_VALUES:,} values of one axis")


@pytest.mark.parametrize("rng", [{"start": float("nan"), "stop": 1},
                                 {"start": 0, "stop": float("inf")},
                                 {"start": 0, "stop": 4, "step": float("nan")}])
def test_nan_and_infinite_range_bounds_are_refused(rng):
    assert "Input should be a finite number" in _err([{"field": "x", "range": rng}])


def test_a_nan_constraint_is_refused_when_read_not_when_filtering():
    message = _err([{"field": "x", "values": [1, 2]}],
                   constraints=[{"metric": "latency_s", "max": float("nan")}])
    assert "s.yaml: constraints[0].max: Input should be a finite number" in message


@pytest.mark.parametrize("seed", [-1, 2**32, 2**40])
def test_seeds_outside_the_generators_range_are_refused(seed):
    message = _err([{"field": "x", "values": [1, 2]}],
                   strategy={"kind": "random", "samples": 1, "seed": seed})
    assert "strategy.seed" in message


@pytest.mark.parametrize("strategy", [{"kind": "random", "samples": 10**11},
                                      {"kind": "optuna", "trials": 10**11}])
def test_samples_and_trials_beyond_the_grid_limit_are_refused(strategy):
    message = _err([{"field": "x", "values": [1, 2]}], strategy=strategy)
    assert f"above the limit of {MAX_GRID_POINTS:,} points of one sweep" in message


def test_a_grid_beyond_the_limit_is_refused_and_names_the_file(tmp_path):
    spec = _spec([{"field": "x", "range": {"start": 0, "stop": 9999}},
                  {"field": "y", "range": {"start": 0, "stop": 9999}}])
    with pytest.raises(HwsimError, match=r"s.yaml: the grid has 100,000,000 points, above the "
                                         r"limit of 10,000,000"):
        run_sweep(spec, tmp_path / "out", evaluator=TOY, workers=1)


def test_a_sample_of_a_huge_space_is_drawn_without_permuting_it():
    # 10**12 points: NumPy's choice would permute the whole range; per dimension it is quick.
    spec = _spec([{"field": "x", "range": {"start": 0, "stop": 999_999}},
                  {"field": "y", "range": {"start": 0, "stop": 999_999}}])
    space = DesignSpace.from_spec(spec)
    picked = space.sample(1000, seed=3)
    assert len(set(picked)) == 1000 and picked == sorted(picked, key=space.flat_index)
    assert picked == space.sample(1000, seed=3)


def test_two_axes_on_the_same_dram_bandwidth_are_refused():
    data = {"workload": "llama-2-7b-generative", "hardware": "bitmod",
            "axes": [{"field": "dram.gb_per_s", "values": [100, 200]},
                     {"field": "dram.bytes_per_cycle", "values": [16, 32]}],
            "objectives": ["latency_ms"]}
    spec = sweep_from_dict(data, metrics=HWSIM_METRICS, source="s.yaml")
    with pytest.raises(HwsimError) as info:
        plan_points(spec, hwsim_evaluator())
    assert str(info.value) == ("s.yaml: axes[0] and axes[1]: dram.gb_per_s and "
                               "dram.bytes_per_cycle set the same quantity; keep one of the two "
                               "axes")


def test_resume_removes_the_temporary_files_of_a_killed_run(tmp_path):
    spec = _spec([{"field": "x", "values": [1, 2, 3]}])
    out = tmp_path / "out"
    run_sweep(spec, out, evaluator=TOY, workers=1)
    # What SIGKILL leaves behind mid-write: a record and a plan under a dead process's id.
    dead = 2**22 + 12345  # above Linux's default pid_max of 2**22: never a live process
    record = ResultStore(out).keys()[0]
    stale = [out / "points" / f".{record}.json.{dead}.tmp", out / f".plan.json.{dead}.tmp"]
    for path in stale:
        path.write_text("{half")
    live = out / "points" / f".{record}.json.{os.getppid()}.tmp"  # a running process's file
    live.write_text("{busy")
    run = run_sweep(spec, out, evaluator=TOY, workers=1)
    assert (run.points, run.reused, run.evaluated) == (3, 3, 0)
    assert not any(path.exists() for path in stale)
    assert live.exists()
