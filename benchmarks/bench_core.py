"""The accelerator core under Verilator: a 256^3 GEMM, and the first MiniLM encoder layer.

    .venv/bin/python benchmarks/bench_core.py            # the GEMM (target: < 60 s simulated)
    .venv/bin/python benchmarks/bench_core.py --minilm   # + MiniLM layer 0's six linears

An 8x8 BitMoD core (fp4, 4 lanes, groups of 128, 16-byte DRAM beats) is generated, built with
Verilator and driven by the cocotb testbench of the tests (`tests/hw/rtl/core_cocotb_tb.py`,
DRAM model `hwsim.hw.rtl.core_dram`). Printed: build and simulation wall time, the core's
command-to-done cycles against `hwsim.sim` for the same hardware YAML and mapping, whether the
outputs equal the golden model bit for bit, and (MiniLM) the cosine of the layer's output to
the float32 layer. MiniLM: real weights of the shipped checkpoint quantized to bitmod4 with
int8 two-level scales, a real tokenized sentence; attention, GELU, LayerNorm in NumPy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_TB = Path(__file__).resolve().parents[1] / "tests" / "hw" / "rtl"
sys.path.insert(0, str(_TB))

from core_cases import case_from, quantized_weights  # noqa: E402
from rtl_env import simulator_path  # noqa: E402

from hwsim.hw.rtl.core_config import CoreConfig, status_fields  # noqa: E402
from hwsim.hw.rtl.core_layout import read_outputs  # noqa: E402

CORE = CoreConfig(rows=8, cols=8, lanes=4, weights="fp4", group_size=128, k_max=4096,
                  a_lines=256, b_lines=512, o_lines=256, bus_bytes=16)
LATENCY = 8
SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."


class VerilatedCore:
    """The core's Verilog built once with Verilator; `run` executes commands on it."""

    def __init__(self, c: CoreConfig, work: Path) -> None:
        from dataclasses import asdict

        from cocotb_tools.runner import get_runner

        from hwsim.hw.rtl.verilog import write_block

        os.environ["PATH"] = simulator_path()
        os.environ.pop("VERILATOR_ROOT", None)
        os.environ["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include"
        self.c, self.work = c, work
        t = time.perf_counter()
        v_path, _ = write_block("accel_core", asdict(c), work)
        self.verilog_s = time.perf_counter() - t
        t = time.perf_counter()
        self.runner = get_runner("verilator")
        self.runner.build(sources=[v_path], hdl_toplevel="accel_core", build_dir=work / "build",
                          build_args=["-Wno-fatal"], timescale=("1ns", "1ps"))
        self.build_s = time.perf_counter() - t

    def run(self, case) -> tuple[dict, np.ndarray, float]:
        """(result, outputs, wall seconds) of one GEMM case."""
        c = self.c
        lines = -(-case.n // c.rows) * -(-case.m // c.cols) * c.rows
        out_beats = lines * c.beats_per_line(c.o_line_bits)
        spec = [{"desc": case.descriptor, "latency": LATENCY,
                 "dram": {str(a): v for a, v in case.image.beats.items()},
                 "out_region": [case.image.o_addr, case.image.o_addr + out_beats],
                 "limit": 10 * case.line_cycles + 1000}]
        cases, results = self.work / "cases.json", self.work / "results.json"
        cases.write_text(json.dumps(spec))
        t = time.perf_counter()
        self.runner.test(test_module="core_cocotb_tb", hdl_toplevel="accel_core",
                         build_dir=self.work / "build", test_dir=self.work,
                         timescale=("1ns", "1ps"),
                         extra_env={"HWSIM_TB_CASES": str(cases),
                                    "HWSIM_TB_RESULTS": str(results),
                                    "PYTHONPATH": str(_TB)})
        wall = time.perf_counter() - t
        res = json.loads(results.read_text())[0]
        out = read_outputs(c, case.image, {int(a): v for a, v in res["out"].items()})
        return res, out, wall


def report(name: str, case, res: dict, out: np.ndarray, wall: float) -> bool:
    exact = bool(np.array_equal(out, case.expected))
    status = status_fields(res["status"])
    cycles = res["cycles"]
    residual = cycles - case.model_cycles
    print(f"{name}: {case.m}x{case.n}x{case.k} {case.mapping.describe()}  "
          f"done={status['done']}  bit-exact={exact}  cycles {cycles} "
          f"(simulator {case.model_cycles}, +{residual} <= padding bound {case.padding_bound}; "
          f"whole-line model {case.line_cycles})  "
          f"sim wall {wall:.1f} s  ({cycles / wall / 1e3:.1f} kcycles/s)")
    return exact and cycles == case.line_cycles and 0 <= residual <= case.padding_bound


def gemm(core: VerilatedCore, size: int) -> bool:
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (size, size)).astype(np.float16)
    w = rng.normal(0, 0.05, (size, size)).astype(np.float32)
    codes, scale, wtype, _ = quantized_weights(CORE, w, "fp4")
    case = case_from(CORE, a, codes, scale, np.zeros_like(scale), wtype, LATENCY)
    return report("gemm", case, *core.run(case))


def _layer_norm(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu(x):
    from math import erf, sqrt

    return 0.5 * x * (1 + np.vectorize(lambda v: erf(v / sqrt(2)))(x))


def minilm(core: VerilatedCore) -> bool:
    import transformers

    from hwsim.workloads.checkpoints import demo_checkpoint_path, open_checkpoint

    ckpt = open_checkpoint(demo_checkpoint_path())
    tok = transformers.AutoTokenizer.from_pretrained(ckpt.path, local_files_only=True)
    ids = np.asarray(tok(SENTENCE)["input_ids"])
    p = "encoder.layer.0."

    def t(name):
        return ckpt.read(name).astype(np.float32)

    x = (t("embeddings.word_embeddings.weight")[ids]
         + t("embeddings.position_embeddings.weight")[:len(ids)]
         + t("embeddings.token_type_embeddings.weight")[0])
    x = _layer_norm(x, t("embeddings.LayerNorm.weight"), t("embeddings.LayerNorm.bias"))
    ok = True

    def linear(name, inp, on_core):
        nonlocal ok
        w, b = t(p + name + ".weight"), t(p + name + ".bias")
        if not on_core:
            return inp @ w.T + b
        codes, scale, wtype, row = quantized_weights(CORE, w, "fp4")
        a16 = inp.astype(np.float16)
        case = case_from(CORE, a16, codes, scale, np.zeros_like(scale), wtype, LATENCY)
        res, out, wall = core.run(case)
        ok &= report(name, case, res, out, wall)
        # Hardware units (half an E2M1 unit) x the row's float factor, plus the bias.
        units = CORE.families[0].units_per_value
        y = out.astype(np.float64) * 2.0 ** CORE.array.lsb_exp / units * row[None, :]
        return (y + b).astype(np.float32)

    def layer(on_core):
        q, k, v = (linear(f"attention.self.{n}", x, on_core) for n in ("query", "key", "value"))
        heads, dh = 12, x.shape[1] // 12
        qh, kh, vh = (z.reshape(len(ids), heads, dh).transpose(1, 0, 2) for z in (q, k, v))
        s = qh @ kh.transpose(0, 2, 1) / np.sqrt(dh)
        s = np.exp(s - s.max(-1, keepdims=True))
        ctx = ((s / s.sum(-1, keepdims=True)) @ vh).transpose(1, 0, 2).reshape(len(ids), -1)
        h = _layer_norm(linear("attention.output.dense", ctx, on_core) + x,
                        t(p + "attention.output.LayerNorm.weight"),
                        t(p + "attention.output.LayerNorm.bias"))
        inter = _gelu(linear("intermediate.dense", h, on_core))
        return _layer_norm(linear("output.dense", inter, on_core) + h,
                           t(p + "output.LayerNorm.weight"), t(p + "output.LayerNorm.bias"))

    ref, got = layer(False), layer(True)
    cos = float((ref * got).sum() / np.linalg.norm(ref) / np.linalg.norm(got))
    per_token = (ref * got).sum(-1) / np.linalg.norm(ref, axis=-1) / np.linalg.norm(got, axis=-1)
    print(f"MiniLM layer 0 ({len(ids)} tokens): cosine to float32 {cos:.6f} "
          f"(per token min {per_token.min():.6f})")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256, help="m = n = k of the GEMM")
    ap.add_argument("--minilm", action="store_true", help="also run MiniLM layer 0")
    ap.add_argument("--no-gemm", action="store_true", help="skip the GEMM")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        core = VerilatedCore(CORE, Path(tmp))
        print(f"accel_core 8x8: Verilog {core.verilog_s:.1f} s, Verilator build "
              f"{core.build_s:.1f} s, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
        ok = True
        if not args.no_gemm:
            ok &= gemm(core, args.size)
        if args.minilm:
            ok &= minilm(core)
    print("all bit-exact and cycle-exact" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
