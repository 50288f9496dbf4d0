"""FPGA scaling study, by hand (slow: tens of minutes per device on 2 cores).

For each PE kind and device: the largest array that fits (hard multipliers on; the MACs again
with multiplies in LUTs), its utilization and fmax, and the peak MAC rate per weight format;
then every design point runs the BitMoD generative setting of Llama-2-7B (256-token prefill,
20 decode steps) in the simulator with each board memory, in the weight format the PE runs.

    .venv/bin/python benchmarks/bench_fpga_scale.py [DEVICE ...] [--kinds K,K] [--builds dsp,lut]
        [--out DIR] [--max-logic PERCENT] [--placer heap|static|heap-no-tmdriv]
        [--speed 6|7|8] [--param KEY=VALUE ...]
    .venv/bin/python benchmarks/bench_fpga_scale.py --collect DIR [DIR ...] --out DIR

``--param`` sets a PE parameter over each study's own (`hwsim.hw.pe_kinds`), e.g. ``lanes=8``:
a design-space point of the same kind (every kind in ``--kinds`` must have it).
Defaults: ecp5-25k and ice40-up5k, out/bench_fpga_scale. Prints the tables; the files (JSON,
Markdown, plot, one hardware YAML per point, every build's logs) go under the folder.
``--collect`` rebuilds the tables from the ``fpga.json`` of earlier (e.g. parallel) runs:
each placed and routed winner wrote one.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

from hwsim.errors import HwsimError
from hwsim.hw.fpga import SCALING_KINDS, ScalingPoint, fpga_hardware, largest_array
from hwsim.hw.fpga.design_point import BOARD_MEMORIES
from hwsim.hw.fpga.devices import get_device, list_devices
from hwsim.hw.fpga.flow import DEFAULT_PLACER, PLACERS, check_placer, load_implementation
from hwsim.hw.fpga.scaling import STUDY_FREQ_MHZ, study_with
from hwsim.hw.rtl.registry import parse_params
from hwsim.reports.fpga_scaling import scaling_table, write_scaling_outputs
from hwsim.sim import simulate_workload
from hwsim.workloads import load_workload


def _workload(kind: str, folder: Path) -> Path:
    spec = SCALING_KINDS[kind].workload
    data = {
        "description": f"llama-2-7b, 256-token prefill + 20 decode steps, for {kind}",
        "model": "llama-2-7b",
        "batch": 1,
        "prompt_tokens": 256,
        "generate_tokens": 21,
        "weights": spec["weights"],
        "activations": {"bits": spec["act_bits"]},
        "kv_cache": dict(spec["kv_cache"]),
    }
    path = folder / f"workload-{kind}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("devices", nargs="*", default=["ecp5-25k", "ice40-up5k"],
                        metavar="DEVICE",
                        help=f"devices to fill: {', '.join(list_devices())}")
    parser.add_argument("--out", type=Path, default=Path("out/bench_fpga_scale"))
    parser.add_argument("--freq", type=float, default=STUDY_FREQ_MHZ,
                        help="requested clock, MHz (default: the presets' request)")
    parser.add_argument("--kinds", default=",".join(SCALING_KINDS))
    parser.add_argument("--builds", default="dsp,lut",
                        help="dsp, lut or both: which builds of the MACs to run (the others "
                        "always use their one build)")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="minutes each tool run may take")
    parser.add_argument("--max-logic", type=_percent, default=100.0,
                        help="ceiling on the device's logic, percent in (0, 100] (100: fill it)")
    parser.add_argument("--placer", default=DEFAULT_PLACER, choices=list(PLACERS),
                        help=f"how nextpnr places each winner: {', '.join(PLACERS)} "
                        "(hwsim.hw.fpga.flow.PLACERS; recorded in each design point)")
    parser.add_argument("--speed", type=int, default=None,
                        help="ECP5 speed grade of every device (default: each device's, 6 on "
                        "ECP5; recorded in each design point)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a PE parameter over each study's own, e.g. lanes=8 "
                        "(repeatable; recorded in each build's fpga.json)")
    parser.add_argument("--collect", type=Path, nargs="+", default=None)
    args = parser.parse_args()
    check_placer(args.placer)  # before any tool runs
    kinds = args.kinds.split(",")
    for option, values, allowed in (("DEVICE", args.devices, list_devices()),
                                    ("--kinds", kinds, SCALING_KINDS),
                                    ("--builds", args.builds.split(","), ("dsp", "lut"))):
        unknown = [v for v in values if v not in allowed]
        if unknown:
            parser.error(f"{option}: unknown {', '.join(unknown)} (allowed: "
                         f"{', '.join(allowed)})")
    for device in [] if args.collect is not None else args.devices:
        try:
            get_device(device).check_speed(args.speed)
        except HwsimError as err:
            parser.error(f"--speed: {err}")
    params = {}
    for kind in kinds:
        study = SCALING_KINDS[kind]
        try:
            params[kind] = parse_params(study.array_block or study.block, args.param)
            study_with(kind, params[kind])
        except HwsimError as err:
            parser.error(f"--param: {err}")
    builds = {b: b in args.builds.split(",") for b in ("dsp", "lut")}
    seeds = tuple(range(1, args.seeds + 1))

    try:
        points = [] if args.collect is None else _collect(args.collect)
    except ValueError as err:
        parser.error(f"--collect: {err}")
    if args.collect is not None and not points:
        parser.error(f"--collect: no fpga.json under {', '.join(map(str, args.collect))}")
    start = time.perf_counter()
    for device in [] if args.collect is not None else args.devices:
        for kind in kinds:
            modes = [d for d, b in ((True, "dsp"), (False, "lut")) if builds[b]]
            for dsp in modes if SCALING_KINDS[kind].dsp_optional else (True,):
                folder = args.out / device / ("dsp" if dsp else "lut")
                t0 = time.perf_counter()
                p = largest_array(kind, device, folder, freq_mhz=args.freq, seeds=seeds,
                                  dsp=dsp, timeout_s=60.0 * args.timeout,
                                  max_logic=args.max_logic / 100.0, placer=args.placer,
                                  speed=args.speed, params=params[kind],
                                  log=lambda msg: print("  " + msg, flush=True))
                print(f"{kind} on {device} ({'DSP' if dsp else 'LUT'}): {p.rows}x{p.cols}, "
                      f"{time.perf_counter() - t0:.0f} s", flush=True)
                points.append(p)
    print(f"\nstudy wall time: {time.perf_counter() - start:.0f} s\n")
    table = scaling_table(points)
    print(table.to_string(index=False))
    for path in write_scaling_outputs(points, table, args.out):
        print("written:", path)

    # Simulated LLM latency of every design point with each board memory.
    print("\nLlama-2-7B, 256-token prefill + 20 decode steps, simulated:")
    print(f"{'kind':10} {'device':11} {'dsp':5} {'array':6} {'MHz':>6} {'memory':11} "
          f"{'weights':9} {'latency s':>10} {'tokens/s':>9}")
    for p in points:
        wl = load_workload(_workload(p.kind, args.out))
        for memory in ("sdram16", "ddr3-16"):
            hw, _data = fpga_hardware(p.implementation, memory)
            res = simulate_workload(wl, hw)
            latency_s, tps = _latency(res)
            print(f"{p.kind:10} {p.device:11} {p.implementation.dsp!s:5} "
                  f"{p.rows}x{p.cols:<4} {p.implementation.min_fmax_mhz:6.1f} {memory:11} "
                  f"{SCALING_KINDS[p.kind].workload['weights']['format']:9} {latency_s:10.2f} "
                  f"{tps:9.3f}")
    print("memories:", ", ".join(f"{m.name} = {m.gb_per_s} GB/s" for m in
                                  BOARD_MEMORIES.values()))


# The study a stored build belongs to, by the block it built.
_KIND_OF_BLOCK = {s.array_block or s.block: s.name for s in SCALING_KINDS.values()}


def _percent(text: str) -> float:
    """``--max-logic``: a share of the device's logic in percent, in (0, 100] (NaN refused)."""
    value = float(text)
    if not 0.0 < value <= 100.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 100], not {text}")
    return value


def _collect(folders: list[Path]) -> list:
    points = []
    for folder in folders:
        for path in sorted(folder.rglob("fpga.json")):
            impl = load_implementation(path)
            p = impl.params
            if impl.block not in _KIND_OF_BLOCK:
                raise ValueError(f"{path}: {impl.block} is not a block of the study (allowed: "
                                 f"{', '.join(sorted(_KIND_OF_BLOCK))})")
            kind = _KIND_OF_BLOCK[impl.block]
            key = (kind, impl.device, p["rows"], p["cols"], impl.resource("dsp").used > 0,
                   impl.speed_grade)
            record = _study_records(path, folder).get(key)
            if record is None:
                print(f"{path}: no scaling.json of its study records it: its logic ceiling "
                      "is taken as 100% and its shapes tried are not known")
                record = {}
            points.append(ScalingPoint(
                kind, impl.device, p["rows"], p["cols"], p["lanes"], impl,
                tuple(tuple(t) for t in record.get("tried", ())), record.get("max_logic", 1.0)))
    return points


def _study_records(fpga_json: Path, root: Path) -> dict:
    """The points of the study that wrote ``fpga_json``, from the nearest scaling.json between
    the build's folder and ``root`` (the study's ``--out``), by (kind, device, rows, cols,
    DSPs used, speed grade): the ceiling each search ran with and the shapes it tried."""
    for folder in fpga_json.parents:
        if (folder / "scaling.json").is_file():
            data = json.loads((folder / "scaling.json").read_text())
            # A study from before the grades was timed at each device's default.
            return {(pt["kind"], pt["device"], pt["rows"], pt["cols"],
                     pt["resources"].get("dsp", {}).get("used", 0) > 0,
                     pt.get("speed_grade", get_device(pt["device"]).default_speed)): pt
                    for pt in data["points"]}
        if folder == root:
            break
    return {}


def _latency(result) -> tuple[float, float]:
    return result.latency_ms / 1e3, result.throughput_tokens_per_s or 0.0


if __name__ == "__main__":
    main()
