"""Hypothesis mutates valid workload, hardware, sweep and config.json files; every command that
reads them exits 0 with finite outputs or 2 with one line, within the time bound."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml
from fuzz_support import (
    GEMM_WORKLOAD,
    TINY_CONFIG,
    TINY_SWEEP,
    TINY_WORKLOAD,
    check,
    invoke,
    mutated_text,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.hw import hardware_to_dict, load_hardware

# derandomize: the same examples on every run (CI must not flake); the corpus in
# test_corpus.py pins the classes of inputs found by review.
FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def _folder(files: dict[str, bytes]) -> tempfile.TemporaryDirectory:
    tmp = tempfile.TemporaryDirectory()
    for name, data in files.items():
        (Path(tmp.name) / name).write_bytes(data)
    return tmp


def _yaml(doc: dict) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False).encode()


@FUZZ
@given(st.one_of(mutated_text(TINY_WORKLOAD), mutated_text(GEMM_WORKLOAD)),
       st.sampled_from(["run", "roofline"]))
def test_mutated_workloads(data, command):
    with _folder({"w.yaml": data, "config.json": json.dumps(TINY_CONFIG).encode()}) as tmp:
        args = [command, "w.yaml", "--out", "out"]
        if command == "roofline":
            args += ["--hardware", "a100-80g"]
        check(invoke(args, cwd=Path(tmp)), args, Path(tmp) / "out")


@FUZZ
@given(mutated_text(TINY_CONFIG, fmt="json"))
def test_mutated_model_configs(data):
    with _folder({"w.yaml": _yaml(TINY_WORKLOAD), "config.json": data}) as tmp:
        args = ["run", "w.yaml", "--out", "out"]
        check(invoke(args, cwd=Path(tmp)), args, Path(tmp) / "out")


@FUZZ
@given(mutated_text(hardware_to_dict(load_hardware("bitmod"))))
def test_mutated_hardware(data):
    files = {"w.yaml": _yaml(GEMM_WORKLOAD), "hw.yaml": data}
    with _folder(files) as tmp:
        args = ["run", "w.yaml", "--hardware", "hw.yaml", "--out", "out"]
        check(invoke(args, cwd=Path(tmp)), args, Path(tmp) / "out")


@settings(FUZZ, max_examples=12)
@given(mutated_text(TINY_SWEEP))
def test_mutated_sweeps(data):
    files = {"s.yaml": data, "w.yaml": _yaml(TINY_WORKLOAD),
             "config.json": json.dumps(TINY_CONFIG).encode()}
    with _folder(files) as tmp:
        args = ["sweep", "s.yaml", "--out", "out", "--workers", "1"]
        check(invoke(args, cwd=Path(tmp)), args, Path(tmp) / "out")
