"""What the RTL accelerator core accepts: its command rules, shared by the core and the mapper.

The core (`hwsim.hw.rtl.accel_core`) stores its operands in lines and refuses a descriptor it
cannot run (`CoreError`). The rules live here, NumPy-only and pure, so that the core's host
side (`hwsim.hw.rtl.core_config`, whose `descriptor_error` the RTL's check mirrors) and the
mapper (`hwsim.mapping`, which sits above `hwsim.hw` and must not load Amaranth) read one
definition:

- a block of ``bm x bn x bk`` occupies, in each buffer half, ``ceil(bm / cols) x
  ceil(bk / lanes)`` activation lines, ``ceil(bn / rows) x ceil(bk / lanes)`` weight lines,
  ``ceil(bn / rows) x ceil(bk / group_size)`` scale lines and ``ceil(bm / cols) x
  ceil(bn / rows) x rows`` output lines (ragged edges padded to whole lines and tiles);
- a block is at most its extent and a whole number of tiles (``cols``, ``rows``, groups)
  unless it is the whole extent;
- ``k`` is at most ``k_max``, the group size is the build's, and every size fits the
  descriptor's 16-bit fields;
- the GEMM's DRAM image (`image_beats`: its operands' and outputs' lines, back to back as
  `hwsim.hw.rtl.core_layout.core_image` lays them out) fits the core's `ADDRESS_BITS`-bit
  addresses of bus beats (the RTL does not check an address range: it would wrap).

A hardware description of the core carries these as its ``core:`` section (`CoreSection`;
`hwsim.hw.rtl.core_layout.core_hardware` writes it); with the array and ``pe.lanes`` it gives
the `CoreRules` the mapper follows.

The section also states the core's storage widths (``code_bits`` per weight code, one
`SCALE_FIELD_BITS` field per group and row, FP16 activations, outputs of ``word_bits``):
`core_stored_op` restates a GEMM in them, and `CoreRules.block_bytes` gives the whole lines a
block moves (its ragged edges' padding included), so the simulator costs the bytes the core
moves.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

import numpy as np

from hwsim.hw._schema import CONFIG, PosInt
from hwsim.workloads.ops import Op

__all__ = [
    "ACTIVATION_BITS",
    "ADDRESS_BITS",
    "CODE_BITS",
    "SCALE_FIELD_BITS",
    "SIZE_FIELD_BITS",
    "WORD_BITS",
    "CoreError",
    "CoreLines",
    "CoreRules",
    "CoreSection",
    "address_problem",
    "buffer_bits",
    "core_stored_op",
    "fused_problem",
    "output_word_bits",
]

# Bits of the descriptor's size fields (m, n, k and the block sizes).
SIZE_FIELD_BITS = 16
# Bits of the core's DRAM addresses, which count bus beats.
ADDRESS_BITS = 32
# Bits of one row's group scale in a scale line (magnitude, sign, special-value selector).
SCALE_FIELD_BITS = 16
# Bits of an activation in an activation line (FP16, whatever the workload states).
ACTIVATION_BITS = 16
# What a build can store: a weight code's slot (4 when every family of the build has at most
# 4 bits, else 8) and an output word (a power of two >= 32 holding the array's output width,
# at most the 128-bit partial sums a description allows).
CODE_BITS = (4, 8)
WORD_BITS = (32, 64, 128)

BUFFERS = ("activation", "weight", "scale", "output")


class CoreError(IntEnum):
    """Reason codes of the status word's error field (0: no error)."""

    NONE = 0
    ZERO_SIZE = 1        # m, n, k or a block size is 0
    BAD_MODE = 2         # the core's array does not run this weight family
    BAD_GROUP = 3        # group size differs from the one the core was built for
    BAD_BLOCK = 4        # a block is larger than the GEMM, or not a multiple of the tile
    TOO_BIG = 5          # k above k_max, or a block does not fit a buffer half


@dataclass(frozen=True)
class CoreLines:
    """Lines per half (ping-pong) of each of the core's buffers."""

    __pydantic_config__ = CONFIG
    activation: PosInt
    weight: PosInt
    scale: PosInt
    output: PosInt


@dataclass(frozen=True)
class CoreSection:
    """The ``core:`` section of a hardware description: the RTL core's build limits.

    ``group_size``: weights per group scale (every command's); ``k_max``: largest reduction of
    a command; ``lines``: lines per buffer half; ``code_bits``: bits of a weight code in the
    buffers and in DRAM (`CODE_BITS`); ``word_bits``: bits of an output word written to DRAM
    (`WORD_BITS`). The two widths have no default: they depend on the build, and a guess
    would cost the wrong bytes; a description without them is refused naming the key
    (`hwsim.hw.spec`), so an older core YAML is written again by ``hwsim fpga accel_core``
    or given the two keys by hand.
    """

    __pydantic_config__ = CONFIG
    group_size: PosInt
    k_max: PosInt
    lines: CoreLines
    code_bits: Literal[4, 8] | None = None
    word_bits: Literal[32, 64, 128] | None = None

    def stored_bits(self) -> tuple[float, float, float]:
        """Bits per element the core stores and moves: an FP16 activation, a weight (its code
        slot and its share of a group's scale field), an output word."""
        if self.code_bits is None or self.word_bits is None:
            raise ValueError("core section without code_bits / word_bits (checked at the edge)")
        return (float(ACTIVATION_BITS), self.code_bits + SCALE_FIELD_BITS / self.group_size,
                float(self.word_bits))

    def storage(self) -> str:
        """How the core stores a GEMM's operands, for reports: what its bytes count."""
        return (f"{self.code_bits}-bit code slots and a {SCALE_FIELD_BITS}-bit scale per group "
                f"of {self.group_size}, FP16 activations, {self.word_bits}-bit output words")


def _ceil(a: Any, b: int) -> Any:
    return -(-a // b)


@dataclass(frozen=True)
class CoreRules:
    """The core's command rules for one build (array, lanes and its `CoreSection`)."""

    rows: int
    cols: int
    lanes: int
    section: CoreSection

    @property
    def group_size(self) -> int:
        return self.section.group_size

    @property
    def k_max(self) -> int:
        return self.section.k_max

    @property
    def lines(self) -> CoreLines:
        return self.section.lines

    def block_lines(self, bm: Any, bn: Any, bk: Any) -> dict[str, Any]:
        """Lines of each buffer half (`BUFFERS` keys) a ``bm x bn x bk`` block occupies
        (ints or NumPy arrays, broadcast)."""
        mt, nt = _ceil(bm, self.cols), _ceil(bn, self.rows)
        kb = _ceil(bk, self.lanes)
        return {"activation": mt * kb, "weight": nt * kb,
                "scale": nt * _ceil(bk, self.group_size), "output": mt * nt * self.rows}

    def line_bits(self) -> dict[str, int]:
        """Bits of one line of each buffer (`BUFFERS` keys), as stored in DRAM: ``cols x
        lanes`` FP16 activations, ``rows x lanes`` code slots, ``rows`` scale fields, ``cols``
        output words."""
        sec = self.section
        if sec.code_bits is None or sec.word_bits is None:
            raise ValueError("core section without code_bits / word_bits (checked at the edge)")
        return {"activation": self.cols * self.lanes * ACTIVATION_BITS,
                "weight": self.rows * self.lanes * sec.code_bits,
                "scale": self.rows * SCALE_FIELD_BITS, "output": self.cols * sec.word_bits}

    def buffer_bytes(self, bm: Any, bn: Any, bk: Any) -> dict[str, Any]:
        """DRAM bytes the core moves for a ``bm x bn x bk`` block (arrays broadcast), per
        buffer (`BUFFERS` keys): its lines of each (`block_lines`: whole lines, ragged edges
        padded with zeros). The weight codes and the group scales are separate regions of
        DRAM (`hwsim.hw.rtl.core_layout`)."""
        lines, bits = self.block_lines(bm, bn, bk), self.line_bits()
        return {b: lines[b] * bits[b] / 8 for b in BUFFERS}

    def block_bytes(self, bm: Any, bn: Any, bk: Any) -> tuple[Any, Any, Any]:
        """DRAM bytes the core moves for a ``bm x bn x bk`` block (arrays broadcast): its
        activation lines, its weight and scale lines, its output lines (`buffer_bytes`)."""
        per = self.buffer_bytes(bm, bn, bk)
        return per["activation"], per["weight"] + per["scale"], per["output"]

    def overfull(self, bm: Any, bn: Any, bk: Any) -> dict[str, Any]:
        """Per buffer: True where the block does not fit a half (arrays broadcast)."""
        need = self.block_lines(bm, bn, bk)
        return {b: need[b] > getattr(self.lines, b) for b in BUFFERS}

    def blocks_fit(self, bm: Any, bn: Any, bk: Any) -> Any:
        """True where a ``bm x bn x bk`` block fits every buffer half."""
        return ~np.logical_or.reduce(list(self.overfull(bm, bn, bk).values()))

    def group_problem(self, group_size: int | None) -> str | None:
        """Why the core cannot run weights quantized in groups of ``group_size`` (None: it
        can; ``group_size`` None: the GEMM has no groups of its own, the command carries the
        build's). Its scale fields are one per group of the build's size."""
        if group_size is not None and group_size != self.group_size:
            return (f"core.group_size: the core runs groups of {self.group_size} weights, "
                    f"not {group_size}")
        return None

    def image_beats(self, m: Any, n: Any, k: Any, beat_bytes: float) -> Any:
        """Bus beats of ``beat_bytes`` that a GEMM's DRAM image takes (ints or arrays): the
        whole GEMM's lines of each buffer (`block_lines` of one block of it all), each line
        whole beats. The beat is the design's as described (``dram.bytes_per_cycle``, which
        a bandwidth in GB/s may give as 1.9999999999999998: taken as 2)."""
        beat = round(beat_bytes) if math.isclose(beat_bytes, round(beat_bytes)) else beat_bytes
        lines, bits = self.block_lines(m, n, k), self.line_bits()
        return sum(lines[b] * math.ceil(bits[b] / (8 * beat)) for b in BUFFERS)

    def size_problem(self, m: Any, n: Any, k: Any, group_size: int | None,
                     beat_bytes: float | None = None) -> str | None:
        """Why no descriptor of these GEMMs (ints or arrays) can run on the core, naming the
        first offending one (None: every one runs with some blocks).

        ``group_size`` None: the GEMM has no groups of its own; the command carries the
        build's. ``beat_bytes``: the bus beat (the core's ``dram.bytes_per_cycle``), to check
        the image against the core's addresses (None: not checked).
        """
        problem = self.group_problem(group_size)
        if problem is not None:
            return problem
        limit = (1 << SIZE_FIELD_BITS) - 1
        for name, v, most, why in (
                ("m", m, limit, f"the descriptor's {SIZE_FIELD_BITS}-bit field"),
                ("n", n, limit, f"the descriptor's {SIZE_FIELD_BITS}-bit field"),
                ("k", k, min(limit, self.k_max), "core.k_max")):
            v = np.atleast_1d(v)
            bad = np.flatnonzero(v > most)
            if bad.size:
                return f"{why}: {name} = {v[bad[0]]} is above the core's limit {most}"
        if beat_bytes is not None:
            beats = np.atleast_1d(self.image_beats(np.asarray(m, np.int64),
                                                   np.asarray(n, np.int64),
                                                   np.asarray(k, np.int64), beat_bytes))
            bad = np.flatnonzero(beats > 1 << ADDRESS_BITS)
            if bad.size:
                return address_problem(int(beats[bad[0]]), beat_bytes)
        return None

    def command_error(self, m: int, n: int, k: int, block_m: int, block_n: int, block_k: int,
                      group_size: int, mode_ok: bool = True) -> CoreError:
        """The reason the core refuses this command (`CoreError.NONE`: it runs it), checked in
        the RTL's order; ``mode_ok``: the array runs the descriptor's weight family."""
        sizes = (m, n, k, block_m, block_n, block_k)
        if 0 in sizes:
            return CoreError.ZERO_SIZE
        if not mode_ok:
            return CoreError.BAD_MODE
        if group_size != self.group_size:
            return CoreError.BAD_GROUP

        def ragged(block: int, extent: int, tile: int) -> bool:
            return block % tile != 0 and block != extent

        if (block_m > m or block_n > n or block_k > k or ragged(block_m, m, self.cols)
                or ragged(block_n, n, self.rows) or ragged(block_k, k, self.group_size)):
            return CoreError.BAD_BLOCK
        if k > self.k_max or not self.blocks_fit(block_m, block_n, block_k):
            return CoreError.TOO_BIG
        return CoreError.NONE


def address_problem(beats: int, beat_bytes: float) -> str:
    """Why an image of ``beats`` bus beats does not fit the core's addresses."""
    return (f"the core's {ADDRESS_BITS}-bit DRAM addresses: the GEMM's operands and outputs "
            f"take {beats:,} bus beats of {beat_bytes:.6g} bytes, above the 2**{ADDRESS_BITS} "
            "they reach")


def fused_problem(op_name: str) -> str:
    """Why the core cannot run the fused attention kernel ``op_name`` (it runs one GEMM per
    command), naming the workload's kernel it runs: the simulator's, the mapper's and the
    roofline's refusal."""
    return (f"core: the RTL core runs one GEMM per command, not a fused attention kernel "
            f"({op_name}); use the workload's attention: {{kernel: naive}}")


def output_word_bits(width: int) -> int:
    """The output word the core writes a partial sum of ``width`` bits in: the smallest power
    of two >= 32 holding it."""
    return max(32, 1 << math.ceil(math.log2(width)))


def core_stored_op(op: Op, section: CoreSection) -> Op:
    """``op`` (a GEMM) with the widths the core stores and moves its operands in: FP16
    activations (`ACTIVATION_BITS`), weight codes of ``code_bits`` plus one
    `SCALE_FIELD_BITS` field per group of ``group_size`` (the core's; a GEMM of another group
    is refused by the mapper), outputs of ``word_bits``. ``stored_code_bits`` says which
    part of each width is the operand's own (the code slot, the output word), so the
    reports split the bytes without counting a wider slot as scales. The formats, which
    pick the compute path, stay the workload's. Idempotent.
    """
    a_bits, b_bits, out_bits = section.stored_bits()
    return dataclasses.replace(
        op, a_bits=a_bits, b_bits=b_bits, out_bits=out_bits,
        stored_code_bits=(float(ACTIVATION_BITS), float(section.code_bits),
                          float(section.word_bits)))


def buffer_bits(lines: CoreLines, line_bits: dict[str, int]) -> dict[str, int]:
    """Bits each buffer stores (both halves) with ``line_bits`` per line (`BUFFERS` keys):
    the weight buffer holds the weight and the scale lines."""
    half = {b: getattr(lines, b) * line_bits[b] for b in BUFFERS}
    return {"activation": 2 * half["activation"],
            "weight": 2 * (half["weight"] + half["scale"]), "output": 2 * half["output"]}
