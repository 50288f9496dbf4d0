"""A workload's roofline report: table, summary and figures, written to one folder.

Files (all under ``out_dir``; same inputs give byte-identical files):
``roofline.csv`` (the `hwsim.reports.roofline_analysis.analyze` table), ``roofline.md`` (the same,
rounded), ``summary.json`` (per-stage totals, TTFT/TPOT, memory footprint, conventions, and
the files written: ``written_by``, ``files``), ``report.html``, ``roofline.png`` and
``latency_breakdown.png``. The files an earlier roofline into the folder recorded and this one
does not write (another ``--figure-format``, ``--no-plots``) are removed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from hwsim.errors import HwsimError
from hwsim.files import output_folder, portable_path
from hwsim.reports.figure_style import save_figure
from hwsim.reports.html_plots import roofline_plot
from hwsim.reports.html_report import HtmlTable, render_html, summary_item, write_html
from hwsim.reports.output_files import (
    earlier_files,
    owned_names,
    remove_stale_files,
    write_summary,
)
from hwsim.reports.roofline_analysis import analyze, summarize
from hwsim.reports.roofline_machine import Machine
from hwsim.reports.text_table import Column, TextTable
from hwsim.reports.units import format_number, format_quantity, format_share, pick_unit
from hwsim.workloads import Workload, footprint, operators

__all__ = ["DECODE_CONVENTION", "ROOFLINE", "RooflineReport", "is_roofline_file",
           "markdown_table", "roofline_html", "roofline_report", "summary_text_table",
           "totals_line"]

DECODE_CONVENTION = ("prefill processes the prompt and emits output token 1; decode step s "
                     "(1 .. generate_tokens-1) feeds token s and attends to prompt_tokens + s "
                     "KV entries")


@dataclass(frozen=True)
class RooflineReport:
    """Result of `roofline_report`: the table, the summary and the files written."""

    table: pd.DataFrame
    summary: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)


def markdown_table(table: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub Markdown table; floats rounded to `digits` significant digits."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "inf" if math.isinf(v) else f"{v:.{digits}g}"
        return str(v)

    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def summary_text_table(summary: dict[str, Any], title: str) -> TextTable:
    """Per-stage totals of a roofline summary for the terminal (times in a shared unit)."""
    stages = summary["stages"]
    unit = pick_unit([st["time_s"] for st in stages.values()], "time")
    columns = [Column("stage", align="left"), Column("ops", priority=3),
               Column("compute", "GFLOP", priority=2), Column("moved", "GB", priority=2),
               Column("time", unit[0]), Column("tokens/s", priority=1),
               Column("memory-bound", "% of time", priority=1)]
    rows = []
    for stage, st in stages.items():
        mem_share = st["memory_bound_time_s"] / st["time_s"] if st["time_s"] else 0.0
        rows.append([stage, str(st["ops"]), format_number(st["flops"] / 1e9),
                     format_number(st["bytes"] / 1e9), format_number(st["time_s"] / unit[1]),
                     format_number(st["tokens_per_s"]) if st["tokens_per_s"] else "-",
                     format_share(mem_share)])
    return TextTable.build(title, columns, rows, more="summary.json")


def totals_line(summary: dict[str, Any], machine_name: str) -> str:
    """One line: total time, TTFT, TPOT, token rates and whether the memory fits."""
    tot = summary["total"]
    mem = summary["memory"]
    rates = [format_number(tot[k]) if tot[k] else "-"
             for k in ("throughput_tokens_per_s", "decode_tokens_per_s")]
    tpot = format_quantity(tot["tpot_s"], "time") if tot["tpot_s"] is not None else "-"
    fits = "fits" if mem["fits"] else "does NOT fit"
    return (f"total {format_quantity(tot['time_s'], 'time')}  TTFT "
            f"{format_quantity(tot['ttft_s'], 'time')}  TPOT {tpot}  tok/s all {rates[0]}  "
            f"tok/s decode {rates[1]}  memory {format_number(mem['total_bytes'] / 2**30, 3)} GiB "
            f"({fits} in {machine_name}'s "
            f"{format_number(mem['machine_capacity_bytes'] / 2**30, 3)} GiB)")


def roofline_html(table: pd.DataFrame, summary: dict[str, Any], machine: Machine,
                  plots: bool = True) -> str:
    """The interactive ``report.html``: summary (tied to ``summary.json`` by key), the
    roofline with every operator hoverable, and the sortable per-operator table."""

    spec = [("total time", "total.time_s", "time", 1.0, ""),
            ("TTFT (prefill)", "total.ttft_s", "time", 1.0, ""),
            ("TPOT (per decode step)", "total.tpot_s", "time", 1.0, ""),
            ("tokens/s, all tokens", "total.throughput_tokens_per_s", None, 1.0, "tok/s"),
            ("tokens/s, decode", "total.decode_tokens_per_s", None, 1.0, "tok/s"),
            *((f"{st} time", f"stages.{st}.time_s", "time", 1.0, "") for st in summary["stages"]),
            ("memory footprint", "memory.total_bytes", None, 2**-30, "GiB"),
            ("machine memory", "memory.machine_capacity_bytes", None, 2**-30, "GiB"),
            ("weight format", "weight_format", None, 1.0, "")]
    items = [it for label, key, kind, scale, unit in spec
             if (it := summary_item(summary, label, key, kind, scale, unit)) is not None]
    title = f"{summary['workload']} on {machine.name}"
    builders = [lambda: roofline_plot(table, machine, f"roofline: {title}")] if plots else []
    ops = HtmlTable.from_frame("Operators (click a header to sort)", table, {
        "stage": "stage", "op": "operator", "op_class": "class", "kind": "kind",
        "count": "count", "steps": "steps", "m": "m", "n": "n", "k": "k", "flops": "FLOPs",
        "bytes": "bytes", "intensity": "FLOP/byte", "bound": "bound", "time_s": "time (s)"},
        note="a decode row sums its steps")
    return render_html(f"hwsim roofline: {title}", DECODE_CONVENTION, items, builders, [ops])


def roofline_report(workload: Workload, machine: Machine,
                    out_dir: str | Path | None = None, *, plots: bool = True,
                    figure_formats: Sequence[str] = ("png",)) -> RooflineReport:
    """Analyze `workload` on `machine`; with `out_dir`, write the files listed above.

    Raises:
        HwsimError: the machine cannot run an operand width of the workload, `out_dir`
            cannot be created, or an argument of another type (a name: load it first).
    """
    if not isinstance(machine, Machine):
        raise HwsimError(f"machine: expected a roofline Machine (load_machine), not "
                         f"{type(machine).__name__}")
    table = analyze(operators(workload), machine)
    summary: dict[str, Any] = {
        "workload": workload.name,
        "source": portable_path(workload.source),
        "model": workload.model.name if workload.model else None,
        "machine": machine.name,
        "batch": workload.batch,
        "prompt_tokens": workload.prompt_tokens,
        "generate_tokens": workload.generate_tokens,
        "decode_steps": workload.decode_steps,
        "weight_bits": workload.weights.bits,
        "weight_format": workload.weights.format,
        "activation_bits": workload.activations.bits,
        "kv_cache_bits": workload.kv_cache.bits,
    }
    summary.update(summarize(table, batch=workload.batch,
                             prompt_tokens=workload.prompt_tokens,
                             generate_tokens=workload.generate_tokens,
                             decode_steps=workload.decode_steps))
    fp = footprint(workload)
    summary["memory"] = {
        "weights_bytes": fp.weights_bytes,
        "kv_cache_bytes": fp.kv_cache_bytes,
        "peak_activation_bytes": fp.peak_activation_bytes,
        "total_bytes": fp.total_bytes,
        "machine_capacity_bytes": machine.memory_capacity_bytes,
        "fits": fp.total_bytes <= machine.memory_capacity_bytes,
    }
    stored = "each operand moved once at its stored width (no fusion, no re-reads)"
    if machine.storage is not None:
        stored += f"; GEMM operands stored as the core does: {machine.storage}"
    summary["conventions"] = {
        "decode": DECODE_CONVENTION,
        "bytes": stored,
        "time": "per op and step: max(flops / peak, bytes / bandwidth)",
    }
    report = RooflineReport(table, summary)
    if out_dir is None:
        return report

    out = output_folder(out_dir)
    try:
        files = _write(table, summary, workload, machine, out,
                       tuple(figure_formats) if plots else ())
    except OSError as exc:
        raise HwsimError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    return RooflineReport(table, summary, files)


ROOFLINE = "hwsim roofline"
# A workload's files and a served trace's (`serving_report.write_serving_outputs`): a roofline
# of the one into a folder of the other's removes them.
is_roofline_file = owned_names(
    ("roofline.csv", "roofline.md", "summary.json", "report.html", "requests.csv", "steps.csv"),
    ("roofline", "latency_breakdown", "serving"))


def _write(table: pd.DataFrame, summary: dict[str, Any], workload: Workload, machine: Machine,
           out: Path, formats: Sequence[str]) -> dict[str, Path]:
    earlier = earlier_files(out, ROOFLINE, is_roofline_file)
    files = {
        "csv": out / "roofline.csv",
        "markdown": out / "roofline.md",
        "summary": out / "summary.json",
    }
    table.to_csv(files["csv"], index=False, lineterminator="\n")
    title = f"{workload.name} on {machine.name}"
    files["markdown"].write_text(f"# Roofline: {title}\n\n" + markdown_table(table),
                                 encoding="utf-8")
    files["html"] = write_html(out / "report.html",
                               roofline_html(table, summary, machine, plots=bool(formats)))
    if formats:
        # matplotlib: only when plotting
        from hwsim.reports.roofline_plot import latency_breakdown_figure, roofline_figure

        weights = workload.weights.format or f"{workload.weights.bits:g}-bit"
        detail = f"{workload.name} ({weights} weights) on {machine.name}"
        figures = {"roofline": roofline_figure(table, machine, f"roofline: {detail}"),
                   "breakdown": latency_breakdown_figure(table, f"latency breakdown: {detail}")}
        stems = {"roofline": "roofline", "breakdown": "latency_breakdown"}
        for key, fig in figures.items():
            for path in save_figure(fig, out / stems[key], formats):
                files[f"{key}_{path.suffix[1:]}"] = path
    # Last, listing what this run wrote (`earlier_files` of the next roofline into `out`).
    write_summary(out, summary, [p for key, p in files.items() if key != "summary"], ROOFLINE)
    remove_stale_files(out, earlier, [p.name for p in files.values()])
    return files
