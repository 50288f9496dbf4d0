"""Shared by the fuzz tests: run the CLI in this process, check the one property every command
keeps, and hypothesis strategies that mutate valid documents.

The property: exit 0 (with outputs that parse and hold finite numbers), or exit 2 with one
line ``error: ...`` on stderr (log warnings aside); never a traceback, never another code,
and within a time bound.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from hwsim.cli import main

# One invocation of a small input: the slowest valid one (a sweep of two points with its
# plots) takes about 3 s on the 2-core CI machine and 10 s when seven people share it; a
# limit that failed to hold would take minutes.
TIME_BOUND_S = 60.0

TINY_CONFIG = {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
               "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 256,
               "intermediate_size": 128, "max_position_embeddings": 256}
TINY_WORKLOAD = {"model": "config.json", "batch": 1, "prompt_tokens": 16, "generate_tokens": 4,
                 "weights": {"format": "int4", "group_size": 32}, "activations": {"bits": 16},
                 "kv_cache": {"bits": 16}, "hardware": "bitmod"}
GEMM_WORKLOAD = {"gemms": [{"name": "g", "m": 8, "n": 64, "k": 64, "count": 2}],
                 "weights": {"format": "int4"}, "hardware": "bitmod"}
TINY_SWEEP = {"name": "fuzz", "workload": "w.yaml", "hardware": "bitmod",
              "axes": [{"field": "array.rows", "values": [8, 16]},
                       {"field": "batch", "range": {"start": 1, "stop": 2}}],
              "objectives": ["latency_ms", "energy_uj"],
              "constraints": [{"metric": "area_mm2", "max": 100.0}],
              "strategy": {"kind": "random", "samples": 2, "seed": 1}}


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float


def invoke(args: list[str], cwd: Path | None = None) -> Outcome:
    """Run ``hwsim ARGS`` in this process (the console script's own entry point)."""
    import os

    old_argv, old_cwd = sys.argv, Path.cwd()
    out, err = io.StringIO(), io.StringIO()
    sys.argv = ["hwsim", *args]
    start = time.perf_counter()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
    return Outcome(code, out.getvalue(), err.getvalue(), time.perf_counter() - start)


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


# Exit codes seen, per command, printed at the end of the session (see conftest.py).
TALLY: Counter[tuple[str, int]] = Counter()


def check(outcome: Outcome, args: list[str], out_dir: Path | None = None) -> Outcome:
    """Assert the property; returns the outcome for further checks."""
    TALLY[(args[0] if args else "(none)", outcome.code)] += 1
    where = f"hwsim {' '.join(a[:80] for a in args)}"
    assert outcome.seconds < TIME_BOUND_S, f"{where}: took {outcome.seconds:.1f} s"
    assert "Traceback" not in outcome.stderr + outcome.stdout, f"{where}:\n{outcome.stderr}"
    assert outcome.code in (0, 2), f"{where}: exit {outcome.code}\n{outcome.stderr[-3000:]}"
    if outcome.code == 2:
        lines = [line for line in outcome.stderr.splitlines()
                 if line.strip() and not line.startswith("WARNING ")]
        assert len(lines) == 1 and lines[0].startswith("error: "), \
            f"{where}: not one error line:\n{outcome.stderr[-3000:]}"
    elif out_dir is not None:
        for path in out_dir.glob("*.json"):
            data = json.loads(path.read_text(encoding="utf-8"),
                              parse_constant=lambda c: float("nan"))
            assert _finite(data), f"{where}: {path.name} holds a non-finite number"
    return outcome


# ------------------------------------------------------------------ mutations of documents

EXTREMES = [2, 8, 64, 128, "int8", "fp16", 0, -1, 1, 3, 2**31, 2**53 + 1, 2**63 - 1, 10**15,
            -(2**63), 0.5, 1e-300, 1e300, -1e300, "", "x", "llama-2-7b", "int4", "bitmod", True,
            False, None, [], {},
            [1, 2], {"a": 1}, "../../etc/passwd", "café"]
# Written as YAML text: values yaml.safe_dump cannot make (beyond int64, NaN/Inf).
RAW = ["100000000000000000000", "-9223372036854775809", "9" * 5000, ".nan", ".inf", "-.inf",
       "1.0e+400", "0x" + "f" * 40, "&a [1, *a]", "!!python/object:os.system {}", "~"]


def leaf_paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and list indices) into `doc`, its inner nodes included."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += leaf_paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += leaf_paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return doc


def _delete(doc: Any, path: tuple) -> Any:
    node = doc
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return doc


@st.composite
def mutated_text(draw: st.DrawFn, base: dict, fmt: str = "yaml") -> bytes:
    """A valid document `base`, mutated once or twice, as the bytes of a file."""
    doc = json.loads(json.dumps(base))  # a deep copy
    raw: dict[str, str] = {}  # placeholder -> YAML text written verbatim
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2]))):  # 0: the valid document
        paths = leaf_paths(doc)
        kind = draw(st.sampled_from(["value", "value", "raw", "delete", "unknown", "nest"]))
        path = draw(st.sampled_from(paths)) if paths else ()
        if kind == "value":
            doc = _set(doc, path, draw(st.sampled_from(EXTREMES)))
        elif kind == "raw" and fmt == "yaml":
            token = f"RAW{len(raw)}"
            raw[token] = draw(st.sampled_from(RAW))
            doc = _set(doc, path, token)
        elif kind == "delete" and path:
            doc = _delete(doc, path)
        elif kind == "unknown" and isinstance(doc, dict):
            doc[draw(st.sampled_from(["extra", "batchh", "Model", "axes2"]))] = 1
        elif kind == "nest":
            depth = draw(st.sampled_from([65, 1000, 50_000]))
            doc = _set(doc, path, "NEST")
            raw["NEST"] = "[" * depth + "]" * depth
    if fmt == "json":
        text = json.dumps(doc)
    else:
        text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=10**9)
    for token, value in raw.items():
        for form in (f'"{token}"', f"'{token}'", token):
            text = text.replace(form, value)
    data = text.encode("utf-8")
    encoding = draw(st.sampled_from(["utf-8"] * 9 + ["latin-1", "bytes", "duplicate"]))
    if encoding == "latin-1":
        data = data.replace(b"\n", " # d\xe9j\xe0 vu\n".encode("latin-1"), 1)
    elif encoding == "bytes":
        data = data[: len(data) // 2] + b"\xff\xfe\x00" + data[len(data) // 2:]
    elif encoding == "duplicate" and isinstance(doc, dict) and doc:
        key = next(iter(doc))
        data = (data.rstrip()[:-1] + f', "{key}": 1}}'.encode() if fmt == "json"
                else data + f"\n{key}: 1\n".encode())
    return data
