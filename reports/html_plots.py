"""Interactive plots of the HTML reports (Bokeh): hover shows a point's name and values.

The colours are those of the static figures (`hwsim.reports.figure_style`): an operator class
or a design looks the same in the PNG and in the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hwsim.reports.figure_style import categorical_styles, op_class_color
from hwsim.reports.units import format_number

__all__ = ["bar_plot", "roofline_plot", "scatter_plot"]

_TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
_MARKERS = {"o": "circle", "s": "square", "^": "triangle", "D": "diamond",
            "v": "inverted_triangle", "P": "plus", "X": "x", "<": "triangle", ">": "triangle",
            "h": "hex", "*": "star", "p": "hex"}


def _figure(title: str, x_label: str, y_label: str, **kwargs: Any) -> Any:
    from bokeh.plotting import figure

    fig = figure(title=title, width=820, height=430, tools=_TOOLS, toolbar_location="right",
                 **kwargs)
    fig.xaxis.axis_label = x_label
    fig.yaxis.axis_label = y_label
    return fig


def _source(frame: pd.DataFrame, hover: dict[str, str]) -> Any:
    from bokeh.models import ColumnDataSource

    data = {}
    for col in frame.columns:
        values = frame[col]
        if values.dtype == object:
            data[col] = [str(v) for v in values]
        else:
            data[col] = values.to_numpy()
    # Tooltip columns as text written once in Python, so the page shows the same digits.

    for label, col in hover.items():
        key = f"hover_{label}"
        data[key] = [v if isinstance(v, str) else format_number(v) for v in frame[col]]
    return ColumnDataSource(data)


def scatter_plot(frame: pd.DataFrame, x: str, y: str, *, title: str, x_label: str,
                 y_label: str, group: str | None = None, hover: dict[str, str] | None = None,
                 log_x: bool = False, log_y: bool = False,
                 colors: dict[Any, str] | None = None) -> Any:
    """Points of `frame` (x, y in the units of the labels), one legend entry per `group`
    value; hovering a point shows the `hover` columns (``{label: column}``)."""
    from bokeh.models import HoverTool

    hover = hover or {}
    fig = _figure(title, x_label, y_label, x_axis_type="log" if log_x else "linear",
                  y_axis_type="log" if log_y else "linear")
    groups = [None] if group is None else list(dict.fromkeys(frame[group]))
    styles = categorical_styles(groups)
    renderers = []
    for g in groups:
        part = frame if g is None else frame[frame[group] == g]
        color, marker = styles[g]
        if colors is not None and g in colors:
            color = colors[g]
        src = _source(part, hover)
        kwargs = {"legend_label": str(g)} if g is not None else {}
        renderers.append(fig.scatter(x, y, source=src, size=9, color=color, alpha=0.85,
                                     line_color="black", line_width=0.4,
                                     marker=_MARKERS.get(marker, "circle"), **kwargs))
    fig.add_tools(HoverTool(renderers=renderers,
                            tooltips=[(k, f"@{{hover_{k}}}") for k in hover]))
    if group is not None:
        fig.legend.click_policy = "hide"
        fig.legend.location = "top_left"
        fig.add_layout(fig.legend[0], "right")
    return fig


def bar_plot(labels: Sequence[str], values: Sequence[float], *, title: str, y_label: str,
             colors: Sequence[str] | None = None, hover: dict[str, Sequence[Any]] | None = None,
             legend: Sequence[str] | None = None) -> Any:
    """Vertical bars with hover text (``{label: values}``); `legend` names each bar's group."""
    from bokeh.models import ColumnDataSource, HoverTool


    fig = _figure(title, "", y_label, x_range=list(labels))
    data: dict[str, Any] = {"x": list(labels), "top": list(values),
                            "color": list(colors or ["#0072B2"] * len(labels))}
    tips = []
    for i, (label, vals) in enumerate((hover or {}).items()):
        data[f"h{i}"] = [v if isinstance(v, str) else format_number(v) for v in vals]
        tips.append((label, f"@h{i}"))
    if legend is not None:
        data["group"] = list(legend)
    src = ColumnDataSource(data)
    kwargs = {"legend_field": "group"} if legend is not None else {}
    bars = fig.vbar(x="x", top="top", width=0.8, color="color", source=src, **kwargs)
    fig.add_tools(HoverTool(renderers=[bars], tooltips=tips or [("value", "@top")]))
    fig.xaxis.major_label_orientation = 0.9
    fig.xgrid.grid_line_color = None
    if legend is not None:
        fig.add_layout(fig.legend[0], "right")
    return fig


def roofline_plot(table: pd.DataFrame, machine: Any, title: str) -> Any:
    """Log-log roofline with each operator a point (hover: operator, stage, bound, time)."""
    from bokeh.models import HoverTool

    pts = table[(table["flops"] > 0) & (table["bytes"] > 0)].copy()
    fig = _figure(title, "arithmetic intensity (FLOP/byte)", "attained performance (TFLOP/s)",
                  x_axis_type="log", y_axis_type="log")
    x_lo = max(min(pts["intensity"].min(), 1.0) / 4, 1e-3) if len(pts) else 1e-2
    x_hi = max(pts["intensity"].max(), 1e3) * 4 if len(pts) else 1e4
    xs = np.geomspace(x_lo, x_hi, 128)
    bw = machine.memory_bw_bytes_per_s
    peaks = sorted({p.flops_per_s for p in machine.peaks} | {machine.vector_flops_per_s},
                   reverse=True)
    for i, peak in enumerate(peaks):
        fig.line(xs, np.minimum(bw * xs, peak) / 1e12, color="#444444" if i == 0 else "#999999",
                 line_dash="solid" if i == 0 else "dashed", line_width=1.2)
    pts["tflops"] = pts["attainable_flops_per_s"] / 1e12
    pts["time_ms"] = pts["time_s"] * 1e3
    renderers = []
    for stage, marker in (("prefill", "circle"), ("decode", "triangle")):
        part = pts[pts["stage"] == stage]
        for op_class, grp in part.groupby("op_class", sort=True):
            src = _source(grp, {"operator": "op", "stage": "stage", "class": "op_class",
                                "bound": "bound", "FLOP/byte": "intensity",
                                "TFLOP/s": "tflops", "time (ms)": "time_ms"})
            renderers.append(fig.scatter(
                "intensity", "tflops", source=src, size=10 if stage == "prefill" else 8,
                marker=marker, color=op_class_color(str(op_class)), line_color="black",
                line_width=0.4, alpha=0.85, legend_label=f"{stage}: {op_class}"))
    fig.add_tools(HoverTool(renderers=renderers, tooltips=[
        (k, f"@{{hover_{k}}}") for k in ("operator", "stage", "class", "bound", "FLOP/byte",
                                          "TFLOP/s", "time (ms)")]))
    fig.legend.click_policy = "hide"
    fig.add_layout(fig.legend[0], "right")
    return fig
