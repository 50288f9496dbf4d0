"""The operator record that flows from `workloads/` to `mapping/`, `sim/` and `reports/`.

One `Op` is one operator of one stage, repeated `count` identical times per step, with its
shape given per step as arrays: a decode stage of T steps is one `Op` whose `m`, `n`, `k`
arrays have length T (the KV length grows each step), never T Python objects.

GEMM convention: ``out[m, n] = sum_k a[m, k] * b[k, n]``

- linear layer: m = tokens in the step (batch x tokens), k = in_features, n = out_features,
  b = the weight (``b_kind == "weight"``, stored in ``b_format`` at ``b_bits`` per element
  including scales and metadata);
- attention scores (QK^T), per (batch, kv head): m = query rows (tokens x q heads sharing the
  kv head), k = head_dim, n = kv length, b = the K cache (``b_kind == "kv"``);
- attention context (S.V): m = query rows, k = kv length, n = head_dim, b = the V cache.

Vector operators (norms, softmax, activations, residual adds, embedding lookup) have
``kind == "vector"``, ``k == 1`` and ``m x n`` elements per instance; `flops_per_element` says
how much arithmetic each element costs.

Accelerator arrays map n (output channels) to rows, m (tokens) to columns and k to lanes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from hwsim.dtypes import AnyFormat
from hwsim.workloads.attention import FusedAttention

__all__ = ["OPERAND_FIELDS", "Op", "OpKind", "OperandKind", "Stage"]

Stage = Literal["prefill", "decode"]
OpKind = Literal["gemm", "vector"]
OperandKind = Literal["weight", "kv", "activation"]
# The workload YAML key that sets each kind of operand (for error messages).
OPERAND_FIELDS: dict[str, str] = {"weight": "weights", "kv": "kv_cache",
                                  "activation": "activations"}


def _whole_bits(bits: float) -> float:
    """The code width of a width-only spec: its whole bits (the fraction is metadata)."""
    return float(math.floor(bits + 1e-9)) if bits >= 1 else bits


@dataclass(frozen=True, eq=False)
class Op:
    """One operator of a stage; shapes are int64 arrays with one entry per step.

    Attributes:
        name: operator name as users know it, e.g. ``"q_proj"``, ``"attn_qk"``, ``"lm_head"``.
        op_class: breakdown group, e.g. ``"attention"``, ``"ffn"``, ``"lm_head"``, ``"norm"``.
        stage: ``"prefill"`` or ``"decode"``.
        layer: ``"decoder"`` for an op repeated in every decoder layer (the repetition is
            folded into `count`), otherwise where it sits (``"embed"``, ``"head"``, ``"gemm"``).
        kind: ``"gemm"`` or ``"vector"``.
        m, n, k: per-step shapes (see the module docstring), int64 arrays of equal length.
        count: identical instances per step (layers x batch x kv heads, experts, ...).
        a_bits: bits per element of the ``a`` operand as stored, including scales (8.125
            for int8 activations with FP16 scales per 128); used for traffic.
        b_bits: bits per element of ``b`` as stored, including scales, zero points and type
            selectors for quantized weights (a float: 4.0625 for int4 with FP8 scales per 128).
        out_bits: bits per output element written.
        b_kind: what ``b`` is: a static ``"weight"``, the ``"kv"`` cache, or an ``"activation"``.
        a_format: the `hwsim.dtypes` format of ``a`` when known (``None``: only a width
            given); its code width (8 for int8), not `a_bits`, picks the compute path.
        b_format: the `hwsim.dtypes` format of ``b`` when known (``None``: only a width
            given). Formats travel as `Format` objects (named once, where ops are made), so
            consumers classify them (`Format.bits`, `two_term`, ...) and never parse names.
        group_size: quantization group of ``b`` along k, if any.
        step: per-step index, 0-based (prefill: ``[0]``).
        kv_len: per-step KV length the step attends to (0 for ops without attention).
        flops_per_element: arithmetic per output element of a vector op (0 for GEMMs).
        a_operands: ``m x n`` input tensors a vector op reads (2 for a residual add or a gated
            activation, 0 for none); GEMMs read one ``a``.
        fused: for the attention operators of a fused kernel, its tiles: the work is that of
            the tiles computed (causal skipping), not the dense ``m x n x k``, and the
            traffic that of the kernel (`hwsim.workloads.attention`); ``None`` otherwise.
        out_kind: where the output goes: ``"activation"``, or the ``"kv"`` cache (k_proj,
            v_proj).
        out_format: the `hwsim.dtypes` format of the output when known.
        stored_code_bits: bits of each operand's own slot within its stored width (``a``,
            ``b``, output) when the hardware stores codes in wider slots than their formats
            (the RTL core: 8-bit code slots, 128-bit output words); ``None``: the formats'
            code widths. For splitting traffic into tensors and scales only.
    """

    name: str
    op_class: str
    stage: Stage
    layer: str
    kind: OpKind
    m: np.ndarray
    n: np.ndarray
    k: np.ndarray
    count: int
    a_bits: float
    b_bits: float
    out_bits: float
    b_kind: OperandKind = "weight"
    a_format: AnyFormat | None = None
    b_format: AnyFormat | None = None
    group_size: int | None = None
    step: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    kv_len: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    flops_per_element: float = 0.0
    a_operands: int = 1
    fused: FusedAttention | None = None
    out_kind: OperandKind = "activation"
    out_format: AnyFormat | None = None
    stored_code_bits: tuple[float, float, float] | None = None

    @property
    def a_code_bits(self) -> float:
        """Width of one ``a`` element on the datapath: its format's code width (8 for int8),
        else `a_bits`; the rest of `a_bits` is scales."""
        return float(self.a_format.bits) if self.a_format is not None else self.a_bits

    @property
    def b_code_bits(self) -> float:
        """Width of one ``b`` element without scales / metadata; a width-only spec
        (``{bits: 5.5}``) counts its fraction as metadata."""
        if self.b_format is not None:
            return float(self.b_format.bits)
        return _whole_bits(self.b_bits)

    @property
    def out_code_bits(self) -> float:
        """Width of one output element without scales (`out_bits` when no format is known;
        a KV-cache output as its reader, `b_code_bits`, splits it: the same tensor's bytes
        were 5.5 / 0 code / scale bits written and 5 / 0.5 read)."""
        if self.out_format is not None:
            return float(self.out_format.bits)
        return _whole_bits(self.out_bits) if self.out_kind == "kv" else self.out_bits

    @property
    def steps(self) -> int:
        """Number of steps (entries of the shape arrays)."""
        return int(self.m.shape[0])

    @property
    def macs(self) -> np.ndarray:
        """Multiply-accumulates per step, all `count` instances (0 for vector ops)."""
        if self.kind != "gemm":
            return np.zeros(self.steps, dtype=np.int64)
        if self.fused is not None:
            pairs = np.rint(self.fused.pairs()).astype(np.int64)
            return pairs * self.fused.head_dim * self.count
        return self.m * self.n * self.k * self.count

    @property
    def flops(self) -> np.ndarray:
        """Floating-point operations per step: 2 per MAC, or elements x flops_per_element."""
        if self.kind == "gemm":
            return 2.0 * self.macs
        if self.fused is not None:
            return self.fused.pairs() * self.count * self.flops_per_element
        return self.m * self.n * self.count * self.flops_per_element

