"""Host side of the accelerator core: DRAM images, the golden GEMM, the core's hardware YAML.

DRAM layout (addresses in bus beats; every line is a whole number of beats, LSB beat first):

- activations ``a[m, k]`` (FP16): lines ``[ceil(M / cols)][ceil(K / lanes)]``, line (t, b)
  holds tokens ``t cols ..`` x reductions ``b lanes ..``, column c lane l at bits
  ``(c lanes + l) 16``; zeros pad the ragged edges;
- weight codes ``w[n, k]``: lines ``[ceil(N / rows)][ceil(K / lanes)]``, row r lane l at
  ``(r lanes + l) code_bits``;
- group scales: lines ``[ceil(N / rows)][ceil(K / group_size)]`` of 16-bit fields (magnitude,
  sign, wtype; `hwsim.hw.rtl.core_config`);
- outputs: lines ``[ceil(N / rows)][ceil(M / cols)][rows]``, each ``cols`` signed words.

These layouts do not depend on the mapping: any blocking reads the same image.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hwsim.dtypes import get_format
from hwsim.errors import HwsimError
from hwsim.hw.core_rules import ADDRESS_BITS, address_problem, core_stored_op
from hwsim.hw.pe_kinds import pe_for_block
from hwsim.hw.rtl.bitmod import BitModConfig
from hwsim.hw.rtl.core_config import (
    CORE_SETUP_CYCLES,
    CORE_SLOT_CYCLES,
    CORE_TRANSFER_CYCLES,
    SCALE_FIELD_BITS,
    SCALE_SIGN_BIT,
    SCALE_WTYPE_LSB,
    CoreConfig,
)
from hwsim.hw.rtl.models import bitmod_model
from hwsim.hw.rtl.streams import pack
from hwsim.hw.rtl.terms import dtypes_name, fp16_fields, get_family
from hwsim.workloads.ops import Op

__all__ = [
    "CoreImage",
    "core_block_beats",
    "core_hardware",
    "core_image",
    "core_op",
    "gemm_model",
    "gemm_nonfinite",
    "integer_scales",
    "line_exact",
    "read_outputs",
]


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _fp16_bits(a: np.ndarray) -> np.ndarray:
    """FP16 bit patterns of ``a`` (float16 values, or the patterns already)."""
    a = np.asarray(a)
    if a.dtype == np.float16:
        return a.view(np.uint16)
    if a.dtype.kind == "f":  # its values were taken as bit patterns (70000.0 as 0x1170)
        raise HwsimError(f"a: FP16 activations as float16 values or uint16 bit patterns, not "
                         f"{a.dtype}; convert with .astype(np.float16)")
    _check_field("a", a, 16)
    return a.astype(np.uint16)


def _pad(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    out = np.zeros((rows, cols), dtype=np.int64)
    out[:x.shape[0], :x.shape[1]] = x
    return out


def _tile_lines(x: np.ndarray, tile: int, lanes: int, width: int) -> list[int]:
    """Lines [ceil(rows / tile)][ceil(cols / lanes)] of a padded 2-D array, element
    (i, j) of a line at ``(i lanes + j) width``."""
    rt, cb = _ceil(x.shape[0], tile), _ceil(x.shape[1], lanes)
    p = _pad(x, rt * tile, cb * lanes).reshape(rt, tile, cb, lanes).transpose(0, 2, 1, 3)
    return pack(p.reshape(rt * cb, tile * lanes), width).tolist()


def _beats(lines: list[int], line_bits: int, bus_bits: int) -> list[int]:
    per = line_bits // bus_bits
    mask = (1 << bus_bits) - 1
    return [(line >> (i * bus_bits)) & mask for line in lines for i in range(per)]


def integer_scales(q) -> tuple[np.ndarray, np.ndarray]:
    """Integer group scales and per-row factors of a `quantize(..., scale_format="int8")`.

    The two-level scheme stores ``scale = s_int x row`` with ``s_int`` in 0..255 and the
    row's largest group at 255, so ``row = max(scale) / 255`` recovers both exactly.

    Returns:
        ``(s_int (rows, groups) int64, row (rows,) float64)``.
    """
    scales = np.asarray(q.scales, dtype=np.float64)
    row = scales.max(axis=-1) / 255.0
    with np.errstate(divide="ignore", invalid="ignore"):
        s_int = np.where(row[:, None] > 0, np.rint(scales / row[:, None]), 0).astype(np.int64)
    back = (s_int * row[:, None].astype(np.float32)).astype(np.float32).astype(np.float64)
    if not np.allclose(back, scales, rtol=1e-6, atol=0):
        raise ValueError("scales are not the int8 two-level scheme (scale_format='int8')")
    return s_int, row


@dataclass(frozen=True)
class CoreImage:
    """A GEMM's operands laid out in DRAM for the core.

    Attributes:
        beats: DRAM contents, beat address -> value.
        a_addr, b_addr, s_addr, o_addr: region starts (descriptor fields).
        m, n, k: the GEMM shape.
    """

    beats: dict[int, int]
    a_addr: int
    b_addr: int
    s_addr: int
    o_addr: int
    m: int
    n: int
    k: int


def core_image(c: CoreConfig, a: np.ndarray, codes: np.ndarray, scale: np.ndarray,
               scale_neg: np.ndarray, wtype: np.ndarray | None = None) -> CoreImage:
    """Lay out ``a[m, k]`` (FP16 bit patterns or float16), weight ``codes[n, k]`` and their
    group ``scale``/``scale_neg``/``wtype`` ``[n, groups]`` in DRAM, regions back to back."""
    _check_operands(c, a, codes, scale, scale_neg, wtype)
    a_bits = _fp16_bits(a)
    m, k = a_bits.shape
    n = codes.shape[0]
    size = c.rules.image_beats(m, n, k, c.bus_bytes)
    if size > 1 << ADDRESS_BITS:
        # The core's addresses would wrap into the image's own regions (it has no range check).
        raise HwsimError(address_problem(size, c.bus_bytes))
    bus = 8 * c.bus_bytes
    fields = (np.asarray(scale, np.int64) | (np.asarray(scale_neg, np.int64) << SCALE_SIGN_BIT))
    if wtype is not None:
        fields = fields | (np.asarray(wtype, np.int64) << SCALE_WTYPE_LSB)
    regions = [
        _beats(_tile_lines(a_bits.astype(np.int64), c.cols, c.lanes, 16), c.a_line_bits, bus),
        _beats(_tile_lines(np.asarray(codes, np.int64), c.rows, c.lanes, c.code_bits),
               c.b_line_bits, bus),
        _beats(_scale_lines(c, fields), c.s_line_bits, bus),
    ]
    beats: dict[int, int] = {}
    addrs = []
    at = 0
    for region in regions:
        addrs.append(at)
        beats.update({at + i: v for i, v in enumerate(region)})
        at += len(region)
    return CoreImage(beats, addrs[0], addrs[1], addrs[2], at, m, n, k)


def _check_scales(c: CoreConfig, scale: np.ndarray) -> None:
    """The group scale magnitudes fit the build's ``scale_bits`` (the dequantizer runs one
    cycle per bit): a wider one would lose its high bits in the RTL, not in the model."""
    s = np.asarray(scale, np.int64)
    top = (1 << c.scale_bits) - 1
    if s.size and (s.min() < 0 or s.max() > top):
        bad = int(s.min()) if s.min() < 0 else int(s.max())
        raise HwsimError(f"scale: group scale magnitudes on this core are 0..{top} "
                         f"(scale_bits = {c.scale_bits}), not {bad}")


def _check_operands(c: CoreConfig, a: np.ndarray, codes: np.ndarray, scale: np.ndarray,
                    scale_neg: np.ndarray, wtype: np.ndarray | None) -> None:
    """The operands' shapes agree, and what the image packs into fixed-width fields fits
    them, for `core_image` and `gemm_model` alike: a wider value lost its high bits in the
    image (or spilled into the next field: scale_neg = 2 became the selector's low bit) where
    the model used it whole."""
    _check_shapes(c, a, codes, scale, scale_neg, wtype)
    _check_scales(c, scale)
    _check_field("codes", codes, c.array.code_bits)
    _check_field("scale_neg", scale_neg, 1)
    if wtype is not None:
        _check_field("wtype", wtype, 3)


def _check_shapes(c: CoreConfig, a: np.ndarray, codes: np.ndarray, scale: np.ndarray,
                  scale_neg: np.ndarray, wtype: np.ndarray | None) -> None:
    """``a[m, k]``, ``codes[n, k]`` and ``[n, ceil(k / group_size)]`` of each group field:
    a scale region a group short made the core read the missing scales from the outputs."""
    a, codes = np.asarray(a), np.asarray(codes)
    if a.ndim != 2 or codes.ndim != 2:
        raise HwsimError(f"a and codes: expected 2-D [m, k] and [n, k], got shapes {a.shape} "
                         f"and {codes.shape}")
    (_, k), n = a.shape, codes.shape[0]
    if codes.shape[1] != k:
        raise HwsimError(f"codes: expected shape [n, k] = [{n}, {k}] (k of a), got "
                         f"{codes.shape}")
    groups = _ceil(k, c.group_size)
    for name, field in (("scale", scale), ("scale_neg", scale_neg), ("wtype", wtype)):
        if field is not None and np.shape(field) != (n, groups):
            raise HwsimError(f"{name}: expected shape [n, ceil(k / group_size)] = [{n}, "
                             f"{groups}], got {np.shape(field)}")


def _check_field(name: str, values: np.ndarray, bits: int) -> None:
    """``values`` fit their ``bits``-bit field of the scale line."""
    v = np.asarray(values)
    if v.dtype.kind not in "biu":
        raise HwsimError(f"{name}: expected integers 0..{(1 << bits) - 1}, got dtype {v.dtype}")
    if v.size and (v.min() < 0 or v.max() >= 1 << bits):  # unsigned 2**64 - 1 included
        bad = int(v.min()) if v.min() < 0 else int(v.max())
        raise HwsimError(f"{name}: values of its {bits}-bit field are 0..{(1 << bits) - 1}, "
                         f"not {bad}")


def _scale_lines(c: CoreConfig, fields: np.ndarray) -> list[int]:
    """Scale lines [ceil(N / rows)][groups]: the rows' fields of one group per line."""
    n, groups = fields.shape
    rt = _ceil(n, c.rows)
    p = _pad(fields, rt * c.rows, groups).reshape(rt, c.rows, groups).transpose(0, 2, 1)
    return pack(p.reshape(rt * groups, c.rows), SCALE_FIELD_BITS).tolist()


def read_outputs(c: CoreConfig, image: CoreImage, dram: dict[int, int]) -> np.ndarray:
    """The ``(m, n)`` outputs (object ints, LSB = 2**lsb_exp) the core wrote to ``dram``."""
    bus = 8 * c.bus_bytes
    per_line = c.beats_per_line(c.o_line_bits)
    mt, nt = _ceil(image.m, c.cols), _ceil(image.n, c.rows)
    out = np.zeros((nt * c.rows, mt * c.cols), dtype=object)
    half = 1 << (c.word_bits - 1)
    mask = (1 << c.word_bits) - 1
    for t in range(nt):
        for u in range(mt):
            for r in range(c.rows):
                line_no = (t * mt + u) * c.rows + r
                base = image.o_addr + line_no * per_line
                line = sum(dram.get(base + i, 0) << (i * bus) for i in range(per_line))
                for col in range(c.cols):
                    w = (line >> (col * c.word_bits)) & mask
                    out[t * c.rows + r, u * c.cols + col] = (w ^ half) - half
    return out[:image.n, :image.m].T


def gemm_model(c: CoreConfig, a: np.ndarray, codes: np.ndarray, scale: np.ndarray,
               scale_neg: np.ndarray, wtype: np.ndarray | None = None,
               family: str | None = None, chunk: int = 16) -> np.ndarray:
    """Golden ``(m, n)`` outputs of the core: `bitmod_model` over the whole reduction.

    The core sums the dequantized groups of an output across k blocks in the output buffer;
    blocks hold whole groups, so that is the PE's own sum over all groups. ``family``: the
    mode the command runs (default: the build's first family).
    """
    _check_operands(c, a, codes, scale, scale_neg, wtype)
    names = [f.name for f in c.families]
    mode = names.index(family) if family is not None else 0
    a_bits = _fp16_bits(a)
    m, k = a_bits.shape
    n = codes.shape[0]
    beats = _ceil(k, c.lanes)
    kp = beats * c.lanes
    acts = np.zeros((m, kp), np.uint16)
    acts[:, :k] = a_bits
    w = np.zeros((n, kp), np.int64)
    w[:, :k] = codes
    group_of_beat = np.arange(beats) * c.lanes // c.group_size
    out = np.zeros((m, n), dtype=object)
    a_all = acts.reshape(m, beats, c.lanes).transpose(1, 0, 2)[None]  # (1, beats, m, lanes)
    # The model's array shape stays within the generator's limits: chunks of tokens and rows.
    for m_lo in range(0, m, 64):
        m_hi = min(m, m_lo + 64)
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            cfg = BitModConfig(rows=hi - lo, cols=m_hi - m_lo, lanes=c.lanes, weights=c.weights,
                               group_size=c.group_size, k=k, scale_bits=c.scale_bits,
                               align_bits=c.align_bits, pipeline=0,
                               accumulator=c.accumulator)
            w_model = w[lo:hi].reshape(hi - lo, beats, c.lanes).transpose(1, 0, 2)[None]
            s = np.asarray(scale)[lo:hi][:, group_of_beat].T[None]
            sn = np.asarray(scale_neg)[lo:hi][:, group_of_beat].T[None]
            wt = 0 if wtype is None else np.asarray(wtype)[lo:hi][:, group_of_beat].T[None]
            res = bitmod_model(cfg, w_model, a_all[:, :, m_lo:m_hi], s, sn, wt, mode)
            out[m_lo:m_hi, lo:hi] = res.out[0].T
    return out


def gemm_nonfinite(a: np.ndarray) -> bool:
    """Golden status bit 3 of a command on activations ``a`` (``(m, k)`` float16 or FP16 bit
    patterns): whether any is Inf or NaN. Every activation reaches every output row's PEs,
    which decode it as `bitmod_model` does (`terms.fp16_fields`: Inf/NaN count as 0 and set
    the output's sticky flag); the core ORs the flags of every result it drains."""
    return bool(fp16_fields(_fp16_bits(a))[3].any())


def core_block_beats(c: CoreConfig, schedule) -> tuple[np.ndarray, np.ndarray]:
    """DRAM bus beats the core moves per block of a `hwsim.mapping.BlockSchedule`: (load,
    write-back). The core moves whole lines (zero padding included), the lines a block occupies
    in the buffers (`hwsim.hw.core_rules.CoreRules.block_lines`); an operand is loaded when the
    schedule loads it. The bytes are `CoreRules.block_bytes`, the ones the simulator charges
    on the core's description."""
    a, b, out = (x // c.bus_bytes for x in
                 c.rules.block_bytes(schedule.bm, schedule.bn, schedule.bk))
    load = np.where(schedule.load_a_bytes > 0, a, 0) + np.where(schedule.load_b_bytes > 0, b, 0)
    return load.astype(np.int64), np.where(schedule.writeback_bytes > 0, out, 0).astype(np.int64)


def line_exact(c: CoreConfig, schedule, compute: np.ndarray, latency_cycles: int,
               command_cycles: int,
               pipeline: Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]
               ) -> tuple[int, int]:
    """(cycles, DRAM beats) of a GEMM as the core runs it: the whole-line cycle model, built
    from the core's own beat counts.

    Cycles: the simulator's rules (the command's ``command_cycles``, each block's ``compute``
    cycles from the PE kind's cycle model, the slot rule ``pipeline`` =
    `hwsim.sim.pipeline_cycles` with the core's `CORE_SLOT_CYCLES` per slot, a transfer =
    beats + ``latency_cycles`` + the core's `CORE_TRANSFER_CYCLES`) over the DRAM
    transfers of whole lines that the core moves (`core_block_beats` of ``schedule``, a
    `hwsim.mapping.BlockSchedule`), the zero padding of ragged edges included. The simulator
    charges the same lines on the core's description (`CoreRules.block_bytes`), so this equals
    `simulate_op`'s cycles; the RTL tests hold the core to both. The simulator's pieces come
    in as arguments because `hwsim.hw` sits below `hwsim.mapping` and `hwsim.sim` and never
    imports them.
    """
    load, wb = core_block_beats(c, schedule)
    transfer = latency_cycles + CORE_TRANSFER_CYCLES
    load_c = np.where(load > 0, load + transfer, 0)
    wb_c = np.where(wb > 0, wb + transfer, 0)
    cycles = command_cycles + int(pipeline(compute, load_c, wb_c, CORE_SLOT_CYCLES).sum())
    return cycles, int(load.sum() + wb.sum())


def core_op(c: CoreConfig, m: int, n: int, k: int, name: str = "gemm",
            family: str | None = None):
    """The `hwsim.workloads.ops.Op` of a GEMM as the core stores it (`core_stored_op`: FP16
    activations, codes of `code_bits` with a 16-bit field per group, outputs of `word_bits`,
    the widths the simulator costs any GEMM in on the core's description); weights of
    ``family`` (default: the build's first)."""
    fam = get_family(family) if family else c.families[0]
    op = Op(name=name, op_class="gemm", stage="prefill", layer="gemm", kind="gemm",
            m=np.array([m]), n=np.array([n]), k=np.array([k]), count=1, a_bits=16.0,
            b_bits=float(c.code_bits), out_bits=float(c.word_bits),
            a_format=get_format("fp16"), b_format=get_format(dtypes_name(fam)),
            group_size=c.group_size)
    return core_stored_op(op, c.section)


def core_hardware(c: CoreConfig, latency_cycles: int = 4, clock_mhz: float = 100.0,
                  name: str = "accel_core") -> dict:
    """The hardware YAML mapping of the core: its array, its real buffer memories (one bank
    each, a port of one line), its DRAM bus, its command setup cycles, its command limits
    (``core``: group size, k_max, lines per buffer half, which the mapper's blocks respect);
    `hwsim.hw.spec.hardware_from_dict` takes it.

    ``buffers.output`` is one copy of the output buffer: the second copy the core keeps for
    the write-back's read port (16 of the 8x8 core's 60 EBR) is in neither the area nor the
    energy model (the mapper's capacity is one copy's)."""
    cap = c.buffer_bytes()
    port = {"activation": c.a_line_bits, "weight": c.b_line_bits, "output": c.o_store_bits}
    # The PE and array the core was built of, by the registry's rule for this core.
    pe, rows, cols = pe_for_block("accel_core", dataclasses.asdict(c))
    return {
        "name": name,
        "description": (f"hwsim accel_core {c.rows}x{c.cols} BitMoD {c.weights}, "
                        f"{c.lanes} lanes, group {c.group_size}"),
        "clock_mhz": clock_mhz,
        "pe": pe,
        "array": {"rows": rows, "cols": cols},
        "buffers": {b: {"kib": cap[b] / 1024, "banks": 1, "port_bits": port[b]} for b in cap},
        "dram": {"bytes_per_cycle": c.bus_bytes, "latency_cycles": latency_cycles},
        # Partial sums as the output buffer stores them (the DRAM word is the op's out_bits).
        "acc_bits": c.array.out_width,
        "command_cycles": CORE_SETUP_CYCLES,
        "transfer_cycles": CORE_TRANSFER_CYCLES,
        "slot_cycles": CORE_SLOT_CYCLES,
        # The command rules the mapper follows (`hwsim.hw.core_rules`).
        "core": dataclasses.asdict(c.section),
    }
