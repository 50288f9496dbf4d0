"""Memory footprint of a workload: weights, KV cache at the end of generation, peak activations.

- Weights: every linear layer at its own effective bits per weight (scales and metadata
  included), the embedding table at its precision, norm parameters and biases at 16 bits.
- KV cache: K and V of every layer, kv heads x head_dim per token, for
  ``prompt_tokens + decode_steps`` tokens per sequence (capped by a sliding window).
- Peak activations: the residual stream (batch x prompt x hidden) plus the largest other tensor
  live in one prefill layer: q/k/v outputs, the attention scores of all heads (dense, not
  flash), the FFN intermediate (two of them when gated; x top-k for MoE) or the logits. The
  prefill bounds the decode stage, whose tensors have one token per sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwsim.workloads.inventory import linear_layers, other_parameters
from hwsim.workloads.spec import FP16_BITS, Workload

__all__ = ["Footprint", "footprint"]


@dataclass(frozen=True)
class Footprint:
    """Bytes a workload keeps in memory."""

    weights_bytes: float
    kv_cache_bytes: float
    peak_activation_bytes: float

    @property
    def total_bytes(self) -> float:
        """Sum of the three parts."""
        return self.weights_bytes + self.kv_cache_bytes + self.peak_activation_bytes


def footprint(w: Workload) -> Footprint:
    """Memory footprint of `w` (see the module docstring for what is counted)."""
    if w.model is None:
        weights = sum(g.k * g.n * g.count * w.weights.for_layer(g.name, "gemm").bits_at(g.k)
                      for g in w.gemms) / 8
        acts = max(g.m * (g.k + g.n) * g.count for g in w.gemms) * w.activations.bits / 8
        return Footprint(weights, 0.0, acts)

    model = w.model
    params = other_parameters(model)
    bits = 0.0
    for lin in linear_layers(model):
        prec = w.weights.for_layer(lin.name, lin.op_class)
        if lin.name == "lm_head" and model.tie_embeddings:
            bits += prec.bits_at(lin.k) * params["embed"]  # the shared token table
        else:
            bits += prec.bits_at(lin.k) * lin.copies * lin.k * lin.n
        if lin.bias:
            bits += FP16_BITS * lin.copies * lin.n
    embed = w.weights.for_layer("embed", "embed").bits_at(model.hidden)
    if not model.tie_embeddings:
        bits += embed * params["embed"]
    bits += embed * params["positions"]  # tied or not, a table of its own
    bits += FP16_BITS * params["norm"]

    kv_tokens = w.final_kv_len
    if model.sliding_window is not None:
        kv_tokens = min(kv_tokens, model.sliding_window)
    kv_bytes = (2 * model.layers * w.batch * model.kv_width * kv_tokens
                * w.kv_cache.bits / 8)

    T = w.batch * w.prompt_tokens
    keys = w.prompt_tokens  # a window masks the prefill's scores, the matrix stays P x P
    ffn_inner = model.ffn * (2 if model.ffn_kind == "gated" else 1) * model.experts_per_token
    logit_rows = w.batch if w.logits == "last" else T
    largest = max(
        T * (model.q_width + 2 * model.kv_width),
        w.batch * model.heads * w.prompt_tokens * keys,
        T * ffn_inner,
        logit_rows * model.vocab,
    )
    peak = (T * model.hidden + largest) * w.activations.bits / 8
    return Footprint(bits / 8, float(kv_bytes), float(peak))
