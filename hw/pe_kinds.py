"""PE kinds: the one registry of processing-element kinds.

Each `PEKind` entry owns what the rest of hwsim needs to know about a kind:

- ``spec``: its frozen schema (the ``pe:`` mapping of a hardware YAML, chosen by ``kind``),
  which also gives the natural tile of an array of it (`tile_quanta`, for `hwsim.mapping`);
- ``rtl_blocks``: the RTL registry blocks (`hwsim.hw.rtl.registry`) that implement it, each with
  how the block's parameters give the ``pe`` mapping (`BlockPE`; empty: no RTL);
- ``fpga_studies``: how the FPGA scaling study builds it (`hwsim.hw.fpga.scaling`);
- ``rtl_cores``: RTL accelerator cores built of its PEs (whole designs that describe their
  own hardware, e.g. ``accel_core``), each with the `BlockPE` that gives the ``pe`` mapping
  of its array's PEs from the core's parameters.

Its cycle model (operand widths, formats it runs, per-tile cycles, cycles per lane-MAC) lives
one layer up, in `hwsim.sim.kind_models`, keyed by the same name; a test proves every kind
registered here has one, so a half-added kind fails CI.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from hwsim.errors import HwsimError
from hwsim.hw._schema import (
    CONFIG,
    AreaUm2OrRtl,
    ArrayDim,
    Bits,
    EnergyPj,
    EnergyPjOrRtl,
    PipelineStages,
    PosInt,
    RtlSource,
)

__all__ = [
    "FPGA_STUDIES",
    "PE_KINDS",
    "BipolarPE",
    "BitSerialPE",
    "BitmodPE",
    "BlockPE",
    "DintPE",
    "FpgaStudy",
    "MacPE",
    "PEKind",
    "SystolicPE",
    "core_blocks",
    "get_pe_kind",
    "pe_for_block",
]


@dataclass(frozen=True)
class _PEBase:
    __pydantic_config__ = CONFIG
    energy_pj_per_cycle: EnergyPjOrRtl
    area_um2: AreaUm2OrRtl
    rtl: RtlSource | None = None

    def tile_quanta(self, rows: int, cols: int, group_size: int | None) -> tuple[int, int, int]:
        """Natural block granularity (m, n, k) on a rows x cols array of this PE.

        Broadcast arrays: tokens in columns, output channels in rows, the reduction in whole
        quantization groups (else lanes).
        """
        lanes: int = self.lanes  # type: ignore[attr-defined]
        k_q = int(np.lcm(group_size, lanes)) if group_size else lanes
        return cols, rows, k_q


# ``pipeline`` (the kinds with pipelined RTL: mac, dint, bitmod): register stages in the PE's
# datapath, the RTL block's ``pipeline``. Each adds one cycle to every array tile
# (`hwsim.sim.pe_cycles.array_tiles_cycles`); 0 (default) for published design points, which
# state none.


@dataclass(frozen=True)
class MacPE(_PEBase):
    """Bit-parallel multiply-accumulate (FP16, FP16 x INTk, INT8).

    ``weight_bits``: widest weight element the multiplier takes (narrower formats are
    widened on the way in, at no extra cycle); ``act_bits``: activation width;
    ``pipeline``: register stages in its datapath (one cycle more per array tile each).
    ``weight_formats``: the `hwsim.dtypes` formats its build's multiplier takes (an FPGA
    design point of an integer MAC states its integers): a workload whose weights or KV
    cache are another format, FP16 and plain widths included, is refused. None: any number
    type of up to ``weight_bits`` per pass (the cycle model describes widths, not types).
    """

    kind: Literal["mac"] = "mac"
    lanes: ArrayDim = 1
    weight_bits: Bits = 16
    act_bits: Bits = 16
    pipeline: PipelineStages = 0
    weight_formats: tuple[str, ...] | None = None


@dataclass(frozen=True)
class BitmodPE(_PEBase):
    """Bit-serial BitMoD PE: FP16 activations x FP3/FP4 (ER/EA) or INT (Booth) weights.

    ``dequant_pj_per_cycle``: energy of the per-group dequantizer per busy cycle.
    ``weight_formats``: the `hwsim.dtypes` weight formats the PE's RTL build runs (an FPGA
    design point and the RTL core's hardware YAML state them); a workload whose weights or
    KV cache (attention's second operand) are another format, FP16 or a plain width
    included, is refused. None: every format the cycle model knows (FP16 and plain widths
    as Booth digits of the bit pattern).
    ``pipeline``: register stages in its datapath (one cycle more per array tile each).
    ``dequantizer_pes``: PEs of an array row that share one bit-serial dequantizer, taking
    turns at each group's end (1: one per PE; the RTL array's ``dequantizer=row``: its
    ``cols``); it must divide the array's columns. A group then keeps the dequantizer
    ``dequantizer_pes x scale_bits`` cycles (`hwsim.sim.pe_cycles.bitmod_pe_cycles`).
    ``area_um2`` and ``energy_pj_per_cycle`` are then a PE's share of the row (its part of
    the shared dequantizer, and of the hand-off and selection it adds); ``pe.rtl`` figures,
    those of a PE with its own dequantizer, refuse a ``dequantizer_pes`` other than 1.
    """

    kind: Literal["bitmod"] = "bitmod"
    lanes: ArrayDim = 4
    scale_bits: Bits = 8
    act_bits: Bits = 16
    dequant_pj_per_cycle: EnergyPj = 0.0
    weight_formats: tuple[str, ...] | None = None
    pipeline: PipelineStages = 0
    dequantizer_pes: PosInt = 1


@dataclass(frozen=True)
class BitSerialPE(_PEBase):
    """Stripes-like PE: one weight bit per cycle; weights up to ``max_weight_bits``."""

    kind: Literal["bit_serial"] = "bit_serial"
    lanes: ArrayDim = 16
    max_weight_bits: Bits = 16
    act_bits: Bits = 16


@dataclass(frozen=True)
class BipolarPE(_PEBase):
    """Bit-plane PE for bipolar-INT: one (activation plane, weight plane) pair per cycle."""

    kind: Literal["bipolar"] = "bipolar"
    lanes: ArrayDim = 64
    act_bits: Bits = 8
    max_weight_bits: Bits = 8


@dataclass(frozen=True)
class DintPE(_PEBase):
    """INT8 activations x dINT4 (or INT4) weights MAC.

    ``pipeline``: register stages in its datapath (one cycle more per array tile each).
    """

    kind: Literal["dint"] = "dint"
    lanes: ArrayDim = 1
    act_bits: Bits = 8
    pipeline: PipelineStages = 0


@dataclass(frozen=True)
class SystolicPE(_PEBase):
    """One MAC per PE per cycle in a SCALE-Sim-style systolic array (``ws``, ``os``, ``is``)."""

    kind: Literal["systolic"] = "systolic"
    dataflow: Literal["ws", "os", "is"] = "ws"
    weight_bits: Bits = 16
    act_bits: Bits = 16

    @property
    def lanes(self) -> int:
        """A systolic PE reduces one element per cycle."""
        return 1

    def tile_quanta(self, rows: int, cols: int, group_size: int | None) -> tuple[int, int, int]:
        """The stationary dimensions in array extents (``ws``: k on rows, n on columns; ``os``:
        m on rows, n on columns; ``is``: k on rows, m on columns), the streamed one free."""
        return {"ws": (1, cols, rows), "os": (rows, cols, 1),
                "is": (cols, 1, rows)}[self.dataflow]


@dataclass(frozen=True)
class FpgaStudy:
    """How the FPGA scaling study builds one PE kind.

    Attributes:
        name: the study's name for it (``--kind`` of ``hwsim fpga-scale``, preset file names).
        label: what a person calls it.
        block: the RTL registry block of one PE.
        params: its parameters (over the registry defaults).
        array_block: a registry block that is already an array with ``rows``/``cols``
            parameters (else single PEs are laid out in a grid).
        weight_formats: the `hwsim.dtypes` weight formats it runs, for the throughput table.
        max_side: the largest rows or cols tried.
        dsp_optional: its multiplies map to hard DSPs, so it is also built with them in LUTs.
        workload: the precision it runs an LLM at in the study's benchmark: ``weights`` and
            ``kv_cache`` (workload YAML entries; the KV cache is the b operand of attention,
            so it must be one the PE's weight input runs: a format of the build's
            ``weight_formats`` for BitMoD) and ``act_bits``.
    """

    name: str
    label: str
    block: str
    params: Mapping[str, int | str]
    array_block: str | None = None
    weight_formats: tuple[str, ...] = ()
    max_side: int = 64
    dsp_optional: bool = False
    workload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BlockPE:
    """How an RTL block's parameters describe its PE: the fields of the simulator's ``pe``
    mapping (without ``kind``, energies and areas): `fields`, then `fixed`, then `derived`.

    Attributes:
        fields: PE field -> the block parameter that sets it (read backwards, which block
            parameter a PE field sets: `hwsim.hw.asic.pe_costs`).
        fixed: PE fields the block does not parameterize, with the value it builds.
        derived: PE fields computed from the parameters that no PE field sets (e.g. the
            formats a BitMoD build runs), or None.
        array: the block is an array of PEs (``rows``/``cols`` parameters), not one PE.
    """

    fields: Mapping[str, str]
    fixed: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    derived: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    array: bool = False

    def pe(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The ``pe`` fields of a build with parameters ``params``."""
        out = {pe_field: params[param] for pe_field, param in self.fields.items()}
        out.update(self.fixed)
        if self.derived is not None:
            out.update(self.derived(params))
        return out


@dataclass(frozen=True)
class PEKind:
    """One kind of processing element (see the module docstring)."""

    name: str
    spec: type
    rtl_blocks: Mapping[str, BlockPE]
    fpga_studies: tuple[FpgaStudy, ...] = ()
    rtl_cores: Mapping[str, BlockPE] = field(default_factory=lambda: _frozen({}))


def _bitmod_formats(p: Mapping[str, Any]) -> dict[str, Any]:
    # The RTL package pulls in Amaranth, which a hardware description without RTL does not
    # need (`import hwsim.hw` stays light).
    # amaranth: only for a bitmod PE with RTL parameters
    from hwsim.hw.rtl.terms import family_formats, get_families

    # The formats this build runs, not every format the cycle model knows.
    return {"weight_formats": [f for fam in get_families(p["weights"])
                               for f in family_formats(fam)]}


def _bitmod_array(p: Mapping[str, Any]) -> dict[str, Any]:
    # An array's PEs: its build's formats, and a row's PEs sharing one dequantizer with
    # ``dequantizer=row``.
    return {**_bitmod_formats(p), "dequantizer_pes": p["cols"] if p["dequantizer"] == "row"
            else 1}


def _frozen(d: dict) -> Mapping:
    return MappingProxyType(d)


_BITMOD_FIELDS = _frozen({"lanes": "lanes", "scale_bits": "scale_bits", "pipeline": "pipeline"})
# An array of BitMoD PEs: the PE of the same build, for ``pe_array`` and for the accelerator
# core's array (`CoreConfig.array`, whose lanes, scale bits and PE pipeline are the core's
# parameters of the same names).
_BITMOD_ARRAY = BlockPE(_BITMOD_FIELDS, derived=_bitmod_array, array=True)
# The simulator's ``mac`` kind describes operand widths, not number types: the INT and
# FP16 x INT MACs take integer weights and KV caches only, which their FPGA design points
# state (`hw.fpga.design_point.integer_formats`); a description without ``weight_formats``
# runs FP16 weights on them in two passes, as on an FP16 MAC.
_INT_MAC = BlockPE(_frozen({"lanes": "lanes", "weight_bits": "weight_bits",
                            "act_bits": "act_bits", "pipeline": "pipeline"}))
_FP16_INT_MAC = BlockPE(_frozen({"lanes": "lanes", "weight_bits": "weight_bits",
                                 "pipeline": "pipeline"}), fixed=_frozen({"act_bits": 16}))
_FP16_MAC = BlockPE(_frozen({"lanes": "lanes", "pipeline": "pipeline"}),
                    fixed=_frozen({"weight_bits": 16, "act_bits": 16}))


# Registry order is the order of listings and of the FPGA study's table. Every study PE has
# 4 lanes and a 256-long reduction, so they compare per lane; the BitMoD PE in its own array
# block (it broadcasts weights, scales and activations itself, up to 16 x 16).
PE_KINDS: Mapping[str, PEKind] = MappingProxyType({k.name: k for k in (
    PEKind("bitmod", BitmodPE,
           _frozen({"bitmod_pe": BlockPE(_BITMOD_FIELDS, derived=_bitmod_formats),
                    "pe_array": _BITMOD_ARRAY}),
           (FpgaStudy("bitmod", "BitMoD bit-serial PE (FP16 x fp3/fp4/INT)", "bitmod_pe",
                      # The exact accumulator, 7 stages: the fastest per LUT measured (alone
                      # 1.56x BitMoD's accumulator's 7-stage build per LUT; its array packs 20
                      # PEs where that one packs 14). Its arrays from 4x4 place with nextpnr's
                      # static placer, not HeAP (hw/fpga/presets/README.md). A dequantizer per
                      # PE: the study's arrays have few columns, and its linear extrapolation
                      # needs a per-PE cost. 4 lanes: 8 pack 21% more lanes per LUT but their
                      # one-stage lane sum costs 26% of the clock (2x2: 89.5 against 120.5 MHz;
                      # README, "Lanes per PE"); `scaling.study_with` searches other values.
                      _frozen({"lanes": 4, "weights": "bitmod", "k": 256, "group_size": 128,
                               "accumulator": "exact", "pipeline": 7}),
                      array_block="pe_array", max_side=16,
                      weight_formats=("bitmod3", "bitmod4", "int4", "int8"),
                      workload=_frozen({"weights": {"format": "bitmod3", "group_size": 128},
                                        "act_bits": 16,
                                        "kv_cache": {"format": "int8", "group_size": 128}})),),
           rtl_cores=_frozen({"accel_core": _BITMOD_ARRAY})),
    PEKind("mac", MacPE,
           _frozen({"int_mac": _INT_MAC, "fp16_int_mac": _FP16_INT_MAC,
                    "fp16_mac": _FP16_MAC}),
           (FpgaStudy("int8_mac", "INT8 x INT8 MAC", "int_mac",
                      _frozen({"lanes": 4, "k": 256}), weight_formats=("int8", "int4"),
                      dsp_optional=True,
                      workload=_frozen({"weights": {"format": "int8"}, "act_bits": 8,
                                        "kv_cache": {"bits": 8}})),
            # W4A16 (the usual weight-only LLM quantization) on the FP16 x INT8 multipliers;
            # the KV cache in INT8 because the PE's weight input is 8 bits wide.
            FpgaStudy("fp16_int_mac", "FP16 x INT8 MAC (bit-parallel)", "fp16_int_mac",
                      _frozen({"lanes": 4, "k": 256, "weight_bits": 8, "pipeline": 4}),
                      weight_formats=("int8", "int4"), dsp_optional=True,
                      workload=_frozen({"weights": {"format": "int4", "group_size": 128},
                                        "act_bits": 16, "kv_cache": {"bits": 8}})))),
    PEKind("dint", DintPE,
           _frozen({"dint_mac": BlockPE(_frozen({"lanes": "lanes", "pipeline": "pipeline"}),
                                        fixed=_frozen({"act_bits": 8}))}),
           (FpgaStudy("dint_mac", "INT8 x dINT4 MAC", "dint_mac",
                      _frozen({"lanes": 4, "k": 256}), weight_formats=("dint4",),
                      dsp_optional=True,
                      workload=_frozen({"weights": {"format": "dint4", "group_size": 128},
                                        "act_bits": 8, "kv_cache": {"bits": 4}})),)),
    PEKind("bipolar", BipolarPE,
           _frozen({"bipolar_pe": BlockPE(_frozen({"lanes": "lanes", "act_bits": "act_bits",
                                                   "max_weight_bits": "weight_bits"}))}),
           (FpgaStudy("bipolar", "bipolar-INT PE (INT8 x 4-bit bipolar)", "bipolar_pe",
                      _frozen({"lanes": 4, "k": 256, "weight_bits": 4, "act_bits": 8}),
                      weight_formats=("bipolar4",),
                      workload=_frozen({"weights": {"format": "bipolar4", "group_size": 128},
                                        "act_bits": 8, "kv_cache": {"bits": 4}})),)),
    # No RTL yet: cost models only.
    PEKind("bit_serial", BitSerialPE, _frozen({})),
    PEKind("systolic", SystolicPE, _frozen({})),
)})

# Every study of every kind, by study name, in registry order.
FPGA_STUDIES: Mapping[str, FpgaStudy] = MappingProxyType(
    {s.name: s for k in PE_KINDS.values() for s in k.fpga_studies})


def get_pe_kind(name: str) -> PEKind:
    """The registered PE kind called ``name``.

    Raises:
        HwsimError: unknown kind; the message lists the known ones.
    """
    kind = PE_KINDS.get(str(name))
    if kind is None:
        close = difflib.get_close_matches(str(name), PE_KINDS, n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise HwsimError(f"unknown PE kind {name!r}{hint}; known: {', '.join(PE_KINDS)}")
    return kind


def core_blocks() -> tuple[str, ...]:
    """The RTL accelerator cores of every kind (`PEKind.rtl_cores`)."""
    return tuple(core for k in PE_KINDS.values() for core in k.rtl_cores)


def pe_for_block(block: str, params: Mapping[str, Any]) -> tuple[dict, int, int]:
    """The simulator's ``pe`` mapping and the array shape (rows, cols) of an RTL block.

    ``params`` are the block's full parameter values (as `Implementation.params` holds them),
    plus ``rows``/``cols`` for a grid of single PEs. An accelerator core (`core_blocks`) gives
    its array's PEs. Energies and areas are 0 (an FPGA build's power is not modelled).

    Raises:
        HwsimError: the block is not a PE the simulator models (e.g. ``dequant``).
    """
    blocks = {b: (k.name, bp) for k in PE_KINDS.values()
              for b, bp in (*k.rtl_blocks.items(), *k.rtl_cores.items())}
    if block not in blocks:
        raise HwsimError(f"block {block!r} is not a PE the simulator models; "
                         f"allowed: {', '.join(blocks)}")
    kind, block_pe = blocks[block]
    # A parameter a build does not record (e.g. a pipeline depth added later) is its default.
    # amaranth: only for a PE described by its RTL block
    from hwsim.hw.rtl.registry import get_block

    pe = {"kind": kind, **block_pe.pe({**get_block(block).defaults(), **params}),
          "energy_pj_per_cycle": 0.0, "area_um2": 0.0}
    return pe, int(params.get("rows", 1)), int(params.get("cols", 1))
