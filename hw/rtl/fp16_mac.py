"""Bit-parallel FP16 MACs: FP16 x INT (the multiplier-per-lane PE that a bit-serial PE is weighed
against) and FP16 x FP16 (`FP16MAC`, the FP16 baseline, at the end of this module).

`FP16IntMAC` is the PE of ANT's and OliVe's FP16 x INT8 arrays (the simulator's ``mac`` kind
with 16-bit activations). Every lane multiplies the FP16 activation's 11-bit significand by the
whole ``|weight|`` in one cycle (one ``11 x weight_bits`` unsigned multiplier per lane, since
``|-2**(b-1)|`` needs b bits: a DSP block on an FPGA), where the BitMoD PE spends one cycle per
weight term on a shift. Accumulation follows the BitMoD PE's scheme (same LSB, alignment with
guard bits, worst-case accumulator), but alignment is on the activation's exponent alone, so
each lane is ``weight_bits - 1`` bits wider than a BitMoD lane (21 against 14 bits for INT8 with
3 guard bits): wider shifters and adders are part of the bit-parallel cost.

Per cycle (one beat of ``lanes`` pairs, see `hwsim.sim.pe_cycles.mac_pe_cycles`):

1. lane product ``±mant * |w|`` at exponent ``exp_eff`` (the weight is an integer);
2. ``emax`` = the largest exponent among lanes with a non-zero product; each product, with
   ``align_bits`` guard bits, is shifted right by ``emax - exp_eff`` (truncating its magnitude
   toward zero) and the signed lanes are summed;
3. ``acc += partial << emax``, a fixed-point accumulator with LSB 2**-(25 + align_bits)
   activation units x integer weight units, wide enough for the worst case (every product at
   65504 x the most negative weight), so it cannot overflow.

The output is the raw dot product of ``k`` weights; the group scale is applied outside the PE
(as for `hwsim.hw.rtl.mac.IntMAC`). FP16 zero and subnormals are exact; Inf and NaN contribute 0
and set the sticky ``nonfinite`` flag of the output (as in the BitMoD PE).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import MappingProxyType
from typing import ClassVar

from amaranth.hdl import C, Cat, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring

from hwsim.errors import HwsimError
from hwsim.hw.rtl._common import (
    IntRanges,
    SerialControl,
    check_ints,
    decode_fp16,
    lanes_of,
    signed_bits,
    stream_signature,
    tree_max,
)
from hwsim.hw.rtl.fp16_arith import FP16_QNAN, fp16_add, fp16_add_exact, fp16_mul
from hwsim.hw.rtl.mac import mac_out_width
from hwsim.hw.rtl.terms import FP16_EXP_OFFSET

__all__ = [
    "FP16MAC",
    "FP16_FP_MAC_PIPELINE",
    "FP16_INT_ACCUMULATORS",
    "FP16_MAC_PIPELINE",
    "FP16IntMAC",
    "accumulate_outputs",
    "check_fp16_int_accumulator",
    "fp16_add_product",
    "fp16_int_mac_bound",
    "fp16_product_specials",
]

FP16_MAC_PIPELINE = 0  # default: unpipelined (the gate-level area calibration is built on it)
# The FP16 x INT MAC's accumulators: fixed point, or an FP16 register with one rounding per add.
FP16_INT_ACCUMULATORS = ("exact", "fp16")

_MAX_FP16_MANT = 2047
_MAX_EXP_EFF = 30  # largest finite FP16 exponent field


def fp16_int_mac_bound(weight_bits: int, align_bits: int) -> int:
    """Largest |a x w| in accumulator LSBs: significand 2047 at exponent 30 times the most
    negative weight, with the guard bits."""
    return _MAX_FP16_MANT << (weight_bits - 1 + _MAX_EXP_EFF + align_bits)


def check_fp16_int_accumulator(accumulator: str, lanes: int, pipeline: int, align_bits: int,
                               **_others: int) -> None:
    """HwsimError unless ``accumulator`` is allowed with the other parameters (fp16: one
    lane, pipeline 0 or 1, align_bits at its default, as nothing is aligned)."""
    if accumulator not in FP16_INT_ACCUMULATORS:
        raise HwsimError(f"parameter accumulator = {accumulator!r} is not allowed; "
                         f"allowed: {', '.join(FP16_INT_ACCUMULATORS)}")
    if accumulator == "fp16" and (lanes != 1 or pipeline > 1 or align_bits != 3):
        raise HwsimError("parameter accumulator = 'fp16' needs lanes = 1, pipeline 0 or 1 "
                         f"and align_bits 3 (unused), not lanes = {lanes}, pipeline = "
                         f"{pipeline}, align_bits = {align_bits}")


class FP16IntMAC(wiring.Component):
    """FP16 activation x signed INT weight MAC, ``lanes`` products per cycle.

    Ports (packed vectors, lane 0 in the LSBs):
        in_valid, in_ready: input handshake, one beat per cycle.
        a: ``lanes`` FP16 bit patterns.
        w: ``lanes`` two's-complement weights of ``weight_bits``.
        out_valid, out_ready: output handshake.
        out: the sum of the ``k`` products, ``out_width`` bits, LSB = 2**`lsb_exp`.
        nonfinite: an Inf/NaN activation reached this output.

    With ``accumulator="fp16"`` (one lane) the MAC is the published FP16 x INT8 MAC's kind
    (BitMoD artifact, ``fma-fp16-int8``): each exact product is added into an FP16
    accumulator with one rounding (IEEE, to nearest even, `fp16_arith.fp16_add_exact`) and
    ``out`` is the FP16 bit pattern of the sum (NaN: 0x7E00; Inf and NaN as IEEE says).

    Args:
        lanes: products per cycle.
        k: products per output (reduction length; idle lanes of a last beat must carry 0).
        weight_bits: bits of a weight (INT2..INT8).
        align_bits: guard bits kept below the significand at exponent alignment.
        pipeline: register stages: after the multipliers (1), and with the exact accumulator
            after alignment and the lanes' sum (2), after the exponent maximum (3), after the
            alignment shifters (4); each adds one cycle of fill latency
            (`pipeline_fill_cycles`). Measured on ECP5-25k (4 lanes, DSPs, median of 3 seeds):
            39.1 MHz at 2, 94.6 MHz at 4 (critical: a lane's alignment shift).
        accumulator: ``"exact"`` (fixed point, `out_width` bits) or ``"fp16"``.
    """

    RANGES: ClassVar[IntRanges] = MappingProxyType(
        {"pipeline": (0, 4), "lanes": (1, 64), "k": (1, 1 << 16), "weight_bits": (2, 8),
         "align_bits": (0, 8)})

    def __init__(self, lanes: int = 1, k: int = 128, weight_bits: int = 8, align_bits: int = 3,
                 pipeline: int = FP16_MAC_PIPELINE, accumulator: str = "exact"):
        check_fp16_int_accumulator(accumulator, lanes, pipeline, align_bits)
        self.accumulator = accumulator
        check_ints(self.RANGES, pipeline=pipeline, lanes=lanes, k=k, weight_bits=weight_bits,
                   align_bits=align_bits)
        self.pipeline, self.lanes, self.k = pipeline, lanes, k
        self.weight_bits, self.align_bits = weight_bits, align_bits
        self.beats = math.ceil(k / lanes)
        out = 16 if accumulator == "fp16" else signed(self.out_width)
        super().__init__(stream_signature({"a": lanes * 16, "w": lanes * weight_bits},
                                          {"out": out, "nonfinite": 1}))

    @property
    def product_bound(self) -> int:
        """Largest |mant x w|: significand 2047 times the most negative weight."""
        return _MAX_FP16_MANT << (self.weight_bits - 1)

    @property
    def partial_width(self) -> int:
        """Width of the aligned lane sum of one cycle."""
        return signed_bits(self.lanes * (self.product_bound << self.align_bits))

    @property
    def out_width(self) -> int:
        """Accumulator and output width: every product of every beat at its largest, at the
        largest exponent, cannot overflow it (16: an FP16 accumulator)."""
        if self.accumulator == "fp16":
            return 16
        return mac_out_width(self.lanes, self.k, fp16_int_mac_bound(self.weight_bits,
                                                                   self.align_bits))

    @property
    def lsb_exp(self) -> int:
        """Output LSB = 2**lsb_exp activation units x weight units."""
        return -(FP16_EXP_OFFSET + self.align_bits)

    def elaborate(self, platform):
        m = Module()
        ctl = SerialControl(m, self, steps=1, beats=self.beats, latency=self.pipeline)
        a_r, w_r = ctl.hold(self.a, self.w)

        lanes_in = []
        nonzero = []  # the product is not 0: known from the operands, beside the multiplier
        for i, (a, w) in enumerate(zip(lanes_of(a_r, self.lanes, 16),
                                       lanes_of(w_r, self.lanes, self.weight_bits), strict=True)):
            sign, exp_eff, mant, nf = decode_fp16(a)
            w_neg = w[-1]
            w_mag = Signal(self.weight_bits, name=f"wmag_{i}")  # |-2**(b-1)| fits unsigned
            m.d.comb += w_mag.eq(Mux(w_neg, -w.as_signed(), w))
            prod = Signal(range(self.product_bound + 1), name=f"prod_{i}")
            m.d.comb += prod.eq(mant * w_mag)
            lanes_in.append((prod, exp_eff, sign ^ w_neg, nf))
            nonzero.append((mant != 0) & (w != 0))
        if self.accumulator == "fp16":
            return self._fp16_accumulate(m, ctl, a_r, w_r, lanes_in[0])
        if self.pipeline >= 1:  # the multipliers' output registers
            lanes_in, nonzero = ctl.stage((lanes_in, nonzero), "mul_r")
        exps = [e for _, e, _, _ in lanes_in]

        emax = Signal(5)
        m.d.comb += emax.eq(tree_max([Mux(v, e, 0) for e, v in zip(exps, nonzero, strict=True)]))
        if self.pipeline >= 3:  # the exponent maximum, before the alignment shifters
            lanes_in, nonzero, emax = ctl.stage((lanes_in, nonzero, emax), "emax_r")
        lanes = []
        for i, ((prod, e, neg, _), nz) in enumerate(zip(lanes_in, nonzero, strict=True)):
            guarded = Cat(C(0, self.align_bits), prod) if self.align_bits else prod
            mag = guarded >> (emax - e)[:5]
            lane = Signal(signed(self.partial_width), name=f"lane_{i}")
            m.d.comb += lane.eq(Mux(nz, Mux(neg, -mag, mag), 0))
            lanes.append(lane)
        nf_now = Cat(*[nf for _, _, _, nf in lanes_in]).any()
        if self.pipeline >= 4:  # the aligned lanes, before their adder tree
            lanes, emax, nf_now = ctl.stage((lanes, emax, nf_now), "lane_r")
        partial = Signal(signed(self.partial_width))
        m.d.comb += partial.eq(sum(lanes[1:], lanes[0]))
        if self.pipeline >= 2:  # after alignment and the lanes' adder tree
            partial, emax, nf_now = ctl.stage((partial, emax, nf_now), "sum_r")

        acc = Signal(signed(self.out_width))
        total = Signal(signed(self.out_width))
        m.d.comb += total.eq(acc + (partial << emax))
        return self._accumulate(m, ctl, acc, total, nf_now)


    def _fp16_accumulate(self, m, ctl, a, w, lane):
        """One exact product per cycle into an FP16 accumulator, rounded once."""
        prod, exp_eff, neg, nf = lane
        y_nan, y_inf = fp16_product_specials(a, nf, w == 0)
        if self.pipeline:  # the multiplier's output register
            prod, exp_eff, neg, nf, y_nan, y_inf = ctl.stage(
                (prod, exp_eff, neg, nf, y_nan, y_inf), "mul_r")
        acc = Signal(16)
        total = Signal(16)
        m.d.comb += total.eq(fp16_add_product(
            m, acc, neg, prod, exp_eff + C(-FP16_EXP_OFFSET, signed(6)), y_nan, y_inf, "add"))
        return self._accumulate(m, ctl, acc, total, nf)

    def _accumulate(self, m: Module, ctl: SerialControl, acc: Signal, total: Value,
                    nf: Value) -> Module:
        """``acc`` takes ``total`` every step (either accumulator): `accumulate_outputs`."""
        accumulate_outputs(m, ctl, [(acc, total, self.out)], nf, self.nonfinite)
        return m


def fp16_product_specials(a: Value, nonfinite: Value, w_zero: Value) -> tuple[Value, Value]:
    """(NaN, Inf) of FP16 ``a`` times a finite weight (``nonfinite``: ``a`` is Inf or NaN;
    ``w_zero``: the weight is zero): NaN x w and Inf x 0 are NaN, Inf x w != 0 is Inf."""
    nan_a = (a[10:15] == 31) & (a[:10] != 0)
    y_nan = nan_a | (nonfinite & w_zero)
    return y_nan, nonfinite & ~y_nan


def fp16_add_product(m: Module, acc: Value, neg: Value, mag: Value, exp: Value, y_nan: Value,
                     y_inf: Value, name: str) -> Value:
    """FP16 ``acc`` plus an FP16 x weight product: ``(-1)**neg * mag * 2**exp`` rounded once
    (`fp16_arith.fp16_add_exact`), or the product's NaN / Inf (`fp16_product_specials`) with
    IEEE's rules (Inf - Inf is NaN; every NaN 0x7E00)."""
    summed = fp16_add_exact(m, acc, neg, mag, exp, name)
    acc_nan = (acc[10:15] == 31) & (acc[:10] != 0)
    acc_inf = (acc[10:15] == 31) & (acc[:10] == 0)
    invalid = y_nan | (y_inf & (acc_nan | (acc_inf & (acc[15] != neg))))
    return Mux(invalid, FP16_QNAN, Mux(y_inf, Cat(C(0x7C00, 15), neg), summed))


def accumulate_outputs(m: Module, ctl: SerialControl,
                       accumulators: Sequence[tuple[Signal, Value, Signal]], nf: Value,
                       nonfinite: Signal) -> None:
    """Each ``(acc, total, out)``: ``acc`` takes ``total`` every step and clears as ``out``
    takes it at an output's last step; ``nonfinite`` is sticky over the output's steps."""
    nf_acc = Signal()
    with m.If(ctl.finish):
        m.d.sync += [s for acc, total, out in accumulators for s in (out.eq(total), acc.eq(0))]
        m.d.sync += [nonfinite.eq(nf_acc | nf), nf_acc.eq(0)]
    with m.Elif(ctl.step):
        m.d.sync += [acc.eq(total) for acc, total, _ in accumulators]
        m.d.sync += nf_acc.eq(nf_acc | nf)


FP16_FP_MAC_PIPELINE = 1  # default: the product registered, as the published MAC's multiplier


class FP16MAC(wiring.Component):
    """FP16 x FP16 MAC: an FP16 multiplier and an FP16 adder into an FP16 accumulator.

    The FP16 baseline PE of the BitMoD comparison ("FP16 MAC (mul + add)"): each product is
    rounded to FP16 and added into the FP16 accumulator with a second rounding (IEEE
    binary16, round to nearest even, `hwsim.hw.rtl.fp16_arith`), one product per cycle.

    Ports: in_valid/in_ready, ``a`` and ``w`` (FP16 bit patterns), out_valid/out_ready,
    ``out``: the FP16 sum of the ``k`` products, accumulated in order from +0 (a NaN result is
    0x7E00).

    Args:
        lanes: products per cycle: 1 (one FP16 multiplier and adder).
        k: products per output.
        pipeline: 1 registers the rounded product before the adder (one cycle of fill
            latency), 0 multiplies and adds in one cycle.
    """

    RANGES: ClassVar[IntRanges] = MappingProxyType(
        {"lanes": (1, 1), "k": (1, 1 << 16), "pipeline": (0, 1)})

    def __init__(self, lanes: int = 1, k: int = 128, pipeline: int = FP16_FP_MAC_PIPELINE):
        check_ints(self.RANGES, lanes=lanes, k=k, pipeline=pipeline)
        self.lanes, self.k, self.pipeline = lanes, k, pipeline
        super().__init__(stream_signature({"a": 16, "w": 16}, {"out": 16}))

    def elaborate(self, platform):
        m = Module()
        ctl = SerialControl(m, self, steps=1, beats=self.k, latency=self.pipeline)
        a_r, w_r = ctl.hold(self.a, self.w)
        prod = fp16_mul(m, a_r, w_r, "mul")
        if self.pipeline:
            prod = ctl.stage(prod, "prod_r")
        acc = Signal(16)
        total = fp16_add(m, acc, prod, "add")
        with m.If(ctl.finish):
            m.d.sync += [self.out.eq(total), acc.eq(0)]
        with m.Elif(ctl.step):
            m.d.sync += acc.eq(total)
        return m
