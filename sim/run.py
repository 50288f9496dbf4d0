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

from hwsim.dtypes import bits_per_weight, get_format
from hwsim.errors import HwsimError
from hwsim.files import portable_path
from hwsim.hw.area import area_breakdown_mm2
from hwsim.hw.spec import HardwareSpec
from hwsim.limits import check_counter
from hwsim.sim.engine import (
    ACCESS_LEVELS,
    CYCLES_FIX,
    ENERGY_COMPONENTS,
    GemmCosts,
    simulate_op_shapes_shared,
    stored_op,
)
from hwsim.workloads import Workload, operators
from hwsim.workloads.ops import Op
from hwsim.workloads.traffic import TENSORS, operand_bytes, operand_tensors, tensor_bytes

__all__ = [
    "BUFFERS",
    "ENERGY_KEYS",
    "LEVELS",
    "RunResult",
    "apply_weight_storage",
    "compare_results",
    "level_word_bits",
    "simulate_ops",
    "simulate_workload",
    "unmodelled_figures",
]


def unmodelled_figures(cycles: float, energy_uj: float, area_mm2: float) -> tuple[str, ...]:
    """``"energy"`` / ``"area"`` when a design has no model for them, so reports show no
    figure instead of a measured-looking 0: a measured FPGA build's description sets every
    energy and area coefficient to 0 (its power is not modelled), and any modelled design
    spends energy on a run that takes cycles and has a non-zero area."""
    out = []
    if cycles and not energy_uj:
        out.append("energy")
    if not area_mm2:
        out.append("area")
    return tuple(out)

ENERGY_KEYS = (*ENERGY_COMPONENTS, "leakage")
Progress = Callable[[int, int, str], None]

BUFFERS = ("weight", "activation", "output")
# The memory levels, named as their energy components: DRAM, then each on-chip buffer.
LEVELS = ("dram", *(f"sram_{b}" for b in BUFFERS))
LAYER_COLUMNS = [
    "stage", "op", "op_class", "layer", "count", "steps", "m", "n", "k", "macs", "cycles",
    "compute_cycles", "stall_cycles", "utilization", "dram_read_bytes", "dram_write_bytes",
    "sram_read_bytes", "sram_write_bytes",
    *(f"energy_{c}_uj" for c in ENERGY_KEYS), "energy_uj", "mapping",
    # Traffic per tensor at each level: bytes, and accesses in whole words of the level per
    # transfer (DRAM: its beat, dram.bytes_per_cycle bytes; a buffer: its port_bits); energy
    # per level and tensor, and per tensor.
    *(f"dram_{t}_bytes" for t in TENSORS),
    *(f"sram_{b}_{d}_bytes" for b in BUFFERS for d in ("read", "write")),
    *(f"energy_tensor_{t}_uj" for t in TENSORS),
    "dram_read_beat_accesses", "dram_write_beat_accesses",
    *(f"dram_{t}_beat_accesses" for t in TENSORS),
    *(f"sram_{b}_{d}_port_accesses" for b in BUFFERS for d in ("read", "write")),
    *(f"sram_{b}_{t}_bytes" for b in BUFFERS for t in TENSORS),
    *(f"sram_{b}_{t}_port_accesses" for b in BUFFERS for t in TENSORS),
    *(f"energy_{level}_{t}_uj" for level in LEVELS for t in TENSORS),
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
    def unmodelled(self) -> tuple[str, ...]:
        """The figures the design has no model for (`unmodelled_figures`)."""
        return unmodelled_figures(self.total_cycles, self.energy_uj, self.area_mm2)

    @property
    def throughput_tokens_per_s(self) -> float | None:
        """All tokens processed (prompt + one per decode step and sequence) / total latency.

        ``None`` without a model.
        """
        if not self.tokens:
            return None
        total = sum(self.tokens.values())
        return total / (self.latency_ms * 1e-3) if self.latency_ms else None

    @property
    def decode_tokens_per_s(self) -> float | None:
        """Tokens generated by the decode steps / decode latency (batch / time per output
        token); ``None`` without a model or without decode steps."""
        tokens = (self.tokens or {}).get("decode")
        steps = self.step_cycles.get("decode")
        if not tokens or steps is None or not steps.sum():
            return None
        return tokens / (float(steps.sum()) / (self.hardware.clock_mhz * 1e6))

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
        if hw.core is not None:
            # The core's widths, not the workload's, are what every byte here counts.
            weights += f"; stored as the core does: {hw.core.storage()}"
        return {
            "workload": self.workload,
            "hardware": {"name": hw.name, "source": portable_path(hw.source),
                         "pe_kind": hw.pe.kind,
                         "clock_mhz": hw.clock_mhz, "array": arrays, "weights": weights},
            "total_cycles": self.total_cycles,
            "latency_ms": self.latency_ms,
            "throughput_tokens_per_s": self.throughput_tokens_per_s,
            "decode_tokens_per_s": self.decode_tokens_per_s,
            "energy_uj": self.energy_uj,
            "energy_breakdown_uj": self.energy_breakdown_uj,
            "energy_per_token_uj": self.energy_per_token_uj,
            "area_mm2": self.area_mm2,
            "area_breakdown_mm2": dict(self.area_breakdown_mm2),
            "stages": self.stage_totals(),
            "not_simulated": list(self.not_simulated),
            "traffic": self.traffic(),
        }

    def traffic(self) -> dict[str, Any]:
        """Traffic over all operators (`LAYER_COLUMNS`): DRAM bytes per tensor, on-chip bytes
        per buffer (read / write), energy per tensor (all levels, uJ), and per level
        (``dram``, ``sram_weight``, ...) its word width (DRAM: its beat), read and write
        accesses (whole words per transfer) and, per tensor, bytes, accesses and energy."""
        col = self.layers
        hw = self.hardware

        def total(name: str) -> float:
            return float(col[name].sum())

        def count(name: str) -> int:
            return int(col[name].sum())

        levels: dict[str, Any] = {}
        for level, word in zip(LEVELS, level_word_bits(hw), strict=True):
            acc = "beat_accesses" if level == "dram" else "port_accesses"
            levels[level] = {
                "word_bits": word,
                "accesses": {d: count(f"{level}_{d}_{acc}") for d in ("read", "write")},
                "tensors": {t: {"bytes": total(f"{level}_{t}_bytes"),
                                "accesses": count(f"{level}_{t}_{acc}"),
                                "energy_uj": total(f"energy_{level}_{t}_uj")}
                            for t in TENSORS},
            }
        return {
            "dram_bytes_by_tensor": {t: total(f"dram_{t}_bytes") for t in TENSORS},
            "sram_bytes_by_buffer": {b: {d: total(f"sram_{b}_{d}_bytes")
                                         for d in ("read", "write")} for b in BUFFERS},
            "energy_by_tensor_uj": {t: total(f"energy_tensor_{t}_uj") for t in TENSORS},
            "levels": levels,
        }


def level_word_bits(hw: HardwareSpec) -> tuple[float, ...]:
    """The word width of each of `LEVELS`: DRAM's beat (``dram.bytes_per_cycle`` bytes),
    each buffer's port."""
    beat = 8 * hw.dram_bytes_per_cycle
    return (int(beat) if float(beat).is_integer() else beat,
            *(getattr(hw.buffers, b).port_bits for b in BUFFERS))


def _op_row(op: Op, costs: GemmCosts, inverse: np.ndarray,
            hw: HardwareSpec) -> tuple[dict[str, Any], np.ndarray]:
    """Layer-table row of one op (all steps, all instances) and its per-step cycles.

    `costs` holds the op's distinct step shapes (all `count` instances each); step i has
    shape ``inverse[i]``.
    """
    # How many steps have each distinct shape: a step sum is a weighted sum over shapes.
    weight = np.bincount(inverse, minlength=costs.cycles.shape[0])

    def total(x: np.ndarray) -> Any:
        return (x * weight).sum().item()

    # Each step shape is within the counters (`hwsim.sim.engine`); their sum over up to 2**15
    # decode steps need not be.
    check_counter(float((costs.cycles.astype(np.float64) * weight).sum()),
                  f"{op.stage}/{op.name}: cycles of all its steps", CYCLES_FIX)
    cyc = costs.cycles[inverse]
    first = costs.mappings.mapping(int(inverse[0]))
    # Over the silicon's PEs (what the area charges): a decode shape smaller than the prefill
    # one leaves the rest idle; over the stage's own array, the busy fraction read 2x high.
    pes = hw.pe_count
    total_cycles = int(total(costs.cycles))
    active = total(costs.active_pe_cycles)
    # Leakage is charged for the time the op occupies the accelerator.
    leak_pj = hw.leakage_mw * total_cycles / hw.clock_mhz * 1e3
    energy = {comp: total(costs.energy_pj[comp]) * 1e-6 for comp in ENERGY_COMPONENTS}
    energy["leakage"] = leak_pj * 1e-6
    row: dict[str, Any] = {
        "stage": op.stage, "op": op.name, "op_class": op.op_class, "layer": op.layer,
        "count": op.count, "steps": op.steps, "m": int(op.m[0]), "n": int(op.n[0]),
        "k": int(op.k[0]), "macs": int(op.macs.sum()), "cycles": total_cycles,
        "compute_cycles": int(total(costs.compute_cycles)),
        "stall_cycles": int(total(costs.stall_cycles)),
        "utilization": active / (total_cycles * pes) if total_cycles else 0.0,
        "dram_read_bytes": total(costs.dram_read_bytes),
        "dram_write_bytes": total(costs.dram_write_bytes),
        "sram_read_bytes": total(costs.sram_read_bytes),
        "sram_write_bytes": total(costs.sram_write_bytes),
        **{f"energy_{c}_uj": v for c, v in energy.items()},
        "energy_uj": sum(energy.values()),
        "mapping": first.describe(),
    }
    row.update(_traffic_columns(op, costs, total, hw))
    return row, cyc


def _traffic_columns(op: Op, costs: GemmCosts, total: Callable[[np.ndarray], Any],
                     hw: HardwareSpec) -> dict[str, float]:
    """Bytes, accesses and energy per tensor and level of one op (`LAYER_COLUMNS`).

    DRAM moves ``a`` and ``b`` in (reads) and the output out (writes; split-K partial
    results also back in). The weight buffer holds ``b`` (weights or KV cache), the
    activation buffer ``a``, the output buffer the partial sums (all the output tensor's) and
    the outputs at their stored width; each operand's bytes split into its tensor and its
    scales (`hwsim.workloads.traffic.operand_bytes`). Accesses are the engine's, whole words
    per transfer (`GemmCosts.accesses`); energy the bytes at the level's energy per bit, per
    direction.
    """
    out_bytes = total(costs.dram_write_bytes) + total(costs.dram_out_read_bytes)
    b_bytes = total(costs.dram_b_bytes)
    b_tensor = operand_tensors(op)[1]
    b_scales = (None if costs.dram_b_scales_bytes is None
                else total(costs.dram_b_scales_bytes))
    if b_scales is None:
        dram = tensor_bytes(op, total(costs.dram_a_bytes), b_bytes, out_bytes)
    else:
        # On the core: its weight and scale lines as it moves them (`GemmCosts`).
        dram = tensor_bytes(op, total(costs.dram_a_bytes), 0.0, out_bytes)
        dram[b_tensor] += b_bytes - b_scales
        dram["scales"] += b_scales
    dram_pj_per_byte = 8 * hw.dram.energy_pj_per_bit
    cols: dict[str, float] = {}
    energy = dict.fromkeys(TENSORS, 0.0)
    tensor_of = dict(zip(("a", "b", "out"), operand_tensors(op), strict=True), scales="scales")
    accesses: dict[str, dict[str, int]] = {}
    for level in ACCESS_LEVELS:
        accesses[level] = dict.fromkeys(TENSORS, 0)
        for part, x in costs.part_accesses[level].items():
            accesses[level][tensor_of[part]] += int(total(x))
    for i, d in enumerate(("read", "write")):
        cols[f"dram_{d}_beat_accesses"] = int(total(costs.accesses["dram"][i]))
    for t, v in dram.items():
        cols[f"dram_{t}_bytes"] = float(v)
        cols[f"dram_{t}_beat_accesses"] = accesses["dram"][t]
        cols[f"energy_dram_{t}_uj"] = float(v) * dram_pj_per_byte * 1e-6
        energy[t] += cols[f"energy_dram_{t}_uj"]
    psum = [total(x) for x in costs.sram_psum_bytes]
    out_tensor = operand_tensors(op)[2]
    for b, operand in zip(BUFFERS, ("b", "a", "out"), strict=True):
        spec = getattr(hw.buffers, b)
        level: dict[str, float] = dict.fromkeys(TENSORS, 0.0)
        level_pj: dict[str, float] = dict.fromkeys(TENSORS, 0.0)
        for i, (d, pj_per_bit) in enumerate((("read", spec.read_energy_pj_per_bit),
                                             ("write", spec.write_energy_pj_per_bit))):
            nbytes = total(costs.sram_bytes[b][i])
            cols[f"sram_{b}_{d}_bytes"] = nbytes
            cols[f"sram_{b}_{d}_port_accesses"] = int(total(costs.accesses[b][i]))
            # The output buffer's partial sums are all the output tensor's, without scales.
            own = psum[i] if b == "output" else 0.0
            parts = operand_bytes(op, operand, nbytes - own)  # type: ignore[arg-type]
            if b == "weight" and d == "write" and b_scales is not None:
                # Written from DRAM: the weight load's lines, split as DRAM's above.
                parts = {b_tensor: nbytes - b_scales, "scales": b_scales}
            if own:
                parts[out_tensor] = parts[out_tensor] + own
            for t, v in parts.items():
                level[t] += float(v)
                level_pj[t] += float(v) * 8 * pj_per_bit
        for t in TENSORS:
            cols[f"sram_{b}_{t}_bytes"] = level[t]
            cols[f"sram_{b}_{t}_port_accesses"] = accesses[b][t]
            cols[f"energy_sram_{b}_{t}_uj"] = level_pj[t] * 1e-6
            energy[t] += cols[f"energy_sram_{b}_{t}_uj"]
    cols.update({f"energy_tensor_{t}_uj": energy[t] for t in TENSORS})
    return cols


def apply_weight_storage(ops: Sequence[Op], hw: HardwareSpec) -> list[Op]:
    """The ops with their weights stored as ``hw.weights`` says (unchanged if it is unset),
    then in the widths ``hw`` stores every operand in (`stored_op`: the RTL core's own).

    Only ``b_kind == "weight"`` operands change with ``hw.weights`` (format, effective bits,
    group size); the KV cache and activations keep the workload's precision.
    """
    return [stored_op(op, hw) for op in _weights_as_designed(ops, hw)]


def _weights_as_designed(ops: Sequence[Op], hw: HardwareSpec) -> list[Op]:
    ws = hw.weights
    if ws is None:
        return list(ops)
    if ws.format is None:
        bits = float(ws.bits)  # type: ignore[arg-type]
        return [dataclasses.replace(op, b_format=None, b_bits=bits, group_size=None)
                if _stores_weights(op) else op for op in ops]

    fmt = get_format(ws.format)
    # No group given: the format's default group (None: one scale per row of k weights).
    group = ws.group_size if ws.group_size is not None else fmt.group_size
    # Per op, at its own reduction size k, like the workload's `Precision.bits_at`: per-row
    # scales and two-level per-row factors depend on it.
    bits_at: dict[int, float] = {}
    out = []
    for op in ops:
        if _stores_weights(op):
            k = int(op.k[0])
            if group is not None and group > k:
                # As a workload's group is refused: it was clipped to k without a word.
                given = "" if ws.group_size is not None else f" ({fmt.name}'s default)"
                raise HwsimError(f"{hw.source}: weights.group_size: {group}{given} is larger "
                                 f"than the reduction dimension k={k} of {op.name}")
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
        tokens: tokens processed per stage, for the token rates and energy per token.
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
    shared: dict[tuple, tuple[GemmCosts, np.ndarray]] = {}
    cycles = 0.0
    for i, op in enumerate(gemms):
        row, cyc = _op_row(op, *simulate_op_shapes_shared(op, hw, shared), hw)
        cycles += row["cycles"]
        check_counter(cycles, "cycles of the whole workload", CYCLES_FIX)
        rows.append(row)
        prev = step_cycles.get(op.stage)
        step_cycles[op.stage] = cyc if prev is None else prev + cyc
        if progress is not None:
            progress(i + 1, len(gemms), f"{op.stage}/{op.name}")
    layers = pd.DataFrame(rows, columns=LAYER_COLUMNS)
    return RunResult(hardware=hw, workload=workload, layers=layers, step_cycles=step_cycles,
                     not_simulated=skipped, tokens=tokens,
                     area_breakdown_mm2=area_breakdown_mm2(hw))


def _check_hardware(hw: object) -> None:
    if not isinstance(hw, HardwareSpec):
        raise HwsimError(f"hw: expected a HardwareSpec (hwsim.hw.load_hardware), not "
                         f"{type(hw).__name__}")


def simulate_workload(workload: Any, hw: HardwareSpec,
                      progress: Progress | None = None) -> RunResult:
    """Simulate a validated `hwsim.workloads.Workload` on ``hw``.

    Every decode step is simulated with its own KV length (steps of equal shape share work).

    Returns:
        A `RunResult`: ``total_cycles``, ``latency_ms``, ``energy_uj`` and
        ``energy_breakdown_uj``, ``area_mm2``, ``throughput_tokens_per_s`` (all tokens / total
        time), ``decode_tokens_per_s`` (generated tokens / decode time), ``stage_totals()``
        and the per-op ``layers`` DataFrame.

    Raises:
        HwsimError: arguments of other types (a preset or workload name: load it first), or
            a workload the hardware cannot run.
    """
    if not isinstance(workload, Workload):
        raise HwsimError(f"workload: expected a Workload (hwsim.workloads.load_workload or "
                         f"workload_from_dict), not {type(workload).__name__}")
    _check_hardware(hw)
    tokens = None
    if workload.model is not None:
        tokens = {"prefill": workload.batch * workload.prompt_tokens}
        if workload.decode_steps:
            tokens["decode"] = workload.batch * workload.decode_steps
    return simulate_ops(operators(workload), hw, workload=workload.name, tokens=tokens,
                        progress=progress)


def compare_results(results: Sequence[RunResult], baseline: int = 0) -> pd.DataFrame:
    """One row per design: latency, energy, area, and speedup / energy efficiency over the
    design at index ``baseline`` (latency_base / latency, energy_base / energy).

    Raises:
        HwsimError: no results, or ``baseline`` not an index of one.
    """
    if not results:
        raise HwsimError("compare_results: no results to compare")
    if isinstance(baseline, bool) or not isinstance(baseline, int) \
            or not 0 <= baseline < len(results):
        raise HwsimError(f"compare_results: baseline {baseline!r} is not the index of one of "
                         f"the {len(results)} results")
    base = results[baseline]
    nan = float("nan")
    rows = []
    for r in results:
        # A design without an energy or area model (either side) gets NaN, not 0 or a ratio.
        energy = "energy" not in r.unmodelled
        area = "area" not in r.unmodelled
        rows.append({
            "design": r.hardware.name,
            "latency_ms": r.latency_ms,
            "throughput_tokens_per_s": r.throughput_tokens_per_s,
            "decode_tokens_per_s": r.decode_tokens_per_s,
            "energy_uj": r.energy_uj if energy else nan,
            "energy_per_token_uj": r.energy_per_token_uj if energy else None,
            "area_mm2": r.area_mm2 if area else nan,
            "speedup": base.latency_ms / r.latency_ms if r.latency_ms else nan,
            "energy_efficiency": (base.energy_uj / r.energy_uj
                                  if energy and "energy" not in base.unmodelled else nan),
        })
    return pd.DataFrame(rows)
