"""FP16 x (INT8 or 2x FP4) MAC: one 8-bit weight code per cycle, an INT8 weight or two FP4 (E2M1)
weights, chosen per beat by the ``mode`` port.

The dual-mode baseline of the BitMoD comparison (published at 28 nm beside the FP16 x INT8 and
FP16 MACs). Its multiplier is two 11 x 4-bit multipliers of the activation's significand: in
INT8 mode they take the two nibbles of ``|w|`` and their products are summed (the high one
shifted by 4) into the 18-bit product an 11 x 8 multiplier would give; in FP4 mode each takes
one code's magnitude in half units (E2M1 values are multiples of 0.5, at most 6: 0..12) and
its product is a weight of its own. Two FP16 accumulators: ``out`` sums the INT8 products
(mode 0) or the low codes' (mode 1), ``out_hi`` the high codes' (mode 1; a mode-0 beat leaves
it as it is). Each exact product is added with one rounding, as `fp16_mac.FP16IntMAC` with
``accumulator="fp16"`` does (`fp16_mac.fp16_add_product`, the same path). Inf and NaN
activations: IEEE products (Inf x 0 is NaN) and the sticky ``nonfinite`` flag.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import ClassVar

from amaranth.hdl import C, Cat, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring

from hwsim.hw.rtl._common import (
    IntRanges,
    SerialControl,
    check_ints,
    decode_fp16,
    stream_signature,
)
from hwsim.hw.rtl.fp16_mac import accumulate_outputs, fp16_add_product, fp16_product_specials
from hwsim.hw.rtl.terms import FP16_EXP_OFFSET

__all__ = ["FP16_DUAL_MAC_PIPELINE", "FP16DualMAC", "fp4_half_units"]

FP16_DUAL_MAC_PIPELINE = 1  # default: the products registered, as the published MAC's

_INT_PRODUCT_BOUND = 2047 * 128  # significand x |-128|: 18 bits


def fp4_half_units(code: Value) -> Value:
    """|value| of an E2M1 code (bits s e1 e0 m0, bias 1) in units of 0.5: 0..12.

    The significand with its hidden bit, ``e != 0 : m0`` (a subnormal's is ``m0``), shifted
    left by ``max(e - 1, 0)``."""
    e = code[1:3]
    sig = Cat(code[0], e != 0)
    return Mux(e[1], Mux(e[0], Cat(C(0, 2), sig), Cat(C(0, 1), sig)), sig)


class FP16DualMAC(wiring.Component):
    """FP16 activation x (INT8 or two FP4 E2M1) weight MAC, one 8-bit code per cycle.

    Ports:
        in_valid, in_ready: input handshake, one beat per cycle.
        a: FP16 bit pattern.
        w: 8-bit code: a two's-complement INT8 weight (mode 0) or two E2M1 codes, the second
            weight in bits 7..4 (mode 1).
        mode: 0 INT8, 1 two FP4, per beat.
        out_valid, out_ready: output handshake.
        out: FP16 sum of the output's INT8 products (mode 0) and low codes' products (mode 1).
        out_hi: FP16 sum of the output's high codes' products (+0 if no beat was mode 1).
        nonfinite: an Inf/NaN activation reached this output.

    Args:
        lanes: products per cycle: 1 (one code).
        k: codes per output.
        pipeline: 1 registers the products before the adders (one cycle of fill latency), 0
            multiplies and adds in one cycle.
    """

    RANGES: ClassVar[IntRanges] = MappingProxyType(
        {"lanes": (1, 1), "k": (1, 1 << 16), "pipeline": (0, 1)})

    def __init__(self, lanes: int = 1, k: int = 128, pipeline: int = FP16_DUAL_MAC_PIPELINE):
        check_ints(self.RANGES, lanes=lanes, k=k, pipeline=pipeline)
        self.lanes, self.k, self.pipeline = lanes, k, pipeline
        super().__init__(stream_signature({"a": 16, "w": 8, "mode": 1},
                                          {"out": 16, "out_hi": 16, "nonfinite": 1}))

    def elaborate(self, platform):
        m = Module()
        ctl = SerialControl(m, self, steps=1, beats=self.k, latency=self.pipeline)
        a_r, w_r, fp4 = ctl.hold(self.a, self.w, self.mode)
        sign, exp_eff, mant, nf = decode_fp16(a_r)
        w_neg = w_r[7]
        wmag = Signal(8, name="wmag")  # |-128| fits unsigned
        m.d.comb += wmag.eq(Mux(w_neg, -w_r.as_signed(), w_r))
        hi_code, lo_code = w_r[4:8], w_r[0:4]
        x_hi, x_lo = Signal(4, name="wmul_hi"), Signal(4, name="wmul_lo")
        m.d.comb += [x_hi.eq(Mux(fp4, fp4_half_units(hi_code), wmag[4:8])),
                     x_lo.eq(Mux(fp4, fp4_half_units(lo_code), wmag[0:4]))]
        p_hi, p_lo = Signal(15, name="prod_hi"), Signal(15, name="prod_lo")
        m.d.comb += [p_hi.eq(mant * x_hi), p_lo.eq(mant * x_lo)]
        p_int = Signal(range(_INT_PRODUCT_BOUND + 1), name="prod_int")
        m.d.comb += p_int.eq((p_hi << 4) + p_lo)
        # The low route: the INT8 product or the low code's; the high route: the high code's.
        lo_mag = Signal(len(p_int), name="prod_lo_route")
        m.d.comb += lo_mag.eq(Mux(fp4, p_lo, p_int))
        lo_neg = sign ^ Mux(fp4, lo_code[3], w_neg)
        hi_neg = sign ^ hi_code[3]
        lo_nan, lo_inf = fp16_product_specials(a_r, nf, Mux(fp4, lo_code[:3] == 0, w_r == 0))
        hi_nan, hi_inf = fp16_product_specials(a_r, nf, hi_code[:3] == 0)
        routes = (lo_mag, lo_neg, lo_nan, lo_inf, p_hi, hi_neg, hi_nan, hi_inf)
        if self.pipeline:  # the products' registers
            routes, exp_eff, fp4, nf = ctl.stage((routes, exp_eff, fp4, nf), "mul_r")
        lo_mag, lo_neg, lo_nan, lo_inf, p_hi, hi_neg, hi_nan, hi_inf = routes
        # An INT8 product is in units of the significand's LSB, an FP4 one of half that.
        exp_int = exp_eff + C(-FP16_EXP_OFFSET, signed(6))
        exp_fp4 = exp_eff + C(-FP16_EXP_OFFSET - 1, signed(6))
        acc_lo, acc_hi = Signal(16, name="acc_lo"), Signal(16, name="acc_hi")
        total_lo, total_hi = Signal(16, name="total_lo"), Signal(16, name="total_hi")
        m.d.comb += [
            total_lo.eq(fp16_add_product(m, acc_lo, lo_neg, lo_mag, Mux(fp4, exp_fp4, exp_int),
                                         lo_nan, lo_inf, "add_lo")),
            total_hi.eq(Mux(fp4, fp16_add_product(m, acc_hi, hi_neg, p_hi, exp_fp4, hi_nan,
                                                  hi_inf, "add_hi"), acc_hi)),
        ]
        accumulate_outputs(m, ctl, [(acc_lo, total_lo, self.out),
                                    (acc_hi, total_hi, self.out_hi)], nf, self.nonfinite)
        return m
