"""A served request trace on a roofline machine: every scheduler step costed by the roofline.

A step's time is the sum of its operators' roofline times (`op_step_costs`: linear layers at
the step's tokens, lm_head at its logit rows, attention per group of equal sequences at their
own KV length, vector operators included, as in `hwsim roofline`). Instead of the
simulator's utilization (the PE array's busy fraction) it reports ``compute_bound_share``: the
share of that time spent in compute-bound operator steps (compute time >= memory time, as
`hwsim.reports.roofline_analysis.analyze` bounds them). No energy model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from hwsim.reports.roofline_analysis import op_step_costs
from hwsim.reports.roofline_machine import Machine
from hwsim.workloads.ops import Op
from hwsim.workloads.serving import ServingRun, StepCost, serve
from hwsim.workloads.spec import Workload
from hwsim.workloads.step_costs import CachedStepCoster

__all__ = ["roofline_serving", "roofline_step_coster"]


def roofline_step_coster(w: Workload, machine: Machine) -> CachedStepCoster:
    """Step coster of `w`'s trace on `machine`: seconds and compute-bound share."""

    def entry_costs(ops: Sequence[Op], entries: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        time_s = np.zeros(entries)
        bound_s = np.zeros(entries)  # time of the compute-bound operator steps
        for op in ops:
            c = op_step_costs(op, machine)
            time_s += c["time_s"]  # type: ignore[arg-type]
            # Not compute time / time: a memory-bound step's compute time made an all
            # memory-bound prefill read 60% compute-bound.
            compute_bound = c["compute_time_s"] >= c["memory_time_s"]  # type: ignore[operator]
            bound_s += np.where(compute_bound, c["time_s"], 0.0)
        return time_s, np.zeros(entries), bound_s

    def finish(stage: str, time_s: float, energy: float, bound_s: float) -> StepCost:
        return StepCost(seconds=time_s, utilization=bound_s / time_s if time_s else 0.0)

    return CachedStepCoster(w, entry_costs, finish)


def roofline_serving(w: Workload, machine: Machine) -> ServingRun:
    """Serve the workload's request trace on `machine` (`hwsim.workloads.serving.serve`)."""
    assert w.served and w.serving is not None
    run = serve(w.requests, w.serving, roofline_step_coster(w, machine),
                logits_all=w.logits == "all", where=w.trace_file or w.source)
    return dataclasses.replace(run, utilization_name="compute_bound_share")
