"""Import a `ModelConfig` from a local Hugging Face ``config.json`` (no network, no transformers).

Supported ``model_type`` values: llama, mistral, mixtral, qwen2, opt, phi. The keys read and
their defaults follow the families' public configuration classes; anything that would change
the operators and that this module does not model (e.g. OPT's ``word_embed_proj_dim`` differing
from ``hidden_size``) is rejected rather than ignored. Flags must be JSON ``true``/``false``
(the string ``"false"`` is not false). ``num_key_value_heads: null`` means
``num_attention_heads``; left out, it is the family's default (mistral and mixtral 8, qwen2
32, llama and phi as many as the query heads; OPT has no grouped heads), as are
``max_position_embeddings`` (mistral and mixtral 131072, qwen2 32768, the others 2048) and the
activation (OPT relu, phi gelu_new, the others silu). OPT ignores ``head_dim``, as its
attention does. Norm options hwsim does not model (phi's ``qk_layernorm``, OPT's
``layer_norm_elementwise_affine: false`` and ``_remove_final_layer_norm``) are refused.

Sliding-window attention, as in transformers: mistral and mixtral window every layer when
``sliding_window`` is set (mistral's default, a key left out, is 4096; ``null`` is none);
llama has no window (a ``sliding_window`` key changes nothing); qwen2 windows layer ``i``
only with ``use_sliding_window: true`` and, by its ``layer_types`` (default:
``i >= max_window_layers``, 28 unless given), a ``sliding_attention`` layer, over
``sliding_window`` (4096 when left out).
`ModelConfig` holds one window for every layer, so a qwen2 config mixing windowed and full
layers is refused rather than modelled with the window everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hwsim.errors import HwsimError
from hwsim.files import read_json
from hwsim.workloads.models import ModelConfig

__all__ = ["SUPPORTED_MODEL_TYPES", "model_from_hf_config", "model_from_hf_dict"]

SUPPORTED_MODEL_TYPES = ("llama", "mistral", "mixtral", "qwen2", "opt", "phi")

# The defaults of transformers' configuration classes (5.x) for the keys a config may leave
# out: KV heads (None: as many as the query heads), context, activation.
_KV_HEADS_DEFAULT = {"llama": None, "mistral": 8, "mixtral": 8, "qwen2": 32, "opt": None,
                     "phi": None}
_CONTEXT_DEFAULT = {"llama": 2048, "mistral": 131072, "mixtral": 131072, "qwen2": 32768,
                    "opt": 2048, "phi": 2048}
_ACTIVATION_DEFAULT = {"opt": "relu", "phi": "gelu_new"}  # the others: silu
# Keys whose non-default value changes the operators in a way hwsim does not model.
_UNMODELLED = {"phi": {"qk_layernorm": False},
               "opt": {"layer_norm_elementwise_affine": True, "_remove_final_layer_norm": False}}

_ACTIVATIONS = {"silu": "silu", "swish": "silu", "relu": "relu", "gelu": "gelu",
                "gelu_new": "gelu", "gelu_pytorch_tanh": "gelu", "gelu_fast": "gelu"}


def model_from_hf_config(path: str | Path) -> ModelConfig:
    """Read a Hugging Face ``config.json`` (or a folder holding one) into a `ModelConfig`.

    Raises:
        HwsimError: missing or unreadable file, invalid JSON, unsupported ``model_type`` or a
            missing / invalid key (the message names the file and the key).
    """
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    data = read_json(p, "model config")
    if not isinstance(data, dict):
        raise HwsimError(f"{p}: expected a JSON object, got {type(data).__name__}")
    return model_from_hf_dict(data, source=str(p), name=p.parent.name or p.stem)


def model_from_hf_dict(data: dict[str, Any], source: str = "config.json",
                       name: str | None = None) -> ModelConfig:
    """Build a `ModelConfig` from the parsed contents of a ``config.json``.

    Args:
        data: the JSON object.
        source: file name used in error messages.
        name: model name; defaults to ``_name_or_path`` or the model type.
    """
    if not isinstance(data, dict):
        raise HwsimError(f"{source}: expected a JSON object of model keys, not "
                         f"{type(data).__name__}")
    mtype = data.get("model_type")
    if mtype not in SUPPORTED_MODEL_TYPES:
        raise HwsimError(
            f"{source}: model_type: unsupported architecture {mtype!r} "
            f"(supported: {', '.join(SUPPORTED_MODEL_TYPES)})"
        )

    def get(key: str, default: Any = None, *, required: bool = True) -> Any:
        value = data.get(key, default)
        if value is None and required:
            raise HwsimError(f"{source}: {key}: missing (needed for model_type {mtype!r})")
        return value

    def flag(key: str, default: bool) -> bool:
        value = data.get(key, default)
        # NOTE: bool("false") is True, so only JSON true/false are flags.
        if not isinstance(value, bool):
            raise HwsimError(f"{source}: {key}: expected true or false, got {value!r}")
        return value

    def pos_int(key: str, default: Any = None) -> int:
        value = get(key, default)
        # NOTE: bool is an int subclass, so reject it explicitly.
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise HwsimError(f"{source}: {key}: expected a positive integer, got {value!r}")
        return value

    label = (name or str(data.get("_name_or_path") or mtype)).lower()
    hidden = pos_int("hidden_size")
    heads = pos_int("num_attention_heads")
    layers = pos_int("num_hidden_layers")
    vocab = pos_int("vocab_size")
    for key, default in _UNMODELLED.get(mtype, {}).items():
        if flag(key, default) != default:
            raise HwsimError(f"{source}: {key}: {not default} changes {mtype}'s norms, which "
                             "hwsim does not model")
    # Null: as many KV heads as query heads; absent: the family's default (mistral and
    # mixtral 8, qwen2 32, the others as many as the query heads); 0 is an error.
    given = "num_key_value_heads" in data
    kv_default = _KV_HEADS_DEFAULT[mtype]
    if mtype == "opt" or (data.get("num_key_value_heads") is None
                          and (given or kv_default is None)):
        kv_heads = heads  # OPT has no grouped-query attention: the key is unused
    else:
        kv_heads = pos_int("num_key_value_heads", kv_default)
    if heads % kv_heads:
        default = "" if given else f" ({mtype}'s default: the key is absent)"
        raise HwsimError(f"{source}: num_key_value_heads: {kv_heads}{default} does not divide "
                         f"num_attention_heads {heads}")
    # OPT sizes its heads hidden_size / num_attention_heads whatever head_dim says.
    head_dim = data.get("head_dim") if mtype != "opt" else None
    if head_dim is not None:
        head_dim = pos_int("head_dim")
    elif hidden % heads:
        raise HwsimError(f"{source}: hidden_size {hidden} is not a multiple of "
                         f"num_attention_heads {heads}")
    max_context = pos_int("max_position_embeddings", _CONTEXT_DEFAULT[mtype])

    act_key = "activation_function" if mtype == "opt" else "hidden_act"
    act_name = str(get(act_key, _ACTIVATION_DEFAULT.get(mtype, "silu")))
    if act_name not in _ACTIVATIONS:
        raise HwsimError(f"{source}: {act_key}: unsupported activation {act_name!r} "
                         f"(supported: {', '.join(sorted(_ACTIVATIONS))})")
    activation = _ACTIVATIONS[act_name]

    if mtype == "opt":
        proj = data.get("word_embed_proj_dim", hidden)
        if proj != hidden:
            raise HwsimError(f"{source}: word_embed_proj_dim: {proj} != hidden_size {hidden} "
                             "(OPT's embedding projections are not modelled)")
        if not flag("do_layer_norm_before", True):
            raise HwsimError(f"{source}: do_layer_norm_before: post-LN OPT is not modelled")
        return ModelConfig(
            name=label, hidden=hidden, layers=layers, heads=heads, kv_heads=heads,
            ffn=pos_int("ffn_dim"), vocab=vocab, head_dim=head_dim, ffn_kind="plain",
            activation=activation, norm="layernorm",
            linear_bias=flag("enable_bias", True),
            tie_embeddings=flag("tie_word_embeddings", True),
            learned_positions=max_context + 2,  # OPT offsets positions by 2 rows
            rotary_fraction=0.0, max_context=max_context,
        )
    if mtype == "phi":
        frac = data.get("partial_rotary_factor", 0.5)
        if not isinstance(frac, int | float) or not 0 < frac <= 1:
            raise HwsimError(f"{source}: partial_rotary_factor: expected a number in (0, 1], "
                             f"got {frac!r}")
        return ModelConfig(
            name=label, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads,
            ffn=pos_int("intermediate_size"), vocab=vocab, head_dim=head_dim, ffn_kind="plain",
            activation=activation, norm="layernorm", parallel_block=True, linear_bias=True,
            lm_head_bias=True, tie_embeddings=flag("tie_word_embeddings", False),
            rotary_fraction=float(frac), max_context=max_context,
        )

    # llama, mistral, mixtral, qwen2: RMSNorm, gated FFN, RoPE.
    for key in ("attention_bias", "mlp_bias"):
        if mtype != "qwen2" and flag(key, False):
            raise HwsimError(f"{source}: {key}: biases in {mtype} layers are not modelled")
    window = _sliding_window(data, mtype, layers, source, flag, pos_int)
    experts, top_k = 1, 1
    if mtype == "mixtral":
        experts = pos_int("num_local_experts", 8)
        top_k = pos_int("num_experts_per_tok", 2)
        if top_k > experts:
            raise HwsimError(f"{source}: num_experts_per_tok: {top_k} > num_local_experts "
                             f"{experts}")
    return ModelConfig(
        name=label, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads,
        ffn=pos_int("intermediate_size"), vocab=vocab, head_dim=head_dim, ffn_kind="gated",
        activation=activation, norm="rmsnorm",
        qkv_bias=mtype == "qwen2",
        tie_embeddings=flag("tie_word_embeddings", False),
        experts=experts, experts_per_token=top_k, sliding_window=window,
        max_context=max_context,
    )


_LAYER_TYPES = ("full_attention", "sliding_attention")


def _sliding_window(data: dict[str, Any], mtype: str, layers: int, source: str,
                    flag: Callable[[str, bool], bool],
                    pos_int: Callable[[str], int]) -> int | None:
    """The attention window of every layer (``None``: full attention), as transformers sets
    it per family; a qwen2 mix of windowed and full layers is refused."""
    if mtype == "llama":
        return None  # LlamaConfig has no sliding window: the key, if any, is unused
    if mtype in ("mistral", "mixtral"):
        # MistralConfig's default window is 4096 (a key left out); MixtralConfig's is none.
        if data.get("sliding_window", 4096 if mtype == "mistral" else None) is None:
            return None
        return pos_int("sliding_window", 4096 if mtype == "mistral" else None)
    # qwen2: the window exists only with use_sliding_window; layer_types says which layers.
    use = flag("use_sliding_window", False)
    types = data.get("layer_types")
    if types is not None:
        if not isinstance(types, list) or len(types) != layers \
                or any(t not in _LAYER_TYPES for t in types):
            raise HwsimError(f"{source}: layer_types: expected a list of {layers} entries "
                             f"(num_hidden_layers), each one of {', '.join(_LAYER_TYPES)}")
        sliding = [t == "sliding_attention" for t in types]
        why = "layer_types"
    else:
        first = data.get("max_window_layers", 28)
        # NOTE: bool is an int subclass, so reject it explicitly.
        if isinstance(first, bool) or not isinstance(first, int) or first < 0:
            raise HwsimError(f"{source}: max_window_layers: expected an integer >= 0, got "
                             f"{first!r}")
        sliding = [i >= first for i in range(layers)]
        why = f"max_window_layers {first}"
    # Qwen2Config's window is 4096 when the key is left out (null: none).
    if not use or data.get("sliding_window", 4096) is None or not any(sliding):
        return None
    window = pos_int("sliding_window", 4096)
    if not all(sliding):
        full = sliding.count(False)
        raise HwsimError(
            f"{source}: {why.split()[0]}: {full} of {layers} layers attend in full and the "
            f"other {layers - full} over a sliding window of {window} ({why}); hwsim holds "
            "one window for all layers, so this mix is not modelled")
    return window
