"""`hwsim roofline`: where each operator of a workload is bound on a machine."""

from __future__ import annotations

from pathlib import Path

import typer

from hwsim.errors import HwsimError


def roofline(
    workload: str = typer.Argument(
        None, help="Workload YAML, or the name of a bundled example (default: "
        "llama-2-7b-generative)."),
    hardware: str = typer.Option(
        None, "--hardware", "-H", help="Machine preset (a100-40g, a100-80g, h100-sxm, rtx4090, "
        "a6000, bitmod, ant, olive, fp16, dint, int8-systolic) or a machine YAML; default: the "
        "workload's 'hardware'."),
    out: Path = typer.Option(Path("out/roofline"), "--out", "-o",
                             help="Folder for roofline.csv/.md, summary.json and the plots."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw the PNG figures."),
) -> None:
    """Roofline of every prefill and decode operator: FLOPs, bytes, bound, time; TTFT/TPOT."""
    from rich.console import Console
    from rich.table import Table

    from hwsim.reports.roofline import load_machine, roofline_report
    from hwsim.workloads import DEFAULT_WORKLOAD, load_workload, resolve_workload_path

    path = resolve_workload_path(workload or DEFAULT_WORKLOAD)
    w = load_workload(path)
    if hardware is not None:
        machine_ref = hardware
    elif w.hardware is None:
        raise HwsimError(f"{w.source}: no machine: give --hardware or a 'hardware' key")
    elif "/" in w.hardware or w.hardware.endswith((".yaml", ".yml")):
        # A machine path inside a workload is relative to the workload's folder.
        hw_path = Path(w.hardware).expanduser()
        machine_ref = str(hw_path if hw_path.is_absolute() else path.parent / hw_path)
    else:
        machine_ref = w.hardware
    machine = load_machine(machine_ref)
    rep = roofline_report(w, machine, out, plots=plots)

    console = Console()
    s = rep.summary
    table = Table(title=f"{w.name} on {machine.name}")
    for col in ("stage", "ops", "GFLOP", "GB moved", "time", "tokens/s", "memory-bound"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for stage, st in s["stages"].items():
        mem_share = st["memory_bound_time_s"] / st["time_s"] if st["time_s"] else 0.0
        tps = f"{st['tokens_per_s']:.4g}" if st["tokens_per_s"] else "-"
        table.add_row(stage, str(st["ops"]), f"{st['flops'] / 1e9:.4g}",
                      f"{st['bytes'] / 1e9:.4g}", _fmt_s(st["time_s"]), tps,
                      f"{100 * mem_share:.0f}%")
    console.print(table)
    tot = s["total"]
    tpot = _fmt_s(tot["tpot_s"]) if tot["tpot_s"] is not None else "-"
    mem = s["memory"]
    rates = [f"{tot[k]:.4g}" if tot[k] else "-"
             for k in ("throughput_tokens_per_s", "decode_tokens_per_s")]
    console.print(
        f"total {_fmt_s(tot['time_s'])}  TTFT {_fmt_s(tot['ttft_s'])}  TPOT {tpot}  "
        f"tok/s all {rates[0]}  tok/s decode {rates[1]}  "
        f"memory {mem['total_bytes'] / 2**30:.3g} GiB "
        f"({'fits' if mem['fits'] else 'does NOT fit'} in {machine.name}'s "
        f"{mem['machine_capacity_bytes'] / 2**30:.3g} GiB)", highlight=False)
    console.print(f"wrote {', '.join(str(p) for p in rep.files.values())}", highlight=False)


def _fmt_s(t: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:.4g} {unit}"
    return f"{t * 1e9:.4g} ns"
