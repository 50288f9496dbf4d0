"""Port-level encoding of transactions: model-shaped arrays <-> stream beats of packed ints.

A beat is a dict ``{port name: unsigned int}`` for one input transfer; an output beat is the
dict of output ports read at one transfer. The Amaranth testbenches, the cocotb testbenches and
users driving the generated Verilog all use these.
"""

from __future__ import annotations

import numpy as np

from hwsim.hw.rtl.bitmod import BitModConfig

__all__ = ["bitmod_beats", "pack", "unpack", "unpack_signed"]


def pack(values: np.ndarray, width: int) -> np.ndarray:
    """Pack the last axis of ``values`` (element 0 in the LSBs) into Python ints."""
    values = np.asarray(values)
    mask = (1 << width) - 1
    flat = values.reshape(-1, values.shape[-1])
    packed = [
        sum((int(v) & mask) << (i * width) for i, v in enumerate(row)) for row in flat.tolist()
    ]
    return np.array(packed, dtype=object).reshape(values.shape[:-1])


def unpack(value: int, count: int, width: int) -> list[int]:
    """Split a packed unsigned int into ``count`` unsigned fields."""
    mask = (1 << width) - 1
    return [(int(value) >> (i * width)) & mask for i in range(count)]


def unpack_signed(value: int, count: int, width: int) -> list[int]:
    """Split a packed unsigned int into ``count`` two's-complement fields."""
    half = 1 << (width - 1)
    return [(f ^ half) - half for f in unpack(value, count, width)]


def bitmod_beats(
    config: BitModConfig,
    w: np.ndarray,
    a: np.ndarray,
    scale: np.ndarray,
    scale_neg: np.ndarray,
    wtype: np.ndarray | int = 0,
    mode: np.ndarray | int = 0,
) -> list[dict[str, int]]:
    """Input beats of a `BitModArray` for the arrays `models.bitmod_model` takes (``mode``
    per output goes on each of its beats)."""
    c = config
    w = np.asarray(w)
    n, beats = w.shape[:2]
    ports = {
        "w": pack(w.reshape(n, beats, -1), c.code_bits),
        "a": pack(np.asarray(a).reshape(n, beats, -1), 16),
        "scale": pack(np.asarray(scale), c.scale_bits),
        "scale_neg": pack(np.asarray(scale_neg), 1),
    }
    if c.has_fp:
        wt = np.broadcast_to(np.asarray(wtype), (n, beats, c.rows))
        ports["wtype"] = pack(wt, 3)
    if c.modes > 1:
        md = np.broadcast_to(np.asarray(mode)[..., None], (n, beats)) if np.ndim(mode) else (
            np.full((n, beats), mode))
        ports["mode"] = np.asarray(md, dtype=object)
    return [
        {name: int(v[i, b]) for name, v in ports.items()} for i in range(n) for b in range(beats)
    ]
