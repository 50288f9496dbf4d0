"""Memory traffic of an operator by tensor: which bytes are weights, activations, KV cache.

Every operator moves three operands: ``a`` (input activations; for the embedding lookup the
gathered table rows, which are weights), ``b`` (weights, the KV cache for the attention
matmuls, nothing for most vector operators) and its output (activations, or KV-cache writes
for k_proj / v_proj). Each operand's stored width includes its scales (and other metadata);
the share beyond the format's code width (`Op.a_code_bits`, ...) is reported as ``scales``.
The tensors always sum to the operator's total bytes.

Access counts follow Timeloop and Accelergy: an access is one word read or written at a
memory level, a word being that level's access width. DRAM's word is `DRAM_WORD_BITS` (a
64-bit channel beat, the DRAM access width of Timeloop/Accelergy's example designs); an
on-chip buffer's is its port (``port_bits`` of the hardware description, the unit its
``read_pj`` / ``write_pj`` are given in). Counts are the traffic's bits over the word width
(`word_accesses`): a transfer is not rounded up to whole words, so accesses x energy per
access is exactly the level's energy.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from hwsim.workloads.ops import Op

__all__ = ["DRAM_WORD_BITS", "TENSORS", "operand_bytes", "operand_tensors", "tensor_bytes",
           "word_accesses"]

TENSORS = ("weights", "activations", "outputs", "kv_read", "kv_write", "scales")
DRAM_WORD_BITS = 64

Operand = Literal["a", "b", "out"]


def operand_tensors(op: Op) -> tuple[str, str, str]:
    """The tensor each operand of `op` belongs to: (``a``, ``b``, output)."""
    a = "weights" if op.op_class == "embed" else "activations"
    b = {"weight": "weights", "kv": "kv_read", "activation": "activations"}[op.b_kind]
    out = "kv_write" if op.out_kind == "kv" else "outputs"
    return a, b, out


def _data_share(code: float, stored: float) -> float:
    return min(code / stored, 1.0) if stored > 0 else 1.0


def operand_bytes(op: Op, operand: Operand, nbytes: np.ndarray | float
                  ) -> dict[str, np.ndarray | float]:
    """Split bytes of one operand of `op` (stored width) into its tensor and ``scales``."""
    index = ("a", "b", "out").index(operand)
    code, stored = ((op.a_code_bits, op.a_bits), (op.b_code_bits, op.b_bits),
                    (op.out_code_bits, op.out_bits))[index]
    share = _data_share(code, stored)
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


def word_accesses(nbytes: np.ndarray | float, word_bits: float) -> np.ndarray | float:
    """Accesses of a level of ``word_bits``-bit words that move ``nbytes``."""
    return nbytes * 8.0 / word_bits
