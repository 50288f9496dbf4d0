"""Design-space exploration: sweep files, strategies, executors, a resumable store, Pareto fronts.

Run a sweep from Python::

    from hwsim.sweep import load_sweep, run_sweep, write_report
    spec = load_sweep("sweep.yaml")
    run_sweep(spec, "out/sweep", workers=2)          # or executor="dask"
    report = write_report("out/sweep")               # tables and plots, no simulation

The engine is generic over an `Evaluator` (a pure ``evaluate(config) -> {metric: value}``);
by default it runs hwsim's simulator (`hwsim_evaluator`). See README.md in this folder.
"""

from hwsim.sweep.evaluator import Evaluator
from hwsim.sweep.executors import EXECUTORS, SweepInterrupted, open_executor
from hwsim.sweep.hwsim_eval import METRICS, hwsim_evaluator
from hwsim.sweep.pareto import pareto_mask
from hwsim.sweep.report import SweepReport, load_results, write_report
from hwsim.sweep.run import Point, SweepRun, plan_points, run_sweep
from hwsim.sweep.space import DesignSpace, Dimension
from hwsim.sweep.spec import (
    Axis,
    Constraint,
    Heatmap,
    Objective,
    Strategy,
    SweepSpec,
    load_sweep,
    sweep_from_dict,
)
from hwsim.sweep.store import ResultStore, point_key

__all__ = [
    "EXECUTORS",
    "METRICS",
    "Axis",
    "Constraint",
    "DesignSpace",
    "Dimension",
    "Evaluator",
    "Heatmap",
    "Objective",
    "Point",
    "ResultStore",
    "Strategy",
    "SweepInterrupted",
    "SweepReport",
    "SweepRun",
    "SweepSpec",
    "hwsim_evaluator",
    "load_results",
    "load_sweep",
    "open_executor",
    "pareto_mask",
    "plan_points",
    "point_key",
    "run_sweep",
    "sweep_from_dict",
    "write_report",
]
