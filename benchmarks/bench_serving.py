"""Serving speed: a 1,000-request trace of Llama-2-7B on the bitmod preset.

Target: under 10 s on one core, with continuous batching up to 32 sequences and
prompt + generated lengths up to 4k. The trace is drawn with a fixed seed: Poisson arrivals
(one per 20 s on average, about the design's capacity), prompts uniform in 64 .. 3072
tokens, outputs uniform in 16 .. 1024 tokens (capped so prompt + output - 1 <= 4096).
Prints the time and the serving figures.

Run by hand: ``.venv/bin/python benchmarks/bench_serving.py [requests]``.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def trace(n: int, seed: int = 0) -> list[dict]:
    """The benchmark's requests (see the module docstring)."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(20.0, n))
    prompts = rng.integers(64, 3073, n)
    outputs = np.minimum(rng.integers(16, 1025, n), 4097 - prompts)
    return [{"arrival_s": round(float(a), 6), "prompt_tokens": int(p),
             "generate_tokens": int(g)} for a, p, g in zip(arrivals, prompts, outputs,
                                                           strict=True)]


def main() -> None:
    from hwsim.hw import load_hardware
    from hwsim.sim.serving import simulate_serving
    from hwsim.workloads import workload_from_dict

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    t0 = time.perf_counter()
    w = workload_from_dict({"model": "llama-2-7b", "requests": trace(n),
                            "weights": {"format": "bitmod3", "group_size": 128},
                            "serving": {"max_batch": 32, "max_tokens_per_step": 2048}})
    hw = load_hardware("bitmod")
    t1 = time.perf_counter()
    c1 = time.process_time()
    run = simulate_serving(w, hw)
    t2 = time.perf_counter()
    c2 = time.process_time()
    s = run.summary()
    print(f"serving: llama-2-7b on bitmod, {n} requests, max batch 32, 2048 tokens/step")
    print(f"  load workload        {t1 - t0:8.2f} s")
    print(f"  simulate (target < 10 s for 1000) {t2 - t1:8.2f} s wall, {c2 - c1:.2f} s CPU, "
          f"{s['steps']} steps")
    for key in ("ttft_s", "tpot_s", "e2e_s"):
        p = s[key]
        print(f"  {key:6} p50 {p['p50']:.4g}  p90 {p['p90']:.4g}  p99 {p['p99']:.4g}")
    print(f"  makespan {s['makespan_s']:.4g} s, output tokens/s {s['output_tokens_per_s']:.4g}, "
          f"mean batch {s['mean_batch']:.3g}, utilization {s['utilization']:.3f}")


if __name__ == "__main__":
    main()
