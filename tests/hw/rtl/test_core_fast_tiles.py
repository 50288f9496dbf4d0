"""The core at its shortest tiles: int2 weights (one term a beat), one scale bit, no PE
stages, so a one-beat tile takes 3 cycles (a term, a dequantizer cycle, the operand register)
and a k block's partial sums can come back 3 cycles after the previous block's; and with one
PE stage (`FAST_STAGED`), 4 cycles.

Cycles too: a tile of one term a beat is shorter than its weight codes and scale fields
would take through the weight buffer's port alone, but the core reads the scales through the
scale buffer's own port, and so does the simulator on the core's description (its weight port
carries the code slots only), so these builds are held to `simulate_op` like the others.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from core_bench import run_commands
from core_cases import case_from, quantized_weights

from hwsim.hw.rtl.accel_core import AccelCore
from hwsim.hw.rtl.core_config import (
    CoreConfig,
    CoreError,
    descriptor_error,
    mode_code,
    pack_descriptor,
)
from hwsim.hw.rtl.core_dram import DramModel
from hwsim.hw.rtl.core_layout import core_image, gemm_model, read_outputs

FAST = CoreConfig(rows=2, cols=1, lanes=2, weights="int2", scale_bits=1, pipeline=0,
                  group_size=2, k_max=32, a_lines=8, b_lines=8, o_lines=8, bus_bytes=0)


@pytest.mark.parametrize(("m", "n", "k", "block_n", "block_k", "latency"), [
    # k in blocks of 7 beats and 1: the one-beat block's partial sums reach the drain 3
    # cycles after the long block's, so each row's old sum is read at the edge that writes it.
    (1, 3, 15, 2, 14, 1),
    (1, 2, 15, 2, 14, 0),
])
def test_a_one_beat_k_block_right_after_another_adds_the_written_sums(m, n, k, block_n,
                                                                     block_k, latency):
    assert _outputs_exact(FAST, m, n, k, m, block_n, block_k, latency, "int2", seed=n + k)


def _outputs_exact(c, m, n, k, block_m, block_n, block_k, latency, weights, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, (m, k)).astype(np.float16)
    codes, scale, wtype, _ = quantized_weights(c, rng.normal(0, 0.05, (n, k)), weights)
    scale = np.minimum(scale, (1 << c.scale_bits) - 1)   # the build's scale bits
    neg = np.zeros_like(scale)
    image = core_image(c, a, codes, scale, neg, wtype)
    fields = {"m": m, "n": n, "k": k, "block_m": block_m, "block_n": block_n,
              "block_k": block_k, "mode": mode_code(weights), "group_size": c.group_size}
    assert descriptor_error(c, **fields) == CoreError.NONE
    desc = pack_descriptor(**fields, m_outer=0, a_addr=image.a_addr, b_addr=image.b_addr,
                           s_addr=image.s_addr, o_addr=image.o_addr)
    dram = DramModel(image.beats, latency)
    run = run_commands(AccelCore(c), dram, [desc])[0]
    assert run.status == {"busy": 0, "done": 1, "error": 0, "nonfinite": 0, "reason": 0}
    expected = gemm_model(c, a, codes, scale, neg, wtype)
    return (read_outputs(c, image, dram.mem) == expected).all()


def _at_row_limit(weights, scale_bits, cols=2, lanes=1, group_size=1):
    # rows = scale_bits + terms + 1: a one-beat tile's result comes `rows` cycles after
    # the previous tile's, as that tile's drain reaches its last row.
    return CoreConfig(rows=4, cols=cols, lanes=lanes, weights=weights, scale_bits=scale_bits,
                      pipeline=0, group_size=group_size, k_max=32, a_lines=8, b_lines=8,
                      o_lines=8, bus_bytes=0)


@pytest.mark.parametrize(("c", "weights", "m", "n", "k", "block_k", "latency"), [
    # A k block of 4 beats, then one of 1 beat: the short block's result comes while the
    # long block's drain is at its last but one row, and its first row's old sum is read then.
    (_at_row_limit("int2", 2), "int2", 1, 1, 5, 4, 0),
    (_at_row_limit("int2", 2), "int2", 1, 1, 5, 4, 3),
    (_at_row_limit("int2", 2), "int2", 1, 1, 13, 4, 1),
    (_at_row_limit("int3", 1), "int3", 1, 1, 5, 4, 1),
    (_at_row_limit("int2", 2, cols=1, lanes=2, group_size=2), "int2", 1, 1, 10, 8, 1),
])
def test_a_one_beat_k_block_at_the_row_limit_reads_its_own_first_line(c, weights, m, n, k,
                                                                      block_k, latency):
    assert c.rows == c.scale_bits + min(f.terms for f in c.families) + 1
    assert _outputs_exact(c, m, n, k, m, n, block_k, latency, weights, seed=3)


# Fast tiles beyond the one-beat ones: fp4 with one scale bit and groups of one beat (a group
# accumulates in 2 cycles, its codes and scale field are 3 cycles of the weight port), and
# int2 on a longer group (one beat a cycle, a 16-bit scale field per 64 weights).
FP4_SHORT = CoreConfig(rows=2, cols=2, lanes=2, weights="fp4", scale_bits=1, pipeline=0,
                       group_size=2, k_max=32, a_lines=8, b_lines=8, o_lines=8, bus_bytes=0)
FAST_STAGED = dataclasses.replace(FAST, pipeline=1)
INT2_LONG = CoreConfig(rows=2, cols=2, lanes=2, weights="int2", scale_bits=8, pipeline=0,
                       group_size=64, k_max=1024, a_lines=256, b_lines=256, o_lines=8,
                       bus_bytes=0)


@pytest.mark.parametrize(("c", "m", "n", "k", "latency"), [
    # simulate_op charged the scale fields to the weight port: 268 cycles, the core takes 223
    # (these figures at slot_cycles 0: the cycle per slot, hw/rtl/README.md (35), adds B + 2).
    (FAST, 2, 4, 32, 1),
    (FAST, 3, 5, 21, 1),
    (_at_row_limit("int2", 2, group_size=1), 4, 8, 16, 2),   # was 490, the core's 458
    (_at_row_limit("int2", 2, group_size=1), 3, 5, 7, 1),
    (FP4_SHORT, 4, 4, 16, 1),                                 # was 229, the core's 221
    (FP4_SHORT, 5, 3, 22, 2),
    (INT2_LONG, 2, 2, 1024, 1),                               # was 2885, the core's 2878
    # One PE stage: one-beat tiles of 4 cycles, the tile successor read two cycles after the
    # tile counters step, a cycle after its step tests' registers load (the bench checks it
    # at every tile's last beat).
    (FAST_STAGED, 3, 5, 2, 1),
    (FAST_STAGED, 5, 3, 2, 0),
    (FAST_STAGED, 3, 5, 21, 1),
])
def test_fast_tiles_take_the_simulators_cycles(c, m, n, k, latency):
    family = c.families[0].name
    rng = np.random.default_rng(m * 100 + n + k)
    a = rng.normal(0, 1, (m, k)).astype(np.float16)
    codes, scale, wtype, _ = quantized_weights(c, rng.normal(0, 0.05, (n, k)), family)
    scale = np.minimum(scale, (1 << c.scale_bits) - 1)   # the build's scale bits
    # case_from holds the simulator's compute to the tile rule (no feed limit) and gives
    # the whole-line cycles.
    case = case_from(c, a, codes, scale, np.zeros_like(scale), wtype, latency, family=family)
    dram = DramModel(case.image.beats, latency)
    run = run_commands(AccelCore(c), dram, [case.descriptor])[0]
    assert run.status == {"busy": 0, "done": 1, "error": 0, "nonfinite": 0, "reason": 0}
    assert (read_outputs(c, case.image, dram.mem) == case.expected).all()
    assert run.cycles == case.line_cycles == case.model_cycles
