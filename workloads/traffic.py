"""Memory traffic of an operator by tensor: which bytes are weights, activations, KV cache.

Every operator moves three operands: ``a`` (input activations; for the embedding lookup the
gathered table rows, which are weights), ``b`` (weights, the KV cache for the attention
matmuls, nothing for most vector operators) and its output (activations, or KV-cache writes
for k_proj / v_proj). Each operand's stored width includes its scales (and other metadata);
the share beyond the format's code width (`Op.a_code_bits`, ...; the slot a hardware stores the
code in, `Op.stored_code_bits`, when it says so) is reported as ``scales``.
The tensors always sum to the operator's total bytes.

Access counts follow Timeloop and Accelergy: an access is one word read or written at a
memory level, a word being that level's access width, and a transfer moves whole words
(`word_accesses`: its bits over the word width, rounded up). The simulator counts them per
transfer of the block schedule it costs (`hwsim.sim.engine`), with DRAM's word its beat
(``dram.bytes_per_cycle`` bytes) and a buffer's its port (``port_bits``); the roofline, which
has no block schedule and no DRAM width, per stream in `ROOFLINE_WORD_BITS`-bit words
(`hwsim.reports.roofline_analysis`). Energy is charged per bit moved, not per access, so
accesses x energy per access is an upper bound on a level's energy, not the energy.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from hwsim.workloads.ops import Op

__all__ = ["ROOFLINE_WORD_BITS", "TENSORS", "operand_bytes", "operand_data_shares",
           "operand_tensors", "stream_accesses", "tensor_bytes", "whole_words",
           "word_accesses"]

TENSORS = ("weights", "activations", "outputs", "kv_read", "kv_write", "scales")
# The roofline's DRAM word: a 64-bit channel beat, the DRAM access width of Timeloop and
# Accelergy's example designs (a roofline machine gives a bandwidth, not a width).
ROOFLINE_WORD_BITS = 64

Operand = Literal["a", "b", "out"]


def operand_tensors(op: Op) -> tuple[str, str, str]:
    """The tensor each operand of `op` belongs to: (``a``, ``b``, output)."""
    a = "weights" if op.op_class == "embed" else "activations"
    b = {"weight": "weights", "kv": "kv_read", "activation": "activations"}[op.b_kind]
    out = "kv_write" if op.out_kind == "kv" else "outputs"
    return a, b, out


def _data_share(code: float, stored: float) -> float:
    return min(code / stored, 1.0) if stored > 0 else 1.0


def operand_data_shares(op: Op) -> tuple[float, float, float]:
    """The share of each stored operand of `op` (``a``, ``b``, output) that is its tensor's
    code (or the slot the hardware stores it in, `Op.stored_code_bits`); the rest of it is
    scales."""
    codes = op.stored_code_bits or (op.a_code_bits, op.b_code_bits, op.out_code_bits)
    return (_data_share(codes[0], op.a_bits), _data_share(codes[1], op.b_bits),
            _data_share(codes[2], op.out_bits))


def operand_bytes(op: Op, operand: Operand, nbytes: np.ndarray | float
                  ) -> dict[str, np.ndarray | float]:
    """Split bytes of one operand of `op` (stored width) into its tensor and ``scales``."""
    index = ("a", "b", "out").index(operand)
    share = operand_data_shares(op)[index]
    tensor = operand_tensors(op)[index]
    return {tensor: nbytes * share, "scales": nbytes * (1.0 - share)}


def tensor_bytes(op: Op, a: np.ndarray | float, b: np.ndarray | float,
                 out: np.ndarray | float) -> dict[str, np.ndarray | float]:
    """Split the bytes of `op`'s ``a``, ``b`` and output operands into `TENSORS`."""
    parts: dict[str, np.ndarray | float] = dict.fromkeys(TENSORS, 0.0)
    for operand, nbytes in (("a", a), ("b", b), ("out", out)):
        for tensor, part in operand_bytes(op, operand, nbytes).items():  # type: ignore[arg-type]
            parts[tensor] = parts[tensor] + part
    return parts


def whole_words(bits: np.ndarray | float, word_bits: np.ndarray | float,
                out: np.ndarray | None = None) -> np.ndarray:
    """`word_accesses` as whole float64 numbers (exact sums before a cast), into ``out`` (a
    float64 array, which may be ``bits`` itself) if given."""
    # A tiny epsilon keeps exact multiples from rounding up through float error; an empty
    # transfer (0 bits) stays 0.
    if out is None:
        return np.ceil(np.divide(bits, word_bits, dtype=np.float64) - 1e-9)
    np.divide(bits, word_bits, out=out)
    out -= 1e-9
    return np.ceil(out, out=out)


def word_accesses(bits: np.ndarray | float, word_bits: np.ndarray | float) -> np.ndarray:
    """Accesses (int64) of transfers of ``bits`` each on a level of ``word_bits``-bit words:
    whole words, the last one possibly part-filled; an empty transfer takes none."""
    return whole_words(bits, word_bits).astype(np.int64)


def stream_accesses(op: Op, a: np.ndarray | float, b: np.ndarray | float,
                    out: np.ndarray | float, word_bits: float) -> dict[str, np.ndarray]:
    """Accesses per tensor of `TENSORS` when each operand's bits (``a``, ``b``, ``out``: one
    instance of `op`) stream in whole ``word_bits``-bit words, its tensor's code and its
    scales each a stream of their own (int64, shaped as the operands)."""
    parts: dict[str, np.ndarray] = dict.fromkeys(TENSORS, np.zeros((), dtype=np.int64))
    for tensor, share, bits in zip(operand_tensors(op), operand_data_shares(op), (a, b, out),
                                   strict=True):
        parts[tensor] = parts[tensor] + word_accesses(np.multiply(bits, share), word_bits)
        parts["scales"] = parts["scales"] + word_accesses(np.multiply(bits, 1.0 - share),
                                                          word_bits)
    return parts
