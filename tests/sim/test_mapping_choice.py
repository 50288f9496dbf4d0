"""The simulator runs each GEMM in the fastest of the mapper's blockings (ties: the mapper's
order, least DRAM traffic first). It finds it by branch and bound over `gemm_candidates`
(`fastest_mappings`: floors, then exact cycles) and costs a blocking on its representative
blocks (`representative_blocks`); both are held here to costing every candidate block by
block."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hwsim.hw import hardware_from_dict, load_hardware
from hwsim.hw.rtl.core_config import CoreConfig
from hwsim.hw.rtl.core_layout import core_block_beats, core_hardware, core_op, line_exact
from hwsim.hw.rtl.registry import resolve_params
from hwsim.mapping import block_schedule, block_schedules, gemm_candidates, map_gemm
from hwsim.mapping.tiling import CHOSEN_BY_CYCLES, CHOSEN_BY_TRAFFIC, mappings_of
from hwsim.sim import pipeline_cycles, simulate_gemm, simulate_op, simulate_workload
from hwsim.sim.engine import (
    _cost_blocks,
    _cost_mappings,
    cycles_floor,
    dram_floor,
    fastest_mappings,
)
from hwsim.sim.kind_models import cycle_model
from hwsim.sim.precision import OperandWidths, operand_widths
from hwsim.workloads import workload_from_dict

# The small core of the RTL tests and the 8x8 BitMoD core `hwsim fpga accel_core -p rows=8
# -p cols=8 -p weights=bitmod` builds (8-bit code slots, 16-byte beats, groups of 128).
SMALL = CoreConfig(rows=2, cols=2, lanes=2, group_size=8, k_max=64, a_lines=16, b_lines=16,
                   o_lines=16, bus_bytes=2)
# Five PE stages (the registry's default has seven since 2026-12-03: two cycles more per tile
# make 1x16x1024 blocks the fastest, 8.4% fewer cycles than the least traffic's for 77% more
# bytes); the figures below are those of five, computed by hand.
CORE = CoreConfig(**resolve_params("accel_core", {"rows": 8, "cols": 8, "weights": "bitmod",
                                                  "pipeline": 5}))


def test_the_8x8_cores_decode_gemv_runs_in_its_fastest_blocking():
    # Decode GEMV 1x4096x4096 (bitmod4 weights as the core stores them). The least DRAM
    # traffic is 1x128x128 blocks, activations fetched once per n block; 32x512 blocks take
    # 7.4% fewer cycles for 33% more bytes: the simulator runs those.
    hw = hardware_from_dict(core_hardware(CORE), source="core.yaml")
    op = core_op(CORE, 1, 4096, 4096, family="fp4")
    widths = operand_widths(op, hw)
    least = map_gemm(1, 4096, 4096, op.a_bits, op.b_bits, op.out_bits, hw,
                     group_size=CORE.group_size)
    assert least.describe() == f"n>m>k 1x128x128 on 8x8, a x32 b x1; {CHOSEN_BY_TRAFFIC}"
    slow = simulate_gemm(1, 4096, 4096, hw, widths, op.a_bits, op.b_bits, op.out_bits,
                         group_size=CORE.group_size, mapping=least)
    # (Its 1,024 blocks make 1,026 slots, each a cycle more since the core's slot_cycles.)
    assert (slow.cycles, slow.dram_read_bytes) == (2_328_733 + 1_026, 19_136_512)
    cost = simulate_op(op, hw)[0]
    assert cost.mapping.describe() == f"n>m>k 1x32x512 on 8x8, a x128 b x1; {CHOSEN_BY_CYCLES}"
    # (Two more than before the core's transfer_cycles: the fill's load and the drain's
    # write-back; every other slot of either blocking is compute-bound. One more since the
    # command's setup is three cycles, `CORE_SETUP_CYCLES`; 1,026 more, a cycle per slot,
    # since `CORE_SLOT_CYCLES`.)
    assert cost.cycles == 2_156_317 + 1_026
    # By hand: 128 x 8 blocks, each loads 1 activation line-row of 512 / 2 lanes lines
    # (8 x 2 FP16 each: 8,192 B), 4 weight line-rows (4 x 256 lines of 8 x 2 slots: 16,384 B)
    # and 4 x 4 scale lines (8 x 16 bits: 256 B).
    assert cost.dram_read_bytes == 1024 * (8_192 + 16_384 + 256) == 25_427_968
    # The RTL's own cycle model (whole lines, every block) agrees for the blocking chosen:
    # the core, which follows the mapping it is given, takes these cycles.
    s = block_schedule(cost.mapping, op.a_bits, op.b_bits, op.out_bits)
    compute = cycle_model(hw.pe.kind).block_compute(s, mappings_of(cost.mapping), hw.pe, widths,
                                                    CORE.group_size)[0]
    cycles, beats = line_exact(CORE, s, compute, hw.dram.latency_cycles, hw.command_cycles,
                               pipeline_cycles)
    assert cycles == cost.cycles
    assert beats == sum(x.sum() for x in core_block_beats(CORE, s))
    assert beats * CORE.bus_bytes == cost.dram_read_bytes + cost.dram_write_bytes


def test_layers_say_what_chose_the_blocking():
    w = workload_from_dict({"gemms": [{"name": "gemm", "m": 64, "n": 256, "k": 512}],
                            "activations": {"bits": 16},
                            "weights": {"format": "bitmod4", "group_size": 128}})
    row = simulate_workload(w, load_hardware("bitmod")).layers.iloc[0]
    assert row["mapping"].endswith(f"; {CHOSEN_BY_CYCLES}")


def _descriptions():
    small = hardware_from_dict(core_hardware(SMALL), source="small.yaml")
    tiny = {
        "name": "tiny", "clock_mhz": 1000,
        "pe": {"kind": "mac", "lanes": 2, "energy_pj_per_cycle": 1.0, "area_um2": 1},
        "array": {"rows": 4, "cols": 2},
        "buffers": {b: {"kib": 1, "banks": 2, "port_bits": 64, "read_pj": 1.0,
                        "write_pj": 2.0} for b in ("weight", "activation", "output")},
        "dram": {"bytes_per_cycle": 4, "latency_cycles": 3, "energy_pj_per_bit": 0.5},
    }
    systolic = dict(tiny, pe={"kind": "systolic", "dataflow": "ws", "energy_pj_per_cycle": 1.0,
                              "area_um2": 1})
    # (The bitmod one with a command queue and control cycles per transfer and per slot.)
    bitmod = dict(tiny, pe={"kind": "bitmod", "lanes": 4, "energy_pj_per_cycle": 0.5,
                            "area_um2": 1, "dequant_pj_per_cycle": 0.1},
                  command_cycles=5, transfer_cycles=1, slot_cycles=2,
                  dram={"bytes_per_cycle": 2, "energy_pj_per_bit": 0.5})
    return {
        "small core": (small, OperandWidths(16, 4, terms=2, grouped=True), 8,
                       small.core.stored_bits(), 64),
        "mac": (hardware_from_dict(tiny, source="tiny"), OperandWidths(16, 8), None,
                (16, 8, 16), 300),
        "systolic": (hardware_from_dict(systolic, source="tiny"), OperandWidths(16, 8), None,
                     (16, 8, 16), 300),
        "bitmod": (hardware_from_dict(bitmod, source="tiny"),
                   OperandWidths(16, 4, terms=2, grouped=True), 8, (16, 4.25, 16), 300),
    }


def _assert_same(got, want, name: str) -> None:
    """``got`` equals ``want`` (arrays, or dicts and tuples of them), floats to 1e-12."""
    if want is None:
        assert got is None, name
    elif isinstance(want, dict):
        assert got.keys() == want.keys(), name
        for key in want:
            _assert_same(got[key], want[key], f"{name}[{key}]")
    elif isinstance(want, tuple):
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _assert_same(g, w, f"{name}[{i}]")
    else:
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("name", ["small core", "mac", "systolic", "bitmod"])
def test_the_choice_is_the_fastest_candidate_costed_block_by_block(name):
    hw, widths, group, (a_bits, b_bits, out_bits), k_top = _descriptions()[name]
    rng = np.random.default_rng(17)
    for _ in range(6):
        m, n = (int(x) for x in rng.integers(1, 40, 2))
        k = int(rng.integers(1, k_top + 1))
        count = int(rng.choice([1, 3]))
        one = np.ones(1, dtype=np.int64)
        cands = gemm_candidates(one * m, one * n, one * k, a_bits, b_bits, out_bits, hw,
                                group_size=group)
        mps = cands.mappings
        # Every candidate block by block (the schedule's every block, weight 1).
        s, offsets = block_schedules(mps, a_bits, b_bits, out_bits)
        full = _cost_blocks(mps, s, offsets, hw, widths, a_bits, b_bits, group, count,
                            (1.0, 1.0, 1.0))
        # On representative blocks: every figure equal.
        rep = _cost_mappings(mps, hw, widths, a_bits, b_bits, out_bits, group, count,
                             (1.0, 1.0, 1.0))
        for field in dataclasses.fields(full):
            if field.name != "mappings":
                _assert_same(getattr(rep, field.name), getattr(full, field.name), field.name)
        # The floors never exceed the cycles.
        floors = np.maximum(cycles_floor(mps, hw, widths, a_bits, b_bits, out_bits, group,
                                         count), dram_floor(mps, hw, count))
        assert (floors <= full.cycles).all()
        # The choice: the fewest cycles, then the mapper's order (least traffic first).
        best = np.lexsort((cands.rank, full.cycles))[0]
        chosen = fastest_mappings(cands, hw, widths, a_bits, b_bits, out_bits, group, count)
        assert chosen.mapping(0) == dataclasses.replace(mps.mapping(best),
                                                        chosen_by=CHOSEN_BY_CYCLES)
        assert simulate_gemm(m, n, k, hw, widths, a_bits, b_bits, out_bits,
                             group_size=group, count=count).cycles == full.cycles[best]
