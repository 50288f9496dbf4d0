"""Running a sweep: resolve the base, pick points by strategy, evaluate what is not stored yet.

The output folder holds ``sweep.yaml`` (the file as given), ``plan.json`` (the validated spec
and the ordered list of the sweep's points with their keys, `hwsim.sweep.plan`), ``points/``
(the store) and ``.sweep.lock`` (held while a run writes, `hwsim.sweep.lock`). The plan is
written before any point runs, so a report can be drawn from a partial sweep too.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwsim.errors import CombinationError, HwsimError
from hwsim.files import check_output_folder, output_folder
from hwsim.limits import MAX_GRID_POINTS
from hwsim.sweep.evaluator import Evaluator
from hwsim.sweep.executors import Executor, Outcome, check_executor, open_executor
from hwsim.sweep.fields import resolve_field
from hwsim.sweep.hwsim_eval import FieldClash, explain_absent, hwsim_evaluator
from hwsim.sweep.lock import check_unlocked, folder_lock
from hwsim.sweep.pareto import violation
from hwsim.sweep.plan import write_plan
from hwsim.sweep.space import DesignSpace
from hwsim.sweep.spec import SweepSpec
from hwsim.sweep.store import ResultStore, point_key, write_atomic

__all__ = ["Point", "SweepRun", "plan_points", "run_sweep"]

Progress = Callable[[int, int], None]

# An optuna search chooses its points while it runs: a space up to this size is gone through
# before, to refuse an objective none of its points can have (a grid or sample checks its own).
MAX_ABSENCE_CHECK = 4096


@dataclass(frozen=True)
class Point:
    """One point of a sweep: flat index in the design space, axis values, key, and its full
    configuration (``None`` while a run plans: rebuilt when the point is evaluated, so a
    sweep of a million points does not hold a million configurations)."""

    index: int
    values: dict[str, Any]
    key: str
    config: dict[str, Any] | None = None


@dataclass(frozen=True)
class SweepRun:
    """What a run did. `points` counts the sweep's distinct points; `evaluated` those simulated
    in this run; `reused` those found in the store; `failed` points recorded with an error."""

    out_dir: Path
    points: int
    evaluated: int
    reused: int
    failed: int


class _Planner:
    """Builds points from option choices: base + overrides -> config -> key."""

    def __init__(self, spec: SweepSpec, evaluator: Evaluator) -> None:
        self.spec = spec
        self.evaluator = evaluator
        self.base = evaluator.base(spec.sections, spec.folder, spec.source)
        valid = evaluator.valid_fields(self.base)
        self.paths = {
            axis.field: resolve_field(axis.field, valid, f"{spec.source}: axes[{i}].field",
                                      self.base)
            for i, axis in enumerate(spec.axes)
        }
        seen: dict[str, str] = {}
        for name, path in self.paths.items():
            if path in seen:  # e.g. `array.rows` and `hardware.array.rows`
                raise HwsimError(f"{spec.source}: axes: {seen[path]!r} and {name!r} both set "
                                 f"{path}")
            seen[path] = name
        self.space = DesignSpace.from_spec(spec)
        self._refuse_clash()
        if evaluator.check is not None:
            self._check_values(evaluator.check)
        # The metrics the sweep needs that no point planned so far can have (each with where
        # the sweep file asks for it, and the evaluator's reason); see `refuse_absent`.
        self._needed = _needed_metrics(spec) if evaluator.absent is not None else {}
        self._why: dict[str, str] = {}

    def _refuse_clash(self) -> None:
        """Two axes that set one quantity (`FieldClash`) are refused naming both: which
        fields clash does not depend on their values, so the first point tells."""
        try:
            self.config(self.space.values(self.space.choice(0)))
        except FieldClash as exc:
            axis = {self.paths[a.field]: (i, a.field) for i, a in enumerate(self.spec.axes)}
            (i, a), (j, b) = sorted(axis[path] for path in exc.paths)
            raise HwsimError(f"{self.spec.source}: axes[{i}] and axes[{j}]: {a} and {b} set "
                             f"the same quantity{exc.why}; keep one of the two axes") from None
        except HwsimError:
            pass  # a bad value: `_check_values` names its point

    def _check_values(self, check: Callable[[dict[str, Any]], None]) -> None:
        """Every axis value must build (the other axes at their first value): a typo in a
        value is one error before anything runs, not half the points failing."""
        dims = self.space.dims
        for d, dim in enumerate(dims):
            for j in range(dim.size):
                choice = tuple(j if k == d else 0 for k in range(len(dims)))
                values = self.space.values(choice)
                try:
                    check(self.config(values))
                except CombinationError:
                    continue  # this value beside the others' first: the point records it
                except HwsimError as exc:
                    raise HwsimError(f"{self.spec.source}: axes: the point "
                                     f"{_describe(values)} is invalid: {exc}") from None

    def config(self, values: dict[str, Any]) -> dict[str, Any]:
        """The full configuration of the point with these axis values."""
        return self.evaluator.config(self.base, {self.paths[f]: v for f, v in values.items()})

    def _watch(self, config: dict[str, Any]) -> None:
        absent = self.evaluator.absent
        assert absent is not None
        for metric in list(self._needed):
            reason = absent(metric, config)
            if reason is None:
                del self._needed[metric]
            else:
                self._why.setdefault(metric, reason)

    def watch_space(self) -> bool:
        """Check the needed metrics over the whole space (the points a search may choose),
        when it is small enough to go through (returns whether it was); a larger one is
        found out while the search runs."""
        if self.space.size > MAX_ABSENCE_CHECK:
            return False
        for index in range(self.space.size):
            if not self._needed:
                break
            self._watch(self.config(self.space.values(self.space.choice(index))))
        return True

    def refuse_absent(self) -> None:
        """Raise `HwsimError` for a metric the sweep needs that none of its points can have."""
        if self._needed:
            raise HwsimError(f"{self.spec.source}: " + "; ".join(
                f"{where}: no point can have a value for {metric}: {self._why[metric]}"
                for metric, where in self._needed.items()))

    def point(self, choice: tuple[int, ...], keep_config: bool = False) -> Point:
        values = self.space.values(choice)
        config = self.config(values)
        if self._needed:
            self._watch(config)
        key = point_key(self.evaluator.name, config)
        return Point(self.space.flat_index(choice), values, key,
                     config if keep_config else None)


def _needed_metrics(spec: SweepSpec) -> dict[str, str]:
    """Metric -> where the sweep file first asks for it (objective, constraint, heatmap)."""
    needed: dict[str, str] = {}
    for i, o in enumerate(spec.objectives):
        needed.setdefault(o.metric, f"objectives[{i}]")
    for i, c in enumerate(spec.constraints):
        if c.kind == "metric":
            needed.setdefault(c.name, f"constraints[{i}]")
    for i, hm in enumerate(spec.heatmaps):
        needed.setdefault(hm.metric, f"report.heatmaps[{i}]")
    return needed


def plan_points(spec: SweepSpec, evaluator: Evaluator) -> list[Point]:
    """The points of a grid or random sweep with their configurations, in flat-index order
    (validates the axes)."""
    return _grid_or_sample(_Planner(spec, evaluator), keep_config=True)


def _grid_or_sample(planner: _Planner, keep_config: bool = False,
                    progress: Progress | None = None) -> list[Point]:
    strategy = planner.spec.strategy
    if strategy.kind == "grid":
        # A grid is planned point by point (a configuration and a key each): past this size
        # that alone takes hours, so such spaces are for the sampling strategies.
        if planner.space.size > MAX_GRID_POINTS:
            raise HwsimError(
                f"{planner.spec.source}: the grid has {planner.space.size:,} points, above the "
                f"limit of {MAX_GRID_POINTS:,}; use strategy: {{kind: random, samples: N}} or "
                "{kind: optuna, trials: N}")
        choices = planner.space.grid()
    elif strategy.kind == "random":
        size = planner.space.size
        if strategy.samples > size:  # drawn without repeats: fewer would run than asked
            raise HwsimError(
                f"{planner.spec.source}: strategy.samples: {strategy.samples:,} is more than "
                f"the {size:,} points of the grid; give samples <= {size:,} or use strategy: "
                "{kind: grid}")
        choices = planner.space.sample(strategy.samples, strategy.seed)
    else:
        raise ValueError("optuna points are chosen while the search runs")
    points = []
    first: dict[str, Point] = {}
    for i, choice in enumerate(choices):
        point = planner.point(choice, keep_config)
        _refuse_same_key(planner.spec, first.setdefault(point.key, point), point)
        points.append(point)
        if progress is not None and (i % 4096 == 0 or i + 1 == len(choices)):
            progress(i + 1, len(choices))
    planner.refuse_absent()
    return points


def _refuse_same_key(spec: SweepSpec, first: Point, point: Point) -> None:
    """Two points that are one configuration (a model whose `combine` drops a value) would
    be one record under two labels: refused, as plan.json is when it lists a key twice."""
    if first is not point:
        raise HwsimError(f"{spec.source}: axes: the points {_describe(first.values)} and "
                         f"{_describe(point.values)} are one configuration to the model (the "
                         "same key); drop the axis value that has no effect")


def _describe(values: dict[str, Any]) -> str:
    return ", ".join(f"{f}={v!r}" for f, v in values.items())


def _record(point: Point, planner: _Planner, outcome: Outcome) -> dict[str, Any]:
    return {
        "key": point.key,
        "evaluator": planner.evaluator.name,
        "values": point.values,
        "config": planner.config(point.values),
        "metrics": outcome.metrics,
        "error": outcome.error,
    }


def _write_plan(out: Path, spec: SweepSpec, evaluator: Evaluator, points: list[Point],
                complete: bool) -> None:
    write_plan(out, spec, evaluator.name, evaluator.metrics, ((p.index, p.key) for p in points),
               complete)


class _LazyExecutor(Executor):
    """Opens the real executor on first use: a resumed sweep with nothing left to evaluate
    starts no process pool and no cluster. A scheduler at an address is connected to at once
    (a connection, not a cluster): one that cannot be reached is said before anything is
    written into the output folder."""

    def __init__(self, stack: ExitStack, kind: str, workers: int | None,
                 address: str | None) -> None:
        check_executor(kind, workers, address)
        self.stack, self.args, self.inner = stack, (kind, workers, address), None
        if address is not None:
            self.inner = self.stack.enter_context(open_executor(*self.args))

    def run(self, evaluate: Any, configs: Any) -> Any:  # as Executor.run
        if self.inner is None:
            self.inner = self.stack.enter_context(open_executor(*self.args))
        return self.inner.run(evaluate, configs)


def _evaluate_missing(points: list[Point], store: ResultStore, planner: _Planner,
                      executor: Any, tick: Callable[[], None]) -> tuple[int, int]:
    """Evaluate the points without a stored record; store each as it finishes.

    Returns (evaluated, failed among the evaluated)."""
    todo, seen = [], set()
    for p in points:
        if p.key not in seen and not store.has(p.key):
            todo.append(p)
            seen.add(p.key)
    evaluated = failed = 0
    if not todo:
        return 0, 0
    configs = (planner.config(p.values) for p in todo)  # built as the window refills
    for position, outcome in executor.run(planner.evaluator.evaluate, configs):
        store.put(_record(todo[position], planner, outcome))
        evaluated += 1
        failed += outcome.error is not None
        tick()
    return evaluated, failed


def run_sweep(
    spec: SweepSpec,
    out_dir: str | Path,
    *,
    evaluator: Evaluator | None = None,
    workers: int | None = None,
    executor: str = "local",
    address: str | None = None,
    progress: Progress | None = None,
    sweep_text: str | None = None,
    planning: Progress | None = None,
) -> SweepRun:
    """Run a sweep into `out_dir`, skipping points already stored there.

    Args:
        spec: the validated sweep (`load_sweep`).
        out_dir: output folder; created if needed.
        evaluator: the model (default: hwsim's simulator, `hwsim.sweep.hwsim_evaluator`).
        workers, executor, address: see `open_executor`.
        progress: called as ``progress(done, total)`` after each point (stored ones included).
        planning: called as ``planning(done, total)`` while a grid or sample is planned
            (a configuration and a key per point: minutes for millions of points).
        sweep_text: the sweep file's text, copied to ``out_dir/sweep.yaml``.

    Returns:
        Counts of what was done. Render tables and plots with `write_report`.

    Raises:
        HwsimError: bad axes, executor or address. `SweepInterrupted` when a worker died.
    """
    if evaluator is None:
        evaluator = hwsim_evaluator()
    out = Path(out_dir)
    check_executor(executor, workers, address)
    # The axes and the metrics asked for are checked before anything is written, and the
    # folder before planning a grid (minutes for millions of points).
    check_output_folder(out)
    if out.is_dir():
        check_unlocked(out)  # another run there: said before planning, not minutes later
    planner = _Planner(spec, evaluator)
    if spec.strategy.kind == "optuna":
        if planner.watch_space():
            planner.refuse_absent()
        points = []
    else:
        points = _grid_or_sample(planner, progress=planning)
    with ExitStack() as stack:
        ex = _LazyExecutor(stack, executor, workers, address)  # reaches --address first
        output_folder(out)
        stack.enter_context(folder_lock(out))
        store = ResultStore(out)
        store.remove_stale_temporaries()  # of a run that was killed
        if sweep_text is not None:
            write_atomic(out / "sweep.yaml", sweep_text)
        if spec.strategy.kind == "optuna":
            return _run_optuna(spec, planner, store, out, ex, progress)
        return _run_points(spec, planner, store, out, ex, points, progress)


def _run_points(spec: SweepSpec, planner: _Planner, store: ResultStore, out: Path,
                ex: Executor, points: list[Point], progress: Progress | None) -> SweepRun:
    """Evaluate the planned points of a grid or sample that are not stored yet."""
    _write_plan(out, spec, planner.evaluator, points, complete=False)
    total = len(points)
    reused = done = sum(store.has(p.key) for p in points)

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(done, total)
    evaluated, _ = _evaluate_missing(points, store, planner, ex, tick)
    _write_plan(out, spec, planner.evaluator, points, complete=True)
    failed = sum((store.get(p.key) or {}).get("error") is not None for p in points)
    return SweepRun(out, total, evaluated, reused, failed)


# ---------------------------------------------------------------- optuna


def _sampler(spec: SweepSpec, constraints_func: Callable | None) -> Any:
    import optuna

    st = spec.strategy
    kwargs: dict[str, Any] = {"seed": st.seed}
    if constraints_func is not None and st.sampler != "random":
        kwargs["constraints_func"] = constraints_func
    if st.sampler == "tpe":
        return optuna.samplers.TPESampler(**kwargs)
    if st.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(**kwargs)
    if st.sampler == "nsga3":
        return optuna.samplers.NSGAIIISampler(**kwargs)
    return optuna.samplers.RandomSampler(seed=st.seed)


def _constraint_values(spec: SweepSpec, point: Point, record: dict[str, Any]) -> list[float]:
    """Per constraint: <= 0 when satisfied (optuna's convention)."""
    out = []
    for c in spec.constraints:
        # The point's own axis values: a record reused from a sweep whose axes were named
        # otherwise holds the same configuration under other names.
        source = record["metrics"] if c.kind == "metric" else point.values
        value = source.get(c.name, float("nan")) if source else float("nan")
        out.append(float(violation(c, value)))
    return out


def _run_optuna(spec: SweepSpec, planner: _Planner, store: ResultStore, out: Path,
                ex: Executor, progress: Progress | None) -> SweepRun:
    """Ask a batch, evaluate what is not stored, tell in trial order; repeat.

    Telling in trial order (not completion order) keeps the search identical whatever the
    executor or worker count, and a rerun replays it from the store without simulating.
    """
    import optuna

    st = spec.strategy
    directions = ["minimize" if o.goal == "min" else "maximize" for o in spec.objectives]

    # optuna >= 5 takes constraints per trial (`set_constraint`); older ones through a
    # sampler callback reading what we stored on the trial.
    per_trial = hasattr(optuna.trial.Trial, "set_constraint")

    def constraints_func(trial: optuna.trial.FrozenTrial) -> list[float]:
        return trial.user_attrs.get("constraints", [0.0] * len(spec.constraints))

    with warnings.catch_warnings():
        # constraints_func is experimental in optuna 3-4; we use it knowingly there.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        use_func = bool(spec.constraints) and not per_trial
        sampler = _sampler(spec, constraints_func if use_func else None)
        study = optuna.create_study(directions=directions, sampler=sampler)

    dims = planner.space.dims
    points: list[Point] = []
    seen: set[str] = set()
    evaluated = reused = asked = 0
    while asked < st.trials:
        batch = []
        for _ in range(min(st.batch_size, st.trials - asked)):
            trial = study.ask()
            choice = []
            for dim in dims:
                name = "+".join(dim.fields)
                if dim.ordinal:
                    choice.append(trial.suggest_int(name, 0, dim.size - 1))
                else:  # categories by option index: values like 1 and "1" stay apart
                    choice.append(trial.suggest_categorical(name, list(range(dim.size))))
            batch.append((trial, planner.point(tuple(choice))))
        asked += len(batch)
        new = []  # points not seen in earlier batches (optuna may suggest one again)
        for _, p in batch:
            if p.key not in seen:
                seen.add(p.key)
                new.append(p)
        points.extend(new)
        n_eval, _ = _evaluate_missing(new, store, planner, ex, lambda: None)
        evaluated += n_eval
        reused += len(new) - n_eval
        for trial, p in batch:
            record = store.get(p.key)
            if record["error"] is not None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            missing = [o.metric for o in spec.objectives if o.metric not in record["metrics"]]
            if missing:  # a space too large to check before (`_Planner.watch_space`)
                config = record.get("config") or {}
                raise HwsimError(f"{spec.source}: objectives: " + "; ".join(
                    f"{m}: not returned for the point {_describe(p.values)}: "
                    f"{explain_absent(m, config)}" for m in missing))
            values = _constraint_values(spec, p, record)
            if per_trial:
                for c, value in zip(spec.constraints, values, strict=True):
                    trial.set_constraint(c.name, value)
            else:
                trial.set_user_attr("constraints", values)
            study.tell(trial, [record["metrics"][o.metric] for o in spec.objectives])
        _write_plan(out, spec, planner.evaluator, points, complete=False)
        if progress is not None:
            progress(asked, st.trials)
    _write_plan(out, spec, planner.evaluator, points, complete=True)
    failed = sum(store.get(p.key)["error"] is not None for p in points)
    return SweepRun(out, len(points), evaluated, reused, failed)
