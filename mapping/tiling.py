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
    "CHOSEN_BY_CYCLES",
    "CHOSEN_BY_TRAFFIC",
    "BlockSchedule",
    "Candidates",
    "Mapping",
    "Mappings",
    "block_schedule",
    "block_schedules",
    "gemm_candidates",
    "map_gemm",
    "map_gemms",
    "mappings_of",
    "representative_blocks",
    "tile_quanta",
]

LoopOrder = Literal["n_outer", "m_outer"]

# What chose a mapping (`Mapping.chosen_by`): the mapper alone (`map_gemm`), or `hwsim.sim`
# costing the mapper's candidates (ties go to the mapper's order, least traffic first).
CHOSEN_BY_TRAFFIC = "least DRAM traffic"
CHOSEN_BY_CYCLES = "fastest (simulated cycles; ties: least DRAM traffic)"

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
        fused: the tiles of a fused attention kernel.
        chosen_by: what picked this blocking among the candidates (`CHOSEN_BY_TRAFFIC`,
            `CHOSEN_BY_CYCLES`; empty: given).
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
    chosen_by: str = ""

    @property
    def blocks(self) -> tuple[int, int, int]:
        """Number of blocks along (m, n, k)."""
        return (-(-self.m // self.block_m), -(-self.n // self.block_n),
                -(-self.k // self.block_k))

    def describe(self) -> str:
        """One-line summary, e.g. ``"n>m>k 256x64x4096 on 32x32, a x4 b x1; fastest"``
        (what chose it last)."""
        chosen = f"; {self.chosen_by}" if self.chosen_by else ""
        if self.fused:
            return (f"fused attention {self.block_m}x{self.block_n}x{self.block_k} tiles on "
                    f"{self.rows}x{self.cols}, K/V x{self.b_fetches}{chosen}")
        order = "n>m>k" if self.loop_order == "n_outer" else "m>n>k"
        return (f"{order} {self.block_m}x{self.block_n}x{self.block_k} on "
                f"{self.rows}x{self.cols}, a x{self.a_fetches} b x{self.b_fetches}{chosen}")


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
    chosen_by: str = ""

    def mapping(self, i: int) -> Mapping:
        """Shape ``i`` as a `Mapping`."""
        return Mapping(
            m=int(self.m[i]), n=int(self.n[i]), k=int(self.k[i]), rows=self.rows,
            cols=self.cols, loop_order="n_outer" if self.n_outer[i] else "m_outer",
            block_m=int(self.block_m[i]), block_n=int(self.block_n[i]),
            block_k=int(self.block_k[i]), a_fetches=int(self.a_fetches[i]),
            b_fetches=int(self.b_fetches[i]), dram_read_bytes=float(self.dram_read_bytes[i]),
            dram_write_bytes=float(self.dram_write_bytes[i]), fused=self.fused,
            chosen_by=self.chosen_by)

    def take(self, idx: np.ndarray, chosen_by: str | None = None) -> Mappings:
        """The entries ``idx`` (an index array) as `Mappings` (``chosen_by``: what picked
        them, if not what picked these)."""
        return Mappings(m=self.m[idx], n=self.n[idx], k=self.k[idx], rows=self.rows,
                        cols=self.cols, fused=self.fused,
                        chosen_by=self.chosen_by if chosen_by is None else chosen_by,
                        **{name: getattr(self, name)[idx] for name in _PER_ENTRY})


@dataclass(frozen=True)
class Candidates:
    """Every blocking of S GEMM shapes that fits the hardware, in the mapper's order.

    Attributes:
        mappings: one entry per candidate (`Mappings` fields; its m, n, k are its shape's),
            shape after shape, each shape's in the mapper's order: least DRAM read traffic,
            then fewer blocks, ``n_outer`` first, then larger k, n and m blocks (a total
            order: no two candidates of a shape tie).
        offsets: shape i's candidates are ``offsets[i]:offsets[i + 1]``; its first one is
            the least-traffic mapping (`map_gemms`).
    """

    mappings: Mappings
    offsets: np.ndarray

    @property
    def shape(self) -> np.ndarray:
        """Index of each candidate's shape."""
        return np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))

    @property
    def rank(self) -> np.ndarray:
        """Each candidate's place in its shape's order (0: the least-traffic one)."""
        return np.arange(self.offsets[-1]) - self.offsets[:-1][self.shape]


# The `Mappings` fields that are one array entry per mapping, besides m, n, k.
_PER_ENTRY = ("n_outer", "block_m", "block_n", "block_k", "a_fetches", "b_fetches",
              "dram_read_bytes", "dram_write_bytes")


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

    Every shape gets exactly the mapping `map_gemm` gives it: the first of its
    `gemm_candidates`, the one with the least DRAM read traffic. (`hwsim.sim` costs the
    candidates and runs the fastest one instead.)

    Raises:
        HwsimError: no block of some shape fits a buffer (as `map_gemm`).
    """
    c = gemm_candidates(m, n, k, a_bits, b_bits, out_bits, hw, stage, group_size, op_name)
    return c.mappings.take(c.offsets[:-1], CHOSEN_BY_TRAFFIC)


def gemm_candidates(
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
) -> Candidates:
    """Every blocking and loop order of each shape that fits the hardware (see the module
    docstring), in the mapper's order (`Candidates`).

    Raises:
        HwsimError: no block of some shape fits a buffer; the message names the buffer
            field (``buffers.weight.kib`` ...) and the capacity one tile needs.
    """
    m, n, k = (np.asarray(x, dtype=np.int64).reshape(-1) for x in (m, n, k))
    arr = hw.array_for(stage)
    q_m, q_n, q_k = tile_quanta(hw, stage, group_size)
    cap_b = hw.buffers.weight.capacity_bytes
    cap_a = hw.buffers.activation.capacity_bytes
    cap_o = hw.buffers.output.capacity_bytes

    rules = hw.core_rules()
    if rules is not None:
        problem = rules.size_problem(m, n, k, group_size, hw.dram_bytes_per_cycle)
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
        parts = [gemm_candidates(m[sl], n[sl], k[sl], a_bits, b_bits, out_bits, hw, stage,
                                 group_size, op_name)
                 for sl in (slice(0, half), slice(half, None))]
        return Candidates(
            mappings=Mappings(rows=arr.rows, cols=arr.cols, **{
                name: np.concatenate([getattr(p.mappings, name) for p in parts])
                for name in ("m", "n", "k", *_PER_ENTRY)}),
            offsets=np.concatenate([parts[0].offsets, parts[0].offsets[-1]
                                    + parts[1].offsets[1:]]))
    # Laid out in the mapper's order of ties: n_outer first, then larger k, n, m blocks (each
    # grid is ascending, so reversed).
    order = np.array([True, False])[None, :, None, None, None]
    bk = ck[:, None, ::-1, None, None]
    bn = cn[:, None, None, ::-1, None]
    bm = cm[:, None, None, None, ::-1]
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
    # Every candidate that fits, shape after shape; within a shape least traffic first, then
    # fewer blocks, n_outer first, then larger k, n, m blocks. With one block along m or n
    # both loop orders walk the same blocks: only the n_outer one is kept.
    twin = ~order & ((nb_m == 1) | (nb_n == 1))
    si, col = np.nonzero(fits & ~twin)
    nblocks = nb_m * nb_n * nb_k
    # A stable sort: equal traffic and blocks keep the grid's order.
    sel = np.lexsort((nblocks[si, col], reads[si, col], si))
    si, col = si[sel], col[sel]
    offsets = np.zeros(len(m) + 1, dtype=np.int64)
    np.cumsum(np.bincount(si, minlength=len(m)), out=offsets[1:])

    def pick(x: np.ndarray) -> np.ndarray:
        return x[si, col]

    return Candidates(mappings=Mappings(
        m=m[si], n=n[si], k=k[si], rows=arr.rows, cols=arr.cols,
        n_outer=pick(order), block_m=pick(bm), block_n=pick(bn), block_k=pick(bk),
        a_fetches=pick(a_f).astype(np.int64), b_fetches=pick(b_f).astype(np.int64),
        dram_read_bytes=pick(reads).astype(np.float64),
        dram_write_bytes=(m * n * out_bits / 8)[si]), offsets=offsets)


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
    s, offsets, _ = _schedules(mps, a_bits, b_bits, out_bits, reduced=False)
    return s, offsets


# Indices that stand for a dimension of more than 4 blocks in `representative_blocks`: the
# first, the second (for all of 1 .. nb - 3), the one before the last, the last.
_REPRESENTED = 4


def representative_blocks(mps: Mappings, a_bits: float, b_bits: float, out_bits: float
                          ) -> tuple[BlockSchedule, np.ndarray, np.ndarray]:
    """A few blocks of each mapping of `mps` that stand for all of its blocks, with weights.

    What a block loads, computes and writes, and what its neighbours in execution order
    load and write, depends on its indices along m, n and k only through whether each is
    the first, the last, or the one before the last (edge blocks are smaller; an operand is
    loaded when its index moves; outputs leave on the last k block). So along a dimension
    of ``nb > 4`` blocks the indices 1 .. nb - 3 are alike: index 1 stands for them all
    (weight nb - 3). A mapping keeps at most 4 x 4 x 4 blocks, in execution order, whose
    neighbours are those of the blocks they stand for; a sum over its blocks of anything
    that depends on a block and its two neighbours is the weighted sum over these.

    Returns:
        The schedule, ``offsets`` (mapping i's blocks are ``offsets[i]:offsets[i + 1]``)
        and each block's weight (how many blocks it stands for).
    """
    return _schedules(mps, a_bits, b_bits, out_bits, reduced=True)


def _schedules(mps: Mappings, a_bits: float, b_bits: float, out_bits: float,
               reduced: bool) -> tuple[BlockSchedule, np.ndarray, np.ndarray]:
    nb_m = -(-mps.m // mps.block_m)
    nb_n = -(-mps.n // mps.block_n)
    nb_k = -(-mps.k // mps.block_k)
    # Blocks walked per dimension: all, or at most 4 representatives (`representative_blocks`).
    r_m, r_n, r_k = ((np.minimum(nb, _REPRESENTED) if reduced else nb)
                     for nb in (nb_m, nb_n, nb_k))
    counts = r_m * r_n * r_k
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    seg = np.repeat(np.arange(len(counts)), counts)
    j = np.arange(offsets[-1], dtype=np.int64) - offsets[seg]
    # Block j of a shape walks (outer, middle, k) with k innermost.
    nbk = r_k[seg]
    middle = np.where(mps.n_outer, r_m, r_n)[seg]
    i_k = j % nbk
    rest = j // nbk
    i_mid, i_o = rest % middle, rest // middle
    n_outer = mps.n_outer[seg]
    i_n = np.where(n_outer, i_o, i_mid)
    i_m = np.where(n_outer, i_mid, i_o)
    weight = np.ones(len(j), dtype=np.int64)
    if reduced:
        # Representative r of a dimension of nb > 4 blocks: index (0, 1, nb - 2, nb - 1)[r].
        def true_index(i: np.ndarray, nb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            nb = nb[seg]
            big = nb > _REPRESENTED
            index = np.where(big & (i >= 2), nb - _REPRESENTED + i, i)
            return index, np.where(big & (i == 1), nb - 3, 1)

        (i_m, w_m), (i_n, w_n), (i_k, w_k) = (true_index(i, nb) for i, nb in
                                              ((i_m, nb_m), (i_n, nb_n), (i_k, nb_k)))
        weight = w_m * w_n * w_k
        nbk = nb_k[seg]

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
    return schedule, offsets, weight


def mappings_of(mp: Mapping) -> Mappings:
    """One `Mapping` as `Mappings` of one shape."""
    one = np.ones(1, dtype=np.int64)
    return Mappings(m=one * mp.m, n=one * mp.n, k=one * mp.k, rows=mp.rows, cols=mp.cols,
                    n_outer=np.array([mp.loop_order == "n_outer"]), block_m=one * mp.block_m,
                    block_n=one * mp.block_n, block_k=one * mp.block_k,
                    a_fetches=one * mp.a_fetches, b_fetches=one * mp.b_fetches,
                    dram_read_bytes=one * mp.dram_read_bytes,
                    dram_write_bytes=one * mp.dram_write_bytes, fused=mp.fused,
                    chosen_by=mp.chosen_by)


def block_schedule(mp: Mapping, a_bits: float, b_bits: float, out_bits: float) -> BlockSchedule:
    """The blocks of `mp` in execution order with the DRAM bytes each one moves."""
    return block_schedules(mappings_of(mp), a_bits, b_bits, out_bits)[0]
