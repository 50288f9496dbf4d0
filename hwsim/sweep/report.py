"""Tables and plots of a sweep, drawn from the stored results alone (no simulation).

Files written into the sweep's folder:

- ``results.csv`` / ``results.parquet``: one row per finished point, in flat-index order:
  ``point``, every axis field, every metric (objectives first), ``error``, ``feasible``,
  ``pareto``, ``key``.
- ``pareto.csv``: the rows on the Pareto front of the objectives (feasible points only),
  sorted by the objectives, each best first (ties in point order).
- ``pareto_<a>__<b>.png``: a scatter per pair of objectives with its front drawn, points
  coloured by the first axis whose values are names, constraints on these metrics drawn.
- ``heatmap_<metric>__<y>__<x>.png``: a metric over two axes (the heatmaps named in the sweep
  file, or one per objective when exactly two axes vary); cells whose points all violate a
  constraint are grey with their value, not blank.
- ``summary.json`` and ``report.html``: the counts and the Pareto points with their axis
  values; the page has a hoverable front and the sortable tables.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwsim.errors import HwsimError
from hwsim.reports.figure_style import categorical_styles, new_figure, save_figure, style
from hwsim.reports.html_report import write_html
from hwsim.reports.output_files import digest, remove_stale_files, write_outputs
from hwsim.reports.units import format_number
from hwsim.sweep.hwsim_eval import explain_absent
from hwsim.sweep.lock import folder_lock
from hwsim.sweep.pareto import pareto_mask, violation
from hwsim.sweep.plan import PLAN_FILE, read_plan
from hwsim.sweep.report_html import sweep_html, sweep_summary
from hwsim.sweep.spec import Constraint, Heatmap, Objective
from hwsim.sweep.store import ResultStore

__all__ = ["SweepReport", "load_results", "write_report"]

_ANNOTATE_MAX_CELLS = 15 * 15  # write values into heatmap cells up to this size


@dataclass(frozen=True)
class SweepReport:
    """The rendered report: the table (all finished points), its front, the files written,
    and counts of planned points without a result yet and of failed points."""

    table: pd.DataFrame
    front: pd.DataFrame
    files: tuple[Path, ...]
    planned: int
    missing: int
    failed: int
    fields: tuple[str, ...] = ()
    objectives: tuple[Objective, ...] = ()


def _check_record(out: Path, store: ResultStore, record: dict[str, Any], where: str, index: int,
                  values: dict[str, Any]) -> None:
    """Refuse a record whose own axis values are not its point's. A key is a configuration,
    which a sweep with other axis names reaches too (its record is reused and its row labelled
    with this plan's names), but under the same name another value means that plan.json or
    the record was edited: a row would carry one point's label and another's numbers."""
    own = record["values"]
    for field, value in values.items():
        # type too: 1 and 1.0 (or True) are different values of an axis
        if field in own and (type(own[field]) is not type(value) or own[field] != value):
            raise HwsimError(
                f"{out / PLAN_FILE}: {where}: point {index} ({field}={value!r}) has the key "
                f"{record['key']}, whose record {store.path(record['key'])} is of "
                f"{field}={own[field]!r}; delete that record and rerun "
                f"`hwsim sweep SWEEP.yaml --out {out}`")


def _objectives_override(items: Sequence[str], plan: dict[str, Any]) -> list[dict[str, str]]:
    """``["latency_ms", "tokens_per_s:max"]`` -> objective mappings (goal from the model's
    metric table when not written)."""
    known = plan.get("metrics", {})
    out = []
    for item in items:
        metric, _, goal = item.strip().partition(":")
        if not metric:
            raise HwsimError(f"--objectives {item!r}: no metric; e.g. latency_ms or "
                             "tokens_per_s:max")
        if not goal and known and metric not in known:
            raise HwsimError(f"--objectives {item!r}: unknown metric {metric!r}; metrics: "
                             f"{', '.join(sorted(known))}")
        goal = goal or known.get(metric, "")
        if goal not in ("min", "max"):
            raise HwsimError(f"--objectives {item!r}: write {metric}:min or {metric}:max")
        out.append({"metric": metric, "goal": goal})
    if not out or len({o["metric"] for o in out}) != len(out):
        raise HwsimError("--objectives: give one or more different metrics")
    return out


def load_results(out_dir: str | Path, objectives: Sequence[str] | None = None
                 ) -> tuple[dict[str, Any], pd.DataFrame]:
    """The plan and the table of finished points (see the module docstring for columns).

    Args:
        out_dir: a sweep's output folder.
        objectives: other objectives for the ``pareto`` column than the sweep file's, as
            ``"metric"`` or ``"metric:min|max"``.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise HwsimError(f"{out}: a file, not a sweep's output folder")
    plan, space = read_plan(out)
    override = objectives is not None
    if override:
        plan["objectives"] = _objectives_override(objectives, plan)
    store = ResultStore(out)
    fields = [a["field"] for a in plan["axes"]]
    objectives = [Objective(**o) for o in plan["objectives"]]
    constraints = [Constraint(**c) for c in plan["constraints"]]

    rows, metric_names = [], []
    for i, (index, key) in enumerate(plan["points"]):
        record = store.get(key)
        if record is None:
            continue
        metrics = record["metrics"] or {}
        for name in metrics:
            if name not in metric_names:
                metric_names.append(name)
        values = space.values(space.choice(index))
        _check_record(out, store, record, f"points[{i}]", index, values)
        rows.append({"point": index, **values, **metrics, "error": record["error"], "key": key})
    first = [o.metric for o in objectives]
    unknown = [m for m in first if m not in metric_names and m not in plan.get("metrics", {})]
    if override and rows and unknown:
        raise HwsimError(f"--objectives: no metric {', '.join(unknown)} in the results; "
                         f"metrics: {', '.join(metric_names)}")
    metrics_order = first + sorted(m for m in metric_names if m not in first)
    columns = ["point", *fields, *metrics_order, "error", "key"]
    table = pd.DataFrame(rows, columns=columns)
    for name in metrics_order:
        table[name] = table[name].astype(np.float64)
    table["error"] = table["error"].astype(object)

    ok = table["error"].isna().to_numpy().copy()  # pandas may hand out a read-only view
    for o in objectives:
        ok &= table[o.metric].notna().to_numpy()
    feasible = ok.copy()
    for c in constraints:
        column = table[c.name] if c.name in table else pd.Series(np.nan, index=table.index)
        feasible &= violation(c, column.to_numpy(dtype=np.float64)) == 0
    pareto = np.zeros(len(table), dtype=bool)
    if feasible.any():
        values = table.loc[feasible, first].to_numpy(dtype=np.float64)
        pareto[feasible] = pareto_mask(values, [o.goal for o in objectives])
    table.insert(len(columns) - 1, "feasible", feasible)
    table.insert(len(columns), "pareto", pareto)
    return plan, table.sort_values("point", kind="stable").reset_index(drop=True)


def _absent(table: pd.DataFrame, metric: str) -> bool:
    """No point has a value for `metric` (failed points have none of any)."""
    return metric not in table or bool(table[metric].isna().all())


def _config(out: Path, table: pd.DataFrame) -> dict[str, Any]:
    """The configuration of the first point that ran (``{}`` if its record has none)."""
    ran = table.loc[table["error"].isna(), "key"]
    record = ResultStore(out).get(ran.iloc[0]) if len(ran) else None
    config = (record or {}).get("config")
    return config if isinstance(config, dict) else {}


def _no_feasible_message(table: pd.DataFrame, plan: dict[str, Any], out: Path) -> str:
    n = len(table)
    failed = table["error"].notna()
    if failed.all():
        errors = table["error"].value_counts()
        common = "; ".join(f"{count} x {msg}" for msg, count in errors.head(3).items())
        return f"all {n} points failed: {common}"
    constraints = [Constraint(**c) for c in plan["constraints"]]
    # A metric no point has makes every point infeasible: name it, with the reason.
    absent = [o["metric"] for o in plan["objectives"] if _absent(table, o["metric"])]
    unbounded = [c for c in constraints if c.kind == "metric" and _absent(table, c.name)]
    if absent or unbounded:
        config = _config(out, table)
        parts = [f"no point has a value for the objective {m}: {explain_absent(m, config)}"
                 for m in absent]
        parts += [f"no point meets the constraint {c.describe()}: none has a value for "
                  f"{c.name}: {explain_absent(c.name, config)}" for c in unbounded]
        return "; ".join(parts)
    parts = []
    for c in constraints:
        values = table.loc[~failed, c.name].to_numpy(dtype=np.float64)
        ok = int((violation(c, values) == 0).sum())
        nearest = values[np.argmin(violation(c, values))]
        parts.append(f"{c.describe()}: {ok} of {len(values)} points (nearest {nearest:g})")
    return ("no point satisfies the constraints together: " + "; ".join(parts)
            + "; relax a constraint or widen the axes")


# Metric name suffix -> unit, so "decode_ms_per_token (min)" no longer reads as minutes.
_UNITS = (("_ms_per_token", "ms/token"), ("_uj_ms", "uJ·ms"), ("_ms", "ms"), ("_uj", "uJ"),
          ("_mm2", "mm²"),
          ("_kib", "KiB"), ("tokens_per_s", "tok/s"), ("_db_mean", "dB"), ("_db_min", "dB"),
          ("_bits", "bits"), ("_s", "s"))


def metric_label(metric: str, goal: str | None = None) -> str:
    """``latency_ms`` -> ``latency_ms (ms, lower is better)``."""
    unit = next((u for suffix, u in _UNITS if metric.endswith(suffix)), "")
    better = {"min": "lower is better", "max": "higher is better"}.get(goal or "", "")
    inside = ", ".join(x for x in (unit, better) if x)
    return f"{metric} ({inside})" if inside else metric


def _categorical_axis(table: pd.DataFrame, fields: Sequence[str]) -> str | None:
    """The first axis whose values are names (formats, presets): points are coloured by it."""
    for f in fields:
        if f in table and table[f].map(lambda v: isinstance(v, str)).any():
            return f
    return None


def _draw_constraints(ax: Any, constraints: Sequence[Constraint], a: str, b: str) -> None:
    for c in constraints:
        for metric, line in ((a, ax.axvline), (b, ax.axhline)):
            if c.name != metric:
                continue
            for bound, op in ((c.min, ">="), (c.max, "<=")):
                if bound is not None:
                    line(bound, color="#D55E00", linestyle="--", linewidth=1.0,
                         label=f"constraint {c.name} {op} {bound:g}")


def _pareto_plot(table: pd.DataFrame, a: Objective, b: Objective, path: Path, *,
                 title: str, fields: Sequence[str], constraints: Sequence[Constraint],
                 formats: Sequence[str]) -> list[Path]:
    ok = table["error"].isna() & table[a.metric].notna() & table[b.metric].notna()
    infeasible = table[ok & ~table["feasible"]]
    feasible = table[table["feasible"]]
    group = _categorical_axis(table, fields)
    with style():
        fig = new_figure(6.4, 4.6)
        ax = fig.add_subplot()
        ax.scatter(infeasible[a.metric], infeasible[b.metric], s=14, marker="x", color="0.65",
                   label=f"violates a constraint ({len(infeasible)})", zorder=2)
        groups = [None] if group is None else list(dict.fromkeys(feasible[group]))
        styles = categorical_styles(groups)
        for g in groups:
            part = feasible if g is None else feasible[feasible[group] == g]
            # Points with the same two values drawn once, sized by how many they are.
            counts = part.groupby([a.metric, b.metric]).size().reset_index(name="n")
            color, marker = styles[g]
            label = (f"feasible ({len(part)})" if g is None
                     else f"{group} = {g} ({len(part)})")
            ax.scatter(counts[a.metric], counts[b.metric], s=18 + 10 * np.sqrt(counts["n"] - 1),
                       color=color, marker=marker, alpha=0.75, edgecolors="black",
                       linewidths=0.3, label=label, zorder=3)
            for _, row in counts[counts["n"] > 1].iterrows():
                ax.annotate(f"×{int(row['n'])}", (row[a.metric], row[b.metric]), fontsize=6,
                            xytext=(4, 3), textcoords="offset points", color="0.3")
        # The front of this pair of objectives, drawn as the staircase it bounds.
        pair = feasible[pareto_mask(feasible[[a.metric, b.metric]].to_numpy(),
                                    [a.goal, b.goal])]
        pair = pair.sort_values([a.metric, b.metric],
                                ascending=[a.goal == "min", b.goal == "min"])
        ax.step(pair[a.metric], pair[b.metric], where="post", color="#D55E00", lw=1.5, zorder=4)
        ax.scatter(pair[a.metric], pair[b.metric], s=40, facecolors="none",
                   edgecolors="#D55E00", linewidths=1.4,
                   label=f"Pareto front of these two ({len(pair)})", zorder=5)
        _draw_constraints(ax, constraints, a.metric, b.metric)
        for metric, set_scale in ((a.metric, ax.set_xscale), (b.metric, ax.set_yscale)):
            values = table.loc[ok, metric].to_numpy(dtype=np.float64)
            if len(values) and values.min() > 0 and values.max() > 100 * values.min():
                set_scale("log")  # spans of orders of magnitude crowd a linear axis
        ax.set_xlabel(metric_label(a.metric, a.goal))
        ax.set_ylabel(metric_label(b.metric, b.goal))
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.set_title(title)
    return save_figure(fig, path, formats)


def _heatmap(table: pd.DataFrame, hm: Heatmap, goal: str, axes: dict[str, list[Any]],
             path: Path, *, title: str, constraints: Sequence[Constraint],
             formats: Sequence[str]) -> list[Path]:
    xs, ys = axes[hm.x], axes[hm.y]  # in the order the sweep file lists them

    def best_grid(rows: pd.DataFrame) -> np.ndarray:
        # Best value over the other axes, per (y, x) cell; cells without a point stay NaN.
        best = rows.groupby([hm.y, hm.x])[hm.metric].agg(goal)
        grid = np.full((len(ys), len(xs)), np.nan)
        for (y, x), value in best.items():
            grid[ys.index(y), xs.index(x)] = value  # numpy scalars equal the YAML values
        return grid

    ran = table[table["error"].isna() & table[hm.metric].notna()]
    grid = best_grid(table[table["feasible"]])
    only_infeasible = np.isnan(grid) & ~np.isnan(best_grid(ran))
    shown = np.where(only_infeasible, best_grid(ran), grid)
    with style():
        fig = new_figure(1.6 + 0.8 * max(len(xs), 4), 1.4 + 0.5 * max(len(ys), 4))
        ax = fig.add_subplot()
        image = ax.imshow(grid, origin="lower", aspect="auto",
                          cmap="viridis_r" if goal == "min" else "viridis")
        if only_infeasible.any():  # a row with results is hatched, not blank
            ax.imshow(np.where(only_infeasible, 1.0, np.nan), origin="lower", aspect="auto",
                      cmap="Greys", vmin=0, vmax=4)
        ax.set_xticks(range(len(xs)), [str(x) for x in xs], rotation=45, ha="right")
        ax.set_yticks(range(len(ys)), [str(y) for y in ys])
        ax.set_xlabel(hm.x)
        ax.set_ylabel(hm.y)
        ax.grid(False)
        notes = []
        if only_infeasible.any():
            rules = "; ".join(c.describe() for c in constraints)
            notes.append(f"grey: only points that violate {rules or 'a constraint'}")
        if np.isnan(shown).any():
            notes.append("blank: no point finished")
        ax.set_title(title + ("\n" + "; ".join(notes) if notes else ""))
        fig.colorbar(image, ax=ax, label=metric_label(hm.metric, goal)
                     + f", {'min' if goal == 'min' else 'max'} over other axes")
        if grid.size <= _ANNOTATE_MAX_CELLS:
            for (i, j), value in np.ndenumerate(shown):
                if not np.isfinite(value):
                    continue
                if only_infeasible[i, j]:
                    color = "0.25"
                else:
                    r, g, b, _ = image.cmap(image.norm(value))
                    light = 0.299 * r + 0.587 * g + 0.114 * b > 0.5  # dark text on light
                    color = "black" if light else "white"
                ax.text(j, i, format_number(value, 3), ha="center", va="center", fontsize=7,
                        color=color, style="italic" if only_infeasible[i, j] else "normal")
    return save_figure(fig, path, formats)


def _auto_heatmaps(plan: dict[str, Any]) -> list[Heatmap]:
    """One heatmap per objective when exactly two single-field axes vary."""
    zipped = {f for group in plan["zip"] for f in group}
    varying = [a["field"] for a in plan["axes"] if len(a["values"]) > 1]
    if len(varying) != 2 or zipped & set(varying):
        return []
    y, x = varying
    return [Heatmap(x, y, o["metric"]) for o in plan["objectives"]]


_PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def _earlier_plots(out: Path, plan_id: str | None) -> dict[str, str]:
    """The plots an earlier render into ``out`` listed in its ``summary.json``, by name with
    their SHA-256, where it rendered the same points (``plan_id``); those of another sweep are
    removed (where their bytes are still the recorded ones) and none returned."""
    try:
        earlier = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    listed = earlier.get("plots") if isinstance(earlier, dict) else None
    if not isinstance(listed, dict):
        return {}
    plots = {n: h for n, h in listed.items()
             if isinstance(n, str) and isinstance(h, str) and Path(n).name == n
             and n.startswith(("pareto_", "heatmap_")) and n.endswith(_PLOT_SUFFIXES)}
    if earlier.get("plan_digest") == plan_id:
        return plots
    remove_stale_files(out, plots, ())
    return {}



def write_report(out_dir: str | Path, objectives: Sequence[str] | None = None,
                 figure_formats: Sequence[str] = ("png",)) -> SweepReport:
    """Write the tables, plots, ``summary.json`` and ``report.html`` of a sweep folder from its
    stored results.

    `objectives` (``"metric"`` or ``"metric:min|max"``) replaces the sweep file's for the
    front and the plots; the plots of earlier renders of the same points stay (their names say
    their metrics), those of another sweep into the folder (other points) are removed.
    ``summary.json`` lists the plots (``plots``, each with its SHA-256) and the points they
    are of (``plan_digest``).

    Raises:
        HwsimError: no results yet, or no point is feasible (the tables are still written;
            the message says which constraint no point meets and how close the points come).
    """
    out = Path(out_dir)
    # Held while reading and writing: a sweep running into the folder would change the plan
    # and the records under the tables. Without a plan there is nothing to lock (and
    # `load_results` says what is missing).
    with folder_lock(out) if (out / PLAN_FILE).is_file() else nullcontext():
        return _render(out, objectives, figure_formats)


def _write_tables(out: Path, table: pd.DataFrame, objectives: Sequence[Objective]
                  ) -> tuple[list[Path], pd.DataFrame]:
    """``results.csv``, ``results.parquet`` and ``pareto.csv``, each renamed into place (a
    killed render leaves the earlier file, never half of one); returns them and the front."""
    front = table[table["pareto"]].sort_values([o.metric for o in objectives],
                                                ascending=[o.goal == "min" for o in objectives],
                                                kind="stable")  # ties stay in point order
    parquet = io.BytesIO()
    try:
        table.to_parquet(parquet, index=False)
    except ImportError:
        raise HwsimError("Parquet output needs pyarrow: pip install 'hwsim[sweep]'") from None
    files = write_outputs(out, {"results.csv": table, "results.parquet": parquet.getvalue(),
                                "pareto.csv": front})
    return files, front


def _render(out: Path, chosen: Sequence[str] | None, figure_formats: Sequence[str]
            ) -> SweepReport:
    plan, table = load_results(out, chosen)
    objectives = [Objective(**o) for o in plan["objectives"]]
    files, front = _write_tables(out, table, objectives)
    plan_id = digest(json.dumps(plan["points"]).encode())
    kept = _earlier_plots(out, plan_id)
    planned = len(plan["points"])
    missing = planned - len(table)
    failed = int(table["error"].notna().sum())
    heatmaps = [Heatmap(**h) for h in plan["heatmaps"]] or _auto_heatmaps(plan)
    stems = [*(f"pareto_{a.metric}__{b.metric}"
               for a, b in itertools.combinations(objectives, 2)),
             *(f"heatmap_{hm.metric}__{hm.y}__{hm.x}" for hm in heatmaps)]
    for stem in stems:  # this render's own plots: redrawn below, never left stale
        for stale in out.glob(f"{stem}.*"):
            if stale.suffix in _PLOT_SUFFIXES:
                stale.unlink()
    if len(table) == 0:
        raise HwsimError(f"{out}: none of the {planned} points has finished; rerun the sweep")
    if not table["feasible"].any():
        raise HwsimError(f"{out}: {_no_feasible_message(table, plan, out)}")
    for i, hm in enumerate(heatmaps):
        if _absent(table, hm.metric):  # an empty picture: refused, as an objective would be
            where = f"report.heatmaps[{i}]" if plan["heatmaps"] else "heatmap"
            raise HwsimError(f"{out}: {where}: no point has a value for {hm.metric}: "
                             f"{explain_absent(hm.metric, _config(out, table))}")

    fields = tuple(a["field"] for a in plan["axes"])
    constraints = [Constraint(**c) for c in plan["constraints"]]
    name = plan.get("name") or out.name
    for a, b in itertools.combinations(objectives, 2):
        path = out / f"pareto_{a.metric}__{b.metric}.png"
        files += _pareto_plot(table, a, b, path, title=f"sweep {name}: {a.metric} vs {b.metric}",
                              fields=fields, constraints=constraints, formats=figure_formats)
    goals = {**plan.get("metrics", {}), **{o.metric: o.goal for o in objectives}}
    # Each value once, in file order: a zipped axis may repeat one (iso-area shapes).
    axis_values = {a["field"]: list(dict.fromkeys(a["values"])) for a in plan["axes"]}
    for hm in heatmaps:
        path = out / f"heatmap_{hm.metric}__{hm.y}__{hm.x}.png"
        files += _heatmap(table, hm, goals.get(hm.metric, "min"), axis_values, path,
                          title=f"sweep {name}: {hm.metric}", constraints=constraints,
                          formats=figure_formats)
    report = SweepReport(table, front.reset_index(drop=True), tuple(files), planned, missing,
                         failed, fields, tuple(objectives))

    summary = sweep_summary(report, plan)
    drawn = {p.name: digest(p) for p in files[3:]}
    summary["plan_digest"] = plan_id
    summary["plots"] = {**{n: h for n, h in kept.items()
                           if n not in drawn and digest(out / n) == h}, **drawn}
    write_outputs(out, {"summary.json": json.dumps(summary, indent=2, sort_keys=True) + "\n"})

    html = write_html(out / "report.html", sweep_html(report, summary))
    return dataclasses.replace(report, files=(*report.files, out / "summary.json", html))
