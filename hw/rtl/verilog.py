"""Verilog generation: a block's Verilog text and a JSON description of its ports.

The Verilog is written with ``emit_src=False`` so reruns are byte-identical (no absolute source
paths). Ports keep their signature names; Amaranth adds ``clk`` and ``rst`` (synchronous,
active high) for the ``sync`` domain.
"""

from __future__ import annotations

import json
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib import wiring

from hwsim.errors import HwsimError
from hwsim.files import output_folder
from hwsim.hw.rtl._common import MAX_WIRE_BITS
from hwsim.hw.rtl.registry import build, get_block, resolve_params

__all__ = ["describe", "to_verilog", "write_block"]


def to_verilog(component: wiring.Component, name: str) -> str:
    """Verilog text of ``component`` as module ``name`` (deterministic).

    Raises:
        HwsimError: a wire wider than Amaranth emits (`_common.MAX_WIRE_BITS`) that no
            parameter check caught before.
    """
    try:
        return verilog.convert(component, name=name, emit_src=False)
    except OverflowError as exc:  # Amaranth's own refusal, not a traceback
        raise HwsimError(f"{name}: {exc} (Amaranth emits at most {MAX_WIRE_BITS:,} bits in "
                         "one wire): a smaller configuration") from None


def describe(name: str, component: wiring.Component, params: dict) -> dict:
    """JSON-ready description: block, parameters, ports (direction, width, signedness)."""
    ports = [
        {"name": "clk", "direction": "in", "width": 1, "signed": False},
        {"name": "rst", "direction": "in", "width": 1, "signed": False},
    ]
    for pname, member in component.signature.members.items():
        shape = Shape.cast(member.shape)
        ports.append({
            "name": pname,
            "direction": "in" if member.flow == wiring.In else "out",
            "width": shape.width,
            "signed": shape.signed,
        })
    extra = {k: getattr(component, k) for k in ("out_width",) if hasattr(component, k)}
    config = getattr(component, "config", None)
    if config is not None and hasattr(config, "derived"):
        extra.update(config.derived())
    elif config is not None:
        extra.update({"acc_width": config.acc_width, "out_width": config.out_width,
                      "lsb_exp": config.lsb_exp, "terms": config.terms})
    return {
        "block": name,
        "module": name,
        "doc": get_block(name).doc,
        "params": params,
        "derived": extra,
        "ports": ports,
    }


def write_block(name: str, params: dict | None, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``<name>.v`` and ``<name>.json`` for block ``name`` into ``out_dir``.

    Returns:
        The two paths written.

    Raises:
        HwsimError: unknown block or parameter, or ``out_dir`` exists as a file.
    """
    values = resolve_params(name, params)
    block = get_block(name).name
    component = build(block, **values)
    out = Path(out_dir)
    output_folder(out)
    v_path, j_path = out / f"{block}.v", out / f"{block}.json"
    try:
        v_path.write_text(to_verilog(component, block))
        j_path.write_text(json.dumps(describe(block, component, values), indent=2) + "\n")
    except OSError as exc:
        raise HwsimError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    return v_path, j_path
