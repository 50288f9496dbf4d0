"""Outputs of `hwsim run`: ``summary.json``, ``layers.csv`` and the figures.

Everything written is a pure function of the results, so identical inputs give byte-identical
files (sorted JSON keys, fixed CSV float format, PNGs without a software/date stamp).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from hwsim.errors import HwsimError
from hwsim.files import output_folder
from hwsim.reports.figure_style import FIGURE_FORMATS, op_class_color, save_figure
from hwsim.reports.html_plots import bar_plot
from hwsim.reports.html_report import HtmlTable, render_html, summary_item, write_html
from hwsim.reports.output_files import (
    RUN,
    earlier_files,
    owned_names,
    remove_stale_files,
    write_summary,
)
from hwsim.reports.roofline_analysis import analyze
from hwsim.reports.roofline_machine import machine_from_hardware
from hwsim.reports.run_plots import comparison_figure, energy_figure, latency_figure
from hwsim.reports.text_table import Column, TextTable
from hwsim.reports.units import (
    format_number,
    format_quantity,
    format_ratio,
    format_share,
    pick_unit,
)
from hwsim.sim.run import RunResult, apply_weight_storage, compare_results
from hwsim.workloads import operators

__all__ = [
    "comparison_table",
    "comparison_text_table",
    "design_metrics",
    "earlier_run_files",
    "json_safe",
    "run_file_names",
    "run_summary",
    "summary_table",
    "summary_text_table",
    "unmodelled_notes",
    "vector_ops",
    "vector_ops_line",
    "weights_run",
    "write_run_outputs",
]

def json_safe(x: Any) -> Any:
    """JSON-safe: NaN/inf -> None, tuples -> lists, nested."""
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def weights_run(workload: Any, hw: Any) -> dict[str, Any]:
    """The weight storage a design really runs for `workload`: the format holding most
    weights, the mean bits per weight over all weights (scales included), and the other
    formats with their share (e.g. an 8-bit ``lm_head``).

    A design with its own storage (the FP16 baseline, ``weights:`` in its YAML) overrides the
    workload's precision; otherwise the workload's weights run as written. On the RTL core the
    bits per weight are its storage's (code slots and scale fields), as ``source`` says.
    """
    ops = [op for op in apply_weight_storage(operators(workload), hw)
           if op.kind == "gemm" and op.b_kind == "weight"]
    first_stage = ops[0].stage if ops else None
    count: dict[str, float] = {}
    bits = 0.0
    for op in ops:
        if op.stage != first_stage:
            continue  # decode runs the same weights again
        n = float(op.n[0]) * float(op.k[0]) * op.count
        name = op.b_format.name if op.b_format is not None else f"{op.b_bits:g}-bit"
        count[name] = count.get(name, 0.0) + n
        bits += n * op.b_bits
    total = sum(count.values())
    if not total:
        return {"format": None, "bits_per_weight": None, "others": {},
                "source": "no weight operands"}
    ranked = sorted(count.items(), key=lambda kv: -kv[1])
    return {
        "format": ranked[0][0],
        "bits_per_weight": bits / total,
        "others": {name: n / total for name, n in ranked[1:]},
        "source": _weights_source(hw),
    }


def _weights_source(hw: Any) -> str:
    """Whose weight storage ``weights_run`` states: on the RTL core the bits per weight are
    the core's slots and scale fields (`hwsim.sim.engine.stored_op`), not the format's."""
    source = "the design's own" if hw.weights is not None else "the workload's"
    if hw.core is not None:
        source += f", stored as the core does ({hw.core.storage()})"
    return source


def vector_ops(workload: Any, hw: Any) -> dict[str, Any]:
    """The vector operators (norms, softmax, activations, residual adds, embedding lookups),
    which the PE array does not run, with their roofline time on the machine derived from the
    design's own description (`machine_from_hardware`: its vector peak and DRAM bandwidth).

    Returns:
        ``count``, ``roofline_time_s`` (None without a machine), ``machine`` and ``note``.
    """

    ops = [op for op in operators(workload) if op.kind != "gemm"]
    out: dict[str, Any] = {"count": len(ops), "roofline_time_s": None, "machine": None}
    if ops:
        # The machine of the description that ran (overrides included), not a preset of
        # the same name: `--set dram.bytes_per_cycle=8` must change the vector ops' time.
        machine = machine_from_hardware(hw)
        out["roofline_time_s"] = float(analyze(ops, machine)["time_s"].sum())
        out["machine"] = machine.name
    out["note"] = ("not in latency or energy: the PE array runs GEMMs only; roofline time "
                   "= max(FLOPs / vector peak, bytes / DRAM bandwidth) per operator")
    return out


def vector_ops_line(name: str, vector: dict[str, Any], latency_s: float) -> str:
    """One line for the terminal: how many vector operators, and their roofline time."""

    line = f"{name}: {vector['count']} vector operators not on the PE array"
    if vector["roofline_time_s"] is not None:
        share = 100 * vector["roofline_time_s"] / latency_s if latency_s else 0.0
        line += (f"; roofline time on {vector['machine']}'s vector unit "
                 f"{format_quantity(vector['roofline_time_s'], 'time')} "
                 f"({format_number(share, 2)}% of the latency), outside latency and energy")
    else:
        line += " (no machine preset of that name for a roofline time); outside latency and energy"
    return line


def design_metrics(result: RunResult) -> dict[str, Any]:
    """What a reader of one run asks first, derived from `result`: TTFT (prefill latency: the
    prompt is processed and the first token emitted), TPOT (decode latency / decode steps),
    PE-array utilization (cycle-weighted active PE-cycles over all PE-cycles, per stage and
    overall) and each energy component's share of the total."""
    stages = result.stage_totals()
    layers = result.layers
    util: dict[str, float | None] = {}
    for stage, rows in layers.groupby("stage", sort=False):
        cycles = float(rows["cycles"].sum())
        util[str(stage)] = (float((rows["utilization"] * rows["cycles"]).sum()) / cycles
                            if cycles else None)
    cycles = float(layers["cycles"].sum())
    overall = float((layers["utilization"] * layers["cycles"]).sum()) / cycles if cycles else None
    prefill = stages.get("prefill")
    decode = stages.get("decode")
    total = result.energy_uj
    breakdown = result.energy_breakdown_uj
    return {
        "ttft_s": prefill["latency_ms"] * 1e-3 if prefill and result.tokens else None,
        "tpot_s": (decode["latency_ms"] * 1e-3 / decode["steps"]
                   if decode and decode["steps"] and result.tokens else None),
        "utilization": overall,
        "utilization_by_stage": util,
        "energy_shares": {k: (v / total if total else 0.0) for k, v in breakdown.items()},
    }


def _energy_nulled(value: Any, energy: bool = False) -> Any:
    """`value` with every number under a key naming energy set to null (keys kept)."""
    if isinstance(value, dict):
        return {k: _energy_nulled(v, energy or "energy" in str(k)) for k, v in value.items()}
    if energy and isinstance(value, int | float) and not isinstance(value, bool):
        return None
    return value


def _design_summary(result: RunResult, weights: dict[str, Any] | None,
                    vector: dict[str, Any] | None = None) -> dict[str, Any]:
    out = result.summary()
    out.update(design_metrics(result))
    missing = result.unmodelled
    if missing:  # no model: null, never a 0 that reads as a measured figure
        out["not_modelled"] = list(missing)
        if "energy" in missing:
            # Every energy figure, the stages' and the traffic's too (they read 0.0).
            out = _energy_nulled(out)
            out["energy_shares"] = None
        if "area" in missing:
            out.update(area_mm2=None, area_breakdown_mm2=dict.fromkeys(out["area_breakdown_mm2"]))
    if weights is not None:
        out["weights_run"] = weights
    if vector is not None:
        out["vector_ops"] = vector
    return out


def run_summary(results: Sequence[RunResult], baseline: int | None = None,
                weights: Sequence[dict[str, Any]] | None = None,
                vector: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ``summary.json`` body: the first design's summary at the top level, and with more
    than one design a ``designs`` list and a ``comparison`` normalized to ``baseline``.

    Each design's summary adds `design_metrics` and, given `weights` (`weights_run` per
    design), the weight storage it ran as ``weights_run``, and given `vector` (`vector_ops`
    per design) the vector operators' roofline time as ``vector_ops``.
    """
    ws = list(weights) if weights is not None else [None] * len(results)
    vs = list(vector) if vector is not None else [None] * len(results)
    out = _design_summary(results[0], ws[0], vs[0])
    if len(results) > 1:
        base = 0 if baseline is None else baseline
        out["designs"] = [_design_summary(r, w, v)
                          for r, w, v in zip(results, ws, vs, strict=True)]
        out["comparison"] = {
            "baseline": results[base].hardware.name,
            "rows": comparison_table(results, base).to_dict(orient="records"),
        }
    return json_safe(out)


def summary_table(results: Sequence[RunResult]) -> pd.DataFrame:
    """One row per design: latency, token rates, energy per token, energy breakdown, area.

    ``throughput_tokens_per_s`` is all tokens processed / total latency, ``decode_tokens_per_s``
    generated tokens / decode latency.
    """
    rows = []
    for r in results:
        row: dict[str, Any] = {
            "design": r.hardware.name,
            "cycles": r.total_cycles,
            "latency_ms": r.latency_ms,
            "throughput_tokens_per_s": r.throughput_tokens_per_s,
            "decode_tokens_per_s": r.decode_tokens_per_s,
            "energy_uj": r.energy_uj,
            "energy_per_token_uj": r.energy_per_token_uj,
        }
        row.update({f"{k}_uj": v for k, v in r.energy_breakdown_uj.items()})
        row["area_mm2"] = r.area_mm2
        if "energy" in r.unmodelled:  # no model: NaN, not 0
            row.update(dict.fromkeys(["energy_uj", *(f"{k}_uj" for k in r.energy_breakdown_uj)],
                                     float("nan")), energy_per_token_uj=None)
        if "area" in r.unmodelled:
            row["area_mm2"] = float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def unmodelled_notes(results: Sequence[RunResult]) -> list[str]:
    """One line per design without an energy or area model (a measured FPGA build), and one
    per design whose energy is modelled but whose description gives a memory level no
    access energy, so that level's traffic is in the energy at 0 pJ: said, not silent."""
    notes = [f"{r.hardware.name}: {' and '.join(r.unmodelled)} not modelled (shown as -, "
             "not 0; a measured FPGA build has latency only)" for r in results if r.unmodelled]
    for r in results:
        if "energy" in r.unmodelled:
            continue
        hw = r.hardware
        free = [f"buffers.{b}" for b in ("weight", "activation", "output")
                if not (getattr(hw.buffers, b).read_energy_pj_per_bit
                        or getattr(hw.buffers, b).write_energy_pj_per_bit)]
        if not hw.dram.energy_pj_per_bit:
            free.append("dram")
        if free:
            notes.append(f"{hw.name}: {', '.join(free)} given no access energy (read_pj/"
                         "write_pj, energy_pj_per_bit): their traffic costs 0 pJ in the energy")
    return notes


def comparison_table(results: Sequence[RunResult], baseline: int = 0) -> pd.DataFrame:
    """Speedup and energy efficiency of each design over ``results[baseline]``."""
    return compare_results(results, baseline)


def _weights_cell(weights: dict[str, Any] | None) -> str:
    if not weights or weights["format"] is None:
        return "-"
    cell = f"{weights['format']} {format_number(weights['bits_per_weight'], 3)}b"
    if weights["others"]:
        cell += " +" + ",".join(weights["others"])
    return cell


def summary_text_table(results: Sequence[RunResult], title: str,
                       weights: Sequence[dict[str, Any] | None] | None = None) -> TextTable:
    """The terminal summary of `hwsim run`: one row per design, every time and energy in a
    unit scaled to the column's largest value; narrow terminals drop the later columns."""
    ws = list(weights) if weights is not None else [None] * len(results)
    metrics = [design_metrics(r) for r in results]
    t_unit = pick_unit([r.latency_ms * 1e-3 for r in results], "time")
    ttft_unit = pick_unit([m["ttft_s"] for m in metrics], "time")
    tpot_unit = pick_unit([m["tpot_s"] for m in metrics], "time")
    e_unit = pick_unit([(r.energy_per_token_uj or r.energy_uj) * 1e-6 for r in results],
                       "energy")
    per_token = any(r.energy_per_token_uj for r in results)
    columns = [
        Column("design", align="left"),
        Column("weights (format bits/w)", align="left", priority=2, wrap=True),
        Column("latency", t_unit[0]),
        Column("TTFT", ttft_unit[0], priority=3),
        Column("TPOT", tpot_unit[0], priority=3),
        Column("tok/s decode", priority=4),
        Column("tok/s all", priority=6),
        Column("energy per token" if per_token else "energy", e_unit[0], priority=1),
        Column("array util.", "%", priority=5),
        Column("energy share PE/SRAM/DRAM/other", "%", priority=5),
        Column("area", "mm²", priority=7),
    ]
    rows = []
    for r, m, w in zip(results, metrics, ws, strict=True):
        share = m["energy_shares"]
        sram = sum(share[k] for k in ("sram_weight", "sram_activation", "sram_output"))
        other = share["dequant"] + share["leakage"]
        parts = [share["pe"], sram, share["dram"], other]
        energy = (r.energy_per_token_uj if per_token else r.energy_uj)
        if "energy" in r.unmodelled:
            energy = None
        rows.append([
            r.hardware.name, _weights_cell(w),
            format_number(r.latency_ms * 1e-3 / t_unit[1]),
            *(format_number(m[k] / unit[1]) if m[k] is not None else "-"
              for k, unit in (("ttft_s", ttft_unit), ("tpot_s", tpot_unit))),
            *(format_number(r.decode_tokens_per_s), format_number(r.throughput_tokens_per_s)),
            format_number(energy * 1e-6 / e_unit[1]) if energy is not None else "-",
            format_number(100 * m["utilization"], 3) if m["utilization"] is not None else "-",
            "-" if energy is None else "/".join(format_share(v) for v in parts),
            "-" if "area" in r.unmodelled else format_number(r.area_mm2, 3),
        ])
    notes = [*unmodelled_notes(results),
             "TTFT: prefill latency (prompt in, first token out); TPOT: decode latency per "
             "step; tok/s all: prompt + decode tokens / total latency; tok/s decode: tokens "
             "generated by the decode steps / decode latency"]
    return TextTable.build(title, columns, rows, notes, more="summary.json")


def comparison_text_table(results: Sequence[RunResult], baseline: int) -> TextTable:
    """Speedup and energy efficiency of each design over the baseline design."""
    comp = comparison_table(results, baseline)
    columns = [Column("design", align="left"), Column("speedup", "x"),
               Column("energy efficiency", "x")]
    # A ratio other than 1 never prints as the baseline's "1" (`format_ratio`).
    rows = [[row["design"], format_ratio(row["speedup"]), format_ratio(row["energy_efficiency"])]
            for row in comp.to_dict(orient="records")]
    return TextTable.build(f"normalized to {results[baseline].hardware.name}", columns, rows,
                           more="summary.json")


def _layers_csv(results: Sequence[RunResult]) -> pd.DataFrame:
    # A design without an energy model gets empty energy cells, not 0.
    frames = [r.layers.assign(design=r.hardware.name, **(
        {c: float("nan") for c in r.layers.columns if c.endswith("_uj")}
        if "energy" in r.unmodelled else {})) for r in results]
    table = pd.concat(frames, ignore_index=True)
    return table[["design", *results[0].layers.columns]]


def run_html(results: Sequence[RunResult], summary: dict[str, Any], baseline: int) -> str:
    """The interactive ``report.html`` of a run: the summary of every design (numbers tied to
    `summary` by their JSON path), per-operator bars, the comparison, the operator table."""

    many = len(results) > 1
    items = []
    fields = [("latency", "latency_ms", "time", 1e-3, ""),
              ("TTFT (prefill)", "ttft_s", "time", 1.0, ""),
              ("TPOT (per decode step)", "tpot_s", "time", 1.0, ""),
              ("tokens/s, all tokens", "throughput_tokens_per_s", None, 1.0, "tok/s"),
              ("tokens/s, decode", "decode_tokens_per_s", None, 1.0, "tok/s"),
              ("energy", "energy_uj", "energy", 1e-6, ""),
              ("energy per token", "energy_per_token_uj", "energy", 1e-6, ""),
              ("PE-array utilization", "utilization", None, 100.0, "%"),
              ("area", "area_mm2", None, 1.0, "mm²"),
              ("vector operators: roofline time (outside latency)",
               "vector_ops.roofline_time_s", "time", 1.0, ""),
              ("weight format", "weights_run.format", None, 1.0, ""),
              ("bits per weight", "weights_run.bits_per_weight", None, 1.0, "b")]
    for i, r in enumerate(results):
        prefix = f"designs.{i}." if many else ""
        for label, key, kind, scale, unit in fields:
            item = summary_item(summary, label, prefix + key, kind, scale, unit,
                                column=r.hardware.name)
            if item is not None:
                items.append(item)
    layers = _layers_csv(results)
    clock = {r.hardware.name: r.hardware.clock_mhz for r in results}
    layers["latency_ms"] = layers["cycles"] / layers["design"].map(clock) / 1e3
    main = layers[layers["design"] == results[0].hardware.name]
    labels = [f"{st}/{op}" for st, op in zip(main["stage"], main["op"], strict=True)]

    def operator_bars() -> Any:
        return bar_plot(labels, list(main["latency_ms"]),
                        title=f"{results[0].workload} on {results[0].hardware.name}: latency "
                        "per operator (all layers and steps)", y_label="latency (ms)",
                        colors=[op_class_color(c) for c in main["op_class"]],
                        legend=list(main["op_class"]),
                        hover={"operator": labels, "class": list(main["op_class"]),
                               "cycles": list(main["cycles"]),
                               "latency (ms)": list(main["latency_ms"]),
                               "utilization (%)": list(100 * main["utilization"]),
                               "energy (uJ)": list(main["energy_uj"])})

    plots = [operator_bars]
    if many:
        comp = comparison_table(results, baseline)

        def comparison_bars() -> Any:
            names = list(comp["design"])
            return bar_plot([f"{d} speedup" for d in names] + [f"{d} energy eff." for d in names],
                            [*comp["speedup"], *comp["energy_efficiency"]],
                            title=f"normalized to {results[baseline].hardware.name}",
                            y_label="x over the baseline",
                            colors=["#0072B2"] * len(names) + ["#E69F00"] * len(names),
                            hover={"design": names * 2,
                                   "value (x)": [*comp["speedup"], *comp["energy_efficiency"]]})

        plots.append(comparison_bars)
    columns = {"design": "design", "stage": "stage", "op": "operator", "op_class": "class",
               "count": "count", "m": "m", "n": "n", "k": "k", "cycles": "cycles",
               "latency_ms": "latency (ms)", "utilization": "utilization (0-1)",
               "dram_read_bytes": "DRAM read (bytes)", "energy_uj": "energy (uJ)"}
    table = HtmlTable.from_frame("Operators (click a header to sort)", layers, columns,
                                 note="one row per GEMM operator and stage; decode rows sum "
                                 "every step")
    notes = unmodelled_notes(results)
    if results[0].not_simulated:
        notes.append(f"{len(results[0].not_simulated)} vector operators are not on the PE "
                     "array (their roofline time is in the summary, outside latency and "
                     "energy): " + ", ".join(results[0].not_simulated))
    designs = ", ".join(r.hardware.name for r in results)
    return render_html(f"hwsim run: {results[0].workload}", f"designs: {designs}", items,
                       plots, [table], notes)


def write_run_outputs(results: Sequence[RunResult], out_dir: str | Path,
                      baseline: int | None = None,
                      weights: Sequence[dict[str, Any]] | None = None,
                      figure_formats: Sequence[str] = ("png",),
                      vector: Sequence[dict[str, Any]] | None = None) -> list[Path]:
    """Write ``summary.json``, ``layers.csv`` and the figures into ``out_dir``.

    Args:
        results: the primary design first, then the compared designs.
        out_dir: output folder (created if missing); nothing is written elsewhere. The
            figures ``summary.json`` lists (``figures``) that an earlier run into it wrote and
            this one does not are removed, so none sits beside results it is not of.
        baseline: index of the design the comparison is normalized to (default: 0).
        weights: `weights_run` of each design, recorded in ``summary.json``.
        figure_formats: files of each figure (png, pdf, svg).
        vector: `vector_ops` of each design, recorded in ``summary.json``.

    Returns:
        The paths written, in order.

    Raises:
        HwsimError: ``out_dir`` is a file, or cannot be created or written (names ``--out``).
    """
    out = output_folder(out_dir)
    try:
        return _write(results, out, 0 if baseline is None else baseline, weights,
                      figure_formats, vector)
    except OSError as exc:
        raise HwsimError(f"--out {out}: cannot write ({exc.strerror or exc})") from None


def _write(results: Sequence[RunResult], out: Path, base: int,
           weights: Sequence[dict[str, Any]] | None, formats: Sequence[str],
           vector: Sequence[dict[str, Any]] | None) -> list[Path]:
    written = []
    earlier = earlier_run_files(out)
    stems = _FIGURE_STEMS if len(results) > 1 else _FIGURE_STEMS[:2]  # comparison: designs
    body = run_summary(results, base, weights, vector)
    body["figures"] = [f"{stem}.{fmt}" for stem in stems for fmt in formats]
    layers = out / "layers.csv"
    _layers_csv(results).to_csv(layers, index=False, float_format="%.9g", lineterminator="\n")
    written.append(layers)
    report = out / "report.html"
    write_html(report, run_html(results, body, base))
    written.append(report)
    name = results[0].workload
    figures = [latency_figure(results, name, weights), energy_figure(results, name, weights)]
    if len(results) > 1:
        figures.append(comparison_figure(results, base, name, weights))
    for stem, fig in zip(stems, figures, strict=True):
        written += save_figure(fig, out / stem, formats)
    # Last, listing what this run wrote (`earlier_run_files` of the next run into `out`).
    written.insert(0, write_summary(out, body, written))
    remove_stale_files(out, earlier, [p.name for p in written])
    return written


_FIGURE_STEMS = ("latency_breakdown", "energy_breakdown", "comparison")
# Every file `hwsim run` may write into its folder: a workload's (above) or a served trace's
# (`hwsim.reports.serving_report`).
_RUN_FILES = ("summary.json", "layers.csv", "report.html", "requests.csv", "steps.csv")
_RUN_FIGURE_STEMS = (*_FIGURE_STEMS, "serving")
_is_run_file = owned_names(_RUN_FILES, _RUN_FIGURE_STEMS)


def run_file_names() -> list[str]:
    """Every file name `hwsim run` may write into its folder (served or not, any figure
    format): none may be one of the run's inputs (`hwsim.files.check_inputs_spared`)."""
    return [*_RUN_FILES, *(f"{stem}.{fmt}" for stem in _RUN_FIGURE_STEMS
                           for fmt in FIGURE_FORMATS)]


def earlier_run_files(out: Path) -> dict[str, str | None]:
    """The files an earlier `hwsim run` into `out` listed in its ``summary.json``, with the
    SHA-256 it recorded (`hwsim.reports.output_files.earlier_files`). Only names `hwsim run`
    writes are kept: never a file of the user's."""
    return earlier_files(out, RUN, _is_run_file)
