"""`operators(workload) -> list[Op]`: every operator of the prefill and of each decode step.

Ops come in execution order, prefill first. The decode stage is one `Op` per operator whose
shape arrays hold one entry per step (see `hwsim.workloads.spec` for the step convention):
step ``s`` (``Op.step == s - 1``) has ``kv_len == prompt_tokens + s``.

Modelling choices (each op reads its inputs and writes its output once, no fusion assumed):

- Decoder ops fold the layers into ``count`` (and batch x kv heads for attention matmuls).
- Attention runs as the workload's ``attention`` kernel says (`hwsim.workloads.attention`).
  The default naive kernel is dense: scores are computed for the whole ``P x P`` block (causal
  masking does not skip work), as plain GEMM kernels do. A sliding window caps the key length.
  A fused kernel keeps the three operators' names and shapes and attaches its tiles to them.
- k_proj / v_proj write their output straight into the KV cache, so their ``out_bits`` is the
  KV width; attn_qk / attn_sv read the cache as their ``b`` operand.
- Biases are added in the GEMM epilogue (no op of their own); they count as parameters.
- Vector ops: ``a_operands`` tensors of ``m x n`` in, one out; ``b`` is a per-channel
  parameter row (norm scale, plus shift for LayerNorm: 2 x 16 bits) or absent (``b_bits=0``).
  The embedding lookup reads the gathered table rows as its ``a`` operand at the table's width.
- Mixture of experts: token-to-expert assignments (tokens x top-k) are spread as evenly as
  possible over ``min(experts, assignments)`` distinct experts, so the MAC count is exact and
  each active expert's weights are read once; uneven splits give two ops of the same name.
- FLOPs per element of vector ops (documented estimates): RMSNorm 4 (square, sum, scale,
  gain), LayerNorm 7, RoPE 3, softmax 5 (scale, max-subtract, exp, sum, divide), SiLU-gate 5,
  GELU 8 (tanh form), ReLU 1, residual add 1 per extra operand.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal

import numpy as np

from hwsim.dtypes import AnyFormat, get_format
from hwsim.errors import HwsimError
from hwsim.workloads.attention import FusedAttention, fused_blocks
from hwsim.workloads.inventory import LinearLayer, linear_layers
from hwsim.workloads.ops import Op, Stage
from hwsim.workloads.spec import FP16_BITS, Precision, Workload

__all__ = ["ATTENTION_OPS", "VECTOR_FLOPS_PER_ELEMENT", "operators", "step_operators"]

# The operators whose shape follows each sequence's query tokens and KV length.
ATTENTION_OPS = ("attn_qk", "softmax", "attn_sv")

VECTOR_FLOPS_PER_ELEMENT = {
    "rmsnorm": 4.0,
    "layernorm": 7.0,
    "rope": 3.0,
    "softmax": 5.0,
    "silu": 5.0,  # silu(gate) * up: negate, exp, add, divide, multiply
    "gelu": 8.0,
    "relu": 1.0,
}


class _Stage:
    """One stage's entries (steps): query tokens per sequence, KV lengths, linear-layer rows,
    lm_head rows, and how many identical sequences share each attention operator."""

    def __init__(self, name: Stage, tokens: np.ndarray, kv_len: np.ndarray, rows: np.ndarray,
                 logit_rows: np.ndarray, sequences: int, window: int | None) -> None:
        self.name: Stage = name
        self.window = window
        self.tokens = tokens
        self.step = np.arange(tokens.shape[0], dtype=np.int64)
        self.kv_len = kv_len
        self.rows = rows  # m of the linear layers
        self.logit_rows = logit_rows
        self.sequences = sequences
        # The keys the step's queries see between them (its GEMMs' width): with a window, a
        # query sees itself and the window - 1 before it, so a step of `tokens` queries spans
        # tokens + window - 1 keys (a decode step, the window). The first window keys alone
        # undercounted a prompt longer than the window (P x W scores, half of K and V read).
        keys = self.kv_len if self.window is None else np.minimum(
            self.kv_len, self.tokens + self.window - 1)
        self.keys = keys.astype(np.int64)

    @classmethod
    def of(cls, w: Workload, stage: Stage) -> _Stage:
        """The prefill (one step) or the decode steps of a workload."""
        if stage == "prefill":
            tokens = np.full(1, w.prompt_tokens, dtype=np.int64)
            kv_len = tokens.copy()
        else:
            tokens = np.ones(w.decode_steps, dtype=np.int64)
            kv_len = w.prompt_tokens + 1 + np.arange(w.decode_steps, dtype=np.int64)
        rows = w.batch * tokens
        logit_rows = np.full_like(rows, w.batch) if (stage == "prefill"
                                                    and w.logits == "last") else rows
        return cls(stage, tokens, kv_len, rows, logit_rows, w.batch,
                   w.model.sliding_window if w.model else None)


def _arr(x: int | np.ndarray, like: np.ndarray) -> np.ndarray:
    return np.broadcast_to(np.asarray(x, dtype=np.int64), like.shape).copy()


def operators(w: Workload) -> list[Op]:
    """The operators of `w`: prefill ops, then decode ops (if ``generate_tokens > 1``).

    A ``gemms:`` workload maps each GEMM to one prefill op (layer ``"gemm"``).

    Raises:
        HwsimError: `w` is not a `Workload` (a name: load it first).
    """
    if not isinstance(w, Workload):
        raise HwsimError(f"workload: expected a Workload (load_workload or "
                         f"workload_from_dict), not {type(w).__name__}")
    if w.model is None:
        return [_gemm_op(w, g.name, g.m, g.n, g.k, g.count) for g in w.gemms]
    ops = _stage_ops(w, _Stage.of(w, "prefill"))
    if w.decode_steps > 0:
        ops += _stage_ops(w, _Stage.of(w, "decode"))
    return ops


def step_operators(w: Workload, stage: Stage, *, tokens: np.ndarray, kv_len: np.ndarray,
                   rows: np.ndarray, logit_rows: np.ndarray, sequences: int = 1,
                   part: Literal["all", "attention", "linear"] = "all") -> list[Op]:
    """Operators of arbitrary steps (one array entry each), e.g. the steps of a served trace.

    Args:
        w: a workload with a model (its precisions, attention kernel, logits).
        stage: array shape the steps run on.
        tokens, kv_len: per entry, query tokens and KV length of each attention sequence.
        rows, logit_rows: per entry, rows of the linear layers and of the lm_head.
        sequences: identical sequences that share each attention operator.
        part: ``"attention"``: only ``attn_qk``, ``softmax``, ``attn_sv``; ``"linear"``: all
            the others.
    """
    model = w.model
    assert model is not None and not model.is_moe
    st = _Stage(stage, *(np.asarray(x, dtype=np.int64) for x in (tokens, kv_len, rows,
                                                                   logit_rows)),
                sequences, model.sliding_window)
    return _stage_ops(w, st, part)


@functools.lru_cache(maxsize=256)
def _format(name: str | None) -> AnyFormat | None:
    """The `Format` a workload precision names, once per name (ops carry the object)."""
    return get_format(name) if name is not None else None


def _gemm_op(w: Workload, name: str, m: int, n: int, k: int, count: int) -> Op:
    prec = w.weights.for_layer(name, "gemm")
    one = np.zeros(1, dtype=np.int64)
    return Op(name=name, op_class="gemm", stage="prefill", layer="gemm", kind="gemm",
              m=one + m, n=one + n, k=one + k, count=count, a_bits=w.activations.bits,
              b_bits=prec.bits_at(k), out_bits=w.activations.bits, b_kind="weight",
              a_format=_format(w.activations.format), b_format=_format(prec.format),
              group_size=prec.group_size, out_format=_format(w.activations.format))


def _fused_parts(w: Workload, st: _Stage) -> dict[str, FusedAttention]:
    """The fused kernel's view of each attention operator (empty for the naive kernel)."""
    kernel = w.attention
    model = w.model
    if not kernel.fused or model is None:
        return {}
    blocks = fused_blocks(_arr(st.tokens, st.kv_len), st.kv_len, kernel, st.window,
                          model.query_group)
    steps = st.kv_len.shape[0]
    if st.name == "decode":
        # Split-K: never more parts than key blocks.
        splits = np.minimum(kernel.splits, np.bincount(blocks.step, minlength=steps))
    else:
        splits = np.ones(steps, dtype=np.int64)
    return {part: FusedAttention(kernel, part, blocks, model.query_group, model.dim_head,
                                 splits)
            for part in ("scores", "softmax", "context")}


def _stage_ops(w: Workload, st: _Stage,
               part: Literal["all", "attention", "linear"] = "all") -> list[Op]:
    """The operators of a stage; `part` keeps only the attention operators (`ATTENTION_OPS`)
    or only the others."""
    model = w.model
    assert model is not None
    act = w.activations.bits
    act_format = _format(w.activations.format)
    kv = w.kv_cache
    L, h = model.layers, model.hidden
    lin = {x.name: x for x in linear_layers(model)}
    like = st.step
    zero = np.zeros_like(like)

    fused = _fused_parts(w, st) if part != "linear" else {}

    def vec(name: str, op_class: str, m: int | np.ndarray, n: int | np.ndarray, count: int,
            flops: float, *, layer: str = "decoder", a_operands: int = 1,
            a_bits: float = act, a_format: AnyFormat | None = act_format, b_bits: float = 0.0,
            kv_len: np.ndarray = zero, fused_part: FusedAttention | None = None) -> Op:
        return Op(name=name, op_class=op_class, stage=st.name, layer=layer, kind="vector",
                  m=_arr(m, like), n=_arr(n, like), k=_arr(1, like), count=count,
                  a_bits=a_bits, a_format=a_format, b_bits=b_bits, out_bits=act,
                  b_kind="weight" if b_bits else "activation", step=like.copy(),
                  kv_len=kv_len.copy(), flops_per_element=flops, a_operands=a_operands,
                  fused=fused_part, out_format=act_format)

    def linear(layer: LinearLayer, m: int, count: int, to_kv: bool = False) -> Op:
        prec = w.weights.for_layer(layer.name, layer.op_class)
        return Op(name=layer.name, op_class=layer.op_class, stage=st.name, layer=layer.layer,
                  kind="gemm", m=_arr(m, like), n=_arr(layer.n, like), k=_arr(layer.k, like),
                  count=count, a_bits=act, b_bits=prec.bits_at(layer.k),
                  out_bits=kv.bits if to_kv else act, b_kind="weight", a_format=act_format,
                  b_format=_format(prec.format), group_size=prec.group_size,
                  step=like.copy(), kv_len=zero.copy(),
                  out_kind="kv" if to_kv else "activation",
                  out_format=_format(kv.format) if to_kv else act_format)

    def attn(name: str, m: int, n: np.ndarray, k: np.ndarray | int) -> Op:
        return Op(name=name, op_class="attention", stage=st.name, layer="decoder",
                  kind="gemm", m=_arr(m, like), n=_arr(n, like), k=_arr(k, like),
                  count=L * st.sequences * model.kv_heads, a_bits=act, b_bits=kv.bits,
                  out_bits=act, b_kind="kv", a_format=act_format, b_format=_format(kv.format),
                  group_size=kv.group_size,
                  step=like.copy(), kv_len=st.kv_len.copy(),
                  fused=fused.get("scores" if name == "attn_qk" else "context"),
                  out_format=act_format)

    q_rows = st.tokens * model.query_group  # query rows per (sequence, kv head)
    kv_count = L * st.sequences * model.kv_heads
    attention = [
        attn("attn_qk", q_rows, st.keys, model.dim_head),
        vec("softmax", "attention", q_rows, st.keys, kv_count,
            VECTOR_FLOPS_PER_ELEMENT["softmax"], kv_len=st.kv_len,
            fused_part=fused.get("softmax")),
        attn("attn_sv", q_rows, _arr(model.dim_head, like), st.keys),
    ]
    if part == "attention":
        return attention
    if part == "linear":
        attention = []
    norm_flops = VECTOR_FLOPS_PER_ELEMENT[model.norm]
    norm_bits = FP16_BITS * (2 if model.norm == "layernorm" else 1)
    T = st.rows
    ops: list[Op] = []

    # Embedding: gather T rows of the table (plus, for OPT, T rows of the position table).
    # A tied table is one tensor, stored at lm_head's precision (spec forbids an embed override);
    # the position table is never tied: stored as an embedding.
    embed_prec = (w.weights.for_layer("lm_head", "lm_head") if model.tie_embeddings
                  else w.weights.for_layer("embed", "embed"))
    if model.learned_positions:
        pos_prec = w.weights.for_layer("embed", "embed")
        embed = vec("embed", "embed", T, h, 1, 1.0, layer="embed", a_operands=2,
                    a_bits=embed_prec.bits_at(h), a_format=_format(embed_prec.format))
        if pos_prec != embed_prec:
            # Two rows a token at two widths: the operand's mean width gives both rows' bytes,
            # the mean code width their split into codes and the token table's scales.
            def code(p: Precision) -> float:
                return float(_format(p.format).bits) if p.format is not None else p.bits_at(h)

            embed = dataclasses.replace(
                embed, a_bits=(embed_prec.bits_at(h) + pos_prec.bits_at(h)) / 2, a_format=None,
                stored_code_bits=((code(embed_prec) + code(pos_prec)) / 2, 0.0,
                                  embed.out_code_bits))
        ops.append(embed)
    else:
        ops.append(vec("embed", "embed", T, h, 1, 0.0, layer="embed",
                       a_bits=embed_prec.bits_at(h), a_format=_format(embed_prec.format)))

    # Attention block.
    ops.append(vec("input_norm", "norm", T, h, L, norm_flops, b_bits=norm_bits))
    ops.append(linear(lin["q_proj"], T, L))
    ops.append(linear(lin["k_proj"], T, L, to_kv=True))
    ops.append(linear(lin["v_proj"], T, L, to_kv=True))
    if model.rotary_dim:
        ops.append(vec("rope", "attention", T, (model.heads + model.kv_heads) * model.rotary_dim,
                       L, VECTOR_FLOPS_PER_ELEMENT["rope"]))
    ops += attention
    ops.append(linear(lin["o_proj"], T, L))
    if not model.parallel_block:
        ops.append(vec("attn_residual", "residual", T, h, L, 1.0, a_operands=2))
        ops.append(vec("post_attn_norm", "norm", T, h, L, norm_flops, b_bits=norm_bits))

    # FFN block.
    act_flops = VECTOR_FLOPS_PER_ELEMENT[model.activation]
    if model.is_moe:
        E, top_k = model.experts, model.experts_per_token
        ops.append(linear(lin["router"], T, L))
        ops.append(vec("router_softmax", "ffn", T, E, L, VECTOR_FLOPS_PER_ELEMENT["softmax"]))
        assignments = int(T[0]) * top_k  # the workload's stages have one row count
        active = min(E, assignments)
        rows, extra = divmod(assignments, active)
        # (rows per expert, experts with that many rows): exact MACs, distinct experts' weights.
        groups = [(rows + 1, extra), (rows, active - extra)]
        for name in ("expert_gate_proj", "expert_up_proj"):
            ops += [linear(lin[name], r, L * e) for r, e in groups if e]
        ops += [vec("expert_act", "ffn", r, model.ffn, L * e, act_flops, a_operands=2)
                for r, e in groups if e]
        ops += [linear(lin["expert_down_proj"], r, L * e) for r, e in groups if e]
        # Weighted sum of the top-k expert outputs: k multiplies and k - 1 adds per element.
        ops.append(vec("expert_combine", "ffn", T, h, L, 2.0 * top_k - 1, a_operands=top_k))
    elif model.ffn_kind == "gated":
        ops.append(linear(lin["gate_proj"], T, L))
        ops.append(linear(lin["up_proj"], T, L))
        ops.append(vec("act", "ffn", T, model.ffn, L, act_flops, a_operands=2))
        ops.append(linear(lin["down_proj"], T, L))
    else:
        ops.append(linear(lin["fc1"], T, L))
        ops.append(vec("act", "ffn", T, model.ffn, L, act_flops))
        ops.append(linear(lin["fc2"], T, L))
    if model.parallel_block:
        # x + attention(x) + ffn(x): one add of three operands.
        ops.append(vec("residual", "residual", T, h, L, 2.0, a_operands=3))
    else:
        ops.append(vec("ffn_residual", "residual", T, h, L, 1.0, a_operands=2))

    # Head: final norm and logits (prefill: all prompt tokens or only the last one).
    logit_rows = st.logit_rows
    ops.append(vec("final_norm", "norm", T, h, 1, norm_flops, layer="head",
                   b_bits=norm_bits))
    ops.append(linear(lin["lm_head"], logit_rows, 1))
    return ops
