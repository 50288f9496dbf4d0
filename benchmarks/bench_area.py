"""The ASIC cost flow by hand: `hwsim area` time, every block's gates, a lanes sweep, the
28 nm calibration, the BitMoD comparison with paper and RTL figures.

    .venv/bin/python benchmarks/bench_area.py [--out out/bench_area] [--write-docs]
        [--skip-timing]

Part 1: `hwsim area bitmod_pe` end to end twice in fresh processes: without a netlist cache
(Yosys runs for the block and the calibration blocks) and with it (target: < 60 s after the
first Yosys compile). Part 2: NAND2 equivalents, flip-flops and pJ/cycle per weight format of
each block that has an operand model. Part 3: a sweep over the BitMoD PE's lanes through
`pe.lanes` on the bitmod-rtl preset, the block re-synthesized per point, repeated points
answered from the memo. Part 4: the calibration table. Part 5: the BitMoD comparison both
ways (`hwsim run`'s default workload, Llama-2-7B generative, on the paper presets and their
`-rtl` variants, normalized to fp16). ``--write-docs`` rewrites the generated sections of
``hw/asic/README.md`` (between ``<!-- bench_area:NAME -->`` markers) with parts 2, 4 and 5, so
the README's figures are the code's; a test checks its calibration table.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from hwsim.hw.asic import block_cost, calibrate
from hwsim.hw.asic.report import calibration_lines, calibration_markdown
from hwsim.hw.presets import load_hardware
from hwsim.hw.spec import with_overrides

BLOCKS = [
    ("bitmod_pe", {"weights": "bitmod", "accumulator": "bitmod"}),
    ("bitmod_pe", {}),
    ("fp16_int_mac", {}),
    ("fp16_int_mac", {"accumulator": "fp16", "pipeline": 1}),
    ("fp16_mac", {}),
    ("fp16_dual_mac", {}),
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


README = Path(__file__).resolve().parents[1] / "hw" / "asic" / "README.md"
# The BitMoD comparison: (design, what its PE figures are).
COMPARED = [("fp16", "paper"), ("fp16-rtl", "RTL, FP16 operands"), ("ant", "paper"),
            ("ant-rtl", "RTL, INT8 operands"), ("bitmod", "paper"),
            ("bitmod-rtl", "RTL, whole PE, bitmod3 operands")]


def write_doc_section(name: str, text: str, path: Path = README) -> None:
    """Replace the text between ``<!-- bench_area:NAME -->`` and ``<!-- /bench_area:NAME -->``."""
    doc = path.read_text()
    pattern = re.compile(rf"(<!-- bench_area:{name} -->\n).*?(<!-- /bench_area:{name} -->)",
                         re.S)
    if not pattern.search(doc):
        raise SystemExit(f"{path}: no <!-- bench_area:{name} --> section")
    path.write_text(pattern.sub(lambda m: m.group(1) + text + m.group(2), doc))


def comparison_markdown() -> str:
    """Speedup and energy efficiency over fp16 of the paper presets and their RTL variants."""
    from hwsim.reports.run_report import comparison_table
    from hwsim.sim import simulate_workload
    from hwsim.workloads import DEFAULT_WORKLOAD, load_workload, resolve_workload_path

    w = load_workload(resolve_workload_path(DEFAULT_WORKLOAD))
    designs = [load_hardware(n) for n, _ in COMPARED]
    results = [simulate_workload(w, hw) for hw in designs]
    comp = comparison_table(results, 0).to_dict(orient="records")
    lines = ["| design | PE figures | PE area um^2 | PE pJ/cycle | speedup | energy efficiency |",
             "|---|---|---|---|---|---|"]
    for (name, what), hw, row in zip(COMPARED, designs, comp, strict=True):
        lines.append(f"| {name} | {what} | {hw.pe.area_um2:.1f} | "
                     f"{hw.pe.energy_pj_per_cycle:.3f} | {row['speedup']:.2f}x | "
                     f"{row['energy_efficiency']:.2f}x |")
    return f"`{w.name}`, normalized to fp16:\n\n" + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/bench_area"))
    parser.add_argument("--write-docs", action="store_true",
                        help="rewrite the generated sections of hw/asic/README.md")
    parser.add_argument("--skip-timing", action="store_true",
                        help="skip part 1 and use the user's cache (no cold Yosys runs)")
    args = parser.parse_args()
    if args.skip_timing:
        from hwsim.hw.asic.cache import user_cache_dir

        cache = user_cache_dir()
    else:
        cache = args.out / "netlists"
        shutil.rmtree(cache, ignore_errors=True)
        cold = _cli_seconds(args.out / "cli", cache)
        warm = _cli_seconds(args.out / "cli", cache)
        print(f"hwsim area bitmod_pe: {cold:.1f} s without a netlist cache, {warm:.1f} s with "
              "it\n")

    cal = calibrate("28nm", cache)
    print(f"{'block':13} {'params':34} {'NAND2 eq':>9} {'FF':>5} {'um^2 28nm':>10} {'s':>5}  "
          "pJ/cycle (28 nm) per weight format")
    rows = ["| block | parameters | NAND2 eq | flip-flops | um^2 at 28 nm | pJ/cycle per weight "
            "format (pJ/weight) |", "|---|---|---|---|---|---|"]
    for name, params in BLOCKS:
        t0 = time.perf_counter()
        cost = block_cost(name, params, cache)
        secs = time.perf_counter() - t0
        text = ",".join(f"{k}={v}" for k, v in params.items()) or "defaults"
        energy = ", ".join(f"{a.weight_format} {cal.energy_pj(a.switching.total):.3f}"
                           for a in cost.activity) or "not modelled"
        print(f"{name:13} {text:34} {cost.nand2_eq:9.0f} {cost.flops:5} "
              f"{cal.area_um2(cost):10.1f} {secs:5.1f}  {energy}", flush=True)
        per_weight = ", ".join(f"{a.weight_format} {cal.energy_pj(a.switching.total):.3f} "
                               f"({cal.energy_pj(a.units_per_weight):.2f})"
                               for a in cost.activity) or "not modelled"
        rows.append(f"| {name} | {text} | {cost.nand2_eq:.0f} | {cost.flops} | "
                    f"{cal.area_um2(cost):.1f} | {per_weight} |")
    blocks = "\n".join(rows) + "\n"

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

    print("\nBitMoD comparison, paper and RTL PE figures:")
    comparison = comparison_markdown()
    print(comparison)
    if args.write_docs:
        write_doc_section("calibration", calibration_markdown(cal))
        write_doc_section("blocks", blocks)
        write_doc_section("comparison", comparison)
        print(f"wrote {README}")


if __name__ == "__main__":
    main()
