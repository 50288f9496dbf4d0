"""RTL figures: Verilog generation per block, golden-model and Amaranth-simulation speed.

Run by hand: ``.venv/bin/python benchmarks/bench_rtl.py``. Prints a table; writes nothing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from hwsim.hw.rtl.bitmod import BitModConfig, BitModPE
from hwsim.hw.rtl.models import bitmod_model
from hwsim.hw.rtl.registry import build, list_blocks
from hwsim.hw.rtl.verilog import to_verilog


def main() -> None:
    # The Amaranth stream driver and stimuli are the tests' own helpers.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "hw" / "rtl"))
    from rtl_stimuli import bitmod_random
    from rtl_stream import run_stream

    print("Verilog generation (default parameters)")
    print(f"{'block':<12}{'seconds':>10}{'lines':>9}{'bytes':>10}")
    for block in list_blocks():
        t0 = time.perf_counter()
        text = to_verilog(build(block.name), block.name)
        dt = time.perf_counter() - t0
        print(f"{block.name:<12}{dt:>10.2f}{text.count(chr(10)):>9}{len(text):>10}")

    c = BitModConfig()  # fp4, 4 lanes, group 128, k 256
    rng = np.random.default_rng(0)
    n = 2000
    w = rng.integers(0, 16, (n, c.beats, 1, c.lanes))
    a = rng.normal(0, 1, (n, c.beats, 1, c.lanes)).astype(np.float16).view(np.uint16)
    s = rng.integers(0, 256, (n, c.beats, 1))
    t0 = time.perf_counter()
    bitmod_model(c, w, a, s, s & 1, s % 5)
    dt = time.perf_counter() - t0
    print(f"\ngolden model, BitMoD PE k=256: {n / dt:,.0f} outputs/s "
          f"({n * c.k / dt / 1e6:.2f} M weights/s)")

    # Two runs of different length: the difference removes elaboration and simulator setup.
    timings = []
    for n_out in (1, 6):
        case = bitmod_random(c, n=n_out)
        t0 = time.perf_counter()
        run = run_stream(BitModPE(c), case.beats, len(case.expected), case.out_ports)
        timings.append((run.load_edges[-1] + 1, time.perf_counter() - t0))
    (c1, t1), (c2, t2) = timings
    print(f"Amaranth simulator, BitMoD PE k=256: setup {t1 - c1 * (t2 - t1) / (c2 - c1):.2f} s, "
          f"{(c2 - c1) / (t2 - t1):,.0f} cycles/s")

if __name__ == "__main__":
    main()
