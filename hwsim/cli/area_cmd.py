"""`hwsim area`: gate-level area and switching energy of an RTL block, calibrated to a node."""

from __future__ import annotations

from pathlib import Path

import typer

from hwsim.cli.paths import given_path
from hwsim.errors import HwsimError


def area(
    name: str = typer.Argument(..., help="RTL block (hwsim verilog --list shows them)."),
    param: list[str] = typer.Option(
        None, "--param", "-p", help="Block parameter as key=value (repeatable)."),
    node: str = typer.Option("28nm", "--node", help="Process node of the calibration."),
    out: Path = typer.Option(Path("out/area"), "--out", "-o",
                             parser=given_path,
                             help="Folder for area.json, area.txt, subblocks.png."),
    cache: Path = typer.Option(None, "--cache", parser=given_path,
                               help="Folder of cached netlists and costs "
                               "(default: $HWSIM_CACHE_DIR, else $XDG_CACHE_HOME/hwsim or "
                               "~/.cache/hwsim; HWSIM_CACHE_DIR= turns it off)."),
) -> None:
    """Synthesize a block to sky130 gates (NAND2 equivalents, um^2 per sub-block), simulate it
    on MiniLM operands for energy per cycle, calibrated on published 28 nm blocks."""
    from rich.console import Console

    from hwsim.files import output_folder
    from hwsim.hw.asic.cache import user_cache_dir
    from hwsim.hw.asic.calibration import calibrate, check_node
    from hwsim.hw.asic.cost import block_cost
    from hwsim.hw.asic.report import (
        area_report,
        calibration_lines,
        cost_lines,
        write_area_report,
    )
    from hwsim.hw.rtl.registry import parse_params

    params = parse_params(name, param or [])
    check_node(node)
    cache_dir = (output_folder(cache, "--cache", written=False) if cache is not None
                 else user_cache_dir())
    folder = output_folder(out)
    cost = block_cost(name, params, cache_dir)
    cal = calibrate(node, cache_dir)
    report = area_report(cost, cal)
    lines = cost_lines(report) + calibration_lines(cal)
    report["_lines"] = lines
    try:
        paths = write_area_report(report, folder)
    except OSError as exc:
        raise HwsimError(f"--out {folder}: cannot write ({exc.strerror or exc})") from None
    console = Console()
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    console.print(f"wrote {', '.join(str(p) for p in paths)}", highlight=False, soft_wrap=True)
