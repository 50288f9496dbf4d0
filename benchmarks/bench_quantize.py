"""Quantizer speed and peak memory on one core: a 4096 x 4096 float32 weight.

Targets: >= 50 M weights/s for int4 g128, >= 15 M weights/s for bitmod4, no format
below 2 M weights/s, peak memory under 8x the tensor's size.

    python benchmarks/bench_quantize.py [--formats int4,bitmod4] [--size 4096] [--repeat 3]

Weights per second use the best of `--repeat` runs (the machine is shared); peak memory is
what tracemalloc sees NumPy allocate during one run, beyond the input tensor.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the target says

import numpy as np

from hwsim.dtypes import list_formats, quantize


def weight(n: int, seed: int = 0) -> np.ndarray:
    """Gaussian weight (std 0.02, as LLM layers) with 0.05% outliers 10-30x larger."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((n, n)) * 0.02).astype(np.float32)
    idx = rng.choice(w.size, size=w.size // 2000, replace=False)
    w.reshape(-1)[idx] *= rng.uniform(10, 30, size=idx.size).astype(np.float32)
    return w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default=",".join(list_formats()))
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    w = weight(args.size)
    mb = w.nbytes / 2**20
    print(f"tensor {w.shape} float32 = {mb:.0f} MiB; best of {args.repeat}")
    print(f"{'format':<14}{'group':>7}{'M weights/s':>13}{'peak MiB':>10}{'x tensor':>9}"
          f"{'SQNR dB':>9}{'bits/w':>8}")
    slow = []
    for name in args.formats.split(","):
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            r = quantize(w, name)
            best = min(best, time.perf_counter() - start)
            del r
        tracemalloc.start()
        r = quantize(w, name)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        rate = w.size / best / 1e6
        if rate < 2:
            slow.append(name)
        print(f"{name:<14}{r.group_size or 'tensor'!s:>7}{rate:>13.1f}{peak:>10.0f}"
              f"{peak / mb:>9.1f}{r.sqnr_db:>9.2f}{r.bits_per_weight:>8.3f}", flush=True)
        del r
    print("formats below 2 M weights/s:", ", ".join(slow) or "none")


if __name__ == "__main__":
    main()
