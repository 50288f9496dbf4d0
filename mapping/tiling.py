"""Blocking a GEMM into on-chip buffers and ordering the blocks to minimize DRAM traffic.

Model (``out[m, n] = a[m, k] b[k, n]``; ``a`` = activations in the activation buffer,
``b`` = weights or KV cache in the weight buffer, partial sums in the output buffer):

- The GEMM is cut into blocks of ``block_m x block_n x block_k``. Every block of an operand is
  double-buffered (the next one loads while the current one computes), so a buffer must hold
  two blocks: ``2 x block_n x block_k x b_bits / 8 <= weight buffer``, likewise for ``a``
  (``block_m x block_k``) and for the partial sums (``block_m x block_n x acc_bits``).
- Block sizes are multiples of the array's natural tile (`tile_quanta`): output channels in
  multiples of the rows, tokens in multiples of the columns, the reduction in whole
  quantization groups (or lanes), for a systolic array whatever it holds stationary.
- Loop order over blocks: ``n_outer`` (for each n block: for each m block: for each k block)
  or ``m_outer`` (m and n swapped); k is innermost so partial sums stay on chip and every
  output is written to DRAM once. An operand block is fetched from DRAM whenever its block
  index changes between consecutive blocks, so with ``n_outer`` and an unsplit k the weights
  are fetched once and the activations once per n block ("activations re-fetched"); with
  ``m_outer`` the weights are re-fetched once per m block.
- On a description of the RTL core (a ``core`` section, `hwsim.hw.core_rules`) a block must
  also fit the core's buffer halves as the core stores it, in whole lines with ragged edges
  padded (`CoreRules.blocks_fit`), the reduction is blocked in the core's groups, and a GEMM
  no descriptor can hold (k above ``core.k_max``, another group size, a size beyond the
  descriptor's fields) is refused: every mapping chosen is one the core runs.
- The mapper evaluates every candidate (all quanta x powers of two, plus the full extent, both
  orders) and keeps the one with the least DRAM read traffic; ties go to fewer blocks, then
  ``n_outer``, then larger k, n and m blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from hwsim.errors import HwsimError
from hwsim.hw.spec import HardwareSpec

__all__ = [
    "BlockSchedule",
    "Mapping",
    "Mappings",
    "block_schedule",
    "block_schedules",
    "map_gemm",
    "map_gemms",
    "mappings_of",
    "tile_quanta",
]

LoopOrder = Literal["n_outer", "m_outer"]

# Most candidate blocks evaluated at once (shapes x candidates) before splitting the shapes.
_GRID_LIMIT = 1 << 18


@dataclass(frozen=True)
class Mapping:
    """How one GEMM shape is laid onto a hardware description.

    Attributes:
        m, n, k: the GEMM shape.
        rows, cols: the array shape used (prefill or decode shape).
        loop_order: ``"n_outer"`` or ``"m_outer"`` (k always innermost).
        block_m, block_n, block_k: block sizes held in the buffers.
        a_fetches, b_fetches: how many times each operand is read from DRAM in full.
        dram_read_bytes, dram_write_bytes: DRAM traffic of one instance.
    """

    m: int
    n: int
    k: int
    rows: int
    cols: int
    loop_order: LoopOrder
    block_m: int
    block_n: int
    block_k: int
    a_fetches: int
    b_fetches: int
    dram_read_bytes: float
    dram_write_bytes: float
    fused: bool = False

    @property
    def blocks(self) -> tuple[int, int, int]:
        """Number of blocks along (m, n, k)."""
        return (-(-self.m // self.block_m), -(-self.n // self.block_n),
                -(-self.k // self.block_k))

    def describe(self) -> str:
        """One-line summary, e.g. ``"n>m>k 256x64x4096 on 32x32, a x4 b x1"``."""
        if self.fused:
            return (f"fused attention {self.block_m}x{self.block_n}x{self.block_k} tiles on "
                    f"{self.rows}x{self.cols}, K/V x{self.b_fetches}")
        order = "n>m>k" if self.loop_order == "n_outer" else "m>n>k"
        return (f"{order} {self.block_m}x{self.block_n}x{self.block_k} on "
                f"{self.rows}x{self.cols}, a x{self.a_fetches} b x{self.b_fetches}")


@dataclass(frozen=True)
class BlockSchedule:
    """The blocks of one GEMM instance in execution order (one array entry per block).

    Attributes:
        bm, bn, bk: block extents (edge blocks are smaller).
        load_a_bytes, load_b_bytes: DRAM bytes of ``a`` / ``b`` fetched before the block can
            compute (0 when that operand's block is already on chip).
        writeback_bytes: DRAM bytes written after the block (its outputs, on the last k block).
        load_out_bytes: DRAM bytes of written outputs read back before the block (split-K
            partial results read by the combine pass; 0 for a plain GEMM).
        first_k: True on the first k block of an output block (no partial sum to read back).
        last_block: True on the last block of a GEMM instance.
    """

    bm: np.ndarray
    bn: np.ndarray
    bk: np.ndarray
    load_a_bytes: np.ndarray
    load_b_bytes: np.ndarray
    writeback_bytes: np.ndarray
    load_out_bytes: np.ndarray
    first_k: np.ndarray
    last_block: np.ndarray

    @property
    def load_bytes(self) -> np.ndarray:
        """DRAM bytes fetched before each block."""
        return self.load_a_bytes + self.load_b_bytes + self.load_out_bytes


def tile_quanta(hw: HardwareSpec, stage: str, group_size: int | None) -> tuple[int, int, int]:
    """Natural block granularity (m, n, k) of the hardware for a stage.

    Non-systolic arrays: tokens in columns, output channels in rows, the reduction in whole
    quantization groups (else lanes). Systolic: the stationary dimensions in array extents
    (``ws``: k on rows, n on columns; ``os``: m on rows, n on columns; ``is``: k on rows, m on
    columns), the streamed one unconstrained. The RTL core (``hw.core``) blocks k in its own
    groups, whatever the GEMM's.
    """
    arr = hw.array_for(stage)
    if hw.core is not None:
        group_size = hw.core.group_size
    return hw.pe.tile_quanta(arr.rows, arr.cols, group_size)


def _candidate_grid(extent: np.ndarray, quantum: int) -> np.ndarray:
    """Block sizes per shape (rows): quantum x 2^i below the extent, then the extent itself.

    Returns an (S, C) int64 array, ascending per row; 0 marks a padding entry.
    """
    top = int(extent.max())
    sizes = [quantum]
    while sizes[-1] * 2 < top:
        sizes.append(sizes[-1] * 2)
    pow2 = np.asarray(sizes, dtype=np.int64)[None, :]
    grid = np.where(pow2 < extent[:, None], pow2, 0)
    return np.concatenate([grid, extent[:, None]], axis=1)


def _fetches(order: np.ndarray, nb_m: np.ndarray, nb_n: np.ndarray,
             nb_k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a_fetches, b_fetches) for loop orders (True = n_outer) and block counts."""
    k_whole = nb_k == 1
    # n_outer: b stays resident across the m loop when k is whole; a comes back per n block
    # unless it is a single block.
    a_n = np.where(k_whole & (nb_m == 1), 1, nb_n)
    b_n = np.where(k_whole, 1, nb_m)
    a_m = np.where(k_whole, 1, nb_n)
    b_m = np.where(k_whole & (nb_n == 1), 1, nb_m)
    return np.where(order, a_n, a_m), np.where(order, b_n, b_m)


@dataclass(frozen=True)
class Mappings:
    """The mappings of S GEMM shapes of one operator (one array entry per shape).

    Same fields as `Mapping`, as int64 / float64 arrays; ``n_outer`` is True for the
    ``"n_outer"`` loop order; ``fused``: the tiles of a fused attention kernel
    (`hwsim.mapping.attention`, first tile's blocks). ``mapping(i)`` gives shape i as a
    `Mapping`.
    """

    m: np.ndarray
    n: np.ndarray
    k: np.ndarray
    rows: int
    cols: int
    n_outer: np.ndarray
    block_m: np.ndarray
    block_n: np.ndarray
    block_k: np.ndarray
    a_fetches: np.ndarray
    b_fetches: np.ndarray
    dram_read_bytes: np.ndarray
    dram_write_bytes: np.ndarray
    fused: bool = False

    def mapping(self, i: int) -> Mapping:
        """Shape ``i`` as a `Mapping`."""
        return Mapping(
            m=int(self.m[i]), n=int(self.n[i]), k=int(self.k[i]), rows=self.rows,
            cols=self.cols, loop_order="n_outer" if self.n_outer[i] else "m_outer",
            block_m=int(self.block_m[i]), block_n=int(self.block_n[i]),
            block_k=int(self.block_k[i]), a_fetches=int(self.a_fetches[i]),
            b_fetches=int(self.b_fetches[i]), dram_read_bytes=float(self.dram_read_bytes[i]),
            dram_write_bytes=float(self.dram_write_bytes[i]), fused=self.fused)


def map_gemms(
    m: np.ndarray,
    n: np.ndarray,
    k: np.ndarray,
    a_bits: float,
    b_bits: float,
    out_bits: float,
    hw: HardwareSpec,
    stage: str = "prefill",
    group_size: int | None = None,
    op_name: str = "gemm",
) -> Mappings:
    """`map_gemm` for many shapes of one operator at once (int64 arrays of equal length).

    Every shape gets exactly the mapping `map_gemm` gives it: the candidates of all shapes are
    laid out in one padded grid and the same ranking picks one per row.

    Raises:
        HwsimError: no block of some shape fits a buffer (as `map_gemm`).
    """
    m, n, k = (np.asarray(x, dtype=np.int64).reshape(-1) for x in (m, n, k))
    arr = hw.array_for(stage)
    q_m, q_n, q_k = tile_quanta(hw, stage, group_size)
    cap_b = hw.buffers.weight.capacity_bytes
    cap_a = hw.buffers.activation.capacity_bytes
    cap_o = hw.buffers.output.capacity_bytes

    rules = hw.core_rules()
    if rules is not None:
        problem = rules.size_problem(m, n, k, group_size)
        if problem is not None:
            raise HwsimError(f"{hw.source}: {problem} ({op_name})")

    # The smallest blocks must fit, or the hardware cannot run this op at all.
    s_m, s_n, s_k = np.minimum(q_m, m), np.minimum(q_n, n), np.minimum(q_k, k)
    if rules is not None:
        # In the core's own terms first: its lines.
        lines = rules.block_lines(s_m, s_n, s_k)
        for name, over in rules.overfull(s_m, s_n, s_k).items():
            bad = np.flatnonzero(over)
            if bad.size:
                i = bad[0]
                raise HwsimError(
                    f"{hw.source}: core.lines.{name}: {getattr(rules.lines, name)} lines per "
                    f"buffer half cannot hold one tile of {op_name} ({s_m[i]}x{s_n[i]}x"
                    f"{s_k[i]} of m x n x k needs {lines[name][i]} lines)")
    needs = {
        "buffers.weight.kib": (2 * s_n * s_k * b_bits / 8, cap_b),
        "buffers.activation.kib": (2 * s_m * s_k * a_bits / 8, cap_a),
        "buffers.output.kib": (2 * s_m * s_n * hw.acc_bits / 8, cap_o),
    }
    for field_name, (need, cap) in needs.items():
        bad = np.flatnonzero(need > cap)
        if bad.size:
            i = bad[0]
            raise HwsimError(
                f"{hw.source}: {field_name}: {cap / 1024:g} KiB cannot hold one "
                f"double-buffered tile of {op_name} ({s_m[i]}x{s_n[i]}x{s_k[i]} of m x n x k "
                f"needs {need[i] / 1024:g} KiB)")

    # Candidate grid (S, Cm, Cn, Ck, 2): every block size per dimension, both loop orders.
    cm, cn, ck = _candidate_grid(m, q_m), _candidate_grid(n, q_n), _candidate_grid(k, q_k)
    per_shape = 2 * cm.shape[1] * cn.shape[1] * ck.shape[1]
    if len(m) > 1 and len(m) * per_shape > _GRID_LIMIT:
        # Bound the memory of the grid: map the shapes in parts.
        half = len(m) // 2
        parts = [map_gemms(m[sl], n[sl], k[sl], a_bits, b_bits, out_bits, hw, stage,
                           group_size, op_name) for sl in (slice(0, half), slice(half, None))]
        return Mappings(m=m, n=n, k=k, rows=arr.rows, cols=arr.cols, **{
            name: np.concatenate([getattr(p, name) for p in parts])
            for name in ("n_outer", "block_m", "block_n", "block_k", "a_fetches",
                         "b_fetches", "dram_read_bytes", "dram_write_bytes")})
    bm = cm[:, :, None, None, None]
    bn = cn[:, None, :, None, None]
    bk = ck[:, None, None, :, None]
    order = np.array([True, False])[None, None, None, None, :]
    shape = np.broadcast_shapes(bm.shape, bn.shape, bk.shape, order.shape)
    bm, bn, bk, order = (np.broadcast_to(x, shape).reshape(len(m), -1)
                         for x in (bm, bn, bk, order))
    fits = ((bm > 0) & (bn > 0) & (bk > 0)
            & (2 * bn * bk * b_bits / 8 <= cap_b) & (2 * bm * bk * a_bits / 8 <= cap_a)
            & (2 * bm * bn * hw.acc_bits / 8 <= cap_o))
    if rules is not None:
        fits &= rules.blocks_fit(bm, bn, bk)
    # Drop the candidates no shape can hold (most of the grid when the shapes are alike).
    cols = np.flatnonzero(fits.any(axis=0))
    bm, bn, bk, order, fits = (x[:, cols] for x in (bm, bn, bk, order, fits))
    safe = np.maximum
    nb_m = -(-m[:, None] // safe(bm, 1))
    nb_n = -(-n[:, None] // safe(bn, 1))
    nb_k = -(-k[:, None] // safe(bk, 1))
    a_f, b_f = _fetches(order, nb_m, nb_n, nb_k)
    a_bytes = m[:, None] * k[:, None] * a_bits / 8
    b_bytes = k[:, None] * n[:, None] * b_bits / 8
    reads = a_f * a_bytes + b_f * b_bytes
    # Least traffic, then fewer blocks, n_outer first, then larger k, n, m blocks; a block that
    # does not fit sorts last.
    keep = fits
    for key in (reads, nb_m * nb_n * nb_k, ~order, -bk, -bn, -bm):
        # Narrow each row to its candidates with the least key (priority order).
        least = np.where(keep, key, np.inf).min(axis=1, keepdims=True)
        keep = keep & (key == least)
    best = np.argmax(keep, axis=1)
    rows = np.arange(len(m))

    def pick(x: np.ndarray) -> np.ndarray:
        return x[rows, best]

    return Mappings(
        m=m, n=n, k=k, rows=arr.rows, cols=arr.cols, n_outer=pick(order),
        block_m=pick(bm), block_n=pick(bn), block_k=pick(bk),
        a_fetches=pick(a_f).astype(np.int64), b_fetches=pick(b_f).astype(np.int64),
        dram_read_bytes=pick(reads).astype(np.float64),
        dram_write_bytes=m * n * out_bits / 8)


def map_gemm(
    m: int,
    n: int,
    k: int,
    a_bits: float,
    b_bits: float,
    out_bits: float,
    hw: HardwareSpec,
    stage: str = "prefill",
    group_size: int | None = None,
    op_name: str = "gemm",
) -> Mapping:
    """Choose blocks and loop order for one GEMM shape (see the module docstring).

    Raises:
        HwsimError: no block fits a buffer; the message names the buffer field
            (``buffers.weight.kib`` ...) and the capacity one tile needs.
    """
    one = np.ones(1, dtype=np.int64)
    return map_gemms(one * m, one * n, one * k, a_bits, b_bits, out_bits, hw, stage,
                     group_size, op_name).mapping(0)


def block_schedules(mps: Mappings, a_bits: float, b_bits: float,
                    out_bits: float) -> tuple[BlockSchedule, np.ndarray]:
    """The blocks of every shape of `mps`, concatenated shape after shape.

    Returns:
        The schedule and ``offsets`` (length S + 1): shape i's blocks are
        ``offsets[i]:offsets[i + 1]``, in execution order.
    """
    nb_m = -(-mps.m // mps.block_m)
    nb_n = -(-mps.n // mps.block_n)
    nb_k = -(-mps.k // mps.block_k)
    counts = nb_m * nb_n * nb_k
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    seg = np.repeat(np.arange(len(counts)), counts)
    j = np.arange(offsets[-1], dtype=np.int64) - offsets[seg]
    # Block j of a shape walks (outer, middle, k) with k innermost.
    nbk = nb_k[seg]
    middle = np.where(mps.n_outer, nb_m, nb_n)[seg]
    i_k = j % nbk
    rest = j // nbk
    i_mid, i_o = rest % middle, rest // middle
    n_outer = mps.n_outer[seg]
    i_n = np.where(n_outer, i_o, i_mid)
    i_m = np.where(n_outer, i_mid, i_o)

    def extent(i: np.ndarray, total: np.ndarray, block: np.ndarray,
               nblocks: np.ndarray) -> np.ndarray:
        # Every block is full except the last one along its dimension.
        last = nblocks - 1
        return np.where(i == last[seg], (total - block * last)[seg], block[seg])

    bm = extent(i_m, mps.m, mps.block_m, nb_m)
    bn = extent(i_n, mps.n, mps.block_n, nb_n)
    bk = extent(i_k, mps.k, mps.block_k, nb_k)
    # A block of an operand is fetched when its index differs from the previous block's
    # (the first block of every shape fetches both).
    first = np.zeros(len(j), dtype=bool)
    first[offsets[:-1]] = True
    moved_m = np.ones(len(j), dtype=bool)
    moved_n = np.ones(len(j), dtype=bool)
    moved_k = np.ones(len(j), dtype=bool)
    moved_m[1:] = i_m[1:] != i_m[:-1]
    moved_n[1:] = i_n[1:] != i_n[:-1]
    moved_k[1:] = i_k[1:] != i_k[:-1]
    load_a = (first | moved_m | moved_k) * (bm * bk * a_bits / 8)
    load_b = (first | moved_n | moved_k) * (bk * bn * b_bits / 8)
    writeback = (i_k == nbk - 1) * (bm * bn * out_bits / 8)
    schedule = BlockSchedule(bm=bm, bn=bn, bk=bk, load_a_bytes=load_a.astype(np.float64),
                             load_b_bytes=load_b.astype(np.float64),
                             writeback_bytes=writeback.astype(np.float64),
                             load_out_bytes=np.zeros(len(j)), first_k=i_k == 0,
                             last_block=np.roll(first, -1))
    return schedule, offsets


def mappings_of(mp: Mapping) -> Mappings:
    """One `Mapping` as `Mappings` of one shape."""
    one = np.ones(1, dtype=np.int64)
    return Mappings(m=one * mp.m, n=one * mp.n, k=one * mp.k, rows=mp.rows, cols=mp.cols,
                    n_outer=np.array([mp.loop_order == "n_outer"]), block_m=one * mp.block_m,
                    block_n=one * mp.block_n, block_k=one * mp.block_k,
                    a_fetches=one * mp.a_fetches, b_fetches=one * mp.b_fetches,
                    dram_read_bytes=one * mp.dram_read_bytes,
                    dram_write_bytes=one * mp.dram_write_bytes, fused=mp.fused)


def block_schedule(mp: Mapping, a_bits: float, b_bits: float, out_bits: float) -> BlockSchedule:
    """The blocks of `mp` in execution order with the DRAM bytes each one moves."""
    return block_schedules(mappings_of(mp), a_bits, b_bits, out_bits)[0]
