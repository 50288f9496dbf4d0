"""A served request trace on the accelerator: every scheduler step costed by the simulator.

A step's cycles are the sum of its GEMM operators' cycles (linear layers at the step's tokens,
lm_head at its logit rows, attention per group of equal sequences at their own KV length),
exactly as `hwsim.sim.simulate_workload` sums a workload's steps; vector operators are not on
the array there either. Shapes are cached (`hwsim.workloads.step_costs`).

Energy: each step's dynamic energy and its leakage, plus leakage while the accelerator idles
between arrivals (a powered accelerator leaks whether or not a step runs), so leakage is
charged over the whole makespan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from hwsim.hw.spec import HardwareSpec
from hwsim.sim.engine import ENERGY_COMPONENTS, GemmCosts, simulate_op_shapes_shared
from hwsim.sim.run import apply_weight_storage
from hwsim.workloads.ops import Op
from hwsim.workloads.serving import ServingRun, StepCost, serve
from hwsim.workloads.spec import Workload
from hwsim.workloads.step_costs import CachedStepCoster

__all__ = ["simulate_serving", "simulator_step_coster"]


def simulator_step_coster(w: Workload, hw: HardwareSpec) -> CachedStepCoster:
    """Step coster of `w`'s trace on ``hw``: cycles, energy (dynamic + leakage), PE use."""

    def entry_costs(ops: Sequence[Op], entries: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cycles = np.zeros(entries)
        energy = np.zeros(entries)
        active = np.zeros(entries)
        shared: dict[tuple, tuple[GemmCosts, np.ndarray]] = {}
        for op in apply_weight_storage([op for op in ops if op.kind == "gemm"], hw):
            # Unfused operators of equal shape and precision (q_proj and o_proj, gate and up)
            # cost the same: one of them is simulated.
            costs, inverse = simulate_op_shapes_shared(op, hw, shared)
            cycles += costs.cycles[inverse]
            energy += sum(costs.energy_pj[c] for c in ENERGY_COMPONENTS)[inverse]
            active += costs.active_pe_cycles[inverse]
        return cycles, energy, active

    def finish(stage: str, cycles: float, energy_pj: float, active: float) -> StepCost:
        seconds = cycles / (hw.clock_mhz * 1e6)
        return StepCost(seconds=seconds, cycles=int(cycles),
                        energy_uj=energy_pj * 1e-6 + hw.leakage_mw * seconds * 1e3,
                        utilization=active / (cycles * hw.pe_count) if cycles else 0.0)

    return CachedStepCoster(w, entry_costs, finish)


def simulate_serving(w: Workload, hw: HardwareSpec) -> ServingRun:
    """Serve the workload's request trace on ``hw`` (`hwsim.workloads.serving.serve`)."""
    assert w.served and w.serving is not None
    run = serve(w.requests, w.serving, simulator_step_coster(w, hw),
                logits_all=w.logits == "all", where=w.trace_file or w.source)
    # mW x s = mJ = 1e3 uJ.
    return dataclasses.replace(run, idle_energy_uj=hw.leakage_mw * run.idle_s * 1e3)
