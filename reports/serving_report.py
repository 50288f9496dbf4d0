"""Outputs of a served trace (`hwsim run` / `hwsim roofline` with ``requests:``).

``summary.json`` (per design: TTFT / TPOT / end-to-end p50, p90, p99 and mean, throughput,
mean batch, utilization, energy, the scheduler policy), ``requests.csv`` (one row per request
and design), ``steps.csv`` (one row per scheduler step and design: start, duration, cycles,
tokens, batch, prefill tokens, utilization, energy) and ``serving.png`` (batch size and
utilization over time; TTFT and TPOT distributions). ``throughput_tokens_per_s`` is the
tokens processed (the sum of steps.csv's ``tokens``: prompts and decode steps, as a plain
workload counts them) over the makespan. A roofline run names its utilization
``compute_bound_share`` everywhere (`hwsim.reports.roofline_serving`) and has no cycles (blank
in steps.csv). Without an energy model (the roofline, a measured FPGA build) ``energy_uj`` and
``idle_energy_uj`` are null in summary.json and blank in steps.csv, with ``not_modelled:
["energy"]``. A pure function of the runs: identical inputs give byte-identical files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwsim.errors import HwsimError
from hwsim.files import output_folder
from hwsim.reports.figure_style import categorical_styles, new_figure, save_figure, style
from hwsim.reports.output_files import RUN, earlier_files, remove_stale_files, write_summary
from hwsim.reports.roofline_report import ROOFLINE, is_roofline_file
from hwsim.reports.run_report import earlier_run_files, json_safe
from hwsim.reports.units import format_number, format_quantity
from hwsim.workloads.serving import ServingRun

__all__ = [
    "requests_table",
    "serving_figure",
    "serving_lines",
    "serving_summary",
    "steps_table",
    "write_serving_outputs",
]



def requests_table(runs: Sequence[tuple[str, ServingRun]]) -> pd.DataFrame:
    """One row per request and design: its tokens, arrival, TTFT, TPOT, end-to-end."""
    frames = []
    for name, run in runs:
        frames.append(pd.DataFrame({
            "design": name,
            "request": np.arange(len(run.requests)),
            "arrival_s": run.arrival_s,
            "prompt_tokens": [r.prompt_tokens for r in run.requests],
            "generate_tokens": [r.generate_tokens for r in run.requests],
            "ttft_s": run.ttft_s, "tpot_s": run.tpot_s, "e2e_s": run.e2e_s,
        }))
    return pd.concat(frames, ignore_index=True)


def steps_table(runs: Sequence[tuple[str, ServingRun]]) -> pd.DataFrame:
    """One row per scheduler step and design."""
    frames = []
    for name, run in runs:
        frames.append(pd.DataFrame({
            "design": name, "step": np.arange(len(run.step_s)),
            "start_s": run.step_start_s, "duration_s": run.step_s,
            "cycles": _cycles(run), "tokens": run.step_tokens, "batch": run.step_batch,
            "prefill_tokens": run.step_prefill_tokens,
            run.utilization_name: run.step_utilization,
            "energy_uj": np.nan if _energy_unmodelled(run) else run.step_energy_uj,
        }))
    return pd.concat(frames, ignore_index=True)


def _cycles(run: ServingRun) -> pd.arrays.IntegerArray:
    # Blank, not 0, when the steps were costed by time (the roofline). A nullable integer
    # column keeps a simulator's cycles whole, never a "%.9g" float, whatever it is beside.
    if run.step_cycles is None:
        return pd.array([pd.NA] * len(run.step_s), dtype="Int64")
    return pd.array(run.step_cycles, dtype="Int64")


def _energy_unmodelled(run: ServingRun) -> bool:
    # Steps costed by a roofline machine or on a measured FPGA build carry no energy: a run
    # whose steps all cost 0 has no energy model (any modelled step spends some).
    return len(run.step_s) > 0 and not float(run.step_energy_uj.sum())


def _unmodelled(run: ServingRun) -> dict[str, Any]:
    """No energy model: null energy (idle leakage too), labelled, never a 0 that reads as
    measured."""
    if not _energy_unmodelled(run):
        return {}
    return {"energy_uj": None, "idle_energy_uj": None, "not_modelled": ["energy"]}


def serving_summary(workload: str, runs: Sequence[tuple[str, ServingRun]],
                    target: str) -> dict[str, Any]:
    """The ``summary.json`` body: the first design's figures at the top level, and with more
    than one design a ``designs`` list. `target` names what costed the steps."""
    designs = [{"design": name, **run.summary(), **_unmodelled(run)} for name, run in runs]
    out: dict[str, Any] = {"workload": workload, "serving": True, "costed_by": target,
                           **designs[0]}
    if len(designs) > 1:
        out["designs"] = designs
    return json_safe(out)


def serving_figure(runs: Sequence[tuple[str, ServingRun]]) -> Any:
    """Batch size and utilization over time; TTFT and TPOT distributions (CDFs)."""

    colors = categorical_styles(name for name, _ in runs)
    with style():
        fig = new_figure(9.0, 6.0)
        ax_b, ax_u, ax_ttft, ax_tpot = (fig.add_subplot(2, 2, i) for i in range(1, 5))
        for name, run in runs:
            color = colors[name][0]
            ax_b.step(run.step_start_s, run.step_batch, where="post", label=name,
                      linewidth=0.8, color=color)
            ax_u.step(run.step_start_s, run.step_utilization, where="post", linewidth=0.8,
                      color=color)
            for ax, values in ((ax_ttft, run.ttft_s), (ax_tpot, run.tpot_s)):
                v = np.sort(values[np.isfinite(values)])
                if v.size:
                    ax.plot(v, np.arange(1, v.size + 1) / v.size, color=color)
        ax_b.set(xlabel="time (s)", ylabel="sequences in the step", title="Batch over time")
        # The roofline's compute-bound share of time is not the PE array's busy fraction.
        what = runs[0][1].utilization_name.replace("_", " ")
        ax_u.set(xlabel="time (s)", ylabel=what, title=f"{what.capitalize()} over time",
                 ylim=(0, 1.05))
        ax_ttft.set(xlabel="TTFT (s)", ylabel="fraction of requests",
                    title="Time to first token")
        ax_tpot.set(xlabel="TPOT (s)", ylabel="fraction of requests",
                    title="Time per output token")
        if len(runs) > 1:
            ax_b.legend(fontsize=7)
    return fig


def write_serving_outputs(workload: str, runs: Sequence[tuple[str, ServingRun]],
                          out_dir: str | Path, target: str, *, plots: bool = True,
                          figure_formats: Sequence[str] = ("png",)) -> list[Path]:
    """Write ``summary.json``, ``requests.csv``, ``steps.csv`` and the ``serving`` figure.

    Raises:
        HwsimError: ``out_dir`` is a file, or cannot be created or written (names ``--out``).
    """

    out = output_folder(out_dir)
    files = [out / "requests.csv", out / "steps.csv"]
    # A roofline of a trace records itself as such: a later roofline removes its files, a
    # later `hwsim run` leaves them (it took the record for its own).
    if target == "roofline":
        command, earlier = ROOFLINE, earlier_files(out, ROOFLINE, is_roofline_file)
    else:
        command, earlier = RUN, earlier_run_files(out)
    try:
        requests_table(runs).to_csv(files[0], index=False, float_format="%.9g",
                                    lineterminator="\n")
        steps_table(runs).to_csv(files[1], index=False, float_format="%.9g",
                                 lineterminator="\n")
        if plots:
            files += save_figure(serving_figure(runs), out / "serving", figure_formats)
        files.insert(0, write_summary(out, serving_summary(workload, runs, target), files,
                                      command))
        remove_stale_files(out, earlier, [p.name for p in files])
    except OSError as exc:
        raise HwsimError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    return files


def serving_lines(runs: Sequence[tuple[str, ServingRun]]) -> list[str]:
    """One line per design for the terminal: TTFT, TPOT, end-to-end p50 / p99, throughput."""

    def pct(p: dict[str, float | None], key: str) -> str:
        return format_quantity(p[key], "time") if p[key] is not None else "-"

    lines = []
    for name, run in runs:
        s = run.summary()
        rate = s["output_tokens_per_s"]
        lines.append(
            f"{name}: {s['requests']} requests, {s['steps']} steps, TTFT p50 "
            f"{pct(s['ttft_s'], 'p50')} p99 {pct(s['ttft_s'], 'p99')}, TPOT p50 "
            f"{pct(s['tpot_s'], 'p50')} p99 {pct(s['tpot_s'], 'p99')}, end-to-end p99 "
            f"{pct(s['e2e_s'], 'p99')}, {format_number(rate) if rate else '-'} output tok/s, "
            f"mean batch {format_number(s['mean_batch'] or 0, 3)}")
    return lines
