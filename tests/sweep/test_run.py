"""Running sweeps: the same results on every executor, failures recorded, resume, optuna."""

from __future__ import annotations

import dataclasses
import json
import tempfile

import pytest
from sweep_support import METRICS, OFFSET, TOY

from hwsim.errors import HwsimError
from hwsim.sweep import ResultStore, load_results, open_executor, run_sweep, sweep_from_dict


def make_spec(log=None, **changes):
    data = {
        "params": {"x": 0, "y": 0, "kind": "a", "log": log},
        "axes": [
            {"field": "x", "range": {"start": 0, "stop": 4}},
            {"field": "y", "values": [0, 1]},
            {"field": "kind", "values": ["a", "b"]},
        ],
        "objectives": ["latency_s", "energy_pj"],
    }
    data.update(changes)
    return sweep_from_dict(data, sections=("params",), metrics=METRICS, source="toy.yaml")


def snapshot(out):
    """Every stored byte that results are made of: plan and point records."""
    files = sorted((out / "points").glob("*.json"))
    return (out / "plan.json").read_bytes(), {p.name: p.read_bytes() for p in files}


def test_same_results_in_process_on_the_pool_and_on_dask(tmp_path):
    from distributed import LocalCluster

    spec = make_spec()
    runs = {}
    for name, workers in [("one", 1), ("pool", 2)]:
        run = run_sweep(spec, tmp_path / name, evaluator=TOY, workers=workers)
        assert (run.points, run.evaluated, run.reused) == (20, 20, 0)
        assert run.failed == 2  # x == y == 0, once per kind
        runs[name] = snapshot(tmp_path / name)
    # A cluster of our own, reached by its address as a remote one would be; closed on exit.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster:
        run = run_sweep(spec, tmp_path / "dask", evaluator=TOY, executor="dask",
                        address=cluster.scheduler_address)
        assert (run.points, run.evaluated, run.failed) == (20, 20, 2)
    assert cluster.status.name == "closed"
    runs["dask"] = snapshot(tmp_path / "dask")
    assert runs["one"] == runs["pool"] == runs["dask"]


def test_dask_starts_and_stops_its_own_local_cluster(tmp_path, monkeypatch):
    spec = make_spec(axes=[{"field": "x", "values": [1, 2]}, {"field": "y", "values": [1]},
                           {"field": "kind", "values": ["a"]}])
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    run = run_sweep(spec, tmp_path / "out", evaluator=TOY, executor="dask", workers=1)
    # Dask's scratch space (dask-scratch-space/ with its lock files) stayed in TMPDIR.
    assert list(scratch.iterdir()) == []
    tmp_path = tmp_path / "out"
    assert (run.points, run.evaluated, run.failed) == (2, 2, 0)
    _, table = load_results(tmp_path)
    # (x - 3)**2 + y for x = 1, 2 and y = 1.
    assert table.latency_s.tolist() == [5.0, 2.0]


def test_metrics_and_failures_are_recorded(tmp_path):
    run_sweep(make_spec(), tmp_path, evaluator=TOY, workers=1)
    _, table = load_results(tmp_path)
    assert len(table) == 20
    row = table[(table.x == 4) & (table.y == 1) & (table.kind == "b")].iloc[0]
    # By the toy model's formulas: (4 - 3)**2 + 1 + 0.5 and 4 * 1 + 1.
    assert row.latency_s == 1 + 1 + OFFSET["b"]
    assert row.energy_pj == 5.0
    failed = table[table.error.notna()]
    assert failed[["x", "y"]].values.tolist() == [[0, 0], [0, 0]]
    assert failed.error.iloc[0] == "params: x=0 together with y=0 is not a valid design (kind a)"
    assert not failed.feasible.any()


def test_rerun_skips_finished_points(tmp_path):
    log = tmp_path / "calls.log"
    spec = make_spec(log=str(log))
    first = run_sweep(spec, tmp_path / "out", evaluator=TOY, workers=1)
    assert first.evaluated == 20
    second = run_sweep(spec, tmp_path / "out", evaluator=TOY, workers=1)
    assert (second.evaluated, second.reused) == (0, 20)
    assert len(log.read_text().splitlines()) == 20
    # A wider axis evaluates only the new points.
    wider = make_spec(log=str(log), axes=[{"field": "x", "range": {"start": 0, "stop": 5}},
                                          {"field": "y", "values": [0, 1]},
                                          {"field": "kind", "values": ["a", "b"]}])
    third = run_sweep(wider, tmp_path / "out", evaluator=TOY, workers=1)
    assert (third.points, third.evaluated, third.reused) == (24, 4, 20)
    assert len(log.read_text().splitlines()) == 24


def test_random_strategy_is_a_seeded_subset_of_the_grid(tmp_path):
    spec = make_spec(strategy={"kind": "random", "samples": 7, "seed": 5})
    run = run_sweep(spec, tmp_path / "a", evaluator=TOY, workers=1)
    assert run.points == 7
    run_sweep(spec, tmp_path / "b", evaluator=TOY, workers=1)
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
    plan = json.loads((tmp_path / "a" / "plan.json").read_text())
    indices = [i for i, _ in plan["points"]]
    assert indices == sorted(indices) and len(set(indices)) == 7 and max(indices) < 20


def test_more_random_samples_than_the_grid_holds_are_refused(tmp_path):
    # Drawn without repeats, 21 samples of the 20-point grid would silently run 20.
    spec = make_spec(strategy={"kind": "random", "samples": 21})
    with pytest.raises(HwsimError) as info:
        run_sweep(spec, tmp_path, evaluator=TOY, workers=1)
    assert str(info.value) == ("toy.yaml: strategy.samples: 21 is more than the 20 points of "
                               "the grid; give samples <= 20 or use strategy: {kind: grid}")
    assert not (tmp_path / "points").exists() or not any((tmp_path / "points").iterdir())
    run = run_sweep(make_spec(strategy={"kind": "random", "samples": 20}), tmp_path,
                    evaluator=TOY, workers=1)
    assert run.points == 20


@pytest.mark.parametrize("sampler", ["tpe", "nsga2"])
def test_optuna_is_deterministic_and_resumes_from_the_store(tmp_path, sampler):
    log = tmp_path / "calls.log"
    spec = make_spec(log=str(log), strategy={"kind": "optuna", "trials": 12, "sampler": sampler,
                                             "seed": 3, "batch_size": 4},
                     constraints=[{"metric": "area_mm2", "max": 5}])
    one = run_sweep(spec, tmp_path / "one", evaluator=TOY, workers=1)
    calls = len(log.read_text().splitlines())
    assert calls == one.evaluated == one.points <= 12  # repeated suggestions are not re-run
    pool = run_sweep(spec, tmp_path / "pool", evaluator=TOY, workers=2)
    assert snapshot(tmp_path / "one") == snapshot(tmp_path / "pool")
    assert pool.points == one.points
    again = run_sweep(spec, tmp_path / "one", evaluator=TOY, workers=1)
    assert (again.evaluated, again.reused) == (0, one.points)
    assert snapshot(tmp_path / "one") == snapshot(tmp_path / "pool")


def test_optuna_reads_a_field_constraint_from_the_point_not_its_record():
    # A record reused from a sweep that named the axis `x` has no value for `params.x`: the
    # constraint read NaN from it and told the sampler the point violated it.
    from hwsim.sweep.run import Point, _constraint_values

    spec = make_spec(axes=[{"field": "params.x", "values": [1, 2]}],
                     constraints=[{"field": "params.x", "max": 1}],
                     strategy={"kind": "optuna", "trials": 2})
    record = {"key": "k", "values": {"x": 1}, "metrics": {"latency_s": 4.0}, "error": None}
    assert _constraint_values(spec, Point(0, {"params.x": 1}, "k"), record) == [0.0]
    assert _constraint_values(spec, Point(1, {"params.x": 2}, "k"), record) == [1.0]


def test_optuna_minimizes_a_single_objective(tmp_path):
    # latency_s = (x - 3)**2 + y + offset has its minimum 0 at x=3, y=0, kind a.
    spec = make_spec(objectives=["latency_s"],
                     strategy={"kind": "optuna", "trials": 30, "seed": 0, "batch_size": 5})
    run_sweep(spec, tmp_path, evaluator=TOY, workers=1)
    _, table = load_results(tmp_path)
    assert table.latency_s.min() == 0.0
    best = table[table.pareto]
    assert best[["x", "y", "kind"]].values.tolist() == [[3, 0, "a"]]


def test_executor_arguments_are_checked(tmp_path):
    bad = [
        ({"kind": "ray"}, "unknown executor 'ray'; allowed: local, dask (hwsim runs sweeps on "
                          "clusters with Dask"),
        ({"workers": 0}, "--workers must be in 1..1024 (processes on this machine), got 0"),
        ({"workers": 10**30}, "--workers must be in 1..1024"),
        ({"address": "tcp://127.0.0.1:1"}, "--address names a Dask scheduler"),
    ]
    for kwargs, message in bad:
        with pytest.raises(HwsimError) as info, open_executor(**kwargs):
            pass
        assert message in str(info.value)
    assert ResultStore(tmp_path).keys() == []


def test_an_unwritable_out_is_a_clear_error():
    with pytest.raises(HwsimError, match="--out /dev/null/x: /dev/null is not a folder"):
        run_sweep(make_spec(), "/dev/null/x", evaluator=TOY, workers=1)


def test_a_grid_too_large_to_plan_is_refused(tmp_path):
    # 4 axes of 1,000 values: 10**12 points, far past what a grid can plan point by point.
    axes = [{"field": f, "range": {"start": 1, "stop": 1000}} for f in ("x", "y")]
    spec = make_spec(axes=[*axes, {"field": "kind", "values": [f"k{i}" for i in range(1000)]},
                           {"field": "log", "range": {"start": 1, "stop": 1000}}])
    with pytest.raises(HwsimError, match=r"the grid has 1,000,000,000,000 points"):
        run_sweep(spec, tmp_path / "out", evaluator=TOY, workers=1)


def test_two_points_of_one_configuration_are_refused_when_planned(tmp_path):
    # A model whose `combine` drops a value makes two points one record: the report would
    # label it twice (plan.json with a key listed twice is refused too).
    def combine(base, overrides):
        return {"params": {**base["params"], "x": overrides["params.x"]}}  # y is dropped

    model = dataclasses.replace(TOY, combine=combine)
    spec = make_spec(axes=[{"field": "x", "values": [1]}, {"field": "y", "values": [0, 1]}])
    with pytest.raises(HwsimError) as info:
        run_sweep(spec, tmp_path / "out", evaluator=model, workers=1)
    assert str(info.value) == ("toy.yaml: axes: the points x=1, y=0 and x=1, y=1 are one "
                               "configuration to the model (the same key); drop the axis value "
                               "that has no effect")
    assert not (tmp_path / "out").exists()
