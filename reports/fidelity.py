"""Layer-level quantization fidelity of a real checkpoint, one layer at a time.

`layer_fidelity` reads each linear weight of a checkpoint once, quantizes it with every
requested format of the golden model (`hwsim.dtypes.quantize`) and records the error: MSE,
SQNR, max error, effective bits per weight, the mixture's type histogram (BitMoD, ANT) and
OliVe's outlier-pair rate. `format_summary` folds the table into one row per format,
including the size of the quantized model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from hwsim.dtypes import get_format, quantize_named
from hwsim.errors import HwsimError
from hwsim.workloads.checkpoints import Checkpoint, LinearWeight

__all__ = [
    "LAYER_COLUMNS",
    "SUMMARY_COLUMNS",
    "asked_group_size",
    "check_group_applies",
    "flushed_note",
    "flushed_notes",
    "format_summary",
    "layer_fidelity",
    "quantize_layer",
    "resolve_formats",
]

LAYER_COLUMNS = ("layer", "role", "block", "out_features", "in_features", "params", "format",
                 "bits_per_weight", "size_bytes", "mse", "sqnr_db", "max_abs_error",
                 "type_histogram", "outlier_pair_rate", "flushed_groups")

SUMMARY_COLUMNS = ("format", "group_size", "layers", "linear_params", "bits_per_weight",
                   "linear_bytes", "model_bytes", "compression", "mse", "sqnr_db_mean",
                   "sqnr_db_min", "worst_layer", "max_abs_error", "type_histogram",
                   "outlier_pair_rate")


def resolve_formats(formats: Sequence[str] | str) -> list[str]:
    """Canonical format names, duplicates dropped, order kept.

    Args:
        formats: names, or one comma-separated string (``"int4,bitmod4"``).

    Raises:
        HwsimError: an unknown name (the golden model lists the closest names) or none given.
    """
    if isinstance(formats, str):
        formats = [f for f in (s.strip() for s in formats.split(",")) if f]
    names = list(dict.fromkeys(get_format(f).name for f in formats))
    if not names:
        raise HwsimError("formats: give at least one format name (see `hwsim dtypes list`)")
    return names


def _type_histogram(result: Any) -> str:
    """``"name:count ..."`` of the per-group type choice of a mixture, else ``""``."""
    return " ".join(f"{n}:{c}" for n, c in result.type_histogram().items())


def asked_group_size(fmt: str, group_size: int | None) -> int | None:
    """The group size a measurement of `fmt` asked for (summary.csv's and fidelity.csv's
    ``group_size``), by the rule a workload's precision follows: the one given, else the
    format's own; None for a plain cast (fp32/fp16/bf16) and for a scale per row or tensor
    (ANT, OliVe, ternary by default). What a workload's weights must match to take the
    measurement's figures (`hwsim sweep`'s ``fidelity:``, `hwsim tradeoff`)."""
    f = get_format(fmt)
    if f.scheme == "cast":
        return None
    return group_size if group_size is not None else f.group_size


def quantize_layer(checkpoint: Checkpoint, tensor: str, w: Any, fmt: str,
                   group_size: int | None) -> Any:
    """`quantize` of one checkpoint tensor; its refusals (a NaN, a scale its format cannot
    store, a group beyond the limits) name the checkpoint and the tensor."""
    try:
        return quantize_named(w, fmt, group_size, tensor)
    except HwsimError as exc:
        raise HwsimError(f"{checkpoint.path}: {exc}") from None


def _outlier_pair_rate(result: Any, params: int) -> float:
    """Fraction of the (2t, 2t+1) element pairs holding an outlier (OliVe), else NaN."""
    if result.outlier_pairs is None:
        return float("nan")
    return result.outlier_pairs / (params // 2)


def flushed_note(fmt: str, groups: int, where: str) -> str:
    """The note on `QuantResult.flushed_groups`, worded alike by every command."""
    return (f"note: {fmt}: {groups:,} group{'s' if groups != 1 else ''} {where} hold nonzero "
            "weights but a stored scale of 0 (it underflowed its storage format): every "
            "weight of them dequantizes to 0")


def flushed_notes(layers: pd.DataFrame) -> list[str]:
    """One `flushed_note` per format of a `layer_fidelity` table that lost whole groups."""
    notes = []
    hit = layers[layers["flushed_groups"] > 0]
    for fmt, rows in hit.groupby("format", sort=False):
        n = len(rows)
        notes.append(flushed_note(str(fmt), int(rows["flushed_groups"].sum()),
                                  f"in {n} layer{'s' if n != 1 else ''} (layers.csv "
                                  "flushed_groups)"))
    return notes


def check_group_applies(names: Sequence[str], group_size: int | None) -> None:
    """Refuse a group size that no format of `names` takes (plain casts alone): it would
    change nothing, silently."""
    if group_size is not None and names and all(get_format(n).scheme == "cast"
                                                 for n in names):
        raise HwsimError(f"group size {group_size}: {', '.join(names)} "
                         f"{'is a plain cast' if len(names) == 1 else 'are plain casts'} "
                         "without scales or groups; leave the group size out or add a "
                         "quantized format")


def layer_fidelity(
    checkpoint: Checkpoint,
    formats: Sequence[str] | str,
    *,
    group_size: int | None = None,
    layers: Sequence[str] | None = None,
    on_layer: Callable[[int, int, LinearWeight], None] | None = None,
) -> pd.DataFrame:
    """Quantize every linear layer of a checkpoint in every format and measure the error.

    Only one layer's weight (and one quantized copy) is in memory at a time.

    Args:
        checkpoint: an opened checkpoint (`hwsim.workloads.checkpoints.open_checkpoint`).
        formats: format names (or one comma-separated string).
        group_size: group along in_features for the group-quantized formats; None: each
            format's default. The unquantized references (fp32, fp16, bf16) take none.
        layers: restrict to these layer names (default: all linear layers).
        on_layer: progress callback ``(index, total, layer)`` called before each layer.

    Returns:
        One row per (layer, format) with `LAYER_COLUMNS`, layers in model order.

    Raises:
        HwsimError: unknown format or layer name, or a group size for casts alone.
    """
    names = resolve_formats(formats)
    # fp32/fp16/bf16 are plain casts without groups: the group size is for the others.
    casts = {n for n in names if get_format(n).scheme == "cast"}
    check_group_applies(names, group_size)
    todo = list(checkpoint.linear_layers())
    if layers is not None:
        known = {lin.name for lin in todo}
        unknown = [n for n in layers if n not in known]
        if unknown:
            raise HwsimError(f"layers: {', '.join(unknown)} not among the linear layers of "
                             f"{checkpoint.path} (e.g. {todo[0].name})")
        wanted = set(layers)
        todo = [lin for lin in todo if lin.name in wanted]
    rows: list[dict[str, Any]] = []
    for i, lin in enumerate(todo):
        if on_layer is not None:
            on_layer(i, len(todo), lin)
        w = checkpoint.read(lin.tensor)
        for fmt in names:
            r = quantize_layer(checkpoint, lin.tensor, w, fmt,
                               None if fmt in casts else group_size)
            bpw = float(r.bits_per_weight)
            rows.append({
                "layer": lin.name, "role": lin.role, "block": lin.block,
                "out_features": lin.out_features, "in_features": lin.in_features,
                "params": lin.params, "format": fmt, "bits_per_weight": bpw,
                "size_bytes": lin.params * bpw / 8.0, "mse": float(r.mse),
                "sqnr_db": float(r.sqnr_db), "max_abs_error": float(r.max_abs_error),
                "type_histogram": _type_histogram(r),
                "outlier_pair_rate": _outlier_pair_rate(r, lin.params),
                "flushed_groups": r.flushed_groups,
            })
            del r
    df = pd.DataFrame(rows, columns=list(LAYER_COLUMNS))
    return df.astype({"block": "Int64"})


def _sum_histograms(hists: pd.Series) -> str:
    total: dict[str, int] = {}
    for h in hists:
        for item in str(h).split():
            name, count = item.rsplit(":", 1)
            total[name] = total.get(name, 0) + int(count)
    return " ".join(f"{n}:{c}" for n, c in total.items())


def format_summary(layers: pd.DataFrame, checkpoint: Checkpoint | None = None,
                   group_size: int | None = None) -> pd.DataFrame:
    """One row per format: effective bits, sizes and the error over all layers.

    Args:
        layers: the table from `layer_fidelity`.
        checkpoint: when given, ``model_bytes`` adds every tensor that is not a quantized
            linear weight (embeddings, norms, biases) at its stored size, a token embedding
            tied to the lm_head excepted (it is the lm_head's matrix, in its format);
            otherwise it equals ``linear_bytes``.
        group_size: the group size `layer_fidelity` was given (``group_size``: each format's
            `asked_group_size`, empty where none).

    Returns:
        `SUMMARY_COLUMNS`: ``bits_per_weight`` is parameter-weighted over the layers, ``mse``
        is the total squared error per weight, ``compression`` is the stored size of the
        linear weights over their quantized size (16-bit weights assumed without a
        checkpoint), ``sqnr_db_mean`` the plain mean over layers.
    """
    other_bytes = 0
    stored: dict[str, int] | None = None
    if checkpoint is not None:
        in_table = set(layers["layer"])
        by_name = {lin.name: lin for lin in checkpoint.linear_layers()}
        stored = {n: checkpoint.tensors[lin.tensor].nbytes for n, lin in by_name.items()}
        # A tied lm_head's tensor is the embedding table: stored once, at lm_head's format
        # (`hwsim fidelity` runs that model: its embedding lookup reads the quantized matrix).
        quantized = {lin.tensor for n, lin in by_name.items() if n in in_table}
        other_bytes = sum(t.nbytes for name, t in checkpoint.tensors.items()
                          if name not in quantized)
    rows = []
    for fmt, g in layers.groupby("format", sort=False):
        params = int(g["params"].sum())
        linear_bytes = float(g["size_bytes"].sum())
        worst = g.loc[g["sqnr_db"].idxmin()]
        if stored is not None:
            compression = sum(stored[n] for n in g["layer"]) / linear_bytes
        else:  # relative to 16-bit weights
            compression = params * 2.0 / linear_bytes
        pairs = g["params"] // 2
        rate = g["outlier_pair_rate"]
        rows.append({
            "format": fmt, "group_size": asked_group_size(fmt, group_size),
            "layers": len(g), "linear_params": params,
            "bits_per_weight": float((g["bits_per_weight"] * g["params"]).sum() / params),
            "linear_bytes": linear_bytes, "model_bytes": linear_bytes + other_bytes,
            "compression": compression,
            "mse": float((g["mse"] * g["params"]).sum() / params),
            "sqnr_db_mean": float(g["sqnr_db"].mean()), "sqnr_db_min": float(worst["sqnr_db"]),
            "worst_layer": worst["layer"], "max_abs_error": float(g["max_abs_error"].max()),
            "type_histogram": _sum_histograms(g["type_histogram"]),
            "outlier_pair_rate": (float((rate * pairs).sum() / pairs.sum())
                                  if rate.notna().all() else float("nan")),
        })
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS)).astype({"group_size": "Int64"})
