"""Figures of a roofline analysis: the log-log roofline and the latency breakdown.

Figures are drawn on `matplotlib.figure.Figure` with the Agg canvas (no pyplot state, no
backend switch), and saved without the version metadata, so identical tables give
byte-identical PNGs.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hwsim.reports.roofline_machine import Machine

__all__ = ["plot_latency_breakdown", "plot_roofline"]

_PNG_METADATA = {"Software": None}  # no matplotlib version in the file: reproducible bytes
_MARKERS = {"prefill": "o", "decode": "^"}


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=150, metadata=_PNG_METADATA)
    return path


# Fixed class order: the same class has the same colour in every figure.
_CLASS_ORDER = ("attention", "attn_proj", "embed", "ffn", "lm_head", "norm", "residual",
                "router", "gemm")


def _class_colors(classes: list[str]) -> dict[str, object]:
    cmap = matplotlib.colormaps["tab10"]
    extra = sorted(c for c in classes if c not in _CLASS_ORDER)
    order = list(_CLASS_ORDER) + extra
    return {c: cmap(order.index(c) % 10) for c in classes}


def plot_roofline(table: pd.DataFrame, machine: Machine, path: str | Path,
                  title: str = "") -> Path:
    """Log-log roofline: every operator of prefill and decode against the machine's roofs.

    x = arithmetic intensity (FLOP/byte), y = attained FLOP/s (FLOPs / roofline time).
    Operators without FLOPs (embedding lookup) cannot sit on a log axis and are left out
    of the points (they stay in the table).
    """
    pts = table[(table["flops"] > 0) & (table["bytes"] > 0)]
    fig = Figure(figsize=(7.5, 5.0))
    ax = fig.add_subplot()
    x_lo = max(min(pts["intensity"].min(), 1.0) / 4, 1e-3) if len(pts) else 1e-2
    x_hi = max(pts["intensity"].max(), 1e3) * 4 if len(pts) else 1e4
    x = np.geomspace(x_lo, x_hi, 256)
    bw = machine.memory_bw_bytes_per_s
    labels: dict[float, list[str]] = {}
    for p in machine.peaks:
        labels.setdefault(p.flops_per_s, []).append(f"{p.a_bits:g}x{p.b_bits:g}-bit")
    labels.setdefault(machine.vector_flops_per_s, []).append("vector")
    roofs = [(peak, ", ".join(names)) for peak, names in sorted(labels.items(), reverse=True)]
    for i, (peak, label) in enumerate(roofs):
        style = "-" if i == 0 else "--"
        ax.plot(x, np.minimum(bw * x, peak), style, color="0.3" if i == 0 else "0.6", lw=1.2)
        ax.annotate(f"{label}: {peak / 1e12:g} TFLOP/s", (x_hi, peak), fontsize=7,
                    ha="right", va="bottom", color="0.3")
    classes = sorted(pts["op_class"].unique())
    colors = _class_colors(classes)
    for (stage, op_class), grp in pts.groupby(["stage", "op_class"], sort=True):
        ax.scatter(grp["intensity"], grp["attainable_flops_per_s"], s=28,
                   marker=_MARKERS.get(str(stage), "s"), color=colors[str(op_class)],
                   edgecolors="black", linewidths=0.4, label=f"{stage}: {op_class}", zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x_lo, x_hi)
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("attained performance (FLOP/s)")
    ax.set_title(title or f"roofline on {machine.name} ({bw / 1e9:g} GB/s)", fontsize=10)
    ax.grid(True, which="major", lw=0.3, alpha=0.5)
    ax.legend(fontsize=6, loc="lower right", ncol=2, framealpha=0.8)
    fig.tight_layout()
    return _save(fig, Path(path))


def _fmt_time(t: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t / 1e-9:.3g} ns"


def plot_latency_breakdown(table: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Stacked bars: each stage's time split by operator class, in percent of that stage.

    Stages differ by orders of magnitude, so bars show shares and the labels the stage time.
    """
    stages = [s for s in ("prefill", "decode") if s in set(table["stage"])]
    pivot = (table.pivot_table(index="stage", columns="op_class", values="time_s",
                               aggfunc="sum", fill_value=0.0).reindex(stages))
    classes = sorted(pivot.columns)
    colors = _class_colors(classes)
    totals = pivot.sum(axis=1).to_numpy()
    share = pivot.to_numpy() / np.where(totals > 0, totals, 1.0)[:, None] * 100.0
    labels = [f"{s}\n{_fmt_time(t)}" for s, t in zip(stages, totals, strict=True)]
    fig = Figure(figsize=(7.5, 1.3 + 0.8 * len(stages)))
    ax = fig.add_subplot()
    left = np.zeros(len(stages))
    for j, cls in enumerate(pivot.columns):
        vals = share[:, j]
        ax.barh(labels, vals, left=left, color=colors[cls], edgecolor="white", lw=0.5,
                label=cls)
        for i, (v, l0) in enumerate(zip(vals, left, strict=True)):
            if v >= 6:  # label only the slices wide enough to read
                ax.text(l0 + v / 2, i, f"{v:.0f}%", ha="center", va="center", fontsize=7)
        left += vals
    ax.set_xlim(0, 100)
    ax.invert_yaxis()
    ax.set_xlabel("share of stage time (%)")
    ax.set_title(title or "latency by operator class", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25),
              ncol=min(len(classes), 5), frameon=False)
    fig.tight_layout()
    return _save(fig, Path(path))
