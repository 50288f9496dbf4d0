"""How attention is run: the naive (unfused) form, or a FlashAttention-style fused kernel.

``attention: {kernel: naive | fused, causal: true | false, block_q: 128, block_kv: 64,
splits: 1}`` in the workload (default ``kernel: naive``, the unfused numbers; the fused
defaults are FlashAttention-2's forward tile for head_dim 128).

- ``naive``: three operators, each reading its inputs from memory and writing its output:
  ``attn_qk`` writes the whole score matrix, ``softmax`` reads and writes it, ``attn_sv``
  reads it. Masked scores are computed like any others (a plain GEMM cannot skip them), so
  ``causal`` must stay false.
- ``fused`` (FlashAttention-2 loop order): per (sequence, KV head), for each block of
  ``block_q`` query rows (``block_q // query_group`` tokens with all the ``query_group``
  query heads that share the KV head, so K and V are read once for the group; at least one
  token), for each block of ``block_kv`` keys: scores of the tile
  on chip, online softmax with its running max and sum on chip, the context accumulated on
  chip. From memory: Q once, K and V once per (query block, key block) visited, O written
  once. No score matrix ever reaches memory. ``causal`` (default true with ``fused``) skips
  the key blocks that lie wholly after the query block's last token (and, with a sliding
  window, wholly before its first token's window); partly masked tiles are computed in full.
- Decode (one query token per sequence) runs the split-K form (flash-decoding): the key
  blocks are cut into ``splits`` parts, each writes a partial context and its softmax
  statistics (``query_group x (head_dim + 2)`` FP32 values) to memory, and a combine pass
  reads them back and writes O. ``splits: 1`` is the unsplit kernel; a GPU splits to fill
  its multiprocessors, which costs that partial-result traffic. A step never has more parts
  than key blocks (an early, short step fewer); a ``splits`` that no decode step of the
  workload can use is refused (`decode_key_blocks`). In a served trace a step that also
  prefills is costed as a prefill step, so its decodes run unsplit.

The three operators keep their names and shapes (``attn_qk``, ``softmax``, ``attn_sv``);
a fused kernel attaches a `FusedAttention` to each, which gives the work and the traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "PARTIAL_BITS",
    "AttentionKernel",
    "FusedAttention",
    "FusedBlocks",
    "decode_key_blocks",
    "fused_blocks",
]

# Width of the partial contexts and softmax statistics of split-K decode (FP32).
PARTIAL_BITS = 32.0


@dataclass(frozen=True)
class AttentionKernel:
    """The attention kernel of a workload (see the module docstring)."""

    kernel: Literal["naive", "fused"] = "naive"
    causal: bool = False
    block_q: int = 128
    block_kv: int = 64
    splits: int = 1

    @property
    def fused(self) -> bool:
        """True for the FlashAttention-style kernel."""
        return self.kernel == "fused"


@dataclass(frozen=True)
class FusedBlocks:
    """The tiles a fused kernel computes, concatenated over steps (one entry per tile).

    Attributes:
        step: the step the tile belongs to.
        q_tokens: query tokens of the tile's query block.
        keys: keys of the tile's key block.
        first_kv, last_kv: the tile is the first / last one of its query block.
        q_block: index of the tile's query block, counted over all steps.
    """

    step: np.ndarray
    q_tokens: np.ndarray
    keys: np.ndarray
    first_kv: np.ndarray
    last_kv: np.ndarray
    q_block: np.ndarray

    def per_step(self, values: np.ndarray, steps: int) -> np.ndarray:
        """Sum of a per-tile array over the tiles of each step."""
        return np.bincount(self.step, weights=values, minlength=steps)


def fused_blocks(tokens: np.ndarray, kv_len: np.ndarray, kernel: AttentionKernel,
                 window: int | None, query_group: int = 1) -> FusedBlocks:
    """The tiles of every step (vectorized over steps and blocks).

    Args:
        tokens: query tokens per sequence in each step (the prompt, or 1 in decode).
        kv_len: keys per sequence in each step, the step's own tokens included; the query
            tokens are the last ``tokens`` positions of ``0 .. kv_len - 1``.
        kernel: the fused kernel (block sizes, causal).
        window: sliding attention window in tokens, ``None`` for full attention.
        query_group: query heads per KV head: a query block holds ``block_q // query_group``
            tokens (at least one) with all heads of the group.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    kv_len = np.asarray(kv_len, dtype=np.int64)
    bq, bkv = max(1, kernel.block_q // query_group), kernel.block_kv
    n_q = -(-tokens // bq)
    step = np.repeat(np.arange(tokens.shape[0]), n_q)
    starts = np.zeros(tokens.shape[0], dtype=np.int64)
    np.cumsum(n_q[:-1], out=starts[1:])
    i = np.arange(step.shape[0]) - starts[step]
    offset = (kv_len - tokens)[step]  # position of the step's first query token
    q_first = offset + i * bq
    q_last = offset + np.minimum((i + 1) * bq, tokens[step]) - 1
    q_tokens = q_last - q_first + 1
    length = kv_len[step]
    if kernel.causal:
        lo = np.zeros_like(q_first) if window is None else np.maximum(q_first - window + 1, 0)
        hi = q_last
    else:
        # Every query of the step sees the same keys, as naive does: all of them, or with a
        # window those any of the step's queries sees (from its first query's window on).
        lo = (np.zeros_like(q_first) if window is None
              else np.maximum(offset - window + 1, 0))
        hi = length - 1
    lo_b, hi_b = lo // bkv, hi // bkv
    n_kv = hi_b - lo_b + 1
    tile_q = np.repeat(np.arange(step.shape[0]), n_kv)
    kv_starts = np.zeros(step.shape[0], dtype=np.int64)
    np.cumsum(n_kv[:-1], out=kv_starts[1:])
    j = np.arange(tile_q.shape[0]) - kv_starts[tile_q] + lo_b[tile_q]
    end = np.minimum((j + 1) * bkv, (hi + 1 if not kernel.causal else length)[tile_q])
    # A causal kernel computes a partly masked tile in full; the non-causal one runs its key
    # loop over the step's keys from the first (its first tile may start inside a block).
    start = j * bkv if kernel.causal else np.maximum(j * bkv, lo[tile_q])
    keys = end - start
    first = np.zeros(tile_q.shape[0], dtype=bool)
    first[kv_starts] = True
    last = np.roll(first, -1)
    return FusedBlocks(step=step[tile_q], q_tokens=q_tokens[tile_q], keys=keys,
                       first_kv=first, last_kv=last, q_block=tile_q)


def decode_key_blocks(kv_len: np.ndarray, kernel: AttentionKernel,
                      window: int | None) -> np.ndarray:
    """Key blocks a decode step (one query token) visits: `fused_blocks` of one-token steps,
    in closed form, so that a workload's every decode step can be checked without tiling it
    (`hwsim.workloads.spec` bounds ``splits`` by it)."""
    kv_len = np.asarray(kv_len, dtype=np.int64)
    bkv = kernel.block_kv
    query = kv_len - 1
    # One query token: the causal and the non-causal kernel visit the same keys (the last).
    lo = np.zeros_like(query) if window is None else np.maximum(query - window + 1, 0)
    return query // bkv - lo // bkv + 1


@dataclass(frozen=True, eq=False)
class FusedAttention:
    """What one attention operator does inside a fused kernel.

    Attributes:
        kernel: the workload's kernel.
        part: ``"scores"`` (``attn_qk``), ``"softmax"`` or ``"context"`` (``attn_sv``).
        blocks: the kernel's tiles over the op's steps.
        query_group: query heads per KV head (rows per query token).
        head_dim: the head dimension.
        splits: per step, how many partial results split-K decode writes (1: unsplit).
    """

    kernel: AttentionKernel
    part: Literal["scores", "softmax", "context"]
    blocks: FusedBlocks
    query_group: int
    head_dim: int
    splits: np.ndarray

    @property
    def steps(self) -> int:
        """Number of steps."""
        return int(self.splits.shape[0])

    def pairs(self) -> np.ndarray:
        """(query row, key) pairs computed per instance and step."""
        b = self.blocks
        return self.query_group * b.per_step((b.q_tokens * b.keys).astype(np.float64),
                                              self.steps)

    def keys_read(self) -> np.ndarray:
        """Keys (or values) read from memory per instance and step: one per tile key."""
        return self.blocks.per_step(self.blocks.keys.astype(np.float64), self.steps)

    def query_rows(self) -> np.ndarray:
        """Query rows per instance and step (tokens x query heads of the group)."""
        b = self.blocks
        return self.query_group * b.per_step(np.where(b.first_kv, b.q_tokens, 0)
                                             .astype(np.float64), self.steps)

    def partial_bits(self) -> np.ndarray:
        """Bits of split-K partial results written and read back per instance and step."""
        one = self.query_group * (self.head_dim + 2) * PARTIAL_BITS
        return np.where(self.splits > 1, 2.0 * self.splits * one, 0.0)

    def operand_bits(self, a_bits: float, b_bits: float, out_bits: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Bits of ``a``, ``b`` and the output moved per instance and step by this part.

        Scores: Q (``a``, once per query block) and K (``b``, once per tile). Softmax:
        nothing (its statistics stay on chip). Context: V (``b``, once per tile), O and the
        split-K partial results (output).
        """
        d = self.head_dim
        zero = np.zeros(self.steps)
        if self.part == "scores":
            return self.query_rows() * d * a_bits, self.keys_read() * d * b_bits, zero
        if self.part == "context":
            return (zero, self.keys_read() * d * b_bits,
                    self.query_rows() * d * out_bits + self.partial_bits())
        return zero, zero, zero

    def memory_bits(self, a_bits: float, b_bits: float, out_bits: float) -> np.ndarray:
        """Bits moved to and from memory per instance and step (`operand_bits` summed)."""
        return sum(self.operand_bits(a_bits, b_bits, out_bits))  # type: ignore[return-value]
