"""Figures of the fidelity reports: SQNR per layer, weight histograms under a format's grid,
and the accuracy-vs-cost Pareto plot.

Figures are built on `matplotlib.figure.Figure` with the Agg canvas (no pyplot global state)
and returned as PNG bytes, so the caller decides when and where they are written. PNGs carry
no timestamp, so identical inputs give identical files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hwsim.dtypes import get_format, quantize
from hwsim.reports.fidelity_e2e import REFERENCE
from hwsim.reports.figure_style import (
    categorical_styles,
    figure_bytes,
    format_style,
    new_figure,
    scale_axis,
    style,
)

__all__ = ["comparable", "fidelity_figure", "histogram_png", "pareto_figure", "pareto_front",
           "pareto_png", "per_element_scale", "short_label", "sqnr_png"]


def short_label(layer: str, role: str, block: Any) -> str:
    """``3.ffn_down`` for ``model.layers.3.mlp.down_proj``: block and role, the same across
    naming schemes (BERT's many ``dense`` modules stay distinct); ``lm_head``/others by name."""
    if block is None or pd.isna(block):
        return "lm_head" if role == "lm_head" else ".".join(layer.split(".")[-2:])
    return f"{int(block)}.{role if role != 'other' else layer.split('.')[-1]}"


def sqnr_png(layers: pd.DataFrame, title: str = "") -> bytes:
    """SQNR (dB) of every layer, one line per format, layers in model order.

    Each format has its family's colour and marker (`hwsim.reports.figure_style`), so ant4 and
    dint4, olive4 and bipolar4 stay apart; the legend sits outside the axes, over no point.

    Args:
        layers: the table of `hwsim.reports.fidelity.layer_fidelity`.
        title: figure title (e.g. the checkpoint's name).
    """

    first = layers.drop_duplicates("layer")
    order = list(first["layer"])
    labels = [short_label(n, r, b) for n, r, b in
              zip(first["layer"], first["role"], first["block"], strict=True)]
    x = np.arange(len(order))
    with style():
        fig = new_figure(max(6.0, 0.22 * len(order) + 2.8), 4.2)
        ax = fig.add_subplot()
        for fmt, g in layers.groupby("format", sort=False):
            y = g.set_index("layer").loc[order, "sqnr_db"].to_numpy()
            color, marker = format_style(str(fmt))
            ax.plot(x, y, marker=marker, markersize=3.5, linewidth=1.1, label=str(fmt),
                    color=color)
        step = max(1, len(order) // 60)  # keep tick labels readable on deep models
        ax.set_xticks(x[::step], labels[::step], rotation=90, fontsize=7)
        ax.set_ylabel("weight SQNR (dB)")
        ax.set_xlabel("layer (block.role)")
        ax.legend(title="format", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.set_title(title or "Weight SQNR per layer")
    return figure_bytes(fig)


def per_element_scale(scales: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Broadcast per-(row, group) scales of a quantize result to every element.

    A scale array of one value covers the tensor; otherwise it has one column per group of
    ``ceil(in_features / groups)`` elements (the last group may be short).
    """
    rows, k = shape
    s = np.asarray(scales, dtype=np.float64)
    if s.size == 1:
        return np.full(shape, float(s.ravel()[0]))
    s = s.reshape(rows, -1)
    g = -(-k // s.shape[1])
    return np.repeat(s, g, axis=1)[:, :k]


def histogram_png(w: np.ndarray, layer: str, formats: Sequence[str],
                  group_size: int | None = None) -> bytes:
    """Histogram of one layer's weights in each format's units, with its value grid on top.

    Each weight is divided by its group's scale (and shifted by the zero point of an
    asymmetric format), so the grid values of the format are where weights land exactly;
    mass between lines is rounding error, mass beyond the outer lines is clipped. Mixtures
    draw the union of their types' values. Unscaled formats (fp16, ...) show raw weights.
    """


    cols = min(4, len(formats))
    rows = -(-len(formats) // cols)
    with style():
        fig = new_figure(3.4 * cols, 2.8 * rows)
        _histogram_panels(fig, w, formats, group_size, rows, cols)
        fig.suptitle(f"{layer}: weights and format grids")
    return figure_bytes(fig)


def _histogram_panels(fig: Any, w: np.ndarray, formats: Sequence[str],
                      group_size: int | None, rows: int, cols: int) -> None:

    for i, name in enumerate(formats):
        ax = fig.add_subplot(rows, cols, i + 1)
        fmt = get_format(name)
        scaled = fmt.scheme != "cast"  # fp32/fp16/bf16 are plain casts without a grid
        if scaled:
            r = quantize(w, name, group_size=group_size)
            u = w / np.where(s := per_element_scale(r.scales, w.shape), s, 1.0)
            if r.zero_points is not None:
                u = u + per_element_scale(r.zero_points, w.shape)
            grid = np.asarray(fmt.values, dtype=np.float64)
            lo, hi = grid.min(), grid.max()
            span = hi - lo
            u = u[(u >= lo - 0.1 * span) & (u <= hi + 0.1 * span)]
        else:
            u = w.ravel()
        # The panel spans where the weights are (not the outermost grid values, which
        # squashed the ant4/olive4 panels); grid values beyond it are named in the title.
        lo_q, hi_q = np.quantile(u.ravel(), [0.0005, 0.9995]) if u.size else (-1.0, 1.0)
        # A constant layer has no spread: pad by a thousandth of its magnitude instead (an
        # absolute floor cut 200 bins finer than float64 resolves near 7, and np.histogram
        # refused them).
        floor = 1e-3 * max(abs(lo_q), abs(hi_q)) or 1.0
        pad = 0.08 * max(hi_q - lo_q, floor)
        left, right = lo_q - pad, hi_q + pad
        if scaled:
            inside = grid[(grid >= left) & (grid <= right)]
            left, right = min(left, inside.min(initial=left)), max(right, inside.max(initial=right))
        u = u[(u >= left) & (u <= right)]
        # np.histogram + stairs: one artist instead of one rectangle per bin.
        counts, edges = np.histogram(u.ravel(), bins=200, range=(left, right))
        ax.stairs(counts, edges, fill=True, color="#0072B2", alpha=0.75)
        title = name
        if scaled:
            shown = grid[(grid >= left) & (grid <= right)]
            ax.vlines(shown, 0.8, max(1, counts.max()), color="#D55E00", linewidth=0.6,
                      alpha=0.8)
            if len(shown) < len(grid):
                title += f" (grid reaches {grid.min():g} .. {grid.max():g})"
        ax.set_xlim(left, right)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("weight / group scale" if scaled else "weight", fontsize=7)
        ax.set_ylabel("weights per bin", fontsize=7)
        ax.tick_params(labelsize=7)


def comparable(x: np.ndarray, y: np.ndarray, *, y_higher_is_better: bool = True) -> np.ndarray:
    """Mask of the points a Pareto front compares: a finite cost `x` and a fidelity `y` that
    is a number, infinite only at the good end (a mean SQNR over layers one of which is
    quantized exactly is +inf dB, the best there is; a perplexity of inf is a destroyed model,
    not a trade-off)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    bad_end = -np.inf if y_higher_is_better else np.inf
    return np.isfinite(x) & ~np.isnan(y) & (y != bad_end)


def pareto_front(x: np.ndarray, y: np.ndarray, *, y_higher_is_better: bool = True) -> np.ndarray:
    """Mask of the `comparable` points no other point beats: lower or equal `x` and better or
    equal `y`, strictly better in one.

    Vectorized over all pairs (a handful of formats, so the O(n^2) table is tiny).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = comparable(x, y, y_higher_is_better=y_higher_is_better)
    yy = y if y_higher_is_better else -y
    no_worse = (x[None, :] <= x[:, None]) & (yy[None, :] >= yy[:, None]) & ok[None, :]
    better = (x[None, :] < x[:, None]) | (yy[None, :] > yy[:, None])
    dominated = (no_worse & better).any(axis=1)
    return ~dominated & ok


# Cost columns of the tradeoff table: (quantity kind, factor to base SI units).
_COST_UNITS = {"energy_uj": ("energy", 1e-6), "latency_ms": ("time", 1e-3)}


def pareto_figure(table: pd.DataFrame, x: str, y: str, *, x_label: str, y_label: str,
                  y_higher_is_better: bool = True, title: str = "") -> Any:
    """Scatter of fidelity `y` against cost `x`, one labelled point per (format, design)
    pairing, coloured and marked by design (the legend), the Pareto front over all pairings
    joined by a line. Energy and latency axes are scaled to their magnitude."""

    t = table[comparable(table[x].astype(float), table[y].astype(float),
                         y_higher_is_better=y_higher_is_better)].reset_index(drop=True)
    front = pareto_front(t[x].to_numpy(), t[y].to_numpy(), y_higher_is_better=y_higher_is_better)
    # An infinite fidelity (a mean SQNR with an exactly quantized layer) has no place on the
    # axis: drawn past the best finite value and labelled "(∞)".
    ys, infinite = _placed_fidelity(t[y].to_numpy(dtype=np.float64), y_higher_is_better)
    with style():
        fig = new_figure(6.0, 4.2)
        ax = fig.add_subplot()
        xs = t[x].to_numpy(dtype=np.float64)
        if x in _COST_UNITS:
            kind, to_si = _COST_UNITS[x]

            xs = xs * to_si / scale_axis(ax, "x", xs * to_si, kind, x_label)
        else:
            ax.set_xlabel(x_label)
        designs = (t["hardware"].fillna("").astype(str) if "hardware" in t
                   else pd.Series([""] * len(t)))
        styles = categorical_styles(designs)
        for design, (color, marker) in styles.items():
            sel = (designs == design).to_numpy()
            ax.scatter(xs[sel], ys[sel], color=color, marker=marker, s=36, zorder=3,
                       edgecolors="black", linewidths=0.4,
                       label=f"on {design}" if design else "formats")
        # Labels alternate above and below along x, so neighbouring points stay readable.
        order = np.lexsort((ys, xs))
        for rank, i in enumerate(order):
            ax.annotate(str(t.loc[i, "format"]) + (" (∞)" if infinite[i] else ""), (xs[i], ys[i]),
                        textcoords="offset points", xytext=(4, 5 if rank % 2 == 0 else -11),
                        fontsize=7)
        f = np.flatnonzero(front)
        f = f[np.argsort(xs[f], kind="stable")]
        ax.plot(xs[f], ys[f], color="#D55E00", linewidth=1.0, zorder=2,
                label="Pareto front")
        ax.set_ylabel(y_label + ("" if y_higher_is_better else " (lower is better)"))
        if len(infinite) and infinite.all():  # no finite value: the axis has no scale to show
            ax.set_yticks([])
        ax.legend(loc="best", frameon=True, framealpha=0.85)
        ax.set_title(title or f"{y_label} vs {x_label}")
    return fig


def _placed_fidelity(y: np.ndarray, higher_is_better: bool) -> tuple[np.ndarray, np.ndarray]:
    """(y to draw, mask of the infinite ones): an infinite fidelity at the good end is drawn
    a tenth of the finite values' span (1 when they have none) past the best of them."""
    infinite = np.isinf(y)
    if not infinite.any():
        return y, infinite
    finite = y[~infinite]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    step = (hi - lo) / 10 or 1.0
    placed = y.copy()
    placed[infinite] = hi + step if higher_is_better else lo - step
    return placed, infinite


def fidelity_figure(table: pd.DataFrame, title: str = "") -> Any:
    """One bar per format of the end-to-end metric (mean cosine similarity of embeddings, or
    perplexity), in each format's style, with the unquantized reference row as a dashed line.

    Args:
        table: `hwsim.reports.fidelity_e2e.end_to_end_fidelity` output (reference row first).
        title: figure title (e.g. the checkpoint and the texts).
    """

    embedding = str(table.iloc[0]["task"]) == "embedding"
    y, label = (("cos_mean", "mean cosine similarity to the float embeddings") if embedding
                else ("ppl", "perplexity (lower is better)"))
    ref = table[table["format"] == REFERENCE]
    quant = table[table["format"] != REFERENCE].reset_index(drop=True)
    with style():
        fig = new_figure(max(4.5, 0.55 * len(quant) + 2.5), 3.6)
        ax = fig.add_subplot()
        xs = np.arange(len(quant))
        for i, row in quant.iterrows():
            color, _ = format_style(str(row["format"]))
            ax.bar(xs[i], row[y], color=color, edgecolor="black", linewidth=0.4, zorder=3)
        if len(ref):
            ax.axhline(float(ref.iloc[0][y]), color="black", linestyle="--", linewidth=1.0,
                       label=f"{REFERENCE} (unquantized): {float(ref.iloc[0][y]):.5g}", zorder=4)
            ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.08), frameon=False)
        values = table[y].to_numpy(dtype=np.float64)
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        pad = 0.08 * (hi - lo) if hi > lo else 0.05 * abs(hi) or 0.05
        ax.set_ylim(lo - pad if embedding else 0.0, hi + pad)
        ax.set_xticks(xs, [str(f) for f in quant["format"]], rotation=45, ha="right")
        ax.set_ylabel(label)
        ax.set_xlabel("weight format")
        ax.set_title(title or "end-to-end fidelity")
    return fig


def pareto_png(table: pd.DataFrame, x: str, y: str, *, x_label: str, y_label: str,
               y_higher_is_better: bool = True, title: str = "") -> bytes:
    """`pareto_figure` as PNG bytes."""

    return figure_bytes(pareto_figure(table, x, y, x_label=x_label, y_label=y_label,
                                      y_higher_is_better=y_higher_is_better, title=title))
