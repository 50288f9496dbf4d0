"""Bit-parallel MACs: INT8 x dINT4 (denormal value carried exactly) and a plain INT x INT MAC.

Both take ``lanes`` operand pairs per beat and accumulate ``k`` products per output (one beat per
cycle, see `hwsim.sim.pe_cycles.dint_mac_cycles` / `mac_pe_cycles`). The beat registers are the
multipliers' input registers; ``pipeline`` adds register stages, each one cycle of fill latency
(`pipeline_fill_cycles`) and none of throughput: the products (1: the multipliers' output
registers), the lanes' sum (2) and the first level of the lanes' adder tree (3, default). Built
for an ECP5 with DSPs (`hwsim.hw.rtl.primitives`), the input and product registers are the
MULT18X18D's own, so every stage holds at most one carry chain (measured clocks:
``hw/fpga/presets/README.md``).

dINT4 (an assumption, documented in the shared formats reference): two's-complement codes
-7..7, and the freed code 0b1000 decodes to a sub-LSB special value, ``special_half_lsb`` half
LSBs (default +1 = +0.5). The MAC computes in half-LSB units: each product is ``2 q a`` (or the
special times ``a``), so the accumulator carries one extra fraction bit and the denormal is
exact. In LUTs and gates the lane multiplies by the 4-bit code and selects the special's
product (a partial-product row fewer than a decoded 5-bit operand: 8-12% fewer LUT4 at 4 lanes,
`hwsim synth -t generic`, ``hw/fpga/presets/README.md``; 4% less ASIC area at the defaults,
``hw/asic/README.md``); into a DSP (either FPGA family, when the build may use them) it feeds
the decoded 5-bit operand, which costs the DSP nothing.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import ClassVar

from amaranth.hdl import C, Cat, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring

from hwsim.hw.rtl._common import (
    IntRanges,
    SerialControl,
    check_ints,
    lanes_of,
    signed_bits,
    stream_signature,
)
from hwsim.hw.rtl.primitives import FabricTarget, registered_product

__all__ = ["MAC_PIPELINE", "DIntMAC", "IntMAC", "dint_mac_bound", "int_mac_bound",
           "mac_out_width"]

MAC_PIPELINE = 3  # default: registered products, pairwise sums and lane sum


def mac_out_width(lanes: int, k: int, bound: int) -> int:
    """Accumulator/output width of a MAC whose every product has magnitude <= ``bound``.

    Worst case: all ``ceil(k / lanes) * lanes`` products (idle lanes included) at ``bound``.
    """
    return signed_bits(math.ceil(k / lanes) * lanes * bound)


def int_mac_bound(act_bits: int, weight_bits: int) -> int:
    """Largest |a * w|: both operands at their most negative code."""
    return (1 << (act_bits - 1)) * (1 << (weight_bits - 1))


def dint_mac_bound(special_half_lsb: int) -> int:
    """Largest |a * w| in half LSBs: a = -128 times 2 * 7 (or the special, if larger)."""
    return 128 * max(14, abs(special_half_lsb))


def _adder_level(values: list[Value]) -> list[Value]:
    """One level of a balanced adder tree: pairwise sums (an odd last value passes through)."""
    return [*(a + b for a, b in zip(values[0::2], values[1::2], strict=False)),
            *values[len(values) // 2 * 2:]]


class _MACBase(wiring.Component):
    """Shared ports: ``a`` (lanes x act_bits signed), ``w`` (lanes x weight_bits), ``out``."""

    RANGES: ClassVar[IntRanges] = MappingProxyType(
        {"lanes": (1, 64), "k": (1, 1 << 16), "pipeline": (0, 3)})

    def __init__(self, *, lanes: int, k: int, act_bits: int, weight_bits: int, bound: int,
                 pipeline: int):
        check_ints(self.RANGES, lanes=lanes, k=k, pipeline=pipeline)
        self.lanes, self.k, self.pipeline = lanes, k, pipeline
        self.act_bits, self.weight_bits = act_bits, weight_bits
        self.beats = math.ceil(k / lanes)
        self.out_width = mac_out_width(lanes, k, bound)
        super().__init__(stream_signature({"a": lanes * act_bits, "w": lanes * weight_bits},
                                          {"out": signed(self.out_width)}))

    def _weight(self, code: Value) -> Value:
        """The signed multiplier operand of a weight code (decoded before the beat register)."""
        raise NotImplementedError

    def _product(self, m: Module, a: Value, code: Value, *, load: Value, advance: Value,
                 platform: object, name: str) -> Value:
        """One lane's product of activation ``a`` and weight ``code``, from its beat registers
        (registered again at pipeline >= 1)."""
        return registered_product(m, a, self._weight(code), load=load, advance=advance,
                                  out_reg=self.pipeline >= 1, platform=platform, name=name)

    def elaborate(self, platform):
        m = Module()
        ctl = SerialControl(m, self, steps=1, beats=self.beats, latency=self.pipeline)
        # One step per beat: with a pipeline the beat registers are its first stage (valid
        # while the beat is held, frozen with the rest on back-pressure), so they load on
        # ``run`` like the others, not on ``accept``, which also waits for the output: one
        # LUT level from the output handshake to every DSP's clock enable, which an array's
        # merged control fans out to all its PEs. Unpipelined, they must hold a stalled beat.
        load = ctl.run if self.pipeline else ctl.accept
        products = []
        lanes = zip(lanes_of(self.a, self.lanes, self.act_bits),
                    lanes_of(self.w, self.lanes, self.weight_bits), strict=True)
        for i, (a, w) in enumerate(lanes):
            # The beat registers are the multiplier's input registers and the product register
            # (pipeline >= 1) its output register: a DSP block's own, on an FPGA that has them.
            products.append(self._product(m, a.as_signed(), w, load=load, advance=ctl.run,
                                          platform=platform, name=f"prod_{i}"))
        # The lanes' sum as a balanced tree: its first level (pairwise sums) is registered at
        # pipeline >= 3, the whole sum at >= 2, so each stage holds at most one carry chain
        # behind the DSP's output register.
        sums = _adder_level(products)
        if self.pipeline >= 3:
            sums = ctl.stage(sums, "pair_r")
        while len(sums) > 1:
            sums = _adder_level(sums)
        dot = Signal(signed(self.out_width), name="dot")
        m.d.comb += dot.eq(sums[0])
        if self.pipeline >= 2:
            dot = ctl.stage(dot, "dot_r")
        acc = Signal(signed(self.out_width))
        total = Signal(signed(self.out_width))
        m.d.comb += total.eq(acc + dot)
        with m.If(ctl.finish):
            m.d.sync += [self.out.eq(total), acc.eq(0)]
        with m.Elif(ctl.step):
            m.d.sync += acc.eq(total)
        return m


class IntMAC(_MACBase):
    """Signed INT x INT MAC (INT8 x INT8 by default), ``lanes`` products per cycle.

    Ports: in_valid/in_ready, ``a`` and ``w`` (lanes two's-complement fields each, lane 0 in the
    LSBs), out_valid/out_ready, ``out`` = sum of the ``k`` products (``out_width`` bits).
    """

    RANGES: ClassVar[IntRanges] = MappingProxyType(
        {**_MACBase.RANGES, "act_bits": (2, 16), "weight_bits": (2, 16)})

    def __init__(self, lanes: int = 1, k: int = 128, act_bits: int = 8, weight_bits: int = 8,
                 pipeline: int = MAC_PIPELINE):
        check_ints(self.RANGES, act_bits=act_bits, weight_bits=weight_bits)
        super().__init__(lanes=lanes, k=k, act_bits=act_bits, weight_bits=weight_bits,
                         bound=int_mac_bound(act_bits, weight_bits), pipeline=pipeline)

    def _weight(self, code: Value) -> Value:
        return code.as_signed()


class DIntMAC(_MACBase):
    """INT8 activation x dINT4 weight MAC; ``out`` is in half-LSB units (one fraction bit).

    Ports: as `IntMAC` with 4-bit weight codes.
    """

    RANGES: ClassVar[IntRanges] = MappingProxyType(
        {**_MACBase.RANGES, "special_half_lsb": (-15, 15)})

    def __init__(self, lanes: int = 1, k: int = 128, special_half_lsb: int = 1,
                 pipeline: int = MAC_PIPELINE):
        check_ints(self.RANGES, special_half_lsb=special_half_lsb)
        self.special_half_lsb = special_half_lsb
        super().__init__(lanes=lanes, k=k, act_bits=8, weight_bits=4,
                         bound=dint_mac_bound(special_half_lsb), pipeline=pipeline)

    def _weight(self, code: Value) -> Value:
        # 0b1000 is dINT's special code; every other code is 2q half LSBs (q = code, signed).
        # Decoded on the way into the beat register, so the multiplier starts at a register.
        special = C(self.special_half_lsb, signed(5))
        return Mux(code == 0b1000, special, Cat(C(0, 1), code).as_signed())

    def _product(self, m: Module, a: Value, code: Value, *, load: Value, advance: Value,
                 platform: object, name: str) -> Value:
        # Into a DSP (ECP5 MULT18X18D, iCE40 SB_MAC16) the decoded 5-bit operand (`_weight`):
        # its 16- or 18-bit multiplier costs the same. In gates the special and the integer
        # codes never meet, so the beat register keeps the 4-bit code and a special flag, and
        # the product is the 8x4 one (in half LSBs: shifted) or the special's, selected: one
        # partial-product row fewer than multiplying the decoded 5-bit operand.
        if isinstance(platform, FabricTarget) and platform.dsp:
            return super()._product(m, a, code, load=load, advance=advance,
                                    platform=platform, name=name)
        special = C(self.special_half_lsb, signed(5))

        def multiply(a_r: Value, b_r: Value) -> Value:  # b_r: the code, then the special flag
            return Mux(b_r[4], a_r * special, Cat(C(0, 1), a_r * b_r[:4].as_signed()).as_signed())

        return registered_product(m, a, Cat(code, code == 0b1000), load=load, advance=advance,
                                  out_reg=self.pipeline >= 1, platform=platform, name=name,
                                  multiply=multiply)
