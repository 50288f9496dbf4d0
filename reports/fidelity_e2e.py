"""End-to-end fidelity: run a transformers model with every linear weight quantized.

Every weight matrix `hwsim quantize` measures in the checkpoint is replaced, in the model
loaded from a local folder, by its dequantized version from the golden model
(`hwsim.dtypes.quantize`), quantized alone as `hwsim quantize` quantizes it: each
``nn.Linear`` weight, a MoE router's weight, and each expert's gate, up and down matrix of
Mixtral's fused expert tensors (transformers 5 stacks them, gate and up concatenated). A tied
lm_head stays tied: the token embedding looks up the quantized matrix, as a model storing it
once (the size `hwsim quantize` reports) does. Any other parameter of two or more dimensions
that is not an embedding table is refused rather than left float. The model is compared with
its unquantized self on what users care about:

- encoders / sentence-embedding models (BERT-style, e.g. the shipped all-MiniLM-L6-v2):
  cosine similarity of text embeddings to the reference embeddings, and agreement of
  nearest-neighbour retrieval over a text set (the project's own set by default). A
  sentence-transformers folder is embedded as it says (``modules.json``, its pooling
  config: CLS, mean or max; ``max_seq_length``), checked against sentence-transformers;
  pooling it does not run (last token, weighted mean, a Dense projection) is refused;
- causal LMs: perplexity on a user-supplied text file.

The checkpoint must be the model transformers builds: weights its config.json leaves out
of the model (a config with fewer layers) are refused, as are weight tensors `hwsim quantize`
refuses (int8 codes, FP8) and an index or config.json transformers cannot read; weights of
another task's head outside the model run (BERT's pre-training ``cls.*``) are reported.

torch and transformers (the ``llm`` extra) are imported inside the functions; no network
access is ever attempted (``local_files_only``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwsim.dtypes import get_format, quantize
from hwsim.errors import HwsimError
from hwsim.files import read_json
from hwsim.reports.fidelity import asked_group_size, check_group_applies, quantize_layer
from hwsim.workloads.checkpoints import Checkpoint, open_checkpoint

__all__ = [
    "E2E_COLUMNS",
    "ENCODER_MODEL_TYPES",
    "REFERENCE",
    "default_texts_path",
    "embedding_agreement",
    "end_to_end_fidelity",
    "read_texts",
]

# Encoders whose transformers model has an optional pooler (`add_pooling_layer`).
_POOLER_MODEL_TYPES = frozenset({"bert", "roberta"})
# Model types evaluated as sentence encoders (the last hidden state pooled as the folder's
# sentence-transformers config says: mean without one).
ENCODER_MODEL_TYPES = ("bert", "distilbert", "roberta")

REFERENCE = "float"  # the format name of the unquantized reference row
E2E_COLUMNS = ("format", "task", "group_size", "texts", "n_texts", "tokens", "max_length",
               "cos_mean", "cos_min", "nn_top1_agreement", "nn_top5_overlap", "ppl_reference",
               "ppl", "ppl_ratio")

_TOP_K = 5
# model_types whose transformers model stacks each layer's experts into 3-D parameters laid
# out as Mixtral's: gate_up_proj (experts, 2 * ffn, hidden) = each expert's w1 (gate) rows,
# then its w3 (up) rows; down_proj (experts, hidden, ffn) = each expert's w2.
_FUSED_EXPERTS = frozenset({"mixtral"})
_BLOCK = re.compile(r"\.(\d+)\.")


def default_texts_path() -> Path:
    """The retrieval text set shipped with hwsim (``reports/data/retrieval_texts.txt``)."""
    return Path(str(resources.files("hwsim.reports") / "data" / "retrieval_texts.txt"))


def read_texts(path: str | Path, *, lines: bool) -> list[str]:
    """Read a user text file.

    Args:
        path: a UTF-8 text file.
        lines: True: one text per line, blank lines and ``#`` comments dropped (retrieval
            sets); False: the whole file as one text (perplexity).

    Raises:
        HwsimError: missing, unreadable, not UTF-8, or nothing left to evaluate.
    """
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HwsimError(f"text file {p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HwsimError(f"text file {p}: not readable UTF-8 text ({exc})") from None
    if lines:
        texts = [s.strip() for s in raw.splitlines()]
        texts = [s for s in texts if s and not s.startswith("#")]
        if len(texts) < 2:
            raise HwsimError(f"text file {p}: needs at least 2 texts (one per line, '#' lines "
                             f"ignored), found {len(texts)}")
        return texts
    if not raw.strip():
        raise HwsimError(f"text file {p}: empty (perplexity needs text)")
    return [raw]


def embedding_agreement(ref: np.ndarray, quant: np.ndarray, top_k: int = _TOP_K) -> dict:
    """Compare two sets of embeddings of the same texts.

    Args:
        ref, quant: (texts, dim) embeddings from the reference and the quantized model.
        top_k: neighbours compared for the overlap score.

    Returns:
        ``cos_mean``, ``cos_min``: cosine similarity of each text's two embeddings;
        ``nn_top1_agreement``: fraction of texts whose nearest other text is the same under
        both models; ``nn_top5_overlap``: mean shared fraction of the ``top_k`` neighbours.
    """
    r = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    q = quant / np.linalg.norm(quant, axis=1, keepdims=True)
    cos = np.sum(r * q, axis=1)
    n = r.shape[0]
    k = min(top_k, n - 1)
    sim_r, sim_q = r @ r.T, q @ q.T
    # A text is not its own neighbour.
    np.fill_diagonal(sim_r, -np.inf)
    np.fill_diagonal(sim_q, -np.inf)
    # Stable sort so equal similarities rank by index on both sides.
    top_r = np.argsort(-sim_r, axis=1, kind="stable")[:, :k]
    top_q = np.argsort(-sim_q, axis=1, kind="stable")[:, :k]
    shared = (top_r[:, :, None] == top_q[:, None, :]).any(axis=2).sum(axis=1)
    return {"cos_mean": float(cos.mean()), "cos_min": float(cos.min()),
            "nn_top1_agreement": float(np.mean(top_r[:, 0] == top_q[:, 0])),
            "nn_top5_overlap": float(np.mean(shared / k))}


@dataclass(frozen=True)
class _Target:
    """One weight matrix, quantized alone as `hwsim quantize` quantizes its tensor."""
    index: Any  # of the parameter: Ellipsis (all of it), or one expert's rows
    tensor: str  # its name in messages


@dataclass
class _Model:
    """A loaded model with its tokenizer and the weights to quantize, with their originals."""
    task: str  # "embedding" or "perplexity"
    model: Any
    tokenizer: Any
    params: dict[str, Any]  # parameter name -> Parameter (a tied one once)
    targets: dict[str, list[_Target]]  # parameter name -> its matrices
    originals: dict[str, Any]  # parameter name -> its data as loaded
    pooling: str  # "cls", "mean" or "max" (encoders)
    max_length: int
    vocab: int  # rows of the token embedding: a larger token id is out of the model


def _task(ckpt: Checkpoint) -> str:
    if not ckpt.path.is_dir() or not (ckpt.path / "config.json").is_file():
        raise HwsimError(f"{ckpt.path}: end-to-end fidelity needs a model folder with "
                         "config.json, weights and tokenizer files")
    if ckpt.is_causal_lm:
        return "perplexity"
    if ckpt.model_type in ENCODER_MODEL_TYPES:
        return "embedding"
    raise HwsimError(f"{ckpt.path}: end-to-end fidelity covers causal LMs (config.json "
                     "'architectures' ending in ForCausalLM) and encoders of model_type "
                     f"{', '.join(ENCODER_MODEL_TYPES)}; got model_type={ckpt.model_type!r}")


def _load(ckpt: Checkpoint, max_length: int | None,
          on_note: Callable[[str], None] | None = None) -> _Model:
    try:
        import torch
        import transformers
    except ImportError:
        raise HwsimError("end-to-end fidelity needs torch and transformers: "
                         "pip install 'hwsim[llm]'") from None
    folder = ckpt.path
    task = _task(ckpt)
    _check_files(ckpt)
    config = _config(folder, transformers)
    auto = transformers.AutoModelForCausalLM if task == "perplexity" else transformers.AutoModel
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, config=config,
                                                               local_files_only=True)
    except (OSError, ValueError) as exc:
        raise HwsimError(f"{folder}: no usable tokenizer files "
                         f"({_first_line(exc)})") from None
    # Tensors whose shapes differ from config.json are loaded re-initialised and reported
    # here, by name (transformers' own refusal is a RuntimeError pointing at a report it
    # logs as a table); its load report is not printed, as every finding in it is checked.
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    # An encoder saved without its pooler (sentence-transformers models often are) is built
    # without one: its output is never pooled here, and a random one would be refused.
    extra = ({"add_pooling_layer": False}
             if task == "embedding" and ckpt.model_type in _POOLER_MODEL_TYPES
             and not any(".pooler." in f".{name}" for name in ckpt.tensors) else {})
    try:
        model, loading = auto.from_pretrained(folder, config=config, local_files_only=True,
                                              dtype=torch.float32, output_loading_info=True,
                                              ignore_mismatched_sizes=True, **extra)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise HwsimError(f"{folder}: transformers cannot load the model "
                         f"({type(exc).__name__}: {_first_line(exc)})") from None
    finally:
        transformers.logging.set_verbosity(verbosity)
    mismatched = sorted((str(key), tuple(got), tuple(want))
                        for key, got, want in loading.get("mismatched_keys") or ())
    if mismatched:
        key, got, want = mismatched[0]
        raise HwsimError(f"{folder}: {len(mismatched)} tensors in the files have other shapes "
                         f"than config.json gives them (e.g. {key!r}: {got} in the files, "
                         f"{want} by config.json); the config is not this checkpoint's")
    _check_unexpected(folder, model, loading, on_note)
    model.eval()
    params, targets = _targets(folder, model, ckpt.model_type)
    # A weight missing from the files is initialised at random: a fidelity measured on it
    # compares noise with noise (and differs run to run), so refuse rather than report it;
    # an embedding or a norm as much as a linear weight.
    missing = sorted(str(k) for k in loading.get("missing_keys") or ())
    if missing:
        linear = sum(k in params for k in missing)
        raise HwsimError(f"{folder}: {len(missing)} weights of the model ({linear} of its "
                         f"{len(params)} linear weights) are not in the checkpoint's files "
                         f"(e.g. {missing[0]!r}); transformers would initialise them at "
                         "random")
    _check_expert_layout(ckpt, params, targets)
    pooling, st_length = _sentence_transformers(folder) if task == "embedding" else ("", None)
    # A model with learned positions cannot read past them; one without (ALiBi, rotary
    # without a stated limit) takes the length asked for.
    limit = _usable_positions(model.config, ckpt.model_type)
    if max_length is not None and limit and max_length > limit:
        raise HwsimError(f"--max-length {max_length}: the model of {folder} has "
                         f"{limit} usable positions (max_position_embeddings"
                         + (f" {model.config.max_position_embeddings}, less the padding "
                            "offset" if limit != model.config.max_position_embeddings else "")
                         + ")")
    # By default, what the model card's sentence-transformers config embeds (MiniLM: 256
    # tokens; 512 cos_mean changed), else what its tokenizer says it takes (sentence-
    # transformers 5+ saves the limit there), within the positions, at most 512.
    if task == "embedding" and st_length is None:
        told = getattr(tokenizer, "model_max_length", None)
        st_length = told if isinstance(told, int) and 0 < told < 1_000_000 else None
    length = (max_length if max_length is not None
              else min(limit or 512, 512, st_length or 512))
    return _Model(task, model, tokenizer, params, targets,
                  {name: p.data for name, p in params.items()}, pooling, length,
                  model.get_input_embeddings().num_embeddings)


def _usable_positions(config: Any, model_type: str | None) -> int | None:
    """Positions a text may fill: ``max_position_embeddings``, less RoBERTa's padding offset
    (its positions count from ``pad_token_id + 1``: 514 learned, 512 usable)."""
    limit = getattr(config, "max_position_embeddings", None)
    if not limit:
        return None
    if model_type == "roberta":
        return int(limit) - int(getattr(config, "pad_token_id", 1) or 0) - 1
    return int(limit)


# sentence-transformers modules hwsim runs: the transformer, its pooling, a normalization
# (cosine similarity does not see it).
_ST_MODULES = ("Transformer", "Pooling", "Normalize")
_POOLING_MODES = ("cls", "mean", "max")


def _sentence_transformers(folder: Path) -> tuple[str, int | None]:
    """(pooling, max_seq_length) of a sentence-transformers folder: the pooling module
    ``modules.json`` names (``1_Pooling`` without it), mean pooling without one; refused
    when it pools otherwise than by the CLS token, the mean or the maximum, or when a module
    hwsim does not run (a Dense projection) follows it."""
    modules_file = folder / "modules.json"
    pool_dir = folder / "1_Pooling"
    if modules_file.is_file():
        modules = read_json(modules_file, "sentence-transformers modules")
        if not isinstance(modules, list):
            raise HwsimError(f"{modules_file}: expected a list of modules")
        pool_dir = None
        for m in modules:
            kind = str(m.get("type", "")).rsplit(".", 1)[-1] if isinstance(m, dict) else ""
            if kind not in _ST_MODULES:
                raise HwsimError(f"{modules_file}: module {m!r} is not one hwsim runs "
                                 f"({', '.join(_ST_MODULES)}): the embeddings would not be "
                                 "the model's")
            if kind == "Pooling":
                pool_dir = folder / str(m.get("path", ""))
    pooling = "mean"
    pool_cfg = None if pool_dir is None else pool_dir / "config.json"
    if pool_cfg is not None and pool_cfg.is_file():
        pool = read_json(pool_cfg, "pooling config")
        pool = pool if isinstance(pool, dict) else {}
        # sentence-transformers 5+ writes the mode by name ("pooling_mode": "mean"), earlier
        # versions one flag per mode ("pooling_mode_mean_tokens": true).
        named = pool.get("pooling_mode")
        on = ([named] if isinstance(named, str) else list(named) if isinstance(named, list)
              else sorted(k.removeprefix("pooling_mode_").removesuffix("_token")
                          .removesuffix("_tokens")
                          for k, v in pool.items() if k.startswith("pooling_mode_") and v))
        if len(on) != 1 or on[0] not in _POOLING_MODES:
            raise HwsimError(f"{pool_cfg}: pooling {', '.join(map(str, on)) or 'none'}; hwsim "
                             f"pools by one of {', '.join(_POOLING_MODES)}")
        pooling = on[0]
    st_length = None
    st_cfg = folder / "sentence_bert_config.json"
    if st_cfg.is_file():
        cfg = read_json(st_cfg, "sentence-transformers config")
        value = cfg.get("max_seq_length") if isinstance(cfg, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            st_length = value
    return pooling, st_length


def _first_line(exc: BaseException) -> str:
    """An exception's message on one line (transformers' validation errors take two)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _check_files(ckpt: Checkpoint) -> None:
    """Refuse, before transformers reads the files, what it would misread or fail on with a
    traceback: weight tensors `hwsim quantize` refuses (int8 codes transformers casts to
    float without their scales, FP8) and a shard index without ``metadata``."""
    for lin in ckpt.linear_layers():
        ckpt.check_float(lin.tensor)
    if ckpt.index is not None:
        meta = read_json(ckpt.index, "weight index")
        if isinstance(meta, dict) and not isinstance(meta.get("metadata"), dict):
            raise HwsimError(f"{ckpt.index}: no 'metadata' object (transformers needs one to "
                             "load a sharded checkpoint; hwsim quantize reads only "
                             "'weight_map'): add \"metadata\": {}")


def _config(folder: Path, transformers: Any) -> Any:
    """config.json as transformers reads it, or an error naming the file (a wrong type,
    ``"hidden_size": 384.0``, was a traceback from transformers' validation)."""
    invalid: tuple[type[Exception], ...] = (OSError, ValueError, TypeError, KeyError,
                                            AttributeError)
    try:
        from huggingface_hub.errors import StrictDataclassError

        invalid += (StrictDataclassError,)
    except ImportError:  # transformers 4 validates without it
        pass
    try:
        return transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
    except invalid as exc:
        raise HwsimError(f"{folder / 'config.json'}: transformers cannot read it "
                         f"({type(exc).__name__}: {_first_line(exc)})") from None


def _check_unexpected(folder: Path, model: Any, loading: dict[str, Any],
                      on_note: Callable[[str], None] | None) -> None:
    """Refuse weights the files hold but the model config.json builds has no place for (a
    config with fewer layers ran a smaller model, silently); report those of another task's
    head outside the model (BERT's pre-training ``cls.*`` under an encoder), which it does
    not run. Buffers transformers does not load (rotary ``inv_freq``) are not weights."""
    buffers = {name for name, _ in model.named_buffers()}
    children = {name for name, _ in model.named_children()}
    prefix = f"{model.base_model_prefix}." if getattr(model, "base_model_prefix", "") else ""
    inside, outside = [], []
    for key in sorted(set(loading.get("unexpected_keys") or ()) - buffers):
        top = key.split(".")[0]
        if top not in children and key.startswith(prefix):
            top = key.removeprefix(prefix).split(".")[0]
        (inside if top in children else outside).append(key)
    if inside:
        shown = ", ".join(repr(k) for k in inside[:3])
        raise HwsimError(f"{folder}: {len(inside)} tensors in the files have no place in the "
                         f"model config.json builds (e.g. {shown}); transformers would drop "
                         "them and run a smaller model than hwsim quantize measures: the "
                         "config is not this checkpoint's")
    if outside and on_note is not None:
        shown = ", ".join(outside[:3]) + (f" and {len(outside) - 3} more" if len(outside) > 3
                                           else "")
        on_note(f"{folder}: {len(outside)} tensor{'s are' if len(outside) > 1 else ' is'} "
                "not part of the "
                f"{type(model).__name__} this fidelity runs (another task's head: {shown}): "
                "not loaded, so neither quantized nor measured here; hwsim quantize still "
                "counts them")


def _targets(folder: Path, model: Any, model_type: str | None
             ) -> tuple[dict[str, Any], dict[str, list[_Target]]]:
    """The parameters to quantize and their matrices: every ``weight`` of two dimensions
    outside the embedding tables (linear layers, MoE routers; a tied lm_head's once), and
    each expert's matrices of fused experts. Refuses any other parameter of two or more
    dimensions: left float, it would be measured by `hwsim quantize` but not here."""
    import torch

    params: dict[str, Any] = {}
    targets: dict[str, list[_Target]] = {}
    seen: set[int] = set()
    for mod_name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Embedding):
            continue
        prefix = f"{mod_name}." if mod_name else ""
        experts = _expert_targets(mod, prefix) if model_type in _FUSED_EXPERTS else {}
        for name, param in mod.named_parameters(recurse=False):
            if param.ndim < 2 or id(param) in seen:
                continue
            full = prefix + name
            if full in experts:
                matrices = experts[full]
            elif name == "weight" and param.ndim == 2:
                matrices = [_Target(Ellipsis, full)]
            else:
                raise HwsimError(f"{folder}: the model transformers builds has parameter "
                                 f"{full!r} of shape {tuple(param.shape)} "
                                 f"({type(mod).__name__}), neither a linear layer's weight "
                                 "nor an embedding table; hwsim fidelity cannot quantize it as "
                                 "hwsim quantize measures the checkpoint")
            seen.add(id(param))
            params[full] = param
            targets[full] = matrices
    return params, targets


def _expert_targets(mod: Any, prefix: str) -> dict[str, list[_Target]]:
    """Each expert's gate, up and down matrix of a module holding Mixtral's fused experts
    (see `_FUSED_EXPERTS`), named by where it lies; nothing for any other module."""
    gate_up = getattr(mod, "gate_up_proj", None)
    down = getattr(mod, "down_proj", None)
    if getattr(gate_up, "ndim", 0) != 3 or getattr(down, "ndim", 0) != 3:
        return {}
    experts, ffn = int(down.shape[0]), int(down.shape[2])
    if tuple(gate_up.shape) != (experts, 2 * ffn, int(down.shape[1])):
        return {}
    gu, dn = f"{prefix}gate_up_proj", f"{prefix}down_proj"
    return {
        gu: [_Target((e, slice(lo, hi)), f"{gu}[{e}, {lo}:{hi}]")
             for e in range(experts) for lo, hi in ((0, ffn), (ffn, 2 * ffn))],
        dn: [_Target((e,), f"{dn}[{e}]") for e in range(experts)],
    }


def _check_expert_layout(ckpt: Checkpoint, params: dict[str, Any],
                         targets: dict[str, list[_Target]]) -> None:
    """Refuse fused experts unless their first expert's matrices are the checkpoint's w1
    (gate), w3 (up) and w2 (down) of that block: the split is exact, or none is made."""
    by_block: dict[tuple[int | None, str], str] = {}
    for lin in ckpt.linear_layers():
        for w in ("w1", "w3", "w2"):
            if lin.name.endswith(f"experts.0.{w}"):
                by_block[(lin.block, w)] = lin.tensor
    for name, matrices in targets.items():
        if len(matrices) < 2 or matrices[0].index is Ellipsis:
            continue
        found = _BLOCK.search(f".{name}.")
        block = int(found.group(1)) if found else None
        own = ("w2",) if name.endswith("down_proj") else ("w1", "w3")
        for target, w in zip(matrices, own, strict=False):
            tensor = by_block.get((block, w))
            got = params[name].data[target.index].numpy()
            if tensor is None or not np.array_equal(ckpt.read(tensor), got):
                raise HwsimError(f"{ckpt.path}: {target.tensor} of the model transformers "
                                 f"builds is not the checkpoint's experts.0.{w} of block "
                                 f"{block}; hwsim fidelity cannot quantize the experts as "
                                 "hwsim quantize measures them")


def _set_weights(m: _Model, fmt: str | None, group_size: int | None,
                 ckpt: Checkpoint | None = None) -> None:
    """Put each weight matrix's dequantized values in place (``fmt=None``: the originals).

    The values are replaced in the parameters themselves, so a tied lm_head stays tied: the
    embedding lookup reads the quantized matrix too, the model `hwsim quantize` sizes with
    the matrix stored once, in lm_head's format.
    """
    import torch

    if fmt is not None and get_format(fmt).scheme == "cast":
        group_size = None  # fp32/fp16/bf16 are plain casts without groups
    for name, param in m.params.items():
        original = m.originals[name]
        if fmt is None:
            param.data = original
            continue
        new = original.clone()
        for target in m.targets[name]:
            w = np.ascontiguousarray(original[target.index].numpy())
            r = (quantize(w, fmt, group_size=group_size) if ckpt is None
                 else quantize_layer(ckpt, target.tensor, w, fmt, group_size))
            new[target.index] = torch.from_numpy(np.asarray(r.dequantized, np.float32))
        param.data = new


def _embed(m: _Model, texts: Sequence[str], batch: int = 32) -> np.ndarray:
    import torch

    # Batches of similar length pad less; the order is restored at the end.
    order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
    out = []
    with torch.inference_mode():
        for i in range(0, len(order), batch):
            chunk = [texts[j] for j in order[i:i + batch]]
            enc = m.tokenizer(chunk, padding=True, truncation=True,
                              max_length=m.max_length, return_tensors="pt")
            hidden = m.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            if m.pooling == "cls":
                pooled = hidden[:, 0]
            elif m.pooling == "max":  # over real tokens only, as sentence-transformers
                pooled = hidden.masked_fill(mask == 0, -1e9).max(1).values
            else:  # mean over real tokens only
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            out.append(pooled.numpy().astype(np.float64))
    emb = np.empty((len(texts), out[0].shape[1]))
    emb[order] = np.concatenate(out)
    return emb


def _check_token_ids(m: _Model, ids: Sequence[int], where: str) -> None:
    """A token id beyond the model's embedding (a token added to the tokenizer, the model
    not resized) is refused by name, not an IndexError deep in torch."""
    top = max(ids, default=-1)
    if top >= m.vocab:
        token = m.tokenizer.convert_ids_to_tokens(int(top))
        raise HwsimError(f"{where}: the tokenizer gives token {token!r} id {top}, beyond the "
                         f"model's {m.vocab} token embeddings (a token added to the tokenizer "
                         "without resizing the model)")


def _texts_tokens(m: _Model, texts: Sequence[str], where: str) -> int:
    """Check every text's token ids; the number of texts longer than the model embeds
    (`max_length`, special tokens included: truncated)."""
    longer = 0
    # verbose=False: transformers' "longer than the model" warning is about what `_embed`
    # cuts, not an error.
    for ids in m.tokenizer(list(texts), truncation=False, verbose=False)["input_ids"]:
        _check_token_ids(m, ids, where)
        longer += len(ids) > m.max_length
    return longer


def _token_windows(m: _Model, text: str, where: str) -> list[Any]:
    import torch

    ids = m.tokenizer(text, add_special_tokens=False)["input_ids"]
    bos = m.tokenizer.bos_token_id
    if bos is not None:
        ids = [bos, *ids]
    _check_token_ids(m, ids, where)
    if len(ids) < 2:
        raise HwsimError(f"{where}: fewer than 2 tokens after tokenization")
    # Windows of the model's context that share one token: each window's first token is
    # context only, so every token after the first is predicted exactly once.
    w = m.max_length
    return [torch.tensor([ids[i:i + w]]) for i in range(0, len(ids) - 1, w - 1)]


def _perplexity(m: _Model, windows: Sequence[Any]) -> tuple[float, int]:
    import torch

    nll, count = 0.0, 0
    with torch.inference_mode():
        for ids in windows:
            logits = m.model(input_ids=ids).logits[0, :-1].double()
            target = ids[0, 1:]
            nll += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
            count += int(target.numel())
    return math.exp(nll / count), count


def _check_reference(ckpt: Checkpoint, values: np.ndarray, what: str) -> None:
    """Refuse an unquantized model whose output is not finite: every comparison with it would
    be NaN (and its plot's axis undefined). Names the checkpoint's non-finite tensors, the
    likely cause, read only now that something is wrong."""
    if np.isfinite(values).all():
        return
    bad = []
    for name in ckpt.tensors:
        data = ckpt.read(name)
        if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
            bad.append(name)
    cause = (f"tensors holding NaN or inf: {', '.join(bad[:5])}"
             + (f" and {len(bad) - 5} more" if len(bad) > 5 else "") if bad
             else "no tensor holds NaN or inf: the model overflows float32")
    raise HwsimError(f"{ckpt.path}: the unquantized model's {what} not finite ({cause}); "
                     "nothing to compare the formats with")


def end_to_end_fidelity(
    checkpoint: str | Path | Checkpoint,
    formats: Sequence[str],
    *,
    group_size: int | None = None,
    texts: str | Path | None = None,
    max_length: int | None = None,
    on_format: Callable[[int, int, str], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Quantize every linear weight of a local transformers model and measure the damage.

    Args:
        checkpoint: model folder (config.json, weights, tokenizer) or an opened `Checkpoint`.
        formats: `hwsim.dtypes` format names.
        group_size: quantization group along in_features (None: each format's default).
        texts: encoders: one text per line (default: the shipped retrieval set); causal LMs:
            the text to compute perplexity on (required).
        max_length: token limit per text / perplexity window (default: the model's usable
            positions, at most 512 and at most a sentence-transformers folder's
            ``max_seq_length``); beyond the model's usable positions is an error.
        on_format: progress callback ``(index, total, format_name)`` before each format.
        on_note: called with each finding the caller should pass on (tensors of another
            task's head, outside the model run).

    Returns:
        First the unquantized reference (format `REFERENCE`, measured against itself like
        any format), then one row per format with the columns `E2E_COLUMNS`: ``texts`` names
        the text file,
        ``n_texts`` counts the texts embedded, ``tokens`` the tokens predicted (perplexity),
        ``max_length`` the tokens per text / window; metrics of the other task are NaN.

    Raises:
        HwsimError: unknown format, unsupported model, missing or empty text file, a
            checkpoint transformers would load otherwise than `hwsim quantize` reads it
            (weights outside the model config.json builds, integer or FP8 weights, a
            parameter it cannot quantize as `hwsim quantize` does), an index or config.json
            transformers cannot read, or the llm extra not installed.
    """
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else open_checkpoint(checkpoint)
    names = list(dict.fromkeys(get_format(f).name for f in formats))
    if not names:
        raise HwsimError("formats: give at least one format name")
    check_group_applies(names, group_size)
    task = _task(ckpt)
    if task == "perplexity":
        if texts is None:
            raise HwsimError("--texts: a causal LM needs a text file to compute perplexity on")
        text_list = read_texts(texts, lines=False)
        texts_label = Path(texts).name
    else:
        path = default_texts_path() if texts is None else Path(texts)
        text_list = read_texts(path, lines=True)
        texts_label = path.name
    m = _load(ckpt, max_length, on_note)
    rows = []
    try:
        if task == "perplexity":
            windows = _token_windows(m, text_list[0], f"--texts {texts}")
            ppl_ref, tokens = _perplexity(m, windows)
            counts = {"n_texts": 1, "tokens": tokens}
            _check_reference(ckpt, np.asarray([ppl_ref]), "perplexity is")
        else:
            longer = _texts_tokens(m, text_list, f"--texts {path}")
            if longer and on_note is not None:
                on_note(f"{longer} of {len(text_list)} texts are longer than {m.max_length} "
                        "tokens: embedded from their first ones, as the model does")
            ref = _embed(m, text_list)
            counts = {"n_texts": len(text_list)}
            _check_reference(ckpt, ref, "embeddings are")
        reference: dict[str, Any] = dict.fromkeys(E2E_COLUMNS, np.nan)
        reference.update(format=REFERENCE, task=task, texts=texts_label,
                         max_length=m.max_length, **counts)
        if task == "perplexity":
            reference.update(ppl_reference=ppl_ref, ppl=ppl_ref, ppl_ratio=ppl_ref / ppl_ref)
        else:
            reference.update(embedding_agreement(ref, ref))
        rows.append(reference)
        for i, name in enumerate(names):
            if on_format is not None:
                on_format(i, len(names), name)
            _set_weights(m, name, group_size, ckpt)
            row: dict[str, Any] = dict.fromkeys(E2E_COLUMNS, np.nan)
            row.update(format=name, task=task, group_size=asked_group_size(name, group_size),
                       texts=texts_label, max_length=m.max_length, **counts)
            if task == "perplexity":
                ppl, _ = _perplexity(m, windows)
                row.update(ppl_reference=ppl_ref, ppl=ppl, ppl_ratio=ppl / ppl_ref)
            else:
                row.update(embedding_agreement(ref, _embed(m, text_list)))
            rows.append(row)
    finally:
        _set_weights(m, None, None)
    return pd.DataFrame(rows, columns=list(E2E_COLUMNS)).astype({"group_size": "Int64"})
