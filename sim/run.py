"""A whole workload on one hardware description: per-op table, per-stage totals, summary.

GEMM operators run on the PE array (`hwsim.sim.engine`). Vector operators (norms, softmax,
activations, residual adds, embedding lookups) are not mapped onto the array: they are listed
in `RunResult.not_simulated` and in the summary, never silently dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hwsim.hw.area import area_breakdown_mm2
from hwsim.hw.spec import HardwareSpec
from hwsim.sim.engine import ENERGY_COMPONENTS, simulate_op
from hwsim.workloads.ops import Op

__all__ = [
    "ENERGY_KEYS",
    "RunResult",
    "apply_weight_storage",
    "compare_results",
    "simulate_ops",
    "simulate_workload",
]

ENERGY_KEYS = (*ENERGY_COMPONENTS, "leakage")
Progress = Callable[[int, int, str], None]

LAYER_COLUMNS = [
    "stage", "op", "op_class", "layer", "count", "steps", "m", "n", "k", "macs", "cycles",
    "compute_cycles", "stall_cycles", "utilization", "dram_read_bytes", "dram_write_bytes",
    "sram_read_bytes", "sram_write_bytes",
    *(f"energy_{c}_uj" for c in ENERGY_KEYS), "energy_uj", "mapping",
]


@dataclass(frozen=True)
class RunResult:
    """Costs of a workload on one hardware description.

    Attributes:
        hardware: the hardware simulated.
        workload: the workload's name.
        layers: one row per GEMM operator per stage (columns `LAYER_COLUMNS`; decode rows sum
            every step; ``m``/``n``/``k`` and ``mapping`` are those of the first step).
        step_cycles: per stage, the cycles of every step (prefill: one entry).
        not_simulated: ``"stage/op"`` of the vector operators not mapped onto the array.
        tokens: per stage, tokens processed (``None`` for a raw-GEMM workload).
    """

    hardware: HardwareSpec
    workload: str
    layers: pd.DataFrame
    step_cycles: dict[str, np.ndarray]
    not_simulated: tuple[str, ...] = ()
    tokens: dict[str, int] | None = None
    area_breakdown_mm2: dict[str, float] = field(default_factory=dict)

    @property
    def total_cycles(self) -> int:
        """Cycles of the whole workload."""
        return int(self.layers["cycles"].sum())

    @property
    def latency_ms(self) -> float:
        """Latency in milliseconds at the hardware's clock."""
        return self.total_cycles / (self.hardware.clock_mhz * 1e3)

    @property
    def energy_breakdown_uj(self) -> dict[str, float]:
        """Energy per component in microjoules."""
        return {c: float(self.layers[f"energy_{c}_uj"].sum()) for c in ENERGY_KEYS}

    @property
    def energy_uj(self) -> float:
        """Total energy in microjoules."""
        return float(self.layers["energy_uj"].sum())

    @property
    def area_mm2(self) -> float:
        """Total area in mm^2."""
        return float(sum(self.area_breakdown_mm2.values()))

    @property
    def tokens_per_s(self) -> float | None:
        """Tokens processed (prompt + decode inputs) per second, ``None`` without a model."""
        if not self.tokens:
            return None
        total = sum(self.tokens.values())
        return total / (self.latency_ms * 1e-3) if self.latency_ms else None

    @property
    def energy_per_token_uj(self) -> float | None:
        """Energy per token processed, ``None`` without a model."""
        if not self.tokens:
            return None
        return self.energy_uj / sum(self.tokens.values())

    def stage_totals(self) -> dict[str, dict[str, Any]]:
        """Per stage: cycles, latency, energy (and breakdown), steps, tokens and tokens/s."""
        out: dict[str, dict[str, Any]] = {}
        for stage, rows in self.layers.groupby("stage", sort=False):
            cycles = int(rows["cycles"].sum())
            latency_ms = cycles / (self.hardware.clock_mhz * 1e3)
            entry: dict[str, Any] = {
                "cycles": cycles,
                "compute_cycles": int(rows["compute_cycles"].sum()),
                "stall_cycles": int(rows["stall_cycles"].sum()),
                "latency_ms": latency_ms,
                "energy_uj": float(rows["energy_uj"].sum()),
                "energy_breakdown_uj": {c: float(rows[f"energy_{c}_uj"].sum())
                                        for c in ENERGY_KEYS},
                "steps": len(self.step_cycles[str(stage)]),
            }
            if self.tokens and self.tokens.get(str(stage)):
                tokens = self.tokens[str(stage)]
                entry["tokens"] = tokens
                entry["tokens_per_s"] = tokens / (latency_ms * 1e-3) if latency_ms else None
            out[str(stage)] = entry
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (the body of ``summary.json`` for one design)."""
        hw = self.hardware
        arrays = {"prefill": [hw.array.rows, hw.array.cols]}
        if hw.decode_array is not None:
            arrays["decode"] = [hw.decode_array.rows, hw.decode_array.cols]
        if hw.weights is None:
            weights = "as the workload"
        elif hw.weights.format is not None:
            group = f", group {hw.weights.group_size}" if hw.weights.group_size else ""
            weights = f"{hw.weights.format}{group} (the design's own)"
        else:
            weights = f"{hw.weights.bits:g} bits (the design's own)"
        return {
            "workload": self.workload,
            "hardware": {"name": hw.name, "source": hw.source, "pe_kind": hw.pe.kind,
                         "clock_mhz": hw.clock_mhz, "array": arrays, "weights": weights},
            "total_cycles": self.total_cycles,
            "latency_ms": self.latency_ms,
            "tokens_per_s": self.tokens_per_s,
            "energy_uj": self.energy_uj,
            "energy_breakdown_uj": self.energy_breakdown_uj,
            "energy_per_token_uj": self.energy_per_token_uj,
            "area_mm2": self.area_mm2,
            "area_breakdown_mm2": dict(self.area_breakdown_mm2),
            "stages": self.stage_totals(),
            "not_simulated": list(self.not_simulated),
        }


def _op_row(op: Op, costs: list, hw: HardwareSpec) -> tuple[dict[str, Any], np.ndarray]:
    """Layer-table row of one op (all steps, all instances) and its per-step cycles."""
    # `costs` already cover all `count` instances of each step.
    count = op.count
    cyc = np.array([c.cycles for c in costs], dtype=np.int64)
    first = costs[0]
    pes = first.mapping.rows * first.mapping.cols
    total_cycles = int(cyc.sum())
    active = sum(c.active_pe_cycles for c in costs)
    # Leakage is charged for the time the op occupies the accelerator.
    leak_pj = hw.leakage_mw * total_cycles / hw.clock_mhz * 1e3
    energy = {comp: sum(c.energy_pj[comp] for c in costs) * 1e-6
              for comp in ENERGY_COMPONENTS}
    energy["leakage"] = leak_pj * 1e-6
    row: dict[str, Any] = {
        "stage": op.stage, "op": op.name, "op_class": op.op_class, "layer": op.layer,
        "count": count, "steps": op.steps, "m": int(op.m[0]), "n": int(op.n[0]),
        "k": int(op.k[0]), "macs": int(op.macs.sum()), "cycles": total_cycles,
        "compute_cycles": sum(c.compute_cycles for c in costs),
        "stall_cycles": sum(c.stall_cycles for c in costs),
        "utilization": active / (total_cycles * pes) if total_cycles else 0.0,
        "dram_read_bytes": sum(c.dram_read_bytes for c in costs),
        "dram_write_bytes": sum(c.dram_write_bytes for c in costs),
        "sram_read_bytes": sum(c.sram_read_bytes for c in costs),
        "sram_write_bytes": sum(c.sram_write_bytes for c in costs),
        **{f"energy_{c}_uj": v for c, v in energy.items()},
        "energy_uj": sum(energy.values()),
        "mapping": first.mapping.describe(),
    }
    return row, cyc


def apply_weight_storage(ops: Sequence[Op], hw: HardwareSpec) -> list[Op]:
    """The ops with their weights stored as ``hw.weights`` says (unchanged if it is unset).

    Only ``b_kind == "weight"`` operands change (format, effective bits, group size); the KV
    cache and activations keep the workload's precision.
    """
    ws = hw.weights
    if ws is None:
        return list(ops)
    if ws.format is None:
        bits = float(ws.bits)  # type: ignore[arg-type]
        return [dataclasses.replace(op, b_format=None, b_bits=bits, group_size=None)
                if _stores_weights(op) else op for op in ops]
    # Lazy: the format registry is needed only when a design names its weight format.
    from hwsim.dtypes import bits_per_weight, get_format

    found = get_format(ws.format)
    fmt = found.name
    # No group given: the format's default group (None: one scale per row of k weights).
    group = ws.group_size if ws.group_size is not None else found.group_size
    # Per op, at its own reduction size k, like the workload's `Precision.bits_at`: per-row
    # scales and two-level per-row factors depend on it.
    bits_at: dict[int, float] = {}
    out = []
    for op in ops:
        if _stores_weights(op):
            k = int(op.k[0])
            if k not in bits_at:
                bits_at[k] = float(bits_per_weight(fmt, group_size=group, in_features=k))
            op = dataclasses.replace(op, b_format=fmt, b_bits=bits_at[k], group_size=group)
        out.append(op)
    return out


def _stores_weights(op: Op) -> bool:
    return op.kind == "gemm" and op.b_kind == "weight"


def simulate_ops(ops: Sequence[Op], hw: HardwareSpec, workload: str = "ops",
                 tokens: dict[str, int] | None = None,
                 progress: Progress | None = None) -> RunResult:
    """Simulate a list of operators on ``hw`` (GEMMs on the array; vector ops listed aside).

    Args:
        ops: operators, e.g. from `hwsim.workloads.operators`.
        hw: the hardware.
        workload: a name for the result.
        tokens: tokens processed per stage, for tokens/s and energy per token.
        progress: called as ``progress(done, total, op_label)`` after each GEMM op.

    A design with its own weight storage (``hw.weights``, e.g. the FP16 baseline) runs the
    weight operands in that precision (`apply_weight_storage`).

    Raises:
        HwsimError: an op the PE cannot run, or a buffer too small for one tile.
    """
    ops = apply_weight_storage(ops, hw)
    gemms = [op for op in ops if op.kind == "gemm"]
    skipped = tuple(f"{op.stage}/{op.name}" for op in ops if op.kind != "gemm")
    rows: list[dict[str, Any]] = []
    step_cycles: dict[str, np.ndarray] = {}
    for i, op in enumerate(gemms):
        row, cyc = _op_row(op, simulate_op(op, hw), hw)
        rows.append(row)
        prev = step_cycles.get(op.stage)
        step_cycles[op.stage] = cyc if prev is None else prev + cyc
        if progress is not None:
            progress(i + 1, len(gemms), f"{op.stage}/{op.name}")
    layers = pd.DataFrame(rows, columns=LAYER_COLUMNS)
    return RunResult(hardware=hw, workload=workload, layers=layers, step_cycles=step_cycles,
                     not_simulated=skipped, tokens=tokens,
                     area_breakdown_mm2=area_breakdown_mm2(hw))


def simulate_workload(workload: Any, hw: HardwareSpec,
                      progress: Progress | None = None) -> RunResult:
    """Simulate a validated `hwsim.workloads.Workload` on ``hw``.

    Every decode step is simulated with its own KV length (steps of equal shape share work).

    Returns:
        A `RunResult`: ``total_cycles``, ``latency_ms``, ``energy_uj`` and
        ``energy_breakdown_uj``, ``area_mm2``, ``tokens_per_s``, ``stage_totals()`` and the
        per-op ``layers`` DataFrame.
    """
    from hwsim.workloads import operators

    tokens = None
    if workload.model is not None:
        tokens = {"prefill": workload.batch * workload.prompt_tokens}
        if workload.decode_steps:
            tokens["decode"] = workload.batch * workload.decode_steps
    return simulate_ops(operators(workload), hw, workload=workload.name, tokens=tokens,
                        progress=progress)


def compare_results(results: Sequence[RunResult], baseline: int = 0) -> pd.DataFrame:
    """One row per design: latency, energy, area, and speedup / energy efficiency over the
    design at index ``baseline`` (latency_base / latency, energy_base / energy)."""
    base = results[baseline]
    rows = []
    for r in results:
        rows.append({
            "design": r.hardware.name,
            "latency_ms": r.latency_ms,
            "tokens_per_s": r.tokens_per_s,
            "energy_uj": r.energy_uj,
            "energy_per_token_uj": r.energy_per_token_uj,
            "area_mm2": r.area_mm2,
            "speedup": base.latency_ms / r.latency_ms if r.latency_ms else float("nan"),
            "energy_efficiency": base.energy_uj / r.energy_uj if r.energy_uj else float("nan"),
        })
    return pd.DataFrame(rows)
