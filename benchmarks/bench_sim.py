"""Simulator speed: Llama-2-7B 2048 + 256 and Llama-2-70B 3072 + 1024 tokens on bitmod (every
decode step simulated), and a 1024^3 GEMM on scalesim-ws.

Targets: the Llama-2-7B run under 2 s and 300 MB on one core, the Llama-2-70B run
(its full 4k context) under 0.1 s; the GEMM under 50 ms.
Run by hand: ``.venv/bin/python benchmarks/bench_sim.py`` (prints the figures).
SCALE-Sim 3.0.0 itself took 381 s for the same GEMM on this machine (one run, ws 32 x 32,
stall-free CALC bandwidth, niced beside other jobs); the ratio below uses that figure.
"""

from __future__ import annotations

import resource
import time

SCALESIM_1024_WS_SECONDS = 381.0


def _best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    from hwsim.hw import load_hardware
    from hwsim.sim import simulate_gemm, simulate_workload
    from hwsim.sim.precision import OperandWidths
    from hwsim.workloads import workload_from_dict

    # 2048 prompt tokens + 256 generated tokens, every decode step simulated.
    w = workload_from_dict({"model": "llama-2-7b", "prompt_tokens": 2048,
                            "generate_tokens": 257,
                            "weights": {"format": "bitmod3", "group_size": 128}})
    hw = load_hardware("bitmod")
    t0 = time.perf_counter()
    r = simulate_workload(w, hw)
    first = time.perf_counter() - t0
    again = _best_of(lambda: simulate_workload(w, hw), 2)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"llama-2-7b 2048+256 on bitmod: {first:.3f} s first run, {again:.3f} s best rerun, "
          f"peak RSS {rss_mb:.0f} MB (targets: 2 s, 300 MB); "
          f"{r.total_cycles:,} cycles, {r.latency_ms:.1f} ms simulated, "
          f"{r.stage_totals()['decode']['steps']} decode steps")

    # Llama-2-70B over its full 4k context: 1024 distinct decode shapes per attention op.
    w70 = workload_from_dict({"model": "llama-2-70b", "prompt_tokens": 3072,
                              "generate_tokens": 1025,
                              "weights": {"format": "bitmod3", "group_size": 128}})
    simulate_workload(w70, hw)
    secs70 = _best_of(lambda: simulate_workload(w70, hw), 5)
    cpu0 = time.process_time()
    simulate_workload(w70, hw)
    cpu70 = time.process_time() - cpu0
    print(f"llama-2-70b 3072+1024 on bitmod: {secs70:.3f} s best of 5, {cpu70:.3f} s CPU "
          "(target 0.1 s on one core)")

    ws = load_hardware("scalesim-ws")
    widths = OperandWidths(16, 16)
    secs = _best_of(lambda: simulate_gemm(1024, 1024, 1024, ws, widths, 16, 16, 16), 5)
    cost = simulate_gemm(1024, 1024, 1024, ws, widths, 16, 16, 16)
    print(f"GEMM 1024^3 on scalesim-ws 32x32: {secs * 1e3:.2f} ms (target 50 ms); "
          f"compute {cost.compute_cycles:,} cycles (SCALE-Sim 3.0.0: 1,144,831); "
          f"{SCALESIM_1024_WS_SECONDS / secs:,.0f}x faster than SCALE-Sim's "
          f"{SCALESIM_1024_WS_SECONDS:.0f} s")


if __name__ == "__main__":
    main()
