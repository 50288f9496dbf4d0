"""Outputs of `hwsim run`: ``summary.json``, ``layers.csv`` and the figures.

Everything written is a pure function of the results, so identical inputs give byte-identical
files (sorted JSON keys, fixed CSV float format, PNGs without a software/date stamp).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from hwsim.errors import HwsimError
from hwsim.files import output_folder
from hwsim.sim.run import ENERGY_KEYS, RunResult, compare_results

__all__ = ["comparison_table", "run_summary", "summary_table", "write_run_outputs"]

_DPI = 110


def _clean(x: Any) -> Any:
    """JSON-safe: NaN/inf -> None, tuples -> lists, nested."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def run_summary(results: Sequence[RunResult], baseline: int | None = None) -> dict[str, Any]:
    """The ``summary.json`` body: the first design's summary at the top level, and with more
    than one design a ``designs`` list and a ``comparison`` normalized to ``baseline``."""
    out = results[0].summary()
    if len(results) > 1:
        base = 0 if baseline is None else baseline
        out["designs"] = [r.summary() for r in results]
        out["comparison"] = {
            "baseline": results[base].hardware.name,
            "rows": comparison_table(results, base).to_dict(orient="records"),
        }
    return _clean(out)


def summary_table(results: Sequence[RunResult]) -> pd.DataFrame:
    """One row per design: latency, token rates, energy per token, energy breakdown, area.

    ``throughput_tokens_per_s`` is all tokens processed / total latency, ``decode_tokens_per_s``
    generated tokens / decode latency; ``tokens_per_s`` is the old name of the first.
    """
    rows = []
    for r in results:
        row: dict[str, Any] = {
            "design": r.hardware.name,
            "cycles": r.total_cycles,
            "latency_ms": r.latency_ms,
            "throughput_tokens_per_s": r.throughput_tokens_per_s,
            "decode_tokens_per_s": r.decode_tokens_per_s,
            "tokens_per_s": r.throughput_tokens_per_s,
            "energy_uj": r.energy_uj,
            "energy_per_token_uj": r.energy_per_token_uj,
        }
        row.update({f"{k}_uj": v for k, v in r.energy_breakdown_uj.items()})
        row["area_mm2"] = r.area_mm2
        rows.append(row)
    return pd.DataFrame(rows)


def comparison_table(results: Sequence[RunResult], baseline: int = 0) -> pd.DataFrame:
    """Speedup and energy efficiency of each design over ``results[baseline]``."""
    return compare_results(results, baseline)


def _layers_csv(results: Sequence[RunResult]) -> pd.DataFrame:
    frames = [r.layers.assign(design=r.hardware.name) for r in results]
    table = pd.concat(frames, ignore_index=True)
    return table[["design", *results[0].layers.columns]]


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})


def _stacked(ax: Any, labels: list[str], parts: dict[str, list[float]], ylabel: str) -> None:
    bottom = [0.0] * len(labels)
    drawn = 0
    for name, values in parts.items():
        if not any(values):
            continue
        ax.bar(labels, values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        drawn += 1
    ax.set_ylabel(ylabel)
    if drawn:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    else:  # e.g. FPGA design points, whose energy is not modelled
        ax.set_xticks(range(len(labels)), labels)
        ax.text(0.5, 0.5, "all zero (not modelled)", transform=ax.transAxes, ha="center")


def plot_latency_breakdown(results: Sequence[RunResult], path: Path) -> None:
    """Stacked latency (ms) per design and stage, split by operator class."""
    labels: list[str] = []
    classes = sorted({c for r in results for c in r.layers["op_class"]})
    parts: dict[str, list[float]] = {c: [] for c in classes}
    for r in results:
        ms_per_cycle = 1.0 / (r.hardware.clock_mhz * 1e3)
        for stage, rows in r.layers.groupby("stage", sort=False):
            labels.append(f"{r.hardware.name}\n{stage}")
            by_class = rows.groupby("op_class")["cycles"].sum()
            for c in classes:
                parts[c].append(float(by_class.get(c, 0)) * ms_per_cycle)
    fig = _figure(max(4.0, 1.1 * len(labels) + 2.5), 3.6)
    ax = fig.add_subplot()
    _stacked(ax, labels, parts, "latency (ms)")
    ax.set_title("Latency by stage and operator class")
    _save(fig, path)


def plot_energy_breakdown(results: Sequence[RunResult], path: Path) -> None:
    """Stacked energy (uJ) per design, split by component."""
    labels = [r.hardware.name for r in results]
    parts = {k: [r.energy_breakdown_uj[k] for r in results] for k in ENERGY_KEYS}
    fig = _figure(max(4.0, 1.0 * len(labels) + 2.5), 3.6)
    ax = fig.add_subplot()
    _stacked(ax, labels, parts, "energy (uJ)")
    ax.set_title("Energy by component")
    _save(fig, path)


def plot_comparison(results: Sequence[RunResult], baseline: int, path: Path) -> None:
    """Speedup and energy efficiency of every design, normalized to the baseline design."""
    table = comparison_table(results, baseline)
    fig = _figure(max(4.5, 1.2 * len(results) + 2.0), 3.4)
    ax = fig.add_subplot()
    xs = list(range(len(table)))
    width = 0.38
    ax.bar([x - width / 2 for x in xs], table["speedup"], width, label="speedup")
    ax.bar([x + width / 2 for x in xs], table["energy_efficiency"], width,
           label="energy efficiency")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(xs, table["design"])
    ax.set_ylabel(f"x over {results[baseline].hardware.name}")
    ax.legend(fontsize=8)
    ax.set_title("Designs normalized to " + results[baseline].hardware.name)
    _save(fig, path)


def write_run_outputs(results: Sequence[RunResult], out_dir: str | Path,
                      baseline: int | None = None) -> list[Path]:
    """Write ``summary.json``, ``layers.csv`` and the figures into ``out_dir``.

    Args:
        results: the primary design first, then the compared designs.
        out_dir: output folder (created if missing); nothing is written elsewhere.
        baseline: index of the design the comparison is normalized to (default: 0).

    Returns:
        The paths written, in order.

    Raises:
        HwsimError: ``out_dir`` is a file, or cannot be created or written (names ``--out``).
    """
    out = output_folder(out_dir)
    try:
        return _write(results, out, 0 if baseline is None else baseline)
    except OSError as exc:
        raise HwsimError(f"--out {out}: cannot write ({exc.strerror or exc})") from None


def _write(results: Sequence[RunResult], out: Path, base: int) -> list[Path]:
    written = []
    summary = out / "summary.json"
    summary.write_text(json.dumps(run_summary(results, base), indent=2, sort_keys=True) + "\n",
                       encoding="utf-8")
    written.append(summary)
    layers = out / "layers.csv"
    _layers_csv(results).to_csv(layers, index=False, float_format="%.9g", lineterminator="\n")
    written.append(layers)
    plots = [("latency_breakdown.png", lambda p: plot_latency_breakdown(results, p)),
             ("energy_breakdown.png", lambda p: plot_energy_breakdown(results, p))]
    if len(results) > 1:
        plots.append(("comparison.png", lambda p: plot_comparison(results, base, p)))
    for name, draw in plots:
        draw(out / name)
        written.append(out / name)
    return written
