"""Bipolar-INT PE: n-bit bipolar weights against signed INT activations, by bit planes.

A bipolar code u of ``weight_bits`` bits has the value ``sum_j 2**j (2 u_j - 1) = 2u - (2**n -
1)`` (odd, no zero). Each cycle the PE takes one (activation plane i, weight plane j) pair of a
beat of ``lanes`` elements and adds

    ±2**(i + j) * (2 * popcount(a_i AND u_j) - popcount(a_i))

(the ±1 dot product of plane j with the 0/1 activation bits; minus for the two's-complement sign
plane i = act_bits - 1). So a beat takes ``weight_bits * act_bits`` cycles, as
`hwsim.sim.pe_cycles.bipolar_pe_cycles` states; inner loop over activation planes.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import ClassVar

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring

from hwsim.hw.rtl._common import (
    IntRanges,
    SerialControl,
    check_ints,
    lanes_of,
    signed_bits,
    stream_signature,
)

__all__ = ["BipolarPE", "bipolar_out_width"]


def bipolar_out_width(lanes: int, weight_bits: int, act_bits: int, k: int) -> int:
    """Accumulator/output width of `BipolarPE`.

    Every step adds ``|2 popcount(a_i & u_j) - popcount(a_i)| <= lanes`` at weight 2**(i + j),
    so any partial sum (not only the final dot product) is at most
    ``beats * lanes * (2**act_bits - 1) * (2**weight_bits - 1)`` in magnitude.
    """
    beats = math.ceil(k / lanes)
    return signed_bits(beats * lanes * ((1 << act_bits) - 1) * ((1 << weight_bits) - 1))


class BipolarPE(wiring.Component):
    """Bit-plane-serial bipolar-INT dot-product PE.

    Ports: in_valid/in_ready; ``a``: lanes two's-complement activations of ``act_bits``;
    ``w``: lanes unsigned bipolar codes of ``weight_bits`` (lane 0 in the LSBs);
    out_valid/out_ready; ``out``: the dot product over ``k`` elements (``out_width`` bits).
    """

    RANGES: ClassVar[IntRanges] = MappingProxyType(
        {"lanes": (1, 64), "weight_bits": (1, 8), "act_bits": (2, 16), "k": (1, 1 << 16)})

    def __init__(self, lanes: int = 8, weight_bits: int = 4, act_bits: int = 8, k: int = 64):
        check_ints(self.RANGES, lanes=lanes, weight_bits=weight_bits, act_bits=act_bits, k=k)
        self.lanes, self.weight_bits, self.act_bits, self.k = lanes, weight_bits, act_bits, k
        self.beats = math.ceil(k / lanes)
        self.steps = weight_bits * act_bits
        self.out_width = bipolar_out_width(lanes, weight_bits, act_bits, k)
        super().__init__(stream_signature({"a": lanes * act_bits, "w": lanes * weight_bits},
                                          {"out": signed(self.out_width)}))

    def elaborate(self, platform):
        m = Module()
        ctl = SerialControl(m, self, steps=self.steps, beats=self.beats)
        a_r, w_r = ctl.hold(self.a, self.w)
        # Step s -> activation plane i (inner) and weight plane j.
        i = Signal(range(max(self.act_bits, 2)))
        j = Signal(range(max(self.weight_bits, 2)))
        with m.If(ctl.step):
            last_i = i == self.act_bits - 1
            last_j = j == self.weight_bits - 1
            m.d.sync += i.eq(Mux(last_i, 0, i + 1))
            with m.If(last_i):
                m.d.sync += j.eq(Mux(last_j, 0, j + 1))
        a_plane = Cat(x.bit_select(i, 1) for x in lanes_of(a_r, self.lanes, self.act_bits))
        u_plane = Cat(x.bit_select(j, 1) for x in lanes_of(w_r, self.lanes, self.weight_bits))
        both = sum((a_plane & u_plane)[n] for n in range(self.lanes))
        ones = sum(a_plane[n] for n in range(self.lanes))
        plane_dot = Signal(signed(signed_bits(self.lanes)))
        m.d.comb += plane_dot.eq((both << 1) - ones)
        signed_dot = Mux(i == self.act_bits - 1, -plane_dot, plane_dot)
        contrib = signed_dot << (i + j)
        acc = Signal(signed(self.out_width))
        total = Signal(signed(self.out_width))
        m.d.comb += total.eq(acc + contrib)
        with m.If(ctl.finish):
            m.d.sync += [self.out.eq(total), acc.eq(0)]
        with m.Elif(ctl.step):
            m.d.sync += acc.eq(total)
        return m
