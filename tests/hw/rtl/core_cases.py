"""GEMM cases for the accelerator core: operands quantized by `hwsim.dtypes.quantize`, the DRAM
image, the descriptor, the golden outputs and the simulator's cycles for the same mapping."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.dtypes import quantize
from hwsim.hw.rtl.core_config import CoreConfig, mode_code, pack_descriptor
from hwsim.hw.rtl.core_layout import (
    CoreImage,
    core_block_beats,
    core_hardware,
    core_image,
    core_op,
    gemm_model,
    integer_scales,
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
    model_cycles: int        # simulate_op (or the given mapping): byte-exact DRAM traffic
    line_cycles: int         # the simulator's pipeline over the core's whole-line transfers
    line_beats: int          # DRAM beats the core moves (`core_block_beats`)
    padding_bound: int       # line_cycles - model_cycles is at most this (`padding_bound`)


def quantized_weights(c: CoreConfig, w: np.ndarray, family: str):
    """(codes, integer scales, wtype or None, row factors) of float weights ``w[n, k]``."""
    fmt = FORMATS.get(family, family)
    q = quantize(w, fmt, group_size=c.group_size, scale_format="int8")
    s_int, row = integer_scales(q)
    wtype = None if q.types is None else (1 + q.types).astype(np.int64)
    return np.asarray(q.codes, np.int64), s_int, wtype, row


def make_case(c: CoreConfig, m: int, n: int, k: int, latency: int, seed: int = 0,
              mapping: Mapping | None = None, family: str | None = None) -> CoreCase:
    family = family or c.families[0].name
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, (m, k)).astype(np.float16)
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
    line_cycles, line_beats, bound = line_exact(c, hw, op, widths, cost)
    desc = pack_descriptor(
        m=m, n=n, k=k, block_m=mp.block_m, block_n=mp.block_n, block_k=mp.block_k,
        m_outer=int(mp.loop_order == "m_outer"), mode=mode_code(family),
        group_size=c.group_size, a_addr=image.a_addr, b_addr=image.b_addr,
        s_addr=image.s_addr, o_addr=image.o_addr)
    expected = gemm_model(c, a, codes, scale, neg, wtype, family)
    return CoreCase(m, n, k, a, codes, scale, neg, wtype, image, mp, desc, expected,
                    cost.cycles, line_cycles, line_beats, bound)


def line_exact(c: CoreConfig, hw, op, widths, cost) -> tuple[int, int, int]:
    """(cycles, DRAM beats, padding bound) of the GEMM of ``cost`` as the core runs it.

    Cycles: the simulator's own rules (the command's setup, each block's compute from the PE
    kind's cycle model, `pipeline_cycles`, a transfer = beats + latency) with the DRAM
    transfers of whole lines that the core moves (`core_block_beats`) instead of the
    simulator's byte-exact traffic. Padding keeps the blocks and lengthens no transfer, so per
    slot ``max(C, D') - max(C, D) <= D' - D``: the core exceeds the simulator by at most the
    padding's beats summed over the transfers, each less the rounding the simulator already
    charges (``beats - ceil(bytes / bytes_per_cycle)``), and by nothing when m, n, k are
    multiples of cols, rows, lanes and the blocks hold whole groups.
    """
    mps = mappings_of(cost.mapping)
    s = block_schedule(cost.mapping, op.a_bits, op.b_bits, op.out_bits)
    compute = cycle_model(hw.pe.kind).block_compute(s, mps, hw.pe, widths, c.group_size)[0]
    assert int(compute.sum()) == cost.compute_cycles  # no feed limit on line-wide ports
    load, wb = core_block_beats(c, s)
    lat = hw.dram.latency_cycles
    load_c, wb_c = np.where(load > 0, load + lat, 0), np.where(wb > 0, wb + lat, 0)
    cycles = hw.command_cycles + int(pipeline_cycles(compute, load_c, wb_c).sum())
    bound = int(load_c.sum() + wb_c.sum()) - cost.dram_cycles
    return cycles, int(load.sum() + wb.sum()), bound
