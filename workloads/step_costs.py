"""Step costs of a served trace from any per-operator cost model, cached by step shape.

A scheduler step (`hwsim.workloads.serving.StepShape`) costs its linear layers at the step's
token count, its lm_head at its logit rows and its attention per group of equal sequences.
`CachedStepCoster` keeps those three parts in caches, filled in vectorized batches: the decode
shapes a trace can reach (one query token at every KV length of every request, rows 1 ..
max_batch) up front, the rest (prefill chunks, mixed steps) when a step first needs them. The
cost model is a function of a list of operators (one array entry per cached shape) giving, per
entry, its time units (cycles or seconds), energy and busy units;
the simulator (`hwsim.sim.serving`) and the roofline (`hwsim.reports.roofline_serving`) each
give one.

Attention is cached per (query tokens, KV length, equal sequences ``n``): ``n`` sequences
multiply every attention operator's instance count by ``n``, and the simulator's fastest
blocking, so its pipeline's fixed part, depends on that count. Scaling one sequence's cost
(time beyond the fixed part times ``n``) was off by up to 8% of the attention's cycles (a
256-wide model, 7 equal prompts of 49 tokens): a served trace of identical simultaneous
requests then differed from the batched workload, which it reproduces cycle for cycle now.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from hwsim.workloads.operators import step_operators
from hwsim.workloads.ops import Op
from hwsim.workloads.serving import StepCost, StepShape
from hwsim.workloads.spec import Workload

__all__ = ["CachedStepCoster", "EntryCosts"]

# ops, entries -> (time units, energy, busy units) per entry, summed over the ops.
EntryCosts = Callable[[Sequence[Op], int], tuple[np.ndarray, np.ndarray, np.ndarray]]
# stage, time units, energy, busy units of a whole step -> its cost.
Finish = Callable[[str, float, float, float], StepCost]
_Part = tuple[float, float, float]


class CachedStepCoster:
    """Cost of a scheduler step from a per-operator model (see the module docstring)."""

    def __init__(self, w: Workload, entry_costs: EntryCosts, finish: Finish) -> None:
        self.w = w
        self.entry_costs = entry_costs
        self.finish = finish
        self.linear: dict[tuple[str, int], _Part] = {}
        self.head: dict[tuple[str, int], _Part] = {}
        self.attention: dict[tuple[str, int, int, int], _Part] = {}
        reach = [np.arange(r.prompt_tokens + 1, r.prompt_tokens + r.generate_tokens)
                 for r in w.requests if r.generate_tokens > 1]
        kv = np.unique(np.concatenate(reach)) if reach else np.zeros(0, dtype=np.int64)
        self.reach = kv  # every KV length a decoding sequence of the trace attends over
        # A step never holds more sequences than the trace has, whatever max_batch allows.
        most = min(w.serving.max_batch, len(w.requests)) if w.serving else 1
        batch = np.arange(1, most + 1)
        for stage in ("prefill", "decode"):
            self._fill_linear(stage, batch)
            if kv.size:
                self._fill_attention(stage, np.ones_like(kv), kv, 1)

    @staticmethod
    def _store(table: dict, keys: list, costs: tuple[np.ndarray, ...]) -> None:
        for i, key in enumerate(keys):
            table[key] = (float(costs[0][i]), float(costs[1][i]), float(costs[2][i]))

    def _fill_linear(self, stage: str, rows: np.ndarray,
                     tables: tuple[str, ...] = ("linear", "head")) -> None:
        """Cost the linear layers (``"linear"``: all but lm_head) and / or the lm_head
        (``"head"``) at these row counts."""
        rows = np.asarray(rows, dtype=np.int64)
        ops = step_operators(self.w, stage, tokens=rows, kv_len=rows,  # type: ignore[arg-type]
                             rows=rows, logit_rows=rows, part="linear")
        keys = [(stage, m) for m in rows.tolist()]
        for name in tables:
            picked = [op for op in ops if (op.name == "lm_head") == (name == "head")]
            self._store(getattr(self, name), keys, self.entry_costs(picked, rows.shape[0]))

    def _fill_attention(self, stage: str, q: np.ndarray, kv: np.ndarray, n: int) -> None:
        ops = step_operators(self.w, stage, tokens=q, kv_len=kv,  # type: ignore[arg-type]
                             rows=q, logit_rows=q, sequences=n, part="attention")
        keys = [(stage, a, b, n) for a, b in zip(q.tolist(), kv.tolist(), strict=True)]
        self._store(self.attention, keys, self.entry_costs(ops, q.shape[0]))

    def __call__(self, shape: StepShape) -> StepCost:
        st = shape.stage
        # With logits: last a prefill step's lm_head runs on fewer rows than its linear layers
        # (one per sequence emitting a token): cost only the part that is missing.
        for name, m in (("linear", shape.tokens), ("head", shape.logit_rows)):
            if (st, m) not in getattr(self, name):
                self._fill_linear(st, np.array([m]), (name,))
        missing: dict[int, set[tuple[int, int]]] = {}
        keys = [(st, q, kv, n) for q, kv, n in shape.attention]
        for _, q, kv, n in keys:
            if (st, q, kv, n) in self.attention:
                continue
            missing.setdefault(n, set()).add((q, kv))
            if q == 1:
                # Equal sequences decode in lockstep: their next steps attend over the KV
                # lengths after this one, at the same count. Costed in this batch, not one
                # step at a time (32 identical requests took 20x as long).
                missing[n].update((1, int(b)) for b in self.reach[self.reach > kv]
                                  if (st, 1, int(b), n) not in self.attention)
        for n, shapes in missing.items():
            arr = np.array(sorted(shapes), dtype=np.int64)
            self._fill_attention(st, arr[:, 0], arr[:, 1], n)
        parts = [self.linear[(st, shape.tokens)], self.head[(st, shape.logit_rows)]]
        parts += [self.attention[key] for key in keys]
        return self.finish(st, sum(p[0] for p in parts), sum(p[1] for p in parts),
                           sum(p[2] for p in parts))
