"""Crash safety: a worker killed mid-sweep loses only what was running; a rerun finishes the
sweep with every point exactly once."""

from __future__ import annotations

import pytest
from sweep_support import METRICS, TOY

from hwsim.sweep import ResultStore, SweepInterrupted, load_results, run_sweep, sweep_from_dict


def test_rerun_after_a_killed_worker_has_no_duplicate_or_missing_point(tmp_path):
    log = tmp_path / "calls.log"
    spec = sweep_from_dict(
        {
            "params": {"x": 0, "y": 0, "kind": "a", "log": str(log), "crash_at": 6,
                       "marker": str(tmp_path / "crashed")},
            "axes": [{"field": "x", "range": {"start": 0, "stop": 9}},
                     {"field": "y", "values": [1, 2, 3]}],
            "objectives": ["latency_s", "energy_pj"],
        },
        sections=("params",), metrics=METRICS, source="crash.yaml",
    )
    out = tmp_path / "out"
    with pytest.raises(SweepInterrupted, match="rerun the same command"):
        run_sweep(spec, out, evaluator=TOY, workers=2)
    assert (tmp_path / "crashed").exists()  # the worker really was killed
    stored_after_crash = set(ResultStore(out).keys())
    assert len(stored_after_crash) < 30
    calls_before = len(log.read_text().splitlines())

    run = run_sweep(spec, out, evaluator=TOY, workers=2)
    assert run.points == 30
    assert run.reused == len(stored_after_crash)
    assert run.evaluated == 30 - len(stored_after_crash)

    _, table = load_results(out)
    assert len(table) == 30
    assert table.key.is_unique and table.point.tolist() == list(range(30))
    assert table.error.isna().all()
    assert len(ResultStore(out).keys()) == 30
    assert not list((out / "points").glob(".*.tmp"))  # no half-written record left behind
    # The rerun evaluated exactly the points the crash left without a record.
    rerun_calls = log.read_text().splitlines()[calls_before:]
    assert len(rerun_calls) == run.evaluated
    rows = table.set_index(["x", "y"]).key
    rerun_keys = {rows[tuple(int(v) for v in line.split(",")[:2])] for line in rerun_calls}
    assert rerun_keys.isdisjoint(stored_after_crash)


def test_a_point_that_kills_its_dask_worker_is_retried_on_rerun(tmp_path):
    import dask
    import distributed  # noqa: F401 - loads its config defaults before we override one:
    # dask.config.set would otherwise drop the whole "distributed" section on exit.

    spec = sweep_from_dict(
        {"params": {"x": 0, "y": 1, "kind": "a", "crash_at": 2,
                    "marker": str(tmp_path / "crashed")},
         "axes": [{"field": "x", "range": {"start": 0, "stop": 5}}],
         "objectives": ["latency_s"]},
        sections=("params",), metrics=METRICS, source="crash.yaml",
    )
    out = tmp_path / "out"
    # No retries: the first worker death fails the task (Dask's default retries it 3 times).
    # A task queued on the same worker may be lost with it, so only x == 2 is sure to be.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            pytest.raises(SweepInterrupted, match=r"point\(s\) were lost with their Dask "
                                                  "workers"):
        run_sweep(spec, out, evaluator=TOY, executor="dask", workers=2)
    _, table = load_results(out)
    stored = set(table.x)
    assert 2 not in stored and len(stored) >= 3
    run = run_sweep(spec, out, evaluator=TOY, workers=1)
    assert (run.points, run.evaluated, run.reused) == (6, 6 - len(stored), len(stored))
    _, table = load_results(out)
    assert table.x.tolist() == [0, 1, 2, 3, 4, 5] and table.error.isna().all()
