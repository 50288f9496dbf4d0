"""The weight tensors of a model: one list that both the operators and the footprint read.

Linear layers are listed with their GEMM shape (``k`` = in_features, ``n`` = out_features) and
how many copies the model stores (layers x experts). Parameters that are not GEMM operands
(embedding table, learned positions, norm scales/shifts, biases) are counted separately.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwsim.workloads.models import ModelConfig

__all__ = [
    "WEIGHT_CLASSES",
    "LinearLayer",
    "linear_layers",
    "linear_names",
    "other_parameters",
    "parameter_count",
]

# Layer classes a workload may give its own weight precision (`weights.overrides`).
WEIGHT_CLASSES = ("attn_proj", "ffn", "router", "lm_head", "embed")


@dataclass(frozen=True)
class LinearLayer:
    """One linear layer (weight ``k x n``) and the number of copies the model stores.

    Attributes:
        name: operator name (``"q_proj"``, ``"expert_up_proj"``, ``"lm_head"``, ...).
        op_class: layer class (one of `WEIGHT_CLASSES`).
        layer: ``"decoder"`` (repeated per decoder layer) or ``"head"``.
        k: in_features (the GEMM reduction dimension).
        n: out_features.
        copies: stored copies: layers for decoder layers, x experts for expert FFNs.
        bias: whether the layer adds a bias vector of n elements.
    """

    name: str
    op_class: str
    layer: str
    k: int
    n: int
    copies: int
    bias: bool = False

    @property
    def parameters(self) -> int:
        """Weights plus bias elements over all copies."""
        return self.copies * (self.k * self.n + (self.n if self.bias else 0))


def linear_layers(model: ModelConfig) -> list[LinearLayer]:
    """The linear layers of `model` in execution order of one decoder layer, then lm_head.

    lm_head is listed even when tied to the embedding (it is still a GEMM); `parameter_count`
    does not count a tied lm_head twice.
    """
    h, L, b = model.hidden, model.layers, model.linear_bias
    qkv_b = b or model.qkv_bias
    out = [
        LinearLayer("q_proj", "attn_proj", "decoder", h, model.q_width, L, qkv_b),
        LinearLayer("k_proj", "attn_proj", "decoder", h, model.kv_width, L, qkv_b),
        LinearLayer("v_proj", "attn_proj", "decoder", h, model.kv_width, L, qkv_b),
        LinearLayer("o_proj", "attn_proj", "decoder", model.q_width, h, L, b),
    ]
    if model.is_moe:
        E = model.experts
        out += [
            LinearLayer("router", "router", "decoder", h, E, L),
            LinearLayer("expert_gate_proj", "ffn", "decoder", h, model.ffn, L * E, b),
            LinearLayer("expert_up_proj", "ffn", "decoder", h, model.ffn, L * E, b),
            LinearLayer("expert_down_proj", "ffn", "decoder", model.ffn, h, L * E, b),
        ]
    elif model.ffn_kind == "gated":
        out += [
            LinearLayer("gate_proj", "ffn", "decoder", h, model.ffn, L, b),
            LinearLayer("up_proj", "ffn", "decoder", h, model.ffn, L, b),
            LinearLayer("down_proj", "ffn", "decoder", model.ffn, h, L, b),
        ]
    else:
        out += [
            LinearLayer("fc1", "ffn", "decoder", h, model.ffn, L, b),
            LinearLayer("fc2", "ffn", "decoder", model.ffn, h, L, b),
        ]
    out.append(LinearLayer("lm_head", "lm_head", "head", h, model.vocab, 1, model.lm_head_bias))
    return out


def linear_names() -> tuple[str, ...]:
    """Every linear-layer name any model may have (valid keys of `weights.overrides`)."""
    return ("q_proj", "k_proj", "v_proj", "o_proj", "router", "expert_gate_proj",
            "expert_up_proj", "expert_down_proj", "gate_proj", "up_proj", "down_proj", "fc1",
            "fc2", "lm_head")


def other_parameters(model: ModelConfig) -> dict[str, int]:
    """Parameters that are not linear-layer weights or biases, by kind.

    Keys: ``"embed"`` (the token table), ``"positions"`` (learned positions: OPT's, a tensor
    of its own, never tied to lm_head), ``"norm"`` (scales and shifts).
    """
    per_norm = model.hidden * (2 if model.norm == "layernorm" else 1)
    norms_per_layer = 1 if model.parallel_block else 2
    return {
        "embed": model.vocab * model.hidden,
        "positions": model.learned_positions * model.hidden,
        "norm": (model.layers * norms_per_layer + 1) * per_norm,  # + the final norm
    }


def parameter_count(model: ModelConfig) -> int:
    """Total stored parameters (a tied lm_head counted once, all experts counted)."""
    total = sum(other_parameters(model).values())
    for lin in linear_layers(model):
        if lin.name == "lm_head" and model.tie_embeddings:
            total += lin.copies * lin.n if lin.bias else 0
            continue
        total += lin.parameters
    return total
