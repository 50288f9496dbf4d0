"""Bit-serial dequantization unit: a group partial sum times its integer group scale.

As in BitMoD: the scale's magnitude is consumed one bit per cycle, MSB first
(``r = 2r + bit * |psum|``), and the sign of the result is the partial sum's sign xor the scale's
sign. ``scale_bits`` cycles per product (`hwsim.sim.pe_cycles.dequant_cycles`). The BitMoD PE
contains the same datapath per PE (`hwsim.hw.rtl.bitmod`).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import ClassVar

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring

from hwsim.hw.rtl._common import IntRanges, SerialControl, check_ints, stream_signature

__all__ = ["BitSerialDequant"]


class BitSerialDequant(wiring.Component):
    """Streaming ``psum * (-1)**scale_neg * scale``.

    Ports: in_valid/in_ready; ``psum`` (signed, ``in_width``); ``scale`` (unsigned,
    ``scale_bits``); ``scale_neg``; out_valid/out_ready; ``out`` (signed, ``in_width +
    scale_bits`` bits: |psum| <= 2**(in_width - 1) times a scale below 2**scale_bits fits).
    """

    RANGES: ClassVar[IntRanges] = MappingProxyType({"in_width": (2, 128), "scale_bits": (1, 16)})

    def __init__(self, in_width: int = 56, scale_bits: int = 8):
        check_ints(self.RANGES, in_width=in_width, scale_bits=scale_bits)
        self.in_width, self.scale_bits = in_width, scale_bits
        self.out_width = in_width + scale_bits
        super().__init__(stream_signature(
            {"psum": signed(in_width), "scale": scale_bits, "scale_neg": 1},
            {"out": signed(self.out_width)}))

    def elaborate(self, platform):
        m = Module()
        ctl = SerialControl(m, self, steps=self.scale_bits, beats=1)
        mag = Signal(self.in_width)
        scale = Signal(self.scale_bits)
        neg = Signal()
        r = Signal(self.out_width)
        nxt = Signal(self.out_width)
        m.d.comb += nxt.eq((r << 1) + Mux(scale[-1], mag, 0))
        with m.If(ctl.accept):
            m.d.sync += [
                mag.eq(Mux(self.psum < 0, -self.psum, self.psum)),
                neg.eq((self.psum < 0) ^ self.scale_neg),
                scale.eq(self.scale),
                r.eq(0),
            ]
        with m.Elif(ctl.step):
            m.d.sync += [r.eq(nxt), scale.eq(scale << 1)]
        with m.If(ctl.finish):
            m.d.sync += self.out.eq(Mux(neg, -nxt, nxt))
        return m
