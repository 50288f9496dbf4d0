"""The sweep engine bound to hwsim's simulator: a workload and a hardware description per point.

A point's configuration is ``{"workload": <workload mapping>, "hardware": <full hardware
mapping>, "hardware_overrides": {dotted path: value}}``. Workload axes are written into the
workload mapping; hardware axes go through `hwsim.hw.with_overrides`, which knows the fields
that exclude each other (``dram.gb_per_s`` vs ``dram.bytes_per_cycle``) and starts a
``decode_array`` from ``array`` when a sweep sets it on a design without one.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hwsim import __version__
from hwsim.config import leaf_paths, with_overrides
from hwsim.dtypes import get_format
from hwsim.errors import HwsimError
from hwsim.files import read_json, read_yaml, resolve_reference
from hwsim.hw import hardware_fields, hardware_from_dict, hardware_to_dict, load_hardware
from hwsim.hw import with_overrides as hw_overrides
from hwsim.hw.area import area_mm2
from hwsim.hw.spec import exclusive_overrides
from hwsim.reports.fidelity import asked_group_size
from hwsim.reports.fidelity_cost import measured_group_sizes, read_fidelity_dir, shown_group
from hwsim.sim import simulate_workload, unmodelled_figures
from hwsim.sim.run import apply_weight_storage
from hwsim.sim.serving import simulate_serving
from hwsim.sweep.evaluator import Evaluator
from hwsim.workloads import example_workloads, operators, workload_from_dict
from hwsim.workloads.inventory import linear_layers
from hwsim.workloads.serving import read_trace_csv

__all__ = ["METRICS", "FieldClash", "evaluate", "explain_absent", "hwsim_evaluator",
           "model_fingerprint", "rtl_fingerprint", "why_absent"]

# Metric -> natural goal. Stage metrics are absent for a workload without that stage.
METRICS = {
    "latency_ms": "min",
    "energy_uj": "min",
    "edp_uj_ms": "min",             # energy-delay product: energy_uj x latency_ms
    "area_mm2": "min",
    "tokens_per_s": "max",
    "energy_per_token_uj": "min",
    "cycles": "min",
    "prefill_latency_ms": "min",
    "prefill_tokens_per_s": "max",
    "decode_latency_ms": "min",
    "decode_tokens_per_s": "max",
    "decode_ms_per_token": "min",
    "utilization": "max",           # MAC-weighted PE utilization over all GEMMs
    "sram_kib": "min",              # weight + activation + output buffers
    "weight_bits": "min",           # effective bits per weight (scales included)
    # Fidelity of the point's weight format on a real checkpoint, when the sweep file names a
    # `fidelity:` folder written by `hwsim quantize` (and `hwsim fidelity`).
    "sqnr_db_mean": "max",
    "sqnr_db_min": "max",
    "quant_mse": "min",
    "cos_mean": "max",
    "cos_min": "max",
    "nn_top1_agreement": "max",
    "nn_top5_overlap": "max",
    "ppl": "min",
    "ppl_ratio": "min",
    # A served request trace (`requests:` or a batch list): percentiles over its requests.
    "ttft_p50_s": "min",
    "ttft_p99_s": "min",
    "tpot_p50_s": "min",
    "tpot_p99_s": "min",
    "e2e_p99_s": "min",
    "output_tokens_per_s": "max",
}
# Columns of `hwsim quantize`'s summary.csv and `hwsim fidelity`'s fidelity.csv -> metric.
_FIDELITY_COLUMNS = {"sqnr_db_mean": "sqnr_db_mean", "sqnr_db_min": "sqnr_db_min",
                     "mse": "quant_mse", "cos_mean": "cos_mean", "cos_min": "cos_min",
                     "nn_top1_agreement": "nn_top1_agreement",
                     "nn_top5_overlap": "nn_top5_overlap", "ppl": "ppl", "ppl_ratio": "ppl_ratio"}

_FIDELITY_METRICS = frozenset(_FIDELITY_COLUMNS.values())
# Metrics of a served trace only (`_serving_metrics`).
_SERVING_METRICS = frozenset({"ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s",
                              "e2e_p99_s", "output_tokens_per_s"})

# Workload precision keys: setting one of a group clears the others it excludes.
_PRECISIONS = ("weights", "activations", "kv_cache")
_WORKLOAD_FIELDS = ("name", "description", "model", "batch", "prompt_tokens",
                    "generate_tokens", "logits", "attention.kernel", "attention.causal",
                    "attention.block_q", "attention.block_kv", "attention.splits",
                    "serving.max_batch", "serving.max_tokens_per_step",
                    "serving.chunked_prefill")
_PRECISION_FIELDS = tuple(f"{p}.{k}" for p in _PRECISIONS for k in ("format", "group_size", "bits"))
_WORKLOAD_FIELDS += _PRECISION_FIELDS


class FieldClash(HwsimError):
    """Two axes that set the same quantity: at every point the later would silently replace
    the earlier, so points of different axis values would be one configuration. `paths` are
    the two fields, section first (``hardware.dram.gb_per_s``)."""

    def __init__(self, first: str, second: str, why: str = "") -> None:
        self.paths, self.why = (first, second), why
        super().__init__(f"axes: {first} and {second} set the same quantity{why}; keep one of "
                         "the two axes")


def _build(config: dict[str, Any]) -> tuple[Any, Any]:
    """The point's validated hardware description and workload."""

    hw = hardware_from_dict(config["hardware"], source="hardware")
    if config["hardware_overrides"]:
        hw = hw_overrides(hw, config["hardware_overrides"])
    return hw, workload_from_dict(config["workload"], source="workload")


def check(config: dict[str, Any]) -> None:
    """Build a point's hardware and workload without simulating: an unknown format or an
    out-of-range value raises `HwsimError` (a PE that cannot run a format is a result)."""
    _build(config)


def evaluate(config: dict[str, Any]) -> dict[str, float]:
    """Simulate one point (a top-level function: worker processes import it by name).

    Raises:
        HwsimError: an invalid combination (a PE that cannot run the format, a buffer too
            small for a tile, a bad value); the sweep records the message and goes on.
    """
    fidelity = config.get("fidelity")
    if fidelity is not None and "error" in fidelity:
        raise HwsimError(fidelity["error"])  # before simulating: the point cannot be complete
    hw, workload = _build(config)
    if workload.served:
        return _serving_metrics(workload, hw, fidelity)
    result = simulate_workload(workload, hw)

    metrics = {
        "latency_ms": result.latency_ms,
        "energy_uj": result.energy_uj,
        "edp_uj_ms": result.energy_uj * result.latency_ms,
        "area_mm2": result.area_mm2,
        "cycles": float(result.total_cycles),
        "sram_kib": hw.buffers.weight.kib + hw.buffers.activation.kib + hw.buffers.output.kib,
    }
    _add_weight_bits(metrics, workload, hw)
    if fidelity is not None:
        metrics.update(fidelity["metrics"])
    if result.throughput_tokens_per_s is not None:
        metrics["tokens_per_s"] = result.throughput_tokens_per_s
        metrics["energy_per_token_uj"] = result.energy_per_token_uj
    _drop_unmodelled(metrics, result.unmodelled)
    layers = result.layers
    macs = layers["macs"].to_numpy(dtype=np.float64)
    if macs.sum():
        # A row's utilization is active / (cycles x PEs); weight the rows by their MACs.
        metrics["utilization"] = float(layers["utilization"].to_numpy() @ macs / macs.sum())
    # Stage totals from the per-step cycles (what `RunResult.stage_totals` sums, without its
    # pandas group-by, which costs more than the rest of this function).
    for stage, steps in result.step_cycles.items():
        latency_ms = float(steps.sum()) / (hw.clock_mhz * 1e3)
        metrics[f"{stage}_latency_ms"] = latency_ms
        tokens = (result.tokens or {}).get(stage)
        if tokens and latency_ms:
            metrics[f"{stage}_tokens_per_s"] = tokens / (latency_ms * 1e-3)
            if stage == "decode":
                metrics["decode_ms_per_token"] = latency_ms / tokens
    return metrics


def _serving_metrics(workload: Any, hw: Any, fidelity: dict[str, Any] | None
                     ) -> dict[str, float]:
    """Metrics of a served trace: request percentiles, throughput, energy, area."""
    run = simulate_serving(workload, hw)
    s = run.summary()
    latency_ms = s["makespan_s"] * 1e3
    metrics = {
        "latency_ms": latency_ms,
        "energy_uj": s["energy_uj"],
        "edp_uj_ms": s["energy_uj"] * latency_ms,
        "area_mm2": area_mm2(hw),
        "cycles": float(run.step_cycles.sum()),
        "sram_kib": hw.buffers.weight.kib + hw.buffers.activation.kib + hw.buffers.output.kib,
        "e2e_p99_s": s["e2e_s"]["p99"],
        "ttft_p50_s": s["ttft_s"]["p50"],
        "ttft_p99_s": s["ttft_s"]["p99"],
    }
    tokens = int(run.step_tokens.sum())  # processed: prompts and decode steps, as `tokens_per_s`
    if tokens:
        metrics["energy_per_token_uj"] = s["energy_uj"] / tokens
    for key, value in (("tpot_p50_s", s["tpot_s"]["p50"]), ("tpot_p99_s", s["tpot_s"]["p99"]),
                       ("tokens_per_s", s["throughput_tokens_per_s"]),
                       ("output_tokens_per_s", s["output_tokens_per_s"]),
                       ("utilization", s["utilization"])):
        if value is not None:
            metrics[key] = value
    _add_weight_bits(metrics, workload, hw)
    if fidelity is not None:
        metrics.update(fidelity["metrics"])
    _drop_unmodelled(metrics, unmodelled_figures(metrics["cycles"], s["energy_uj"],
                                                 metrics["area_mm2"]))
    return metrics


def _add_weight_bits(metrics: dict[str, float], workload: Any, hw: Any) -> None:
    """``weight_bits``: the mean bits per weight (scales included) as the design stores them.

    A design with its own storage (the FP16 baseline, ``weights:`` in its YAML, an RTL core's
    slots) stores its weights that way whatever the workload asks (`apply_weight_storage`, as
    the simulation runs them); the workload's ``weights.bits`` would credit it bits it never
    saves. Weighted by the weights the model stores (each layer's copies: every expert, not
    the experts a step's tokens touch, which vary with prompt and batch) over the first
    stage's operators (decode reads the same weights again).
    """
    ops = [op for op in apply_weight_storage(operators(workload), hw)
           if op.kind == "gemm" and op.b_kind == "weight"]
    ops = [op for op in ops if op.stage == ops[0].stage] if ops else []
    copies = ({lin.name: lin.copies for lin in linear_layers(workload.model)}
              if workload.model is not None else {})
    counts = [float(op.n[0]) * float(op.k[0]) * copies.get(op.name, op.count) for op in ops]
    if sum(counts):
        metrics["weight_bits"] = sum(n * op.b_bits for n, op in zip(counts, ops, strict=True)) \
            / sum(counts)


# Metrics that a design without an energy / area model (a measured FPGA build) has no value
# for: left out (NaN in the results, never on a Pareto front) rather than a winning 0.
_UNMODELLED_METRICS = {"energy": ("energy_uj", "edp_uj_ms", "energy_per_token_uj"),
                       "area": ("area_mm2",)}


def _drop_unmodelled(metrics: dict[str, float], unmodelled: tuple[str, ...]) -> None:
    for figure in unmodelled:
        for name in _UNMODELLED_METRICS[figure]:
            metrics.pop(name, None)


def why_absent(metric: str, config: Mapping[str, Any]) -> str | None:
    """Why a point of this configuration has no value for `metric`, when its configuration
    alone decides it; ``None`` when it may have one. A sweep checks its objectives,
    constraints and heatmaps with it before running: a metric no point can have is a mistake
    in the sweep file, not an hour of points without it."""
    workload = config.get("workload")
    if not isinstance(workload, Mapping):  # not a configuration of this evaluator
        return None
    if metric in _FIDELITY_METRICS:
        fidelity = config.get("fidelity")
        if fidelity is None:
            return "a fidelity metric needs a `fidelity:` folder written by `hwsim quantize`"
        if "error" in fidelity:  # the point fails with that message
            return None
        if metric not in fidelity["metrics"]:
            return ("the `fidelity:` folder has no such measurement of the point's weight "
                    "format; cos_*, nn_* and ppl* come from `hwsim fidelity`")
        return None
    # A key written as null is a key left out.
    served = workload.get("requests") is not None or isinstance(workload.get("batch"), list)
    if metric in _SERVING_METRICS and not served:
        return "a serving metric needs a served workload (`requests:` or a `batch:` list)"
    stage = metric.partition("_")[0] if metric.startswith(("prefill_", "decode_")) else None
    if stage is not None and served:
        return ("a served workload has no prefill or decode totals; its metrics are ttft_*, "
                "tpot_*, e2e_p99_s and output_tokens_per_s")
    if workload.get("gemms") is not None and (stage == "decode" or "token" in metric):
        return "a raw-GEMM workload (`gemms:`) has no tokens and no decode stage"
    tokens = workload.get("generate_tokens")
    if stage == "decode" and isinstance(tokens, int) and tokens < 2:
        return (f"the workload has no decode stage (generate_tokens is {tokens}, and the "
                "prefill makes the first token; decoding needs generate_tokens >= 2)")
    return None


def explain_absent(metric: str, config: Mapping[str, Any]) -> str:
    """Why no point that ran has `metric`, judged from one point's configuration: the
    reasons of `why_absent`, and those known only once the points ran."""
    reason = why_absent(metric, config)
    if reason is not None:
        return reason
    if not isinstance(config.get("workload"), Mapping):
        return "the model did not produce it"
    figure = next((f for f, names in _UNMODELLED_METRICS.items() if metric in names), None)
    if figure is not None:
        return (f"the hardware has no {figure} model (a measured build), so the metric is "
                "left out rather than 0")
    return "the model did not produce it"


def _resolve_hardware(entry: Any, folder: Path, where: str) -> dict[str, Any]:
    if isinstance(entry, Mapping):
        return hardware_to_dict(hardware_from_dict(dict(entry), source=where))
    if not isinstance(entry, str):
        raise HwsimError(f"{where}: give a preset name, a YAML path or a mapping")
    ref = resolve_reference(entry, folder)
    try:
        return hardware_to_dict(load_hardware(ref))
    except HwsimError as exc:
        if isinstance(ref, Path) and ref.is_file():
            raise  # a problem inside that file: its message names the file and the key
        # An unknown preset or a missing file: a mistake in the sweep file, so name it.
        raise HwsimError(f"{where}: {exc}") from None


def _resolve_workload(entry: Any, folder: Path, where: str) -> dict[str, Any]:
    if isinstance(entry, Mapping):
        data, base_dir, source = dict(entry), folder, where
    elif isinstance(entry, str):
        examples = example_workloads()
        path = examples.get(entry, folder / entry)
        if not path.is_file():
            raise HwsimError(f"{where}: {entry!r} is neither a bundled example workload "
                             f"({', '.join(examples)}) nor a file in {folder}")
        data = read_yaml(path, "workload")
        base_dir, source = path.parent, str(path)
    else:
        raise HwsimError(f"{where}: give an example name, a YAML path or a mapping")
    workload_from_dict(data, source=source, base_dir=base_dir)  # report problems up front
    data = copy.deepcopy(data)
    # The sweep's hardware section decides; the workload's own hint would be a dead field.
    data.pop("hardware", None)
    model = data.get("model")
    if isinstance(model, str) and (model.endswith(".json") or "/" in model):
        # The config's contents, not its path: points may run in another folder or machine,
        # and keys then depend on what the model is, not on where the sweep was started.
        path = base_dir / Path(model).expanduser()
        path = path / "config.json" if path.is_dir() else path
        contents = read_json(path, "model config")
        data["model"] = {**contents, "_name_or_path": path.parent.name or path.stem}
    if isinstance(data.get("requests"), str):  # a CSV trace: its requests, likewise

        trace = read_trace_csv(base_dir / Path(data["requests"]).expanduser())
        data["requests"] = [dataclasses.asdict(r) for r in trace]
    return data


def _resolve_fidelity(entry: Any, folder: Path, where: str) -> dict[str, Any]:
    """Per canonical format name, the fidelity metrics of a `hwsim quantize` folder."""
    import math

    if not isinstance(entry, str):
        raise HwsimError(f"{where}: give the folder written by `hwsim quantize` (and "
                         "`hwsim fidelity`)")
    path = folder / entry
    summary, e2e = read_fidelity_dir(path)
    table = summary if e2e is None else summary.merge(e2e, on="format", how="left",
                                                      suffixes=("", "_e2e"))
    groups = measured_group_sizes(summary, e2e)
    rows: dict[str, Any] = {}
    for record in table.to_dict("records"):
        name = str(record["format"])
        rows[name] = {
            "group_size": groups[name],
            # Cells are checked by `read_fidelity_dir`: empty ones are metrics of another task.
            "metrics": {metric: float(record[column])
                        for column, metric in _FIDELITY_COLUMNS.items()
                        if column in record and math.isfinite(record[column])},
        }
    return {"folder": entry, "formats": rows}  # as written: relative to the sweep file


def _resolve(section: str, entry: Any, folder: Path, where: str) -> dict[str, Any]:
    if section == "hardware":
        return _resolve_hardware(entry, folder, where)
    if section == "fidelity":
        return _resolve_fidelity(entry, folder, where)
    return _resolve_workload(entry, folder, where)


def _fields(section: str, base: Mapping[str, Any]) -> list[str]:
    if section == "fidelity":  # measured data joined per weight format, not a design knob
        return []
    if section == "hardware":
        return hardware_fields(hardware_from_dict(dict(base)))
    present = [p for p in leaf_paths(base) if not p.startswith(("gemms", "model."))]
    if "gemms" in base:  # raw-GEMM workloads have no model, tokens, batch or KV cache ...
        # ... but weights and activations of any precision: unoffered, `weights.bits` was
        # taken for the hardware's own storage field without a word.
        return list(dict.fromkeys([*present, *(f for f in _PRECISION_FIELDS
                                                 if not f.startswith("kv_cache."))]))
    return list(dict.fromkeys([*present, *_WORKLOAD_FIELDS]))


def _combine(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    _refuse_precision_clash(overrides)
    workload = copy.deepcopy(base["workload"])
    hardware: dict[str, Any] = {}
    for path, value in overrides.items():
        section, field = path.split(".", 1)
        if section == "hardware":
            hardware[field] = value
            continue
        head, _, key = field.rpartition(".")
        group = workload.get(head) if head in _PRECISIONS else None
        if isinstance(group, dict):
            # A precision is a format (with a group) or a width: the new one replaces the old.
            if key == "format":
                group.pop("bits", None)
            elif key == "bits":
                group.pop("format", None)
                group.pop("group_size", None)
        workload = with_overrides({"w": workload}, {f"w.{field}": value})["w"]

    clash = exclusive_overrides(hardware)
    if clash is not None:  # the later would silently win over the earlier on every point
        raise FieldClash(f"hardware.{clash[0]}", f"hardware.{clash[1]}")
    config = {"workload": workload, "hardware": base["hardware"], "hardware_overrides": hardware}
    if _uses_rtl(base["hardware"], hardware):
        # Its PE figures are computed from the RTL when the point runs (the configuration
        # says only `rtl`): the code and data they come from are part of its key.
        config["rtl_model"] = rtl_fingerprint()
    if "fidelity" in base:
        config["fidelity"] = _fidelity_row(base["fidelity"], workload)
    return config


def _refuse_precision_clash(overrides: Mapping[str, Any]) -> None:
    """A workload precision is a format (with its group size) or a width: axes on both would
    replace each other at every point (`_combine` drops the one a value excludes), so the
    points of one would share keys and the table would label them with the other's values."""
    for group in _PRECISIONS:
        given = [f"workload.{group}.{key}" for key in ("format", "group_size", "bits")
                 if f"workload.{group}.{key}" in overrides]
        if len(given) > 1 and given[-1].endswith(".bits"):
            raise FieldClash(given[0], given[-1], f" (the {group} precision is a format with "
                             "its group size, or a width in bits)")


def _uses_rtl(hardware: Mapping[str, Any], overrides: Mapping[str, Any]) -> bool:
    """Whether a point's PE figures come from the RTL: ``pe.rtl`` in the base hardware (an
    axis cannot add it: it is a mapping, and its parameters are fields only when it is set)."""
    pe = hardware.get("pe")
    return (isinstance(pe, Mapping) and pe.get("rtl") is not None) or any(
        path == "pe.rtl" or path.startswith("pe.rtl.") for path in overrides)


def _fidelity_row(table: dict[str, Any], workload: dict[str, Any]) -> dict[str, Any]:
    """The fidelity metrics of the point's default weight format (part of its key: new
    measurements make new points)."""

    weights = workload.get("weights") or {}
    name = weights.get("format")
    if name is None:
        return {"error": "fidelity: the workload's weights give a width, not a format"}
    try:
        name = get_format(name).name
        group = asked_group_size(name, weights.get("group_size"))
    except HwsimError:
        return {"metrics": {}}  # an unknown format fails in the simulation with its own message
    measured = table["formats"].get(name)
    if measured is None:
        return {"error": f"fidelity: no row for weight format {name} in {table['folder']} "
                         f"(formats: {', '.join(table['formats'])})"}
    if measured["group_size"] != group:  # another quantization: its figures are not this one's
        return {"error": f"fidelity: {table['folder']} measured {name} at "
                         f"{shown_group(measured['group_size'])}, the point's weights are at "
                         f"{shown_group(group)} (run hwsim quantize with --group-size "
                         f"{group} into another folder)" if group is not None else
                         f"fidelity: {table['folder']} measured {name} at "
                         f"{shown_group(measured['group_size'])}, the point's weights have "
                         "no group"}
    return {"metrics": measured["metrics"]}


# The code a point's numbers come from. Its hash is part of every key, so a changed cost model
# never serves stale stored results (presets and workloads are in the configuration itself).
# This module computes the metrics from the simulation's result: it counts too.
_MODEL_PACKAGES = ("hwsim.dtypes", "hwsim.workloads", "hwsim.hw", "hwsim.mapping", "hwsim.sim")
# Where the PE figures of a design with ``pe.rtl`` come from: synthesis, gate-level simulation
# and calibration (hw/asic, its cell library data) of the RTL (hw/rtl). Only such points carry
# their hash (`_combine`): an RTL change re-runs them and keeps every other point's key.
_RTL_PACKAGES = ("hwsim.hw.asic", "hwsim.hw.rtl")


def _package_files(names: tuple[str, ...], patterns: tuple[str, ...],
                   recursive: bool) -> list[tuple[str, Path]]:
    """(name to hash, path) of the files of the packages, in a fixed order."""
    import importlib

    files = []
    for name in names:
        folder = Path(importlib.import_module(name).__file__).parent
        for pattern in patterns:
            found = folder.rglob(pattern) if recursive else folder.glob(pattern)
            files += [(f"{name}/{p.relative_to(folder).as_posix()}", p) for p in found
                      if "__pycache__" not in p.parts]
    return sorted(files)


def _digest(files: list[tuple[str, Path]]) -> str:
    """SHA-256 (first 16 hex digits) of the files' names and contents."""
    import hashlib

    digest = hashlib.sha256()
    for name, path in files:
        digest.update(f"{name}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@functools.cache  # the code a process runs does not change under it
def model_fingerprint() -> str:
    """SHA-256 (first 16 hex digits) of the source of the packages that compute a point (their
    top-level modules: not hw/rtl, hw/asic or hw/fpga, see `rtl_fingerprint`) and of this
    module."""
    files = _package_files(_MODEL_PACKAGES, ("*.py",), recursive=False)
    return _digest([*files, ("hwsim.sweep/hwsim_eval.py", Path(__file__))])


@functools.cache
def rtl_fingerprint() -> str:
    """SHA-256 (first 16 hex digits) of the sources and data of hw/asic and hw/rtl, from which
    the PE figures of a design with ``pe.rtl`` are computed."""
    return _digest(_package_files(_RTL_PACKAGES, ("*.py", "*.json"), recursive=True))


def hwsim_evaluator() -> Evaluator:
    """The evaluator `run_sweep` and ``hwsim sweep`` use: hwsim's simulator."""
    return Evaluator(
        name=f"hwsim-sim {__version__} {model_fingerprint()}",
        evaluate=evaluate,
        check=check,
        sections=("workload", "hardware"),
        optional_sections=("fidelity",),
        resolve=_resolve,
        metrics=METRICS,
        fields=_fields,
        combine=_combine,
        absent=why_absent,
    )
