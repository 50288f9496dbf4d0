"""The accelerator core under Verilator: a 256^3 GEMM, and the first MiniLM encoder layer.

    nice flock /work/pnr.lock .venv/bin/python benchmarks/bench_core.py   # the GEMM
    nice .venv/bin/python benchmarks/bench_core.py --minilm   # + MiniLM layer 0's six linears
    ... --work DIR    keep the build in DIR (a rerun of the same Verilog reuses it)
    ... --profile     the testbench's Python time, from cocotb's profiler

Target: the GEMM simulated in < 60 s wall (the build, 2-3 minutes of one core, is reported
apart; build it under the team's lock). The 8x8 core of the registry's defaults (the core the
READMEs describe: fp4, 2 lanes, groups of 128, k_max 16384, 7 PE stages, the widest DRAM beat
dividing every line, 8 bytes) is generated, built with Verilator (`rtl_env.build_verilog`: only
the ports public, C++ at ``--cxx-opt``, -O1 by default: -O2 compiles 40% longer for a 10% faster
model) and driven by the cocotb testbench of the tests (`tests/hw/rtl/core_cocotb_tb.py`, DRAM model
`hwsim.hw.rtl.core_dram`). Printed: build and simulation time (wall and CPU), the core's
command-to-done cycles against `hwsim.sim` for the same hardware YAML and mapping, the DRAM
beats moved, whether the outputs equal the golden model bit for bit, and (MiniLM) the cosine of
the layer's output to the float32 layer. MiniLM: real weights of the shipped checkpoint
quantized to bitmod4 with int8 two-level scales, a real tokenized sentence; attention, GELU,
LayerNorm in NumPy.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

_TB = Path(__file__).resolve().parents[1] / "tests" / "hw" / "rtl"
sys.path.insert(0, str(_TB))

from core_cases import case_from, quantized_weights, tb_command  # noqa: E402
from rtl_env import build_verilog, simulator_path, write_design  # noqa: E402

from hwsim.hw.rtl.core_config import CoreConfig, status_fields  # noqa: E402
from hwsim.hw.rtl.core_layout import read_outputs  # noqa: E402
from hwsim.hw.rtl.registry import resolve_params  # noqa: E402

CORE = CoreConfig(**resolve_params("accel_core", {"rows": 8, "cols": 8}))
LATENCY = 8
SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."


class VerilatedCore:
    """The core's Verilog built once with Verilator; `run` executes commands on it."""

    def __init__(self, c: CoreConfig, work: Path, cxx_opt: str, profile: bool) -> None:
        os.environ["PATH"] = simulator_path()
        os.environ.pop("VERILATOR_ROOT", None)
        self.c, self.work, self.profile = c, work, profile
        t = time.perf_counter()
        paths = write_design("accel_core", asdict(c), work)
        self.verilog_s = time.perf_counter() - t
        t, cpu = time.perf_counter(), _children_cpu()
        self.runner, self.build_dir, _ = build_verilog(*paths, "verilator", cxx_opt)
        self.build_s, self.build_cpu_s = time.perf_counter() - t, _children_cpu() - cpu

    def run(self, case) -> tuple[dict, np.ndarray, float, float]:
        """(result, outputs, wall seconds, CPU seconds) of one GEMM case."""
        cases, results = self.work / "cases.json", self.work / "results.json"
        cases.write_text(json.dumps([tb_command(self.c, case, LATENCY)]))
        env = {"HWSIM_TB_CASES": str(cases), "HWSIM_TB_RESULTS": str(results),
               "PYTHONPATH": str(_TB)}
        if self.profile:
            env["COCOTB_ENABLE_PROFILING"] = "1"
        t, cpu = time.perf_counter(), _children_cpu()
        self.runner.test(test_module="core_cocotb_tb", hdl_toplevel="accel_core",
                         build_dir=self.build_dir, test_dir=self.work,
                         timescale=("1ns", "1ps"), extra_env=env)
        wall, cpu = time.perf_counter() - t, _children_cpu() - cpu
        if self.profile:
            _print_profile(self.work / "cocotb.pstat", wall)
        res = json.loads(results.read_text())[0]
        out = read_outputs(self.c, case.image, {int(a): v for a, v in res["out"].items()})
        return res, out, wall, cpu


def _children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def _print_profile(path: Path, wall: float) -> None:
    """Python's share of the simulation (cocotb profiles its callbacks), the rest being the
    simulator: the compiled model, VPI and the process' start."""
    stats = pstats.Stats(str(path))
    print(f"  profile: Python in cocotb callbacks {stats.total_tt:.1f} s of {wall:.1f} s wall; "
          "top functions by own time:")
    stats.sort_stats("tottime")
    width = max(stats.total_tt, 1e-9)
    for func in stats.fcn_list[:8]:
        calls, _, tottime, _, _ = stats.stats[func]
        print(f"    {tottime:6.2f} s {100 * tottime / width:4.0f}%  {calls:>9} calls  "
              f"{func[2]} ({Path(func[0]).name}:{func[1]})")


def report(name: str, case, res: dict, out: np.ndarray, wall: float, cpu: float) -> bool:
    exact = bool(np.array_equal(out, case.expected))
    status = status_fields(res["status"])
    cycles = res["cycles"]
    print(f"{name}: {case.m}x{case.n}x{case.k} {case.mapping.describe()}  "
          f"done={status['done']}  nonfinite={status['nonfinite']}  bit-exact={exact}  "
          f"cycles {cycles} "
          f"(simulator {case.model_cycles}, whole-line model {case.line_cycles}), "
          f"DRAM beats {res['beats']} "
          f"(model {case.line_beats})  sim wall {wall:.1f} s, CPU {cpu:.1f} s  "
          f"({cycles / wall / 1e3:.1f} kcycles/s)")
    return exact and cycles == case.line_cycles == case.model_cycles \
        and res["beats"] == case.line_beats and status["nonfinite"] == case.nonfinite


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
        res, out, wall, cpu = core.run(case)
        ok &= report(name, case, res, out, wall, cpu)
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
    ap.add_argument("--cxx-opt", default="-O1", help="C++ optimisation of the model")
    ap.add_argument("--work", type=Path, help="build folder to keep (reused when up to date)")
    ap.add_argument("--profile", action="store_true", help="profile the testbench's Python")
    ap.add_argument("--minilm", action="store_true", help="also run MiniLM layer 0")
    ap.add_argument("--no-gemm", action="store_true", help="skip the GEMM")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        core = VerilatedCore(CORE, work, args.cxx_opt, args.profile)
        print(f"accel_core 8x8: Verilog {core.verilog_s:.1f} s, Verilator build "
              f"{core.build_s:.1f} s wall ({core.build_cpu_s:.1f} s CPU, C++ {args.cxx_opt}), "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
        ok = True
        if not args.no_gemm:
            ok &= gemm(core, args.size)
        if args.minilm:
            ok &= minilm(core)
    print("all bit-exact and cycle-exact" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
