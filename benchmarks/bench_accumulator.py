"""Error of the BitMoD PE's two group accumulators against float64, on real MiniLM operands.

    .venv/bin/python benchmarks/bench_accumulator.py [--tokens 16] [--area]

Weights: all-MiniLM-L6-v2's layer-0 query projection (384 x 384), quantized by
`hwsim.dtypes.quantize` to bitmod3 / bitmod4 (groups of 128, two-level INT8 scales: an integer
group scale k in 0..255 per group and a float row factor); activations: that layer's real
inputs (`hwsim.hw.asic.operands.load_operands`). The golden model (bit-exact to the RTL) runs
every output with ``accumulator=exact`` and ``=bitmod``; the reference is the float64 GEMM of
the same decoded codes, integer scales and row factors, so the error is the PE's arithmetic
alone. With ``--area``: LUT4s, flip-flops and gate depth of each build (Yosys generic).
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from hwsim.dtypes import get_format, quantize
from hwsim.hw.asic.operands import load_operands
from hwsim.hw.rtl.bitmod import BitModConfig
from hwsim.hw.rtl.models import bitmod_model
from hwsim.hw.rtl.terms import dtypes_name, get_family


def _case(fmt: str, tokens: int):
    ops = load_operands(tokens=tokens)
    w = ops.weights.astype(np.float32)
    a = ops.activations[:tokens].astype(np.float16)
    q = quantize(w, fmt, 128, scale_format="int8")
    row = q.scales.max(axis=1) / 255.0  # the row factor (float)
    k_int = np.clip(np.rint(q.scales / row[:, None]), 0, 255).astype(np.int64)
    family = get_family(f"fp{get_format(fmt).bits}")  # bitmod3 -> fp3, bitmod4 -> fp4
    codes = q.codes.astype(np.int64)
    types = q.types.astype(np.int64)  # per group: the selector is 1 + type
    # Decoded values of each code under its group's selector (format units).
    groups = np.repeat(types, 128, axis=1)
    vals = np.zeros(codes.shape)
    for t in np.unique(types):
        dec = get_format(dtypes_name(family, int(t) + 1)).decode(codes)
        vals = np.where(groups == t, dec, vals)
    w_ref = vals * np.repeat(k_int, 128, axis=1) * row[:, None]
    ref = w_ref @ a.astype(np.float64).T  # (rows, tokens)
    return ops.source, family, codes, types, k_int, row, a, ref


def _run(accumulator: str, fmt: str, tokens: int):
    source, family, codes, types, k_int, row, a, ref = _case(fmt, tokens)
    rows, kdim = codes.shape
    c = BitModConfig(weights=family.name, lanes=4, group_size=128, k=kdim,
                     accumulator=accumulator)
    # Output (r, t) = PE output n = r * tokens + t: one row of weights against one token.
    w = np.repeat(codes.reshape(rows, c.beats, 1, c.lanes), tokens, axis=0)
    act = np.tile(a.view(np.uint16).reshape(tokens, c.beats, 1, c.lanes), (rows, 1, 1, 1))
    beat_group = np.minimum(np.arange(c.beats) // c.beats_full, c.groups - 1)
    scale = np.repeat(k_int[:, beat_group][:, :, None], tokens, axis=0)
    wtype = np.repeat((1 + types)[:, beat_group][:, :, None], tokens, axis=0)
    res = bitmod_model(c, w, act, scale, np.zeros_like(scale), wtype)
    out = res.out.reshape(rows, tokens).astype(np.float64)
    got = out * 2.0 ** c.lsb_exp / family.units_per_value * row[:, None]
    rel = np.abs(got - ref) / np.maximum(np.abs(ref), 1e-30)
    return source, c, rel, np.sqrt(np.mean((got - ref) ** 2)) / np.sqrt(np.mean(ref ** 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--area", action="store_true")
    args = parser.parse_args()
    print(f"{'format':8} {'accumulator':12} {'median rel':>11} {'max rel':>10} "
          f"{'rel RMS':>10}")
    source = ""
    for fmt in ("bitmod3", "bitmod4"):
        for acc in ("exact", "bitmod"):
            source, _, rel, rms = _run(acc, fmt, args.tokens)
            print(f"{fmt:8} {acc:12} {np.median(rel):11.2e} {rel.max():10.2e} {rms:10.2e}",
                  flush=True)
    print(f"operands: {source}, {args.tokens} tokens x 384 outputs, k = 384")
    if args.area:
        from hwsim.hw.fpga import synth_block

        print(f"\n{'build':34} {'LUT4':>6} {'FF':>6} {'gate depth':>11}")
        for acc in ("exact", "bitmod"):
            params = {"weights": "bitmod", "pipeline": 5, "accumulator": acc}
            with tempfile.TemporaryDirectory() as tmp:
                r = synth_block("bitmod_pe", params, "generic", tmp)
            print(f"{'bitmod_pe weights=bitmod p5 ' + acc:34} {r.resources['logic']:6} "
                  f"{r.resources['ff']:6} {r.gate_depth:11}", flush=True)


if __name__ == "__main__":
    main()
