"""A fused attention operator laid onto the hardware: its tiles as a block schedule.

The fused kernel (`hwsim.workloads.attention`) fixes its own blocking, so there is no search:
every tile of the kernel is one block of the pipeline, in the kernel's loop order (query
blocks outer, key blocks inner).

- Scores part (``attn_qk``): block ``m = query rows, n = keys, k = head_dim``; Q is loaded on
  the first tile of a query block, K on every tile; nothing is written back (the scores stay
  in the output buffer for the on-chip softmax).
- Context part (``attn_sv``): block ``m = query rows, n = head_dim, k = keys``; the
  probabilities are already on chip (no load of ``a``), V is loaded on every tile, the
  context accumulates over the query block's tiles and is written once, after its last
  tile; split-K decode writes its partial results after the step's last tile (write-back)
  and its combine pass reads them back (a load charged to that same tile).

On-chip state the kernel needs (refused with the buffer field and the block keys when it does
not fit): the weight buffer holds a double-buffered K or V tile (``2 x block_kv x head_dim``
at the KV width), the activation buffer a double-buffered Q block and probability tile
(``2 x rows x (head_dim + block_kv)`` at the activation width), the output buffer the score
tile, the context accumulator and the softmax statistics (running max and sum, FP32):
``rows x (block_kv + head_dim) x acc_bits + rows x 2 x 32``.
"""

from __future__ import annotations

import numpy as np

from hwsim.errors import HwsimError
from hwsim.hw.core_rules import fused_problem
from hwsim.hw.spec import HardwareSpec
from hwsim.mapping.tiling import BlockSchedule, Mappings
from hwsim.workloads.attention import PARTIAL_BITS
from hwsim.workloads.ops import Op

__all__ = ["fused_attention_schedule", "fused_buffer_needs"]


def fused_buffer_needs(op: Op, hw: HardwareSpec) -> dict[str, float]:
    """Bytes the fused kernel keeps in each buffer (keys ``buffers.<name>.kib``)."""
    f = op.fused
    assert f is not None
    b = f.blocks
    rows = f.query_group * int(b.q_tokens.max())
    keys = int(b.keys.max())
    d = f.head_dim
    return {
        "buffers.weight.kib": 2 * keys * d * op.b_bits / 8,
        "buffers.activation.kib": 2 * rows * (d + keys) * op.a_bits / 8,
        "buffers.output.kib": (rows * (keys + d) * hw.acc_bits + rows * 2 * PARTIAL_BITS) / 8,
    }


def _check_fits(op: Op, hw: HardwareSpec) -> None:
    caps = {"buffers.weight.kib": hw.buffers.weight.capacity_bytes,
            "buffers.activation.kib": hw.buffers.activation.capacity_bytes,
            "buffers.output.kib": hw.buffers.output.capacity_bytes}
    kernel = op.fused.kernel  # type: ignore[union-attr]
    for field_name, need in fused_buffer_needs(op, hw).items():
        if need > caps[field_name]:
            raise HwsimError(
                f"{hw.source}: {field_name}: {caps[field_name] / 1024:g} KiB cannot hold the "
                f"fused attention tile of {op.stage} {op.name} (attention.block_q "
                f"{kernel.block_q}, block_kv {kernel.block_kv} need {need / 1024:g} KiB); "
                "give smaller attention blocks")


def fused_attention_schedule(op: Op, hw: HardwareSpec
                             ) -> tuple[Mappings, BlockSchedule, np.ndarray]:
    """The tiles of a fused attention op, every step one block sequence.

    Returns:
        (per-step `Mappings` for the report, the concatenated schedule, ``offsets``: step i's
        blocks are ``offsets[i]:offsets[i + 1]``).

    Raises:
        HwsimError: the kernel's tiles do not fit the buffers (names the buffer field and
            the attention block keys), or the hardware is the RTL core (one GEMM per command).
    """
    f = op.fused
    assert f is not None and f.part in ("scores", "context")
    if hw.core is not None:
        raise HwsimError(f"{hw.source}: {fused_problem(op.name)}")
    _check_fits(op, hw)
    b = f.blocks
    d = f.head_dim
    rows = f.query_group * b.q_tokens
    heads = np.full(rows.shape, d, dtype=np.int64)
    counts = np.bincount(b.step, minlength=f.steps)
    offsets = np.zeros(f.steps + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    last_block = np.zeros(rows.shape, dtype=bool)
    last_block[offsets[1:] - 1] = True
    kv_bytes = b.keys * d * op.b_bits / 8
    zero = np.zeros(rows.shape)
    if f.part == "scores":
        s = BlockSchedule(bm=rows, bn=b.keys, bk=heads,
                          load_a_bytes=b.first_kv * (rows * d * op.a_bits / 8),
                          load_b_bytes=kv_bytes, writeback_bytes=zero, load_out_bytes=zero,
                          first_k=np.ones(rows.shape, dtype=bool), last_block=last_block)
    else:
        # `partial_bits` counts the partial results twice: written once, read back once.
        partial = np.zeros(rows.shape)
        partial[offsets[1:] - 1] = f.partial_bits() / 16
        s = BlockSchedule(bm=rows, bn=heads, bk=b.keys, load_a_bytes=zero,
                          load_b_bytes=kv_bytes, load_out_bytes=partial,
                          writeback_bytes=b.last_kv * (rows * d * op.out_bits / 8) + partial,
                          first_k=b.first_kv, last_block=last_block)
    arr = hw.array_for(op.stage)
    first = offsets[:-1]
    q_blocks = np.bincount(b.step, weights=b.first_kv.astype(np.float64), minlength=f.steps)
    mps = Mappings(
        m=op.m.copy(), n=op.n.copy(), k=op.k.copy(), rows=arr.rows, cols=arr.cols,
        n_outer=np.ones(f.steps, dtype=bool), block_m=s.bm[first], block_n=s.bn[first],
        block_k=s.bk[first], a_fetches=np.ones(f.steps, dtype=np.int64),
        b_fetches=q_blocks.astype(np.int64),
        dram_read_bytes=np.add.reduceat(s.load_bytes, first),
        dram_write_bytes=np.add.reduceat(s.writeback_bytes, first), fused=True)
    return mps, s, offsets
