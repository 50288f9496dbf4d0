"""Scaling study: for each PE kind, the largest array that fits a device, and its fmax.

Resource use grows linearly with the array, so the search packs a 1x1 and a 2x2 array (Yosys
and nextpnr's packer only, `flow.check_fit`: no placement), extrapolates the largest PE count
every resource allows, and checks that shape, stepping down by about 5% until it packs. Only the
winner is placed and routed (`flow.implement`) for its fmax. If that fails after all, it is
congestion near full use (measured: a bipolar array at 94% of the ECP5-25k's LUTs was still
routing after an hour, at 88% it routed in 10 minutes), so the next try is about 10% smaller.
"Largest" is therefore the largest the extrapolation finds that packs and routes, not an
exhaustive search: one PE more is predicted not to fit.

Peak throughput needs the cycles a PE spends per weight, which the PE kind's cycle model owns
(`hwsim.sim.kind_models`, a higher layer): `peak_macs_per_s` takes them as an argument, and
`hwsim.reports.fpga_scaling` passes them in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from amaranth.lib import wiring

from hwsim.errors import HwsimError
from hwsim.hw.fpga.devices import get_device
from hwsim.hw.fpga.flow import (
    DEFAULT_PLACER,
    FitCheck,
    Implementation,
    check_fit,
    check_jobs,
    check_placer,
    implement,
)
from hwsim.hw.fpga.grid import PeGrid
from hwsim.hw.pe_kinds import FPGA_STUDIES, FpgaStudy, pe_for_block
from hwsim.hw.rtl.registry import build, get_block, resolve_params

__all__ = [
    "SCALING_KINDS",
    "STUDY_FREQ_MHZ",
    "ScalingPoint",
    "balanced_shape",
    "build_array",
    "largest_array",
    "peak_macs_per_s",
    "predict_max_pes",
    "study_with",
]


# The study's PE kinds by study name (registered with their PE kind, `hwsim.hw.pe_kinds`).
SCALING_KINDS = FPGA_STUDIES

# The clock the study requests from nextpnr: every stored preset was placed and routed with it
# (`presets/README.md`), so `hwsim fpga-scale` and the benchmark reproduce them. The request is
# not a target the arrays must meet: fmax below it is a result.
STUDY_FREQ_MHZ = 50.0


def study_with(kind: str, params: Mapping[str, object] | None = None) -> FpgaStudy:
    """The study ``kind`` with ``params`` over its PE's own parameters (e.g. ``lanes=8``: a
    design-space point of the same PE kind; `hwsim.hw.pe_kinds` holds each study's choice).

    The parameters are those of the block the study builds (its array block if it has one,
    e.g. ``dequantizer`` of ``pe_array``), checked as the registry checks them; ``rows`` and
    ``cols`` are the search's.

    Raises:
        HwsimError: unknown kind, ``rows``/``cols``, a parameter the block does not have, a
            value outside its range, or a build that does not run a format of the study's
            (``weights=fp4`` on BitMoD: its table and benchmark run bitmod3/int8).
    """
    if kind not in SCALING_KINDS:
        raise HwsimError(f"unknown PE kind {kind!r}; allowed: {', '.join(SCALING_KINDS)}")
    study = SCALING_KINDS[kind]
    if not params:
        return study
    block = study.array_block or study.block
    fixed = sorted({"rows", "cols"} & set(params))
    if fixed:
        raise HwsimError(f"{kind}: {', '.join(fixed)}: set by the search (it picks the array's "
                         "shape), not a PE parameter")
    for key in params:
        get_block(block).param(key)  # an unknown one: the error lists the block's parameters
    merged = {**study.params, **params}
    checked = resolve_params(block, merged)
    # The study's formats (its throughput table's, its LLM benchmark's weights and KV cache)
    # must be ones the build runs: a BitMoD build of one family runs that family only.
    runs = pe_for_block(study.block, checked)[0].get("weight_formats")
    wanted = [*study.weight_formats,
              *(study.workload.get(key, {}).get("format") for key in ("weights", "kv_cache"))]
    missing = [f for f in dict.fromkeys(wanted) if f is not None and f not in runs] if runs else []
    if missing:
        raise HwsimError(f"{kind}: {', '.join(f'{k}={v}' for k, v in params.items())}: the "
                         f"build runs {', '.join(runs)}, not the study's {', '.join(missing)}")
    # The build's quantization group is the benchmark's: its cycles and bytes are costed at the
    # study workload's group size, which a design point does not carry.
    groups = {study.workload.get(key, {}).get("group_size") for key in ("weights", "kv_cache")}
    if "group_size" in params and groups - {None, checked["group_size"]}:
        raise HwsimError(f"{kind}: group_size={params['group_size']}: the study's benchmark "
                         f"quantizes in groups of {', '.join(map(str, sorted(groups - {None})))}; "
                         "allowed: that group size")
    return dataclasses.replace(study, params=MappingProxyType({k: checked[k] for k in merged}))


def build_array(study: FpgaStudy, rows: int, cols: int) -> wiring.Component:
    """The rows x cols array of a study's PE: its array block, else a grid of single PEs."""
    if study.array_block is not None:
        return build(study.array_block, rows=rows, cols=cols, **study.params)
    return PeGrid(lambda: build(study.block, **study.params), rows, cols)


@dataclass(frozen=True)
class ScalingPoint:
    """The largest array of one PE kind that fits one device.

    Attributes:
        kind: the study's name for the PE (`FpgaStudy.name`); device: the device name.
        rows, cols: the array shape; pes: rows x cols; lanes: per PE.
        implementation: the placed and routed build (fmax, utilization).
        tried: every shape checked, ``(rows, cols, fits, binding shortfall or "")``; a
            shape that packs above the logic ceiling is recorded as not fitting.
        max_logic: the ceiling on the device's logic the search used (1.0: none).
    """

    kind: str
    device: str
    rows: int
    cols: int
    lanes: int
    implementation: Implementation
    tried: tuple[tuple[int, int, bool, str], ...] = field(default=())
    max_logic: float = 1.0

    @property
    def pes(self) -> int:
        """PEs in the array."""
        return self.rows * self.cols

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        impl = self.implementation
        return {
            "kind": self.kind,
            "device": self.device,
            "rows": self.rows,
            "cols": self.cols,
            "pes": self.pes,
            "lanes": self.lanes,
            "fmax_mhz": impl.min_fmax_mhz,
            "placer": impl.placer,
            "speed_grade": impl.speed_grade,
            "resources": {r.resource: {"used": r.used, "available": r.available}
                          for r in impl.resources},
            "tried": [list(t) for t in self.tried],
            "max_logic": self.max_logic,
            "dsp": impl.dsp,
            "freq_mhz": impl.freq_mhz,  # the clock asked of nextpnr
            "seeds": list(impl.seeds),
        }


def balanced_shape(pes: int, max_side: int) -> tuple[int, int]:
    """The rows x cols shape with the most PEs, at most ``pes``, both sides at most
    ``max_side``: cols a power of two with cols <= rows; among equal counts the squarest."""
    best = (min(pes, max_side), 1)
    cols = 2
    while cols * cols <= pes and cols <= max_side:
        shape = (min(pes // cols, max_side), cols)
        if shape[0] * shape[1] >= best[0] * best[1]:
            best = shape
        cols *= 2
    return best


def predict_max_pes(
    small: dict[str, tuple[int, int]],
    n_small: int,
    big: dict[str, tuple[int, int]],
    n_big: int,
    bels: set[str] | None = None,
) -> tuple[int, str]:
    """Largest PE count that fits, extrapolating utilization linearly from two array sizes.

    Resource use grows linearly with the array (measured: docs of the toolchain), so each
    bel type's use is ``base + per_pe x n`` with ``per_pe = (big - small) / (n_big - n_small)``;
    the bound is the smallest ``floor((available - base) / per_pe)`` over the bel types that
    grow. Only ``bels`` count when given: global buffers (iCE40 SB_GB, ECP5 DCCA) also grow,
    because nextpnr promotes each PE's clock enable to one while any is free, but running out
    of them only leaves the rest on local routing.

    Returns:
        ``(pes, the bel type that limits it)``.
    """
    best, limit = None, ""
    for bel, (used_big, available) in big.items():
        if bels is not None and bel not in bels:
            continue
        per_pe = (used_big - small.get(bel, (0, available))[0]) / (n_big - n_small)
        if per_pe <= 0:
            continue
        base = used_big - per_pe * n_big
        n = int((available - base) // per_pe)
        if best is None or n < best:
            best, limit = n, bel
    if best is None:
        raise HwsimError("no resource grows with the array: cannot extrapolate")
    return best, limit


def largest_array(
    kind: str,
    device: str,
    out_dir: Path | str,
    *,
    freq_mhz: float = STUDY_FREQ_MHZ,
    seeds: tuple[int, ...] = (1,),
    dsp: bool = True,
    timeout_s: float = 3600.0,
    max_logic: float = 1.0,
    placer: str = DEFAULT_PLACER,
    speed: int | None = None,
    params: Mapping[str, object] | None = None,
    jobs: int | None = None,
    log: Callable[[str], None] = lambda _msg: None,
    progress: Callable[[str], None] | None = None,
) -> ScalingPoint:
    """Find the largest array of PE ``kind`` that fits ``device``, then place and route it.

    Packs a 1x1 and a 2x2 array (`flow.check_fit`), extrapolates each resource linearly
    (`predict_max_pes`), checks the predicted largest shape (`balanced_shape`) and steps down
    by about 5% until it packs, then places and routes it, stepping down by about 10% if place
    and route fails (congestion near full use, or ``timeout_s``). Each shape's files go to
    ``out_dir/<kind>_<rows>x<cols>``.

    Args:
        kind: a key of `SCALING_KINDS`.
        device: a device name.
        out_dir: output folder.
        freq_mhz, seeds, dsp, timeout_s: as for `flow.implement` (the limit of each tool run).
        max_logic: the largest fraction of the device's logic a shape may use, in (0, 1].
        placer: how nextpnr places the winner (a key of `flow.PLACERS`).
        speed: the device's speed grade nextpnr times every shape at (default: the device's).
        params: PE parameters over the study's own (`study_with`), e.g. ``{"lanes": 8}``.
        jobs: seeds placed at once, as for `flow.implement` (default: one per core).
        log: called with one line per step (the CLI prints them).
        progress: called while the winner is placed and routed with what the tools are doing
            (`flow.implement`'s ``progress``: each seed's stage), e.g. for a status line.

    Raises:
        HwsimError: unknown kind, placer or speed grade, a ceiling outside (0, 1], a parameter
            `study_with` refuses, or not even one PE fits.
    """
    check_placer(placer)
    check_jobs(jobs)
    pk = study_with(kind, params)
    if not 0.0 < max_logic <= 1.0:
        raise HwsimError(f"the logic ceiling must be in (0, 1], not {max_logic!r}")
    dev = get_device(device)
    dev.check_speed(speed)
    device = dev.name  # as the tables name it ("ICE40-UP5K" was refused after the search)
    logic_bel = dev.bels["logic"]
    out = Path(out_dir)
    tried: list[tuple[int, int, bool, str]] = []

    def check(rows: int, cols: int) -> tuple[FitCheck, bool]:
        fit = check_fit(build_array(pk, rows, cols), device, out / f"{kind}_{rows}x{cols}", dsp=dsp,
                        timeout_s=timeout_s)
        worst = max(fit.shortfalls, key=lambda s: s.needed / max(s.available, 1), default=None)
        reason = str(worst) if worst else _above_ceiling(fit, logic_bel, max_logic)
        tried.append((rows, cols, not reason, reason))
        log(f"{kind} {rows}x{cols} on {device}: " + (f"does not fit ({reason})" if reason
                                                     else "fits"))
        return fit, not reason

    one, one_ok = check(1, 1)
    if not one_ok:
        raise HwsimError(f"not even one {kind} PE fits {device}: {tried[0][3]}")
    four, _ = check(2, 2)
    if four.fits:  # packed: the extrapolation holds, whatever the ceiling says of 2x2
        predicted, limit = predict_max_pes(
            _with_ceiling(one.utilization, logic_bel, max_logic), 1,
            _with_ceiling(four.utilization, logic_bel, max_logic), 4, set(dev.bels.values()))
        log(f"{kind}: linear extrapolation predicts {predicted} PE{'s' * (predicted != 1)} "
            f"({limit} runs out"
            + (f" of its {max_logic * 100:g}% ceiling)" if max_logic < 1 and limit == logic_bel
               else ")"))
    else:
        predicted = 3
    n = min(predicted, pk.max_side ** 2)
    known = {(r, c): ok for r, c, ok, _ in tried}
    best = (1, 1)
    while n > 1:
        shape = balanced_shape(n, pk.max_side)
        fits = known[shape] if shape in known else check(*shape)[1]
        if fits:
            best = shape
            break
        n = min(int(n * 0.95), shape[0] * shape[1] - 1)

    # Record every parameter of the PE (registry defaults included) for the design point.
    built = pk.array_block or pk.block
    recorded = {k: v for k, v in resolve_params(built, dict(pk.params)).items()
                if k not in ("rows", "cols")}
    rows, cols = best
    while True:
        try:
            impl = implement(build_array(pk, rows, cols), device, out / f"{kind}_{rows}x{cols}",
                             name=pk.array_block or pk.block,
                             params={**recorded, "rows": rows, "cols": cols},
                             freq_mhz=freq_mhz, dsp=dsp, seeds=seeds, timeout_s=timeout_s,
                             placer=placer, speed=speed, jobs=jobs, progress=progress)
        except HwsimError as exc:  # DoesNotFit, or a placement / routing failure
            if rows * cols == 1:
                raise
            log(f"{kind} {rows}x{cols}: place and route failed ({exc}); about 10% smaller")
            rows, cols = balanced_shape(min(rows * cols - 1, int(rows * cols * 0.9)),
                                        pk.max_side)
            continue
        log(f"{kind} {rows}x{cols} on {device}: fmax {impl.min_fmax_mhz:g} MHz")
        return ScalingPoint(kind, device, rows, cols, int(pk.params["lanes"]), impl, tuple(tried),
                            max_logic)


def _with_ceiling(utilization: dict[str, tuple[int, int]], bel: str,
                  max_logic: float) -> dict[str, tuple[int, int]]:
    """``utilization`` with the logic bel's available count cut to the ceiling."""
    return {b: (used, int(available * max_logic) if b == bel else available)
            for b, (used, available) in utilization.items()}


def _above_ceiling(fit: FitCheck, bel: str, max_logic: float) -> str:
    """Why a packed design is over the logic ceiling, or "" if it is not."""
    used, available = fit.utilization.get(bel, (0, 1))
    if used <= available * max_logic:
        return ""
    return f"{bel}: uses {used} of {available}, above the {max_logic * 100:g}% ceiling"


def peak_macs_per_s(point: ScalingPoint, cycles_per_lane_mac: float) -> float:
    """Peak multiply-accumulates per second of a scaling point.

    Args:
        point: the array and its fmax.
        cycles_per_lane_mac: cycles one lane of one PE spends per weight in steady state for
            the weight format at hand (e.g. 2 for BitMoD fp4, 1 for an INT8 MAC; from
            `hwsim.sim.pe_cycles`).

    Returns:
        PEs x lanes x fmax / cycles per MAC.
    """
    if not cycles_per_lane_mac > 0:
        raise HwsimError(f"cycles per MAC must be above 0, not {cycles_per_lane_mac!r}")
    return point.pes * point.lanes * point.implementation.min_fmax_mhz * 1e6 / cycles_per_lane_mac
