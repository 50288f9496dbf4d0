"""The `hwsim tradeoff` report: ``summary.json`` (its Pareto pairings) and ``report.html``.

The table itself (`hwsim.reports.fidelity_cost.tradeoff_table`) is ``tradeoff.csv``; the
summary names what was compared (fidelity model and measure, costed workload, designs) and
lists the (format, design) pairings on the Pareto front of fidelity against the cost axis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from hwsim.reports.fidelity_plots import comparable, pareto_front
from hwsim.reports.html_plots import scatter_plot
from hwsim.reports.html_report import HtmlTable, render_html, summary_item
from hwsim.reports.units import pick_unit

__all__ = ["not_costed_lines", "tradeoff_html", "tradeoff_summary"]

_COST_KIND = {"energy_uj": ("energy", 1e-6), "latency_ms": ("time", 1e-3)}


def _json_value(v: Any) -> Any:
    """JSON has no infinity: a Pareto pairing's infinite fidelity (a mean SQNR over layers
    one of which is exact) is written "inf", not a null that reads as unknown."""
    if hasattr(v, "item") and not isinstance(v, str):
        v = v.item()
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def not_costed_lines(not_costed: Mapping[str, Mapping[str, str]]) -> list[str]:
    """One line per reason a (format, design) pair was not costed, naming its formats
    (``nf4, ant4: not costed: bitmod (bitmod PE) cannot run it``), in design then format
    order: the terminal's and the page's notes."""
    by_reason: dict[str, list[str]] = {}
    for formats in not_costed.values():
        for fmt, reason in formats.items():
            names = by_reason.setdefault(reason, [])
            if fmt not in names:  # a reason shared by designs (the workload's) names it once
                names.append(fmt)
    return [f"{', '.join(names)}: not costed: {reason}" for reason, names in by_reason.items()]


def tradeoff_summary(table: pd.DataFrame, x: str, y: str, *, y_higher_is_better: bool,
                     fidelity_model: str, fidelity_label: str,
                     not_costed: Mapping[str, Mapping[str, str]] | None = None
                     ) -> dict[str, Any]:
    """What was compared, and the Pareto pairings (format, design, bits, fidelity, cost).

    `not_costed` (`hwsim.reports.fidelity_cost.DesignCosts.not_costed`): every design given,
    with ``{format: reason}`` for each format it has no cost for; the summary's ``designs``
    are then all of them (a design that costed nothing too) and ``not_costed`` says why.
    """
    ok = comparable(table[x].astype(float), table[y].astype(float),
                    y_higher_is_better=y_higher_is_better)
    t = table[ok].reset_index(drop=True)
    front = pareto_front(t[x].to_numpy(), t[y].to_numpy(), y_higher_is_better=y_higher_is_better)
    keep = [c for c in ("format", "hardware", "bits_per_weight", y, "latency_ms", "energy_uj")
            if c in t]
    rows = t[front].sort_values(x, kind="stable")[list(dict.fromkeys(keep))]
    out: dict[str, Any] = {
        "fidelity_model": fidelity_model,
        "fidelity_metric": y,
        "fidelity_label": fidelity_label,
        "higher_is_better": y_higher_is_better,
        "cost_axis": x,
        "pairings": len(t),
        "pareto": [{k: _json_value(v) for k, v in rec.items()}
                   for rec in rows.to_dict(orient="records")],
    }
    if "workload" in table and table["workload"].notna().any():
        out["workload"] = str(table["workload"].dropna().iloc[0])
        out["model"] = str(table["model"].dropna().iloc[0]) if "model" in table else ""
        out["designs"] = [d for d in dict.fromkeys(table["hardware"].dropna()) if d]
    if not_costed is not None:
        out["designs"] = list(not_costed)
        out["not_costed"] = {d: dict(formats) for d, formats in not_costed.items()}
    return out


def tradeoff_html(table: pd.DataFrame, summary: dict[str, Any], x_label: str,
                  y_label: str) -> str:
    """The page: what was compared, the Pareto pairings, a hoverable scatter of every
    pairing, the sortable table (with each row's ``cost_note``) and a line per reason a
    (format, design) pair was not costed (`not_costed_lines` of the summary's)."""

    x, y = summary["cost_axis"], summary["fidelity_metric"]
    items = [summary_item(summary, "fidelity model", "fidelity_model"),
             summary_item(summary, "costed workload", "workload"),
             summary_item(summary, "pairings costed", "pairings")]
    kind, to_si = _COST_KIND.get(x, (None, 1.0))
    for i, row in enumerate(summary["pareto"]):
        name = f"{row['format']}" + (f" on {row['hardware']}" if row.get("hardware") else "")
        items.append(summary_item(summary, f"Pareto: {name}: {y_label}", f"pareto.{i}.{y}"))
        items.append(summary_item(summary, f"Pareto: {name}: cost", f"pareto.{i}.{x}", kind,
                                  to_si))
    # The page's scatter has no place for an infinite fidelity: it shows the finite points,
    # the summary items above name every Pareto pairing (an infinite one as "inf").
    frame = table[np.isfinite(table[x].astype(float)) & np.isfinite(table[y].astype(float))]
    frame = frame.assign(design=frame["hardware"].fillna("-") if "hardware" in frame else "-")
    scale = 1.0
    unit_label = x_label
    if kind is not None:
        name, size = pick_unit(frame[x] * to_si, kind)
        scale = to_si / size
        unit_label = f"{x_label} ({name})"
    frame = frame.assign(cost=frame[x] * scale)
    hover = {"format": "format", "design": "design", "bits/w": "bits_per_weight",
             y_label: y, unit_label: "cost"}

    def plot() -> Any:
        return scatter_plot(frame, "cost", y, title=f"{y_label} vs {x_label}",
                            x_label=unit_label, y_label=y_label, group="design", hover=hover)

    # cost_note is the only "why" of a row without a cost (a "-" otherwise unexplained).
    t = HtmlTable.from_frame("Every format and design (click a header to sort)",
                             table.fillna({"cost_note": ""}) if "cost_note" in table else table)
    return render_html(f"hwsim tradeoff: {summary['fidelity_model']}",
                       "fidelity of each format against its simulated cost on each design",
                       [it for it in items if it is not None], [plot] if len(frame) else [],
                       [t],
                       notes=not_costed_lines(summary.get("not_costed", {})))
