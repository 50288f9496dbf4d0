"""`hwsim run`: simulate a workload on an accelerator (and baselines), write the reports."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import typer

from hwsim.cli.paths import given_path
from hwsim.errors import HwsimError

# The embedded default when neither --hardware nor the workload names one.
DEFAULT_HARDWARE = "bitmod"


def _parse_sets(sets: list[str]) -> dict[str, Any]:
    from hwsim.files import parse_yaml

    out: dict[str, Any] = {}
    for item in sets:
        path, sep, raw = item.partition("=")
        if not sep or not path.strip():
            raise HwsimError(f"--set {item!r}: expected FIELD=VALUE, e.g. array.rows=64")
        if path.strip() in out:
            raise HwsimError(f"--set {path.strip()} is given twice: give each field once")
        if not raw.strip():
            raise HwsimError(f"--set {item!r}: no value after '=', e.g. array.rows=64")
        # YAML scalars: 64 -> int, 1.5 -> float, ws -> str (under the files' rules).
        out[path.strip()] = parse_yaml(raw, f"--set {path.strip()}")
    return out


def _load_design(ref: str | Path, where: str) -> Any:
    """`load_hardware`, its error prefixed with where ``ref`` came from (an option, or the
    workload file's ``hardware`` key, which the workload resolves to a path if it is one)."""
    from hwsim.hw import load_hardware

    if isinstance(ref, str):
        if not ref.strip():
            raise HwsimError(f"{where}: empty; give a hardware preset or a hardware YAML")
        ref = ref.strip()
    try:
        return load_hardware(ref)
    except HwsimError as exc:
        raise HwsimError(f"{where}: {exc}") from None


def _compare_items(compare: str | None) -> list[tuple[str, str, str]]:
    """``--compare``'s items as (item, design, format or ""); empty items and a ``:`` with no
    format are errors, as is an item given twice."""
    if compare is None:
        return []
    from hwsim.files import comma_list

    out = []
    for item in comma_list(compare, "--compare"):
        ref, colon, fmt = item.partition(":")
        if colon and not fmt.strip():
            raise HwsimError(f"--compare {item!r}: no weight format after ':' (e.g. ant:ant4)")
        out.append((item, ref.strip(), fmt.strip()))
    return out


def _with_weight_format(hw: Any, fmt: str, item: str) -> Any:
    """``ant:ant4``: the design storing its weights in a format of its own, named so."""
    from hwsim.dtypes import get_format
    from hwsim.hw import with_overrides

    try:
        fmt = get_format(fmt).name  # ANT4 and ant4 are one format, named once
        changed = with_overrides(hw, {"weights.format": fmt})
    except HwsimError as exc:
        raise HwsimError(f"--compare {item!r}: {str(exc).split(': ', 1)[-1]}") from None
    return dataclasses.replace(changed, name=f"{hw.name}:{fmt}")


def run(
    workload: str = typer.Argument(
        None, help="Workload YAML, or the name of a bundled example (default: "
        "llama-2-7b-generative)."),
    hardware: str = typer.Option(
        None, "--hardware", "-H", help="Hardware preset (bitmod, fp16, ant, olive, dint, "
        "int8-systolic, scalesim-ws/os/is) or a hardware YAML; default: the workload's "
        "'hardware', else bitmod."),
    compare: str = typer.Option(
        None, "--compare", "-c", help="Comma-separated presets or YAMLs to run beside it, each "
        "optionally as DESIGN:FORMAT to store its weights in FORMAT (e.g. ant:ant4,olive:olive4);"
        " speedup and energy efficiency are normalized to the first of them."),
    sets: list[str] = typer.Option(
        [], "--set", "-s", help="Override one field of the main hardware, e.g. "
        "--set array.rows=64 --set dram.bytes_per_cycle=64 (repeatable)."),
    out: Path = typer.Option(Path("out/run"), "--out", "-o",
                             parser=given_path,
                             help="Output folder: summary.json, layers.csv, report.html and "
                             "the plots (a served trace: summary.json, requests.csv, "
                             "steps.csv and serving.png)."),
    figure_format: str = typer.Option("png", "--figure-format",
                                      help="Figure files: any of png,pdf,svg, comma-separated."),
) -> None:
    """Map every operator onto the accelerator: cycles, latency, energy and area."""
    from rich.console import Console
    from rich.progress import Progress

    from hwsim.files import check_inputs_spared
    from hwsim.hw import distinct_names, load_hardware, same_design, with_overrides
    from hwsim.reports.figure_style import parse_figure_formats
    from hwsim.reports.run_report import (
        comparison_text_table,
        run_file_names,
        summary_text_table,
        vector_ops,
        vector_ops_line,
        weights_run,
        write_run_outputs,
    )
    from hwsim.reports.text_table import print_table
    from hwsim.sim import simulate_workload
    from hwsim.workloads import DEFAULT_WORKLOAD, load_workload, resolve_workload_path

    figure_formats = parse_figure_formats(figure_format)
    path = resolve_workload_path(DEFAULT_WORKLOAD if workload is None else workload)
    w = load_workload(path)
    if hardware is not None:
        main = _load_design(hardware, "--hardware")
    elif w.hardware is not None:  # an empty name is the workload's error, not "bitmod"
        main = _load_design(w.hardware, f"{path}: hardware")
    else:
        main = load_hardware(DEFAULT_HARDWARE)
    designs = [main]
    overrides = _parse_sets(sets)
    if overrides:
        designs[0] = with_overrides(designs[0], overrides)
    compared = _compare_items(compare)
    chosen: dict[int, str] = {}
    # What each design was given as, for the notes and to refuse one design given twice
    # under two spellings (ant:ant4 and ANT:ANT4), which the item check cannot see.
    given = ["the main design"]
    for item, ref, fmt in compared:
        hw = _load_design(ref, f"--compare {item!r}")
        if fmt:
            hw = _with_weight_format(hw, fmt, item)
            chosen[len(designs)] = fmt
        same = next((label for label, other in zip(given, designs, strict=True)
                     if same_design(hw, other)), None)
        if same is not None:
            raise HwsimError(f"--compare {item!r}: the same design as {same}; give each "
                             "design once")
        designs.append(hw)
        given.append(repr(item))
    if overrides and any(hw.name == designs[0].name for hw in designs[1:]):
        # the design as stored keeps its name; the one --set changed says so
        designs[0] = dataclasses.replace(designs[0], name=f"{designs[0].name}+set")
    designs = distinct_names(designs)

    # Before any work: none of the files the run writes may be one it reads.
    check_inputs_spared(out, run_file_names(), [path, w.trace_file,
                                                *(hw.source for hw in designs)])
    console = Console()
    if w.served:
        _serve(w, designs, out, console, figure_formats)
        return
    results = []
    with Progress(console=console, transient=True) as progress:
        for hw in designs:
            task = progress.add_task(f"{hw.name}", total=None)

            def tick(done: int, total: int, label: str, task: Any = task, hw: Any = hw) -> None:
                progress.update(task, completed=done, total=total,
                                description=f"{hw.name}: {label}")

            results.append(simulate_workload(w, hw, progress=tick))
    baseline = 1 if compared else 0
    weights = [weights_run(w, hw) for hw in designs]
    vector = [vector_ops(w, hw) for hw in designs]
    written = write_run_outputs(results, out, baseline=baseline, weights=weights,
                                figure_formats=figure_formats, vector=vector)

    print_table(console, summary_text_table(results, f"{w.name}", weights))
    if compared:
        print_table(console, comparison_text_table(results, baseline))
    refs = [hardware or w.hardware or DEFAULT_HARDWARE, *(ref for _, ref, _ in compared)]
    for note in _weight_notes(designs, weights, chosen, refs):
        console.print(note, highlight=False)
    for r, v in zip(results, vector, strict=True):
        if v["count"]:
            console.print(vector_ops_line(r.hardware.name, v, r.latency_ms * 1e-3),
                          highlight=False)
    console.print(f"wrote {', '.join(str(p) for p in written)}", highlight=False)


def _serve(w: Any, designs: list[Any], out: Path, console: Any,
           figure_formats: tuple[str, ...]) -> None:
    """A request trace (or batch list): every scheduler step costed by the simulator."""
    from hwsim.reports.serving_report import serving_lines, write_serving_outputs
    from hwsim.sim.serving import simulate_serving

    runs = [(hw.name, simulate_serving(w, hw)) for hw in designs]
    written = write_serving_outputs(w.name, runs, out, "simulator",
                                    figure_formats=figure_formats)
    for line in serving_lines(runs):
        console.print(line, highlight=False)
    console.print(f"wrote {', '.join(str(p) for p in written)}", highlight=False)


def _weight_notes(designs: list[Any], weights: list[dict[str, Any]],
                  chosen: dict[int, str], refs: list[str]) -> list[str]:
    """Say where each design's weight format comes from, so no design silently runs another
    design's format (``refs``: each design as given, for the advice)."""
    notes = []
    for i, (hw, ws) in enumerate(zip(designs, weights, strict=True)):
        if hw.core is not None:
            notes.append(f"{hw.name}: bytes and bits/w as the RTL core stores them: "
                         f"{hw.core.storage()}")
        rtl = getattr(hw.pe, "rtl", None)
        if (rtl is not None and rtl.format is not None
                and "energy_pj_per_cycle" not in rtl.derived):
            # A sweep over it would give rows that differ in their label only.
            notes.append(f"{hw.name}: pe.rtl.format {rtl.format} has no effect: "
                         f"pe.energy_pj_per_cycle is a number "
                         f"({hw.pe.energy_pj_per_cycle} pJ), not `rtl`")
        if ws["format"] is None:
            continue
        if (rtl is not None and rtl.energy_format not in (None, ws["format"])
                and ws["format"] not in rtl.energies):
            # Pinned by pe.rtl.format, or no operand model for the format (FP16 weights).
            why = ("pe.rtl.format" if not rtl.energies
                   else f"the native format's: {rtl.block} has no operand model for "
                   f"{ws['format']}")
            notes.append(f"{hw.name}: PE energy per cycle from the RTL at {rtl.energy_format} "
                         f"weights ({why}), not these {ws['format']} ones "
                         f"(`hwsim area {rtl.block}` gives each format's)")
        if i in chosen:
            notes.append(f"{hw.name} runs {ws['format']} weights (chosen on the command line)")
        elif hw.weights is not None:
            notes.append(f"{hw.name} runs {ws['format']} weights (the design's own)")
        elif i > 0:
            notes.append(f"{hw.name} runs the workload's {ws['format']} weights (write "
                         f"{refs[i]}:FORMAT in --compare to run a format of its own)")
    return notes
