"""`hwsim run`: simulate a workload on an accelerator (and baselines), write the reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hwsim.errors import HwsimError

# The embedded default when neither --hardware nor the workload names one.
DEFAULT_HARDWARE = "bitmod"


def _hardware_ref(ref: str, workload_dir: Path | None) -> str:
    """A hardware path written inside a workload is relative to the workload's folder."""
    if workload_dir is not None and ("/" in ref or ref.endswith((".yaml", ".yml"))):
        p = Path(ref).expanduser()
        return str(p if p.is_absolute() else workload_dir / p)
    return ref


def _parse_sets(sets: list[str]) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for item in sets:
        path, sep, raw = item.partition("=")
        if not sep or not path.strip():
            raise HwsimError(f"--set {item!r}: expected FIELD=VALUE, e.g. array.rows=64")
        try:
            # YAML scalars: 64 -> int, 1.5 -> float, ws -> str.
            out[path.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise HwsimError(f"--set {item!r}: cannot read the value {raw!r}") from None
    return out


def run(
    workload: str = typer.Argument(
        None, help="Workload YAML, or the name of a bundled example (default: "
        "llama-2-7b-generative)."),
    hardware: str = typer.Option(
        None, "--hardware", "-H", help="Hardware preset (bitmod, fp16, ant, olive, dint, "
        "int8-systolic, scalesim-ws/os/is) or a hardware YAML; default: the workload's "
        "'hardware', else bitmod."),
    compare: str = typer.Option(
        None, "--compare", "-c", help="Comma-separated presets or YAMLs to run beside it; "
        "speedup and energy efficiency are normalized to the first of them."),
    sets: list[str] = typer.Option(
        [], "--set", "-s", help="Override one field of the main hardware, e.g. "
        "--set array.rows=64 --set dram.bytes_per_cycle=64 (repeatable)."),
    out: Path = typer.Option(Path("out/run"), "--out", "-o",
                             help="Folder for summary.json, layers.csv and the plots."),
) -> None:
    """Map every operator onto the accelerator: cycles, latency, energy and area."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from hwsim.hw import load_hardware, with_overrides
    from hwsim.reports.run_report import comparison_table, summary_table, write_run_outputs
    from hwsim.sim import simulate_workload
    from hwsim.workloads import DEFAULT_WORKLOAD, example_path, example_workloads, load_workload

    ref = workload or DEFAULT_WORKLOAD
    path = Path(ref)
    if not path.exists() and ref in example_workloads():
        path = example_path(ref)
    w = load_workload(path)
    main_ref = hardware or _hardware_ref(w.hardware or DEFAULT_HARDWARE, path.parent)
    designs = [load_hardware(main_ref)]
    overrides = _parse_sets(sets)
    if overrides:
        designs[0] = with_overrides(designs[0], overrides)
    compared = [c.strip() for c in (compare or "").split(",") if c.strip()]
    designs += [load_hardware(c) for c in compared]

    console = Console()
    results = []
    with Progress(console=console, transient=True) as progress:
        for hw in designs:
            task = progress.add_task(f"{hw.name}", total=None)

            def tick(done: int, total: int, label: str, task: Any = task, hw: Any = hw) -> None:
                progress.update(task, completed=done, total=total,
                                description=f"{hw.name}: {label}")

            results.append(simulate_workload(w, hw, progress=tick))
    baseline = 1 if compared else 0
    written = write_run_outputs(results, out, baseline=baseline)

    table = Table(title=f"{w.name}")
    summary = summary_table(results)
    for col in ("design", "latency ms", "tok/s all", "tok/s decode", "mJ/token", "PE", "SRAM",
                "DRAM", "other", "mm²"):
        table.add_column(col, justify="left" if col == "design" else "right")
    for row in summary.to_dict(orient="records"):
        total = row["energy_uj"] or 1.0
        sram = row["sram_weight_uj"] + row["sram_activation_uj"] + row["sram_output_uj"]
        other = row["dequant_uj"] + row["leakage_uj"]
        rates = [f"{row[k]:.4g}" if row[k] else "-"
                 for k in ("throughput_tokens_per_s", "decode_tokens_per_s")]
        ept = f"{row['energy_per_token_uj'] / 1e3:.4g}" if row["energy_per_token_uj"] else "-"
        table.add_row(row["design"], f"{row['latency_ms']:.4g}", *rates, ept,
                      f"{100 * row['pe_uj'] / total:.0f}%", f"{100 * sram / total:.0f}%",
                      f"{100 * row['dram_uj'] / total:.0f}%", f"{100 * other / total:.0f}%",
                      f"{row['area_mm2']:.3g}")
    console.print(table)
    console.print("tok/s all: prompt + decode tokens / total latency; tok/s decode: tokens "
                  "generated by the decode steps / decode latency", highlight=False)
    if compared:
        comp = comparison_table(results, baseline)
        ctable = Table(title=f"normalized to {results[baseline].hardware.name}")
        for col in ("design", "speedup", "energy efficiency"):
            ctable.add_column(col, justify="left" if col == "design" else "right")
        for row in comp.to_dict(orient="records"):
            ctable.add_row(row["design"], f"{row['speedup']:.3g}x",
                           f"{row['energy_efficiency']:.3g}x")
        console.print(ctable)
    for r in results:
        if r.hardware.weights is not None:
            console.print(f"{r.hardware.name} stores weights as "
                          f"{r.summary()['hardware']['weights']}", highlight=False)
    if results[0].not_simulated:
        console.print(f"not on the PE array (vector ops): {len(results[0].not_simulated)} "
                      "operators, listed in summary.json", highlight=False)
    console.print(f"wrote {', '.join(str(p) for p in written)}", highlight=False)
