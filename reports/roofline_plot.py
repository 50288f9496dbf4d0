"""Figures of a roofline analysis: the log-log roofline and the latency breakdown.

Figures use the shared style (`hwsim.reports.figure_style`): operator classes have the colours
they have in `hwsim run`'s figures, and files carry no date or version, so identical tables
give byte-identical PNG/PDF/SVG files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hwsim.reports.figure_style import new_figure, op_class_color, save_figure, style
from hwsim.reports.roofline_machine import Machine
from hwsim.reports.units import format_quantity

__all__ = ["latency_breakdown_figure", "plot_latency_breakdown", "plot_roofline",
           "roofline_figure"]

_MARKERS = {"prefill": "o", "decode": "^"}
# Decode points are drawn last and on top: they are fewer and would hide under prefill's.
_STAGE_Z = {"prefill": 3, "decode": 4}


def _eng(value: float, unit: str) -> str:
    """`value` to 3 significant digits with an SI prefix: 1.555e12 B/s -> ``1.56 TB/s``.

    Rounded before the prefix is picked, so 999.6e12 reads ``1 PFLOP/s``, not ``1000 T``;
    ``places=0`` rounded the mantissa itself (1.555 TB/s read ``2 TB/s``).
    """
    from matplotlib.ticker import EngFormatter

    return EngFormatter(unit=unit, sep=" ")(float(f"{value:.3g}"))


def _save(fig: Figure, path: Path, formats: Sequence[str]) -> Path:
    """Write the figure in every format; the path of the first (the PNG by default)."""
    return save_figure(fig, path, formats)[0]


def roofline_figure(table: pd.DataFrame, machine: Machine, title: str = "") -> Figure:
    """Log-log roofline: every operator of prefill and decode against the machine's roofs.

    x = arithmetic intensity (FLOP/byte), y = attained FLOP/s (FLOPs / roofline time).
    Operators without FLOPs (embedding lookup) cannot sit on a log axis and are left out
    of the points (they stay in the table). Roof labels sit at the left end of each roof,
    above every point, on a white box.
    """
    from matplotlib.ticker import EngFormatter

    pts = table[(table["flops"] > 0) & (table["bytes"] > 0)]
    with style():
        fig = new_figure(6.4, 4.4)
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
            ax.plot(x, np.minimum(bw * x, peak), "-" if i == 0 else "--",
                    color="0.3" if i == 0 else "0.6", lw=1.2, zorder=1)
            ax.annotate(f"{label}: {_eng(peak, 'FLOP/s')}", (x_hi, peak), xytext=(-2, 2),
                        textcoords="offset points", fontsize=7, ha="right", va="bottom",
                        color="0.25", zorder=6,
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                              "alpha": 0.8})
        ax.annotate(f"memory: {_eng(bw, 'B/s')}",
                    (x_lo * 1.5, bw * x_lo * 1.5), fontsize=7, color="0.25", rotation=0,
                    xytext=(4, 6), textcoords="offset points", zorder=6)
        for (stage, op_class), grp in pts.groupby(["stage", "op_class"], sort=True):
            st = str(stage)
            ax.scatter(grp["intensity"], grp["attainable_flops_per_s"],
                       s=34 if st == "prefill" else 26, marker=_MARKERS.get(st, "s"),
                       color=op_class_color(str(op_class)),
                       edgecolors="black" if st == "prefill" else "white",
                       linewidths=0.5, label=f"{st}: {op_class}", zorder=_STAGE_Z.get(st, 3),
                       alpha=0.85 if st == "prefill" else 1.0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(x_lo, x_hi)
        ax.yaxis.set_major_formatter(EngFormatter(unit="FLOP/s", sep=" "))
        ax.set_xlabel("arithmetic intensity (FLOP/byte)")
        ax.set_ylabel("attained performance")
        ax.set_title(title or f"roofline on {machine.name}")
        ax.grid(True, which="major")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                  title="stage: operator class")
    return fig


def plot_roofline(table: pd.DataFrame, machine: Machine, path: str | Path,
                  title: str = "", formats: Sequence[str] = ("png",)) -> Path:
    """`roofline_figure` written to `path` in each of `formats`."""
    return _save(roofline_figure(table, machine, title), Path(path), formats)


def latency_breakdown_figure(table: pd.DataFrame, title: str = "") -> Figure:
    """Stacked bars: each stage's time split by operator class, in percent of that stage.

    Stages differ by orders of magnitude, so bars show shares and the labels the stage time.
    """
    stages = [s for s in ("prefill", "decode") if s in set(table["stage"])]
    pivot = (table.pivot_table(index="stage", columns="op_class", values="time_s",
                               aggfunc="sum", fill_value=0.0).reindex(stages))
    classes = list(pivot.columns)
    totals = pivot.sum(axis=1).to_numpy()
    share = pivot.to_numpy() / np.where(totals > 0, totals, 1.0)[:, None] * 100.0
    labels = [f"{s}\n{format_quantity(t, 'time')}" for s, t in zip(stages, totals, strict=True)]
    with style():
        fig = new_figure(6.4, 1.5 + 0.6 * len(stages))
        ax = fig.add_subplot()
        left = np.zeros(len(stages))
        for j, cls in enumerate(classes):
            vals = share[:, j]
            ax.barh(labels, vals, left=left, color=op_class_color(str(cls)), edgecolor="white",
                    lw=0.5, label=cls)
            for i, (v, l0) in enumerate(zip(vals, left, strict=True)):
                if v >= 6:  # label only the slices wide enough to read
                    ax.text(l0 + v / 2, i, f"{v:.0f}%", ha="center", va="center", fontsize=7)
            left += vals
        ax.set_xlim(0, 100)
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        ax.set_xlabel("share of stage time (%)")
        ax.set_title(title or "latency by operator class")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                  title="operator class")
    return fig


def plot_latency_breakdown(table: pd.DataFrame, path: str | Path, title: str = "",
                           formats: Sequence[str] = ("png",)) -> Path:
    """`latency_breakdown_figure` written to `path` in each of `formats`."""
    return _save(latency_breakdown_figure(table, title), Path(path), formats)
