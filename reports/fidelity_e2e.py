"""End-to-end fidelity: run a transformers model with every linear weight quantized.

Each ``nn.Linear`` weight of a model loaded from a local folder is replaced by its
dequantized version from the golden model (`hwsim.dtypes.quantize`), and the model is compared
with its unquantized self on what users care about:

- encoders / sentence-embedding models (BERT-style, e.g. the shipped all-MiniLM-L6-v2):
  cosine similarity of text embeddings to the reference embeddings, and agreement of
  nearest-neighbour retrieval over a text set (the project's own set by default);
- causal LMs: perplexity on a user-supplied text file.

torch and transformers (the ``llm`` extra) are imported inside the functions; no network
access is ever attempted (``local_files_only``).
"""

from __future__ import annotations

import math
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

# Model types evaluated as sentence encoders (mean-pooled last hidden state).
ENCODER_MODEL_TYPES = ("bert", "distilbert", "roberta")

REFERENCE = "float"  # the format name of the unquantized reference row
E2E_COLUMNS = ("format", "task", "group_size", "texts", "n_texts", "tokens", "cos_mean", "cos_min",
               "nn_top1_agreement", "nn_top5_overlap", "ppl_reference", "ppl", "ppl_ratio")

_TOP_K = 5


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


@dataclass
class _Model:
    """A loaded model with its tokenizer and the original weights of its linear layers."""
    task: str  # "embedding" or "perplexity"
    model: Any
    tokenizer: Any
    linears: dict[str, Any]  # module name -> nn.Linear
    originals: dict[str, Any]  # module name -> original weight Parameter
    pooling: str
    max_length: int


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


def _load(ckpt: Checkpoint, max_length: int | None) -> _Model:
    try:
        import torch
        import transformers
    except ImportError:
        raise HwsimError("end-to-end fidelity needs torch and transformers: "
                         "pip install 'hwsim[llm]'") from None
    folder = ckpt.path
    task = _task(ckpt)
    auto = transformers.AutoModelForCausalLM if task == "perplexity" else transformers.AutoModel
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise HwsimError(f"{folder}: no usable tokenizer files "
                         f"({str(exc).splitlines()[0]})") from None
    # Tensors whose shapes differ from config.json are loaded re-initialised and reported
    # here, by name (transformers' own refusal is a RuntimeError pointing at a report it
    # logs as a table); its load report is not printed, as every finding in it is checked.
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        model, loading = auto.from_pretrained(folder, local_files_only=True,
                                              dtype=torch.float32, output_loading_info=True,
                                              ignore_mismatched_sizes=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise HwsimError(f"{folder}: transformers cannot load the model "
                         f"({str(exc).splitlines()[0]})") from None
    finally:
        transformers.logging.set_verbosity(verbosity)
    mismatched = sorted((str(key), tuple(got), tuple(want))
                        for key, got, want in loading.get("mismatched_keys") or ())
    if mismatched:
        key, got, want = mismatched[0]
        raise HwsimError(f"{folder}: {len(mismatched)} tensors in the files have other shapes "
                         f"than config.json gives them (e.g. {key!r}: {got} in the files, "
                         f"{want} by config.json); the config is not this checkpoint's")
    model.eval()
    linears = {name: mod for name, mod in model.named_modules()
               if isinstance(mod, torch.nn.Linear)}
    # A weight missing from the files is initialised at random: a fidelity measured on it
    # compares noise with noise, so refuse rather than report it.
    missing = sorted(set(loading.get("missing_keys") or ())
                     & {f"{name}.weight" for name in linears})
    if missing:
        raise HwsimError(f"{folder}: {len(missing)} of {len(linears)} linear weights are not "
                         f"in the checkpoint's files (e.g. {missing[0]!r}); transformers would "
                         "initialise them at random")
    originals = {name: mod.weight for name, mod in linears.items()}
    pooling = "mean"
    pool_cfg = folder / "1_Pooling" / "config.json"  # sentence-transformers layout
    if pool_cfg.is_file():
        pool = read_json(pool_cfg, "pooling config")
        if isinstance(pool, dict) and pool.get("pooling_mode_cls_token"):
            pooling = "cls"
    # A model with learned positions cannot read past them; one without (ALiBi, rotary
    # without a stated limit) takes the length asked for.
    limit = getattr(model.config, "max_position_embeddings", None)
    if max_length is not None and limit and max_length > int(limit):
        raise HwsimError(f"--max-length {max_length}: the model of {folder} has "
                         f"{int(limit)} positions (max_position_embeddings)")
    length = max_length if max_length is not None else min(int(limit or 512), 512)
    return _Model(task, model, tokenizer, linears, originals, pooling, length)


def _set_weights(m: _Model, fmt: str | None, group_size: int | None,
                 ckpt: Checkpoint | None = None) -> None:
    """Put each linear layer's dequantized weight in place (``fmt=None``: the originals).

    Assigning a new Parameter also unties an lm_head from the input embedding, so only the
    linear layers are quantized, as in the layer-level table.
    """
    import torch

    if fmt is not None and get_format(fmt).scheme == "cast":
        group_size = None  # fp32/fp16/bf16 are plain casts without groups
    for name, mod in m.linears.items():
        original = m.originals[name]
        if fmt is None:
            mod.weight = original
            continue
        w = original.detach().numpy()
        r = (quantize(w, fmt, group_size=group_size) if ckpt is None
             else quantize_layer(ckpt, f"{name}.weight", w, fmt, group_size))
        deq = np.asarray(r.dequantized, np.float32)
        mod.weight = torch.nn.Parameter(torch.from_numpy(deq), requires_grad=False)


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
            if m.pooling == "cls":
                pooled = hidden[:, 0]
            else:  # mean over real tokens only
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            out.append(pooled.numpy().astype(np.float64))
    emb = np.empty((len(texts), out[0].shape[1]))
    emb[order] = np.concatenate(out)
    return emb


def _token_windows(m: _Model, text: str) -> list[Any]:
    import torch

    ids = m.tokenizer(text, add_special_tokens=False)["input_ids"]
    bos = m.tokenizer.bos_token_id
    if bos is not None:
        ids = [bos, *ids]
    if len(ids) < 2:
        raise HwsimError("perplexity text: fewer than 2 tokens after tokenization")
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
) -> pd.DataFrame:
    """Quantize every linear weight of a local transformers model and measure the damage.

    Args:
        checkpoint: model folder (config.json, weights, tokenizer) or an opened `Checkpoint`.
        formats: `hwsim.dtypes` format names.
        group_size: quantization group along in_features (None: each format's default).
        texts: encoders: one text per line (default: the shipped retrieval set); causal LMs:
            the text to compute perplexity on (required).
        max_length: token limit per text / perplexity window (default: the model's, at most
            512); beyond the model's learned positions is an error.
        on_format: progress callback ``(index, total, format_name)`` before each format.

    Returns:
        First the unquantized reference (format `REFERENCE`, measured against itself like
        any format), then one row per format with the columns `E2E_COLUMNS`: ``texts`` names
        the text file,
        ``n_texts`` counts the texts embedded, ``tokens`` the tokens predicted (perplexity);
        metrics of the other task are NaN.

    Raises:
        HwsimError: unknown format, unsupported model, missing or empty text file, or the
            llm extra not installed.
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
    m = _load(ckpt, max_length)
    rows = []
    try:
        if task == "perplexity":
            windows = _token_windows(m, text_list[0])
            ppl_ref, tokens = _perplexity(m, windows)
            counts = {"n_texts": 1, "tokens": tokens}
            _check_reference(ckpt, np.asarray([ppl_ref]), "perplexity is")
        else:
            ref = _embed(m, text_list)
            counts = {"n_texts": len(text_list)}
            _check_reference(ckpt, ref, "embeddings are")
        reference: dict[str, Any] = dict.fromkeys(E2E_COLUMNS, np.nan)
        reference.update(format=REFERENCE, task=task, texts=texts_label, **counts)
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
                       texts=texts_label, **counts)
            if task == "perplexity":
                ppl, _ = _perplexity(m, windows)
                row.update(ppl_reference=ppl_ref, ppl=ppl, ppl_ratio=ppl / ppl_ref)
            else:
                row.update(embedding_agreement(ref, _embed(m, text_list)))
            rows.append(row)
    finally:
        _set_weights(m, None, None)
    return pd.DataFrame(rows, columns=list(E2E_COLUMNS)).astype({"group_size": "Int64"})
