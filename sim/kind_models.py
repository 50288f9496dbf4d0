"""The cycle model of every registered PE kind, keyed like `hwsim.hw.pe_kinds.PE_KINDS`.

A `CycleModel` says which operand formats a kind runs and at which widths
(`CycleModel.widths`), what one block of a GEMM costs on an array of it
(`CycleModel.block_compute`, from the per-PE functions of `hwsim.sim.pe_cycles`), how often
the array reads its operands from the buffers (`CycleModel.operand_reads`), and the
steady-state cycles one lane spends per multiply-accumulate (`CycleModel.lane_mac_cycles`,
for peak rates). The base class is a broadcast array of lane-parallel PEs; the systolic kind
replaces it with SCALE-Sim's fold model.
"""

from __future__ import annotations

from collections.abc import Mapping as ReadOnlyMap
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from hwsim.dtypes import AnyFormat
from hwsim.errors import HwsimError
from hwsim.hw.pe_kinds import PE_KINDS
from hwsim.mapping import Mapping, Mappings
from hwsim.mapping.tiling import BlockSchedule
from hwsim.sim import pe_cycles as pc

# One GEMM shape's mapping, or those of several shapes of one operator (their blocks
# concatenated in one schedule).
AnyMapping = Mapping | Mappings

__all__ = ["CYCLE_MODELS", "CycleModel", "OperandWidths", "cycle_model"]

# Reduction length over which a lane's steady-state cycles per MAC are measured: a multiple
# of every lane count, long enough that a PE's fixed costs vanish.
_LANE_MAC_K = 8192


@dataclass(frozen=True)
class OperandWidths:
    """Element widths of one GEMM as the PE sees them.

    Attributes:
        a_bits: activation element width: the format's code width, or the given width
            rounded up.
        b_bits: ``b`` element width: the format's code width, or the given width rounded up.
        terms: BitMoD terms per ``b`` element (0 for other PE kinds).
        grouped: the ``b`` operand carries per-group scales the PE dequantizes (BitMoD).
        passes: MAC passes per element: a ``b`` operand wider than a MAC's ``weight_bits``
            is split into ``weight_bits``-wide slices, one pass each (e.g. a 16-bit KV cache
            on an FP16 x INT8 MAC: 2 passes).
    """

    a_bits: int
    b_bits: int
    terms: int = 0
    grouped: bool = False
    passes: int = 1


class CycleModel:
    """A broadcast array of lane-parallel PEs (`hwsim.sim.pe_cycles`, module docstring).

    Subclasses give `widths` and `pe_cycles`; the rest follows.
    """

    # The array waits for the buffers' ports (all banks, each cycle) to deliver its operands.
    feed_limited = True

    def widths(self, pe: Any, a_bits: int, b: AnyFormat | None, b_bits: int,
               grouped: bool) -> OperandWidths | str:
        """The widths the PE runs ``b`` at, or why it cannot (a phrase for the message).

        Args:
            pe: the PE spec; a_bits, b_bits: element widths; b: the ``b`` format (None: a
                width only); grouped: ``b`` has per-group scales.
        """
        raise NotImplementedError

    def pe_cycles(self, k: np.ndarray | int, pe: Any, w: OperandWidths,
                  group_size: int | None) -> np.ndarray:
        """Cycles one PE takes for one output over a reduction of ``k``."""
        raise NotImplementedError

    def active_pe_cycles(self, k: np.ndarray | int, pe: Any, w: OperandWidths,
                         group_size: int | None) -> np.ndarray:
        """Cycles one PE works on one output over a reduction of ``k``: `pe_cycles` less any
        wait for a unit it shares with other PEs (here: none to share, the same)."""
        return self.pe_cycles(k, pe, w, group_size)

    def dequant_cycles(self, k: np.ndarray, pe: Any, w: OperandWidths,
                       group_size: int | None) -> np.ndarray:
        """Dequantizer cycles per output over a reduction of ``k`` (none by default)."""
        return np.zeros(np.shape(k), dtype=np.int64)

    def block_compute(self, s: BlockSchedule, mp: AnyMapping, pe: Any, w: OperandWidths,
                      group_size: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(compute cycles, active PE-cycles, dequantization cycles) per block.

        The array processes ceil(bn / rows) x ceil(bm / cols) tiles: the one tile rule
        `pe_cycles.array_tiles_cycles` of the PE's cycles over the block's reduction and its
        pipeline fill (kinds without a pipelined RTL have no ``pipeline`` field: 0). Active
        PE-cycles are `active_pe_cycles` per output: waiting for a shared unit lengthens
        the compute, not the useful work, so it lowers the utilization.
        """
        active = s.bm * s.bn * self.active_pe_cycles(s.bk, pe, w, group_size)
        dequant = s.bm * s.bn * self.dequant_cycles(s.bk, pe, w, group_size)
        compute = self.block_cycles(s, mp, pe, w, group_size)
        return compute, active.astype(np.float64), dequant

    def block_cycles(self, s: BlockSchedule, mp: AnyMapping, pe: Any, w: OperandWidths,
                     group_size: int | None) -> np.ndarray:
        """`block_compute`'s compute cycles alone (what costing a blocking's cycles needs)."""
        per_pe = self.pe_cycles(s.bk, pe, w, group_size)
        tiles = (-(-s.bn // mp.rows)) * (-(-s.bm // mp.cols))
        fill = pc.pipeline_fill_cycles(getattr(pe, "pipeline", 0))
        return pc.array_tiles_cycles(tiles, per_pe, fill)

    def operand_reads(self, s: BlockSchedule, mp: AnyMapping,
                      pe: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a elements read, b elements read, partial-sum tiles written) per block.

        Each array tile pass reads its weights (broadcast along a row) and activations
        (broadcast down a column) once; every tile writes its partial sums.
        """
        b_reads = (-(-s.bm // mp.cols)) * s.bn * s.bk
        a_reads = (-(-s.bn // mp.rows)) * s.bm * s.bk
        return a_reads, b_reads, s.bm * s.bn

    def lane_mac_cycles(self, pe: Any, fmt: AnyFormat, group_size: int | None) -> float:
        """Steady-state cycles one lane of one PE spends per weight of ``fmt``.

        Here: the PE's cycles over a reduction of 8192 (a multiple of every lane count)
        x lanes / 8192, with activations at the PE's full width.

        Raises:
            HwsimError: the PE cannot run ``fmt``.
        """
        w = self.widths(pe, pe.act_bits, fmt, int(fmt.bits), group_size is not None)
        if isinstance(w, str):
            raise HwsimError(f"the {pe.kind} PE cannot run {fmt.name}: {w}")
        cycles = self.pe_cycles(_LANE_MAC_K, pe, w, group_size)
        return float(cycles) * pe.lanes / _LANE_MAC_K


def _not_in_build(pe: Any, b: AnyFormat | None) -> str | None:
    """Why a PE whose build states its formats cannot take ``b`` (None: it can)."""
    if pe.weight_formats is not None and (b is None or b.name not in pe.weight_formats):
        return f"its build runs {', '.join(pe.weight_formats)} (pe.weight_formats)"
    return None


class _MacModel(CycleModel):
    def widths(self, pe, a_bits, b, b_bits, grouped):
        # An integer MAC's build takes its integers (an FP16 KV cache ran in two "passes"),
        # and a plain width it holds in one pass (a cost-only integer of that width).
        if (b is not None or b_bits > pe.weight_bits) and (why := _not_in_build(pe, b)):
            return f"{why} or a plain width of at most {pe.weight_bits} bits"
        return OperandWidths(a_bits, b_bits, passes=-(-b_bits // pe.weight_bits))

    def pe_cycles(self, k, pe, w, group_size):
        return pc.mac_pe_cycles(k, pe.lanes, w.passes)


class _BitmodModel(CycleModel):
    def widths(self, pe, a_bits, b, b_bits, grouped):
        # A build that states its formats runs those only: its decoder has no path for FP16
        # or a plain width (e.g. attention's FP16 KV cache), whatever the cycle model knows.
        if (why := _not_in_build(pe, b)) is not None:
            return why
        # FP16 weights or a plain width: Booth digits of the bit pattern, no group scales.
        if b is None or (b.is_reference and b.bits <= 16):
            return OperandWidths(a_bits, b_bits, pc.bitmod_terms_for_width(b_bits))
        try:
            terms = pc.bitmod_terms_per_weight(b)
        except HwsimError as exc:
            return str(exc).split("; ", 1)[-1]
        return OperandWidths(a_bits, b_bits, terms, grouped=grouped)

    def pe_cycles(self, k, pe, w, group_size):
        return self._cycles(k, pe, w, group_size, pe.dequantizer_pes)

    def active_pe_cycles(self, k, pe, w, group_size):
        # A PE's own dequantizer (its drain included) is its work; the turns it waits for a
        # row-shared one are not.
        return self._cycles(k, pe, w, group_size, 1)

    @staticmethod
    def _cycles(k, pe, w, group_size, dequantizer_pes):
        if w.grouped:
            assert group_size is not None
            return pc.bitmod_pe_terms_cycles(k, pe.lanes, w.terms, group_size, pe.scale_bits,
                                             dequantizer_pes)
        return pc.bitmod_pe_ungrouped_cycles(k, pe.lanes, w.terms)

    def dequant_cycles(self, k, pe, w, group_size):
        if not w.grouped:
            return super().dequant_cycles(k, pe, w, group_size)
        # Each output's own groups, shared dequantizer or not: the turns a row-shared one
        # also gives a partial tile's unused columns are not charged.
        return -(-k // group_size) * pc.dequant_cycles(pe.scale_bits)

    def lane_mac_cycles(self, pe, fmt, group_size):
        """Cycles per quantization group (`bitmod_pe_group_cycles`: accumulation overlapped
        with the previous group's dequantization, on a dequantizer the PE may share) x lanes /
        group size."""
        if group_size is None:
            return super().lane_mac_cycles(pe, fmt, group_size)
        # The set a build states is checked here too (the group cycles know every format).
        w = self.widths(pe, pe.act_bits, fmt, int(fmt.bits), True)
        if isinstance(w, str):
            raise HwsimError(f"the {pe.kind} PE cannot run {fmt.name}: {w}")
        cycles = pc.bitmod_pe_group_cycles(group_size, pe.lanes, fmt, pe.scale_bits,
                                           pe.dequantizer_pes)
        return float(cycles) * pe.lanes / group_size


class _BitSerialModel(CycleModel):
    def widths(self, pe, a_bits, b, b_bits, grouped):
        if b_bits > pe.max_weight_bits:
            return f"pe.max_weight_bits is {pe.max_weight_bits}"
        return OperandWidths(a_bits, b_bits)

    def pe_cycles(self, k, pe, w, group_size):
        return pc.bit_serial_pe_cycles(k, pe.lanes, w.b_bits)


class _BipolarModel(CycleModel):
    def widths(self, pe, a_bits, b, b_bits, grouped):
        if b is not None and not (b.is_bipolar or b.is_integer):
            return "it runs bipolarN, intN or a plain width"
        if b_bits > pe.max_weight_bits:
            return f"pe.max_weight_bits is {pe.max_weight_bits}"
        return OperandWidths(a_bits, b_bits)

    def pe_cycles(self, k, pe, w, group_size):
        return pc.bipolar_pe_cycles(k, pe.lanes, w.b_bits, w.a_bits)


class _DintModel(CycleModel):
    def widths(self, pe, a_bits, b, b_bits, grouped):
        ok = b is None or b.is_dint or (b.is_integer and b_bits <= 4)
        if not ok or b_bits > 4:
            return "it runs dint4, int2..int4 or a width of at most 4 bits"
        return OperandWidths(a_bits, b_bits)

    def pe_cycles(self, k, pe, w, group_size):
        return pc.dint_mac_cycles(k, pe.lanes)


class _SystolicModel(CycleModel):
    """SCALE-Sim's folds (`systolic_fold_cycles` per fold, its -1 once per instance); no
    buffer feed limit (SCALE-Sim's stall-free compute model)."""

    feed_limited = False

    def widths(self, pe, a_bits, b, b_bits, grouped):
        if b_bits > pe.weight_bits:
            return f"pe.weight_bits is {pe.weight_bits}"
        return OperandWidths(a_bits, b_bits)

    def pe_cycles(self, k, pe, w, group_size):
        return pc.lane_steps(k, 1)

    def block_compute(self, s, mp, pe, w, group_size):
        compute = self.block_cycles(s, mp, pe, w, group_size)
        return compute, (s.bm * s.bn * s.bk).astype(np.float64), np.zeros_like(compute)

    def block_cycles(self, s, mp, pe, w, group_size):
        rows, cols = mp.rows, mp.cols
        folds_r, folds_c = pc.systolic_folds(s.bm, s.bn, s.bk, rows, cols, pe.dataflow)
        compute = folds_r * folds_c * pc.systolic_fold_cycles(s.bm, s.bn, s.bk, rows, cols,
                                                                pe.dataflow)
        compute[s.last_block] += pc.SCALESIM_TOTAL_OFFSET
        return compute

    def operand_reads(self, s, mp, pe):
        # The stationary operand is read once per fold; streamed ones once per fold along the
        # other spatial dimension; partial sums leave the array once per reduction fold.
        rows, cols = mp.rows, mp.cols
        out_tiles = s.bm * s.bn
        if pe.dataflow == "ws":
            return (s.bm * s.bk * (-(-s.bn // cols)), s.bk * s.bn,
                    out_tiles * (-(-s.bk // rows)))
        if pe.dataflow == "os":
            return (s.bm * s.bk * (-(-s.bn // cols)), s.bk * s.bn * (-(-s.bm // rows)),
                    out_tiles)
        return (s.bk * s.bm, s.bk * s.bn * (-(-s.bm // cols)),
                out_tiles * (-(-s.bk // rows)))


CYCLE_MODELS: ReadOnlyMap[str, CycleModel] = MappingProxyType({
    "bitmod": _BitmodModel(),
    "mac": _MacModel(),
    "dint": _DintModel(),
    "bipolar": _BipolarModel(),
    "bit_serial": _BitSerialModel(),
    "systolic": _SystolicModel(),
})


def cycle_model(kind: str) -> CycleModel:
    """The cycle model of PE kind ``kind``.

    Raises:
        HwsimError: no such kind (the message lists the registered ones).
    """
    model = CYCLE_MODELS.get(kind)
    if model is None:
        raise HwsimError(f"no cycle model for PE kind {kind!r}; known: {', '.join(PE_KINDS)}")
    return model
