"""Run details the broader tests leave open: what an optuna search counts (distinct points,
reused, failed), that it asks no more trials than given and can reach every option, and the
planning limits exactly at their bounds."""

from __future__ import annotations

import dataclasses

import pytest
from sweep_support import METRICS, TOY

from hwsim.errors import HwsimError
from hwsim.sweep import run, run_sweep, sweep_from_dict


def make_spec(log=None, **changes):
    data = {"params": {"x": 0, "y": 0, "kind": "a", "log": log},
            "axes": [{"field": "x", "values": [1, 2]}, {"field": "y", "values": [0]}],
            "objectives": ["latency_s", "energy_pj"]}
    data.update(changes)
    return sweep_from_dict(data, sections=("params",), metrics=METRICS, source="toy.yaml")


def test_an_optuna_search_reaches_every_option_and_counts_each_point_once(tmp_path):
    # Three points (x = 0, 1 or 2; y = 0) and 24 random trials: a trial misses a given point
    # with odds 2/3, so all three are simulated (odds of a miss 3 * (2/3)**24, below 1e-4),
    # each once. x = 0 with y = 0 is the toy model's invalid design: one failed point of three.
    log = tmp_path / "calls.log"
    spec = make_spec(log=str(log), axes=[{"field": "x", "values": [0, 1, 2]},
                                         {"field": "y", "values": [0]}],
                     strategy={"kind": "optuna", "sampler": "random", "trials": 24,
                               "batch_size": 4, "seed": 0})
    first = run_sweep(spec, tmp_path / "out", evaluator=TOY, workers=1)
    assert (first.points, first.evaluated, first.reused, first.failed) == (3, 3, 0, 1)
    assert sorted(log.read_text().splitlines()) == ["0,0,a", "1,0,a", "2,0,a"]
    again = run_sweep(spec, tmp_path / "out", evaluator=TOY, workers=1)
    # Everything comes from the store: the three points, not the 24 trials.
    assert (again.points, again.evaluated, again.reused, again.failed) == (3, 0, 3, 1)


def test_a_grid_of_exactly_the_limit_is_planned(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "MAX_GRID_POINTS", 4)
    axes = [{"field": "x", "values": [1, 2]}, {"field": "y", "values": [0, 1]}]
    done = run_sweep(make_spec(axes=axes), tmp_path / "four", evaluator=TOY, workers=1)
    assert done.points == 4
    axes = [{"field": "x", "values": [1, 2, 3]}, {"field": "y", "values": [0, 1]}]
    with pytest.raises(HwsimError, match=r"toy\.yaml: the grid has 6 points, above the limit of 4"):
        run_sweep(make_spec(axes=axes), tmp_path / "six", evaluator=TOY, workers=1)


def test_an_optuna_space_of_exactly_the_check_limit_is_checked_before_running(tmp_path,
                                                                             monkeypatch):
    # A model that can never give `ghost` (its `absent` says so for every configuration): a
    # space as large as the check limit is gone through before any point runs, and the
    # objective is refused with the model's reason.
    monkeypatch.setattr(run, "MAX_ABSENCE_CHECK", 2)
    model = dataclasses.replace(
        TOY, metrics={**METRICS, "ghost": "min"},
        absent=lambda metric, config: "the toy has none" if metric == "ghost" else None)
    spec = sweep_from_dict(
        {"params": {"x": 0, "y": 0, "kind": "a"},
         "axes": [{"field": "x", "values": [1, 2]}], "objectives": ["ghost"],
         "strategy": {"kind": "optuna", "trials": 2}},
        sections=("params",), metrics=model.metrics, source="toy.yaml")
    with pytest.raises(HwsimError) as info:
        run_sweep(spec, tmp_path / "out", evaluator=model, workers=1)
    assert str(info.value) == ("toy.yaml: objectives[0]: no point can have a value for ghost: "
                               "the toy has none")
    assert not (tmp_path / "out" / "points").exists()


def test_an_optuna_study_takes_each_objectives_goal(tmp_path, monkeypatch):
    # latency_s is minimized and score maximized (the toy's goals): the study must be told so,
    # or the sampler searches for the worst designs (the report's front hides it: it is
    # computed from whatever points the search chose).
    import optuna

    studies = []
    create = optuna.create_study

    def recording(*args, **kwargs):
        studies.append(create(*args, **kwargs))
        return studies[-1]

    monkeypatch.setattr(optuna, "create_study", recording)
    spec = make_spec(objectives=["latency_s", "score"],
                     strategy={"kind": "optuna", "trials": 2, "seed": 0})
    run_sweep(spec, tmp_path / "out", evaluator=TOY, workers=1)
    (study,) = studies
    assert study.directions == [optuna.study.StudyDirection.MINIMIZE,
                                optuna.study.StudyDirection.MAXIMIZE]
