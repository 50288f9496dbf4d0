"""The row-shared dequantizer (`pe_array -p dequantizer=row`): its cycle cost and its area.

    .venv/bin/python benchmarks/bench_shared_dequant.py [--k 4096] [--area] [--rows 1]
        [--cols 4] [--target ecp5] [--param key=value ...]

Cycles (`hwsim.sim.pe_cycles.bitmod_pe_cycles`, the rule the RTL array is held to): one
output over ``--k`` weights in groups of 128 on 4 lanes with 8-bit scales, for fp3/fp4 (2
terms per weight) and INT8 (4 Booth digits), with a dequantizer per PE and with one per row of
``cols`` PEs; the largest ``cols`` without a stall is G / scale_bits (G = a group's beats x
terms). With ``--area``: LUT4s, flip-flops and carry cells of a ``rows x cols`` array with
each accumulator, per PE and row-shared (Yosys, ``--target``; run it under
``flock /work/pnr.lock`` on a shared machine). ``--param`` sets another ``pe_array``
parameter of both builds (repeatable, checked before any synthesis; ``accumulator`` keeps to
that one), e.g. the FPGA build: ``--param weights=bitmod --param pipeline=7 --param
loop=unnormalized --param accumulator=bitmod``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from hwsim.errors import HwsimError
from hwsim.hw.rtl.registry import parse_params, resolve_params
from hwsim.sim import pe_cycles as pc

GROUP, LANES, SCALE_BITS = 128, 4, 8


def cycles_table(k: int) -> None:
    print(f"cycles of one output, k = {k}, groups of {GROUP}, {LANES} lanes, "
          f"{SCALE_BITS}-bit scales")
    cols_list = (1, 2, 4, 8, 16, 32, 64)
    print(f"{'weights':8} {'no stall up to':>14} " + " ".join(f"{f'cols={c}':>15}"
                                                          for c in cols_list))
    for fmt in ("bitmod4", "int8"):
        per_pe = int(pc.bitmod_pe_cycles(k, LANES, fmt, GROUP, SCALE_BITS))
        group = int(pc.bitmod_pe_group_cycles(GROUP, LANES, fmt, SCALE_BITS))
        cells = []
        for cols in cols_list:
            shared = int(pc.bitmod_pe_cycles(k, LANES, fmt, GROUP, SCALE_BITS, cols))
            cells.append(f"{shared:>7} {100 * (shared - per_pe) / per_pe:+6.1f}%")
        print(f"{fmt:8} {f'{group // SCALE_BITS} cols':>14} " + " ".join(f"{c:>15}"
                                                                       for c in cells))
    print("(cols=1: a dequantizer per PE; bitmod3 / fp3 take the cycles of bitmod4)")


# Parameters the bench sets itself: the shape (--rows/--cols) and the two dequantizers.
_OWN_PARAMS = ("rows", "cols", "dequantizer")


def area_builds(rows: int, cols: int, items: list[str]) -> dict[str, dict[str, dict]]:
    """accumulator -> dequantizer -> the ``pe_array`` parameters of each build, checked.

    Raises:
        HwsimError: a bad ``--param`` (one line naming it and the allowed values).
    """
    extra = parse_params("pe_array", items)
    for key in _OWN_PARAMS:
        if key in extra:
            raise HwsimError(f"--param {key}: set by the bench (--rows, --cols, both "
                             "dequantizers); allowed: any other pe_array parameter")
    accs = (extra.pop("accumulator"),) if "accumulator" in extra else ("exact", "bitmod")
    builds = {acc: {dq: {"rows": rows, "cols": cols, **extra, "accumulator": acc,
                         "dequantizer": dq} for dq in ("per_pe", "row")} for acc in accs}
    for by_dq in builds.values():
        for params in by_dq.values():
            resolve_params("pe_array", params)
    return builds


def area_table(rows: int, cols: int, target: str, items: list[str]) -> None:
    from hwsim.hw.fpga import synth_block

    builds = area_builds(rows, cols, items)
    shown = " ".join(items)
    print(f"\n{rows} x {cols} pe_array{' ' + shown if shown else ''}, Yosys {target}")
    print(f"{'accumulator':12} {'dequantizer':12} {'LUT4':>6} {'FF':>6} {'carry':>6}")
    for acc, by_dq in builds.items():
        found = {}
        for dq, params in by_dq.items():
            with tempfile.TemporaryDirectory() as tmp:
                r = synth_block("pe_array", params, target, tmp)
            found[dq] = r.resources
            print(f"{acc:12} {dq:12} {r.resources['logic']:6} {r.resources['ff']:6} "
                  f"{r.resources.get('carry', 0):6}", flush=True)
        saved = {key: found["per_pe"][key] - found["row"][key] for key in ("logic", "ff")}
        print(f"{'':12} {'saved / row':12} {saved['logic'] / rows:6.0f} "
              f"{saved['ff'] / rows:6.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=4096)
    parser.add_argument("--area", action="store_true")
    parser.add_argument("--rows", type=int, default=1)
    parser.add_argument("--cols", type=int, default=4)
    parser.add_argument("--target", default="ecp5")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="another pe_array parameter of the --area builds (repeatable)")
    args = parser.parse_args()
    try:
        if args.k < 1:
            raise HwsimError(f"--k: {args.k} is not a reduction length; allowed: 1 or more")
        if args.area:
            area_builds(args.rows, args.cols, args.param)  # bad input before any output
        elif args.param:
            raise HwsimError("--param: only with --area")
        cycles_table(args.k)
        if args.area:
            area_table(args.rows, args.cols, args.target, args.param)
    except HwsimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
