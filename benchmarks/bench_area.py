"""The ASIC cost flow by hand: `hwsim area` time, every block's gates, a lanes sweep, the
28 nm calibration.

    .venv/bin/python benchmarks/bench_area.py [--out out/bench_area]

Part 1: `hwsim area bitmod_pe` end to end twice in fresh processes: without a netlist cache
(Yosys runs for the block and the calibration blocks) and with it (target: < 60 s after the
first Yosys compile). Part 2: NAND2 equivalents, flip-flops and pJ/cycle per weight format of
each block that has an operand model. Part 3: a sweep over the BitMoD PE's lanes through
`pe.lanes` on the bitmod-rtl preset, the block re-synthesized per point, repeated points
answered from the memo. Part 4: the calibration table.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from hwsim.hw.asic import block_cost, calibrate
from hwsim.hw.asic.report import calibration_lines
from hwsim.hw.presets import load_hardware
from hwsim.hw.spec import with_overrides

BLOCKS = [
    ("bitmod_pe", {"weights": "bitmod", "accumulator": "bitmod"}),
    ("bitmod_pe", {}),
    ("fp16_int_mac", {}),
    ("int_mac", {}),
    ("dint_mac", {}),
    ("dequant", {}),
    ("bipolar_pe", {}),
]


def _cli_seconds(out: Path, cache: Path) -> float:
    hwsim = Path(sys.executable).with_name("hwsim")
    t0 = time.perf_counter()
    subprocess.run([str(hwsim), "area", "bitmod_pe", "--out", str(out), "--cache", str(cache)],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/bench_area"))
    args = parser.parse_args()
    cache = args.out / "netlists"
    shutil.rmtree(cache, ignore_errors=True)

    cold = _cli_seconds(args.out / "cli", cache)
    warm = _cli_seconds(args.out / "cli", cache)
    print(f"hwsim area bitmod_pe: {cold:.1f} s without a netlist cache, {warm:.1f} s with it\n")

    cal = calibrate("28nm", cache)
    print(f"{'block':13} {'params':34} {'NAND2 eq':>9} {'FF':>5} {'um^2 28nm':>10} {'s':>5}  "
          "pJ/cycle (28 nm) per weight format")
    for name, params in BLOCKS:
        t0 = time.perf_counter()
        cost = block_cost(name, params, cache)
        secs = time.perf_counter() - t0
        text = ",".join(f"{k}={v}" for k, v in params.items()) or "defaults"
        energy = ", ".join(f"{a.weight_format} {cal.energy_pj(a.switching.total):.3f}"
                           for a in cost.activity) or "not modelled"
        print(f"{name:13} {text:34} {cost.nand2_eq:9.0f} {cost.flops:5} "
              f"{cal.area_um2(cost):10.1f} {secs:5.1f}  {energy}", flush=True)

    print("\nsweep pe.lanes on bitmod-rtl (PE area um^2 / pJ per cycle at 28 nm):")
    hw = load_hardware("bitmod-rtl")
    for lanes in (2, 4, 8, 4, 2):
        t0 = time.perf_counter()
        point = with_overrides(hw, {"pe.lanes": lanes})
        print(f"  lanes={lanes}: {point.pe.area_um2:8.1f} um^2 {point.pe.energy_pj_per_cycle:.3f} "
              f"pJ/cycle  ({time.perf_counter() - t0:.1f} s)", flush=True)

    print()
    for line in calibration_lines(cal):
        print(line)


if __name__ == "__main__":
    main()
