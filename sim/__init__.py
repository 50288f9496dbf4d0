"""What it costs: per-tile cycle models, the tile pipeline, energy and area.

Public entry points:

- `simulate_workload(workload, hw) -> RunResult` and `simulate_ops(ops, hw)`: a whole run;
  `RunResult` gives ``total_cycles``, ``latency_ms``, ``energy_uj``, ``energy_breakdown_uj``,
  ``area_mm2``, ``throughput_tokens_per_s`` (all tokens / total time),
  ``decode_tokens_per_s`` (generated tokens / decode time), ``stage_totals()``, ``summary()``
  and the per-op ``layers`` DataFrame; `compare_results` normalizes several designs to one.
- `simulate_gemm` / `simulate_op`: one operator (`GemmCost`); `simulate_gemms`: many shapes
  of one operator at once (`GemmCosts`).
- `hwsim.sim.pe_cycles`: the per-tile cycle model of every PE kind (shared with the RTL tests).
"""

from hwsim.sim import pe_cycles
from hwsim.sim.engine import (
    ENERGY_COMPONENTS,
    GemmCost,
    GemmCosts,
    pipeline_cycles,
    repeated_pipeline_cycles,
    simulate_gemm,
    simulate_gemms,
    simulate_op,
)
from hwsim.sim.precision import OperandWidths, operand_widths
from hwsim.sim.run import (
    ENERGY_KEYS,
    RunResult,
    compare_results,
    simulate_ops,
    simulate_workload,
    unmodelled_figures,
)

__all__ = [
    "ENERGY_COMPONENTS",
    "ENERGY_KEYS",
    "GemmCost",
    "GemmCosts",
    "OperandWidths",
    "RunResult",
    "compare_results",
    "operand_widths",
    "pe_cycles",
    "pipeline_cycles",
    "repeated_pipeline_cycles",
    "simulate_gemm",
    "simulate_gemms",
    "simulate_op",
    "simulate_ops",
    "simulate_workload",
    "unmodelled_figures",
]
