"""A hardware description's ``rtl`` PE figures, filled in from the gate-level flow.

    pe:
      kind: bitmod
      lanes: 4
      area_um2: rtl
      energy_pj_per_cycle: rtl
      rtl: {block: bitmod_pe, params: {weights: fp4}, node: 28nm}   # runs fp4 formats only

The block's parameters come from ``rtl.params`` and, for those not given, from the PE's own
fields (the PE-kind registry's `hwsim.hw.pe_kinds.BlockPE`, read backwards: a sweep over
``pe.lanes`` synthesizes the PE it describes); a field given both ways must agree, and a PE
field the block fixes (the dINT MAC's 8-bit activations) must be the block's. ``area_um2``
becomes the block's calibrated area at the node; ``energy_pj_per_cycle`` its calibrated
switching energy per cycle on the operands of ``rtl.format``, which every operator is then
charged, or without it the native format's, and ``rtl.energies`` every format's: the simulator
charges each operator the energy of its weight operand's format (the native one's where the
block has no operand model for it: FP16, a plain width). Block costs are memoized per process
and kept in the user's cache folder (`hwsim.hw.asic.cache`), so neither repeated sweep points
nor later runs and sweep workers re-synthesize.
"""

from __future__ import annotations

import dataclasses

from hwsim.dtypes import get_format
from hwsim.errors import HwsimError
from hwsim.hw.asic.cache import user_cache_dir
from hwsim.hw.asic.calibration import NODES, calibrate
from hwsim.hw.asic.cost import block_cost
from hwsim.hw.pe_kinds import PE_KINDS
from hwsim.hw.rtl.registry import BLOCKS, resolve_params
from hwsim.hw.spec import HardwareSpec

__all__ = ["PE_BLOCKS", "resolve_rtl_pe", "rtl_param_fields"]

# PE kind -> RTL blocks that can stand for one PE of it: the kind's single-PE blocks.
PE_BLOCKS = {name: tuple(b for b, bp in kind.rtl_blocks.items() if not bp.array)
             for name, kind in PE_KINDS.items()}
# How each block's parameters and the PE's fields correspond (the registry's `BlockPE`).
_BLOCK_PE = {b: bp for kind in PE_KINDS.values() for b, bp in kind.rtl_blocks.items()}
_FIGURES = ("area_um2", "energy_pj_per_cycle")


def rtl_param_fields(block: str) -> list[str]:
    """``pe.rtl.params.<name>`` for each parameter of RTL block ``block`` (none if unknown):
    the hardware fields `hwsim.hw.spec.with_overrides` and sweeps accept for it."""

    known = BLOCKS.get(str(block).lower())
    return [f"pe.rtl.params.{p.name}" for p in known.params] if known else []


def _block_params(pe, block: str) -> dict:
    # Every block that can stand for a PE is one PE with its own dequantizer: its area and
    # energy would never credit the sharing the cycles charge.
    shared = getattr(pe, "dequantizer_pes", 1)
    if shared != 1:
        raise HwsimError(f"pe.dequantizer_pes: {shared} PEs sharing a dequantizer, but "
                         f"pe.rtl.block {block} is one PE with its own, so its figures would "
                         "not credit the sharing; allowed with pe.rtl: 1")
    params = dict(pe.rtl.params)
    block_pe = _BLOCK_PE[block]
    for field, param in block_pe.fields.items():
        value = getattr(pe, field)
        if param in params and params[param] != value:
            given = params[param]
            if isinstance(given, str) and not isinstance(value, str):
                raise HwsimError(f"pe.rtl.params.{param}: {given!r} is text where "
                                 f"pe.{field} is the number {value!r}; write it without quotes")
            raise HwsimError(f"pe.rtl.params.{param} = {given!r} disagrees with "
                             f"pe.{field} = {value!r}")
        params[param] = value
    for field, built in block_pe.fixed.items():
        if getattr(pe, field) != built:
            raise HwsimError(f"pe.{field} = {getattr(pe, field)!r} disagrees with "
                             f"{block}, which is built with {field} = {built!r}")
    return params


def resolve_rtl_pe(hw: HardwareSpec) -> HardwareSpec:
    """``hw`` with its ``rtl`` PE figures replaced by the calibrated gate-level ones.

    Raises:
        HwsimError: ``"<source>: pe....: <problem>"``: ``rtl`` figures without ``pe.rtl``, a
            ``pe.rtl`` nothing uses, a block that cannot stand for the PE kind, a bad
            parameter, node or format, or a block that fails synthesis.
    """
    pe = hw.pe
    derived = tuple(f for f in _FIGURES if getattr(pe, f) == "rtl")
    try:
        if pe.rtl is None:
            raise HwsimError(f"pe.{derived[0]}: 'rtl' needs pe.rtl: {{block: ..., params: "
                             "...} naming the RTL block")
        for key in ("derived", "formats", "energy_format", "energies"):
            if getattr(pe.rtl, key):
                raise HwsimError(f"pe.rtl.{key}: set by hwsim, not a key to give")
        if not derived:
            raise HwsimError("pe.rtl: given, but neither pe.area_um2 nor "
                             "pe.energy_pj_per_cycle is 'rtl'")
        allowed = PE_BLOCKS.get(pe.kind, ())
        if pe.rtl.block not in allowed:
            raise HwsimError(f"pe.rtl.block: {pe.rtl.block!r} cannot stand for a {pe.kind} PE; "
                             f"blocks for it: {', '.join(allowed) or 'none yet'}")
        params = _block_params(pe, pe.rtl.block)
        formats = _block_formats(pe, params)
        values, energy_format, energies = _figures(pe, params, derived)
    except HwsimError as exc:
        raise HwsimError(f"{hw.source}: {exc}") from None
    rtl = dataclasses.replace(pe.rtl, derived=derived, formats=formats,
                              energy_format=energy_format, energies=energies)
    return dataclasses.replace(hw, pe=dataclasses.replace(pe, **values, rtl=rtl))


def _block_formats(pe, params: dict) -> tuple[str, ...]:
    """The quantized weight formats the block's build decodes (none where the block does not
    state them: its widths decide); ``pe.weight_formats`` must be among them."""
    block = pe.rtl.block
    try:
        built = _BLOCK_PE[block].pe(resolve_params(block, params))
    except HwsimError as exc:
        raise HwsimError(f"pe.rtl: {exc}") from None
    formats = tuple(built.get("weight_formats") or ())
    if pe.rtl.format is not None:
        # Checked with a numeric energy too (an override of a `rtl` preset's energy keeps
        # it): a misspelt name is never silently carried.
        try:
            get_format(pe.rtl.format)
        except HwsimError as exc:
            raise HwsimError(f"pe.rtl.format: {exc}") from None
        # Whether the build runs it: `_figures`, against the formats with an operand model.
    given = getattr(pe, "weight_formats", None)
    if formats and given is not None:
        extra = [f for f in given if f not in formats]
        if extra:
            raise HwsimError(f"pe.weight_formats: {', '.join(extra)} not run by {block} as "
                             f"built (pe.rtl.params), whose figures the PE takes; its formats: "
                             f"{', '.join(formats)}")
    return formats


def _figures(pe, params: dict, derived: tuple[str, ...]
             ) -> tuple[dict[str, float], str | None, dict[str, float]]:
    """The derived figures; the weight format whose activity the energy is (None: the energy
    is not derived); and, for a derived energy without ``pe.rtl.format``, every modelled
    format's energy per cycle (native first; empty otherwise)."""
    if pe.rtl.node not in NODES:
        raise HwsimError(f"pe.rtl.node: {pe.rtl.node!r} has no calibration; calibrated nodes: "
                         f"{', '.join(NODES)}")
    try:
        cost = block_cost(pe.rtl.block, params, user_cache_dir())
    except HwsimError as exc:
        raise HwsimError(f"pe.rtl: {exc}") from None
    acts = {a.weight_format: a for a in cost.activity}
    # One list of formats for every block, whichever figure is derived: a block stating no
    # formats (fp16_int_mac) let any name through beside a numeric energy.
    if pe.rtl.format is not None and pe.rtl.format not in acts:
        raise HwsimError(f"pe.rtl.format: {pe.rtl.format!r} is not run by {pe.rtl.block} as "
                         "built (pe.rtl.params); its formats: "
                         f"{', '.join(acts) or 'none with an operand model'}")
    cal = calibrate(pe.rtl.node, user_cache_dir(), ratios=False)
    out: dict[str, float] = {}
    fmt = None
    energies: dict[str, float] = {}
    if "area_um2" in derived:
        out["area_um2"] = round(cal.area_um2(cost), 3)
    if "energy_pj_per_cycle" in derived:
        if not acts:
            raise HwsimError(f"pe.energy_pj_per_cycle: {pe.rtl.block} has no operand model; "
                             "give a number")
        energies = {f: round(cal.energy_pj(a.switching.total), 6) for f, a in acts.items()}
        fmt = pe.rtl.format or cost.activity[0].weight_format
        out["energy_pj_per_cycle"] = energies[fmt]
        if pe.rtl.format is not None:
            energies = {}  # one format's activity for every operator, as asked
    return out, fmt, energies
