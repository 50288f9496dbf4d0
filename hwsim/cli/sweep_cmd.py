"""`hwsim sweep`: run a design-space sweep (resumable), or re-render its report."""

from __future__ import annotations

from pathlib import Path

import typer

from hwsim.cli.paths import given_path
from hwsim.errors import HwsimError, Interrupted

_EXAMPLES = Path(__file__).resolve().parent.parent / "sweep" / "examples"


def _sweep_path(ref: str) -> Path:
    """A sweep file path, or the name of a bundled example."""
    names = ", ".join(sorted(p.stem for p in _EXAMPLES.glob("*.yaml")))
    if not ref.strip():  # Path("") is the working directory, a folder
        raise HwsimError(f"SWEEP.yaml: empty; give a sweep file or a bundled example ({names})")
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    example = _EXAMPLES / f"{ref}.yaml"
    if example.is_file():  # before a folder of that name: a sweep's own --out, say
        return example
    if path.is_dir():
        raise HwsimError(f"{ref}: a folder, not a sweep file (to render a sweep's results: "
                         f"hwsim sweep --report {ref})")
    raise HwsimError(f"{ref}: no such sweep file, nor a bundled example ({names})")


def sweep(
    sweep_file: str = typer.Argument(
        None, metavar="SWEEP.yaml",
        help="Sweep file, or a bundled example: decode-shape-format, buffer-bandwidth, "
        "llama2-decode-1000, optuna-nsga2."),
    out: Path = typer.Option(None, "--out", "-o",
                             parser=given_path,
                             help="Output folder: results, plots and the resumable store "
                             "(default: out/sweep)."),
    workers: int = typer.Option(None, "--workers", "-j",
                                help="Worker processes (default: the cores available)."),
    executor: str = typer.Option("local", "--executor", "-e",
                                 help="local (process pool) or dask (Dask distributed)."),
    address: str = typer.Option(None, "--address",
                                help="A running Dask scheduler, e.g. tcp://10.0.0.5:8786."),
    report: Path = typer.Option(None, "--report",
                                parser=given_path,
                                help="Re-render the tables and plots of a sweep folder "
                                "from its stored results, without simulating."),
    objectives: str = typer.Option(
        None, "--objectives", help="With --report: other objectives for the front and plots, "
        "comma-separated, e.g. latency_ms,area_mm2 or tokens_per_s:max,energy_uj."),
    figure_format: str = typer.Option("png", "--figure-format",
                                      help="Figure files: any of png,pdf,svg, comma-separated."),
) -> None:
    """Sweep hardware and workload fields; store every point; tables, Pareto fronts, plots.

    Rerunning the same command skips the points already stored in --out.
    """
    from rich.console import Console

    from hwsim.reports.figure_style import parse_figure_formats
    from hwsim.sweep import SweepInterrupted, write_report

    console = Console()
    figure_formats = parse_figure_formats(figure_format)
    if report is not None:
        if sweep_file is not None or out is not None:
            raise HwsimError("--report DIR re-renders a finished sweep: give no SWEEP.yaml "
                             "or --out with it")
        if workers is not None or address is not None or executor != "local":
            raise HwsimError("--report simulates nothing: --workers, --executor and "
                             "--address do not apply")
        chosen = objectives.split(",") if objectives is not None else None
        _print_report(console, write_report(report, chosen, figure_formats))
        return
    if objectives is not None:
        raise HwsimError("--objectives re-renders a finished sweep: use it with --report DIR "
                         "(the sweep file sets the objectives of a run)")
    if sweep_file is None:
        raise HwsimError("give a SWEEP.yaml (or --report DIR)")
    out = out if out is not None else Path("out/sweep")  # None only to tell it from --report

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from hwsim.files import read_text
    from hwsim.sweep import load_sweep, run_sweep
    from hwsim.sweep.hwsim_eval import METRICS

    path = _sweep_path(sweep_file)
    spec = load_sweep(path, metrics=METRICS)
    _quiet_optuna()
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(f"sweep {spec.name}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"sweep {spec.name}")

        def planning(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"plan {spec.name}")

        try:
            run = run_sweep(spec, out, workers=workers, executor=executor, address=address,
                            progress=progress, sweep_text=read_text(path, "sweep"),
                            planning=planning)
        except SweepInterrupted as exc:
            console.print(f"[bold red]interrupted:[/] {exc}", highlight=False)
            raise typer.Exit(1) from None
        except (KeyboardInterrupt, Interrupted) as exc:
            console.print("[bold red]interrupted:[/] the points that finished are stored in "
                          f"{out}: rerun the same command to go on", highlight=False)
            raise typer.Exit(exc.code if isinstance(exc, Interrupted) else 130) from None
    console.print(f"{run.points} points: {run.evaluated} simulated, {run.reused} already "
                  f"stored, {run.failed} failed (see the error column)", highlight=False)
    _print_report(console, write_report(out, figure_formats=figure_formats))


def _quiet_optuna() -> None:
    """optuna logs every trial at INFO; the progress bar says enough."""
    import logging

    logging.getLogger("optuna").setLevel(logging.WARNING)


def _print_report(console, report) -> None:
    from hwsim.reports.text_table import Column, TextTable, print_table
    from hwsim.reports.units import format_number
    from hwsim.sweep.report import metric_label

    if report.missing:
        console.print(f"[yellow]{report.missing} of {report.planned} points have no result "
                      "yet: rerun the sweep to finish them[/]")
    front = report.front.head(15)
    # One column per Pareto point, one row per axis and objective: the winning axis values
    # are always shown; a narrow terminal drops the later points, with a note.
    labels = [*report.fields, *(metric_label(o.metric, o.goal) for o in report.objectives)]
    columns = [Column("axis / objective", align="left", wrap=True),
               *(Column(f"point {int(row['point'])}", priority=i + 1)
                 for i, (_, row) in enumerate(front.iterrows()))]
    keys = [*report.fields, *(o.metric for o in report.objectives)]
    cells = [[v if isinstance(v, str) else format_number(v) for v in front[k]] for k in keys]
    rows = [[label, *values] for label, values in zip(labels, cells, strict=True)]
    title = f"Pareto front: {len(report.front)} of {len(report.table)} points"
    if len(report.front) > len(front):
        title += f" (the first {len(front)}; all in pareto.csv)"
    print_table(console, TextTable.build(title, columns, rows, more="pareto.csv"))
    folder = report.files[0].parent
    console.print(f"wrote {len(report.files)} files to {folder}: "
                  + ", ".join(p.name for p in report.files), highlight=False)
