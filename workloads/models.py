"""LLM configurations: a frozen description per model and the built-in table.

A `ModelConfig` holds only what decides the operators and their shapes. The layout switches
(`ffn_kind`, `norm`, `parallel_block`, biases, experts, ...) are fields rather than a family
name, so a model imported from a Hugging Face ``config.json`` yields exactly the same operators
as the built-in entry with the same numbers.

Facts come from the models' public ``config.json`` files (and, for the six models of the BitMoD
comparison, the BitMoD paper, HPCA 2025, and its public artifacts).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from hwsim.errors import HwsimError

__all__ = ["ModelConfig", "get_model", "list_models"]

FfnKind = Literal["gated", "plain"]
Activation = Literal["silu", "gelu", "relu"]
Norm = Literal["rmsnorm", "layernorm"]


@dataclass(frozen=True)
class ModelConfig:
    """A decoder-only transformer, as far as its operators are concerned.

    Attributes:
        name: canonical name (lower case), e.g. ``"llama-2-7b"``.
        hidden: model width (``hidden_size``).
        layers: decoder layers.
        heads: query heads.
        kv_heads: key/value heads (grouped-query attention when ``< heads``).
        ffn: FFN inner width (``intermediate_size`` / ``ffn_dim``), per expert for MoE.
        vocab: vocabulary size (rows of the embedding table and of lm_head).
        head_dim: per-head width; ``None`` means ``hidden // heads``.
        ffn_kind: ``"gated"`` (SwiGLU-style gate/up/down) or ``"plain"`` (fc1/fc2).
        activation: FFN activation.
        norm: ``"rmsnorm"`` (scale only) or ``"layernorm"`` (scale and shift).
        parallel_block: attention and FFN read the same normed input (Phi-2): one norm per
            layer and one three-way residual add.
        linear_bias: every linear layer of the decoder has a bias (OPT, Phi-2).
        qkv_bias: only q/k/v projections have a bias (Qwen2).
        lm_head_bias: lm_head has a bias (Phi-2).
        tie_embeddings: lm_head shares the embedding table (no separate weight stored).
        learned_positions: rows of a learned position table (OPT: 2048 + 2 offset); 0 = RoPE.
        rotary_fraction: share of head_dim rotated by RoPE (Phi-2: 0.4); 0 when no RoPE.
        experts: FFN experts per layer (1 = dense).
        experts_per_token: experts each token is routed to (top-k).
        sliding_window: attention window in tokens (Mistral-7B v0.1), ``None`` = full.
        max_context: trained context length, for documentation and sanity checks.
    """

    name: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    head_dim: int | None = None
    ffn_kind: FfnKind = "gated"
    activation: Activation = "silu"
    norm: Norm = "rmsnorm"
    parallel_block: bool = False
    linear_bias: bool = False
    qkv_bias: bool = False
    lm_head_bias: bool = False
    tie_embeddings: bool = False
    learned_positions: int = 0
    rotary_fraction: float = 1.0
    experts: int = 1
    experts_per_token: int = 1
    sliding_window: int | None = None
    max_context: int = 4096

    @property
    def dim_head(self) -> int:
        """Per-head width."""
        return self.head_dim if self.head_dim is not None else self.hidden // self.heads

    @property
    def q_width(self) -> int:
        """Output width of q_proj (heads x head_dim)."""
        return self.heads * self.dim_head

    @property
    def kv_width(self) -> int:
        """Output width of k_proj and of v_proj (kv_heads x head_dim)."""
        return self.kv_heads * self.dim_head

    @property
    def query_group(self) -> int:
        """Query heads sharing one KV head."""
        return self.heads // self.kv_heads

    @property
    def rotary_dim(self) -> int:
        """Rotated channels per head (0 without RoPE)."""
        if self.learned_positions:
            return 0
        # Truncated, as transformers sizes its rotary part (phi: int(head_dim * factor)).
        return int(self.dim_head * self.rotary_fraction)

    @property
    def is_moe(self) -> bool:
        """True for a mixture-of-experts FFN."""
        return self.experts > 1


def _llama(name: str, hidden: int, layers: int, heads: int, kv_heads: int, ffn: int, vocab: int,
           max_context: int, **kw: object) -> ModelConfig:
    return ModelConfig(name=name, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads,
                       ffn=ffn, vocab=vocab, max_context=max_context, **kw)  # type: ignore[arg-type]


def _opt(name: str, hidden: int, layers: int, heads: int, ffn: int) -> ModelConfig:
    # OPT: pre-LN LayerNorm, ReLU fc1/fc2, biases everywhere, lm_head tied to the embedding,
    # learned positions with an offset of 2 rows (2048 + 2).
    return ModelConfig(name=name, hidden=hidden, layers=layers, heads=heads, kv_heads=heads,
                       ffn=ffn, vocab=50272, ffn_kind="plain", activation="relu",
                       norm="layernorm", linear_bias=True, tie_embeddings=True,
                       learned_positions=2050, rotary_fraction=0.0, max_context=2048)


_BUILTIN: dict[str, ModelConfig] = {
    m.name: m
    for m in (
        _opt("opt-1.3b", 2048, 24, 32, 8192),
        _opt("opt-6.7b", 4096, 32, 32, 16384),
        _opt("opt-13b", 5120, 40, 40, 20480),
        # Phi-2: parallel attention/FFN block, gelu_new fc1/fc2, partial RoPE on 32 of 80 dims.
        ModelConfig(name="phi-2", hidden=2560, layers=32, heads=32, kv_heads=32, ffn=10240,
                    vocab=51200, ffn_kind="plain", activation="gelu", norm="layernorm",
                    parallel_block=True, linear_bias=True, lm_head_bias=True,
                    rotary_fraction=0.4, max_context=2048),
        _llama("yi-6b", 4096, 32, 32, 4, 11008, 64000, 4096),
        _llama("llama-2-7b", 4096, 32, 32, 32, 11008, 32000, 4096),
        _llama("llama-2-13b", 5120, 40, 40, 40, 13824, 32000, 4096),
        _llama("llama-2-70b", 8192, 80, 64, 8, 28672, 32000, 4096),
        _llama("llama-3-8b", 4096, 32, 32, 8, 14336, 128256, 8192),
        _llama("llama-3-70b", 8192, 80, 64, 8, 28672, 128256, 8192),
        # Mistral-7B v0.1 attends over a sliding window of 4096 tokens.
        _llama("mistral-7b", 4096, 32, 32, 8, 14336, 32000, 32768, sliding_window=4096),
        # Mixtral-8x7B: Mistral-7B's attention, 8 SwiGLU experts per layer, top-2 routing.
        _llama("mixtral-8x7b", 4096, 32, 32, 8, 14336, 32000, 32768, experts=8,
               experts_per_token=2),
    )
}


def list_models() -> list[str]:
    """Names of the built-in model configurations, sorted."""
    return sorted(_BUILTIN)


def get_model(name: str) -> ModelConfig:
    """Return the built-in configuration called `name` (case-insensitive).

    Raises:
        HwsimError: unknown name; the message lists the closest names and all known ones.
    """
    if not isinstance(name, str):
        raise HwsimError(f"model name: expected a string, not {name!r}")
    key = name.strip().lower()
    if key in _BUILTIN:
        return _BUILTIN[key]
    close = difflib.get_close_matches(key, list(_BUILTIN), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise HwsimError(
        f"unknown model {name!r}{hint} (built-in: {', '.join(list_models())}; or give a path "
        "to a Hugging Face config.json)"
    )
