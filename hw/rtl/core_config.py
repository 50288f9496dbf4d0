"""Parameters, descriptor format and status codes of the accelerator core (`accel_core`).

The core is built once (`CoreConfig`: array shape, lanes, weight family, group size, buffer
depths, DRAM bus width) and then runs any GEMM whose descriptor fits it. Everything the host
(a testbench, a driver) needs to talk to the core lives here: the descriptor's bit layout
(`DESCRIPTOR_FIELDS`, `pack_descriptor`), the status word (`status_fields`) and the error
codes (`CoreError`). NumPy/Amaranth-free apart from `amaranth.lib.data` for the layout.

Storage units (what the buffers and the DRAM image hold, see `hwsim.hw.rtl.core_layout`):

- activation line: ``cols x lanes`` FP16 values (one array beat of a column tile);
- weight line: ``rows x lanes`` weight codes, each in `code_bits` (4 when every family of
  the build has at most 4 bits, else 8) of which the mode's family uses the low bits;
- scale line: ``rows`` 16-bit group fields: magnitude in bits 0..11 (``scale_bits`` used),
  sign in bit 12, the fp families' special-value selector (``wtype``) in bits 13..15;
- output line: ``cols`` signed words of `word_bits` (one row of an output tile).

Every line is a whole number of DRAM bus beats (``bus_bytes`` each).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import ClassVar

from amaranth.lib import data

from hwsim.errors import HwsimError
from hwsim.hw.core_rules import (
    SCALE_FIELD_BITS,
    SIZE_FIELD_BITS,
    CoreError,
    CoreLines,
    CoreRules,
    CoreSection,
    buffer_bits,
    output_word_bits,
)
from hwsim.hw.rtl._common import IntRanges, check_ints
from hwsim.hw.rtl.bitmod import BitModConfig, check_back_end
from hwsim.hw.rtl.terms import WEIGHT_FAMILIES, WeightFamily, get_families, get_family

__all__ = [
    "BEATS_BITS",
    "CORE_SETUP_CYCLES",
    "CORE_SLOT_CYCLES",
    "CORE_TRANSFER_CYCLES",
    "DESCRIPTOR_FIELDS",
    "CoreConfig",
    "CoreError",
    "descriptor_error",
    "descriptor_layout",
    "mode_code",
    "pack_descriptor",
    "status_fields",
]

# Cycles from the edge that accepts a command to the start of its first pipeline slot: one to
# check the descriptor, one to decode the first block, one to load the slot end's registers
# from the check's outcome. The core's hardware description gives it to the simulator as
# `command_cycles`, which charges it once per command.
CORE_SETUP_CYCLES = 3
# Cycles the core adds to each DRAM transfer (a load or a write-back of a block): the streams'
# handshakes end at registers, so a slot's DMA is done a cycle after its last beat and a
# write-back after a load starts a cycle after the load's. The core's hardware description
# gives it to the simulator as `transfer_cycles`: a transfer = beats + latency + this.
CORE_TRANSFER_CYCLES = 1
# Cycles the core adds to each pipeline slot: the slot end's registers are loaded from the
# slot's parts as registers (the compute done, the DMA done), not from their next states, so a
# slot ends a cycle after the later of its compute and its transfers (the handshakes' cones
# end at those registers, not at the slot end's copies across the die: README (35)). The
# core's hardware description gives it to the simulator as `slot_cycles`.
CORE_SLOT_CYCLES = 1
# Width of the DMA's beat counters (a load's or a write-back's bus beats) in the RTL.
BEATS_BITS = 24

SCALE_MAG_BITS = 12
SCALE_SIGN_BIT = 12
SCALE_WTYPE_LSB = 13

# (name, bits): the descriptor, LSB first. Sizes are elements; addresses are DRAM bus beats.
DESCRIPTOR_FIELDS: tuple[tuple[str, int], ...] = (
    ("m", SIZE_FIELD_BITS), ("n", SIZE_FIELD_BITS), ("k", SIZE_FIELD_BITS),
    ("block_m", SIZE_FIELD_BITS), ("block_n", SIZE_FIELD_BITS), ("block_k", SIZE_FIELD_BITS),
    ("m_outer", 1),       # loop order: 0 = n_outer (n > m > k), 1 = m_outer (m > n > k)
    ("mode", 4),          # weight family: index into WEIGHT_FAMILIES
    ("group_size", 13),
    ("a_addr", 32), ("b_addr", 32), ("s_addr", 32), ("o_addr", 32),
)


def mode_code(family: str) -> int:
    """Descriptor ``mode`` value of a weight family name."""
    return WEIGHT_FAMILIES.index(get_family(family).name)


def descriptor_layout() -> data.StructLayout:
    """The descriptor port's Amaranth layout (fields in `DESCRIPTOR_FIELDS` order)."""
    return data.StructLayout(dict(DESCRIPTOR_FIELDS))


def pack_descriptor(**fields: int) -> int:
    """The descriptor as one integer (the Verilog port's value); missing fields are 0.

    Raises:
        HwsimError: an unknown field, or a value that does not fit its field.
    """
    known = dict(DESCRIPTOR_FIELDS)
    for name in fields:
        if name not in known:
            raise HwsimError(f"unknown descriptor field {name!r}; fields: {', '.join(known)}")
    value, offset = 0, 0
    for name, bits in DESCRIPTOR_FIELDS:
        v = int(fields.get(name, 0))
        if not 0 <= v < 1 << bits:
            raise HwsimError(f"descriptor field {name} = {v} does not fit {bits} bits")
        value |= v << offset
        offset += bits
    return value


def status_fields(status: int) -> dict[str, int]:
    """Decode the status word: busy (bit 0), done (bit 1), error (bit 2), nonfinite (bit 3: an
    Inf or NaN activation reached the array during the command, which the PEs count as 0;
    `core_layout.gemm_nonfinite`), reason (bits 4..7)."""
    return {"busy": status & 1, "done": (status >> 1) & 1, "error": (status >> 2) & 1,
            "nonfinite": (status >> 3) & 1, "reason": (status >> 4) & 0xF}


def descriptor_error(c: CoreConfig, **fields: int) -> CoreError:
    """The reason ``c``'s core refuses a descriptor (`CoreError.NONE`: it runs it): the check
    the RTL makes as it accepts a command, in its order; missing fields are 0."""
    known = dict(DESCRIPTOR_FIELDS)
    for name in fields:
        if name not in known:
            raise HwsimError(f"unknown descriptor field {name!r}; fields: {', '.join(known)}")
    d = {name: int(fields.get(name, 0)) for name in known}
    mode_ok = any(d["mode"] == mode_code(f.name) for f in c.families)
    return c.rules.command_error(d["m"], d["n"], d["k"], d["block_m"], d["block_n"],
                                 d["block_k"], d["group_size"], mode_ok)


def _pow2(name: str, value: int) -> None:
    if value & (value - 1):
        raise HwsimError(f"parameter {name} must be a power of two, not {value}")


@dataclass(frozen=True)
class CoreConfig:
    """Build parameters of the accelerator core.

    Attributes:
        rows, cols: PE array (rows: output channels n, cols: tokens m).
        lanes: reduction elements per PE and beat.
        weights: weight families of the array (`hwsim.hw.rtl.terms.get_families`: one family,
            several joined by ``+``, or ``"bitmod"``); the descriptor's mode picks one.
        group_size: weights per quantization group (one integer scale each).
        scale_bits: bits of the group scale magnitude (cycles of dequantization).
        align_bits: guard bits at exponent alignment.
        k_max: largest reduction a command may have (sets the output word width).
        pipeline: register stages inside each PE (`BitModConfig.pipeline`, its range); each adds
            one cycle to every tile (the simulator's tile rule charges it as the fill).
        a_lines, b_lines, o_lines: lines per half of the activation, weight and output
            buffers (each buffer holds two halves: ping-pong); the scale buffer holds
            ``b_lines x lanes / group_size`` lines per half (at least 1). ``a_lines`` and
            ``b_lines`` x lanes hold at least a group, ``o_lines`` at least ``rows``: one
            block of one tile and one group, so every GEMM up to ``k_max`` runs.
        bus_bytes: DRAM bus beat (bytes per cycle of each stream); 0 picks the widest
            (up to 16) that divides every line.
        dequantizer: the array's dequantizers (`BitModConfig.dequantizer`): one per PE, or one
            per PE row shared by its ``cols`` PEs (longer tiles where a group accumulates in
            fewer than ``cols x scale_bits`` cycles; the simulator's ``dequantizer_pes``).
        accumulator, loop: the PEs' group accumulator and its loop (`BitModConfig`; the
            outputs follow the golden model of that accumulator, the cycles do not change).
    """

    rows: int = 2
    cols: int = 2
    lanes: int = 2
    weights: str = "fp4"
    group_size: int = 8
    scale_bits: int = 8
    align_bits: int = 3
    k_max: int = 256
    pipeline: int = 0
    a_lines: int = 64
    b_lines: int = 64
    o_lines: int = 32
    bus_bytes: int = 0
    dequantizer: str = "per_pe"
    accumulator: str = "exact"
    loop: str = "normalized"

    RANGES: ClassVar[IntRanges] = MappingProxyType(
        {"rows": (1, 16), "cols": (1, 16), "lanes": (1, 16), "group_size": (1, 4096),
         "scale_bits": (1, SCALE_MAG_BITS), "k_max": (1, (1 << 16) - 1),
         "a_lines": (1, 1 << 16), "b_lines": (1, 1 << 16), "o_lines": (1, 1 << 16),
         "bus_bytes": (1, 64), "align_bits": BitModConfig.RANGES["align_bits"],
         "pipeline": BitModConfig.RANGES["pipeline"]})

    def __post_init__(self) -> None:
        # Every range before the lines are sized (bus_bytes 0 is resolved first).
        check_ints(self.RANGES, **{name: getattr(self, name) for name in self.RANGES
                                   if name != "bus_bytes"})
        if self.bus_bytes == 0:
            # Auto: the widest beat (up to 16 bytes) that divides every line.
            lines = (self.a_line_bits, self.b_line_bits, self.s_line_bits, self.o_line_bits)
            auto = 16
            while auto > 1 and any(bits % (8 * auto) for bits in lines):
                auto //= 2
            object.__setattr__(self, "bus_bytes", auto)
        check_ints(self.RANGES, bus_bytes=self.bus_bytes)
        # Powers of two: tile counts, line addresses and beat splits are shifts, not dividers.
        for name in ("rows", "cols", "lanes", "group_size", "a_lines", "b_lines", "o_lines",
                     "bus_bytes"):
            _pow2(name, getattr(self, name))
        get_families(self.weights)
        check_back_end(self.accumulator, self.loop, self.dequantizer)
        if self.group_size % self.lanes:
            raise HwsimError(f"parameter group_size ({self.group_size}) must be a multiple of "
                             f"lanes ({self.lanes}): a beat never straddles two groups")
        if self.k_max < self.group_size:
            raise HwsimError(f"parameter k_max ({self.k_max}) must be at least group_size "
                             f"({self.group_size})")
        bus = 8 * self.bus_bytes
        for what, bits in (("activation", self.a_line_bits), ("weight", self.b_line_bits),
                           ("scale", self.s_line_bits), ("output", self.o_line_bits)):
            if bits % bus:
                # Only a weight line can miss a whole byte (4-bit codes, rows x lanes odd):
                # then no bus width helps.
                fix = ("lower bus_bytes" if bits % 8 == 0 else
                       f"it holds rows x lanes {self.code_bits}-bit codes, so make rows x "
                       "lanes even or run weights with 8-bit codes")
                raise HwsimError(f"a {what} line ({bits} bits) is not a whole number of "
                                 f"{bus}-bit bus beats: {fix}")
        # The DMA counts a load's beats (a block's activation, weight and scale lines) and a
        # write-back's in counters of `BEATS_BITS`: a block filling the halves must fit.
        per = self.beats_per_line
        for what, beats in (
                ("load", self.a_lines * per(self.a_line_bits)
                 + self.b_lines * per(self.b_line_bits) + self.s_lines * per(self.s_line_bits)),
                ("write-back", self.o_lines * per(self.o_line_bits))):
            if beats >= 1 << BEATS_BITS:
                raise HwsimError(f"a {what} of full buffer halves ({beats} bus beats) overflows "
                                 f"the DMA's {BEATS_BITS}-bit beat counters: fewer lines or a "
                                 "wider bus_bytes")
        # A k block beyond one buffer half is whole groups: with fewer lanes' worth of lines
        # than a group, every GEMM of k > lines x lanes is refused (TOO_BIG / BAD_BLOCK).
        for name, lines in (("a_lines", self.a_lines), ("b_lines", self.b_lines)):
            if lines * self.lanes < self.group_size:
                raise HwsimError(f"parameter {name} ({lines}) must be at least group_size / "
                                 f"lanes = {self.group_size // self.lanes}: a block of k holds "
                                 "whole groups, so no GEMM of k > "
                                 f"{lines * self.lanes} would run")
        # An output tile is `rows` lines: with fewer per half, the descriptor check refuses
        # every command (TOO_BIG), the mapper every GEMM.
        if self.o_lines < self.rows:
            raise HwsimError(f"parameter o_lines ({self.o_lines}) must be at least rows "
                             f"({self.rows}): a buffer half holds whole output tiles of rows "
                             "lines, and no command runs without one")
        # The output drain writes one output row per cycle while the array computes the next
        # tile; it must finish before that tile's result (>= scale_bits + terms + 1 cycles).
        terms = min(f.terms for f in self.families)
        if self.rows > self.scale_bits + terms + 1:
            raise HwsimError(f"parameter rows ({self.rows}) must be at most scale_bits + "
                             f"terms + 1 = {self.scale_bits + terms + 1}")

    @cached_property
    def families(self) -> tuple[WeightFamily, ...]:
        """The families the array runs, in its mode order."""
        return get_families(self.weights)

    def mode_of(self, family: str) -> int:
        """The descriptor mode of ``family`` (its `WEIGHT_FAMILIES` index)."""
        return mode_code(family)

    @cached_property
    def array(self) -> BitModConfig:
        """The PE array's parameters: its k is `k_max` (the largest block reduction), its
        `pipeline` the core's (the tile rule, `array_tile_cycles`, charges it as the fill)."""
        return BitModConfig(rows=self.rows, cols=self.cols, lanes=self.lanes,
                            weights=self.weights, group_size=self.group_size, k=self.k_max,
                            scale_bits=self.scale_bits, align_bits=self.align_bits,
                            pipeline=self.pipeline, dequantizer=self.dequantizer,
                            accumulator=self.accumulator, loop=self.loop)

    @cached_property
    def section(self) -> CoreSection:
        """The build's limits as the hardware description's ``core:`` section states them."""
        return CoreSection(group_size=self.group_size, k_max=self.k_max, lines=CoreLines(
            activation=self.a_lines, weight=self.b_lines, scale=self.s_lines,
            output=self.o_lines), code_bits=self.code_bits, word_bits=self.word_bits)

    @cached_property
    def rules(self) -> CoreRules:
        """The command rules of this build (`hwsim.hw.core_rules`, which the mapper follows)."""
        return CoreRules(rows=self.rows, cols=self.cols, lanes=self.lanes, section=self.section)

    @property
    def code_bits(self) -> int:
        """Bits a weight code occupies in the buffers and in DRAM (any mode)."""
        return 4 if self.array.code_bits <= 4 else 8

    @property
    def word_bits(self) -> int:
        """Output word: the smallest power of two >= 32 holding the array's output width."""
        return output_word_bits(self.array.out_width)

    @property
    def a_line_bits(self) -> int:
        return self.cols * self.lanes * 16

    @property
    def b_line_bits(self) -> int:
        return self.rows * self.lanes * self.code_bits

    @property
    def s_line_bits(self) -> int:
        return self.rows * SCALE_FIELD_BITS

    @property
    def o_line_bits(self) -> int:
        return self.cols * self.word_bits

    @property
    def o_store_bits(self) -> int:
        """A line of the output buffer as stored: ``cols`` partial sums of the array's
        ``out_width`` (sign-extended to `word_bits` only on the way to DRAM)."""
        return self.cols * self.array.out_width

    @property
    def s_lines(self) -> int:
        """Scale lines per half: one per group of the weight lines."""
        return max(1, self.b_lines * self.lanes // self.group_size)

    def beats_per_line(self, line_bits: int) -> int:
        return line_bits // (8 * self.bus_bytes)

    @property
    def k_quantum(self) -> int:
        """Block reductions are multiples of this (whole groups, whole beats)."""
        return self.group_size

    def derived(self) -> dict[str, int | float]:
        """Derived widths and sizes (for the block's JSON description)."""
        return {"bus_bytes": self.bus_bytes, "word_bits": self.word_bits,
                "out_width": self.array.out_width, "lsb_exp": self.array.lsb_exp,
                "code_bits": self.code_bits, "s_lines": self.s_lines,
                **{f"{b}_buffer_bytes": v for b, v in self.buffer_bytes().items()}}

    def buffer_bytes(self) -> dict[str, int | float]:
        """Capacity of each buffer (both halves) in bytes, as stored: weight includes the
        scales; output holds partial sums of ``out_width`` bits (one copy: the second one,
        the write-back's read port, holds the same values)."""
        bits = buffer_bits(self.section.lines, {
            "activation": self.a_line_bits, "weight": self.b_line_bits,
            "scale": self.s_line_bits, "output": self.o_store_bits})
        return {b: v // 8 if v % 8 == 0 else v / 8 for b, v in bits.items()}
