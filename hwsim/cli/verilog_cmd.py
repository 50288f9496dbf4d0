"""`hwsim verilog`: write an RTL block's Verilog and a JSON description of its ports."""

from __future__ import annotations

from pathlib import Path

import typer

from hwsim.cli.paths import given_path
from hwsim.errors import HwsimError


def verilog(
    name: str = typer.Argument(None, help="Block name (see --list)."),
    param: list[str] = typer.Option(
        None, "--param", "-p", help="Block parameter as key=value (repeatable)."),
    out: Path = typer.Option(Path("out/verilog"), "--out", "-o",
                             parser=given_path,
                             help="Folder for <name>.v and <name>.json."),
    list_: bool = typer.Option(False, "--list", help="List the blocks and their parameters."),
) -> None:
    """Generate Verilog for an RTL block (byte-identical on reruns), or list the blocks."""
    from rich.console import Console

    from hwsim.hw.rtl.registry import list_blocks, parse_params

    console = Console()
    if list_:
        if name is not None or param:
            raise HwsimError("--list takes no block name or --param")
        for block in list_blocks():
            console.print(f"[bold]{block.name}[/]: {block.doc}", highlight=False)
            for p in block.params:
                setting = f"  {p.name}={p.default}"
                console.print(f"{setting:<24}{p.doc} [{p.allowed}]", highlight=False,
                              markup=False, soft_wrap=True)
        return
    if name is None:
        raise HwsimError("give a block name (hwsim verilog --list shows them)")

    from hwsim.hw.rtl.verilog import write_block

    params = parse_params(name, param or [])
    v_path, j_path = write_block(name, params, out)
    console.print(f"wrote {v_path} and {j_path}", highlight=False)
