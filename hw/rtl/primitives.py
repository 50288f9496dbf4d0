"""Vendor primitives a block instantiates when it is built for a known FPGA.

Amaranth hands every ``elaborate`` a *platform*. The FPGA flow passes a `FabricTarget` (the
device family and whether hard multipliers may be used); simulation, ``hwsim verilog`` and the
ASIC flow pass none and get the generic RTL. A primitive path is the same circuit cycle for
cycle as the generic RTL it replaces, registers included, so the bit-exact tests of the generic
RTL hold for it.

Why instantiate at all: Yosys' ``synth_ecp5`` maps a multiply to a MULT18X18D with every
register off and leaves the fabric flip-flops around it in the fabric, so the multiplier's
~4 ns array sits between two routed hops (about 140 MHz at best, measured); with its own input
and output registers on, the array is a register-to-register path inside the DSP block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from amaranth.hdl import ClockSignal, Const, Instance, Module, ResetSignal, Signal, Value, signed

__all__ = ["MULT18_BITS", "FabricTarget", "registered_product"]

MULT18_BITS = 18  # operand width of an ECP5 MULT18X18D (signed)


@dataclass(frozen=True)
class FabricTarget:
    """The FPGA a block is elaborated for (Amaranth's ``platform`` argument).

    Attributes:
        family: ``"ecp5"`` or ``"ice40"``.
        dsp: hard multipliers may be used.
    """

    family: str
    dsp: bool

    @property
    def ecp5_dsp(self) -> bool:
        """ECP5 MULT18X18D blocks may be instantiated."""
        return self.family == "ecp5" and self.dsp


def _ecp5_dsp(platform: object) -> bool:
    return isinstance(platform, FabricTarget) and platform.ecp5_dsp


def registered_product(
    m: Module,
    a: Value,
    b: Value,
    *,
    load: Value,
    advance: Value,
    out_reg: bool,
    platform: object,
    name: str,
    multiply: Callable[[Value, Value], Value] | None = None,
) -> Value:
    """Signed ``a * b`` of the operands held in input registers.

    The input registers take ``a`` and ``b`` at an edge where ``load`` is high and hold them
    (a PE's beat registers); with ``out_reg`` the product is registered again, advancing where
    ``advance`` is high (a pipeline stage). Built for an ECP5 with DSPs, both registers are the
    MULT18X18D's own (input A/B and output registers, synchronous reset like Amaranth's).
    ``multiply`` replaces ``a * b`` on the held operands by another product of the same
    ``len(a) + len(b)`` bits (an operand that is not a plain integer); it is built in the
    fabric, never in a DSP.

    Returns:
        The product, ``len(a) + len(b)`` bits signed.
    """
    width = len(a) + len(b)
    if multiply is None and _ecp5_dsp(platform) and max(len(a), len(b)) <= MULT18_BITS:
        p = Signal(2 * MULT18_BITS, name=f"{name}_p")
        ports = {
            **{f"i_A{i}": a.as_signed()[min(i, len(a) - 1)] for i in range(MULT18_BITS)},
            **{f"i_B{i}": b.as_signed()[min(i, len(b) - 1)] for i in range(MULT18_BITS)},
            **{f"i_C{i}": Const(0, 1) for i in range(MULT18_BITS)},
            **{f"o_P{i}": p[i] for i in range(2 * MULT18_BITS)},
        }
        regs = {"INPUTA": "CE0", "INPUTB": "CE0", **({"OUTPUT": "CE1"} if out_reg else {})}
        params = {}
        for reg, ce in regs.items():
            params |= {f"p_REG_{reg}_CLK": "CLK0", f"p_REG_{reg}_CE": ce,
                       f"p_REG_{reg}_RST": "RST0"}
        m.submodules[name] = Instance(
            "MULT18X18D",
            **params,
            p_RESETMODE="SYNC",
            p_GSR="DISABLED",
            i_SIGNEDA=Const(1, 1),
            i_SIGNEDB=Const(1, 1),
            i_SOURCEA=Const(0, 1),
            i_SOURCEB=Const(0, 1),
            i_CLK0=ClockSignal("sync"),
            i_CE0=load,
            i_CE1=advance,
            i_RST0=ResetSignal("sync"),
            **ports,
        )
        return p[:width].as_signed()
    a_r = Signal(a.shape(), name=f"{name}_a")
    b_r = Signal(b.shape(), name=f"{name}_b")
    with m.If(load):
        m.d.sync += [a_r.eq(a), b_r.eq(b)]
    prod = Signal(signed(width), name=name)
    m.d.comb += prod.eq(a_r * b_r if multiply is None else multiply(a_r, b_r))
    if not out_reg:
        return prod
    prod_r = Signal(signed(width), name=f"{name}_r")
    with m.If(advance):
        m.d.sync += prod_r.eq(prod)
    return prod_r
