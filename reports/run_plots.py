"""Figures of `hwsim run`: latency by stage and operator class, energy shares by component,
and the designs normalized to a baseline.

Every figure names the workload in its title and each design with the weight format it ran;
times and energies are in units scaled to their magnitude. Built on the shared style
(`hwsim.reports.figure_style`): operator classes have the colours they have in the roofline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hwsim.reports.figure_style import new_figure, op_class_color, scale_axis, style
from hwsim.reports.units import format_number, format_quantity
from hwsim.sim.run import ENERGY_KEYS, RunResult, compare_results

__all__ = ["comparison_figure", "design_label", "energy_figure", "latency_figure"]

# Energy components: memory in blues, compute in orange/green, leakage grey.
_ENERGY_COLORS = {"pe": "#E69F00", "dequant": "#009E73", "sram_weight": "#0072B2",
                  "sram_activation": "#56B4E9", "sram_output": "#88CCEE", "dram": "#332288",
                  "leakage": "#999999"}
_ENERGY_NAMES = {"pe": "PE array", "dequant": "dequantize", "sram_weight": "SRAM weights",
                 "sram_activation": "SRAM activations", "sram_output": "SRAM outputs",
                 "dram": "DRAM", "leakage": "leakage"}


def design_label(result: RunResult, weights: dict[str, Any] | None) -> str:
    """``ant:ant4 (ant4, 4 b/w)``: a design and the weight format it ran."""
    if not weights or weights.get("format") is None:
        return result.hardware.name
    bits = format_number(weights["bits_per_weight"], 3)
    return f"{result.hardware.name} ({weights['format']}, {bits} b/w)"


def _labels(results: Sequence[RunResult], weights: Sequence[dict[str, Any] | None] | None
            ) -> list[str]:
    ws = list(weights) if weights is not None else [None] * len(results)
    return [design_label(r, w) for r, w in zip(results, ws, strict=True)]


def latency_figure(results: Sequence[RunResult], workload: str,
                   weights: Sequence[dict[str, Any] | None] | None = None) -> Any:
    """Horizontal stacked bars: each design's stages, split by operator class, total written
    at the end of each bar."""
    names = _labels(results, weights)
    rows: list[tuple[str, dict[str, float]]] = []
    for r, name in zip(results, names, strict=True):
        s_per_cycle = 1.0 / (r.hardware.clock_mhz * 1e6)
        for stage, grp in r.layers.groupby("stage", sort=False):
            by_class = grp.groupby("op_class")["cycles"].sum() * s_per_cycle
            rows.append((f"{name}\n{stage}", {str(k): float(v) for k, v in by_class.items()}))
    classes = sorted({c for _, parts in rows for c in parts})
    totals = [sum(parts.values()) for _, parts in rows]
    with style():
        fig = new_figure(6.4, 1.3 + 0.42 * len(rows))
        ax = fig.add_subplot()
        size = scale_axis(ax, "x", totals, "time", "latency")
        y = np.arange(len(rows))
        left = np.zeros(len(rows))
        for c in classes:
            vals = np.array([parts.get(c, 0.0) for _, parts in rows]) / size
            ax.barh(y, vals, left=left, color=op_class_color(c), edgecolor="white",
                    linewidth=0.4, label=c)
            left += vals
        for i, total in enumerate(totals):
            ax.text(left[i], i, f" {format_quantity(total, 'time')}", va="center", fontsize=7)
        ax.set_yticks(y, [label for label, _ in rows])
        ax.invert_yaxis()
        ax.set_xlim(0, max(left.max(), 1e-12) * 1.18)
        ax.grid(axis="y", visible=False)
        ax.legend(title="operator class", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  frameon=False)
        ax.set_title(f"{workload}: latency by stage and operator class")
    return fig


def energy_figure(results: Sequence[RunResult], workload: str,
                  weights: Sequence[dict[str, Any] | None] | None = None) -> Any:
    """Each design's energy as shares of its components (a 100% bar, so a 90% DRAM share
    leaves the rest readable), the total written beside each bar. A design whose energy is
    not modelled (a measured FPGA point) says so in its row."""
    names = _labels(results, weights)
    with style():
        fig = new_figure(6.4, 1.4 + 0.42 * len(results))
        ax = fig.add_subplot()
        y = np.arange(len(results))
        left = np.zeros(len(results))
        totals = np.array([r.energy_uj for r in results])
        drawn = set()
        for key in ENERGY_KEYS:
            vals = np.array([r.energy_breakdown_uj[key] for r in results])
            share = np.divide(100 * vals, totals, out=np.zeros_like(vals), where=totals > 0)
            if not share.any():
                continue
            drawn.add(key)
            ax.barh(y, share, left=left, color=_ENERGY_COLORS[key], edgecolor="white",
                    linewidth=0.4, label=_ENERGY_NAMES[key])
            for i, (v, l0) in enumerate(zip(share, left, strict=True)):
                if v >= 6:  # label only the slices wide enough to read
                    dark = key in ("dram", "sram_weight")
                    ax.text(l0 + v / 2, i, f"{v:.0f}%", ha="center", va="center", fontsize=7,
                            color="white" if dark else "black")
            left += share
        for i, r in enumerate(results):
            if totals[i] > 0:
                per_token = r.energy_per_token_uj
                text = (f" {format_quantity(per_token * 1e-6, 'energy')}/token"
                        if per_token else f" {format_quantity(totals[i] * 1e-6, 'energy')}")
                ax.text(100, i, text, va="center", fontsize=7)
            else:
                ax.text(50, i, "energy not modelled for this design", ha="center",
                        va="center", fontsize=7, color="0.3")
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("share of the design's energy (%)")
        ax.grid(axis="y", visible=False)
        if drawn:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28 - 0.1 / len(results)),
                      ncol=4, frameon=False)
        ax.set_title(f"{workload}: energy by component", pad=4)
    return fig


def comparison_figure(results: Sequence[RunResult], baseline: int, workload: str,
                      weights: Sequence[dict[str, Any] | None] | None = None) -> Any:
    """Speedup and energy efficiency of every design over the baseline, values on the bars."""
    table = compare_results(results, baseline)
    names = _labels(results, weights)
    with style():
        fig = new_figure(max(5.0, 1.3 * len(results) + 2.0), 3.6)
        ax = fig.add_subplot()
        xs = np.arange(len(table))
        width = 0.38
        for offset, col, label, color in ((-width / 2, "speedup", "speedup", "#0072B2"),
                                          (width / 2, "energy_efficiency",
                                           "energy efficiency", "#E69F00")):
            bars = ax.bar(xs + offset, table[col], width, label=label, color=color)
            ax.bar_label(bars, labels=[f"{format_number(v, 3)}x" for v in table[col]],
                         fontsize=7, padding=1)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(xs, [n.replace(" (", "\n(") for n in names], fontsize=7)
        ax.set_ylabel(f"x over {results[baseline].hardware.name} (higher is better)")
        ax.set_ylim(0, float(np.nanmax(table[["speedup", "energy_efficiency"]].to_numpy()))
                    * 1.18)
        ax.grid(axis="x", visible=False)
        ax.legend(loc="upper left")
        ax.set_title(f"{workload}: designs normalized to {results[baseline].hardware.name}")
    return fig
