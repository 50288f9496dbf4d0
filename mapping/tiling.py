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

__all__ = ["BlockSchedule", "Mapping", "block_schedule", "map_gemm", "tile_quanta"]

LoopOrder = Literal["n_outer", "m_outer"]


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

    @property
    def blocks(self) -> tuple[int, int, int]:
        """Number of blocks along (m, n, k)."""
        return (-(-self.m // self.block_m), -(-self.n // self.block_n),
                -(-self.k // self.block_k))

    def describe(self) -> str:
        """One-line summary, e.g. ``"n>m>k 256x64x4096 on 32x32, a x4 b x1"``."""
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
        first_k: True on the first k block of an output block (no partial sum to read back).
    """

    bm: np.ndarray
    bn: np.ndarray
    bk: np.ndarray
    load_a_bytes: np.ndarray
    load_b_bytes: np.ndarray
    writeback_bytes: np.ndarray
    first_k: np.ndarray

    @property
    def load_bytes(self) -> np.ndarray:
        """DRAM bytes fetched before each block."""
        return self.load_a_bytes + self.load_b_bytes


def tile_quanta(hw: HardwareSpec, stage: str, group_size: int | None) -> tuple[int, int, int]:
    """Natural block granularity (m, n, k) of the hardware for a stage.

    Non-systolic arrays: tokens in columns, output channels in rows, the reduction in whole
    quantization groups (else lanes). Systolic: the stationary dimensions in array extents
    (``ws``: k on rows, n on columns; ``os``: m on rows, n on columns; ``is``: k on rows, m on
    columns), the streamed one unconstrained.
    """
    arr = hw.array_for(stage)
    pe = hw.pe
    if pe.kind == "systolic":
        return {"ws": (1, arr.cols, arr.rows), "os": (arr.rows, arr.cols, 1),
                "is": (arr.cols, 1, arr.rows)}[pe.dataflow]
    k_q = pe.lanes
    if group_size:
        k_q = int(np.lcm(group_size, pe.lanes))
    return arr.cols, arr.rows, k_q


def _candidates(extent: int, quantum: int) -> np.ndarray:
    """Block sizes quantum x 2^i below extent, plus the full extent."""
    q = min(quantum, extent)
    sizes = [q]
    while sizes[-1] * 2 < extent:
        sizes.append(sizes[-1] * 2)
    sizes.append(extent)
    return np.unique(np.asarray(sizes, dtype=np.int64))


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
    arr = hw.array_for(stage)
    q_m, q_n, q_k = tile_quanta(hw, stage, group_size)
    cap_b = hw.buffers.weight.capacity_bytes
    cap_a = hw.buffers.activation.capacity_bytes
    cap_o = hw.buffers.output.capacity_bytes

    # The smallest blocks must fit, or the hardware cannot run this op at all.
    s_m, s_n, s_k = min(q_m, m), min(q_n, n), min(q_k, k)
    needs = {
        "buffers.weight.kib": 2 * s_n * s_k * b_bits / 8,
        "buffers.activation.kib": 2 * s_m * s_k * a_bits / 8,
        "buffers.output.kib": 2 * s_m * s_n * hw.acc_bits / 8,
    }
    caps = {"buffers.weight.kib": cap_b, "buffers.activation.kib": cap_a,
            "buffers.output.kib": cap_o}
    for field_name, need in needs.items():
        if need > caps[field_name]:
            raise HwsimError(
                f"{hw.source}: {field_name}: {caps[field_name] / 1024:g} KiB cannot hold one "
                f"double-buffered tile of {op_name} ({s_m}x{s_n}x{s_k} of m x n x k needs "
                f"{need / 1024:g} KiB)")

    cm, cn, ck = _candidates(m, q_m), _candidates(n, q_n), _candidates(k, q_k)
    bm, bn, bk, order = (x.ravel() for x in np.meshgrid(cm, cn, ck, np.array([True, False]),
                                                        indexing="ij"))
    fits = ((2 * bn * bk * b_bits / 8 <= cap_b) & (2 * bm * bk * a_bits / 8 <= cap_a)
            & (2 * bm * bn * hw.acc_bits / 8 <= cap_o))
    bm, bn, bk, order = bm[fits], bn[fits], bk[fits], order[fits]
    nb_m, nb_n, nb_k = -(-m // bm), -(-n // bn), -(-k // bk)
    a_f, b_f = _fetches(order, nb_m, nb_n, nb_k)
    a_bytes = m * k * a_bits / 8
    b_bytes = k * n * b_bits / 8
    reads = a_f * a_bytes + b_f * b_bytes
    # Least traffic, then fewer blocks, n_outer first, then larger k, n, m blocks.
    best = np.lexsort((-bm, -bn, -bk, ~order, nb_m * nb_n * nb_k, reads))[0]
    return Mapping(
        m=m, n=n, k=k, rows=arr.rows, cols=arr.cols,
        loop_order="n_outer" if order[best] else "m_outer",
        block_m=int(bm[best]), block_n=int(bn[best]), block_k=int(bk[best]),
        a_fetches=int(a_f[best]), b_fetches=int(b_f[best]),
        dram_read_bytes=float(reads[best]), dram_write_bytes=m * n * out_bits / 8,
    )


def _extents(total: int, block: int, count: int) -> np.ndarray:
    ext = np.full(count, block, dtype=np.int64)
    ext[-1] = total - block * (count - 1)
    return ext


def block_schedule(mp: Mapping, a_bits: float, b_bits: float, out_bits: float) -> BlockSchedule:
    """The blocks of `mp` in execution order with the DRAM bytes each one moves."""
    nb_m, nb_n, nb_k = mp.blocks
    outer, middle = (nb_n, nb_m) if mp.loop_order == "n_outer" else (nb_m, nb_n)
    i_o, i_mid, i_k = (x.ravel() for x in np.indices((outer, middle, nb_k)))
    i_n, i_m = (i_o, i_mid) if mp.loop_order == "n_outer" else (i_mid, i_o)
    bm = _extents(mp.m, mp.block_m, nb_m)[i_m]
    bn = _extents(mp.n, mp.block_n, nb_n)[i_n]
    bk = _extents(mp.k, mp.block_k, nb_k)[i_k]

    def changed(*idx: np.ndarray) -> np.ndarray:
        # A block of an operand is fetched when its index differs from the previous block's.
        out = np.ones(idx[0].shape, dtype=bool)
        if idx[0].size > 1:
            out[1:] = np.any(np.stack([x[1:] != x[:-1] for x in idx]), axis=0)
        return out

    load_a = changed(i_m, i_k) * (bm * bk * a_bits / 8)
    load_b = changed(i_n, i_k) * (bk * bn * b_bits / 8)
    last_k = i_k == nb_k - 1
    writeback = last_k * (bm * bn * out_bits / 8)
    return BlockSchedule(bm=bm, bn=bn, bk=bk, load_a_bytes=load_a.astype(np.float64),
                         load_b_bytes=load_b.astype(np.float64),
                         writeback_bytes=writeback.astype(np.float64), first_k=i_k == 0)
