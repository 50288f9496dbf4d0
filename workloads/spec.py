"""The workload YAML: pydantic validation at the edge, then a frozen `Workload`.

Schema (unknown keys are rejected everywhere)::

    name: llama-2-7b-generative       # optional; defaults to the file's stem
    description: ...                  # optional free text
    model: llama-2-7b                 # built-in name, path to a HF config.json, or its contents
    batch: 1                          # >= 1
    prompt_tokens: 256                # >= 1
    generate_tokens: 21               # >= 1: tokens output (see below)
    logits: all                       # prefill lm_head over "all" prompt tokens or the "last"
    weights: {format: bitmod3, group_size: 128, overrides: {lm_head: {format: int8}}}
    activations: {bits: 16}           # or {format: fp8_e4m3}
    kv_cache: {bits: 16}              # or {format: int8, group_size: 64}
    attention: {kernel: naive}        # or {kernel: fused, causal: true, block_q: 128,
                                      #     block_kv: 64, splits: 1} (`hwsim.workloads.attention`)
    hardware: bitmod                  # preset name or YAML path (relative to this file), for
                                      # the simulator / roofline

or, for serving (`hwsim.workloads.serving`), a request trace instead of the token counts::

    requests: trace.csv               # or [{arrival_s: 0.0, prompt_tokens: 512,
                                      #      generate_tokens: 64}, ...]
    serving: {max_batch: 32, max_tokens_per_step: 2048, chunked_prefill: true}

or ``batch: [512, 1024, 2048]`` (with ``generate_tokens``, without ``prompt_tokens``): that many
sequences with those context lengths, decoded together (ragged KV lengths).

or, for kernel studies, raw GEMMs instead of a model::

    gemms: [{name: g1, m: 1024, n: 1024, k: 1024, count: 1}]
    weights: {format: int4}

Each precision is either ``{format, group_size}`` (effective bits from
`hwsim.dtypes.bits_per_weight`, so scales and type selectors are included) or an effective
width ``{bits: 5.5}`` for cost studies. ``weights.overrides`` sets the precision of one layer
class (``attn_proj``, ``ffn``, ``router``, ``lm_head``, ``embed``) or one linear layer by name
(``q_proj``, ``down_proj``, ...); a name beats a class. In a ``gemms:`` workload an override
names one of its GEMMs. Without an ``embed`` override the
embedding table is stored in 16 bits; a tied table is stored once, at lm_head's precision.

Decode-step convention (used everywhere in hwsim): the prefill processes the prompt, writes
its K/V and produces the logits of the first output token. Decode step ``s = 1 ..
generate_tokens - 1`` feeds output token ``s``, appends its K/V and attends to KV length
``prompt_tokens + s``. So ``generate_tokens: 1`` is a prefill alone, and the KV cache at the
end holds ``prompt_tokens + generate_tokens - 1`` entries per sequence.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    ValidationError,
    field_validator,
    model_validator,
)

from hwsim.config import validate_mapping, validation_error
from hwsim.dtypes import bits_per_weight, format_group_problem, get_format
from hwsim.errors import CombinationError, HwsimError
from hwsim.files import read_yaml, resolve_reference
from hwsim.limits import (
    MAX_BATCH_TOKENS,
    MAX_DECODE_STEPS,
    MAX_REQUESTS,
    MAX_TOKENS,
    SAFE_COUNT,
    check_count,
)
from hwsim.workloads.attention import AttentionKernel, decode_key_blocks
from hwsim.workloads.examples import resolve_workload_path
from hwsim.workloads.hf_config import model_from_hf_config, model_from_hf_dict
from hwsim.workloads.inventory import WEIGHT_CLASSES, linear_layers, linear_names
from hwsim.workloads.models import ModelConfig, get_model
from hwsim.workloads.serving import (
    Request,
    ServingPolicy,
    decode_kv_lengths,
    read_trace_rows,
    validate_requests,
)

__all__ = [
    "Gemm",
    "Precision",
    "WeightPrecision",
    "Workload",
    "load_workload",
    "workload_from_dict",
]

_log = logging.getLogger(__name__)

# Width of tensors a workload does not quantize (norm scales, biases, default embedding).
FP16_BITS = 16.0


@dataclass(frozen=True)
class Precision:
    """How one operand is stored.

    Attributes:
        bits: effective bits per element, including scales, zero points and type selectors,
            at the reference reduction size `in_features` (the model's hidden size; per-row
            scales and two-level scales depend on it, see `bits_at`).
        format: `hwsim.dtypes` canonical format name, ``None`` when only a width was given.
        group_size: quantization group along the reduction dimension (the format's default
            when the workload gives none; ``None`` for per-row or per-tensor scaling).
        in_features: reduction size `bits` was computed at (``None`` for a width).
    """

    bits: float
    format: str | None = None
    group_size: int | None = None
    in_features: int | None = None

    def bits_at(self, in_features: int) -> float:
        """Effective bits per element for a tensor whose reduction dimension is `in_features`."""
        if self.format is None or in_features == self.in_features:
            return self.bits
        return _bits_per_weight(self.format, self.group_size, in_features)


@functools.lru_cache(maxsize=512)
def _bits_per_weight(fmt: str, group_size: int | None, in_features: int) -> float:
    return float(bits_per_weight(fmt, group_size=group_size, in_features=in_features))


@dataclass(frozen=True)
class WeightPrecision:
    """Weight precision: a default plus per-class / per-layer overrides."""

    default: Precision
    overrides: tuple[tuple[str, Precision], ...] = ()

    @property
    def bits(self) -> float:
        """Effective bits per weight of the default precision."""
        return self.default.bits

    @property
    def format(self) -> str | None:
        """Format name of the default precision."""
        return self.default.format

    @property
    def group_size(self) -> int | None:
        """Group size of the default precision."""
        return self.default.group_size

    def for_layer(self, name: str, op_class: str) -> Precision:
        """Precision of linear layer `name` of class `op_class` (name beats class)."""
        table = dict(self.overrides)
        if name in table:
            return table[name]
        if op_class in table:
            return table[op_class]
        if op_class == "embed":
            return Precision(FP16_BITS, "fp16", None, None)
        return self.default


@dataclass(frozen=True)
class Gemm:
    """One raw GEMM of a kernel study: ``out[m, n] = a[m, k] @ w[k, n]``, `count` times."""

    name: str
    m: int
    n: int
    k: int
    count: int = 1


@dataclass(frozen=True)
class Workload:
    """A validated workload; the rest of hwsim trusts it.

    ``model`` is ``None`` (and the token counts 0) for a ``gemms:`` workload. ``hardware`` is
    resolved (`hwsim.files.resolve_reference`): a preset name, or the file as a `Path`.
    """

    name: str
    model: ModelConfig | None
    batch: int
    prompt_tokens: int
    generate_tokens: int
    weights: WeightPrecision
    activations: Precision
    kv_cache: Precision
    hardware: str | Path | None
    source: str
    logits: Literal["all", "last"] = "all"
    gemms: tuple[Gemm, ...] = ()
    description: str = ""
    attention: AttentionKernel = field(default_factory=AttentionKernel)
    requests: tuple[Request, ...] = ()
    serving: ServingPolicy | None = None
    # The CSV file the trace was read from (None: requests given inline or no trace): an
    # input the commands' outputs must not overwrite.
    trace_file: str | None = None

    @property
    def served(self) -> bool:
        """True for a request trace (or a batch list): runs through the serving scheduler.

        Then `batch`, `prompt_tokens` and `generate_tokens` are the largest of the trace
        (the memory footprint's worst case), not a workload of their own.
        """
        return bool(self.requests)

    @property
    def decode_steps(self) -> int:
        """Decode steps: ``generate_tokens - 1`` (the prefill emits the first token)."""
        return max(self.generate_tokens - 1, 0) if self.model is not None else 0

    @property
    def final_kv_len(self) -> int:
        """KV entries per sequence at the end of generation (before any sliding window)."""
        return self.prompt_tokens + self.decode_steps if self.model is not None else 0


# ---------------------------------------------------------------------------------------------
# pydantic schema (private): types and single-field rules; cross-field sense is checked below.

PosInt = Annotated[int, Field(strict=True, gt=0)]
# An element takes at least one bit: below that hwsim would need an entropy coder it does not
# model. NaN and infinities are refused (allow_inf_nan) for mappings built in Python too.
Bits = Annotated[float, Field(strict=True, ge=1, le=64, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _PrecisionIn(_Strict):
    format: str | None = None
    group_size: PosInt | None = None
    bits: Bits | None = None

    @model_validator(mode="after")
    def _one_of(self) -> _PrecisionIn:
        if (self.format is None) == (self.bits is None):
            raise ValueError("give exactly one of 'format' (with optional 'group_size') "
                             "or 'bits'")
        if self.bits is not None and self.group_size is not None:
            raise ValueError("'group_size' needs 'format' ('bits' is already effective)")
        return self


class _WeightsIn(_PrecisionIn):
    overrides: dict[str, _PrecisionIn] = Field(default_factory=dict)


class _GemmIn(_Strict):
    name: Annotated[str, Field(min_length=1)]
    m: PosInt
    n: PosInt
    k: PosInt
    count: PosInt = 1


class _AttentionIn(_Strict):
    kernel: Literal["naive", "fused"] = "naive"
    causal: StrictBool | None = None
    block_q: PosInt | None = None
    block_kv: PosInt | None = None
    splits: PosInt | None = None

    @model_validator(mode="after")
    def _fused_only(self) -> _AttentionIn:
        if self.kernel == "naive":
            given = [k for k in ("block_q", "block_kv", "splits") if getattr(self, k) is not None]
            if given:
                raise ValueError(f"{', '.join(given)} only apply to kernel: fused")
            if self.causal:
                raise ValueError("causal block skipping needs kernel: fused (the naive kernel "
                                 "computes the dense score matrix)")
        return self

    def resolve(self) -> AttentionKernel:
        if self.kernel == "naive":
            return AttentionKernel()
        d = AttentionKernel(kernel="fused", causal=True)
        return AttentionKernel(
            kernel="fused", causal=d.causal if self.causal is None else self.causal,
            block_q=self.block_q or d.block_q, block_kv=self.block_kv or d.block_kv,
            splits=self.splits or d.splits)


class _RequestIn(_Strict):
    arrival_s: StrictFloat = 0.0
    prompt_tokens: PosInt
    generate_tokens: PosInt


class _ServingIn(_Strict):
    max_batch: PosInt = 32
    max_tokens_per_step: PosInt | None = 2048
    chunked_prefill: StrictBool = True

    @model_validator(mode="after")
    def _room_for_decodes(self) -> _ServingIn:
        if self.max_tokens_per_step is not None and self.max_tokens_per_step < self.max_batch:
            # A default the file never wrote is said to be one, with the way out.
            default = ("" if "max_batch" in self.model_fields_set
                       else f", the default: give max_batch <= {self.max_tokens_per_step}")
            raise ValueError(f"max_tokens_per_step {self.max_tokens_per_step} is smaller than "
                             f"max_batch {self.max_batch}{default} (a full batch decodes that "
                             "many tokens a step)")
        return self


class _WorkloadIn(_Strict):
    name: Annotated[str, Field(min_length=1)] | None = None
    description: str = ""
    model: str | dict[str, Any] | None = None
    batch: Any = 1
    prompt_tokens: PosInt | None = None
    generate_tokens: PosInt | None = None
    logits: Literal["all", "last"] = "all"
    weights: _WeightsIn = Field(default_factory=lambda: _WeightsIn(format="fp16"))
    activations: _PrecisionIn = Field(default_factory=lambda: _PrecisionIn(bits=16))
    kv_cache: _PrecisionIn = Field(default_factory=lambda: _PrecisionIn(bits=16))
    hardware: str | None = None
    gemms: list[_GemmIn] | None = None
    attention: _AttentionIn = Field(default_factory=_AttentionIn)
    requests: str | list[Any] | None = None
    serving: _ServingIn | None = None

    @field_validator("batch", mode="before")
    @classmethod
    def _batch(cls, v: Any) -> Any:
        # A positive integer, or a list of prompt lengths (checked with the token keys).
        if isinstance(v, list):
            return v
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError("Input should be a valid integer (or a list of prompt lengths)")
        if v <= 0:
            raise ValueError("Input should be greater than 0")
        return v


def _resolve_precision(p: _PrecisionIn, where: str, errors: list[str],
                       in_features: int) -> Precision | None:
    if p.bits is not None:
        return Precision(float(p.bits))
    try:
        fmt = get_format(p.format)  # type: ignore[arg-type]
    except HwsimError as exc:
        errors.append(f"{where}.format: {exc}")
        return None
    problem = format_group_problem(fmt, p.group_size)
    if problem is not None:
        errors.append(f"{where}.group_size: {problem}")
        return None
    group = p.group_size if p.group_size is not None else fmt.group_size
    try:
        bits = _bits_per_weight(fmt.name, group, in_features)
    except HwsimError as exc:
        errors.append(f"{where}: {exc}")
        return None
    return Precision(bits, fmt.name, group, in_features)


def _resolve_model(ref: str | dict[str, Any], base_dir: Path | None) -> ModelConfig:
    if isinstance(ref, dict):  # the contents of a config.json (e.g. inside a sweep point)
        return model_from_hf_dict(ref, source="model")
    looks_like_path = ref.endswith(".json") or "/" in ref or "\\" in ref
    if looks_like_path:
        path = Path(ref).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return model_from_hf_config(path)
    return get_model(ref)


def workload_from_dict(data: Any, source: str = "<dict>",
                       base_dir: str | Path | None = None) -> Workload:
    """Validate a workload given as a mapping (e.g. one point of a sweep).

    Args:
        data: the parsed YAML mapping.
        source: what to call it in error messages (a file name, ``"sweep point 3"``).
        base_dir: folder against which a relative ``model:`` config path and ``hardware:``
            file are resolved (default: the current directory).

    Raises:
        HwsimError: ``"<source>: <yaml.path>: <problem>"``, all problems found, one line.
    """
    spec = validate_mapping(_WorkloadIn, data, source, "workload keys")

    errors: list[str] = []
    base = Path(base_dir) if base_dir is not None else None
    model: ModelConfig | None = None
    gemms: tuple[Gemm, ...] = ()
    if spec.gemms is not None:
        for key in ("model", "batch", "prompt_tokens", "generate_tokens", "logits", "kv_cache",
                    "attention", "requests", "serving"):
            if key in data:
                errors.append(f"{key}: not allowed together with 'gemms'")
        if not spec.gemms:
            errors.append("gemms: empty list")
        gemms = tuple(Gemm(g.name, g.m, g.n, g.k, g.count) for g in spec.gemms)
        seen: set[str] = set()
        for i, g in enumerate(gemms):
            if g.name in seen:
                errors.append(f"gemms[{i}].name: duplicate name {g.name!r}")
            seen.add(g.name)
    else:
        if spec.model is None:
            errors.append("model: missing (a built-in model name, a config.json path, or "
                          "give 'gemms' instead)")
        else:
            try:
                model = _resolve_model(spec.model, base)
            except HwsimError as exc:
                # A config given inline already names its keys as model.<key>.
                errors.append(str(exc) if isinstance(spec.model, dict) else f"model: {exc}")
        _check_token_keys(spec, data, errors)

    # Reference reduction size of the per-row / two-level scale bits (exact per layer in ops).
    ref_k = model.hidden if model is not None else (gemms[0].k if gemms else 1)
    head_k = model.dim_head if model is not None else ref_k
    default = _resolve_precision(spec.weights, "weights", errors, ref_k)
    overrides: list[tuple[str, Precision]] = []
    # router and lm_head are both a class and a layer name: list them once.
    allowed = list(dict.fromkeys(WEIGHT_CLASSES + linear_names()))
    present = _override_targets(model, gemms)
    mismatched: list[str] = []  # valid names the workload lacks (a CombinationError)
    for key, p in spec.weights.overrides.items():
        # A gemms workload's own GEMM names ("a", "g1") are its layer names.
        if key not in allowed and not (gemms and present is not None and key in present):
            errors.append(f"weights.overrides.{key}: " + (
                f"none of the gemms is named {key} (an override of a gemms workload names "
                f"one of its GEMMs: {', '.join(present)})" if gemms and present else
                f"unknown layer class or name (allowed: {', '.join(allowed)})"))
            continue
        if present is not None and key not in present:
            # A valid name the workload lacks (fc1 on Llama, router on a dense model, ffn on
            # raw GEMMs) would change nothing: say so rather than run without it.
            mismatched.append(f"weights.overrides.{key}: " + (
                f"{model.name} has no layer of this name or class (its layers and classes: "
                f"{', '.join(present)})" if model is not None else
                f"none of the gemms is named {key} (an override of a gemms workload names "
                f"one of its GEMMs: {', '.join(present)})"))
            continue
        if key == "embed" and model is not None and model.tie_embeddings:
            errors.append(f"weights.overrides.embed: {model.name} ties its embedding to "
                          "lm_head; set the precision of lm_head instead")
            continue
        resolved = _resolve_precision(p, f"weights.overrides.{key}", errors, ref_k)
        if resolved is not None:
            overrides.append((key, resolved))
    acts = _resolve_precision(spec.activations, "activations", errors, ref_k)
    kv = _resolve_precision(spec.kv_cache, "kv_cache", errors, head_k)

    if default is not None and not errors:
        weights = WeightPrecision(default, tuple(overrides))
        _check_groups(weights, spec.weights.overrides, model, gemms, errors)
        if acts is not None and acts.group_size:
            # Grouped along k like the weights (it was clipped to k without a word).
            layers = ([(g.name, g.k) for g in gemms] if model is None
                      else [(lin.name, lin.k) for lin in linear_layers(model)])
            name, k = min(layers, key=lambda nk: nk[1])
            if acts.group_size > k:
                errors.append(f"activations.group_size: {acts.group_size} is larger than the "
                              f"reduction dimension k={k} of {name}")
        if kv is not None and kv.group_size and model is not None \
                and kv.group_size > model.dim_head:
            errors.append(f"kv_cache.group_size: {kv.group_size} is larger than head_dim "
                          f"{model.dim_head}, the reduction dimension of attention scores")
    if spec.hardware is not None and not spec.hardware.strip():
        # run fell back to its default design, as if the key were absent
        errors.append("hardware: empty; give a hardware preset or a hardware YAML, or leave "
                      "the key out")
    errors += _size_problems(spec)
    if errors:
        raise HwsimError(f"{source}: " + "; ".join(errors + mismatched))
    if mismatched:
        raise CombinationError(f"{source}: " + "; ".join(mismatched))
    assert default is not None and acts is not None and kv is not None

    requests, policy = _served(spec, model, source, base)
    if requests:
        batch = min(len(requests), policy.max_batch)  # type: ignore[union-attr]
        prompt = max(r.prompt_tokens for r in requests)
        generate = max(r.generate_tokens for r in requests)
    else:
        batch = spec.batch if isinstance(spec.batch, int) else len(spec.batch)
        prompt, generate = spec.prompt_tokens or 0, spec.generate_tokens or 0
    attention = spec.attention.resolve()
    if spec.attention.splits is not None and model is not None:
        lengths = [(r.prompt_tokens, r.generate_tokens) for r in requests] or [(prompt, generate)]
        _check_splits(attention, lengths, model.sliding_window, source)
    if model is not None and spec.prompt_tokens is not None and spec.generate_tokens is not None:
        reach = spec.prompt_tokens + spec.generate_tokens - 1
        if reach > model.max_context:
            # Not an error: long-context variants and studies go past the trained length.
            _log.warning("%s: %s reaches %d tokens, beyond %s's trained context of %d", source,
                         "prompt_tokens + generate_tokens - 1", reach, model.name,
                         model.max_context)

    name = spec.name or (Path(source).stem if source.endswith((".yaml", ".yml")) else source)
    return Workload(
        name=name,
        model=model,
        batch=batch,
        prompt_tokens=prompt,
        generate_tokens=generate,
        weights=WeightPrecision(default, tuple(overrides)),
        activations=acts,
        kv_cache=kv,
        hardware=None if spec.hardware is None else resolve_reference(spec.hardware, base),
        source=source,
        logits=spec.logits,
        gemms=gemms,
        description=spec.description,
        attention=attention,
        requests=requests,
        serving=policy,
        trace_file=(str(_trace_path(spec.requests, base))
                    if requests and isinstance(spec.requests, str) else None),
    )


def _check_splits(kernel: AttentionKernel, lengths: list[tuple[int, int]],
                  window: int | None, source: str) -> None:
    """``attention.splits`` no larger than the key blocks of the widest decode step.

    The cost model splits each step into at most as many parts as it has key blocks (an early,
    short step fewer), as flash-decoding does; a value no step can use would be ignored.
    """
    # A sequence of prompt p and g generated tokens decodes at KV lengths p + 1 .. p + g - 1.
    # Without a window the widest step is the last; with one, the count repeats every
    # block_kv positions, so a sequence's last block_kv steps hold its widest.
    kv = [np.arange(max(p + 1, p + g - kernel.block_kv), p + g) for p, g in lengths if g > 1]
    what = f"attention.splits: {kernel.splits} parts of a decode step's keys (split-K)"
    if not kv:
        if kernel.splits == 1:  # the default, given: nothing to split, nothing ignored
            return
        raise CombinationError(f"{source}: {what}, but no sequence has a decode step "
                               "(generate_tokens 1); leave splits out or give 1")
    widest = int(decode_key_blocks(np.unique(np.concatenate(kv)), kernel, window).max())
    if kernel.splits > widest:
        raise CombinationError(
            f"{source}: {what}, but no decode step visits more than {widest} key "
            f"block{'s' if widest > 1 else ''} of block_kv {kernel.block_kv}; give splits "
            f"{'1..' if widest > 1 else ''}{widest}")


def _size_problems(spec: _WorkloadIn) -> list[str]:
    """Sizes beyond `hwsim.limits`, checked before any array is sized by them (first only)."""
    prompt, generate = spec.prompt_tokens or 0, spec.generate_tokens or 0
    if isinstance(spec.batch, list):
        # A batch list: each entry is one sequence's prompt (its entries checked elsewhere).
        lengths = [b for b in spec.batch if isinstance(b, int)]
        prompt = max(lengths, default=0)
        batch_tokens = sum(lengths) + len(lengths) * max(generate - 1, 0)
    else:
        batch_tokens = spec.batch * (prompt + generate - 1)
    checks = [
        ("prompt_tokens + generate_tokens - 1", prompt + generate - 1, MAX_TOKENS,
         "tokens of one sequence"),
        ("generate_tokens", generate, MAX_DECODE_STEPS + 1,
         "each decode step is costed: about 35 KB of memory a step"),
        ("batch x (prompt_tokens + generate_tokens - 1)", batch_tokens,
         MAX_BATCH_TOKENS, "token rows of a whole batch"),
        ("requests", len(spec.requests) if isinstance(spec.requests, list) else 0,
         MAX_REQUESTS, "requests of a trace, each costed step by step"),
    ]
    checks += [(f"gemms[{i}]: count x m x n x k", g.count * g.m * g.n * g.k, SAFE_COUNT,
                "MACs, counted in 64-bit integers") for i, g in enumerate(spec.gemms or ())]
    for key, value, limit, why in checks:
        try:
            check_count(value, limit, key, why)
        except HwsimError as exc:
            return [str(exc)]
    return []


def _check_token_keys(spec: _WorkloadIn, data: dict[str, Any], errors: list[str]) -> None:
    """Which of batch / prompt_tokens / generate_tokens / requests / serving go together."""
    if spec.requests is not None:
        for key in ("batch", "prompt_tokens", "generate_tokens"):
            if key in data:
                errors.append(f"{key}: not allowed together with 'requests' (each request "
                              "gives its own tokens)")
        return
    if isinstance(spec.batch, list):
        bad = [i for i, b in enumerate(spec.batch)
               if not isinstance(b, int) or isinstance(b, bool) or b < 1]
        if not spec.batch or bad:
            where = f"batch[{bad[0]}]" if bad else "batch"
            errors.append(f"{where}: a batch list holds each sequence's prompt length (positive "
                          "integers, at least one)")
        if "prompt_tokens" in data:
            errors.append("prompt_tokens: not allowed with a batch list (each entry is a "
                          "sequence's prompt length)")
    elif spec.prompt_tokens is None:
        errors.append("prompt_tokens: missing (a positive integer)")
    if spec.generate_tokens is None:
        errors.append("generate_tokens: missing (a positive integer)")
    if spec.serving is not None and not isinstance(spec.batch, list):
        errors.append("serving: only applies to 'requests' or a batch list")


def _trace_path(requests: str, base: Path | None) -> Path:
    """A trace's CSV file, relative to the workload's folder."""
    path = Path(requests).expanduser()
    return base / path if not path.is_absolute() and base is not None else path


def _served(spec: _WorkloadIn, model: ModelConfig | None, source: str,
            base: Path | None) -> tuple[tuple[Request, ...], ServingPolicy | None]:
    """The trace and policy of a served workload (empty for a plain one), validated."""
    if model is None:
        return (), None
    locate: Callable[[int], str] | None = None
    untimed: set[int] = set()  # inline requests without arrival_s (0)
    if spec.requests is not None:
        if isinstance(spec.requests, str):
            if not spec.requests.strip():  # it named the workload's own folder
                raise HwsimError(f"{source}: requests: empty; give a CSV trace file or a list "
                                 "of requests")
            path = _trace_path(spec.requests, base)
            rows = read_trace_rows(path)
            requests = [r for _, r in rows]
            where = str(path)
            check_count(len(requests), MAX_REQUESTS, f"{path}: requests",
                        "requests of a trace, each costed step by step")

            def locate(i: int) -> str:  # a CSV trace names the request's line
                return f"{path}: line {rows[i][0]}"
        else:
            requests = []
            for i, item in enumerate(spec.requests):
                try:
                    r = _RequestIn.model_validate(item)
                except ValidationError as exc:
                    raise validation_error(exc, source, _RequestIn,
                                           prefix=("requests", i)) from None
                # + 0.0: -0 is the time 0 (and is written back as 0).
                requests.append(Request(r.arrival_s + 0.0, r.prompt_tokens, r.generate_tokens))
                if "arrival_s" not in r.model_fields_set:
                    untimed.add(i)
            where = f"{source}: requests"
        s = spec.serving or _ServingIn()
        policy = ServingPolicy(s.max_batch, s.max_tokens_per_step, s.chunked_prefill)
    elif isinstance(spec.batch, list):
        assert spec.generate_tokens is not None
        requests = [Request(0.0, p, spec.generate_tokens) for p in spec.batch]
        where = f"{source}: batch"
        s = spec.serving
        policy = (ServingPolicy(s.max_batch, s.max_tokens_per_step, s.chunked_prefill)
                  if s is not None else ServingPolicy(len(requests), None, False))
    else:
        return (), None
    if model.is_moe:
        raise HwsimError(f"{where}: serving a mixture-of-experts model ({model.name}) is not "
                         "modelled yet; give prompt_tokens/generate_tokens instead")
    validate_requests(requests, where, model.max_context, model.name, policy, locate, untimed)
    # Measured on the simulator: 20,000 lengths 1.2 GB, 100,000 4.8 GB (about 45 KB each).
    check_count(decode_kv_lengths(requests, model.sliding_window), MAX_DECODE_STEPS,
                f"{where}: distinct KV lengths its decode steps attend over",
                "each is costed ahead of serving, about 45 KB of memory each, as a plain "
                "workload's decode steps")
    return tuple(requests), policy


def _override_targets(model: ModelConfig | None, gemms: tuple[Gemm, ...]) -> list[str] | None:
    """The `weights.overrides` keys that apply to a model's layers or to the gemms (`None`
    when neither resolved: their own errors are reported instead)."""
    if model is not None:
        names = [n for lin in linear_layers(model) for n in (lin.name, lin.op_class)]
        return list(dict.fromkeys([*names, "embed"]))
    return [g.name for g in gemms] or None


def _check_groups(weights: WeightPrecision, given: dict[str, _PrecisionIn],
                  model: ModelConfig | None, gemms: tuple[Gemm, ...], errors: list[str]) -> None:
    """A quantization group must fit in the reduction dimension of every GEMM it covers."""
    if model is None:
        layers = [(g.name, "gemm", g.k) for g in gemms]
    else:
        layers = [(lin.name, lin.op_class, lin.k) for lin in linear_layers(model)]
    for name, op_class, k in layers:
        prec = weights.for_layer(name, op_class)
        if prec.group_size is not None and prec.group_size > k:
            key = name if name in given else (op_class if op_class in given else None)
            where = f"weights.overrides.{key}" if key else "weights"
            errors.append(f"{where}.group_size: {prec.group_size} is larger than the reduction "
                          f"dimension k={k} of {name}")
            return


def load_workload(path: str | Path) -> Workload:
    """Read and validate a workload YAML file, or the bundled example of that name.

    Raises:
        HwsimError: unreadable file, malformed YAML or invalid content; the message names the
            file and the YAML path, e.g. ``"w.yaml: weights.format: unknown format 'fp5x' ..."``.
    """
    p = resolve_workload_path(path)
    data = read_yaml(p, "workload")
    return workload_from_dict(data, source=str(p), base_dir=p.parent)
