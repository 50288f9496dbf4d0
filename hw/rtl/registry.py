"""Every RTL block by name, with its documented parameters: one place for `hwsim verilog`,
`hwsim synth` and the FPGA flow to build any block.

    from hwsim.hw.rtl.registry import build, list_blocks, parse_params
    pe = build("bitmod_pe", weights="int4", group_size=64)
    build("pe_array", **parse_params("pe_array", ["rows=4", "cols=4"]))
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from amaranth.lib import wiring

from hwsim.errors import HwsimError
from hwsim.hw.rtl._common import IntRanges
from hwsim.hw.rtl.accel_core import AccelCore
from hwsim.hw.rtl.bipolar import BipolarPE
from hwsim.hw.rtl.bitmod import (
    ACCUMULATORS,
    DEQUANTIZERS,
    LOOPS,
    BitModArray,
    BitModConfig,
    BitModPE,
)
from hwsim.hw.rtl.core_config import CoreConfig
from hwsim.hw.rtl.dequant import BitSerialDequant
from hwsim.hw.rtl.fp16_dual_mac import FP16DualMAC
from hwsim.hw.rtl.fp16_mac import (
    FP16_INT_ACCUMULATORS,
    FP16MAC,
    FP16IntMAC,
    check_fp16_int_accumulator,
)
from hwsim.hw.rtl.mac import MAC_PIPELINE, DIntMAC, IntMAC
from hwsim.hw.rtl.terms import WEIGHT_FAMILIES, WEIGHT_SETS

__all__ = [
    "BLOCKS",
    "Block",
    "Param",
    "build",
    "get_block",
    "list_blocks",
    "parse_params",
    "resolve_params",
]


@dataclass(frozen=True)
class Param:
    """One constructor parameter of a block.

    Attributes:
        name: keyword name.
        default: value used when not given.
        doc: one line: what it sets, with units.
        choices: the allowed values when they are a short list (else None).
        lo, hi: inclusive bounds of an integer parameter (when ``choices`` is None).
    """

    name: str
    default: int | str
    doc: str
    choices: tuple[int | str, ...] | None = None
    lo: int | None = None
    hi: int | None = None

    @property
    def allowed(self) -> str:
        """The allowed values as text."""
        if self.choices is not None:
            return ", ".join(str(c) for c in self.choices)
        return f"integers {self.lo}..{self.hi}"

    def parse(self, text: str) -> int | str:
        """Convert a command-line string to this parameter's type and check it."""
        value: int | str = text
        if isinstance(self.default, int):
            try:
                value = int(text, 0)
            except ValueError:
                # int(, 0) refuses 08 and 010, which read as decimal or as C's octal.
                zeros = (" (leading zeros are ambiguous: write it without them)"
                         if re.fullmatch(r"[0-9]+", text.strip().lstrip("+-")) else "")
                raise HwsimError(f"parameter {self.name} must be an integer ({self.allowed}), "
                                 f"not {text!r}{zeros}") from None
        return self.check(value)

    def check(self, value: int | str) -> int | str:
        """``value`` if allowed, else HwsimError naming the parameter and the allowed values."""
        if isinstance(self.default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if ok and self.choices is not None:
            if isinstance(value, str):
                value = value.lower()
            ok = value in self.choices
        elif ok:
            ok = self.lo <= value <= self.hi
        if not ok:
            raise HwsimError(f"parameter {self.name} = {value!r} is not allowed; "
                             f"allowed: {self.allowed}")
        return value


@dataclass(frozen=True)
class Block:
    """A named RTL block: a factory from keyword parameters to a `wiring.Component`.

    ``check`` (if any) refuses a combination of parameter values before the factory runs (a
    component whose constructor refuses mid-way would be reported as never used)."""

    name: str
    doc: str
    factory: Callable[..., wiring.Component]
    params: tuple[Param, ...]
    check: Callable[..., None] | None = None

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.params)
        raise HwsimError(f"block {self.name} has no parameter {name!r}; its parameters: {known}")

    def defaults(self) -> dict[str, int | str]:
        return {p.name: p.default for p in self.params}


def _bitmod_factory(array: bool) -> Callable[..., wiring.Component]:
    def make(**kw):
        config = BitModConfig(**kw)
        # The FPGA study's arrays are measured without the per-PE term registers and the
        # front's ends a state ahead (the core's long broadcasts and its 4x4's front path
        # needed them, a 9x2 does not): their Verilog stays that of the study.
        return (BitModArray(config, term_copies=False, ends_ahead=False) if array
                else BitModPE(config))

    return make


def _core(**kw) -> wiring.Component:
    return AccelCore(CoreConfig(**kw))


# Checks of a parameter combination that build only the configuration (no component): its
# refusal then comes with `resolve_params`, before a command writes or synthesizes anything.
def _bitmod_check(**kw) -> None:
    BitModConfig(**kw)


def _core_check(**kw) -> None:
    CoreConfig(**kw)


def _int(ranges: IntRanges, name: str, default: int, doc: str) -> Param:
    """An integer parameter whose range is the one its block's constructor checks."""
    lo, hi = ranges[name]
    return Param(name, default, doc, lo=lo, hi=hi)


def _bitmod_params(r: IntRanges) -> tuple[Param, ...]:
    return (
        _int(r, "lanes", 4, "weights and FP16 activations per beat"),
        Param("weights", "fp4", "weight family (fp3/fp4 take ER/EA through the wtype port), "
              "or bitmod = fp3, fp4, int4, int6, int8 chosen per output through the mode port",
              choices=(*WEIGHT_FAMILIES, *WEIGHT_SETS)),
        _int(r, "group_size", 128, "weights per quantization group (one scale each)"),
        _int(r, "k", 256, "weights per output (reduction length)"),
        _int(r, "scale_bits", 8, "bits of the group scale magnitude (cycles of "
             "dequantization)"),
        _int(r, "align_bits", 3, "guard bits kept at exponent alignment"),
        _int(r, "pipeline", 3, "register stages between the beat register and the "
             "output accumulator (cycles of fill latency)"),
        *_accumulator_params(),
    )


def _accumulator_params() -> tuple[Param, ...]:
    return (
        Param("accumulator", "exact", "group accumulator: exact fixed point or bitmod "
              "(BitMoD's 15-bit-mantissa floating accumulator)", choices=ACCUMULATORS),
        Param("loop", "normalized", "bitmod accumulator's loop: normalized each cycle (as "
              "published, fewer gates), unnormalized (shorter loop, faster, more gates) or "
              "decoded (unnormalized, its large shifts decoded a cycle ahead: shorter still, "
              "more gates); all but normalized need accumulator=bitmod",
              choices=LOOPS),
    )


def _mac_pipeline(r: IntRanges) -> Param:
    return _int(r, "pipeline", MAC_PIPELINE, "register stages: after the multipliers (a "
                "DSP's output register), after the lanes' sum, after the lanes' pairwise sums "
                "(cycles of fill latency)")


_BITMOD = BitModConfig.RANGES
_CORE = CoreConfig.RANGES
_DINT = DIntMAC.RANGES
_INT = IntMAC.RANGES
_FP16 = FP16IntMAC.RANGES
_FP16_FP = FP16MAC.RANGES
_FP16_DUAL = FP16DualMAC.RANGES
_BIPOLAR = BipolarPE.RANGES
_DEQUANT = BitSerialDequant.RANGES

BLOCKS: dict[str, Block] = {
    b.name: b
    for b in [
        Block("bitmod_pe", "BitMoD bit-serial PE: FP16 x fp3/fp4(ER/EA)/INT dot product, "
              "group accumulation, bit-serial dequantization", _bitmod_factory(False),
              _bitmod_params(_BITMOD), check=_bitmod_check),
        Block("pe_array", "rows x cols BitMoD PEs, weights along rows, activations along "
              "columns, valid/ready stream", _bitmod_factory(True),
              (_int(_BITMOD, "rows", 2, "PE rows (output channels)"),
               _int(_BITMOD, "cols", 2, "PE columns (tokens)"), *_bitmod_params(_BITMOD),
               Param("dequantizer", "per_pe", "one bit-serial dequantizer per PE, or one per "
                     "row serving its cols PEs in turn (cols x scale_bits cycles a group: "
                     "the front stalls when a group accumulates faster)",
                     choices=DEQUANTIZERS)), check=_bitmod_check),
        Block("dequant", "bit-serial dequantization: partial sum x signed integer group scale",
              BitSerialDequant,
              (_int(_DEQUANT, "in_width", 56, "bits of the signed partial sum (56: the default "
                    "bitmod_pe's group accumulator)"),
               _int(_DEQUANT, "scale_bits", 8, "bits of the scale magnitude (cycles)"))),
        Block("dint_mac", "INT8 x dINT4 MAC with the sub-LSB special value carried exactly",
              DIntMAC,
              (_int(_DINT, "lanes", 1, "products per cycle"),
               _int(_DINT, "k", 128, "products per output"),
               _int(_DINT, "special_half_lsb", 1, "value of code 0b1000 in half LSBs"),
               _mac_pipeline(_DINT))),
        Block("int_mac", "signed INT x INT MAC (INT8 x INT8 by default), for comparison",
              IntMAC,
              (_int(_INT, "lanes", 1, "products per cycle"),
               _int(_INT, "k", 128, "products per output"),
               _int(_INT, "act_bits", 8, "activation bits"),
               _int(_INT, "weight_bits", 8, "weight bits"), _mac_pipeline(_INT))),
        Block("fp16_int_mac", "bit-parallel FP16 x INT MAC (the ANT/OliVe baseline PE), one "
              "multiplier per lane, fixed-point accumulation as the BitMoD PE",
              FP16IntMAC,
              (_int(_FP16, "lanes", 1, "products per cycle (one multiplier each)"),
               _int(_FP16, "k", 128, "products per output"),
               _int(_FP16, "weight_bits", 8, "signed integer weight bits"),
               _int(_FP16, "align_bits", 3, "guard bits kept at exponent alignment"),
               _int(_FP16, "pipeline", 0, "register stages: after the multipliers, after the "
                    "aligned sum, after the exponent maximum, after the alignment shifters "
                    "(cycles of fill latency)"),
               Param("accumulator", "exact", "exact fixed point, or fp16: each product "
                     "rounded into an FP16 accumulator (one lane, pipeline <= 1, align_bits 3)",
                     choices=FP16_INT_ACCUMULATORS)),
              check=check_fp16_int_accumulator),
        Block("fp16_mac", "FP16 x FP16 MAC (the FP16 baseline PE): FP16 multiplier and FP16 "
              "adder into an FP16 accumulator, IEEE round to nearest even",
              FP16MAC,
              (_int(_FP16_FP, "lanes", 1, "products per cycle (one multiplier and one adder)"),
               _int(_FP16_FP, "k", 128, "products per output"),
               _int(_FP16_FP, "pipeline", 1, "register stages: the rounded product before the "
                    "adder (cycles of fill latency)"))),
        Block("fp16_dual_mac", "FP16 x (INT8 or 2x FP4) MAC: one 8-bit code per cycle, an INT8 "
              "weight or two E2M1 weights (mode port), two 11 x 4 multipliers, two FP16 "
              "accumulators", FP16DualMAC,
              (_int(_FP16_DUAL, "lanes", 1, "8-bit codes per cycle"),
               _int(_FP16_DUAL, "k", 128, "codes per output"),
               _int(_FP16_DUAL, "pipeline", 1, "register stages: the products before the "
                    "adders (cycles of fill latency)"))),
        Block("accel_core", "accelerator core: BitMoD PE array, ping-pong weight/activation/"
              "output buffers, tile sequencer, descriptor/status, DRAM read/write streams",
              _core,
              (_int(_CORE, "rows", 2, "PE rows (output channels), a power of two"),
               _int(_CORE, "cols", 2, "PE columns (tokens), a power of two"),
               _int(_CORE, "lanes", 2, "weights and FP16 activations per beat, a power of "
                    "two"),
               Param("weights", "fp4", "weight family of the array, or a set run through the "
                     "descriptor's mode (bitmod: fp3, fp4, int4, int6, int8)",
                     choices=(*WEIGHT_FAMILIES, *WEIGHT_SETS)),
               _int(_CORE, "group_size", 128, "weights per group, a power of two"),
               _int(_CORE, "scale_bits", 8, "bits of the group scale magnitude"),
               _int(_CORE, "align_bits", 3, "guard bits kept at exponent alignment"),
               _int(_CORE, "k_max", 16384, "largest reduction a command may have"),
               _int(_CORE, "pipeline", 7, "register stages in each PE (cycles added to "
                    "every tile)"),
               _int(_CORE, "a_lines", 512, "activation buffer lines per half (cols x lanes "
                    "FP16), a power of two, x lanes at least group_size"),
               _int(_CORE, "b_lines", 1024, "weight buffer lines per half (rows x lanes "
                    "codes), a power of two, x lanes at least group_size"),
               _int(_CORE, "o_lines", 256, "output buffer lines per half (cols words), a "
                    "power of two, at least rows"),
               Param("bus_bytes", 0, "DRAM bytes per beat (0: widest dividing every line)",
                     choices=(0, 1, 2, 4, 8, 16, 32, 64)),
               Param("dequantizer", "per_pe", "the array's dequantizers: one per PE, or one "
                     "per row serving its cols PEs in turn", choices=DEQUANTIZERS),
               *_accumulator_params()), check=_core_check),
        Block("bipolar_pe", "bipolar-INT PE: bit-plane AND-popcount, serial over plane pairs",
              BipolarPE,
              (_int(_BIPOLAR, "lanes", 8, "elements per beat"),
               _int(_BIPOLAR, "weight_bits", 4, "bipolar weight bits"),
               _int(_BIPOLAR, "act_bits", 8, "signed activation bits"),
               _int(_BIPOLAR, "k", 64, "elements per output"))),
    ]
}


def list_blocks() -> list[Block]:
    """All blocks, in registry order."""
    return list(BLOCKS.values())


def get_block(name: str) -> Block:
    """The block called ``name`` (case-insensitive); HwsimError lists the closest names."""
    key = str(name).lower()
    if key in BLOCKS:
        return BLOCKS[key]
    close = difflib.get_close_matches(key, BLOCKS, n=3, cutoff=0.4)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise HwsimError(f"unknown RTL block {name!r}{hint}; blocks: {', '.join(BLOCKS)}")


def resolve_params(name: str, params: dict[str, object] | None = None) -> dict[str, int | str]:
    """Defaults of block ``name`` overridden by ``params``, each checked."""
    block = get_block(name)
    values = block.defaults()
    for key, value in (params or {}).items():
        values[key] = block.param(key).check(value)
    if block.check is not None:
        block.check(**values)
    return values


def parse_params(name: str, items: Iterable[str]) -> dict[str, int | str]:
    """Parse ``key=value`` strings for block ``name`` (duplicates are an error)."""
    block = get_block(name)
    out: dict[str, int | str] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise HwsimError(f"--param expects key=value, not {item!r}")
        if key in out:
            raise HwsimError(f"--param {key} given twice")
        out[key] = block.param(key).parse(text.strip())
    return out


def build(name: str, **params: object) -> wiring.Component:
    """Construct block ``name`` with its defaults overridden by ``params``.

    Raises:
        HwsimError: unknown block, unknown parameter or a value outside its allowed range.
    """
    return get_block(name).factory(**resolve_params(name, params))
