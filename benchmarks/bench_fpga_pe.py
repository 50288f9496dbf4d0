"""One PE of each kind through the FPGA flow, by hand: synthesis and P&R times, area, fmax.

    .venv/bin/python benchmarks/bench_fpga_pe.py [--device ecp5-25k] [--seeds 3]

Part 1 (`hwsim synth`): the bare blocks side by side, Yosys ``synth_ice40`` without DSPs, and
the gate depth of the generic mapping (``--target generic``: the ASIC-style clock proxy).
Part 2 (`hwsim fpga`): each PE inside the I/O harness placed and routed on the device, fmax
the median of the seeds; the target is one PE on ECP5-25k in under 3 minutes.
Files go under out/bench_fpga_pe.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hwsim.errors import HwsimError
from hwsim.hw.fpga import fpga_block, get_device, synth_block

BLOCKS = [
    # The issue's BitMoD target: one build of BitMoD's decoder (fp3/fp4/INT4/6/8), its floating
    # group accumulator with its fastest loop, every pipeline cut.
    ("bitmod_pe", {"weights": "bitmod", "accumulator": "bitmod", "pipeline": 7,
                   "loop": "decoded"}),
    ("dint_mac", {"lanes": 4}),
    ("int_mac", {"lanes": 4}),
    ("fp16_int_mac", {"lanes": 4}),
    ("bipolar_pe", {"lanes": 4}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="ecp5-25k")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--freq", type=float, default=50.0)
    parser.add_argument("--out", type=Path, default=Path("out/bench_fpga_pe"))
    parser.add_argument("--speed", type=int, default=None,
                        help="speed grade (ECP5: 6, 7 or 8; default the device's, 6)")
    args = parser.parse_args()
    try:  # before any tool runs
        device = get_device(args.device)
        part = device.part_name(device.check_speed(args.speed))
    except HwsimError as err:  # an unknown --device or a grade it lacks
        parser.error(str(err))

    print("synth_ice40, no DSP (bare block); gate depth of the generic mapping:")
    print(f"{'block':11} {'params':44} {'LUT4':>6} {'FF':>5} {'carry':>6} {'gates':>6} "
          f"{'Yosys s':>8}")
    for name, params in BLOCKS:
        r = synth_block(name, params, "ice40", args.out / "synth" / name)
        g = synth_block(name, params, "generic", args.out / "generic" / name)
        text = ",".join(f"{k}={v}" for k, v in params.items()) or "defaults"
        print(f"{name:11} {text:44} {r.resources.get('logic', 0):6} "
              f"{r.resources.get('ff', 0):5} {r.resources.get('carry', 0):6} "
              f"{g.gate_depth:6} {r.seconds + g.seconds:8.1f}", flush=True)

    print(f"\nplaced and routed on {args.device} ({part}, inside the harness), {args.seeds} "
          f"seeds, requested {args.freq:g} MHz:")
    print(f"{'block':11} {'logic':>6} {'FF':>5} {'DSP':>4} {'harness FF':>10} {'fmax MHz':>9} "
          f"{'seeds':>20} {'Yosys s':>8} {'P&R s/seed':>11} {'total s':>8}")
    for name, params in BLOCKS:
        t0 = time.perf_counter()
        impl = fpga_block(name, params, args.device, args.out / args.device / name,
                          freq_mhz=args.freq, seeds=tuple(range(1, args.seeds + 1)),
                          speed=args.speed)
        total = time.perf_counter() - t0
        pnr = [v for k, v in impl.tool_seconds.items() if k.startswith("nextpnr")]
        seeds = "/".join("unrouted" if f is None else f"{f:g}"
                         for f in next(iter(impl.fmax_by_seed_mhz.values())))
        print(f"{name:11} {impl.resource('logic').used:6} {impl.resource('ff').used:5} "
              f"{impl.resource('dsp').used:4} {impl.wrapper.ff:10} {impl.min_fmax_mhz:9.1f} "
              f"{seeds:>20} {impl.tool_seconds['yosys']:8.1f} {sum(pnr) / len(pnr):11.1f} "
              f"{total:8.1f}", flush=True)


if __name__ == "__main__":
    main()
