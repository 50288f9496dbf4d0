"""Shared by the sweep tests: a tiny deterministic model (importable by worker processes) and
a brute-force Pareto front.

Metrics are closed-form in the point's parameters so tests can derive expected values by hand:
    latency_s = (x - 3)**2 + y + offset[kind]     offset = {"a": 0, "b": 0.5}
    energy_pj = x * y + 1
    area_mm2  = x + 2 * y
x == y == 0 is an "invalid combination" (HwsimError). Three test hooks live in the config, so
the function itself keeps no state: ``log`` (a file that gets one line per evaluation),
``crash_at`` + ``marker`` (the worker kills itself at that x the first time, when the marker
file does not exist yet) and ``sleep`` (seconds each point takes, to interrupt it running).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np

from hwsim.errors import HwsimError
from hwsim.sweep import Evaluator

OFFSET = {"a": 0.0, "b": 0.5}
METRICS = {"latency_s": "min", "energy_pj": "min", "area_mm2": "min", "score": "max"}


def evaluate(config: dict) -> dict[str, float]:
    p = config["params"]
    x, y, kind = p["x"], p["y"], p["kind"]
    if p.get("log"):
        with Path(p["log"]).open("a", encoding="utf-8") as fh:
            fh.write(f"{x},{y},{kind}\n")
    if p.get("crash_at") is not None and x == p["crash_at"] and not Path(p["marker"]).exists():
        Path(p["marker"]).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    if p.get("sleep"):
        time.sleep(p["sleep"])
    if x == 0 and y == 0:
        raise HwsimError(f"params: x=0 together with y=0 is not a valid design (kind {kind})")
    return {
        "latency_s": (x - 3) ** 2 + y + OFFSET[kind],
        "energy_pj": x * y + 1.0,
        "area_mm2": x + 2.0 * y,
        "score": -float(x),
    }


TOY = Evaluator(name="toy-v1", evaluate=evaluate, sections=("params",), metrics=METRICS)


def brute_force(values, goals):
    """Row i is on the front unless some row j is no worse everywhere and better somewhere."""
    sign = [1 if g == "min" else -1 for g in goals]
    cost = [[v * s for v, s in zip(row, sign, strict=True)] for row in values.tolist()]
    front = []
    for i, a in enumerate(cost):
        dominated = any(
            all(b_k <= a_k for a_k, b_k in zip(a, b, strict=True))
            and any(b_k < a_k for a_k, b_k in zip(a, b, strict=True))
            for j, b in enumerate(cost) if j != i
        )
        front.append(not dominated)
    return np.array(front)
