"""Sweep throughput, by hand: a 1,000-point grid, end to end.

Llama-2-7B (256-token prompt, 20 decode steps) on BitMoD-style hardware, over the decode array
shape (5 x 5), PE lanes (4) and weight format (10): hwsim/sweep/examples/llama2-decode-1000.yaml.
Timed from reading the sweep file to the last plot, with 2 local workers (the target is under
60 s); then the rerun with every point stored; then, with --dask, the same grid on a Dask
LocalCluster of 2 workers. Wall time depends on what else the machine runs (the load average
is printed); CPU time per point (this process and its workers) does much less.

    .venv/bin/python benchmarks/bench_sweep.py [--workers 2] [--dask] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from hwsim.sweep import METRICS, load_sweep, run_sweep, write_report

SWEEP = Path(__file__).resolve().parent.parent / "hwsim/sweep/examples/llama2-decode-1000.yaml"


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the pool's workers, reaped
    when the pool shuts down): unlike wall time, it does not depend on what else runs."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(out: Path, workers: int, executor: str) -> tuple[float, float, object]:
    start, cpu = time.perf_counter(), cpu_seconds()
    spec = load_sweep(SWEEP, metrics=METRICS)
    run = run_sweep(spec, out, workers=workers, executor=executor)
    report = write_report(out)
    return time.perf_counter() - start, cpu_seconds() - cpu, (run, report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dask", action="store_true", help="also run on a Dask LocalCluster")
    parser.add_argument("--out", type=Path, default=None,
                        help="keep the results here (default: a temporary folder)")
    args = parser.parse_args()
    base = args.out or Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    load = os.getloadavg()[0]
    try:
        rows = []
        for label, executor in [("local pool", "local")] + ([("dask", "dask")] if args.dask
                                                            else []):
            out = base / executor
            shutil.rmtree(out, ignore_errors=True)
            seconds, cpu, (run, report) = timed(out, args.workers, executor)
            rows.append((label, "fresh", run.points, run.evaluated, run.failed, seconds, cpu))
            seconds, cpu, (run, _) = timed(out, args.workers, executor)
            rows.append((label, "rerun", run.points, run.evaluated, run.failed, seconds, cpu))
        print(f"sweep {SWEEP.name}: {args.workers} workers, load average before "
              f"{load:.1f} on {os.cpu_count()} cores")
        print(f"{'executor':<11} {'run':<6} {'points':>6} {'simulated':>9} {'failed':>6} "
              f"{'wall s':>7} {'points/s/worker':>15} {'CPU s':>6} {'CPU ms/point':>12}")
        for label, kind, points, evaluated, failed, seconds, cpu in rows:
            rate = evaluated / seconds / args.workers if evaluated else float("nan")
            per_point = cpu / evaluated * 1e3 if evaluated else float("nan")
            print(f"{label:<11} {kind:<6} {points:>6} {evaluated:>9} {failed:>6} "
                  f"{seconds:>7.1f} {rate:>15.2f} {cpu:>6.1f} {per_point:>12.1f}")
        print(f"Pareto front: {len(report.front)} of {len(report.table)} points; "
              f"files in {base if args.out else '(temporary folder, removed)'}")
    finally:
        if args.out is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
