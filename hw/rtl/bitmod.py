"""BitMoD bit-serial PE and PE array (Amaranth), with per-PE group accumulation and dequantization.

Arithmetic of one PE (one output = a dot product over ``k`` weights):

1. Each cycle every lane runs one *term* of its weight (``terms.weight_terms``: at most two
   powers of two for fp3/fp4 incl. ER/EA, one radix-4 Booth digit for int): the lane's product
   is ``±mant * 2**(exp_eff + t)`` with the FP16 activation's 11-bit significand ``mant``.
2. Exponent alignment across lanes: ``emax`` = the largest product exponent among the lanes with
   a non-zero product; each lane's ``mant << align_bits`` is shifted right by ``emax - pe``
   (truncating toward zero) and the signed lanes are summed (``partial_width`` bits).
3. Group accumulation in fixed point: ``acc += partial << emax`` (LSB = 2**-(25 + align_bits)
   hardware units). ``acc_width`` is derived from the worst case (full group of largest FP16
   magnitudes and largest weights), so it cannot overflow.
4. Dequantization at the end of each group, bit-serial (one scale bit per cycle): with the
   exact accumulator LSB first, the output accumulator adds ``±(acc << i)`` for every set bit
   i of the scale (minus for ``scale_neg``), which is exactly ``±acc * scale`` (an MSB-first
   product, as in `hwsim.hw.rtl.dequant`, gives the same integer, but needs a product register
   and a second adder); with the floating accumulator MSB first on the group's mantissa into a
   narrow product register (``prod = 2 prod ± bit * mant``), placed at the group's exponent
   into the output accumulator. The ``groups`` groups of the output sum up in the output
   register.

Timing (see `hwsim.sim.pe_cycles.bitmod_pe_cycles`): a beat (``lanes`` weights per row and
activations per column) is held for the ``terms`` cycles of its mode's family; a group's
hand-off to the dequantizer waits until it is free; the next output is accepted only in the
dequantizer's last cycle of the previous output. These decisions are taken in the *front*
(beat register and counters); ``pipeline`` register stages (`PIPELINE_CUTS`) carry the
datapath to the group accumulator (and, at the largest depth, from the dequantizer to the
output accumulator) with the control beside it, so the back end (accumulator, dequantizer,
output) replays the front's schedule ``pipeline`` cycles later: the first result is
``pipeline`` cycles later (`pipeline_fill_cycles`), throughput is unchanged. The whole PE
freezes while a finished output waits to be taken. The array adds one input register stage
(`ARRAY_IO_LATENCY`).

Shared dequantizer (``dequantizer="row"``): the PEs of a row share the row's weights and so
its group scales, and they finish their groups in the same cycle; one dequantizer per row then
serves the row's ``cols`` PEs in turn, ``scale_bits`` cycles each. At a hand-off PE (r, 0)'s
group goes straight into the dequantizer and every other PE's into its own hand-off register
(the group accumulator starts the next group at once); a sequencer (one per row with the
control copies, the rows keeping the same schedule; one for the array without them) loads each
register at the start of its PE's turn and steers the products into that PE's output
accumulator, so every output is that of a PE with its own dequantizer. A group keeps the
dequantizer ``cols x scale_bits`` cycles
(`BitModConfig.dequant_cycles`) and the front's hand-off waits for it as for a PE's own: no
stall while that fits in a group's accumulation (``beats x terms``), a stall of the difference
per group beyond it, and ``cols x scale_bits`` cycles of drain after an output's last group
(``pes_per_dequantizer`` of `hwsim.sim.pe_cycles.bitmod_pe_cycles`).

Runtime reconfiguration: a build runs one or more weight families (``weights``: e.g.
``"bitmod"`` = fp3, fp4, int4, int6, int8 as BitMoD's decoder); the ``mode`` port selects the
family per beat (constant over an output), the ``wtype`` port the fp special value per group.

FP16 special inputs: see `hwsim.hw.rtl.terms` (zero/subnormal exact, Inf/NaN -> 0 and sticky
``nonfinite``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import ClassVar, NamedTuple

from amaranth.hdl import C, Cat, Module, Mux, Shape, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwsim.errors import HwsimError
from hwsim.hw.rtl._common import (
    MAX_WIRE_BITS,
    IntRanges,
    check_ints,
    decode_fp16,
    lanes_of,
    signed_bits,
    tree_max,
)
from hwsim.hw.rtl.terms import (
    FP16_EXP_OFFSET,
    FP16_MANT_BITS,
    SPECIALS,
    WeightFamily,
    family_formats,
    get_families,
)

__all__ = ["ACCUMULATORS", "BITMOD_MAN_BITS", "DEQUANTIZERS", "LOOPS", "MAX_ARRAY_SIDE",
           "PIPELINE_CUTS", "BitModArray", "BitModConfig", "BitModPE", "check_back_end",
           "mode_bits"]

_MAX_FP16_MANT = (1 << FP16_MANT_BITS) - 1  # 2047
_MAX_EXP_EFF = 30  # largest finite FP16 exponent field
MAX_ARRAY_SIDE = 64  # rows and columns of the largest array the generator builds
# The group accumulator's signed mantissa bits with ``accumulator="bitmod"`` (the artifact's 15).
BITMOD_MAN_BITS = 15
ACCUMULATORS = ("exact", "bitmod")
# The floating accumulator's loop (`BitModConfig.loop`): normalize the sum every cycle, as
# BitMoD's published PE does (fewer gates), keep it unnormalized (a shorter loop: faster), or
# lag its normalization a cycle with both shift amounts decoded a cycle ahead (shorter still).
LOOPS = ("normalized", "unnormalized", "decoded")
# Where the dequantizers are (`BitModConfig.dequantizer`): one per PE, or one per PE row shared
# by the row's PEs (they share the row's weights, hence its group scales).
DEQUANTIZERS = ("per_pe", "row")


def check_back_end(accumulator: str, loop: str, dequantizer: str) -> None:
    """Refuse a value outside `ACCUMULATORS`, `LOOPS` or `DEQUANTIZERS`, and a loop other than
    the default for the exact accumulator, which has none: it would be ignored silently."""
    for name, value, allowed in (("accumulator", accumulator, ACCUMULATORS),
                                 ("loop", loop, LOOPS), ("dequantizer", dequantizer, DEQUANTIZERS)):
        if value not in allowed:
            raise HwsimError(f"parameter {name} = {value!r} is not allowed; "
                             f"allowed: {', '.join(allowed)}")
    if loop != LOOPS[0] and accumulator != "bitmod":
        raise HwsimError(f"parameter loop = {loop!r} needs accumulator = 'bitmod' (accumulator = "
                         f"{accumulator!r} has no loop): drop loop or set accumulator=bitmod")

# The decoder's tables, written from BitMoD's format definitions (HPCA 2025, Sec. III) and kept
# apart from `hwsim.dtypes`, which the golden model decodes from (`terms.fp_term_values`): the
# RTL-vs-model tests then compare two sources, and a wrong constant in either fails them.
# Hardware-unit magnitude of each magnitude field (the code without its sign bit): fp3 in
# format units, fp4 in half E2M1 units (E2M1 0, 0.5, 1, 1.5, 2, 3, 4, 6 x 2).
_DECODER_MAGNITUDES = {"fp3": (0, 1, 2, 4), "fp4": (0, 1, 2, 3, 4, 6, 8, 12)}
# (ER, EA) magnitudes of the negative-zero code: fp3 3 and 6; fp4 E2M1 5 and 8 (x 2).
_DECODER_SPECIALS = {"fp3": (3, 6), "fp4": (10, 16)}

# Where the pipeline registers go for each depth (`BitModConfig.pipeline`), in datapath order:
# "terms" after term generation and FP16 decode (shared along rows / columns), "max" after the
# lanes' product exponents and the pick of the lane holding their maximum (its value, an AND-OR
# of the picks, is formed after the cut, in front of the shift amounts: `_lane_exponents`),
# "align" after exponent alignment (per-lane shift amounts), "lanes" after each lane's shift
# and sign, "sum" after the lanes' adder tree,
# "shift" after the partial sum is shifted to its exponent (the group accumulator's input),
# "place" between the dequantizer and the output accumulator (the floating group's placement
# shift and the wide output adder get a cycle of their own).
# One register cuts the datapath in the middle; more split the halves.
PIPELINE_CUTS = ((), ("sum",), ("terms", "sum"), ("terms", "align", "sum"),
                 ("terms", "align", "sum", "shift"), ("terms", "align", "lanes", "sum", "shift"),
                 ("terms", "align", "lanes", "sum", "shift", "place"),
                 ("terms", "max", "align", "lanes", "sum", "shift", "place"))


@dataclass(frozen=True)
class BitModConfig:
    """Parameters of a BitMoD PE array (a single PE is rows = cols = 1).

    Attributes:
        rows: PE rows (output channels; weights and scales broadcast along a row).
        cols: PE columns (tokens; activations broadcast down a column).
        lanes: weights and FP16 activations per beat and PE.
        weights: the weight families the instance runs (`hwsim.hw.rtl.terms.get_families`):
            one family (``"fp4"``), several joined by ``+`` or a set name (``"bitmod"`` =
            fp3+fp4+int4+int6+int8); with more than one, the ``mode`` port picks one per beat.
        group_size: weights per quantization group (one scale each).
        k: weights per output (reduction length); the last group holds the remainder.
        scale_bits: bits of the unsigned group scale magnitude (its sign is ``scale_neg``).
        align_bits: guard bits kept below the activation significand at alignment.
        pipeline: register stages between the beat register and the output accumulator
            (`PIPELINE_CUTS`); each adds one cycle of fill latency, none of throughput.
        accumulator: ``"exact"`` (fixed point, ``acc_width`` bits) or ``"bitmod"`` (BitMoD's
            reduced-precision floating accumulator: ``BITMOD_MAN_BITS`` signed mantissa bits
            and an exponent, `hwsim.hw.rtl.models.bitmod_accumulate_step`).
        loop: the floating accumulator's loop (`LOOPS`; the exact one has none and refuses any
            but the default), all
            bit-exact: ``"normalized"`` (the default) normalizes the sum every cycle, as
            BitMoD's published PE does, the smaller loop; ``"unnormalized"`` keeps the sum
            unnormalized and folds the normalization into the next cycle's alignment shift
            (the dequantizer clears the dropped bits): a shorter loop, more gates;
            ``"decoded"`` lags the normalization a cycle further (the sum is stored with
            its pending shift, `_BackEnd._lagged_group`), so both of the adder's shift amounts
            come decoded from registers: shorter still (the faster choice on the FPGA, with
            ``pipeline=7``), more gates than the published loop.
        dequantizer: ``"per_pe"`` (the default: each PE dequantizes its own groups) or
            ``"row"`` (one dequantizer per PE row serves the row's ``cols`` PEs in turn, each
            PE's group value waiting in its hand-off register): a group then occupies the
            dequantizer ``cols x scale_bits`` cycles (`dequant_cycles`), and the front stalls
            when that exceeds the group's accumulation
            (`hwsim.sim.pe_cycles.bitmod_pe_cycles`'s ``pes_per_dequantizer``).
    """

    rows: int = 1
    cols: int = 1
    lanes: int = 4
    weights: str = "fp4"
    group_size: int = 128
    k: int = 256
    scale_bits: int = 8
    align_bits: int = 3
    pipeline: int = 3
    accumulator: str = "exact"
    loop: str = "normalized"
    dequantizer: str = "per_pe"

    RANGES: ClassVar[IntRanges] = MappingProxyType(
        {"rows": (1, MAX_ARRAY_SIDE), "cols": (1, MAX_ARRAY_SIDE), "lanes": (1, 16),
         "group_size": (1, 4096), "k": (1, 1 << 16), "scale_bits": (1, 16),
         "align_bits": (0, 8), "pipeline": (0, len(PIPELINE_CUTS) - 1)})

    def __post_init__(self) -> None:
        check_ints(self.RANGES, **{name: getattr(self, name) for name in self.RANGES})
        get_families(self.weights)  # raises on an unknown family
        check_back_end(self.accumulator, self.loop, self.dequantizer)
        out_bits = self.rows * self.cols * self.out_width
        if out_bits > MAX_WIRE_BITS:  # found after minutes of elaboration, as a traceback
            raise HwsimError(
                f"parameters rows x cols = {self.rows * self.cols:,} PEs of {self.out_width}-bit "
                f"results (k {self.k}, group_size {self.group_size}, scale_bits "
                f"{self.scale_bits}) make a {out_bits:,}-bit out port, above the "
                f"{MAX_WIRE_BITS:,} bits Amaranth emits in one wire: at most "
                f"{MAX_WIRE_BITS // self.out_width:,} PEs at this output width")

    @cached_property
    def families(self) -> tuple[WeightFamily, ...]:
        """The families the ``mode`` port selects among (mode i = families[i])."""
        return get_families(self.weights)

    @property
    def family(self) -> WeightFamily:
        """The one family of a single-family build."""
        if len(self.families) != 1:
            raise ValueError(f"{self.weights!r} holds {len(self.families)} families; "
                             "use .families and the mode port")
        return self.families[0]

    @property
    def modes(self) -> int:
        return len(self.families)

    @property
    def code_bits(self) -> int:
        """Bits of a weight code on the ``w`` port (the widest family; narrower use the LSBs)."""
        return max(f.bits for f in self.families)

    @property
    def has_fp(self) -> bool:
        """An fp family is among the modes (the ``wtype`` port exists)."""
        return any(f.is_fp for f in self.families)

    @property
    def terms(self) -> int:
        """Most terms per weight over the modes (the term counter's range)."""
        return max(f.terms for f in self.families)

    @property
    def groups(self) -> int:
        return math.ceil(self.k / self.group_size)

    @property
    def pes_per_dequantizer(self) -> int:
        """PEs one dequantizer serves: a row's ``cols`` when shared per row, else 1."""
        return self.cols if self.dequantizer == "row" else 1

    @property
    def dequant_cycles(self) -> int:
        """Cycles a group keeps its dequantizer busy: ``scale_bits`` for each PE it serves."""
        return self.scale_bits * self.pes_per_dequantizer

    @property
    def beats_full(self) -> int:
        return math.ceil(self.group_size / self.lanes)

    @property
    def beats_last(self) -> int:
        return math.ceil((self.k - (self.groups - 1) * self.group_size) / self.lanes)

    @property
    def beats(self) -> int:
        """Input beats per output."""
        return (self.groups - 1) * self.beats_full + self.beats_last

    @property
    def partial_width(self) -> int:
        """Width of the aligned lane sum of one cycle."""
        return signed_bits(self.lanes * (_MAX_FP16_MANT << self.align_bits))

    @property
    def weight_bound(self) -> int:
        """Largest |a * w| in accumulator LSBs: mant 2047 at exponent 30, largest term sum."""
        term_sum = max(f.max_term_sum for f in self.families)
        return _MAX_FP16_MANT * term_sum << (_MAX_EXP_EFF + self.align_bits)

    @property
    def acc_width(self) -> int:
        """Group accumulator width: a full group of worst-case products cannot overflow it
        (a group is at most k long: a group_size above k sized it 8 bits too wide)."""
        return signed_bits(min(self.beats_full, self.beats) * self.lanes * self.weight_bound)

    @property
    def out_width(self) -> int:
        """Output width: all of an output's products (its beats, a short last group counted
        as it is) at the largest scale cannot overflow it."""
        return signed_bits(self.beats * self.lanes * self.weight_bound
                           * ((1 << self.scale_bits) - 1))

    @property
    def exp_bits(self) -> int:
        """Exponent bits of the bitmod accumulator: its value never exceeds the exact one's
        ``acc_width`` bits, so exponents stay below ``acc_width``."""
        return self.acc_width.bit_length() + 1

    @property
    def lsb_exp(self) -> int:
        """Accumulator and output LSB = 2**lsb_exp hardware weight units x activation units."""
        return -(FP16_EXP_OFFSET + self.align_bits)

    @property
    def formats(self) -> tuple[str, ...]:
        """The `hwsim.dtypes` weight formats this build runs (`terms.family_formats`)."""
        return tuple(n for f in self.families for n in family_formats(f))


class BitModArray(wiring.Component):
    """rows x cols BitMoD PEs behind one valid/ready stream.

    Ports (packed vectors, element 0 in the LSBs; one beat = one transfer):
        in_valid, in_ready: input handshake.
        w: ``rows * lanes`` weight codes of ``code_bits`` (row-major: row r lane l at
            ``(r * lanes + l) * code_bits``); a family narrower than ``code_bits`` reads the LSBs.
        a: ``cols * lanes`` FP16 activations (column c lane l at ``(c * lanes + l) * 16``).
        wtype: ``rows`` 3-bit special-value selectors (builds with an fp family, `terms.SPECIALS`).
        mode: index into ``config.families`` (builds with several families), sampled with
            every beat; it must stay the same over the beats of one output.
        scale, scale_neg: per row group scale magnitude (``scale_bits``) and sign; the values of
            a group's last beat are used.
        out_valid, out_ready: output handshake.
        out: ``rows * cols`` signed results of ``out_width`` bits (PE (r, c) at index
            ``r * cols + c``), LSB = 2**`BitModConfig.lsb_exp`.
        nonfinite: ``rows * cols`` sticky flags: an Inf/NaN activation reached that PE.
        k_groups, k_last_beats (only with ``runtime_k``): groups per output and beats of its
            last group, for reductions shorter than ``config.k`` chosen at run time; hold
            them stable while an output accumulates. The widths still follow ``config.k``.
            With ``k_ahead``: ``k_groups_next`` and ``k_last_beats_next``, their values a
            cycle ahead; the array registers them (``k_regs``) with its tests of them.
        in_valid_next (only with ``valid_ahead``, instead of ``in_valid``): ``in_valid`` a
            cycle ahead; the array registers it.

    With ``registered_ready`` (the default) the front's end-of-term / group / output / dequantizer
    tests and the readiness they decide are registers, computed a cycle ahead from the counters'
    next values: ``in_ready`` is then a register (gated only by the output back-pressure), not
    a chain of comparators in front of every beat register's enable. The schedule is the same
    cycle for cycle; without it (`BitModPE`) the tests are combinational.

    With ``control_copies`` (the default; needs a pipeline stage before the accumulators) the
    back end's control (its step, hand-off, output end and dequantizer state, delayed beside
    the datapath) is one delay chain per PE row, whose last stage is a register per PE: with
    the output always taken (``out_ready`` tied to 1, as in `AccelCore`) no control register
    drives more than one PE's back end or ``cols`` registers; a standalone array's ``run``
    (its output hold) still enables every register of every PE. The copies'
    signals are marked ``keep`` so that the FPGA flow does not merge them back.

    With ``lean_reset`` (the default) only control state is reset: operand, pipeline,
    dequantizer and output registers are loaded before they are read, and the group and
    output accumulators, which the first output after a reset needs at 0, are cleared in the
    first cycle after it (a reset-to-1 register per back end) as at every hand-off.
    `BitModPE` keeps one shared chain and resets everything: its Verilog is the ASIC flow's
    calibration.

    With ``valid_ahead`` (needs ``registered_ready`` and no input stage) the stream's valid
    comes a cycle ahead (``in_valid_next``), so that the beat registers' enables are a gate
    of registers beside them: a register of ``in_valid`` and one of the front's readiness
    (both loaded with their next values) beside each row's weights and scale and beside each
    column's activations (``keep``), gated only by the output back-pressure. The front
    control's own ``accept`` (from its register of ``in_valid``) then drives no beat
    register, so that no net is both the broadcast enable and an input of the front's next
    state, and the stream's valid and the front's readiness each reach the enables in one
    route, not one after the other. Same cycles. ``accept_copies`` (with ``valid_ahead``: the
    copies' names) adds such a pair per name, for the user's readers of the front's accept:
    ``accept_copies[name]``, equal to the front's accept in every cycle, is a gate of its own
    registers, so that a reader far from the front is not one more load on its readiness
    register.

    With ``term_copies`` (the default) the ``terms`` cut, where the pipeline has one, is a
    register per PE: each PE's copy of its row's weight terms and of its column's decoded
    activations (``keep``), loaded from the row's / column's one decode, so that the route
    across the array ends at a register in front of each PE's exponent match, not inside it
    (the 8x8 core's critical path at 960122b: a row's shared term register, 7.74 ns of route
    to the row's far PE, then 8.4 ns of that PE's logic). Same cycles, same outputs.

    With ``decode_copies`` (with ``term_copies``) those per-PE registers hold the decode's
    inputs instead (the row's weight codes and special-value selectors, the mode, the term
    index) and each PE decodes its own weight terms from them: the route from the row's beat
    register to its far PEs then starts at a register, not after the decode's LUTs (the 8x8
    core's critical path at 432d392 seed 1: the row's decode, then 7.61 ns of route to a PE's
    term copy), for ``cols`` x the decode's LUTs per row. Same cycles, same outputs.

    With ``ends_ahead`` (the default; with ``registered_ready``) the group / output end tests
    of the front's possible next states (the next beat of this group, the next group's first
    beat) are registers too, loaded with the tests of the states after the next, so that the
    readiness's next value picks among registers: no counter's adder and comparator sits in
    front of the readiness registers beside each row and column (the 4x4 core's critical
    path at 7540246: the group counter -> ``grp + 1`` and its comparison with the run-time k
    -> the readiness -> a row's register of it). At the start of an output (group 0, beat 0)
    they are reloaded from the run-time k in every cycle the front does not retire there, so
    the run-time k need be stable only from an output's first beat on, as without them (the
    core changes it only while the front is empty at an output's start). Same cycles.
    """

    def __init__(self, config: BitModConfig, *, input_stage: bool = True,
                 runtime_k: bool = False, registered_ready: bool = True,
                 control_copies: bool = True, lean_reset: bool = True,
                 valid_ahead: bool = False, term_copies: bool = True,
                 ends_ahead: bool = True, decode_copies: bool = False,
                 k_ahead: bool = False, accept_copies: Sequence[str] = ()) -> None:
        if decode_copies and not term_copies:
            raise ValueError("decode_copies needs term_copies=True")
        if k_ahead and not runtime_k:
            raise ValueError("k_ahead needs runtime_k=True")
        accept_copies = tuple(accept_copies)
        if accept_copies and not valid_ahead:
            raise ValueError(f"accept_copies={accept_copies!r} needs valid_ahead=True")
        if len(set(accept_copies)) != len(accept_copies) or not all(
                isinstance(n, str) and n.isidentifier() for n in accept_copies):
            raise ValueError("accept_copies must be distinct identifiers (the copies' names), "
                             f"not {accept_copies!r}")
        if valid_ahead and (input_stage or not registered_ready):
            raise ValueError("valid_ahead needs registered_ready=True and input_stage=False, "
                             f"not registered_ready={registered_ready!r}, "
                             f"input_stage={input_stage!r}")
        self.config = config
        self.input_stage = input_stage
        self.runtime_k = runtime_k
        self.registered_ready = registered_ready
        self.control_copies = control_copies
        self.lean_reset = lean_reset
        self.valid_ahead = valid_ahead
        self.term_copies = term_copies
        self.ends_ahead = ends_ahead
        self.decode_copies = decode_copies
        self.k_ahead = k_ahead
        c = config
        ports = {
            "in_valid_next" if valid_ahead else "in_valid": In(1),
            "in_ready": Out(1),
            "w": In(c.rows * c.lanes * c.code_bits),
            "a": In(c.cols * c.lanes * 16),
            "scale": In(c.rows * c.scale_bits),
            "scale_neg": In(c.rows),
            "out_valid": Out(1),
            "out_ready": In(1),
            "out": Out(c.rows * c.cols * c.out_width),
            "nonfinite": Out(c.rows * c.cols),
        }
        if c.has_fp:
            ports["wtype"] = In(3 * c.rows)
        if c.modes > 1:
            ports["mode"] = In(mode_bits(c.modes))
        if runtime_k:
            sfx = "_next" if k_ahead else ""
            ports["k_groups" + sfx] = In(range(c.groups + 1))
            ports["k_last_beats" + sfx] = In(range(c.beats_full + 1))
        super().__init__(ports)
        # The front's accept for the user's own readers (see the class), before elaboration.
        self.accept_copies = {n: Signal(name=f"accept_copy_{n}") for n in accept_copies}
        if k_ahead:
            # The registers of the run-time k (for testbenches, before elaboration too).
            self.k_regs = (Signal.like(self.k_groups_next, name="k_groups_q", attrs={"keep": 1}),
                           Signal.like(self.k_last_beats_next, name="k_last_beats_q",
                                       attrs={"keep": 1}))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        c = self.config
        cuts = PIPELINE_CUTS[c.pipeline]
        depth = len(cuts) - ("place" in cuts)  # cuts before the group accumulator

        # Optional input register stage (the array's operand broadcast register).
        in_names = ["w", "a", "scale", "scale_neg"] + (["wtype"] if c.has_fp else []) + (
            ["mode"] if c.modes > 1 else [])
        # The whole PE waits while its finished output is not taken (see `_BackEnd`).
        hold = Signal()
        run = ~hold
        if self.input_stage:
            stage = {n: Signal(len(getattr(self, n)), name=f"stage_{n}",
                               reset_less=self.lean_reset) for n in in_names}
            stage_full = Signal()
            core_valid, core_ready = stage_full, Signal(name="core_ready")
            m.d.comb += self.in_ready.eq(~stage_full | core_ready)
            with m.If(self.in_valid & self.in_ready):
                m.d.sync += [stage[n].eq(getattr(self, n)) for n in in_names]
                m.d.sync += stage_full.eq(1)
            with m.Elif(core_ready):
                m.d.sync += stage_full.eq(0)
            src = stage
        elif self.valid_ahead:
            core_valid, core_ready = Signal(name="in_valid_q", attrs={"keep": 1}), self.in_ready
            m.d.sync += core_valid.eq(self.in_valid_next)
            src = {n: getattr(self, n) for n in in_names}
        else:
            core_valid, core_ready = self.in_valid, self.in_ready
            src = {n: getattr(self, n) for n in in_names}

        # Beat register and counters (the front: one term of the beat per cycle).
        if self.valid_ahead:
            # One register per row (its weights, special-value selectors, scale) and per
            # column (its activations), each with its own enable (below); the mode is one.
            widths = {"w": c.lanes * c.code_bits, "a": c.lanes * 16, "scale": c.scale_bits,
                      "scale_neg": 1, "wtype": 3}
            pieces = {n: [Signal(widths[n], name=f"beat_{n}_{i}", reset_less=self.lean_reset)
                          for i in range(c.cols if n == "a" else c.rows)]
                      for n in in_names if n != "mode"}
            beat = {n: Cat(*ps) for n, ps in pieces.items()}
            if c.modes > 1:
                beat["mode"] = Signal(len(src["mode"]), name="beat_mode",
                                      reset_less=self.lean_reset)
        else:
            beat = {n: Signal(len(src[n]), name=f"beat_{n}", reset_less=self.lean_reset)
                    for n in in_names}
        mode = beat.get("mode", C(0, 1))
        full = Signal()
        j = Signal(range(max(c.terms, 2)))
        beat_idx = Signal(range(max(c.beats_full, 2)))
        grp = Signal(range(max(c.groups, 2)))
        draining = Signal()
        n_terms = _per_mode(mode, [f.terms for f in c.families])
        if self.runtime_k:
            def k_ends(b: Value, g: Value, k_groups: Value, k_last: Value
                       ) -> tuple[Value, Value]:
                """(group end, output end) with beat ``b`` of group ``g`` in the beat register.

                The counters' successors meet the run-time k as it comes (no subtraction on
                it: the adders sit on the counters' registers, beside the k's path)."""
                last = g + 1 == k_groups
                group_end = b + 1 == Mux(last, k_last, c.beats_full)
                return group_end, group_end & last

            if self.k_ahead:
                # The run-time k a cycle ahead: the array's own registers of it (``keep``),
                # and the tests of the states at an output's start (beat and group 0 or 1),
                # which read the k alone, are registers of its next value too, so that no
                # comparison of the k sits before the readiness (the 8x8 core's path at
                # pipeline 7: the core's k register -> 4.1 ns of route -> those tests -> the
                # front's next state -> its readiness copies, 15.8 ns). At reset they hold
                # the tests of k = 0, as the registers of k do.
                k_groups, k_last = self.k_regs
                m.d.sync += [k_groups.eq(self.k_groups_next), k_last.eq(self.k_last_beats_next)]
                self.k_tests = []

                def start_ends(b: int, g: int) -> tuple[Value, Value]:
                    # k = 0: never the last group, so no output end.
                    regs = (Signal(name=f"k_group_end_{b}_{g}", init=b + 1 == c.beats_full),
                            Signal(name=f"k_out_end_{b}_{g}"))
                    nxt = k_ends(C(b), C(g), self.k_groups_next, self.k_last_beats_next)
                    m.d.sync += [r.eq(v) for r, v in zip(regs, nxt, strict=True)]
                    # For testbenches: each register with the test on the registered k.
                    self.k_tests += list(zip(regs, k_ends(C(b), C(g), k_groups, k_last),
                                             strict=True))
                    return regs
            else:
                k_groups, k_last = self.k_groups, self.k_last_beats

                def start_ends(b: int, g: int) -> tuple[Value, Value]:
                    return k_ends(C(b), C(g), k_groups, k_last)

            def ends(b: Value, g: Value) -> tuple[Value, Value]:
                return k_ends(b, g, k_groups, k_last)
        else:
            last_grp, last_beats = c.groups - 1, c.beats_last - 1

            def ends(b: Value, g: Value) -> tuple[Value, Value]:
                """(group end, output end) with beat ``b`` of group ``g`` in the beat register."""
                group_end = b == Mux(g == last_grp, last_beats, c.beats_full - 1)
                return group_end, group_end & (g == last_grp)

            def start_ends(b: int, g: int) -> tuple[Value, Value]:
                return ends(C(b), C(g))

        if self.registered_ready:
            # Reset state: the beat register is empty, j = beat = group = 0 in mode 0.
            last_term = Signal(name="last_term", init=c.families[0].terms == 1)
            group_end, out_end, d_last = (Signal(name=n) for n in ("group_end", "out_end",
                                                                    "d_last"))
            ready_if_run, retire_if_run = (Signal(name="ready_if_run", init=1),
                                           Signal(name="retire_if_run"))
        else:
            last_term = j == n_terms - 1
            group_end, out_end = ends(beat_idx, grp)
        d_busy = Signal()
        d_cnt = Signal(range(max(c.dequant_cycles, 2)))
        d_final = Signal()
        if not self.registered_ready:
            d_last = d_busy & (d_cnt == c.dequant_cycles - 1)

        # Dequantizer schedule in front time; the back end replays it `depth` cycles later.
        d_free = ~d_busy | d_last
        if self.registered_ready:
            retire = run & retire_if_run
            m.d.comb += core_ready.eq(run & ready_if_run)
        else:
            retire = run & full & last_term & (~group_end | d_free)
            m.d.comb += core_ready.eq(
                run & Mux(draining, d_last, ~full | (retire & ~out_end)))
        handoff = retire & group_end
        step = run & full & (~last_term | retire)  # the current term is added this cycle
        accept = core_valid & core_ready

        if self.valid_ahead:
            # The beat registers' enables: a gate of a register of ``in_valid`` and one of the
            # front's readiness (loaded below), a pair per row (its weights, special-value
            # selectors and scale) and per column (its activations); the mode, read by the
            # front, takes ``accept``.
            # The ``accept_copies`` are such gates too, with the output hold: the front's
            # ``accept`` itself.
            pairs = [(Signal(name=f"valid_{u}", attrs={"keep": 1}),
                      Signal(name=f"ready_{u}", init=1, attrs={"keep": 1}))
                     for u in [f"w_{r}" for r in range(c.rows)]
                     + [f"a_{col}" for col in range(c.cols)]
                     + [f"copy_{n}" for n in self.accept_copies]]
            accept_w = [Signal(name=f"accept_w_{r}") for r in range(c.rows)]
            accept_a = [Signal(name=f"accept_a_{col}") for col in range(c.cols)]
            m.d.comb += [en.eq(valid & ready)
                         for en, (valid, ready) in zip(accept_w + accept_a,
                                                       pairs[:c.rows + c.cols], strict=True)]
            m.d.comb += [en.eq(run & valid & ready) for en, (valid, ready) in zip(
                self.accept_copies.values(), pairs[c.rows + c.cols:], strict=True)]
            for n, ps in pieces.items():
                for i, piece in enumerate(ps):
                    with m.If(run & (accept_a if n == "a" else accept_w)[i]):
                        m.d.sync += piece.eq(src[n][i * len(piece):(i + 1) * len(piece)])
            if c.modes > 1:
                with m.If(accept):
                    m.d.sync += beat["mode"].eq(src["mode"])
            # For testbenches: the register of ``in_valid``, and the front's accept and the
            # enables (equal in every cycle while the output is always taken) ...
            self.in_valid_reg, self.accepts = core_valid, (accept, *accept_w, *accept_a,
                                                           *self.accept_copies.values())
            # ... and each register copy with its original (the front's).
            self.copies = [(orig, copy) for pair in pairs
                           for orig, copy in zip((core_valid, ready_if_run), pair, strict=True)]
        else:
            with m.If(accept):
                m.d.sync += [beat[n].eq(src[n]) for n in in_names]
        m.d.sync += full.eq(accept | (full & ~retire))
        with m.If(retire):
            m.d.sync += j.eq(0)
            with m.If(group_end):
                m.d.sync += beat_idx.eq(0)
                m.d.sync += grp.eq(Mux(out_end, 0, grp + 1))
            with m.Else():
                m.d.sync += beat_idx.eq(beat_idx + 1)
        with m.Elif(run & full & ~last_term):
            m.d.sync += j.eq(j + 1)
        with m.If(retire & out_end):
            m.d.sync += draining.eq(1)
        with m.Elif(run & d_last & d_final):
            m.d.sync += draining.eq(0)
        if self.registered_ready:
            # The tests on the next cycle's state. Every candidate is computed from registers
            # (and the run-time k), so only ``accept`` / ``retire`` pick among them late.
            terms = [f.terms for f in c.families]
            first_terms = _per_mode(src.get("mode", C(0, 1)), terms) == 1
            if self.ends_ahead:
                # Registers of the next beat's and the next group's tests (see the class), and
                # of whether the counters are at an output's start (reset state: they are).
                origin = Signal(name="at_origin", init=1)
                nb_ends, ng_ends = ((Signal(name=f"{n}_{w}") for n in ("group_end", "out_end"))
                                    for w in ("next_beat", "next_group"))
                nb_ends, ng_ends = tuple(nb_ends), tuple(ng_ends)
                first = start_ends(0, 0)
                now_ends = [Mux(origin, f, reg) for f, reg in zip(first, (group_end, out_end),
                                                                  strict=True)]
                start = retire & group_end & out_end
                new_grp = retire & group_end & ~out_end
                new_beat = retire & ~group_end
                m.d.sync += origin.eq(Mux(retire, group_end & out_end, origin))
                # Loaded with the tests one state further: beat + 2 / group + 2 where the
                # counters step now, the state's own successors where they stay.
                for reg, at_start, at_grp, at_beat, stay in zip(
                        nb_ends, start_ends(1, 0), ends(C(1), grp + 1),
                        ends(beat_idx + 2, grp), nb_ends, strict=True):
                    m.d.sync += reg.eq(Mux(start | origin & ~retire, at_start,
                                           Mux(new_grp, at_grp, Mux(new_beat, at_beat, stay))))
                for reg, at_start, at_grp, stay in zip(
                        ng_ends, start_ends(0, 1), ends(C(0), grp + 2), ng_ends, strict=True):
                    m.d.sync += reg.eq(Mux(start | origin & ~retire, at_start,
                                           Mux(new_grp, at_grp, stay)))
                candidates = (first, ng_ends, nb_ends, now_ends)
                # For testbenches: each register with the test it stands for (equal whenever
                # the front holds a beat or has left an output's start, k held since the
                # output's first beat). The reload at an output's end (``start``) is redundant
                # (the front is empty at the origin next cycle, which reloads them), kept.
                self.ends_regs = [
                    (reg, ref) for regs, refs in ((nb_ends, ends(beat_idx + 1, grp)),
                                                  (ng_ends, ends(C(0), grp + 1)),
                                                  ((group_end, out_end), ends(beat_idx, grp)))
                    for reg, ref in zip(regs, refs, strict=True)]
                self.ends_live = full | ~origin
            else:
                candidates = (start_ends(0, 0), ends(C(0), grp + 1), ends(beat_idx + 1, grp),
                              ends(beat_idx, grp))

            def next_state(acc, ret) -> tuple[Value, ...]:
                """The front's state next cycle where this cycle's ``accept`` / ``retire``
                are ``acc`` / ``ret`` (the live gates, or a constant 0 / 1 each)."""
                full_n = _pick(acc, C(1), _pick(ret, C(0), full))
                last_term_n = _pick(acc, first_terms, _pick(
                    ret, n_terms == 1,
                    Mux(run & full & ~last_term, j + 1 == n_terms - 1, last_term)))
                group_end_n, out_end_n = (
                    _pick(ret, Mux(group_end, Mux(out_end, first, next_grp), next_beat), now)
                    for first, next_grp, next_beat, now in zip(*candidates, strict=True))
                handoff_n = _pick(ret, group_end, C(0))
                d_busy_n = Mux(handoff_n, 1, Mux(run & d_last, 0, d_busy))
                d_last_n = Mux(handoff_n, c.dequant_cycles == 1,
                               Mux(run & d_busy, d_cnt + 1 == c.dequant_cycles - 1, d_last))
                draining_n = Mux(_pick(ret, out_end, C(0)), 1,
                                 Mux(run & d_last & d_final, 0, draining))
                retire_n = full_n & last_term_n & (~group_end_n | ~d_busy_n | d_last_n)
                ready_n = Mux(draining_n, d_last_n, ~full_n | (retire_n & ~out_end_n))
                return last_term_n, group_end_n, out_end_n, d_last_n, retire_n, ready_n

            (last_term_next, group_end_next, out_end_next, d_last_next, retire_next,
             ready_next) = next_state(accept, retire)
            if self.valid_ahead:
                # The readiness next cycle for each of this cycle's four (accept, retire)
                # outcomes, computed apart (``keep``) from registers, so the two gates only
                # pick one before the register and its copies across the array. Left to the
                # mapper they went in first: on the 8x8 core of ce54420 (seed 2)
                # ``retire_if_run`` -> ten cells -> the readiness copies, 13.10 ns.
                cand = {}
                for acc in (0, 1):
                    for ret in (0, 1):
                        cand[acc, ret] = Signal(name=f"ready_next_if{acc}{ret}",
                                                attrs={"keep": 1})
                        m.d.comb += cand[acc, ret].eq(next_state(acc, ret)[-1])
                # Named, as it has several readers (else each one's Verilog restates it).
                ready_sig = Signal(name="ready_next")
                m.d.comb += ready_sig.eq(Mux(accept, Mux(retire, cand[1, 1], cand[1, 0]),
                                             Mux(retire, cand[0, 1], cand[0, 0])))
                ready_next = ready_sig
                # Kept, as its copies are: Yosys merges a register into a kept one of the
                # same input, and this one belongs beside the front.
                ready_if_run.attrs["keep"] = 1
            m.d.sync += [
                last_term.eq(last_term_next), group_end.eq(group_end_next),
                out_end.eq(out_end_next), d_last.eq(d_last_next),
                retire_if_run.eq(retire_next),
                ready_if_run.eq(ready_next),
            ]
            if self.valid_ahead:
                m.d.sync += [reg.eq(nxt) for pair in pairs
                             for reg, nxt in zip(pair, (self.in_valid_next, ready_next),
                                                 strict=True)]

        with m.If(handoff):
            m.d.sync += [d_busy.eq(1), d_cnt.eq(0), d_final.eq(out_end)]
        with m.Elif(run & d_busy):
            m.d.sync += d_cnt.eq(d_cnt + 1)
            with m.If(d_last):
                m.d.sync += d_busy.eq(0)

        # Term generation (per row, shared along it) and FP16 decode (per column), named
        # ``wdec_*`` / ``adec_*``: the operand decode, which the ASIC flow counts apart.
        def row_decode(code: Value, wtype: Value | None, mode: Value, j: Value,
                       name: str) -> list[_Term]:
            return [_decode_term(m, c, lane, wtype, mode, j, f"{name}_{i}")
                    for i, lane in enumerate(lanes_of(code, c.lanes, c.code_bits))]

        def row_code(r: int) -> tuple[Value, Value | None]:
            return (beat["w"][r * c.lanes * c.code_bits:(r + 1) * c.lanes * c.code_bits],
                    beat["wtype"][3 * r:3 * r + 3] if c.has_fp else None)

        copies = "terms" in cuts and self.term_copies
        row_terms = ([] if copies and self.decode_copies else
                     [row_decode(*row_code(r), mode, j, f"wdec_{r}") for r in range(c.rows)])
        col_acts = [
            [_named(m, _decode_activation(x, raw="max" in cuts), f"adec_{col}_{i}")
             for i, x in enumerate(lanes_of(beat["a"][col * c.lanes * 16:], c.lanes, 16))]
            for col in range(c.cols)
        ]
        cut = _Cut(m, run, lean_reset=self.lean_reset)
        nf_cols = [cut.delay(Cat(*[a[3] for a in acts]).any(), depth, f"nf_{col}")
                   for col, acts in enumerate(col_acts)]
        if "terms" in cuts and not copies:
            row_terms = [[cut.regs(t, f"term_{r}_{i}") for i, t in enumerate(ts)]
                         for r, ts in enumerate(row_terms)]
            col_acts = [[cut.regs(a, f"act_{col}_{i}") for i, a in enumerate(acts)]
                        for col, acts in enumerate(col_acts)]
        # Each PE's (terms, activations). With copies the decode stays shared and registers
        # per PE: the long route is decode -> register, and a decode per PE would fan the
        # beat, j and mode out to every PE for N x its LUTs.
        # With ``decode_copies`` the registers per PE hold the decode's inputs (the row's
        # codes and selectors, the mode and the term index) and each PE decodes its own
        # terms: the route across the row then starts at the beat register, not after the
        # decode's LUTs, for cols x the decode's LUTs.
        def pe_terms(r: int, col: int) -> list[_Term]:
            sfx = f"_{r}_{col}"
            if not self.decode_copies:
                return [cut.regs(t, f"term{sfx}_{i}", keep=True)
                        for i, t in enumerate(row_terms[r])]
            code, wtype = row_code(r)
            return row_decode(
                cut.regs(code, "wcode" + sfx, keep=True),
                None if wtype is None else cut.regs(wtype, "wsel" + sfx, keep=True),
                cut.regs(mode, "wmode" + sfx, keep=True) if c.modes > 1 else mode,
                cut.regs(j, "wterm" + sfx, keep=True), "wdec" + sfx)

        pe_operands = {
            (r, col): (pe_terms(r, col),
                       [_act_copy(cut, a, f"act_{r}_{col}_{i}")
                        for i, a in enumerate(col_acts[col])])
            if copies else (row_terms[r], col_acts[col])
            for r in range(c.rows) for col in range(c.cols)}

        # Control and per-group operands travel beside the datapath, `depth` cycles.
        front_ctl = _Control(step, handoff, handoff & out_end, d_busy, d_last, d_final)
        place = "place" in cuts
        # The back ends: one per PE, or one per row with a shared dequantizer.
        per_pe = c.dequantizer == "per_pe"
        keys = ([(r, col) for r in range(c.rows) for col in range(c.cols)] if per_pe
                else list(range(c.rows)))
        if self.control_copies and depth:
            # A chain per row, its last stage per back end; `keep`: identical registers,
            # which Yosys would merge otherwise.
            row_ctl = [cut.delay(front_ctl, depth - per_pe, f"ctl_{r}", control=True, keep=True)
                       for r in range(c.rows)]
            units = {key: _BackEnd(m, c, cut, place=place, sfx="".join(f"_{i}" for i in key),
                                   ctl=cut.regs(row_ctl[key[0]], "ctl_{}_{}".format(*key),
                                                control=True, keep=True))
                     for key in keys} if per_pe else {
                r: _BackEnd(m, c, cut, place=place, sfx=f"_{r}", ctl=row_ctl[r]) for r in keys}
        else:
            units = dict.fromkeys(keys, _BackEnd(m, c, cut, place=place, ctl=_Control(
                step=cut.delay(step, depth, "step", control=True),
                handoff=cut.delay(handoff, depth, "handoff", control=True),
                out_end=cut.delay(handoff & out_end, depth, "out_end", control=True),
                d_run=cut.delay(d_busy, depth, "d_run", control=True),
                d_last=cut.delay(d_last, depth, "d_last", control=True),
                d_final=cut.delay(d_final, depth, "d_final", control=True),
            )))
        # Every copy finishes its output in the same cycle: the first one's tells.
        done = units[keys[0]].done
        m.d.comb += hold.eq(done & self.out_valid & ~self.out_ready)
        with m.If(done & run):
            m.d.sync += self.out_valid.eq(1)
        with m.Elif(self.out_ready):
            m.d.sync += self.out_valid.eq(0)

        scales = [cut.delay(s, depth, f"scale_{r}")
                  for r, s in enumerate(lanes_of(beat["scale"], c.rows, c.scale_bits))]
        negs = [cut.delay(beat["scale_neg"][r], depth, f"scale_neg_{r}") for r in range(c.rows)]
        outs, flags = [], []
        for r in range(c.rows):
            row_operands = []
            for col in range(c.cols):
                sfx = f"_{r}_{col}"
                terms, acts = pe_operands[(r, col)]
                if "max" in cuts:  # the lanes and which holds the maximum, not its value
                    exps, picks = _lane_exponent_picks(m, terms, acts, sfx)
                    exps, picks = cut.regs(exps, "max" + sfx), cut.regs(picks, "emaxp" + sfx)
                    emax = Signal(6, name="emax" + sfx)
                    m.d.comb += emax.eq(_one_hot_select(list(picks),
                                                        [e[0] for e in exps]))
                else:
                    exps, emax = _lane_exponents(m, terms, acts, sfx)
                shifts = _exponent_alignment(m, c, exps, emax, sfx)
                if "align" in cuts:
                    shifts, emax = cut.regs(shifts, "align" + sfx), cut.regs(emax, "emax" + sfx)
                lanes = _aligned_lanes(m, c, shifts, sfx)
                if "lanes" in cuts:
                    lanes, emax = cut.regs(lanes, "lanes" + sfx), cut.regs(emax, "emaxl" + sfx)
                partial = Signal(signed(c.partial_width), name="partial" + sfx)
                m.d.comb += partial.eq(_lane_sum(lanes, carries="max" in cuts))
                emax_next = None  # the exponent the accumulator's operand register loads next
                ahead = None  # the unnormalized loop's emax_next - i for each shift i
                unnormalized = c.accumulator == "bitmod" and c.loop != "normalized"
                if "sum" in cuts:
                    if unnormalized and "shift" in cuts:
                        ahead = cut.regs(_exponents_ahead(c, emax), "emaxa" + sfx)
                    partial, emax_next = cut.regs(partial, "partial" + sfx), emax
                    emax = cut.regs(emax, "emaxs" + sfx)
                if c.accumulator == "exact":
                    operand = Signal(signed(c.acc_width), name="contrib" + sfx)
                    m.d.comb += operand.eq(partial << emax)
                    if "shift" in cuts:
                        operand = cut.regs(operand, "contribr" + sfx)
                else:  # the floating accumulator aligns the partial sum itself
                    if "shift" in cuts:  # ``ahead`` was registered beside the sum cut
                        emax_next = emax
                        partial, emax = cut.regs((partial, emax), "contribr" + sfx)
                    elif unnormalized and emax_next is not None:
                        ahead = _exponents_ahead(c, emax_next)
                    operand = (partial, emax, ahead if unnormalized else emax_next)
                if c.dequantizer == "per_pe":
                    out_reg, nf_out = units[(r, col)].pe(r, col, operand, nf_cols[col],
                                                         scales[r], negs[r])
                    outs.append(out_reg)
                    flags.append(nf_out)
                row_operands.append(operand)
            if c.dequantizer == "row":
                for out_reg, nf_out in units[r].row(r, row_operands, nf_cols, scales[r],
                                                    negs[r]):
                    outs.append(out_reg)
                    flags.append(nf_out)
        m.d.comb += self.out.eq(Cat(*outs))
        m.d.comb += self.nonfinite.eq(Cat(*flags))
        return m


class BitModPE(BitModArray):
    """One BitMoD PE: a `BitModArray` with rows = cols = 1 and no input register stage.

    Ports are those of `BitModArray` with one row and one column.
    """

    def __init__(self, config: BitModConfig) -> None:
        if config.rows != 1 or config.cols != 1:
            raise ValueError("BitModPE has one row and one column; use BitModArray")
        if config.dequantizer != "per_pe":
            raise HwsimError(f"parameter dequantizer = {config.dequantizer!r}: a single PE has "
                             "no row to share a dequantizer with; allowed: per_pe (share one "
                             "per row in a BitModArray)")
        # Its ready is not its critical path (the accumulator loop is), and its Verilog is the
        # ASIC flow's calibration: the combinational tests stay.
        super().__init__(config, input_stage=False, registered_ready=False,
                         control_copies=False, lean_reset=False, term_copies=False)


# Shapes of the datapath's values between the helpers below.
_Term = tuple[Value, Value, Value]  # (neg, exp, nz) of a weight term
# `_decode_activation`: (sign, exp_eff, mant, nonfinite[, nonzero])
_Act = tuple[Value, ...]
# (product exponent, neg, significand[, valid]) of a lane
_Exponent = tuple[Value, ...]
_Shifted = tuple[Value, Value, Value]  # (shift, neg, significand) of a lane
_Lane = tuple[Value, Value]  # (bits, neg): mag or ~mag, and whether the lane is negative
_Regs = Value | tuple | list  # what `_Cut.regs` registers: a value or a nesting of them


class _Control(NamedTuple):
    """The back end's control in its own time (`_BackEnd`)."""

    step: Value  # the current term is added this cycle
    handoff: Value  # a group ends: its value goes to the dequantizer, the accumulator clears
    out_end: Value  # the hand-off of an output's last group
    d_run: Value  # the dequantizer runs
    d_last: Value  # its last cycle
    d_final: Value  # it runs an output's last group


# Exponent bits by which ``loop="decoded"`` shifts the dequantized product before the "place"
# registers (the rest after them): the two halves of the placement shifter on either side.
_PLACE_LOW_BITS = 3


class _Dequant(NamedTuple):
    """A dequantizer's outputs (`_BackEnd._dequantizer`)."""

    value: Value  # exact: this cycle's addend; floating: the product after this cycle
    exp: Value | None  # floating: the group's exponent (None for the exact accumulator)
    neg: Value  # the scale's sign (the exact addend's negation)


def mode_bits(modes: int) -> int:
    """Width of the ``mode`` port for ``modes`` families."""
    return max(1, (modes - 1).bit_length())


def _pick(cond: Value | int, a: Value, b: Value) -> Value:
    """``Mux(cond, a, b)``, or the choice itself where ``cond`` is a constant 0 / 1."""
    if isinstance(cond, int):
        return a if cond else b
    return Mux(cond, a, b)


def _per_mode(mode: Value, values: list[int]) -> Value:
    """The constant of the current mode (a mux over the modes; reserved codes take mode 0's)."""
    out = C(values[0], max(1, max(values).bit_length()))
    for i, v in enumerate(values[1:], start=1):
        out = Mux(mode == i, v, out)
    return out


class _Cut:
    """Pipeline registers that all advance together (``run``) and freeze while the PE waits.

    With ``lean_reset`` only control registers (``control=True``) are reset: a data register
    is read only where the control says it was loaded, so its value after a reset is never
    used (the reset net then reaches the control, not the datapath). ``keep`` marks the
    registers' signals ``keep``, which the FPGA flow turns into registers Yosys does not merge
    with identical ones (`hwsim.hw.fpga.flow`): the copies of a control signal stay copies."""

    def __init__(self, m: Module, run: Value, *, lean_reset: bool = False) -> None:
        self._m, self._run, self.lean_reset = m, run, lean_reset

    @property
    def run(self) -> Value:
        return self._run

    def regs(self, value: _Regs, name: str, *, control: bool = False,
             keep: bool = False) -> _Regs:
        """A registered copy of a value or of a (nested) tuple/list of values."""
        if isinstance(value, tuple | list):
            keys = getattr(value, "_fields", range(len(value)))  # a NamedTuple's field names
            regs = [self.regs(v, f"{name}_{k}", control=control, keep=keep)
                    for k, v in zip(keys, value, strict=True)]
            return type(value)(*regs) if hasattr(value, "_fields") else type(value)(regs)
        reg = Signal(value.shape(), name=name, reset_less=self.lean_reset and not control,
                     attrs={"keep": 1} if keep else None)
        with self._m.If(self._run):
            self._m.d.sync += reg.eq(value)
        return reg

    def delay(self, value: _Regs, n: int, name: str, *, control: bool = False,
              keep: bool = False) -> _Regs:
        """``value`` ``n`` cycles later (of running)."""
        for i in range(n):
            value = self.regs(value, f"{name}_d{i + 1}", control=control, keep=keep)
        return value

    def data(self, shape: Shape | int, name: str) -> Signal:
        """A data register's signal (no reset with ``lean_reset``)."""
        return Signal(shape, name=name, reset_less=self.lean_reset)


def _named(m: Module, values: tuple[Value, ...], name: str) -> tuple[Signal, ...]:
    """``values`` as signals named ``{name}_{index}``."""
    sigs = tuple(Signal(v.shape(), name=f"{name}_{k}") for k, v in enumerate(values))
    m.d.comb += [s.eq(v) for s, v in zip(sigs, values, strict=True)]
    return sigs


def _act_copy(cut: _Cut, act: _Act, name: str) -> _Act:
    """A PE's ``keep`` register copy of a column's decoded activation (`_decode_activation`)
    but its ``nonfinite`` field, which the lanes do not read (the column's ``nf`` chain
    carries it) and which a kept register would keep."""
    regs = cut.regs((*act[:3], *act[4:]), name, keep=True)
    return (*regs[:3], act[3], *regs[3:])


def _decode_term(m: Module, c: BitModConfig, code: Value, wtype: Value | None, mode: Value,
                 j: Value, name: str) -> _Term:
    """(neg, exp, nz) of term ``j`` of a weight code in the current mode (`terms.weight_terms`),
    as signals ``{name}_neg`` / ``_exp`` / ``_nz``."""
    per_family = [_family_term(m, fam, code[:fam.bits], wtype, j) for fam in c.families]
    neg, exp, nz = (Signal(name=f"{name}_neg"), Signal(3, name=f"{name}_exp"),
                    Signal(name=f"{name}_nz"))
    if c.modes == 1:
        m.d.comb += [neg.eq(per_family[0][0]), exp.eq(per_family[0][1]),
                     nz.eq(per_family[0][2])]
        return neg, exp, nz
    with m.Switch(mode):
        for i, (fneg, fexp, fnz) in enumerate(per_family):
            with m.Case(*([i] if i else [0, *range(c.modes, 1 << len(mode))])):
                m.d.comb += [neg.eq(fneg), exp.eq(fexp), nz.eq(fnz)]
    return neg, exp, nz


def _family_term(m: Module, fam: WeightFamily, code: Value, wtype: Value | None,
                 j: Value) -> _Term:
    """(neg, exp, nz) of term ``j`` of a code of one family."""
    if not fam.is_fp:
        # Radix-4 Booth digit j from bits (b[2j+1], b[2j], b[2j-1]) of the sign-extended code.
        width = 2 * fam.terms
        ext = Cat(code, code[-1].replicate(width - fam.bits)) if width > fam.bits else code
        trip = Cat(C(0, 1), ext).bit_select(Cat(C(0, 1), j), 3)
        nz = (trip != 0b000) & (trip != 0b111)
        neg = trip[2] & ~(trip[1] & trip[0])
        two = (trip == 0b011) | (trip == 0b100)
        return neg, Cat(two, j), nz
    mag_bits = fam.bits - 1
    table = _DECODER_MAGNITUDES[fam.name]
    er, ea = _DECODER_SPECIALS[fam.name]
    mag = Signal(5, name=f"mag_{fam.name}")
    neg = Signal(name=f"sign_{fam.name}")
    mcode, sign = code[:mag_bits], code[mag_bits]
    with m.If(sign & (mcode == 0)), m.Switch(wtype):
        for sel, name in enumerate(SPECIALS):
            if name == "none":
                continue
            with m.Case(sel):
                m.d.comb += mag.eq(er if name.startswith("er") else ea)
                m.d.comb += neg.eq(name.endswith("neg"))
        with m.Default():  # "none" and the reserved selectors: the code is -0 = 0
            m.d.comb += mag.eq(0)
    with m.Else():
        with m.Switch(mcode):
            for i, v in enumerate(table):
                with m.Case(i):
                    m.d.comb += mag.eq(v)
        m.d.comb += neg.eq(sign)
    lead = _msb_index(mag)
    rest = mag & ~(C(1, 5) << lead)[:5]
    second = _msb_index(rest)
    exp = Mux(j == 0, lead, second)
    nz = Mux(j == 0, mag != 0, rest != 0)
    return neg & nz, exp, nz


def _difference(dif: Value, width: int, abits: int) -> Value:
    """(dif, later, over) packed for the normalized loop: the signed ``dif`` in ``width``
    bits, its sign, and whether the shift amount (dif, or ~dif when negative) needs more than
    ``abits`` bits (then every bit is shifted out)."""
    if len(dif) < width:
        dif = Cat(dif, dif[-1].replicate(width - len(dif)))
    d = dif[:width]
    later = d[-1]
    return Cat(d, later, Mux(later, ~d[abits:].all(), d[abits:].any()))


def _difference_flags(dif: Value, incs: int, abits: int) -> Value:
    """What the floating accumulator's step needs of ``dif`` = stored exponent - operand
    exponent (= -d), packed: ``later`` (d > 0), d >= 0, d >= i for i in 2..incs - 1, and the
    large shift amount (d - 1 when later, applied to the stored sum halved; else -d, applied to
    the operand), saturated at ``2**abits - 1`` (every bit shifted out)."""
    d = Cat(dif, dif[-1].replicate(8))[:len(dif) + 1].as_signed()
    later = d[-1]
    mag = Mux(later, ~d, d)
    over = mag[abits:].any()
    amount = Mux(over, (1 << abits) - 1, mag[:abits])
    # d >= i (i >= 2) when later: ~dif = d - 1 >= i - 1, on the magnitude's low bits.
    nb = max(incs - 2, 1).bit_length()
    ge = [later & (mag[nb:].any() | (mag[:nb] >= i - 1)) for i in range(2, incs)]
    return Cat(later, later | ~d.any(), *ge, amount)


def _at_least(value: Value, bound: int) -> Value:
    """``value >= bound`` for a signed ``value`` and a constant, as a chain of AND/OR gates on
    its bits (a comparator would be a carry chain on the FPGA, slower for a few bits)."""
    n = len(value)
    if bound <= -(1 << (n - 1)) or bound >= 1 << (n - 1):
        return C(int(bound <= 0), 1)
    biased, target = Cat(value[:n - 1], ~value[n - 1]), bound + (1 << (n - 1))
    out = C(1, 1)
    for k in range(n):  # value's bits 0..k >= target's bits 0..k
        out = biased[k] & out if target >> k & 1 else biased[k] | out
    return out


def _lagged_amounts(m: Module, name: str, x: Value, cands: int, n_w: int,
                    n_p: int) -> list[Value]:
    """For each candidate pending shift i in 0..cands - 1, the lagged loop's next shift amounts
    decoded for `_decoded_shift` (one-hot ``amount == a`` for a < n, then the thermometer
    ``amount >= j`` for j in 1..n), packed: the stored sum's ``max(x, i)`` (``n_w``), the
    operand's ``max(i - x, 0)`` (``n_p``), then ``x > i`` (the operand's exponent is above the
    stored sum's). ``x`` is the operand's exponent less the stored sum's frame. Every bit is a
    comparison of ``x`` with a constant (or a constant); the comparisons are signals named
    ``name`` (shared by the candidates: the Verilog would repeat an expression at every
    read)."""
    (x,) = _named(m, (x,), name + "_x")
    eq_values = sorted({*range(cands, n_w), *range(1 - n_p, cands)})
    ge_values = sorted({*range(cands, n_w + 1), *range(1 - n_p, cands + 1)})
    equal = dict(zip(eq_values, _named(m, tuple(x == v for v in eq_values), name + "_eq"),
                     strict=True))
    at_least = dict(zip(ge_values, _named(m, tuple(_at_least(x, t) for t in ge_values),
                                          name + "_ge"), strict=True))
    one, zero = C(1, 1), C(0, 1)
    out = []
    for i in range(cands):
        w_hot = [zero if a < i else ~at_least[i + 1] if a == i else equal[a]
                 for a in range(n_w)]
        w_ge = [one if j <= i else at_least[j] for j in range(1, n_w + 1)]
        p_hot = [at_least[i] if a == 0 else equal[i - a] for a in range(n_p)]
        p_ge = [~at_least[i - j + 1] for j in range(1, n_p + 1)]
        out.append(Cat(*w_hot, *w_ge, *p_hot, *p_ge, at_least[i + 1]))
    return out


def _sum_low_zero_parts(a: Value, b: Value, low: int, high: int) -> Value:
    """Parts of "the low k bits of ``a + b`` are 0" for k in low..high, without the carry
    chain: they are iff at every bit i < k the half sum a_i ^ b_i equals the carry a zero sum
    brings into it (0 into bit 0, a_(i-1) | b_(i-1) above). The per-bit tests are ANDed in
    fours below ``low``, then bit by bit: the AND of the first parts up to k says it."""
    tests = [~(a[0] ^ b[0])] + [(a[i] ^ b[i]) == (a[i - 1] | b[i - 1]) for i in range(1, high)]
    return Cat(*[Cat(*tests[i:min(i + 4, low)]).all() for i in range(0, low, 4)],
               *tests[low:high])


def _decoded_shift(value: Value, dec: Value, width: int) -> Value:
    """``value >> amount`` (arithmetic, ``width`` bits) with the amount decoded
    (`_lagged_amounts`): bit k is a balanced OR over the amounts that bring a bit of
    ``value`` (selected & that bit), and the thermometer entry that brings the sign: a few LUT
    levels, where a shifter takes one multiplexer per amount bit."""
    n = len(dec) // 2
    src = Cat(value, value[-1].replicate(n + 1 - len(value))) if len(value) <= n else value
    onehot, ge = dec[:n], dec[n:]
    bits = []
    for k in range(width):
        if k >= n:
            bits.append(src[n])
            continue
        terms = [onehot[a] & src[k + a] for a in range(n - k)] + [ge[n - k - 1] & src[n]]
        while len(terms) > 1:
            terms = [terms[i] | terms[i + 1] if i + 1 < len(terms) else terms[i]
                     for i in range(0, len(terms), 2)]
        bits.append(terms[0])
    return Cat(*bits).as_signed()


def _float_shifts(c: BitModConfig) -> int:
    """How many normalization shifts (0, 1, ...) the floating accumulator's sum can need: its
    width (the partial sum's, or the mantissa's, plus a carry) beyond the mantissa's capacity
    (its bits but the sign); `_normalization_reach` says why the sign bit needs none."""
    return max(c.partial_width, BITMOD_MAN_BITS) + 1 - (BITMOD_MAN_BITS - 1)


def _exponents_ahead(c: BitModConfig, emax_next: Value) -> list[Value]:
    """``emax_next - i`` for each normalization shift i (signed): the next cycle's exponent
    differences are then one subtraction from the stored exponent."""
    if c.loop == "decoded":  # the lagged loop reads the next exponent only
        return [Cat(emax_next, C(0, 1)).as_signed()]
    return [(emax_next - i).as_signed() for i in range(_float_shifts(c))]


def _normalization_reach(total: Value, man_bits: int, exact: bool = True,
                         zeros: list[Value] | None = None) -> list[Value]:
    """Whether |total| >= 2**k, for k from ``man_bits - 1`` (the mantissa's capacity) up, on
    the two's-complement bits: a negative total reaches 2**k when a bit of ~total at k or above
    is set, or when it is exactly -2**k (its low k bits are 0; ``exact=False`` leaves that case
    out, for uses where the low bits of such a total do not matter: they are 0). Entry i says
    the normalization shift is above i (the thresholds are nested). The top threshold, 2**k for
    the total's sign bit, is left out: a sum of a normalized mantissa (|m| < 2**(man_bits - 1))
    and a partial sum (within its signed width) never reaches -2**(width - 1)."""
    width, neg = len(total), total[-1]
    if zeros is not None:  # the low-bits-zero tests, given
        return [Mux(neg, z | ~total[k:width - 1].all(), total[k:width - 1].any())
                for z, k in zip(zeros, range(man_bits - 1, width - 1), strict=True)]
    return [Mux(neg, ((total[:k] == 0) if exact else C(0, 1)) | ~total[k:width - 1].all(),
                total[k:width - 1].any())
            for k in range(man_bits - 1, width - 1)]


def _normalization_picks(total: Value, man_bits: int, top: bool = False,
                         zeros: list[Value] | None = None) -> list[Value]:
    """One-hot normalization shift of ``total`` (pick i: shift by i), `_normalization_reach`;
    ``top`` adds the threshold at the sign bit (``total`` = -2**(width - 1)), which the
    normalized loop keeps as published although its sums do not reach it either."""
    reach = _normalization_reach(total, man_bits, zeros=zeros)
    if top:
        reach.append(total[-1] & (total[:-1] == 0))
    return [~reach[0]] + [reach[i] & ~reach[i + 1] for i in range(len(reach) - 1)] + [
        reach[-1]]


def _one_hot_select(picks: list[Value], values: list[Value]) -> Value:
    """The value whose pick is set (exactly one is): an AND-OR mux, flat in depth. Values are
    extended to the widest first (sign-extended if signed), the result is unsigned bits."""
    width = max(len(v) for v in values)
    out = C(0, width)
    for pick, v in zip(picks, values, strict=True):
        if len(v) < width:
            v = Cat(v, (v[-1] if v.shape().signed else C(0, 1)).replicate(width - len(v)))
        out = out | (v.as_unsigned() & pick.replicate(width))
    return out


def _thermometer_select(above: list[Value], values: list[Value]) -> Value:
    """``values[i]`` for the index ``i`` whose thermometer code is ``above`` (``above[j]``:
    i > j, so above[j + 1] implies above[j]): a balanced tree of 2:1 multiplexers, each
    driven by one bit of ``above`` (two LUT levels for four values, one pick fewer than a
    one-hot AND-OR behind the picks)."""
    if len(values) == 1:
        return values[0]
    mid = len(values) // 2
    return Mux(above[mid - 1], _thermometer_select(above[mid:], values[mid:]),
               _thermometer_select(above[:mid - 1], values[:mid]))


def _msb_index(v: Value) -> Value:
    """Index of the highest set bit of ``v`` (0 when v == 0)."""
    idx = C(0, 3)
    for i in range(len(v)):
        idx = Mux(v[i], i, idx)
    return idx


def _decode_activation(x: Value, raw: bool) -> _Act:
    """`decode_fp16`'s fields of an FP16 pattern, or with ``raw`` its significand not cleared
    for Inf/NaN and a fifth field, ``nonzero``: the activation can give a non-zero product
    (finite, significand not 0). The builds that cut after the lanes' exponents (``max``)
    take it raw: a lane without a product is cleared by its alignment shift instead
    (`_exponent_alignment`), so no gate sits on each significand bit, twice (and their
    registers get no synchronous reset of their own, which Yosys made of the gates)."""
    if not raw:
        return decode_fp16(x)
    e, frac, sign = x[10:15], x[0:10], x[15]
    nonfinite = e == 31
    # exp_eff = max(e, 1) written bit by bit: as a multiplexer with the constant 1, Yosys
    # gives the upper bits' register a synchronous reset of its own (an LSR net per lane).
    exp_eff = Cat(e[0] | ~e.any(), e[1:])
    return sign, exp_eff, Cat(frac, e.any()), nonfinite, x[:15].any() & ~nonfinite


def _lane_products(m: Module, terms: list[_Term], acts: list[_Act],
                   sfx: str) -> tuple[list[_Exponent], list[Value]]:
    """Per lane (product exponent ``exp_eff + t``, negative, significand) and whether the lane
    has a non-zero product (a lane without one gets significand 0). With raw activations
    (`_decode_activation`, a ``nonzero`` field) the significand is not cleared: the lane
    carries its validity as a fourth field, and its alignment shift clears it."""
    lanes, valids = [], []
    for i, ((tneg, t, nz), (asign, exp_eff, mant, *rest)) in enumerate(zip(terms, acts,
                                                                            strict=True)):
        pe = Signal(6, name=f"pexp{sfx}_{i}")
        m.d.comb += pe.eq(exp_eff + t)
        if len(rest) == 2:  # raw: (nonfinite, nonzero)
            valid = Signal(name=f"pval{sfx}_{i}")
            m.d.comb += valid.eq(nz & rest[1])
            valids.append(valid)
            lanes.append((pe, tneg ^ asign, mant, valid))
            continue
        valid = nz & (mant != 0)
        valids.append(valid)
        lanes.append((pe, tneg ^ asign, Mux(valid, mant, 0)))
    return lanes, valids


def _lane_exponents(m: Module, terms: list[_Term], acts: list[_Act],
                    sfx: str) -> tuple[list[_Exponent], Value]:
    """`_lane_products` and the cycle's exponent ``emax``: the largest product exponent among
    the lanes with a non-zero product (0 when there is none), as a comparator tree."""
    lanes, valids = _lane_products(m, terms, acts, sfx)
    emax = Signal(6, name="emax" + sfx)
    m.d.comb += emax.eq(tree_max([Mux(v, pe, 0) for (pe, _, _), v in zip(lanes, valids,
                                                                         strict=True)]))
    return lanes, emax


def _lane_exponent_picks(m: Module, terms: list[_Term], acts: list[_Act],
                         sfx: str) -> tuple[list[_Exponent], Value]:
    """`_lane_products` and which lane holds the cycle's exponent ``emax`` (the largest product
    exponent among lanes with a non-zero product), for the builds that cut after it (the
    ``max`` cut): a one-hot pick (the lowest lane among equal maxima), 0 when no lane has a
    product, so ``emax`` is the AND-OR of the picks and the exponents after the cut
    (`_one_hot_select`; 0 with no pick, as `_lane_exponents` gives). All pairs are compared at
    once (``lanes (lanes - 1) / 2`` comparators side by side: one comparator and the picks'
    AND in depth, where the tree takes log2(lanes) comparators, each behind the previous
    level's multiplexers). The builds without that cut keep the tree, which has fewer
    comparators (their Verilog, and the ASIC calibration's PE, are unchanged)."""
    lanes, valids = _lane_products(m, terms, acts, sfx)
    n = len(lanes)
    # beats[i][j]: lane i's product is ahead of lane j's (larger, or equal and i < j).
    beats = [[C(1, 1)] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            ge = lanes[i][0] >= lanes[j][0]
            beats[i][j] = ~valids[j] | ge
            beats[j][i] = ~valids[i] | ~ge
    picks = Signal(n, name="emaxpick" + sfx)
    m.d.comb += picks.eq(Cat(*[valids[i] & Cat(*beats[i]).all() for i in range(n)]))
    return lanes, picks


def _exponent_alignment(m: Module, c: BitModConfig, lanes: list[_Exponent], emax: Value,
                        sfx: str) -> list[_Shifted]:
    """Per lane (shift, negative, significand): how far each lane is shifted right to
    ``emax``. The shift saturates at the first amount that shifts the whole significand (with
    its ``align_bits`` guard bits) out: the lane is 0 from there on either way. A lane with
    a validity field (raw activations, `_lane_products`) saturates when it has no product:
    its significand, not cleared before, is shifted out (and a negative lane's ~0 + 1 is 0)."""
    sbits = (FP16_MANT_BITS + c.align_bits).bit_length()
    out = []
    for i, (pe, neg, mant, *valid) in enumerate(lanes):
        dist = emax - pe
        shift = Signal(sbits, name=f"shift{sfx}_{i}")
        out_of_range = dist[sbits:6].any() | ~valid[0] if valid else dist[sbits:6].any()
        m.d.comb += shift.eq(Mux(out_of_range, (1 << sbits) - 1, dist[:sbits]))
        out.append((shift, neg, mant))
    return out


def _aligned_lanes(m: Module, c: BitModConfig, lanes: list[_Shifted], sfx: str) -> list[_Lane]:
    """Each lane's significand (with ``align_bits`` guard bits) shifted right, as (bits, neg):
    a negative lane is -mag = ~mag + 1, so ``bits`` holds mag or ~mag and the lanes' +1s are
    added once, in the lane sum (`_lane_sum`), not by a negation per lane."""
    values = []
    for i, (shift, neg, mant) in enumerate(lanes):
        mag = Cat(C(0, c.align_bits), mant) >> shift if c.align_bits else mant >> shift
        lane = Signal(signed(c.partial_width), name=f"lane{sfx}_{i}")
        m.d.comb += lane.eq(mag ^ neg.replicate(c.partial_width))
        values.append((lane, neg))
    return values


def _lane_sum(lanes: list[_Lane], carries: bool = False) -> Value:
    """The signed sum of the lanes of `_aligned_lanes`.

    With ``carries`` the lanes' +1s ride as carry-ins of a balanced tree of two-operand adders
    (``a + b + n`` as ``(Cat(n, a) + Cat(n, b)) >> 1``: one bit wider, the low bit's carry is
    n), one per adder; the lanes beyond the adders' count are added last. Yosys otherwise
    builds one multi-operand sum, which it maps to LUT full adders (4 lanes on ECP5: 121 LUT-eq
    against 78 as carry chains)."""
    if not carries:
        bits = [b for b, _ in lanes]
        return sum(bits[1:], bits[0]) + sum(Cat(n) for _, n in lanes)
    negs = [n for _, n in lanes]
    level = [b.as_signed() for b, _ in lanes]
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            n = negs.pop()
            nxt.append((Cat(n, level[i]).as_signed() + Cat(n, level[i + 1]).as_signed())[1:]
                       .as_signed())
        level = nxt + ([level[-1]] if len(level) % 2 else [])
    return sum(negs, level[0])


class _BackEnd:
    """Group accumulators, dequantizers and output registers, driven by the delayed control.

    With ``place`` (the "place" cut) a register stage sits between each dequantizer and its
    output accumulator (the floating group's placement shift and the wide output adder get a
    cycle of their own); the output's control is delayed with it.

    ``done``: the output register is loaded this cycle (if the PE runs).

    With the cut's ``lean_reset`` the accumulators have no reset: a register that is 1 in the
    first cycle after a reset (``fresh``, one per back end) clears them then, as a hand-off
    and a finished output do, so the first output starts from 0. ``sfx`` names this back
    end's registers apart from other copies.
    """

    def __init__(self, m: Module, c: BitModConfig, cut: _Cut, *, place: bool, ctl: _Control,
                 sfx: str = "") -> None:
        self._m, self._c, self._cut, self._place, self._sfx = m, c, cut, place, sfx
        self._run = cut.run
        self._step, self._handoff, self._out_end = ctl.step, ctl.handoff, ctl.out_end
        self._d_run, self._d_last = ctl.d_run, ctl.d_last
        # The output accumulator's control: what the dequantizer's was, a cycle later with place.
        d_ctl = (ctl.d_run, ctl.d_last, ctl.d_final)
        self._o_run, self._o_last, o_final = (
            cut.regs(d_ctl, "place_ctl" + sfx, control=True) if place else d_ctl)
        self.done = self._o_last & o_final
        self._g_clear, self._o_clear = self._handoff, self.done
        if cut.lean_reset:
            fresh = Signal(init=1, name="fresh" + sfx, attrs={"keep": 1})
            m.d.sync += fresh.eq(0)
            self._g_clear, self._o_clear = self._handoff | fresh, self.done | fresh
        if c.dequantizer == "row":
            self._sequencer()

    def _sequencer(self) -> None:
        """The dequantizer turns of the rows this back end serves (its own with the control copies,
        every row without them: the rows keep the same schedule).

        A group's dequantization (``d_run``: `BitModConfig.dequant_cycles` cycles after its
        hand-off) is ``cols`` turns of ``scale_bits`` cycles, PE (r, 0) first: ``_slot`` is the
        column served, ``_reload`` loads the next column's hand-off register into the
        dequantizer (the last cycle of every turn but the last; a hand-off comes at the last
        turn's last cycle at the earliest, `d_free`). The output accumulators see the turn and
        its last cycle (``_o_slot``, ``_o_turn_end``) a cycle later with place."""
        m, c, run, d_run = self._m, self._c, self._run, self._d_run
        bit = Signal(range(max(c.scale_bits, 2)), name="dq_bit" + self._sfx)
        slot = Signal(range(max(c.cols, 2)), name="dq_slot" + self._sfx)
        turn_end = d_run & (bit == c.scale_bits - 1)
        with m.If(run & self._handoff):
            m.d.sync += [bit.eq(0), slot.eq(0)]
        with m.Elif(run & turn_end):
            m.d.sync += [bit.eq(0), slot.eq(slot + 1)]
        with m.Elif(run & d_run):
            m.d.sync += bit.eq(bit + 1)
        self._slot, self._reload = slot, turn_end & (slot != c.cols - 1)
        self._o_slot, self._o_turn_end = (
            self._cut.regs((slot, turn_end), "place_turn" + self._sfx, control=True)
            if self._place else (slot, turn_end))

    def pe(self, r: int, col: int, operand: Value | tuple[Value, Value, Value | None],
           nf_now: Value, scale: Value, scale_neg: Value) -> tuple[Signal, Signal]:
        """Registers of one PE with its own dequantizer: group accumulator, dequantizer
        datapath, output accumulator.

        ``operand``: the cycle's contribution in accumulator LSBs (exact) or (partial sum,
        exponent, the next cycle's exponent or None) (bitmod)."""
        m, c = self._m, self._c
        sfx = f"_{r}_{col}"
        g_val, g_exp = self._group(operand, sfx)
        nf, d_nf = Signal(name="nf" + sfx), Signal(name="dnf" + sfx)
        dq = self._dequantizer(sfx, self._run & self._handoff, g_val, g_exp, scale, scale_neg)
        if dq.exp is not None:
            product, p_exp, nf_out = self._placement(dq, sfx, d_nf)
            placed = Signal(signed(c.out_width), name="dplace" + sfx)
            m.d.comb += placed.eq(Mux(self._o_last, product << p_exp, 0))
            addend, carry = placed, None
        else:
            wide, neg, nf_out = (self._cut.regs((dq.value, dq.neg, d_nf), "place" + sfx)
                                 if self._place else (dq.value, dq.neg, d_nf))
            addend, carry = (wide ^ neg.replicate(c.out_width)).as_signed(), neg
        self._nonfinite(nf, d_nf, nf_now)
        return self._output(sfx, addend, carry, nf_out)

    def row(self, r: int, operands: list[Value | tuple[Value, Value, Value | None]],
            nf_cols: list[Value], scale: Value, scale_neg: Value) -> list[tuple[Signal, Signal]]:
        """Registers of a PE row sharing one dequantizer (``dequantizer="row"``): each PE's
        group and output accumulators as in `pe`, one dequantizer datapath for the row.

        At a hand-off PE (r, 0)'s group goes straight into the dequantizer (as into its own)
        and every other PE's into its hand-off register, which the dequantizer loads at the
        start of that PE's turn (`_sequencer`); the row's scale and sign wait in a register for
        the later turns. A turn's products reach only its PE's output accumulator, so each
        PE's exact accumulation is that of `pe`."""
        m, c, run, handoff = self._m, self._c, self._run, self._handoff
        groups = [self._group(op, f"_{r}_{col}") for col, op in enumerate(operands)]
        floating = c.accumulator == "bitmod"
        next_val, next_exp = groups[0]
        for col, (g_val, g_exp) in enumerate(groups[1:], start=1):
            held = [g_val, g_exp] if floating else [g_val]
            regs = [self._cut.data(v.shape(), f"dqh{i}_{r}_{col}") for i, v in enumerate(held)]
            with m.If(run & handoff):
                m.d.sync += [h.eq(v) for h, v in zip(regs, held, strict=True)]
            turn = ~handoff & (self._slot == col - 1)
            next_val = Mux(turn, regs[0], next_val)
            next_exp = Mux(turn, regs[1], next_exp) if floating else next_exp
        hold = self._cut.data(c.scale_bits + 1, f"dqs_{r}")
        with m.If(run & handoff):
            m.d.sync += hold.eq(Cat(scale, scale_neg))
        dq = self._dequantizer(f"_{r}", run & (handoff | self._reload), next_val, next_exp,
                               Mux(handoff, scale, hold[:-1]), Mux(handoff, scale_neg, hold[-1]))
        if floating:
            product, p_exp = self._placement(dq, f"_{r}")
            placed = Signal(signed(c.out_width), name=f"dplace_{r}")
            m.d.comb += placed.eq(product << p_exp)
        else:
            wide, neg = (self._cut.regs((dq.value, dq.neg), f"place_{r}") if self._place
                         else (dq.value, dq.neg))
        outs = []
        for col, nf_now in enumerate(nf_cols):
            sfx = f"_{r}_{col}"
            nf, d_nf = Signal(name="nf" + sfx), Signal(name="dnf" + sfx)
            nf_out = self._cut.regs(d_nf, "placenf" + sfx) if self._place else d_nf
            served = self._o_slot == col
            if floating:
                addend, carry = Mux(self._o_turn_end & served, placed, 0), None
            else:
                on = self._o_run & served
                n_on = neg & on
                addend = (Mux(on, wide, 0) ^ n_on.replicate(c.out_width)).as_signed()
                carry = n_on
            self._nonfinite(nf, d_nf, nf_now)
            outs.append(self._output(sfx, addend, carry, nf_out))
        return outs

    def _group(self, operand: Value | tuple[Value, Value, Value | None],
               sfx: str) -> tuple[Value, Value]:
        """A PE's group accumulator: the group's value (and exponent, 0 for the exact one)
        including this cycle's term."""
        c = self._c
        if c.accumulator == "exact":
            return self._exact_group(operand, sfx), C(0, 1)
        if c.loop == "normalized":
            return self._normalized_group(*operand, sfx)
        if c.loop == "decoded":
            return self._lagged_group(*operand, sfx)
        return self._unnormalized_group(*operand, sfx)

    def _placement(self, dq: _Dequant, sfx: str, *beside: Value) -> tuple[Value, ...]:
        """The floating dequantizer's product and the shift that places it at the group's
        exponent (then ``beside``), through the "place" registers if there are. With
        ``loop="decoded"`` the product is shifted by the exponent's low bits before them (the
        exponent is known from the hand-off on): the placement after them shifts by the high
        bits only."""
        if not self._place:
            return dq.value, dq.exp, *beside
        if self._c.loop != "decoded":
            return self._cut.regs((dq.value, dq.exp, *beside), "place" + sfx)
        low = min(_PLACE_LOW_BITS, len(dq.exp))
        product, high, *rest = self._cut.regs(
            (dq.value << dq.exp[:low], dq.exp[low:], *beside), "place" + sfx)
        return product, Cat(C(0, low), high), *rest

    def _dequantizer(self, sfx: str, load: Value, g_val: Value, g_exp: Value, scale: Value,
                     scale_neg: Value) -> _Dequant:
        """Bit-serial dequantizer, one scale bit per cycle, negated with ``scale_neg`` (two's
        complement: inverted, plus the carry-in, so the sign costs no adder of its own); it
        loads a group's value, scale and sign with ``load`` and steps while ``d_run``.

        The exact accumulator's group goes LSB first straight into the output accumulator:
        cycle i adds bit i of the scale times the group value shifted left by i (one adder, no
        product register): the result's ``value`` is that addend and ``neg`` its sign. BitMoD's
        floating group is dequantized on its mantissa, as published, MSB first: the mantissa is
        held (no shifting multiplicand), the scale shifts left and the narrow product register
        doubles and adds, 2 prod +- (bit ? m : 0); ``value`` is the product after this cycle,
        placed at the group's ``exp`` into the output accumulator after the last cycle: the
        same integer, (m x s) << e = (m << e) x s. The unnormalized loop's group comes
        unnormalized, at its LSB's exponent: the held value with the bits the normalization
        drops cleared, (total >> inc) << inc, is the mantissa at that exponent (a total of
        exactly -2**k has those bits 0 already)."""
        m, c, run = self._m, self._c, self._run
        floating = c.accumulator == "bitmod"
        width = len(g_val) + c.scale_bits + 1
        d_mag = self._cut.data(signed(len(g_val) if floating else width), "dmag" + sfx)
        d_scale = self._cut.data(c.scale_bits, "dscale" + sfx)
        d_neg = self._cut.data(1, "dneg" + sfx)
        with m.If(load):
            m.d.sync += [d_mag.eq(g_val), d_neg.eq(scale_neg), d_scale.eq(scale)]
        with m.Elif(run & self._d_run):
            m.d.sync += (d_scale.eq(d_scale << 1) if floating else
                         [d_mag.eq(d_mag << 1), d_scale.eq(d_scale >> 1)])
        if floating and c.loop != "normalized":
            drop = _normalization_reach(d_mag, BITMOD_MAN_BITS, exact=False)
            mant = Cat(*[d_mag[i] & ~drop[i] for i in range(len(drop))], d_mag[len(drop):])
            term = Mux(d_scale[-1], mant.as_signed(), 0)
        else:
            term = Mux(d_scale[-1] if floating else d_scale[0], d_mag, 0)
        if not floating:
            wide = Signal(signed(c.out_width), name="dterm" + sfx)
            m.d.comb += wide.eq(term)
            return _Dequant(wide, None, d_neg)
        d_exp = self._cut.data(c.exp_bits, "dexp" + sfx)
        d_prod = self._cut.data(signed(width), "dprod" + sfx)
        d_next = Signal(signed(width), name="dnext" + sfx)
        m.d.comb += d_next.eq((d_prod << 1) + (term ^ d_neg.replicate(width)).as_signed() + d_neg)
        with m.If(load):
            m.d.sync += [d_exp.eq(g_exp), d_prod.eq(0)]
        with m.Elif(run & self._d_run):
            m.d.sync += d_prod.eq(d_next)
        return _Dequant(d_next, d_exp, d_neg)

    def _nonfinite(self, nf: Signal, d_nf: Signal, nf_now: Value) -> None:
        """A PE's sticky Inf/NaN flag ``nf``, handed over (``d_nf``) with the output's last
        group."""
        m, run = self._m, self._run
        if self._cut.lean_reset:
            # The clear as an AND, not a load of 0: Yosys maps a register loaded with a
            # constant under a condition onto the flip-flop's LSR, a net of its own for each
            # PE's flag, and nextpnr's HeAP legaliser stalls on such flip-flops in large arrays
            # (an ECP5 tile's flip-flops share one LSR net; presets README, "Why HeAP
            # stalls"). One LUT input more per flag; the same function.
            with m.If(run & self._out_end):
                m.d.sync += d_nf.eq(nf | nf_now)
            with m.If(run & (self._out_end | self._step)):
                m.d.sync += nf.eq((nf | nf_now) & ~self._out_end)
            return
        with m.If(run & self._out_end):
            m.d.sync += [d_nf.eq(nf | nf_now), nf.eq(0)]
        with m.Elif(run & self._step):
            m.d.sync += nf.eq(nf | nf_now)

    def _output(self, sfx: str, addend: Value, carry: Value | None,
                nf_out: Value) -> tuple[Signal, Signal]:
        """A PE's output accumulator (``+= addend + carry`` while the output side runs) and its
        output registers, loaded when the output is done."""
        m, c, run = self._m, self._c, self._run
        oacc = self._cut.data(signed(c.out_width), "oacc" + sfx)
        oacc_next = Signal(signed(c.out_width), name="oaccn" + sfx)
        m.d.comb += oacc_next.eq(oacc + addend if carry is None else oacc + addend + carry)
        out = self._cut.data(signed(c.out_width), "out" + sfx)
        out_nf = self._cut.data(1, "outnf" + sfx)
        if self._o_clear is self.done:
            with m.If(run & self.done):
                m.d.sync += [out.eq(oacc_next), oacc.eq(0), out_nf.eq(nf_out)]
            with m.Elif(run & self._o_run):
                m.d.sync += oacc.eq(oacc_next)
            return out, out_nf
        with m.If(run & self.done):
            m.d.sync += [out.eq(oacc_next), out_nf.eq(nf_out)]
        with m.If(run & self._o_clear):
            m.d.sync += oacc.eq(0)
        with m.Elif(run & self._o_run):
            m.d.sync += oacc.eq(oacc_next)
        return out, out_nf

    def _exact_group(self, contrib: Value, sfx: str) -> Signal:
        """Fixed-point group accumulator; the group's value including this cycle's term."""
        m, c, run = self._m, self._c, self._run
        acc = self._cut.data(signed(c.acc_width), "acc" + sfx)
        psum = Signal(signed(c.acc_width), name="psum" + sfx)
        m.d.comb += psum.eq(acc + contrib)
        with m.If(run & self._g_clear):
            m.d.sync += acc.eq(0)
        with m.Elif(run & self._step):
            m.d.sync += acc.eq(psum)
        return psum

    def _float_widths(self, partial: Value) -> tuple[int, int, int, int]:
        """The floating accumulator's mantissa and exponent bits, its sum's width (a carry
        above the wider of mantissa and partial sum) and the bits of a shift amount (from
        ``2**abits - 1 >= width`` on, a shift leaves only the sign)."""
        mb = BITMOD_MAN_BITS
        width = max(len(partial), mb) + 1
        return mb, self._c.exp_bits, width, width.bit_length()

    def _group_update(self, state: list[Value], handoff: list[Value | int],
                      step: list[Value], idle: list[Value] | None = None) -> None:
        """The floating accumulator's registers ``state``: cleared to ``handoff`` at a group's
        handoff, loaded with ``step`` on an accumulating cycle, and with ``idle`` (if given) on
        other running cycles."""
        m, run = self._m, self._run
        with m.If(run & self._g_clear):
            m.d.sync += [s.eq(v) for s, v in zip(state, handoff, strict=True)]
        with m.Elif(run & self._step):
            m.d.sync += [s.eq(v) for s, v in zip(state, step, strict=True)]
        if idle is not None:
            with m.Elif(run):
                m.d.sync += [s.eq(v) for s, v in zip(state, idle, strict=True)]

    def _normalized_group(self, partial: Value, emax: Value, emax_next: Value | None,
                          sfx: str) -> tuple[Signal, Signal]:
        """BitMoD's floating group accumulator (`models.bitmod_accumulate_step`) with the
        loop normalized every cycle, as published (``loop="normalized"``): the (mantissa,
        exponent) after this cycle's term.

        The loop (align, add, normalize) takes one cycle, so it is kept short: the exponent
        difference ``dif`` = accumulator's - operand's, its sign ``later`` (the operand's
        exponent is above: the accumulator's mantissa is shifted, by -dif = ~dif + 1) and
        whether its magnitude overflows the shift amount come from registers, computed a cycle
        ahead from the exponent the operand register loads next (``emax_next``; None when the
        operand is not registered: then here); one shifter serves both sides; the normalization
        shift is found on the signed sum (no negation) and selects among exponents and
        differences computed beside the adder."""
        m = self._m
        mb, eb, width, abits = self._float_widths(partial)
        man = self._cut.data(signed(mb), "accm" + sfx)
        exp = self._cut.data(eb, "acce" + sfx)
        dif = self._cut.data(signed(eb + 2), "accd" + sfx)
        later, over = self._cut.data(1, "accl" + sfx), self._cut.data(1, "acco" + sfx)
        if emax_next is None:
            m.d.comb += Cat(dif, later, over).eq(_difference(exp - emax, len(dif), abits))
        top = Signal(eb, name="accx" + sfx)
        m.d.comb += top.eq(Mux(later, emax, exp))
        amount = Mux(over, (1 << abits) - 1, Mux(later, ~dif, dif)[:abits])
        shifted = Signal(signed(width), name="acch" + sfx)
        m.d.comb += shifted.eq(Mux(later, man >> 1, partial) >> amount)
        total = Signal(signed(width), name="accs" + sfx)
        m.d.comb += total.eq(shifted + Mux(later, partial, man))
        picks = _normalization_picks(total, mb, top=True)
        new_man = Signal(signed(mb), name="accnm" + sfx)
        new_exp = Signal(eb, name="accne" + sfx)
        m.d.comb += new_man.eq(_one_hot_select(picks, [total >> i for i in range(len(picks))]))
        m.d.comb += new_exp.eq(_one_hot_select(picks, [top + i for i in range(len(picks))]))
        self._group_update([man, exp], [0, 0], [new_man, new_exp])
        if emax_next is not None:
            # Next cycle's difference for each possible new exponent (top + inc), chosen by the
            # same picks as the exponent; the reset and idle cases need no pick.
            ahead = Signal(signed(eb + 2), name="accy" + sfx)
            m.d.comb += ahead.eq(top - emax_next)
            flags = [_difference(ahead + i, len(dif), abits) for i in range(len(picks))]
            self._group_update([Cat(dif, later, over)],
                               [_difference(-emax_next, len(dif), abits)],
                               [_one_hot_select(picks, flags)],
                               [_difference(exp - emax_next, len(dif), abits)])
        return new_man, new_exp

    def _unnormalized_group(self, partial: Value, emax: Value, ahead: list[Value] | None,
                            sfx: str) -> tuple[Signal, Signal]:
        """BitMoD's floating group accumulator (`models.bitmod_accumulate_step`) with the
        unnormalized loop (``loop="unnormalized"``): the group value after this cycle's term
        as (sum, exponent of its LSB), not yet normalized (the dequantizer clears the bits the
        normalization drops, `_BackEnd.pe`).

        The loop keeps the sum ``total`` unnormalized: the model's ``(total >> inc) >> s`` is
        ``total >> (inc + s)`` (floor shifts compose), so the normalization shift ``inc`` of
        the previous sum and the alignment shift of this cycle are one shift, split into the
        large alignment part known from registers (the exponent difference, computed a cycle
        ahead from the exponent the operand register loads next, as ``ahead`` = that exponent
        minus each possible shift; None when the operand is not registered: then here), which
        runs beside the leading-one detection
        of the stored sum, and a small part (0..max inc) selected by it. With ``X`` the stored
        sum's exponent, ``e`` the operand's and ``d = e - X``: the new exponent is
        ``max(X + inc, e)``, the stored sum is shifted by ``max(inc, d)``, the operand by
        ``max(inc - d, 0)``."""
        m = self._m
        mb, eb, width, abits = self._float_widths(partial)
        total_reg = self._cut.data(signed(width), "acct" + sfx)
        base = self._cut.data(eb, "accx" + sfx)  # exponent of the stored sum's LSB
        picks = _normalization_picks(total_reg, mb)
        incs = range(len(picks))
        # Exponent difference flags of the coming step (`_difference_flags`).
        flags = self._cut.data(len(incs) + abits, "accf" + sfx)
        if ahead is None:
            m.d.comb += flags.eq(_difference_flags(base - emax, len(incs), abits))
        later, le0, ge = flags[0], flags[1], flags[2:len(incs)]
        amount = flags[len(incs):]
        nearer = [le0, later, *ge]  # d >= i for each inc i
        big_t = Signal(signed(width), name="accbt" + sfx)  # stored sum >> d (d > 0)
        big_p = Signal(signed(width), name="accbp" + sfx)  # operand >> -d (d <= 0)
        m.d.comb += [big_t.eq((total_reg >> 1) >> amount), big_p.eq(partial >> amount)]
        # For each normalization shift inc = i, both sides' shifted values, ready beside the
        # leading-one detection (only the registered flags and the large shift feed them): the
        # stored sum by max(i, d), the operand by max(i - d, 0); the picks select one of each.
        nears = []  # the operand's, when d > 0
        for i in incs:
            near = partial >> max(i - 1, 0)  # d = 1; a larger d shifts the operand less
            for j in range(2, i + 1):
                near = Mux(nearer[j], partial >> (i - j), near)
            nears.append(near)
        total = Signal(signed(width), name="accs" + sfx)
        sums = [Mux(later & nearer[i], big_t, total_reg >> i) for i in incs]
        parts = [Mux(later, near, big_p >> i) for i, near in zip(incs, nears, strict=True)]
        side_t, side_p = _one_hot_select(picks, sums), _one_hot_select(picks, parts)
        m.d.comb += total.eq(side_t.as_signed() + side_p.as_signed())
        new_base = Signal(eb, name="accne" + sfx)
        m.d.comb += new_base.eq(_one_hot_select(
            picks, [Mux(nearer[i], emax, base + i) for i in incs]))
        self._group_update([total_reg, base], [0, 0], [total, new_base])
        if ahead is not None:
            # The coming step's flags for each possible new exponent (base + i, or emax when
            # the operand's is above), chosen by the same picks; reset and idle need no pick.
            rise = _difference_flags(emax - ahead[0], len(incs), abits)
            cands = [Mux(nearer[i], rise, _difference_flags(base - ahead[i], len(incs), abits))
                     for i in incs]
            cases = [_difference_flags(-ahead[0], len(incs), abits),
                     _one_hot_select(picks, cands),
                     _difference_flags(base - ahead[0], len(incs), abits)]
            self._group_update([flags], *([v] for v in cases))
        return total, new_base

    def _lagged_group(self, partial: Value, emax: Value, ahead: list[Value] | None,
                      sfx: str) -> tuple[Signal, Signal]:
        """BitMoD's floating group accumulator (`models.bitmod_accumulate_step`) with the
        normalization lagged a cycle (``loop="decoded"``): the group value after this cycle's
        term as (sum, exponent of its LSB), not normalized (the dequantizer clears the bits
        the normalization drops, as for the unnormalized loop).

        The unnormalized loop stores the sum ``T`` at its LSB's exponent ``B`` and shifts it
        next cycle by ``max(inc, d)`` (``inc`` its normalization, ``d = e - B`` the operand's
        exponent above it), the operand by ``max(inc - d, 0)``: both amounts wait for the
        leading-one detection of ``T``. This loop stores ``W = T << r`` instead, at the frame
        ``F = B - r`` (``r``, 0..3, the part of the normalization not applied yet: the low
        ``r`` bits of ``W`` are 0), and with ``D = e - F`` adds

            W' = (W >> max(D, r)) & ~(2**r' - 1)  +  (P >> max(r - D, 0)) & ~(2**r' - 1)

        at the frame ``max(B, e)``, with ``r' = max(L - max(D, r), 0)``, ``L`` the
        normalization of ``W`` (its leading one): the same sum as the unnormalized loop's,
        shifted left by ``r'``. Both shift amounts come from registers (decoded a cycle
        ahead for each candidate ``r'``, picked at the end of the cycle, as the unnormalized
        loop's); the cycle's leading-one detection only masks the sides' low 3 bits. The
        stored sum's low-zero tests (its exactly -2**k case) are registered, found beside the
        adder from its operands (`_sum_low_zero_parts`)."""
        m, c, run = self._m, self._c, self._run
        lean = self._cut.lean_reset
        mb, eb, width, _ = self._float_widths(partial)
        ww = width + 1  # W = T << r' stays below 2**(width - 1) + 2**(len(partial) - 1)
        n_w, n_p, cands = ww - 1, len(partial) - 1, _float_shifts(c)
        w_reg = self._cut.data(signed(ww), "acct" + sfx)
        frame = self._cut.data(eb, "accx" + sfx)  # F: exponent of W's LSB
        base = self._cut.data(eb, "accb" + sfx)  # F + r: exponent of T's LSB
        pend = Signal(cands - 1, name="accr" + sfx, reset_less=lean)  # r, thermometer
        zeros = Signal(ww - mb, name="accz" + sfx, init=(1 << (ww - mb)) - 1, reset_less=lean)
        dlen = 2 * n_w + 2 * n_p + 1
        if ahead is None:
            dec = Signal(dlen, name="accdec" + sfx)
            m.d.comb += dec.eq(_thermometer_select(list(pend), _lagged_amounts(
                m, "accda" + sfx, emax - frame, cands, n_w, n_p)))
        else:
            # Reset as after a hand-off (below).
            dec = Signal(dlen, name="accdec" + sfx, init=1 << (2 * n_w) | 1 << (dlen - 1),
                         reset_less=lean)
        dec_w, dec_p, later = dec[:2 * n_w], dec[2 * n_w:-1], dec[-1]
        # The pending shift r' of this step: W's leading one against its shift max(D, r)
        # (one-hot in the decoded amount's low bits); masks[j]: r' > j.
        reach = _normalization_reach(w_reg, mb, zeros=list(zeros))
        masks = _named(m, tuple(
            Cat(*[dec_w[a] & reach[a + j] for a in range(cands - j)]).any()
            for j in range(cands - 1)), "accmk" + sfx)
        big_w = _decoded_shift(w_reg, dec_w, ww)
        big_p = _decoded_shift(partial, dec_p, ww)
        side_w, side_p = _named(m, tuple(
            Cat(*[v[j] & ~masks[j] for j in range(cands - 1)], v[cands - 1:])
            for v in (big_w, big_p)), "accsd" + sfx)
        total = Signal(signed(ww), name="accs" + sfx)
        m.d.comb += total.eq(side_w.as_signed() + side_p.as_signed())
        f_step = Signal(eb, name="accf" + sfx)
        m.d.comb += f_step.eq(Mux(later, emax, base))
        new_base = Signal(eb, name="accne" + sfx)
        m.d.comb += new_base.eq(_thermometer_select(list(masks),
                                                    [f_step + i for i in range(cands)]))
        groups = -(-(mb - 1) // 4)
        parts = _sum_low_zero_parts(side_w, side_p, mb - 1, ww - 2)
        # A cycle without a step applies the pending shift (W >> r at the frame F + r, its
        # low-zero tests r thresholds up): the state then has r = 0 and the frame B, as a step
        # whose operand is not above leaves it, so the next amounts come from one difference.
        # The tests past the top threshold read 0: W >> r is below 2**(width - 2) in
        # magnitude, so the top threshold's reach is 0 whatever its test says when W != 0.
        self._group_update(
            [w_reg, frame, base, pend, zeros], [0, 0, 0, 0, zeros.init],
            [total, f_step, new_base, Cat(*masks),
             Cat(*[parts[:groups + i].all() for i in range(ww - mb)])],
            [_thermometer_select(list(pend), [w_reg >> i for i in range(cands)]), base, base,
             0, _thermometer_select(list(pend), [Cat(zeros[i:], C(0, i))
                                                 for i in range(cands)])])
        if ahead is not None:
            # The next step's amounts, for each candidate r' (this step's; 0 without a step):
            # its operand's exponent less the frame the stored sum will have, this operand's
            # exponent (a step whose operand is above the stored sum) or B (any other step, or
            # none), picked before one subtraction by a LUT of registers. After a hand-off the
            # sum is 0 at frame 0: a constant, amount 0 for both sides (W is 0) and the operand
            # above (the frame becomes its exponent).
            clear, step, e_next = self._g_clear, self._step, ahead[0]
            rise = Signal(name="accrs" + sfx)
            m.d.comb += rise.eq(step & later)
            # Exponents are below 2**eb (and the operand's below 2**len(emax)): their
            # differences fit eb + 1 bits, so each comparison is a two-level LUT function.
            xw = max(eb, len(emax)) + 1
            options = _lagged_amounts(m, "accda" + sfx,
                                      (e_next - Mux(rise, emax, base))[:xw].as_signed(),
                                      cands, n_w, n_p)
            with m.If(run):
                m.d.sync += dec.eq(Mux(clear, dec.init, _thermometer_select(
                    [step & mk for mk in masks], options)))
        return total, f_step
