"""How well the cone ranking before placement finds the paths nextpnr fails on.

    .venv/bin/python benchmarks/bench_cones.py OUT_DIR [OUT_DIR ...]

Each OUT_DIR is the folder of an `hwsim fpga` run on an ECP5 (its ``netlist.json`` and the
``report_seed<S>.json`` of each seed that routed). For every routed seed: the endpoint of
nextpnr's critical path, where `deepest_cones` ranks it among all the netlist's endpoints
(0 = first), its score and the routed delay; then how many seeds' endpoints rank in the first
3, 10 and 50, and the time to rank each netlist. The grid option refits the two routing
constants (`ROUTE_NS`, `FANOUT_NS`) over a grid and prints the same counts for each pair.
Placements take an hour per seed: the runs are the ones the team has made, not made here.
With --grid every netlist stays in memory (loading and ranking one of the 8x8 core's peaks at
0.5 GB).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from unittest import mock

from hwsim.errors import HwsimError
from hwsim.hw.fpga import cones
from hwsim.hw.fpga.reports import parse_nextpnr_report


def _critical_ends(folder: Path) -> list[tuple[str, str, str, float]]:
    """(seed, cell, pin, routed delay ns) of the register-to-register critical path of each
    routed seed (the one that sets fmax; nextpnr's paths from and to pins are left out)."""
    out = []
    for report in sorted(folder.glob("report_seed*.json")):
        paths = parse_nextpnr_report(report.read_text()).critical_paths
        if paths:
            worst = max(paths, key=lambda p: p.delay_ns)
            cell, _, pin = worst.end.rpartition(".")
            out.append((report.stem.removeprefix("report_seed"), cell, pin, worst.delay_ns))
    return out


def _ranks(netlist: dict, ends: list[tuple[str, str, str, float]]) -> list[tuple]:
    ranked = cones.deepest_cones(netlist, count=10**9)
    position = {c.end: (i, c) for i, c in enumerate(ranked)}
    rows = []
    for seed, cell, pin, delay in ends:
        try:
            key = cones.endpoint_name(netlist, cell)
        except HwsimError:  # a cell nextpnr made (none seen so far)
            key = f"{cell}.{pin} (not in the netlist)"
        rank, cone = position.get(key, (len(ranked), None))
        rows.append((seed, key, rank, cone.score_ns if cone else float("nan"), delay,
                     cone.luts if cone else -1, len(ranked)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--grid", action="store_true",
                        help="also refit ROUTE_NS and FANOUT_NS over a grid")
    args = parser.parse_args()
    runs = []
    for folder in args.folders:
        ends = _critical_ends(folder)
        if not ends or not (folder / "netlist.json").is_file():
            print(f"{folder}: no netlist.json or no routed seed, skipped", file=sys.stderr)
            continue
        started = time.perf_counter()
        netlist = json.loads((folder / "netlist.json").read_text())
        loaded = time.perf_counter()
        rows = _ranks(netlist, ends)
        ranked = time.perf_counter()
        print(f"{folder}: load {loaded - started:.1f} s, rank {ranked - loaded:.1f} s, "
              f"{rows[0][-1]} endpoints")
        for seed, key, rank, score, delay, luts, _ in rows:
            print(f"  seed {seed}: routed {delay:6.2f} ns  rank {rank:5d}  score {score:6.2f}"
                  f"  LUTs {luts:2d}  {key}")
        runs.append((netlist, ends, rows))
    if not runs:
        sys.exit("no folder with a netlist and a routed seed")

    def summary(all_rows: list[tuple]) -> str:
        ranks = sorted(r[2] for r in all_rows)
        return (f"{len(ranks)} seeds: first 3: {sum(r < 3 for r in ranks)}, first 10: "
                f"{sum(r < 10 for r in ranks)}, first 50: {sum(r < 50 for r in ranks)}; "
                f"median rank {ranks[len(ranks) // 2]}")

    print(f"ROUTE_NS {cones.ROUTE_NS}, FANOUT_NS {cones.FANOUT_NS}: "
          + summary([r for _, _, rows in runs for r in rows]))
    if args.grid:
        for route in (0.5, 1.0, 1.5, 2.0):
            for fanout in (0.0, 0.15, 0.3, 0.5, 0.8):
                with mock.patch.object(cones, "ROUTE_NS", route), \
                        mock.patch.object(cones, "FANOUT_NS", fanout):
                    rows = [r for netlist, ends, _ in runs for r in _ranks(netlist, ends)]
                print(f"  ROUTE_NS {route}, FANOUT_NS {fanout}: {summary(rows)}")


if __name__ == "__main__":
    main()
