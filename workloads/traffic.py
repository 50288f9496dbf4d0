"""Memory traffic of an operator by tensor: which bytes are weights, activations, KV cache.

Every operator moves three operands: ``a`` (input activations; for the embedding lookup the
gathered table rows, which are weights), ``b`` (weights, the KV cache for the attention
matmuls, nothing for most vector operators) and its output (activations, or KV-cache writes
for k_proj / v_proj). Each operand's stored width includes its scales (and other metadata);
the share beyond the format's code width (`Op.a_code_bits`, ...) is reported as ``scales``.
The tensors always sum to the operator's total bytes.
"""

from __future__ import annotations

import numpy as np

from hwsim.workloads.ops import Op

__all__ = ["TENSORS", "operand_tensors", "tensor_bytes"]

TENSORS = ("weights", "activations", "outputs", "kv_read", "kv_write", "scales")


def operand_tensors(op: Op) -> tuple[str, str, str]:
    """The tensor each operand of `op` belongs to: (``a``, ``b``, output)."""
    a = "weights" if op.op_class == "embed" else "activations"
    b = {"weight": "weights", "kv": "kv_read", "activation": "activations"}[op.b_kind]
    out = "kv_write" if op.out_kind == "kv" else "outputs"
    return a, b, out


def _data_share(code: float, stored: float) -> float:
    return min(code / stored, 1.0) if stored > 0 else 1.0


def tensor_bytes(op: Op, a: np.ndarray | float, b: np.ndarray | float,
                 out: np.ndarray | float) -> dict[str, np.ndarray | float]:
    """Split the bytes of `op`'s ``a``, ``b`` and output operands into `TENSORS`."""
    shares = (_data_share(op.a_code_bits, op.a_bits), _data_share(op.b_code_bits, op.b_bits),
              _data_share(op.out_code_bits, op.out_bits))
    parts: dict[str, np.ndarray | float] = dict.fromkeys(TENSORS, 0.0)
    scales: np.ndarray | float = 0.0
    for tensor, nbytes, share in zip(operand_tensors(op), (a, b, out), shares, strict=True):
        parts[tensor] = parts[tensor] + nbytes * share
        scales = scales + nbytes * (1.0 - share)
    parts["scales"] = scales
    return parts
