"""`hwsim synth`, `hwsim fpga`, `hwsim fpga-scale`: the open FPGA flow on the RTL blocks.

Thin: parse, call `hwsim.hw.fpga`, print. The first run of Yosys on a machine compiles its
WebAssembly (about 1.5 minutes, cached afterwards under $YOWASP_CACHE_DIR or ~/.cache/YoWASP).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from hwsim.cli.paths import given_path
from hwsim.errors import HwsimError
from hwsim.files import output_folder

_FIRST_RUN = ("The first Yosys run on a machine compiles it (about 1.5 minutes, 1.7 GB; cached "
              "under $YOWASP_CACHE_DIR or ~/.cache/YoWASP); later runs take seconds.")


def _split_params(names: list[str], items: list[str]) -> dict[str, dict]:
    """``key=value`` for a single block; ``block.key=value`` to aim at one of several."""
    from hwsim.hw.rtl.registry import get_block, parse_params, resolve_params

    canonical = [get_block(n).name for n in names]
    twice = list(dict.fromkeys(n for n in canonical if canonical.count(n) > 1))
    if twice:  # one row per block: a second would be the same synthesis
        raise HwsimError(f"block {', '.join(twice)} given twice; give each block once (its "
                         "parameters with -p)")
    raw: dict[str, list[str]] = {n: [] for n in canonical}
    for item in items:
        key = item.partition("=")[0]
        if "." in key:
            block, _, rest = item.partition(".")
            block = get_block(block).name
            if block not in raw:
                raise HwsimError(f"--param {item!r} names block {block!r}, which is not "
                                 f"among the blocks given ({', '.join(canonical)})")
            raw[block].append(rest)
        elif len(canonical) == 1:
            raw[canonical[0]].append(item)
        else:
            raise HwsimError(f"--param {item!r}: with several blocks write block.key=value "
                             f"(blocks: {', '.join(canonical)})")
    parsed = {n: parse_params(n, v) for n, v in raw.items()}
    for n, v in parsed.items():
        # Every block's combination is checked before any folder is made or Yosys runs (a
        # second block's was refused after the first one's synthesis).
        resolve_params(n, v)
    return parsed


def synth(
    names: list[str] = typer.Argument(
        ..., help="RTL block(s) to compare side by side (see `hwsim verilog --list`)."),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="key=value (block.key=value with several blocks)."),
    target: str = typer.Option("ice40", "--target", "-t",
                               help="ice40 (synth_ice40), ecp5 (synth_ecp5) or generic "
                               "(synth -lut 4: LUT4s and flip-flops)."),
    dsp: bool = typer.Option(False, "--dsp/--no-dsp",
                             help="Map multiplies to hard DSPs (off: compare fabric cost)."),
    out: Path = typer.Option(Path("out/synth"), "--out", "-o",
                             parser=given_path,
                             help="Folder: one subfolder per block (Verilog, Yosys log, "
                             "stat) and synth.json."),
    cones: int = typer.Option(
        0, "--cones", min=0,
        help="Print each block's N deepest register-to-register cones (ecp5 only; every "
        "ecp5 run writes its 30 deepest to cones.json): a ranking before placement, see "
        "hw/fpga/README.md."),
) -> None:
    """Synthesize RTL blocks with Yosys: LUTs, flip-flops, carry cells side by side.

    The first Yosys run on a machine compiles it (about 1.5 minutes, cached).
    """
    from rich.console import Console
    from rich.table import Table

    from hwsim.hw.fpga import SYNTH_TARGETS, synth_block
    from hwsim.hw.fpga.cones import CONES_WRITTEN
    from hwsim.reports.output_files import write_file

    if target not in SYNTH_TARGETS:
        raise HwsimError(f"unknown --target {target!r}; allowed: {', '.join(SYNTH_TARGETS)}")
    if cones and target != "ecp5":  # its cell delays are nextpnr-ecp5's
        raise HwsimError(f"--cones needs --target ecp5 (the ranking uses nextpnr-ecp5's cell "
                         f"delays), not {target!r}")
    if cones > CONES_WRITTEN:
        raise HwsimError(f"--cones {cones}: at most {CONES_WRITTEN} (cones.json holds the "
                         f"first {CONES_WRITTEN})")
    if dsp and target == "generic":  # LUT4s and flip-flops only: it would be dropped
        raise HwsimError("--dsp needs a device target (ice40 or ecp5): --target generic maps "
                         "to LUT4s and flip-flops only")
    params = _split_params(names, param)
    output_folder(out)  # a bad --out fails before any tool runs
    console = Console()
    results = []
    with console.status(_FIRST_RUN):
        for name, values in params.items():
            results.append(synth_block(name, values, target, out / name, dsp=dsp))
    # Every resource kind synth.json may hold (`hw/fpga/reports.py`), those present shown.
    kinds = ["logic", "ff", "carry", "dsp", "bram", "lutram", "spram", "other"]
    kinds = [k for k in kinds if any(k in r.resources for r in results)]
    table = Table(title=f"Yosys synthesis, target {target}" + (" (DSPs on)" if dsp else ""))
    table.add_column("block")
    for k in kinds:
        table.add_column({"logic": "LUT4", "ff": "FF"}.get(k, k), justify="right")
    depth = target == "generic"
    if depth:  # the ASIC-style proxy of the clock period
        table.add_column("gate depth", justify="right")
    table.add_column("Yosys s", justify="right")
    for r in results:
        table.add_row(r.block, *(str(r.resources.get(k, 0)) for k in kinds),
                      *([str(r.gate_depth)] if depth else []), f"{r.seconds:.1f}")
    console.print(table)
    if cones:
        for r in results:
            console.print(_cones_table(r.block, out / r.block / "cones.json", cones))
    earlier = _earlier_synth_blocks(out)
    summary = {"target": target, "dsp": dsp, "blocks": [r.to_dict() for r in results]}
    write_file(out / "synth.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
    _remove_block_folders(out, earlier - set(params))
    console.print(f"written: {out / 'synth.json'}")


# The key of fpga.json recording the SHA-256 of the hardware.yaml written beside it.
_DESIGN_POINT_KEY = "hardware_yaml_sha256"


def _record_design_point(out: Path, path: Path) -> None:
    """Add the SHA-256 of the design point just written to the run's fpga.json, so that a later
    run into ``out`` knows the file as this run's (`_remove_earlier_design_point`)."""
    from hwsim.reports.output_files import digest, write_file

    record = out / "fpga.json"
    data = json.loads(record.read_text())
    data[_DESIGN_POINT_KEY] = digest(path)
    write_file(record, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _recorded_design_point(out: Path) -> str | None:
    """The SHA-256 an earlier `hwsim fpga` into ``out`` recorded for its hardware.yaml."""
    try:
        recorded = json.loads((out / "fpga.json").read_text()).get(_DESIGN_POINT_KEY)
    except (OSError, ValueError, AttributeError):
        return None
    return recorded if isinstance(recorded, str) else None


def _remove_earlier_design_point(out: Path, recorded: str | None) -> None:
    """An earlier `hwsim fpga` of a PE into ``out`` wrote a hardware.yaml of its build: beside
    this run's fpga.json it would read as this block's. Removed only while it holds the bytes
    that run recorded (one edited since, or the user's, is kept)."""
    from hwsim.reports.output_files import digest

    path = out / "hardware.yaml"
    if recorded is not None and digest(path) == recorded:
        path.unlink(missing_ok=True)


def _earlier_synth_blocks(out: Path) -> set[str]:
    """The blocks an earlier `hwsim synth` into ``out`` recorded in its synth.json."""
    try:
        earlier = json.loads((out / "synth.json").read_text())
        return {b["block"] for b in earlier["blocks"]
                if isinstance(b["block"], str) and Path(b["block"]).name == b["block"]}
    except (OSError, ValueError, TypeError, KeyError):
        return set()


def _remove_block_folders(out: Path, blocks: set[str]) -> None:
    """Remove an earlier synthesis's block folders this one did not write (they sat beside
    a synth.json that no longer lists them), where they hold nothing but synthesis files:
    a folder `hwsim fpga` also wrote into, or anything of the user's, is left alone."""
    from hwsim.hw.fpga.flow import SYNTH_FILES

    for block in sorted(blocks):
        folder = out / block
        if not folder.is_dir() or folder.is_symlink():
            continue
        names = {p.name for p in folder.iterdir()}
        if names <= set(SYNTH_FILES) and all((folder / n).is_file() for n in names):
            for name in names:
                (folder / name).unlink()
            folder.rmdir()


def _cones_table(block: str, path: Path, count: int) -> Any:  # a rich Table, or why not
    from rich.table import Table

    ranking = json.loads(path.read_text())
    if "error" in ranking:
        return f"{block}: no cone ranking ({ranking['error']})"
    table = Table(title=f"{block}: deepest cones before placement ({path})")
    for col in ("score ns", "LUTs", "carries", "fan-out", "bits", "ends at", "from"):
        table.add_column(col, justify="left" if col in ("ends at", "from") else "right")
    for c in ranking["cones"][:count]:
        table.add_row(f"{c['score_ns']:.2f}", str(c["luts"]), str(c["carries"]),
                      str(c["max_fanout"]), str(c["width"]), c["end"], c["start"])
    return table


def _timeout_option(why: str) -> Any:  # a typer OptionInfo, used as a default
    return typer.Option(60, "--timeout", min=1, max=24 * 60,
                        help=f"Minutes each Yosys or nextpnr run may take{why}.")


def _jobs_option() -> Any:  # a typer OptionInfo, used as a default
    return typer.Option(0, "--jobs", "-j", min=0, max=64,
                        help="Seeds placed at once (0: one per core).")


def _speed_option() -> Any:  # a typer OptionInfo, used as a default
    return typer.Option(
        None, "--speed",
        help="The part's speed grade nextpnr times it at: 6, 7 or 8 on ECP5 (default 6, "
        "nextpnr's: the slowest, LFE5U-xxF-6); iCE40 has none. Recorded in fpga.json and the "
        "design point.")


def _placer_option() -> Any:  # a typer OptionInfo, used as a default
    return typer.Option(
        "heap", "--placer",
        help="How nextpnr places the design: heap (its default, timing-driven analytic), "
        "static (its timing-driven electrostatic placer: for designs on which heap does not "
        "finish, see hw/fpga/presets/README.md) or heap-no-tmdriv (heap on wirelength only, "
        "a diagnostic). Recorded in fpga.json and the design point.")


def fpga(
    name: str = typer.Argument(..., help="RTL block (see `hwsim verilog --list`)."),
    param: list[str] = typer.Option([], "--param", "-p", help="key=value, repeatable."),
    device: str = typer.Option(
        ..., "--device", "-d",
        help="ecp5-25k, ecp5-45k, ecp5-85k, ice40-up5k or ice40-hx8k."),
    freq: float = typer.Option(
        100.0, "--freq",
        help="Requested clock in MHz (> 0): the one block's target, which fmax meets or "
        "misses; default 100, the request of the single-block figures in the READMEs "
        "(fpga-scale defaults to the study's request, that of its presets; on ECP5 the "
        "request does not move the placement)."),
    no_dsp: bool = typer.Option(False, "--no-dsp", help="Multiplies in LUTs, no hard DSPs."),
    seeds: int = typer.Option(1, "--seeds", min=1, max=9,
                              help="Placer seeds 1..N, placed at once (see --jobs); fmax is "
                              "the median (it varies ±5-7%). A seed that does not route within "
                              "--timeout counts as slower than every routed one."),
    jobs: int = _jobs_option(),
    memory: str = typer.Option(
        "sdram16", "--memory",
        help="Board DRAM for hardware.yaml: sdram16, ddr3-16, ddr3-32, qspi-psram or GB/s."),
    timeout: int = _timeout_option(" (a large core's routing can need more than the default)"),
    placer: str = _placer_option(),
    speed: int | None = _speed_option(),
    out: Path = typer.Option(Path("out/fpga"), "--out", "-o",
                             parser=given_path,
                             help="Folder for fpga.json, hardware.yaml and the tool logs."),
    cones: int = typer.Option(
        0, "--cones", min=0,
        help="Also print the N deepest register-to-register cones ranked before placement "
        "(ECP5 devices; cones.json holds 30): see hw/fpga/README.md."),
) -> None:
    """Place and route an RTL block on an FPGA: utilization, fmax, critical path.

    The block sits in an I/O harness: its ports are registered and shifted serially.

    So the design needs 5 pins whatever its size; the harness' flip-flops are counted.

    The first Yosys run on a machine compiles it (about 1.5 minutes, cached).
    """
    from rich.console import Console
    from rich.table import Table

    from hwsim.hw.fpga import (
        fpga_block,
        fpga_hardware,
        get_device,
        hardware_yaml_header,
        write_hardware_yaml,
    )
    from hwsim.hw.fpga.cones import CONES_WRITTEN
    from hwsim.hw.fpga.design_point import board_memory, pe_for_block
    from hwsim.hw.fpga.flow import check_freq, check_placer

    ecp5 = get_device(device).family == "ecp5"
    if cones and not ecp5:  # its cell delays are nextpnr-ecp5's
        raise HwsimError(f"--cones needs an ECP5 device (the ranking uses nextpnr-ecp5's cell "
                         f"delays), not {device}")
    if cones > CONES_WRITTEN:
        raise HwsimError(f"--cones {cones}: at most {CONES_WRITTEN} (cones.json holds the "
                         f"first {CONES_WRITTEN})")
    get_device(device).check_speed(speed)
    check_freq(freq)
    check_placer(placer)
    board_memory(memory)
    values = _split_params([name], param)
    (block, block_params), = values.items()
    output_folder(out)  # a bad --out fails before any tool runs
    earlier = _recorded_design_point(out)
    console = Console()
    with console.status(f"{block} on {device}: Yosys, then nextpnr. {_FIRST_RUN}") as status:
        impl = fpga_block(block, block_params, device, out, freq_mhz=freq, dsp=not no_dsp,
                          seeds=tuple(range(1, seeds + 1)), timeout_s=60.0 * timeout,
                          placer=placer, speed=speed, jobs=jobs or None,
                          progress=lambda now: status.update(
                              f"{block} on {device}: {now}"
                              + (f". {_FIRST_RUN}" if now.startswith("Yosys") else "")))

    part = get_device(device).part_name(impl.speed_grade)
    table = Table(title=f"{block} on {device} ({part}, inside the I/O harness)")
    for col in ("resource", "primitive", "used", "available", "%"):
        table.add_column(col, justify="left" if col in ("resource", "primitive") else "right")
    for r in impl.resources:
        table.add_row(r.resource, r.primitive, str(r.used), str(r.available), f"{r.percent:.1f}")
    console.print(table)
    for clock, mhz in impl.fmax_mhz.items():
        verdict = "meets" if mhz >= impl.freq_mhz else "misses"
        per_seed = ", ".join("unrouted" if f is None else f"{f:g}"
                             for f in impl.fmax_by_seed_mhz[clock])
        console.print(f"clock {clock}: fmax {mhz:g} MHz ({verdict} {impl.freq_mhz:g} MHz; "
                      f"seeds: {per_seed}; placer {impl.placer}"
                      + ("" if impl.speed_grade is None else f"; speed grade -{impl.speed_grade}")
                      + ")")
    cp = impl.critical_path
    if cp is not None:
        console.print(f"critical path ({cp.delay_ns:g} ns, {cp.logic_levels} logic levels): "
                      f"{cp.start} -> {cp.end}")
        if impl.critical_cone_rank is not None:
            rank, of = impl.critical_cone_rank
            console.print(f"its endpoint's rank among the {of} cones ranked before placement: "
                          f"{rank} (0 = first; cones.json lists the deepest)")
    w = impl.wrapper
    console.print(f"harness: {w.ff} FF, ~{w.lut_approx} LUT, {w.pins} pins "
                  f"({w.in_bits} input bits, {w.out_bits} output bits serialized)")
    try:
        pe_for_block(impl.block, impl.params)
    except HwsimError:
        console.print(f"({impl.block} is not a PE the simulator models: no hardware.yaml)")
        _remove_earlier_design_point(out, earlier)
    else:
        _spec, data = fpga_hardware(impl, memory)
        path = write_hardware_yaml(data, out / "hardware.yaml",
                                   header=hardware_yaml_header(impl, data))
        _record_design_point(out, path)
        console.print(f"design point: {path} (hwsim run --hardware {path})")
    if cones:
        console.print(_cones_table(block, out / "cones.json", cones))
    if ecp5:
        console.print(f"deepest cones before placement: {out / 'cones.json'} "
                      "(hw/fpga/README.md: how far to trust them)")
    console.print(f"written: {out / 'fpga.json'} and the tool logs beside it")


def fpga_scale(
    device: str = typer.Option("ecp5-25k", "--device", "-d", help="Device to fill."),
    kinds: list[str] = typer.Option(
        [], "--kind", "-k",
        help="PE kind(s): bitmod, int8_mac, fp16_int_mac, dint_mac, bipolar "
        "(default: all)."),
    freq: float | None = typer.Option(
        None, "--freq",
        help="Requested clock in MHz (> 0); default: the study's request, the one every stored "
        "preset was measured with (hw/fpga/presets/README.md)."),
    seeds: int = typer.Option(1, "--seeds", min=1, max=9, help="Placer seeds per winner."),
    no_dsp: bool = typer.Option(False, "--no-dsp", help="Multiplies in LUTs, no hard DSPs."),
    timeout: int = _timeout_option(
        "; a shape on which at least half the seeds do not route in time tries a smaller array"),
    max_logic: float = typer.Option(
        100.0, "--max-logic", min=1.0, max=100.0,
        help="Ceiling on the device's logic (LUT4s / logic cells) in percent: larger shapes "
        "count as not fitting (100: fill it, as the stored presets do)."),
    placer: str = _placer_option(),
    speed: int | None = _speed_option(),
    jobs: int = _jobs_option(),
    memory: str = typer.Option("sdram16", "--memory",
                               help="Board DRAM of the design points written."),
    out: Path = typer.Option(Path("out/fpga-scale"), "--out", "-o",
                             parser=given_path,
                             help="Folder: scaling.json/.md, scaling.png, one hardware YAML "
                             "per kind, and every build's files."),
) -> None:
    """Largest array of each PE kind that fits a device, its fmax and peak MAC/s per format.

    Slow: several shapes are synthesized per kind and the largest is placed (minutes).
    """
    from rich.console import Console

    from hwsim.hw.fpga import SCALING_KINDS, get_device, largest_array
    from hwsim.hw.fpga.design_point import board_memory
    from hwsim.hw.fpga.flow import check_freq, check_placer
    from hwsim.hw.fpga.scaling import STUDY_FREQ_MHZ
    from hwsim.reports.fpga_scaling import scaling_table, write_scaling_outputs

    get_device(device).check_speed(speed)
    device = get_device(device).name
    freq = STUDY_FREQ_MHZ if freq is None else freq
    check_freq(freq)
    check_placer(placer)
    board_memory(memory)
    for i, k in enumerate(kinds):
        if k not in SCALING_KINDS:
            raise HwsimError(f"unknown --kind {k!r}; allowed: {', '.join(SCALING_KINDS)}")
        if k in kinds[:i]:  # the study would place it twice
            raise HwsimError(f"--kind {k} given twice")
    output_folder(out)  # a bad --out fails before any tool runs
    console = Console()
    with console.status(f"fpga-scale on {device}: Yosys, then nextpnr. {_FIRST_RUN}") as status:

        def logger(kind: str) -> Callable[[str], None]:
            # Between the flow's stage reports (placing the winner) the status line says
            # which search it is in and its last step, not a stage that has ended.
            def log(line: str) -> None:
                console.print(line)
                status.update(f"{kind} on {device}: Yosys on the next shape or nextpnr "
                              f"(last: {line})")
            return log

        # A kind that fails (nothing of it fits, every shape fails to route) does not throw
        # away the kinds placed before or after it: their results are written, then it is
        # named.
        points, failed = [], []
        for k in kinds or list(SCALING_KINDS):
            try:
                points.append(largest_array(
                    k, device, out, freq_mhz=freq, seeds=tuple(range(1, seeds + 1)),
                    dsp=not no_dsp, timeout_s=60.0 * timeout, max_logic=max_logic / 100.0,
                    placer=placer, speed=speed, jobs=jobs or None, log=logger(k),
                    progress=lambda now, k=k: status.update(f"{k} on {device}: {now}")))
            except HwsimError as exc:
                failed.append((k, str(exc)))
                console.print(f"{k}: {exc}", soft_wrap=True)
    if not points:  # one kind: its own error; several: each named (a timeout names none)
        raise HwsimError(failed[0][1] if len(failed) == 1
                         else "; ".join(f"{k}: {why}" for k, why in failed))
    table = scaling_table(points)
    console.print(table.to_string(index=False), soft_wrap=True)
    # A failed kind's earlier design point in --out stays (a timeout must not delete it).
    for path in write_scaling_outputs(points, table, out, memory=memory,
                                      failed=[k for k, _ in failed]):
        console.print(f"written: {path}", soft_wrap=True)
    if failed:
        raise HwsimError(f"results written for {', '.join(p.kind for p in points)}, not for "
                         + "; ".join(f"{k}: {why}" for k, why in failed))
