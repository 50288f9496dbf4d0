"""`hwsim roofline`: where each operator of a workload is bound on a machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hwsim.cli.paths import given_path
from hwsim.errors import HwsimError


def _load_machine(ref: str | Path, where: str) -> Any:
    """`load_machine`, its error prefixed with where ``ref`` came from (``--hardware``, or the
    workload file's ``hardware`` key, which the workload resolves to a path if it is one), as
    `hwsim run` names it."""
    from hwsim.reports.roofline import load_machine

    if isinstance(ref, str):
        if not ref.strip():
            raise HwsimError(f"{where}: empty; give a machine preset or a machine YAML")
        ref = ref.strip()
    try:
        return load_machine(ref)
    except HwsimError as exc:
        raise HwsimError(f"{where}: {exc}") from None


def roofline(
    workload: str = typer.Argument(
        None, help="Workload YAML, or the name of a bundled example (default: "
        "llama-2-7b-generative)."),
    hardware: str = typer.Option(
        None, "--hardware", "-H", help="Machine preset (a100-40g, a100-80g, h100-sxm, rtx4090, "
        "a6000, bitmod, ant, olive, fp16, dint, int8-systolic) or a machine YAML; default: the "
        "workload's 'hardware'."),
    out: Path = typer.Option(Path("out/roofline"), "--out", "-o",
                             parser=given_path,
                             help="Output folder: summary.json, roofline.csv/.md, report.html and "
                             "the plots (a served trace: summary.json, requests.csv, "
                             "steps.csv and serving.png)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw the figures."),
    figure_format: str | None = typer.Option(
        None, "--figure-format", help="Figure files: any of png,pdf,svg, comma-separated "
        "(default png)."),
) -> None:
    """Roofline of every prefill and decode operator: FLOPs, bytes, bound, time; TTFT/TPOT."""
    from rich.console import Console

    from hwsim.reports.figure_style import parse_figure_formats
    from hwsim.reports.roofline import roofline_report
    from hwsim.reports.roofline_report import summary_text_table, totals_line
    from hwsim.reports.text_table import print_table
    from hwsim.workloads import DEFAULT_WORKLOAD, load_workload, resolve_workload_path

    if not plots and figure_format is not None:
        raise HwsimError("--figure-format chooses the figures' files: leave it out with "
                         "--no-plots")
    figure_formats = parse_figure_formats(figure_format)
    path = resolve_workload_path(DEFAULT_WORKLOAD if workload is None else workload)
    w = load_workload(path)
    if hardware is not None:
        machine = _load_machine(hardware, "--hardware")
    elif w.hardware is not None:
        machine = _load_machine(w.hardware, f"{w.source}: hardware")
    else:
        raise HwsimError(f"{w.source}: no machine: give --hardware or a 'hardware' key")
    # Before any work: none of the files written may be one read (a trace's requests.csv).
    from hwsim.files import check_inputs_spared
    from hwsim.reports.figure_style import FIGURE_FORMATS
    from hwsim.reports.run_report import run_file_names

    check_inputs_spared(out, [*run_file_names(), "roofline.csv", "roofline.md",
                              *(f"roofline.{fmt}" for fmt in FIGURE_FORMATS)],
                        [path, w.trace_file, machine.source or None])
    console = Console()
    if machine.storage is not None:
        console.print(f"{machine.name}: GEMM bytes as the RTL core stores them: "
                      f"{machine.storage}", highlight=False)
    if w.served:
        from hwsim.reports.roofline_serving import roofline_serving
        from hwsim.reports.serving_report import serving_lines, write_serving_outputs

        runs = [(machine.name, roofline_serving(w, machine))]
        written = write_serving_outputs(w.name, runs, out, "roofline", plots=plots,
                                        figure_formats=figure_formats)
        for line in serving_lines(runs):
            console.print(line, highlight=False)
        console.print(f"wrote {', '.join(str(p) for p in written)}", highlight=False)
        return
    rep = roofline_report(w, machine, out, plots=plots, figure_formats=figure_formats)

    print_table(console, summary_text_table(rep.summary, f"{w.name} on {machine.name}"))
    console.print(totals_line(rep.summary, machine.name), highlight=False)
    console.print(f"wrote {', '.join(str(p) for p in rep.files.values())}", highlight=False)
