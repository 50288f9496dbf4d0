"""The fixed regression corpus: one input per class of failure the review found (tracebacks,
hangs, silent nonsense, misleading errors), each with the exit code and the words of the one
line it must now give. Every case runs in this process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fuzz_support import TINY_CONFIG, check, invoke

W = "model: config.json\nprompt_tokens: 16\ngenerate_tokens: 4\n"
SWEEP = ("workload: w.yaml\nhardware: bitmod\nobjectives: [latency_ms]\n"
         "axes:\n  - {field: array.rows, values: [8, 16]}\n")

# name -> (files, argv, expected exit code, words the error line must hold)
CORPUS: dict[str, tuple[dict[str, bytes | str], list[str], int, str]] = {
    # ---- not UTF-8
    "latin-1 workload": ({"w.yaml": "description: café\n".encode("latin-1") + W.encode()},
                         ["run", "w.yaml"], 2, "not UTF-8 text: byte 0xe9 at line 1"),
    "binary sweep": ({"s.yaml": b"\x89PNG\r\n\x1a\n\x00\xff"}, ["sweep", "s.yaml"], 2,
                     "not UTF-8 text"),
    "latin-1 config.json": ({"config.json": json.dumps({**TINY_CONFIG, "x": "é"},
                                                      ensure_ascii=False).encode("latin-1")},
                            ["run", "w.yaml"], 2, "config.json: not UTF-8 text"),
    # ---- deep nesting
    "workload nested 100k": ({"w.yaml": "model: " + "[" * 100_000 + "]" * 100_000},
                             ["run", "w.yaml"], 2, "nested deeper than the limit of 64"),
    "config.json nested": ({"config.json": "[" * 100_000 + "]" * 100_000}, ["run", "w.yaml"],
                           2, "nested deeper than the limit of 64"),
    "--set 20k brackets": ({}, ["run", "w.yaml", "--set", "array.rows=" + "[" * 20_000], 2,
                           "--set array.rows: line 1: nested deeper"),
    "sweep axes nested 50k": ({"s.yaml": SWEEP.replace("[8, 16]", "[" * 50_000 + "]" * 50_000)},
                              ["sweep", "s.yaml"], 2, "nested deeper than the limit of 64"),
    # ---- integers beyond int64, integer-string limit
    "batch 10**20": ({"w.yaml": W + "batch: " + str(10**20) + "\n"}, ["run", "w.yaml"], 2,
                     "outside the 64-bit range"),
    "hidden_size 2**100": ({"config.json": json.dumps({**TINY_CONFIG, "hidden_size": 2**100})},
                           ["run", "w.yaml"], 2, "config.json: integer of 31 digits is outside"),
    "--set 100k digits": ({}, ["run", "w.yaml", "--set", "array.rows=" + "9" * 100_000], 2,
                          "integer of 100000 digits is outside the 64-bit range"),
    # ---- sizes without a limit
    "prompt_tokens 10**12": ({"w.yaml": W.replace("16", str(10**12))}, ["run", "w.yaml"], 2,
                             "above the limit of 1,048,576 (tokens of one sequence)"),
    "generate_tokens 10**9 run": ({"w.yaml": W.replace("4\n", f"{10**9}\n")}, ["run", "w.yaml"],
                                  2, "above the limit of 1,048,576"),
    "generate_tokens 10**9 roofline": ({"w.yaml": W.replace("4\n", f"{10**9}\n")},
                                       ["roofline", "w.yaml", "--hardware", "a100-80g"], 2,
                                       "above the limit of 1,048,576"),
    "generate_tokens 100000": ({"w.yaml": W.replace("4\n", "100000\n")}, ["run", "w.yaml"], 2,
                               "generate_tokens: 100,000 is above the limit of 32,769"),
    "compare 10**6 x 10**6": ({}, ["dtypes", "compare", "--shape", "1000000x1000000"], 2,
                              "--shape: a 1000000x1000000 tensor needs 7,450.6 GiB"),
    "compare -g 10**9": ({}, ["dtypes", "compare", "--shape", "64x64", "--group-size",
                              "1000000000"], 2,
                         "--group-size 1000000000 is larger than the rows of synthetic 64x64"),
    "compare -g 1 ant4": ({}, ["dtypes", "compare", "-f", "ant4", "--group-size", "1"], 2,
                          "synthetic 1024x1024 (seed 0): ant4: scale search: 1,048,576 groups "
                          "x 2,626 thresholds"),
    "compare -g 0": ({}, ["dtypes", "compare", "-g", "0"], 2,
                     "--group-size must be a positive integer, not 0"),
    "sweep range 10**12": ({"s.yaml": SWEEP.replace("values: [8, 16]",
                                                    "range: {start: 1, stop: 1000000000000}")},
                           ["sweep", "s.yaml"], 2, "above the limit of 1,000,000 values"),
    "sweep num 10**9": ({"s.yaml": SWEEP.replace("values: [8, 16]",
                                                 "range: {start: 1, stop: 9, num: 1000000000}")},
                        ["sweep", "s.yaml"], 2, "above the limit of 1,000,000 values"),
    # ---- NaN/Inf and negative seeds
    "sweep range nan": ({"s.yaml": SWEEP.replace("values: [8, 16]",
                                                 "range: {start: .nan, stop: 9}")},
                        ["sweep", "s.yaml"], 2, ".nan is not a finite number"),
    "compare seed -1": ({}, ["dtypes", "compare", "--seed", "-1", "--shape", "8x8"], 2,
                        "--seed: -1 is not a seed"),
    "sweep random seed -1": ({"s.yaml": SWEEP + "strategy: {kind: random, samples: 1, seed: -1}\n"},
                             ["sweep", "s.yaml"], 2, "strategy.seed"),
    "sweep optuna seed -1": ({"s.yaml": SWEEP + "strategy: {kind: optuna, trials: 2, seed: -1}\n"},
                             ["sweep", "s.yaml"], 2, "strategy.seed"),
    # ---- files that are not what they should be
    "compare --tensor DIR": ({"d/x": b""}, ["dtypes", "compare", "--tensor", "d"], 2,
                             "--tensor 'd': cannot read (Is a directory)"),
    "compare 3-D npy": ({"t.npy": "npy:2x3x4"}, ["dtypes", "compare", "--tensor", "t.npy"], 2,
                        "got shape (2, 3, 4)"),
    "compare (0, 64) npy": ({"t.npy": "npy:0x64"}, ["dtypes", "compare", "--tensor", "t.npy"], 2,
                            "has no elements"),
    # ---- hangs
    "random 10**6 x 10**6 samples 10**8": (
        {"s.yaml": SWEEP.replace("values: [8, 16]", "range: {start: 1, stop: 1000000}")
         + "  - {field: batch, range: {start: 1, stop: 1000000}}\n"
         + "strategy: {kind: random, samples: 100000000}\n"},
        ["sweep", "s.yaml"], 2, "above the limit of 10,000,000 points of one sweep"),
    "random samples 10**11": ({"s.yaml": SWEEP + "strategy: {kind: random, samples: "
                                                 "100000000000}\n"},
                              ["sweep", "s.yaml"], 2, "above the limit of 10,000,000"),
    # ---- silent nonsense
    "gemm 10**15 cubed": ({"w.yaml": "gemms: [{name: g, m: 1000000000000000, n: 1000000000000000,"
                                     " k: 1000000000000000}]\n"}, ["run", "w.yaml"], 2,
                          "count x m x n x k: 1,000,000,000,000,000,000"),
    "both dram axes": ({"s.yaml": SWEEP + "  - {field: dram.gb_per_s, values: [100, 200]}\n"
                                          "  - {field: dram.bytes_per_cycle, values: [16, 32]}\n"},
                       ["sweep", "s.yaml"], 2, "set the same quantity"),
    "duplicate axes": ({"s.yaml": SWEEP + "axes: []\n"}, ["sweep", "s.yaml"], 2,
                       "duplicate key 'axes'"),
    "duplicate batch": ({"w.yaml": W + "batch: 1\nbatch: 2\n"}, ["run", "w.yaml"], 2,
                        "duplicate key 'batch'"),
    "duplicate clock_mhz": ({"hw.yaml": "clock_mhz: 500\nclock_mhz: 900\n"},
                            ["run", "w.yaml", "--hardware", "hw.yaml"], 2,
                            "duplicate key 'clock_mhz'"),
    "run ''": ({}, ["run", ""], 2, "workload '': empty"),
    "bits 1e-300": ({"w.yaml": W + "weights: {bits: 1.0e-300}\n"}, ["run", "w.yaml"], 2,
                    "weights.bits: Input should be greater than or equal to 1"),
    # ---- misleading errors
    "bits nan": ({"w.yaml": W + "weights: {bits: .nan}\n"}, ["run", "w.yaml"], 2,
                 ".nan is not a finite number"),
    "constraint max nan": ({"s.yaml": SWEEP + "constraints: [{metric: area_mm2, max: .nan}]\n"},
                           ["sweep", "s.yaml"], 2, ".nan is not a finite number"),
    # ---- command lines
    "unknown option": ({}, ["run", "--nope"], 2, "run: No such option: --nope"),
    "unknown command": ({}, ["frob"], 2, "No such command 'frob'"),
    "file name too long": ({}, ["run", "x" * 5000 + ".yaml"], 2, "File name too long"),
}


def _write(tmp: Path, files: dict[str, bytes | str]) -> None:
    base = {"config.json": json.dumps(TINY_CONFIG), "w.yaml": W}
    for name, data in {**base, **files}.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str) and data.startswith("npy:"):
            np.save(path, np.zeros(tuple(int(v) for v in data[4:].split("x")), np.float32))
        else:
            path.write_bytes(data.encode() if isinstance(data, str) else data)


@pytest.mark.parametrize("name", list(CORPUS))
def test_corpus(name, tmp_path):
    files, args, code, words = CORPUS[name]
    _write(tmp_path, files)
    if args[0] in ("run", "roofline", "sweep"):
        args = [*args, "--out", "out"]
    outcome = check(invoke(args, cwd=tmp_path), args, tmp_path / "out")
    assert outcome.code == code, outcome.stderr
    assert words in outcome.stderr, outcome.stderr
