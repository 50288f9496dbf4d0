"""A narrow I/O harness placed around a block so its pin count does not grow with its size.

A bare 8x8 PE array needs about 420 pins; an ECP5 in CABGA381 bonds 197 and an iCE40 UP5K in
SG48 only 39. The harness keeps every port of the block registered and observable (so Yosys
removes nothing) behind ``2 * io_width + 3`` pins (``din``, ``dout``, ``load``, ``clk``, ``rst``):

- inputs: one shift register holding all the block's input ports, concatenated and padded to
  a multiple of ``io_width``; it shifts in ``din`` every cycle and drives the ports directly,
  so every block input starts at a flip-flop;
- outputs: one register holding all the block's output ports; ``load`` captures them in
  parallel, otherwise it shifts out ``io_width`` bits per cycle on ``dout``, so every block
  output ends at a flip-flop.

What it adds to the block's own numbers: exactly `WrapperCost.ff` flip-flops (both registers)
and about one LUT per output bit (the capture-or-shift multiplexer); `WrapperCost` says it, so
a report can subtract it. Timing paths from pins to registers are short and rarely critical.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["IoHarness", "WrapperCost", "port_bits"]


@dataclass(frozen=True)
class WrapperCost:
    """Resources the harness adds around the block.

    Attributes:
        in_bits: input bits of the block (all ``In`` ports).
        out_bits: output bits of the block (all ``Out`` ports).
        io_width: bits shifted per cycle on ``din`` / ``dout``.
        ff: flip-flops added: both registers, padded to whole ``io_width`` words.
        lut_approx: LUTs added, about one 2:1 multiplexer per captured output bit.
        pins: top-level pins (``din``, ``dout``, ``load``, ``clk``, ``rst``).
    """

    in_bits: int
    out_bits: int
    io_width: int
    ff: int
    lut_approx: int
    pins: int


def _padded(bits: int, width: int) -> int:
    return max(width, -(-bits // width) * width)


def port_bits(block: wiring.Component) -> tuple[int, int]:
    """Total input and output bits of a component's signature (``(in_bits, out_bits)``)."""
    in_bits = out_bits = 0
    for _path, member, value in block.signature.flatten(block):
        width = len(Value.cast(value))
        if member.flow == wiring.In:
            in_bits += width
        else:
            out_bits += width
    return in_bits, out_bits


class IoHarness(wiring.Component):
    """Top-level harness: serial operands in, captured results out (see the module docstring).

    Ports:
        din: In(io_width), operand bits shifted into the input register each cycle.
        load: In(1), capture all block outputs into the output register this cycle.
        dout: Out(io_width), the low word of the output register (shifts when ``load`` is low).

    Args:
        block: the component to implement; it runs in the harness's ``sync`` domain.
        io_width: bits per cycle on ``din`` and ``dout`` (a positive integer).
    """

    def __init__(self, block: wiring.Component, io_width: int = 1) -> None:
        if not isinstance(io_width, int) or isinstance(io_width, bool) or io_width < 1:
            raise ValueError(f"io_width must be a positive integer, not {io_width!r}")
        self.block = block
        self.io_width = io_width
        in_bits, out_bits = port_bits(block)
        in_reg, out_reg = _padded(in_bits, io_width), _padded(out_bits, io_width)
        self.cost = WrapperCost(
            in_bits=in_bits,
            out_bits=out_bits,
            io_width=io_width,
            ff=in_reg + out_reg,
            lut_approx=out_bits,
            pins=2 * io_width + 3,
        )
        super().__init__({"din": In(io_width), "load": In(1), "dout": Out(io_width)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.block = block = self.block
        w = self.io_width
        ins, outs = [], []
        for _path, member, value in block.signature.flatten(block):
            (ins if member.flow == wiring.In else outs).append(Value.cast(value))

        shift_in = Signal(_padded(self.cost.in_bits, w))
        m.d.sync += shift_in.eq(Cat(shift_in[w:], self.din))
        offset = 0
        for port in ins:
            m.d.comb += port.eq(shift_in[offset : offset + len(port)])
            offset += len(port)

        shift_out = Signal(_padded(self.cost.out_bits, w))
        with m.If(self.load):
            m.d.sync += shift_out.eq(Cat(*outs))
        with m.Else():
            m.d.sync += shift_out.eq(shift_out >> w)
        m.d.comb += self.dout.eq(shift_out[:w])
        return m
