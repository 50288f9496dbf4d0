"""Roofline analysis: where each operator of a workload is bound on a machine, and how long.

Per operator and step (vectorized over the decode steps of an `Op`):

- FLOPs: 2 per MAC for GEMMs, elements x FLOPs per element for vector ops.
- Bytes moved, each operand once at its real width (the roofline's minimum traffic):
  GEMM ``count x (m k a_bits + k n b_bits + m n out_bits) / 8``; vector op
  ``count x (a_operands m n a_bits + n b_bits + m n out_bits) / 8``. The widths are those
  the machine stores the operands in (`Machine.stored`): the workload's, except on the RTL
  core's hardware description (a ``core`` section), where a GEMM's are the core's (FP16
  activations, ``code_bits`` slots plus a 16-bit scale field per group, ``word_bits``
  outputs), the widths ``hwsim run`` costs it in (`hwsim.sim.engine.stored_op`, the same
  function); the ``a_bits`` / ``b_bits`` columns show them.
- Peak: the machine's fastest compute path taking both operand widths, each at its format's
  code width (3 for bitmod3 weights, 8 for int8 activations), not the effective width with
  scales, which counts only in the bytes moved; vector ops use the vector peak.
- Fused attention (`hwsim.workloads.attention`): FLOPs of the tiles computed (causal
  skipping), bytes of the kernel's tiling (Q and O once, K and V once per tile, no score
  matrix); the fused softmax moves no bytes.
- Bytes by tensor (``bytes_weights``, ``bytes_activations``, ``bytes_outputs``,
  ``bytes_kv_read``, ``bytes_kv_write``, ``bytes_scales``; `hwsim.workloads.traffic`): they
  sum to ``bytes``. Accesses (``accesses_64b_<tensor>``, summed in ``accesses_64b``): the
  roofline knows one memory level and no block schedule, so per instance and step each
  operand's tensor and its scales are one stream each, rounded up to whole 64-bit DRAM words
  (`hwsim.workloads.traffic.stream_accesses`).
- Time: ``max(flops / peak, bytes / bandwidth)``; bound: whichever term is larger.

The table has one row per operator and stage; a decode row sums its steps (``bound`` is
``"mixed"`` when steps differ; ``memory_bound_time_s`` is the time of its memory-bound steps,
which the stage's memory- and compute-bound times split by). Stage totals give time to first
token (the prefill), time per output token (decode time / decode steps) and two token rates,
named as in ``hwsim run``: throughput (all tokens processed / total time) and decode
(generated tokens / decode time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hwsim.errors import HwsimError
from hwsim.reports.roofline_machine import Machine
from hwsim.workloads.ops import OPERAND_FIELDS, Op
from hwsim.workloads.traffic import (
    ROOFLINE_WORD_BITS,
    TENSORS,
    stream_accesses,
    tensor_bytes,
)

__all__ = ["COLUMNS", "analyze", "op_step_costs", "summarize"]

COLUMNS = [
    "stage", "layer", "op", "op_class", "kind", "count", "steps", "m", "n", "k",
    "kv_len_first", "kv_len_last", "a_bits", "b_bits", "flops", "bytes", "intensity",
    "peak_flops_per_s", "attainable_flops_per_s", "bound", "time_s", "compute_time_s",
    "memory_time_s", "memory_bound_time_s", *(f"bytes_{t}" for t in TENSORS), "accesses_64b",
    *(f"accesses_64b_{t}" for t in TENSORS),
]


def op_step_costs(op: Op, machine: Machine) -> dict[str, np.ndarray | float]:
    """Roofline costs of `op` per step: flops, bytes, peak, compute/memory/total time.

    Returns:
        dict with float64 arrays ``flops``, ``bytes``, ``compute_time_s``,
        ``memory_time_s``, ``time_s``, ``bytes_<tensor>`` and ``accesses_64b_<tensor>`` for
        each of `hwsim.workloads.traffic.TENSORS` (one entry per step) and the scalar
        ``peak_flops_per_s``.
    """
    m = op.m.astype(np.float64)
    n = op.n.astype(np.float64)
    k = op.k.astype(np.float64)
    if op.kind == "gemm":
        flops = 2.0 * m * n * k * op.count
        try:
            peak = machine.gemm_peak_flops(op.a_code_bits, op.b_code_bits)
        except HwsimError as exc:
            # Which op, and which workload key sets its second operand (weights or KV cache).
            b = op.b_format.name if op.b_format is not None else f"{op.b_bits:g}-bit"
            raise HwsimError(f"{op.stage} op {op.name!r} ({OPERAND_FIELDS[op.b_kind]} {b}): "
                             f"{exc}") from None
        # The bytes in the widths the machine stores the operands in (the peak above reads
        # the formats' code widths, which the restatement keeps).
        op = machine.stored(op)
        a, b, out = m * k * op.a_bits, k * n * op.b_bits, m * n * op.out_bits
    else:
        flops = m * n * op.count * op.flops_per_element
        a, b, out = op.a_operands * m * n * op.a_bits, n * op.b_bits, m * n * op.out_bits
        peak = machine.vector_flops_per_s
    if op.fused is not None:
        # A fused attention kernel: the tiles it computes, the traffic of its tiling.
        flops = op.flops.astype(np.float64)
        a, b, out = op.fused.operand_bits(op.a_bits, op.b_bits, op.out_bits)
    bits = a + b + out
    tensors = tensor_bytes(op, a * op.count / 8.0, b * op.count / 8.0, out * op.count / 8.0)
    accesses = stream_accesses(op, a, b, out, ROOFLINE_WORD_BITS)
    nbytes = bits * op.count / 8.0
    compute = flops / peak
    memory = nbytes / machine.memory_bw_bytes_per_s
    return {"flops": flops, "bytes": nbytes, "peak_flops_per_s": float(peak),
            "compute_time_s": compute, "memory_time_s": memory,
            "time_s": np.maximum(compute, memory),
            **{f"bytes_{t}": np.broadcast_to(v, nbytes.shape) for t, v in tensors.items()},
            **{f"accesses_64b_{t}": np.broadcast_to(v * op.count, nbytes.shape)
               for t, v in accesses.items()}}


def analyze(ops: Sequence[Op], machine: Machine) -> pd.DataFrame:
    """One row per operator (decode steps summed), columns `COLUMNS`, in the order of `ops`."""
    rows: list[dict[str, Any]] = []
    for op in ops:
        c = op_step_costs(op, machine)
        stored = machine.stored(op)
        compute_bound = c["compute_time_s"] >= c["memory_time_s"]  # type: ignore[operator]
        if compute_bound.all():
            bound = "compute"
        elif not compute_bound.any():
            bound = "memory"
        else:
            bound = "mixed"
        flops = float(np.sum(c["flops"]))
        nbytes = float(np.sum(c["bytes"]))
        by_tensor = {t: float(np.sum(c[f"bytes_{t}"])) for t in TENSORS}
        accesses = {t: int(np.sum(c[f"accesses_64b_{t}"])) for t in TENSORS}
        time_s = float(np.sum(c["time_s"]))
        rows.append({
            "stage": op.stage, "layer": op.layer, "op": op.name, "op_class": op.op_class,
            "kind": op.kind, "count": op.count, "steps": op.steps,
            "m": int(op.m[0]), "n": int(op.n[0]), "k": int(op.k[0]),
            "kv_len_first": int(op.kv_len[0]), "kv_len_last": int(op.kv_len[-1]),
            "a_bits": float(stored.a_bits), "b_bits": float(stored.b_bits),
            "flops": flops, "bytes": nbytes,
            "intensity": flops / nbytes if nbytes else math.inf,
            "peak_flops_per_s": c["peak_flops_per_s"],
            "attainable_flops_per_s": flops / time_s if time_s else 0.0,
            "bound": bound, "time_s": time_s,
            "compute_time_s": float(np.sum(c["compute_time_s"])),
            "memory_time_s": float(np.sum(c["memory_time_s"])),
            # The time of the steps bound by memory: a mixed row's part of each bound.
            "memory_bound_time_s": float(np.sum(np.where(compute_bound, 0.0, c["time_s"]))),
            **{f"bytes_{t}": v for t, v in by_tensor.items()},
            "accesses_64b": sum(accesses.values()),
            **{f"accesses_64b_{t}": v for t, v in accesses.items()},
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def _by_tensor(table: pd.DataFrame, quantity: str = "bytes") -> dict[str, float]:
    kind = int if quantity.startswith("accesses") else float
    return {t: kind(table[f"{quantity}_{t}"].sum()) for t in TENSORS}


def summarize(table: pd.DataFrame, *, batch: int, prompt_tokens: int, generate_tokens: int,
              decode_steps: int) -> dict[str, Any]:
    """Per-stage and total figures of an `analyze` table.

    Stage ``tokens`` are the tokens processed (prefill: batch x prompt; decode: batch x
    steps). Totals: ``ttft_s`` = prefill time (None without a prompt: raw GEMMs),
    ``tpot_s`` = decode time / decode steps (None without decode),
    ``throughput_tokens_per_s`` = all tokens processed (prefill + decode) /
    total time, ``decode_tokens_per_s`` = tokens generated by the decode steps / decode time
    (batch / ``tpot_s``; None without decode), ``output_tokens`` = batch x generate_tokens.
    """
    stages: dict[str, Any] = {}
    tokens = {"prefill": batch * prompt_tokens, "decode": batch * decode_steps}
    for stage in ("prefill", "decode"):
        t = table[table["stage"] == stage]
        if t.empty:
            continue
        time_s = float(t["time_s"].sum())
        memory_bound = float(t["memory_bound_time_s"].sum())
        stages[stage] = {
            "ops": len(t),
            "flops": float(t["flops"].sum()),
            "bytes": float(t["bytes"].sum()),
            "time_s": time_s,
            # By step: a mixed row's memory-bound steps are memory-bound time, the rest
            # compute-bound (the two add up to the stage's time).
            "memory_bound_time_s": memory_bound,
            "compute_bound_time_s": time_s - memory_bound,
            "tokens": tokens[stage],
            "tokens_per_s": tokens[stage] / time_s if time_s and tokens[stage] else None,
            "bytes_by_tensor": _by_tensor(t),
            "accesses_64b_by_tensor": _by_tensor(t, "accesses_64b"),
        }
    total_time = float(table["time_s"].sum())
    ttft = stages.get("prefill", {}).get("time_s", 0.0)
    decode_time = stages.get("decode", {}).get("time_s", 0.0)
    out_tokens = batch * generate_tokens
    all_tokens = sum(st["tokens"] for st in stages.values())
    return {
        "stages": stages,
        "total": {
            "flops": float(table["flops"].sum()),
            "bytes": float(table["bytes"].sum()),
            "bytes_by_tensor": _by_tensor(table),
            "accesses_64b": int(table["accesses_64b"].sum()),
            "accesses_64b_by_tensor": _by_tensor(table, "accesses_64b"),
            "time_s": total_time,
            # No prompt (raw GEMMs): no first token, as `hwsim run` says.
            "ttft_s": ttft if tokens.get("prefill") else None,
            "tpot_s": decode_time / decode_steps if decode_steps else None,
            "output_tokens": out_tokens,
            "throughput_tokens_per_s": (all_tokens / total_time if total_time and all_tokens
                                        else None),
            "decode_tokens_per_s": stages.get("decode", {}).get("tokens_per_s"),
        },
    }
