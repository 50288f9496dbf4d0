"""``plan.json``: the validated spec of a sweep and its ordered points, written by `run_sweep`
before any point runs and read back by every report (``hwsim sweep --report``).

A report trusts what it reads, so `read_plan` checks the whole file once: its shape (pydantic,
unknown keys refused), then the axes, zip groups, objectives, constraints and heatmaps with the
checks a sweep file gets (`sweep_from_dict`), then every point: a flat index inside the axes
and a SHA-256 key (never a path), neither listed twice. Anything else is one line naming
plan.json and the key, and asking to rerun the sweep, which writes the plan again and reuses
every stored point.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat

from hwsim.config import validate_mapping
from hwsim.errors import HwsimError
from hwsim.sweep.space import DesignSpace
from hwsim.sweep.spec import Goal, Scalar, SweepSpec, sweep_from_dict
from hwsim.sweep.store import write_atomic

__all__ = ["PLAN_FILE", "read_plan", "write_plan"]

PLAN_FILE = "plan.json"
_KEY = re.compile(r"[0-9a-f]{64}")  # `point_key`: SHA-256 in hex


def write_plan(out: Path, spec: SweepSpec, evaluator: str, metrics: Mapping[str, Goal] | None,
               points: Iterable[tuple[int, str]], complete: bool) -> None:
    """Write ``out/plan.json`` (atomically): the spec as validated and the points as
    ``[flat index, key]`` in the order they are reported."""
    plan = {
        "name": spec.name,
        "evaluator": evaluator,
        "metrics": dict(metrics or {}),
        "axes": [{"field": a.field, "values": list(a.values)} for a in spec.axes],
        "zip": [list(g) for g in spec.zip],
        "objectives": [asdict(o) for o in spec.objectives],
        "constraints": [asdict(c) for c in spec.constraints],
        "heatmaps": [asdict(h) for h in spec.heatmaps],
        "strategy": spec.strategy.model_dump(),
        "complete": complete,
        "points": [[index, key] for index, key in points],
    }
    write_atomic(out / PLAN_FILE, json.dumps(plan, indent=1, sort_keys=False) + "\n")


# ---------------------------------------------------------------- the file's shape


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Axis(_Model):
    field: str
    values: list[Scalar]


class _Objective(_Model):
    metric: str
    goal: Goal


class _Constraint(_Model):
    name: str
    kind: Literal["metric", "field"]
    min: StrictFloat | None = None
    max: StrictFloat | None = None


class _Heatmap(_Model):
    x: str
    y: str
    metric: str


class _Plan(_Model):
    name: str
    evaluator: str
    metrics: dict[str, Goal]
    axes: list[_Axis]
    zip: list[list[str]]
    objectives: list[_Objective]
    constraints: list[_Constraint]
    heatmaps: list[_Heatmap]
    strategy: dict[str, Any]  # how the points were chosen: a record, no report reads it
    complete: StrictBool
    points: list[Any]  # checked by `_point_problem`: pydantic would list every bad one


# ---------------------------------------------------------------- reading


def _rerun(out: Path) -> str:
    return f"rerun `hwsim sweep SWEEP.yaml --out {out}`"


def _load(out: Path) -> Any:
    path = out / PLAN_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HwsimError(f"{out}: no sweep results here ({PLAN_FILE} missing); run "
                         f"`hwsim sweep SWEEP.yaml --out {out}` first") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HwsimError(f"{path}: not a sweep plan ({exc}); {_rerun(out)}") from None


def _as_sweep(plan: _Plan) -> dict[str, Any]:
    """The plan as the sweep file it came from, for `sweep_from_dict`'s checks."""
    constraints = [{c.kind: c.name, **({"min": c.min} if c.min is not None else {}),
                    **({"max": c.max} if c.max is not None else {})} for c in plan.constraints]
    return {
        "name": plan.name,
        "axes": [a.model_dump() for a in plan.axes],
        "zip": plan.zip,
        "objectives": [o.model_dump() for o in plan.objectives],
        "constraints": constraints,
        "report": {"heatmaps": [h.model_dump() for h in plan.heatmaps]},
    }


def _point_problem(points: list[Any], size: int) -> str | None:
    """The first wrong entry of ``points`` (``None``: none): ``[index, key]`` pairs, each
    index inside the space and each key a `point_key`, neither listed twice (a second row
    of one point, or another point's numbers under its label)."""
    indices: dict[int, int] = {}
    keys: dict[str, int] = {}
    for i, item in enumerate(points):
        where = f"points[{i}]"
        if not isinstance(item, list) or len(item) != 2:
            return f"{where}: an [index, key] pair is expected, got {json.dumps(item)[:80]}"
        index, key = item
        # bool is an int to isinstance: `true` would read as point 1.
        if type(index) is not int:
            return f"{where}[0]: a point index (an integer) is expected, got {json.dumps(index)}"
        if not 0 <= index < size:
            return f"{where}[0]: {index} is outside the axes' {size:,} points (0..{size - 1:,})"
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            return (f"{where}[1]: a point key (64 hex digits) is expected, got "
                    f"{json.dumps(key)[:80]}")
        if index in indices:
            return f"{where}: point {index} is listed twice (also points[{indices[index]}])"
        if key in keys:
            return f"{where}: key {key} is listed twice (also points[{keys[key]}])"
        indices[index] = keys[key] = i
    return None


def read_plan(out: Path) -> tuple[dict[str, Any], DesignSpace]:
    """The validated ``out/plan.json`` (objectives with their goals, constraints and heatmaps
    as `write_plan` writes them) and the design space its point indices are of.

    Raises:
        HwsimError: no plan, or one of any other shape: names the file and the key.
    """
    path = out / PLAN_FILE
    data = _load(out)
    try:
        plan = validate_mapping(_Plan, data, str(path), "plan keys")
    except HwsimError as exc:
        raise HwsimError(f"{exc}; {_rerun(out)}") from None
    try:
        spec = sweep_from_dict(_as_sweep(plan), sections=(), metrics=plan.metrics or None,
                               source=str(path))
    except HwsimError as exc:
        # The checks name the sweep file's keys; the plan keeps its heatmaps at the top.
        message = str(exc).replace("report.heatmaps[", "heatmaps[")
        raise HwsimError(f"{message}; {_rerun(out)}") from None
    checked = {**data, "objectives": [asdict(o) for o in spec.objectives],
               "constraints": [asdict(c) for c in spec.constraints],
               "heatmaps": [asdict(h) for h in spec.heatmaps]}
    space = DesignSpace.from_spec(spec)
    problem = _point_problem(plan.points, space.size)
    if problem is not None:
        raise HwsimError(f"{path}: {problem}; {_rerun(out)}")
    return checked, space
