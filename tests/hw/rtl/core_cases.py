"""GEMM cases for the accelerator core: operands quantized by `hwsim.dtypes.quantize`, the DRAM
image, the descriptor, the golden outputs and the simulator's cycles for the same mapping; and
the small cores and descriptors the core's test modules share."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from hwsim.dtypes import quantize
from hwsim.hw.rtl.core_config import CoreConfig, CoreError, mode_code, pack_descriptor
from hwsim.hw.rtl.core_layout import (
    CoreImage,
    core_hardware,
    core_image,
    core_op,
    gemm_model,
    gemm_nonfinite,
    integer_scales,
    line_exact,
)
from hwsim.hw.spec import hardware_from_dict
from hwsim.mapping import Mapping, block_schedule
from hwsim.mapping.tiling import mappings_of
from hwsim.sim import pipeline_cycles, simulate_op
from hwsim.sim.engine import simulate_gemm
from hwsim.sim.kind_models import cycle_model
from hwsim.sim.precision import operand_widths

# The dtypes format quantizing the weights of each array family (int8 two-level scales).
FORMATS = {"fp4": "bitmod4", "fp3": "bitmod3"}

# 2 x 2 PEs of 2 lanes, groups of 8, small buffers: every GEMM of the core's tests spans
# several blocks.
SMALL = CoreConfig(rows=2, cols=2, lanes=2, group_size=8, k_max=64, a_lines=16, b_lines=16,
                   o_lines=16, bus_bytes=2)

# One instance running BitMoD's families through the descriptor's mode: fp3, fp4, int4, int8.
MULTI = dataclasses.replace(SMALL, weights="bitmod")

# A line per bus beat (8 x 2 PEs of 4 lanes, 16-byte beats): the write-back's line FIFO is
# three deep and its prefetcher issues a read every cycle.
LINE_BEAT = CoreConfig(rows=8, cols=2, lanes=4, group_size=8, k_max=64, a_lines=16,
                       b_lines=16, o_lines=16, bus_bytes=16)

# A descriptor SMALL runs (fp4, one block), and changes to it SMALL refuses, each with the
# reason code the RTL and `descriptor_error` return.
GOOD = {"m": 4, "n": 4, "k": 16, "block_m": 4, "block_n": 4, "block_k": 16, "mode": 1,
        "group_size": 8}
BAD = [
    ({"m": 0}, CoreError.ZERO_SIZE),
    ({"block_k": 0}, CoreError.ZERO_SIZE),
    ({"mode": 4}, CoreError.BAD_MODE),          # int4: not this core's array
    ({"group_size": 16}, CoreError.BAD_GROUP),
    ({"block_m": 3}, CoreError.BAD_BLOCK),      # not a multiple of cols
    ({"block_k": 12}, CoreError.BAD_BLOCK),     # not whole groups
    ({"block_n": 8}, CoreError.BAD_BLOCK),      # larger than n
    ({"k": 80, "block_k": 80}, CoreError.TOO_BIG),                     # k above k_max
    ({"m": 40, "block_m": 40, "k": 64, "block_k": 64}, CoreError.TOO_BIG),  # buffer half
    # One buffer each, where SMALL allows it (GOOD fills the activation, weight and scale
    # halves exactly). The scale half is the weight half's lanes / group_size, so whole groups
    # overflow both; a ragged last group (block_k = k) overflows the scales alone. No block
    # overflows the weights alone on SMALL: the weight compare is implied by the scale one.
    ({"m": 6, "block_m": 6}, CoreError.TOO_BIG),                         # activations only
    ({"n": 6, "block_n": 6}, CoreError.TOO_BIG),                         # weights and scales
    ({"n": 6, "block_n": 6, "k": 10, "block_k": 10}, CoreError.TOO_BIG),  # scales only
    ({"m": 6, "n": 6, "block_m": 6, "block_n": 6, "k": 8, "block_k": 8},
     CoreError.TOO_BIG),                                                 # output tiles only
]


def refusal_cycles(fields: dict, code: CoreError, config) -> int:
    """Cycles from a bad descriptor's acceptance to its error status: the check's (one), or
    two for a block too big for ``config``'s buffers, which the check's products refuse a
    cycle later (`AccelCore`'s ``cmd_too_big``)."""
    own_fields = code != CoreError.TOO_BIG or {**GOOD, **fields}["k"] > config.k_max
    return 1 if own_fields else 2


@dataclass
class CoreCase:
    """One GEMM on the core."""

    m: int
    n: int
    k: int
    a: np.ndarray            # (m, k) float16
    codes: np.ndarray        # (n, k)
    scale: np.ndarray        # (n, groups) integer group scales
    scale_neg: np.ndarray
    wtype: np.ndarray | None
    image: CoreImage
    mapping: Mapping
    descriptor: int
    expected: np.ndarray     # (m, n) object ints: the golden model
    model_cycles: int        # simulate_op (or the given mapping)
    line_cycles: int         # the simulator's pipeline over the core's whole-line transfers
    line_beats: int          # DRAM beats the core moves (`core_block_beats`)
    nonfinite: bool          # the golden status bit 3: an Inf/NaN activation


def quantized_weights(c: CoreConfig, w: np.ndarray, family: str):
    """(codes, integer scales, wtype or None, row factors) of float weights ``w[n, k]``."""
    fmt = FORMATS.get(family, family)
    q = quantize(w, fmt, group_size=c.group_size, scale_format="int8")
    s_int, row = integer_scales(q)
    wtype = None if q.types is None else (1 + q.types).astype(np.int64)
    return np.asarray(q.codes, np.int64), s_int, wtype, row


def make_case(c: CoreConfig, m: int, n: int, k: int, latency: int, seed: int = 0,
              mapping: Mapping | None = None, family: str | None = None,
              specials: tuple[tuple[int, int, float], ...] = ()) -> CoreCase:
    """A random GEMM; ``specials``: activations ``(i, j, value)`` set after drawing (Inf, NaN)."""
    family = family or c.families[0].name
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, (m, k)).astype(np.float16)
    for i, j, value in specials:
        a[i, j] = value
    w = rng.normal(0, 0.05, (n, k)).astype(np.float32)
    codes, scale, wtype, _ = quantized_weights(c, w, family)
    neg = np.zeros_like(scale)
    return case_from(c, a, codes, scale, neg, wtype, latency, mapping, family)


def case_from(c: CoreConfig, a, codes, scale, neg, wtype, latency: int,
              mapping: Mapping | None = None, family: str | None = None) -> CoreCase:
    family = family or c.families[0].name
    m, k = a.shape
    n = codes.shape[0]
    image = core_image(c, a, codes, scale, neg, wtype)
    hw = hardware_from_dict(core_hardware(c, latency_cycles=latency))
    op = core_op(c, m, n, k, family=family)
    widths = operand_widths(op, hw)
    cost = (simulate_op(op, hw)[0] if mapping is None else
            simulate_gemm(m, n, k, hw, widths, op.a_bits, op.b_bits, op.out_bits,
                          group_size=c.group_size, mapping=mapping))
    mp = cost.mapping
    s = block_schedule(mp, op.a_bits, op.b_bits, op.out_bits)
    compute = cycle_model(hw.pe.kind).block_compute(s, mappings_of(mp), hw.pe, widths,
                                                    c.group_size)[0]
    # No feed limit on the core's line-wide ports: a beat a cycle at most, the scale fields
    # through their own port (`test_core_fast_tiles`: tiles of one term a beat).
    assert int(compute.sum()) == cost.compute_cycles
    line_cycles, line_beats = line_exact(c, s, compute, hw.dram.latency_cycles,
                                         hw.command_cycles, pipeline_cycles)
    desc = pack_descriptor(
        m=m, n=n, k=k, block_m=mp.block_m, block_n=mp.block_n, block_k=mp.block_k,
        m_outer=int(mp.loop_order == "m_outer"), mode=mode_code(family),
        group_size=c.group_size, a_addr=image.a_addr, b_addr=image.b_addr,
        s_addr=image.s_addr, o_addr=image.o_addr)
    expected = gemm_model(c, a, codes, scale, neg, wtype, family)
    return CoreCase(m, n, k, a, codes, scale, neg, wtype, image, mp, desc, expected,
                    cost.cycles, line_cycles, line_beats, gemm_nonfinite(a))


def tb_command(c: CoreConfig, case: CoreCase, latency: int, desc: int | None = None,
               stall: float = 0.0) -> dict:
    """One command for the cocotb testbench (``core_cocotb_tb``): the descriptor (the case's,
    or ``desc``), the case's DRAM image and latency (and `DramModel`'s random ``stall``
    probability), the output region to read back (whole output tiles) and a cycle limit."""
    lines = -(-case.n // c.rows) * -(-case.m // c.cols) * c.rows
    out_beats = lines * c.beats_per_line(c.o_line_bits)
    return {"desc": case.descriptor if desc is None else desc, "latency": latency,
            "stall": stall, "seed": case.m + case.n,
            "dram": {str(a): v for a, v in case.image.beats.items()},
            "out_region": [case.image.o_addr, case.image.o_addr + out_beats],
            "limit": 10 * case.line_cycles + 1000}

