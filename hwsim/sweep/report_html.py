"""A sweep's ``summary.json`` and interactive ``report.html``, from its rendered report.

The summary lists the Pareto points with their axis values (what a reader needs to build the
winning design) and their objective values; the page shows them, a scatter of every finished
point whose hover gives the point's axis values, and the sortable tables.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from hwsim.reports.html_plots import scatter_plot
from hwsim.reports.html_report import HtmlTable, render_html, summary_item

if TYPE_CHECKING:
    from hwsim.sweep.report import SweepReport

__all__ = ["sweep_html", "sweep_summary"]

_MAX_TABLE_ROWS = 2000  # the results table stays in the page up to this many points


def _json(v: Any) -> Any:
    if hasattr(v, "item") and not isinstance(v, str):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def sweep_summary(report: SweepReport, plan: dict[str, Any]) -> dict[str, Any]:
    """Counts, objectives, axes and the Pareto points (axis values and objective values)."""
    metrics = [o.metric for o in report.objectives]
    front = [{"point": _json(row["point"]),
              "axes": {f: _json(row[f]) for f in report.fields},
              "objectives": {m: _json(row[m]) for m in metrics}}
             for _, row in report.front.iterrows()]
    return {
        "name": plan.get("name", ""),
        "planned": report.planned,
        "finished": len(report.table),
        "failed": report.failed,
        "missing": report.missing,
        "feasible": int(report.table["feasible"].sum()),
        "axes": list(report.fields),
        "objectives": [{"metric": o.metric, "goal": o.goal} for o in report.objectives],
        "front": front,
    }


def sweep_html(report: SweepReport, summary: dict[str, Any]) -> str:
    """The page: counts, each Pareto point's axis and objective values, a hoverable scatter
    of the first two objectives, the front and (up to 2000 points) the results tables."""
    # cycle: hwsim.sweep.report -> hwsim.sweep.report_html
    from hwsim.sweep.report import metric_label

    items = [summary_item(summary, label, key) for label, key in (
        ("points planned", "planned"), ("points finished", "finished"),
        ("points failed", "failed"), ("feasible points", "feasible"))]
    for i, point in enumerate(summary["front"][:20]):
        column = f"Pareto point {point['point']}"
        for f in report.fields:
            items.append(summary_item(summary, f, f"front.{i}.axes.{f}", column=column))
        for m in point["objectives"]:
            items.append(summary_item(summary, m, f"front.{i}.objectives.{m}", column=column))
    counts = [it for it in items[:4] if it is not None]
    front_items = [it for it in items[4:] if it is not None]
    table = report.table
    ok = table[table["error"].isna()].copy()
    ok["status"] = ["Pareto" if p else ("feasible" if f else "violates a constraint")
                    for p, f in zip(ok["pareto"], ok["feasible"], strict=True)]
    builders = []
    objectives = list(report.objectives)
    if len(objectives) >= 2:
        a, b = objectives[0], objectives[1]
        hover = {"point": "point", **{f: f for f in report.fields},
                 a.metric: a.metric, b.metric: b.metric}

        def plot() -> Any:
            return scatter_plot(ok.dropna(subset=[a.metric, b.metric]), a.metric, b.metric,
                                title=f"sweep {summary['name']}: {a.metric} vs {b.metric}",
                                x_label=metric_label(a.metric, a.goal),
                                y_label=metric_label(b.metric, b.goal), group="status",
                                hover=hover,
                                colors={"Pareto": "#D55E00", "feasible": "#0072B2",
                                        "violates a constraint": "#999999"})

        builders.append(plot)
    shown = ["point", *report.fields, *(o.metric for o in objectives)]
    tables = [HtmlTable.from_frame("Pareto front (click a header to sort)", report.front,
                                   {c: c for c in shown})]
    if len(table) <= _MAX_TABLE_ROWS:
        cols = [c for c in table.columns if c not in ("key",)]
        tables.append(HtmlTable.from_frame("Every finished point", table, {c: c for c in cols}))
    return render_html(f"hwsim sweep: {summary['name']}",
                       f"{summary['finished']} of {summary['planned']} points finished",
                       [*counts, *front_items], builders, tables)
