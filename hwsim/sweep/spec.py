"""The sweep file: YAML -> pydantic validation (errors carry the YAML path) -> frozen `SweepSpec`.

A sweep file names a base configuration (one entry per section of the evaluator, for hwsim a
``workload`` and a ``hardware``), the axes to vary, how the axes combine (product, with
``zip`` groups that move together), the objectives, the constraints and the search strategy::

    name: shape-vs-format
    workload: {model: llama-2-7b, stage: decode}
    hardware: bitmod
    axes:
      - {field: array.rows, values: [16, 32, 64]}
      - {field: pe.lanes, range: {start: 1, stop: 8}}         # inclusive: 1, 2, ..., 8
      - {field: dram.bytes_per_cycle, range: {start: 16, stop: 256, factor: 2}}
    zip: []                                                    # e.g. [[array.rows, array.cols]]
    objectives: [latency_s, {metric: energy_pj, goal: min}]
    constraints: [{metric: area_mm2, max: 4.0}]
    strategy: {kind: grid}                                     # or random / optuna
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    create_model,
    model_validator,
)

from hwsim.config import validate_mapping
from hwsim.dtypes import get_format
from hwsim.errors import HwsimError
from hwsim.files import read_yaml
from hwsim.limits import MAX_AXIS_VALUES, MAX_GRID_POINTS

__all__ = [
    "Axis",
    "Constraint",
    "Goal",
    "Heatmap",
    "Objective",
    "Strategy",
    "SweepSpec",
    "load_sweep",
    "sweep_from_dict",
]

Goal = Literal["min", "max"]
Scalar = bool | int | float | str


# ---------------------------------------------------------------- frozen domain objects


@dataclass(frozen=True)
class Axis:
    """One varied field and the values it takes, in order."""

    field: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Objective:
    """A metric to minimize or maximize."""

    metric: str
    goal: Goal


@dataclass(frozen=True)
class Constraint:
    """A bound on a metric (``kind == "metric"``) or on an axis field (``kind == "field"``).

    A point is feasible when ``min <= value <= max`` for every constraint (a bound of ``None``
    is open).
    """

    name: str
    kind: Literal["metric", "field"]
    min: float | None = None
    max: float | None = None

    def describe(self) -> str:
        """The constraint as a person writes it, e.g. ``"area_mm2 <= 4"``."""
        parts = []
        if self.min is not None:
            parts.append(f"{self.name} >= {self.min:g}")
        if self.max is not None:
            parts.append(f"{self.name} <= {self.max:g}")
        return " and ".join(parts)


@dataclass(frozen=True)
class Heatmap:
    """A heatmap of `metric` over two axis fields (other axes: best value over them)."""

    x: str
    y: str
    metric: str


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file. `sections` keeps the base entries as written (names, paths or
    mappings); the evaluator resolves them into full configurations when the sweep runs."""

    name: str
    sections: Mapping[str, Any]
    axes: tuple[Axis, ...]
    zip: tuple[tuple[str, ...], ...]
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    strategy: Strategy
    heatmaps: tuple[Heatmap, ...] = ()
    source: str = "<sweep>"
    folder: Path = field(default_factory=Path.cwd)

    @property
    def fields(self) -> tuple[str, ...]:
        """The axis fields as written, in file order."""
        return tuple(axis.field for axis in self.axes)


# ---------------------------------------------------------------- pydantic edge models


def _keep_int(value: Any, handler: ValidatorFunctionWrapHandler) -> int | float:
    """A strict float that gives an int back as written (an integer range stays integers)."""
    number = handler(value)
    return value if type(value) is int else number


# Numbers of the sweep file are strict: `true` or "2" is refused, not read as 1 or 2. A range
# bound is one strict float (it takes ints too) rather than `int | float`, whose two members
# would each report the same mistake.
Number = Annotated[float, Field(strict=True), WrapValidator(_keep_int)]
Count = Annotated[int, Field(strict=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Finite(_Strict):
    # NaN and infinities are refused here too, for sweeps given as Python mappings. (Axis
    # values are checked after validation, for a message without pydantic's union noise.)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Range(_Finite):
    start: Number
    stop: Number
    step: Number | None = None
    factor: Number | None = None
    num: Count | None = None

    @model_validator(mode="after")
    def _one_spacing(self) -> _Range:
        given = [name for name in ("step", "factor", "num") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of step, factor, num (got {', '.join(given)})")
        return self


class _Axis(_Strict):
    field: str
    values: list[Scalar] | None = None
    range: _Range | None = None

    @model_validator(mode="after")
    def _one_source(self) -> _Axis:
        if (self.values is None) == (self.range is None):
            raise ValueError("give exactly one of `values` (a list) or `range` (start, stop, ...)")
        return self


class _Objective(_Strict):
    metric: str
    goal: Goal | None = None


class _Constraint(_Finite):
    metric: str | None = None
    field: str | None = None
    min: StrictFloat | None = None
    max: StrictFloat | None = None

    @model_validator(mode="after")
    def _shape(self) -> _Constraint:
        if (self.metric is None) == (self.field is None):
            raise ValueError("give exactly one of `metric` or `field`")
        if self.min is None and self.max is None:
            raise ValueError("give `min`, `max` or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} > max {self.max:g}: no value can satisfy it")
        return self


class Strategy(_Strict):
    """How points are chosen: the whole grid, a seeded random sample, or an optuna search
    (the ``strategy:`` entry of a sweep file, validated and frozen).

    Attributes:
        kind: ``"grid"``, ``"random"`` or ``"optuna"``.
        samples: points drawn without replacement (random); at most the grid's size.
        trials: trials asked of the sampler (optuna); repeated suggestions are not re-simulated.
        sampler: optuna sampler: ``"tpe"`` (multi-objective capable), ``"nsga2"``, ``"nsga3"``,
            ``"random"``.
        seed: seed of the sample or of the sampler.
        batch_size: optuna trials asked and told together (at most `trials`). Results are
            told in trial order, so the search is the same whatever the number of workers or
            the executor.
    """

    kind: Literal["grid", "random", "optuna"] = "grid"
    samples: Count | None = None
    trials: Count | None = None
    sampler: Literal["tpe", "nsga2", "nsga3", "random"] = "tpe"
    # Seeds of NumPy's and optuna's generators: 0 .. 2**32 - 1.
    seed: Annotated[int, Field(strict=True, ge=0, le=2**32 - 1)] = 0
    batch_size: Count = 8

    @model_validator(mode="after")
    def _counts(self) -> Strategy:
        if self.kind == "random" and (self.samples is None or self.samples < 1):
            raise ValueError("random sampling needs `samples` >= 1")
        if self.kind == "optuna" and (self.trials is None or self.trials < 1):
            raise ValueError("an optuna search needs `trials` >= 1")
        if self.kind != "random" and self.samples is not None:
            raise ValueError(f"`samples` is for kind random, not {self.kind}")
        if self.kind != "optuna" and self.trials is not None:
            raise ValueError(f"`trials` is for kind optuna, not {self.kind}")
        if self.batch_size < 1:
            raise ValueError("`batch_size` must be >= 1")
        if (self.kind == "optuna" and "batch_size" in self.model_fields_set
                and self.batch_size > self.trials):  # (the default 8 is cut to the trials)
            raise ValueError(f"`batch_size` {self.batch_size:,} is more than `trials` "
                             f"{self.trials:,}; a batch holds at most all the trials")
        for name in ("samples", "trials"):
            value = getattr(self, name)
            if value is not None and value > MAX_GRID_POINTS:
                raise ValueError(f"`{name}` {value:,} is above the limit of "
                                 f"{MAX_GRID_POINTS:,} points of one sweep")
        given = self.model_fields_set
        unused = {"grid": ("seed", "sampler", "batch_size"), "random": ("sampler", "batch_size"),
                  "optuna": ()}[self.kind]
        wasted = [name for name in unused if name in given]
        if wasted:  # written but without effect: say so rather than ignore it
            raise ValueError(f"{', '.join(wasted)} has no effect with kind {self.kind}")
        return self


class _Heatmap(_Strict):
    x: str
    y: str
    metric: str


class _Report(_Strict):
    heatmaps: list[_Heatmap] = []


class _SweepBase(_Strict):
    name: str | None = None
    axes: list[_Axis]
    zip: list[list[str]] = []
    objectives: list[_Objective | str]
    constraints: list[_Constraint] = []
    strategy: Strategy = Strategy()
    report: _Report = _Report()


# ---------------------------------------------------------------- building


def _rough_count(count: float) -> str:
    """A count people can read: every digit up to 10**15, then ``about 1.0e+300``."""
    if count < 1e15:
        return f"{count:,.0f}"
    rough = float(count) if count < 1e308 else math.inf  # float() of a huge int overflows
    return f"about {rough:.1e}" if math.isfinite(rough) else "more than 1e+308"


def _kind(value: Scalar) -> str:
    """``"number"`` (int or float, not bool), ``"str"`` or ``"bool"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "number"
    return type(value).__name__


def _non_numeric(axis: Axis) -> str | None:
    """What an axis of strings or booleans takes, e.g. ``field 'f' takes strings (a, b)``;
    ``None`` for a numeric axis (and a mixed one, which is reported with the axis)."""
    kinds = {_kind(v) for v in axis.values}
    if len(kinds) != 1 or kinds == {"number"}:
        return None
    kind = kinds.pop()
    what = {"str": "strings", "bool": "booleans"}.get(kind, f"{kind} values")
    shown = ", ".join(str(v).lower() if isinstance(v, bool) else str(v) for v in axis.values)
    return f"field {axis.field!r} takes {what} ({shown})"


def _check_axis_size(count: float, where: str) -> None:
    if not count <= MAX_AXIS_VALUES:  # also inf and NaN, from extreme start, stop or step
        raise HwsimError(f"{where}: a range of {_rough_count(count)} values is above the "
                         f"limit of {MAX_AXIS_VALUES:,} values of one axis")


def _count(spans: float, where: str) -> int:
    """Values of an inclusive range spanning `spans` steps (checked before rounding)."""
    _check_axis_size(spans + 1, where)
    # Tolerance: 16 * 2**4 must reach a stop of 256 despite float rounding.
    return math.floor(spans + 1e-9) + 1


def _format_name(field: str, value: object) -> str | None:
    """The canonical name of a format value on a format axis (``INT4`` -> ``int4``), else
    None (another field, or an unknown name: refused with the point's own message)."""
    if field.rsplit(".", 1)[-1] != "format" or not isinstance(value, str):
        return None
    try:
        return get_format(value).name
    except HwsimError:
        return None


def _one_format_twice(field: str, values: tuple[object, ...]) -> str | None:
    """Two spellings of one format on a format axis (``[int4, INT4]``: the same point run
    twice under two keys), else None."""
    seen: dict[str, object] = {}
    for v in values:
        name = _format_name(field, v)
        if name is None:
            continue
        if name in seen:
            return f"{seen[name]!r} and {v!r} are one format, {name}; give it once"
        seen[name] = v
    return None


def _repeats(field: str, values: tuple[Scalar, ...]) -> str | None:
    """A value given twice on one axis (``repr`` keeps 1 and 1.0 apart), else None."""
    if len(set(map(repr, values))) != len(values):
        return f"repeated values in {list(values)}"
    return _one_format_twice(field, values)


def _repeated_tuple(axes: Sequence[Axis]) -> str | None:
    """The first option of a zip group given twice (its values repeat all together, a
    format under two spellings counting as one), else None. One zipped axis may repeat a
    value (iso-area shapes share a row count); a repeated option is one point run twice."""
    seen: dict[tuple[str, ...], tuple[Scalar, ...]] = {}
    for option in zip(*(a.values for a in axes), strict=True):
        # repr keeps 1 and 1.0 apart, as the per-axis check does
        same = tuple(_format_name(a.field, v) or repr(v)
                     for a, v in zip(axes, option, strict=True))
        if same in seen:
            shown = "(" + ", ".join(map(str, option)) + ")"
            first = "(" + ", ".join(map(str, seen[same])) + ")"
            twice = (f"the tuple {shown} is given twice" if first == shown
                     else f"{first} and {shown} are one tuple (a format spelled twice)")
            return twice + "; give each tuple once"
        seen[same] = option
    return None


def _range_values(r: _Range, where: str) -> tuple[Scalar, ...]:
    """Inclusive ranges: arithmetic (`step`, default 1), geometric (`factor`) or `num` points."""
    start, stop = r.start, r.stop
    if start > stop:
        raise HwsimError(f"{where}: empty range: start {start:g} > stop {stop:g}")
    integral = all(isinstance(v, int) for v in (start, stop, r.step or 1, r.factor or 2))
    if r.num is not None:
        if r.num < 1:
            raise HwsimError(f"{where}: empty range: num must be >= 1, got {r.num}")
        _check_axis_size(r.num, where)
        values = np.linspace(start, stop, r.num)
        integral = integral and bool(np.all(values == np.round(values)))
    elif r.factor is not None:
        if r.factor <= 1 or start <= 0:
            raise HwsimError(f"{where}: a geometric range needs factor > 1 and start > 0 "
                             f"(got factor {r.factor:g}, start {start:g})")
        count = _count(math.log(stop / start) / math.log(r.factor), where)
        values = start * np.power(float(r.factor), np.arange(count))
    else:
        step = 1 if r.step is None else r.step
        if step <= 0:
            raise HwsimError(f"{where}: range step must be > 0, got {step:g}")
        count = _count((stop - start) / step, where)
        values = start + step * np.arange(count)
    if integral:
        return tuple(round(float(v)) for v in values)
    return tuple(float(v) for v in values)


def sweep_from_dict(
    data: Any,
    *,
    sections: Sequence[str] = ("workload", "hardware"),
    optional_sections: Sequence[str] = (),
    metrics: Mapping[str, Goal] | None = None,
    source: str = "<sweep>",
    folder: Path | None = None,
) -> SweepSpec:
    """Validate a parsed sweep file and freeze it.

    Args:
        data: the parsed YAML mapping.
        sections: top-level keys that hold the base configuration (all required).
        optional_sections: more such keys that may be left out (kept as ``None``).
        metrics: the metrics the evaluator returns with their natural goals; when given,
            objectives and metric constraints must name one of them, and an objective may omit
            its goal.
        source: the file name used in error messages.
        folder: where relative paths inside the sections are resolved (default: cwd).

    Raises:
        HwsimError: with the YAML path of every problem and the allowed values.
    """
    if data is None:  # what YAML gives for an empty file or one of comments only
        raise HwsimError(f"{source}: the sweep file is empty; it needs "
                         f"{', '.join(sections)}, axes and objectives")
    model_cls = create_model(  # the sections depend on the evaluator
        "SweepFile", __base__=_SweepBase, **dict.fromkeys(sections, (Any, ...)),
        **dict.fromkeys(optional_sections, (Any, None)),
    )
    model = validate_mapping(model_cls, dict(data) if isinstance(data, Mapping) else data,
                             source, "sweep keys")

    # Every problem below is collected, then reported at once (as the schema's are).
    problems: list[str] = []
    if not model.axes:
        problems.append("axes: give at least one axis")
    # A zipped axis may repeat a value: its zip group's tuples are checked instead, below.
    zipped_fields = {f for group in model.zip for f in group}
    axes = []
    for i, ax in enumerate(model.axes):
        where = f"axes[{i}] ({ax.field})"
        try:
            if ax.values is not None:
                _check_axis_size(len(ax.values), where)
                values = tuple(ax.values)
            else:
                values = _range_values(ax.range, where)
        except HwsimError as exc:
            problems.append(str(exc))
            continue
        kinds = {_kind(v) for v in values}
        bad = [v for v in values if isinstance(v, float) and not math.isfinite(v)]
        if not values:
            problems.append(f"{where}: empty list of values")
        elif bad:
            problems.append(f"{where}: values must be finite, got {bad[0]}")
        elif len(kinds) > 1:  # one column type per axis (a stray string breaks the tables)
            problems.append(f"{where}: values of one axis must be of one kind, got "
                            f"{' and '.join(sorted(kinds))} in {list(values)}")
        elif ax.field not in zipped_fields and (twice := _repeats(ax.field, values)):
            problems.append(f"{where}: {twice}")
        axes.append(Axis(ax.field, values))
    names = [a.field for a in axes]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        problems.append(f"axes: field(s) given twice: {', '.join(dup)}")

    zipped: set[str] = set()
    for g, group in enumerate(model.zip):
        where = f"zip[{g}]"
        unknown = [f for f in group if f not in names]
        again = [f for f in group if f in zipped]
        zipped.update(group)
        if unknown:
            problems.append(f"{where}: {', '.join(unknown)} is not an axis; axes: "
                            f"{', '.join(names)}")
        elif len(group) < 2:
            problems.append(f"{where}: a zip group needs at least two axes")
        elif again:
            problems.append(f"{where}: {', '.join(again)} already in another zip group")
        else:
            lengths = {f: len(axes[names.index(f)].values) for f in group}
            if len(set(lengths.values())) != 1:
                problems.append(f"{where}: zipped axes need the same number of values, got "
                                + ", ".join(f"{f}: {n}" for f, n in lengths.items()))
            elif (twice := _repeated_tuple([axes[names.index(f)] for f in group])) is not None:
                problems.append(f"{where} ({', '.join(group)}): {twice}")

    def known_metric(name: str, where: str) -> bool:
        if metrics is not None and name not in metrics:
            problems.append(f"{where}: unknown metric {name!r}; metrics: {', '.join(metrics)}")
            return False
        return True

    objectives = []
    for i, obj in enumerate(model.objectives):
        where = f"objectives[{i}]"
        metric, goal = (obj, None) if isinstance(obj, str) else (obj.metric, obj.goal)
        if not known_metric(metric, where):
            continue
        if goal is None:
            if metrics is None:
                problems.append(f"{where}: give a goal for {metric!r}: min or max")
                continue
            goal = metrics[metric]
        objectives.append(Objective(metric, goal))
    if not model.objectives:
        problems.append("objectives: give at least one objective")
    if len({o.metric for o in objectives}) != len(objectives):
        problems.append("objectives: a metric is listed twice")

    constraints = []
    for i, con in enumerate(model.constraints):
        where = f"constraints[{i}]"
        if con.metric is not None:
            if con.metric in names and (metrics is None or con.metric not in metrics):
                # Bounded as a metric it would read the axis column, a string one included.
                problems.append(f"{where}: {con.metric!r} is an axis field, not a metric; "
                                f"bound it with `field: {con.metric}`")
            elif known_metric(con.metric, where):
                constraints.append(Constraint(con.metric, "metric", con.min, con.max))
        elif con.field not in names:
            problems.append(f"{where}: field {con.field!r} is not an axis; axes: "
                            f"{', '.join(names)}")
        else:
            wrong = _non_numeric(axes[names.index(con.field)])
            if wrong is not None:  # else comparing names with numbers fails after the run
                problems.append(f"{where}: {wrong}; min/max need a numeric axis")
            else:
                constraints.append(Constraint(con.field, "field", con.min, con.max))

    heatmaps = []
    for i, hm in enumerate(model.report.heatmaps):
        where = f"report.heatmaps[{i}]"
        missing = [a for a in (hm.x, hm.y) if a not in names]
        if missing:
            problems += [f"{where}: {a!r} is not an axis; axes: {', '.join(names)}"
                         for a in missing]
        elif hm.x == hm.y:
            problems.append(f"{where}: x and y must be different axes")
        elif known_metric(hm.metric, where):
            heatmaps.append(Heatmap(hm.x, hm.y, hm.metric))
    if problems:
        raise HwsimError(f"{source}: " + "; ".join(problems))

    return SweepSpec(
        name=model.name or Path(source).stem,
        sections={name: getattr(model, name) for name in (*sections, *optional_sections)},
        axes=tuple(axes),
        zip=tuple(tuple(g) for g in model.zip),
        objectives=tuple(objectives),
        constraints=tuple(constraints),
        strategy=model.strategy,
        heatmaps=tuple(heatmaps),
        source=source,
        folder=folder if folder is not None else Path.cwd(),
    )


def load_sweep(
    path: str | Path,
    *,
    sections: Sequence[str] = ("workload", "hardware"),
    optional_sections: Sequence[str] = ("fidelity",),
    metrics: Mapping[str, Goal] | None = None,
) -> SweepSpec:
    """Read and validate a sweep file (see `sweep_from_dict`; the defaults are hwsim's)."""
    path = Path(path)
    data = read_yaml(path, "the sweep file")
    return sweep_from_dict(data, sections=sections, optional_sections=optional_sections,
                           metrics=metrics, source=str(path),
                           folder=path.resolve().parent)
