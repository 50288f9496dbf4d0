"""Benchmark: quantize every linear layer of the shipped MiniLM checkpoint in 7 formats.

Prints the time per format and in total, and the peak resident memory of the process.
Target: under 15 s on one core, peak memory under 1 GB.

Run by hand: ``.venv/bin/python benchmarks/bench_fidelity.py``.
"""

from __future__ import annotations

import os

# One core: BLAS thread pools otherwise spin against other processes on a shared machine.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

FORMATS = ("int4", "fp4_e2m1", "bitmod4", "ant4", "olive4", "mxfp4", "nf4")
TARGET_S = 15.0
TARGET_MB = 1024.0


def main() -> int:
    from hwsim.errors import HwsimError
    from hwsim.reports.fidelity import format_summary, layer_fidelity
    from hwsim.workloads.checkpoints import demo_checkpoint_path, open_checkpoint

    try:
        ckpt = open_checkpoint(demo_checkpoint_path())
    except HwsimError as exc:
        print(f"skipped: {exc}")
        return 0
    layers = ckpt.linear_layers()
    params = sum(lin.params for lin in layers)
    print(f"MiniLM-L6: {len(layers)} linear layers, {params:,} weights, formats: "
          f"{', '.join(FORMATS)}")
    total = cpu_total = 0.0
    tables = []
    # CPU time beside wall time: on a shared machine the wall clock also counts waiting.
    for fmt in FORMATS:
        t0, c0 = time.perf_counter(), time.process_time()
        tables.append(layer_fidelity(ckpt, [fmt]))
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        total += dt
        cpu_total += dc
        print(f"  {fmt:10s} {dt:7.2f} s wall {dc:7.2f} s CPU  "
              f"({params / dc / 1e6:6.2f} M weights per CPU second)")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    import pandas as pd

    summary = format_summary(pd.concat(tables, ignore_index=True), ckpt)
    print(summary[["format", "bits_per_weight", "sqnr_db_mean", "sqnr_db_min"]]
          .to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"total {total:.2f} s wall, {cpu_total:.2f} s CPU (target < {TARGET_S:.0f} s); "
          f"peak RSS {peak_mb:.0f} MB (target < {TARGET_MB:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
