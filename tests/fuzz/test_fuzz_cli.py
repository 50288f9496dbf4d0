"""Hypothesis composes command lines from good and hostile option values; every one exits 0
with finite outputs or 2 with one line, within the time bound."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import yaml
from fuzz_support import TINY_CONFIG, TINY_WORKLOAD, check, invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

HOSTILE = ["", " ", "-1", "0", "1e300", "nan", "inf", "9" * 30, "9" * 5000, "[" * 20_000,
           "é", "../x", "/", ".", "none", "{a: 1}", "[1, 2]", "true", "x" * 300]


def _pick(good: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(good) | st.sampled_from(HOSTILE)


def _files(tmp: Path) -> None:
    (tmp / "config.json").write_text(json.dumps(TINY_CONFIG))
    (tmp / "w.yaml").write_text(yaml.safe_dump(TINY_WORKLOAD))
    np.save(tmp / "w.npy", np.random.default_rng(0).standard_normal((8, 64)))
    np.save(tmp / "w3.npy", np.zeros((2, 3, 4)))
    np.save(tmp / "empty.npy", np.zeros((0, 64)))
    (tmp / "dir").mkdir()


compare = st.tuples(
    st.just(["dtypes", "compare"]),
    st.lists(st.tuples(st.sampled_from(["-f", "--shape", "--seed", "--group-size", "--tensor"]),
                       st.nothing()), max_size=0),
).flatmap(lambda _: st.lists(st.one_of(
    st.tuples(st.just("-f"), _pick(["int4", "int4,nf4", "bitmod3", "fp16", "mxfp4", "nope"])),
    st.tuples(st.just("--shape"), _pick(["16x64", "1x1", "64x1", "0x4", "1000000x1000000",
                                         "4x4x4", "axb"])),
    st.tuples(st.just("--seed"), _pick(["0", "7", "4294967295", "4294967296"])),
    st.tuples(st.just("--group-size"), _pick(["32", "1", "3", "1000000000", "0"])),
    st.tuples(st.just("--tensor"), _pick(["w.npy", "w3.npy", "empty.npy", "dir", "none.npy",
                                          "config.json"])),
), max_size=3).map(lambda opts: ["dtypes", "compare", "--shape", "32x128",
                                  *(x for o in opts for x in o)]))

run = st.lists(st.one_of(
    st.tuples(st.just("--set"), st.sampled_from(["array.rows", "pe.lanes", "dram.gb_per_s",
                                                 "dram.bytes_per_cycle", "clock_mhz", "nope",
                                                 "buffers.weight.kib"]).flatmap(
        lambda k: _pick(["8", "64", "0.5", "1000"]).map(lambda v: f"{k}={v}"))),
    st.tuples(st.just("--hardware"), _pick(["bitmod", "fp16", "ant", "w.yaml", "nope.yaml"])),
    st.tuples(st.just("--compare"), _pick(["fp16", "fp16,ant", ",", "bitmod,bitmod"])),
), max_size=3).flatmap(lambda opts: _pick(["w.yaml", "gemm-kernels"]).map(
    lambda w: ["run", w, "--out", "out", *(x for o in opts for x in o)]))

show = _pick(["int4", "bitmod3", "fp8_e4m3", "int16", "nf4"]).map(lambda f: ["dtypes", "show", f])


@FUZZ
@given(st.one_of(compare, run, show))
def test_command_lines(args):
    with tempfile.TemporaryDirectory() as tmp:
        _files(Path(tmp))
        check(invoke(args, cwd=Path(tmp)), args, Path(tmp) / "out")
