"""Serving: a request trace run by a continuous-batching scheduler, step by step.

A trace is a list of requests (arrival time in seconds, prompt tokens, generated tokens),
given in the workload (``requests: [{arrival_s: 0.0, prompt_tokens: 512,
generate_tokens: 128}, ...]``) or as a CSV file (``requests: trace.csv`` with the header
``arrival_s,prompt_tokens,generate_tokens``, relative to the workload's folder). A
``batch: [512, 1024, 2048]`` list is the trace of that many requests arriving together, each
with its own prompt (context) length and the workload's ``generate_tokens``.

Scheduling policy (``serving: {max_batch: 32, max_tokens_per_step: 2048,
chunked_prefill: true}``), iteration-level continuous batching as in Orca / vLLM:

- A step runs the sequences of the running batch together. Every decoding sequence adds one
  token. Then prefills take the rest of the step's token budget (``max_tokens_per_step``):
  first the sequence whose prefill is under way, then waiting requests in arrival order,
  admitted while the batch holds fewer than ``max_batch`` sequences. With ``chunked_prefill``
  a prompt is cut to the budget left (the rest continues next step); without it a prompt
  runs whole, only when the whole of it fits the budget left, and a prompt larger than the
  budget is refused when the trace is read. Without a budget (``max_tokens_per_step: null``)
  every admitted prompt runs whole in one step.
- Decode follows hwsim's convention: a sequence's last prefill step produces its first
  output token; each decode step after it produces one more, so a request of ``g`` generated
  tokens has ``g - 1`` decode steps after its prefill, and leaves when the last is produced.
- A request is admitted once it has arrived at the start of a step; when nothing is running
  the clock jumps to the next arrival.
- Each step costs what the step's operators cost (`StepCoster`): the linear layers on all
  the step's tokens, attention per sequence on its own query tokens and KV length (ragged),
  sequences of equal shape in a step sharing one attention operator (so a batch of identical
  requests costs exactly what the batched workload costs).

Metrics per request: TTFT (arrival to the end of its last prefill step, when its first token
is out), TPOT (the time from its first to its last token / (generated - 1)), end-to-end
latency (arrival to last token); per step: start, duration, tokens, batch size, utilization.
Per trace: the makespan runs from the first arrival to the end of the last step (idle gaps
between arrivals included, the time before the first request not), and throughput
(``throughput_tokens_per_s``) is the tokens the model processes over the makespan, counted
as for a plain workload: each request's prompt plus its ``generate_tokens - 1`` decode steps
(the sum of the steps' tokens); ``output_tokens_per_s`` counts the generated tokens.

Times: arrivals are seconds on the trace's own clock (a Unix time in seconds is fine, up to
`MAX_ARRIVAL_S`). Every time a run reports (arrivals, step starts, first and last tokens)
counts from the first arrival, whose time on the trace's clock is ``origin_s``
(``first_arrival_s`` in the summary). The scheduler keeps its clock as an offset from the
arrival that started the current busy period, so TTFT, TPOT and end-to-end latency do not
depend on where the trace starts: a step of microseconds is not rounded away by a clock
reading 1.7e9 s.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.errors import HwsimError
from hwsim.limits import (
    MAX_ARRIVAL_S,
    MAX_CONFIG_BYTES,
    MAX_SERVED_STEPS,
    MAX_TOKENS,
    check_count,
)

__all__ = [
    "Request",
    "ServingPolicy",
    "ServingRun",
    "StepCost",
    "StepCoster",
    "StepShape",
    "decode_kv_lengths",
    "percentiles",
    "read_trace_csv",
    "read_trace_rows",
    "serve",
    "validate_requests",
]

TRACE_COLUMNS = ("arrival_s", "prompt_tokens", "generate_tokens")


@dataclass(frozen=True)
class Request:
    """One request of a trace."""

    arrival_s: float
    prompt_tokens: int
    generate_tokens: int


@dataclass(frozen=True)
class ServingPolicy:
    """The scheduler's limits (see the module docstring); ``None`` = no token budget."""

    max_batch: int = 32
    max_tokens_per_step: int | None = 2048
    chunked_prefill: bool = True


@dataclass(frozen=True)
class StepShape:
    """What one step computes.

    Attributes:
        stage: ``"prefill"`` when the step holds prefill tokens (it runs on the prefill array
            shape), else ``"decode"``.
        tokens: tokens through the linear layers (all sequences).
        logit_rows: rows of the lm_head (every token, or one per sequence emitting a token,
            as the workload's ``logits`` says).
        attention: ``(query tokens, KV length, sequences)`` groups of equal shape.
    """

    stage: str
    tokens: int
    logit_rows: int
    attention: tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class StepCost:
    """Cost of one step: seconds, cycles (simulator; ``None`` when the coster has none: the
    roofline costs time), energy (uJ, 0 when not modelled), utilization (busy fraction of
    the peak)."""

    seconds: float
    cycles: int | None = None
    energy_uj: float = 0.0
    utilization: float = 0.0


StepCoster = Callable[[StepShape], StepCost]


@dataclass(frozen=True)
class ServingRun:
    """A served trace: per-step and per-request arrays (seconds), and the policy used.

    Times on the run's timeline (`step_start_s`, `arrival_s`, `first_token_s`, `finish_s`)
    count from the first arrival, which was at ``origin_s`` on the trace's clock. `ttft_s`
    and `e2e_s` are durations, computed by the scheduler without going through the trace's
    clock, so they do not depend on `origin_s`.
    ``step_cycles`` is ``None`` when the coster has no cycles (the roofline costs time).
    ``idle_energy_uj`` is spent while no step runs within the makespan (the simulator's
    leakage; 0 when the coster has no energy model, which the report writes as null).
    ``utilization_name`` names what ``step_utilization`` measures (the summary key): the
    simulator's PE-array busy fraction (``utilization``) or the roofline's compute-bound
    share of time.
    """

    policy: ServingPolicy
    requests: tuple[Request, ...]
    step_start_s: np.ndarray
    step_s: np.ndarray
    step_cycles: np.ndarray | None
    step_tokens: np.ndarray
    step_batch: np.ndarray
    step_prefill_tokens: np.ndarray
    step_energy_uj: np.ndarray
    step_utilization: np.ndarray
    ttft_s: np.ndarray
    e2e_s: np.ndarray
    shapes: tuple[StepShape, ...] = field(repr=False, default=())
    origin_s: float = 0.0
    idle_energy_uj: float = 0.0
    utilization_name: str = "utilization"

    @property
    def makespan_s(self) -> float:
        """Time from the first arrival to the end of the last step (idle gaps included; the
        time before the first request is not the server's)."""
        if not len(self.step_s):
            return 0.0
        return float(self.step_start_s[-1] + self.step_s[-1])

    @property
    def idle_s(self) -> float:
        """Time within the makespan when no step runs (waiting for the next arrival)."""
        return max(self.makespan_s - float(self.step_s.sum()), 0.0)

    @property
    def arrival_s(self) -> np.ndarray:
        """Arrival of every request, counted from the first arrival."""
        # + 0.0: a -0.0 difference is written as 0, not -0.
        return np.array([r.arrival_s - self.origin_s for r in self.requests]) + 0.0

    @property
    def first_token_s(self) -> np.ndarray:
        """When each request's first token is out, counted from the first arrival."""
        return self.arrival_s + self.ttft_s

    @property
    def finish_s(self) -> np.ndarray:
        """When each request's last token is out, counted from the first arrival."""
        return self.arrival_s + self.e2e_s

    @property
    def tpot_s(self) -> np.ndarray:
        """Time per output token after the first (NaN for one generated token)."""
        gen = np.array([r.generate_tokens for r in self.requests], dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(gen > 1, (self.e2e_s - self.ttft_s) / (gen - 1), np.nan)

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures: percentiles, throughput, utilization, energy, the policy."""
        total_s = self.makespan_s
        busy_s = float(self.step_s.sum())
        generated = int(sum(r.generate_tokens for r in self.requests))
        prompt = int(sum(r.prompt_tokens for r in self.requests))
        # Tokens the model processes, as a plain workload counts them: each prompt and its
        # generate_tokens - 1 decode steps (the prefill emits the first output token).
        processed = int(self.step_tokens.sum())
        return {
            "requests": len(self.requests),
            "steps": len(self.step_s),
            "policy": {"max_batch": self.policy.max_batch,
                       "max_tokens_per_step": self.policy.max_tokens_per_step,
                       "chunked_prefill": self.policy.chunked_prefill},
            "ttft_s": percentiles(self.ttft_s),
            "tpot_s": percentiles(self.tpot_s),
            "e2e_s": percentiles(self.e2e_s),
            "first_arrival_s": self.origin_s,
            "makespan_s": total_s,
            "busy_s": busy_s,
            "prompt_tokens": prompt,
            "generated_tokens": generated,
            "output_tokens_per_s": generated / total_s if total_s else None,
            "throughput_tokens_per_s": processed / total_s if total_s else None,
            "mean_batch": float(np.average(self.step_batch, weights=self.step_s))
            if busy_s else None,
            self.utilization_name: float(np.average(self.step_utilization,
                                                    weights=self.step_s)) if busy_s else None,
            "energy_uj": float(self.step_energy_uj.sum()) + self.idle_energy_uj,
            "idle_energy_uj": self.idle_energy_uj,
        }


def percentiles(x: np.ndarray) -> dict[str, float | None]:
    """p50 / p90 / p99 and mean of the finite values (``None`` when there are none)."""
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"p50": None, "p90": None, "p99": None, "mean": None}
    p50, p90, p99 = np.percentile(x, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(x.mean())}


def validate_requests(requests: Sequence[Request], where: str, max_context: int,
                      model: str, policy: ServingPolicy,
                      locate: Callable[[int], str] | None = None,
                      untimed: Collection[int] = ()) -> None:
    """One-line errors for a trace the scheduler cannot run.

    `locate(i)` names request i in messages (default ``"<where>[i]"``; a CSV gives its line).
    `untimed`: requests whose arrival the file left out (0), said so when out of order.

    Raises:
        HwsimError: empty trace, a negative or non-finite arrival or one beyond
            `MAX_ARRIVAL_S`, arrivals out of order, a request beyond the model's context or
            `MAX_TOKENS` (a plain workload's limit on one sequence), a whole prompt over the
            token budget.
    """
    if not requests:
        raise HwsimError(f"{where}: empty trace (give at least one request)")
    prev = 0.0
    for i, r in enumerate(requests):
        at = locate(i) if locate is not None else f"{where}[{i}]"
        if not np.isfinite(r.arrival_s) or r.arrival_s < 0:
            raise HwsimError(f"{at}: arrival_s {r.arrival_s} is not a time >= 0 (seconds)")
        if r.arrival_s > MAX_ARRIVAL_S:
            raise HwsimError(f"{at}: arrival_s {r.arrival_s!r} is above the limit of "
                             f"{MAX_ARRIVAL_S:g} s (about 3,170 years): give seconds (a Unix "
                             "time in milliseconds, say, divided by 1000)")
        if r.arrival_s < prev:
            given = "no arrival_s (0)" if i in untimed else f"arrival_s {r.arrival_s}"
            raise HwsimError(f"{at}: {given} is before the previous request's {prev}; sort the "
                             "trace by arrival time")
        prev = r.arrival_s
        reach = r.prompt_tokens + r.generate_tokens - 1
        if reach > max_context:
            raise HwsimError(f"{at}: prompt_tokens + generate_tokens - 1 = {reach} is beyond "
                             f"{model}'s context of {max_context}")
        check_count(reach, MAX_TOKENS, f"{at}: prompt_tokens + generate_tokens - 1",
                    "tokens of one sequence")
        budget = policy.max_tokens_per_step
        if not policy.chunked_prefill and budget is not None and r.prompt_tokens > budget:
            raise HwsimError(f"{at}: prompt_tokens {r.prompt_tokens} exceeds "
                             f"serving.max_tokens_per_step {budget} without chunked_prefill")


def decode_kv_lengths(requests: Sequence[Request], window: int | None = None) -> int:
    """How many distinct KV lengths the trace's decode steps attend over (each at most the
    sliding ``window``): the attention shapes a served run costs ahead of its steps
    (`hwsim.workloads.step_costs.CachedStepCoster`), whose memory grows with them."""
    spans = sorted((r.prompt_tokens + 1, r.prompt_tokens + r.generate_tokens - 1)
                   for r in requests if r.generate_tokens > 1)
    count = end = 0
    for lo, hi in spans:  # merged in order of their starts, counted once
        if window is not None:
            lo, hi = min(lo, window), min(hi, window)
        lo = max(lo, end + 1)
        if hi >= lo:
            count += hi - lo + 1
        end = max(end, hi)
    return count


def read_trace_csv(path: Path) -> list[Request]:
    """Read a CSV trace (header ``arrival_s,prompt_tokens,generate_tokens``).

    Raises:
        HwsimError: unreadable file, wrong header, a value that is not a number / a positive
            integer (names the file and line).
    """
    return [r for _, r in read_trace_rows(path)]


# ASCII decimal numbers only: Python's int() and float() also take "1_000" and other scripts'
# digits (full-width "１２"), which no CSV writer means as a number.
_INT = re.compile(r"\s*\+?[0-9]+\s*")
_FLOAT = re.compile(r"\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*")


def _shown(raw: str) -> str:
    """A cell as a message quotes it: a 5,000-digit value is not echoed whole."""
    return repr(raw) if len(raw) <= 40 else f"{raw[:20]!r}... ({len(raw):,} characters)"


def read_trace_rows(path: Path) -> list[tuple[int, Request]]:
    """`read_trace_csv` with the line each request starts on, for later messages (blank
    lines and quoted values over several lines make it differ from the request's index)."""
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise HwsimError(f"{path}: {path.stat().st_size:,} bytes is above the limit of "
                             f"{MAX_CONFIG_BYTES:,} for a request trace")
        # utf-8-sig: a spreadsheet's byte-order mark is not part of the header.
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            rows, line = [], 1
            for row in reader:
                rows.append((line, row))
                line = reader.line_num + 1
    except OSError as exc:
        raise HwsimError(f"{path}: cannot read the request trace "
                         f"({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise HwsimError(f"{path}: not a text CSV file") from None
    if not rows or tuple(c.strip() for c in rows[0][1]) != TRACE_COLUMNS:
        raise HwsimError(f"{path}: line 1: expected the header {','.join(TRACE_COLUMNS)}")
    out = []
    for line, row in rows[1:]:
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 3:
            raise HwsimError(f"{path}: line {line}: expected 3 values, got {len(row)}")
        if not _FLOAT.fullmatch(row[0]):
            raise HwsimError(f"{path}: line {line}: arrival_s {_shown(row[0])} is not a "
                             "number (seconds, e.g. 0.25 or 1.7e9)")
        arrival = float(row[0]) + 0.0  # + 0.0: -0 is the time 0
        ints = []
        for name, raw in zip(TRACE_COLUMNS[1:], row[1:], strict=True):
            try:
                value = int(raw) if _INT.fullmatch(raw) else 0
            except ValueError:  # over Python's 4,300 digits
                value = 0
            if value < 1:
                raise HwsimError(f"{path}: line {line}: {name} {_shown(raw)} is not a "
                                 "positive integer")
            ints.append(value)
        out.append((line, Request(arrival, ints[0], ints[1])))
    return out


@dataclass
class _Seq:
    index: int
    prompt: int
    generate: int
    done_prompt: int = 0
    produced: int = 0


def serve(requests: Sequence[Request], policy: ServingPolicy, coster: StepCoster,
          logits_all: bool = True, where: str = "requests") -> ServingRun:
    """Run the trace through the continuous-batching scheduler, costing every step.

    Args:
        requests: validated, sorted by arrival.
        policy: the scheduler's limits.
        coster: cost of one step (`hwsim.sim.serving` or the roofline's).
        logits_all: the lm_head runs on every prefill token (the workload's ``logits: all``)
            rather than once per sequence that emits a token.
        where: the trace, for the error of one that takes too many steps.

    Raises:
        HwsimError: the trace takes more than `MAX_SERVED_STEPS` steps (found while serving
            it: how many it takes depends on every step's cost).
    """
    n = len(requests)
    ttft = np.full(n, np.nan)
    e2e = np.full(n, np.nan)
    starts: list[float] = []
    durations: list[float] = []
    cycles_l: list[int | None] = []
    tokens_l: list[int] = []
    batch_l: list[int] = []
    prefill_l: list[int] = []
    energy_l: list[float] = []
    util_l: list[float] = []
    shapes: list[StepShape] = []
    running: list[_Seq] = []
    nxt = 0
    # The clock is an offset from `epoch`, the arrival that started the current busy period:
    # on an absolute clock (a Unix time of 1.7e9 s) a step of microseconds would be rounded
    # to the clock's resolution, and at 1e300 it would vanish.
    origin = requests[0].arrival_s if n else 0.0
    epoch = origin
    clock = 0.0
    budget_all = policy.max_tokens_per_step
    while nxt < n or running:
        if not running and requests[nxt].arrival_s - epoch > clock:
            epoch, clock = requests[nxt].arrival_s, 0.0
        # Admit arrived requests while the batch has room (they prefill below, in order).
        while (nxt < n and len(running) < policy.max_batch
               and requests[nxt].arrival_s - epoch <= clock):
            r = requests[nxt]
            running.append(_Seq(nxt, r.prompt_tokens, r.generate_tokens))
            nxt += 1
        budget = budget_all
        work: list[tuple[_Seq, int]] = []
        for s in running:
            if s.done_prompt == s.prompt:
                work.append((s, 1))
        used = len(work)
        for s in running:
            if s.done_prompt == s.prompt:
                continue
            left = s.prompt - s.done_prompt
            if budget is None:
                take = left
            else:
                room = budget - used
                take = min(left, room) if policy.chunked_prefill else (left if left <= room
                                                                        else 0)
            if take <= 0:
                break  # prefills run in arrival order: a later one never overtakes
            work.append((s, take))
            used += take
        if len(starts) == MAX_SERVED_STEPS:
            wider = ", or a larger serving.max_batch" if policy.max_batch < n else ""
            raise HwsimError(
                f"{where}: the trace takes more than {MAX_SERVED_STEPS:,} scheduler steps (the "
                f"limit; each is costed), {nxt:,} of its {n:,} requests admitted by then; serve "
                f"fewer or shorter requests{wider}")
        if not work:
            # The budget is smaller than the decodes of a full batch: cannot happen when
            # max_tokens_per_step >= max_batch (checked at validation).
            raise HwsimError("serving: a step with no work (max_tokens_per_step is smaller "
                             "than max_batch)")
        groups: dict[tuple[int, int], int] = {}
        emitting = 0
        prefill_tokens = 0
        for s, q in work:
            kv = s.done_prompt + q if s.done_prompt < s.prompt else s.prompt + s.produced
            groups[(q, kv)] = groups.get((q, kv), 0) + 1
            if s.done_prompt < s.prompt:
                prefill_tokens += q
                if s.done_prompt + q == s.prompt:
                    emitting += 1
            else:
                emitting += 1
        shape = StepShape(stage="prefill" if prefill_tokens else "decode", tokens=used,
                          logit_rows=used if logits_all else emitting,
                          attention=tuple((q, kv, c) for (q, kv), c in groups.items()))
        cost = coster(shape)
        end = clock + cost.seconds
        starts.append(epoch - origin + clock)
        durations.append(cost.seconds)
        cycles_l.append(cost.cycles)
        tokens_l.append(used)
        batch_l.append(len(work))
        prefill_l.append(prefill_tokens)
        energy_l.append(cost.energy_uj)
        util_l.append(cost.utilization)
        shapes.append(shape)
        clock = end
        still: list[_Seq] = []
        for s, q in work:
            if s.done_prompt < s.prompt:
                s.done_prompt += q
                if s.done_prompt == s.prompt:
                    s.produced = 1
                    ttft[s.index] = end - (requests[s.index].arrival_s - epoch)
            else:
                s.produced += 1
            if s.produced >= s.generate:
                e2e[s.index] = end - (requests[s.index].arrival_s - epoch)
            else:
                still.append(s)
        in_step = {s.index for s, _ in work}
        waiting = [s for s in running if s.index not in in_step]
        running = sorted(still + waiting, key=lambda s: s.index)
    return ServingRun(
        policy=policy, requests=tuple(requests), step_start_s=np.array(starts),
        step_s=np.array(durations),
        # No cycles rather than 0s when the coster has none (the roofline's steps).
        step_cycles=None if any(c is None for c in cycles_l)
        else np.array(cycles_l, dtype=np.int64),
        step_tokens=np.array(tokens_l, dtype=np.int64),
        step_batch=np.array(batch_l, dtype=np.int64),
        step_prefill_tokens=np.array(prefill_l, dtype=np.int64),
        step_energy_uj=np.array(energy_l), step_utilization=np.array(util_l),
        ttft_s=ttft, e2e_s=e2e, shapes=tuple(shapes), origin_s=origin + 0.0)
