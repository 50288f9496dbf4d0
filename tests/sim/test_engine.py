"""The tile pipeline and energy of one GEMM: a hand-computed case, then invariants."""

import dataclasses
import functools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.dtypes import get_format
from hwsim.errors import HwsimError
from hwsim.hw import hardware_from_dict, load_hardware, with_overrides
from hwsim.mapping import map_gemm, map_gemms
from hwsim.sim import (
    ENERGY_COMPONENTS,
    pipeline_cycles,
    repeated_pipeline_cycles,
    simulate_gemm,
    simulate_gemms,
    simulate_op,
)
from hwsim.sim import pe_cycles as pc
from hwsim.sim.engine import simulate_op_shapes
from hwsim.sim.precision import OperandWidths, operand_widths
from hwsim.sim.run import simulate_ops
from hwsim.workloads import Op


def tiny_hw(pe=None, **over):
    data = {
        "name": "tiny", "clock_mhz": 1000,
        "pe": pe or {"kind": "mac", "lanes": 1, "energy_pj_per_cycle": 1.0, "area_um2": 100},
        "array": {"rows": 8, "cols": 4},
        "buffers": {b: {"kib": 64, "banks": 8, "port_bits": 64, "read_pj": 2.0,
                        "write_pj": 4.0} for b in ("weight", "activation", "output")},
        "dram": {"bytes_per_cycle": 32, "energy_pj_per_bit": 0.5},
    }
    data.update(over)
    return hardware_from_dict(data, source="tiny")


def one_block(m, n, k, hw, count=1):
    """`simulate_gemm` of a 16-bit GEMM in the mapper's least-traffic blocking (one block for
    the small cases here; the simulator runs the fastest, which can split it to overlap the
    load with the compute): the hand-computed pipeline figures below are of that blocking."""
    mp = map_gemm(m, n, k, 16, 16, 16, hw)
    return simulate_gemm(m, n, k, hw, OperandWidths(16, 16), 16, 16, 16, count=count,
                         mapping=mp)


def one_block_shapes(m, n, k, hw, count=1):
    """`simulate_gemms` of `one_block`'s blocking."""
    one = np.ones(1, dtype=np.int64)
    mps = map_gemms(one * m, one * n, one * k, 16, 16, 16, hw)
    return simulate_gemms(one * m, one * n, one * k, hw, OperandWidths(16, 16), 16, 16, 16,
                          count=count, mappings=mps)


def test_pipeline_slots_by_hand():
    # slot 0: load 5; slot 1: max(C0=10, L1=20); slot 2: max(C1=10, W0=3); slot 3: W1=3.
    slots = pipeline_cycles(np.array([10, 10]), np.array([5, 20]), np.array([3, 3]))
    assert slots.tolist() == [5, 20, 10, 3]
    # The control's cycles per slot (the RTL core's slot end, a register of the parts' done
    # registers) come on top of every slot, whichever part bounds it.
    slots = pipeline_cycles(np.array([10, 10]), np.array([5, 20]), np.array([3, 3]), 2)
    assert slots.tolist() == [7, 22, 12, 5]


def test_one_block_mac_gemm_by_hand():
    # m=4, n=8, k=16 fits one block and one 8x4 array tile.
    cost = one_block(4, 8, 16, tiny_hw())
    assert cost.mapping.blocks == (1, 1, 1)
    # compute: 16 MAC steps + 1 IO cycle; load (4x16 + 16x8) x 2 B = 384 B / 32 = 12 cycles;
    # write-back 4x8x2 B = 64 B / 32 = 2 cycles. Slots: 12, 17, 2.
    assert cost.compute_cycles == 16 + pc.ARRAY_IO_LATENCY == 17
    assert cost.cycles == 12 + 17 + 2
    assert cost.stall_cycles == 14
    assert cost.dram_read_bytes == 384 and cost.dram_write_bytes == 64
    # 32 outputs x 16 cycles active at 1 pJ.
    assert cost.energy_pj["pe"] == pytest.approx(512.0)
    # weights: the one tile pass reads 8 x 16 weights x 16 bits = 2048 bits at 2/64 pJ per
    # bit, and 2048 bits were written from DRAM at 4/64 pJ per bit: 64 + 128.
    assert cost.energy_pj["sram_weight"] == pytest.approx(192.0)
    # activations: 4 x 16 x 16 = 1024 bits read and written: 32 + 64.
    assert cost.energy_pj["sram_activation"] == pytest.approx(96.0)
    # outputs: 32 partial sums x 32 bits written (64), 64 B read back for write-back (16).
    assert cost.energy_pj["sram_output"] == pytest.approx(80.0)
    assert cost.energy_pj["dram"] == pytest.approx((384 + 64) * 8 * 0.5)
    assert cost.utilization == pytest.approx(512 / (31 * 32))


def test_a_buffers_own_pj_per_bit_replaces_the_per_access_figure():
    # The one-block GEMM above with the weight buffer read at 0.25 pJ per bit (instead of
    # read_pj 2 / 64-bit port = 1/32): 2048 weight bits read x 0.25 = 512 pJ, plus the
    # unchanged 2048 bits written at 4/64 = 128 pJ -> 640. The other buffers are untouched.
    hw = with_overrides(tiny_hw(), {"buffers.weight.read_pj_per_bit": 0.25})
    assert hw.buffers.weight.read_energy_pj_per_bit == 0.25
    cost = one_block(4, 8, 16, hw)
    assert cost.energy_pj["sram_weight"] == pytest.approx(2048 * 0.25 + 2048 * 4 / 64)
    assert cost.energy_pj["sram_activation"] == pytest.approx(96.0)
    # And on a preset: BitMoD's weight bank (read_pj 26.7 over 256-bit ports) overridden.
    bitmod = with_overrides(load_hardware("bitmod"), {"buffers.weight.read_pj_per_bit": 0.1})
    assert bitmod.buffers.weight.read_energy_pj_per_bit == 0.1
    assert bitmod.buffers.activation.read_energy_pj_per_bit == pytest.approx(26.7 / 256)


def _k_proj(m: int = 4, n: int = 8, k: int = 16, count: int = 1) -> Op:
    # A k_proj-like op: FP16 activations, int8 weights with an FP16 scale per 16 (9 bits
    # stored, 8 of them code), output to an int8 KV cache stored at 9 bits.
    return Op(name="k_proj", op_class="attention", stage="prefill", layer="decoder",
              kind="gemm", m=np.array([m]), n=np.array([n]), k=np.array([k]), count=count,
              a_bits=16.0, b_bits=9.0, out_bits=9.0, b_format=get_format("int8"),
              group_size=16, out_kind="kv", out_format=get_format("int8"))


# DRAM of 8 bytes per cycle: a 64-bit beat.
BEAT_8B = {"bytes_per_cycle": 8, "energy_pj_per_bit": 0.5}


def test_traffic_bytes_accesses_and_energy_per_tensor_and_level_by_hand():
    # The one-block GEMM above as `_k_proj`. Words: DRAM a 64-bit beat; every tiny_hw buffer
    # has 64-bit ports (2 pJ read, 4 pJ write per access: 1/32 and 1/16 pJ per bit); DRAM
    # 0.5 pJ per bit. One block, so one load and one write-back per level.
    row = simulate_ops([_k_proj()], tiny_hw(dram=BEAT_8B)).layers.iloc[0]
    approx = functools.partial(pytest.approx, rel=1e-12, abs=1e-15)  # the 8/9 shares round
    # DRAM: a 4 x 16 x 16 = 1024 bits, b 16 x 8 x 9 = 1152 bits (1024 weights, 128 scales)
    # in; 4 x 8 x 9 = 288 bits out (256 KV, 32 scales).
    dram = {"activations": 1024, "weights": 1024, "kv_write": 256, "scales": 160,
            "outputs": 0, "kv_read": 0}
    # Accesses, whole beats per transfer and per part of it: the load is one burst of
    # 1024 + 1152 = 2176 bits = 34 beats (activations 1024/64 = 16, weights 1024/64 = 16,
    # b's scales 128/64 = 2); the write-back 288 bits = 4.5 -> 5 beats (KV 256/64 = 4, its
    # scales 32 bits -> 1). Scales: 2 + 1 = 3.
    dram_accesses = {"activations": 16, "weights": 16, "kv_write": 4, "scales": 3,
                     "outputs": 0, "kv_read": 0}
    for t, bits in dram.items():
        assert row[f"dram_{t}_bytes"] == approx(bits / 8)
        assert row[f"dram_{t}_beat_accesses"] == dram_accesses[t]
        assert row[f"energy_dram_{t}_uj"] == approx(bits * 0.5e-6)
    assert row["dram_read_beat_accesses"] == 34
    assert row["dram_write_beat_accesses"] == 5
    # Weight buffer: 1152 bits written from DRAM and read once by the tile pass.
    # Activation buffer: 1024 bits written and read. Output buffer: 32 partial sums x 32 bits
    # written (all KV: partial sums have no scales; none read back, one k block), the 288
    # stored bits read for write-back.
    sram = {  # buffer: {tensor: (read bits, write bits)}
        "weight": {"weights": (1024, 1024), "scales": (128, 128)},
        "activation": {"activations": (1024, 1024)},
        "output": {"kv_write": (256, 1024), "scales": (32, 0)},
    }
    # Port accesses (64 bits), per transfer: weight buffer 1152 bits -> 18 written, 18 read
    # (weights 16 + scales 2 each way); activation 16 + 16; output: partial sums 1024 bits
    # -> 16 written, the write-back 288 bits -> 5 read (KV 4, scales 32 bits -> 1).
    port = {  # buffer: (read, write, {tensor: read + write})
        "weight": (18, 18, {"weights": 32, "scales": 4}),
        "activation": (16, 16, {"activations": 32}),
        "output": (5, 16, {"kv_write": 16 + 4, "scales": 1}),
    }
    for b, tensors in sram.items():
        reads, writes, accesses = port[b]
        assert row[f"sram_{b}_read_port_accesses"] == reads
        assert row[f"sram_{b}_write_port_accesses"] == writes
        for t in ("weights", "activations", "outputs", "kv_read", "kv_write", "scales"):
            read, write = tensors.get(t, (0, 0))
            assert row[f"sram_{b}_{t}_bytes"] == approx((read + write) / 8)
            assert row[f"sram_{b}_{t}_port_accesses"] == accesses.get(t, 0)
            assert row[f"energy_sram_{b}_{t}_uj"] == approx((read / 32 + write / 16) * 1e-6)
    # Per tensor over the levels: e.g. scales = DRAM 80 pJ + weight buffer 12 + output 1.
    assert row["energy_tensor_scales_uj"] == approx((80 + 12 + 1) * 1e-6)


def test_a_pipelined_pe_adds_its_fill_to_every_tile():
    # m=8, n=16, k=16 on the 8x4 array of `tiny_hw`: 2 x 2 tiles of 16 MAC steps in one
    # block; each tile pays the operand register and, with 2 stages, 2 cycles of fill.
    for stages in (0, 2):
        hw = tiny_hw(pe={"kind": "mac", "lanes": 1, "pipeline": stages,
                         "energy_pj_per_cycle": 1.0, "area_um2": 1.0})
        cost = one_block(8, 16, 16, hw)
        assert cost.mapping.blocks == (1, 1, 1)
        assert cost.compute_cycles == 4 * (16 + pc.ARRAY_IO_LATENCY + stages)
    with pytest.raises(HwsimError, match=r"pe.pipeline: Input should be less than or equal "
                                         r"to 64"):
        tiny_hw(pe={"kind": "mac", "pipeline": 65, "energy_pj_per_cycle": 1, "area_um2": 1})


def test_a_ragged_transfer_takes_whole_dram_beats_as_its_cycles_do():
    # The write-back of `_k_proj` is 4 x 8 x 9 bits = 36 bytes: on an 8-byte beat 4.5 beats,
    # so 5 accesses, the 5 cycles the engine charges it; the load is 34 beats (by hand above).
    # With 3 cycles of DRAM latency per transfer: busy 34 + 3 + 5 + 3 = 45 cycles.
    hw = tiny_hw(dram={**BEAT_8B, "latency_cycles": 3})
    op = _k_proj()
    costs, _ = simulate_op_shapes(op, hw)
    assert costs.accesses["dram"][0].tolist() == [34]
    assert costs.accesses["dram"][1].tolist() == [5]
    assert costs.dram_cycles.tolist() == [34 + 3 + 5 + 3]
    # The control's cycles per transfer (the RTL core's registered ends) add like latency.
    hw = tiny_hw(dram={**BEAT_8B, "latency_cycles": 3}, transfer_cycles=2)
    assert simulate_op_shapes(op, hw)[0].dram_cycles.tolist() == [34 + 5 + 5 + 5]
    with pytest.raises(HwsimError, match=r"transfer_cycles: Input should be greater than or "
                                         r"equal to 0"):
        tiny_hw(transfer_cycles=-1)
    # The write-back's parts in whole beats of their own: KV 32 bytes = 4, scales 4 bytes = 1.
    assert costs.part_accesses["dram"]["out"].tolist() == [4]


@pytest.mark.parametrize("m, n, k, count", [(3, 5, 256, 1), (37, 45, 300, 2)])
def test_dram_accesses_are_the_beats_the_dram_cycles_charge(m, n, k, count):
    # Ragged GEMMs of many blocks: every load and write-back is whole beats, and with no
    # latency the DRAM's busy cycles are exactly the beats read and written. Each part of a
    # transfer is whole beats of its own: at most one more per part than the transfer.
    hw = tiny_hw(dram=BEAT_8B, buffers={b: {"kib": 1, "banks": 2, "port_bits": 64}
                                        for b in ("weight", "activation", "output")})
    costs, _ = simulate_op_shapes(_k_proj(m, n, k, count), hw)
    reads, writes = costs.accesses["dram"]
    assert (reads + writes).tolist() == costs.dram_cycles.tolist()
    bytes_moved = costs.dram_read_bytes + costs.dram_write_bytes
    assert (reads + writes >= bytes_moved / 8).all()
    parts = sum(costs.part_accesses["dram"].values())
    blocks = math.prod(costs.mappings.mapping(0).blocks)
    assert (parts >= reads + writes).all()
    # Per block at most: a, b, b's scales in the load; out, its scales in the write-back.
    assert (parts <= reads + writes + 5 * blocks * count).all()


def test_narrow_buffer_ports_slow_the_array():
    # One bank of 64 bits: the tile's 8 x 16 weights x 16 bits = 2048 bits need 32 cycles,
    # more than the 17 the PEs take; activations (4 x 16 x 16 = 1024 bits) need 16.
    narrow = {b: {"kib": 64, "banks": 1, "port_bits": 64} for b in
              ("weight", "activation", "output")}
    cost = one_block(4, 8, 16, tiny_hw(buffers=narrow))
    assert cost.compute_cycles == 32
    assert cost.cycles == 12 + 32 + 2


def test_instances_run_back_to_back():
    # Two instances of the case above: slots 12 | max(17, next L 12) | max(17, W 2) | 2 = 48,
    # not 2 x 31: the second load hides under the first compute.
    cost = one_block(4, 8, 16, tiny_hw(), count=2)
    assert cost.cycles == 12 + 17 + 17 + 2
    assert cost.compute_cycles == 34 and cost.macs == 2 * 4 * 8 * 16
    assert cost.energy_pj["pe"] == pytest.approx(2 * 512.0)


def test_cycles_are_affine_in_the_instance_count():
    # The one-block case above: one instance is L + C + W = 12 + 17 + 2 = 31; c >= 2
    # instances are the first load and last write-back, plus c slots of max(C, L + W) = 17
    # minus what the ends do not pay: 12 + 2 + c x 17 + (max(17, 12) - 17) + (max(17, 2) - 17).
    costs = one_block_shapes(4, 8, 16, tiny_hw())
    assert costs.cycles.tolist() == [31]
    assert costs.fixed_cycles.tolist() == [14] and costs.instance_cycles.tolist() == [17]
    for count in (2, 3, 7):
        many = one_block_shapes(4, 8, 16, tiny_hw(), count=count)
        assert many.cycles.tolist() == [14 + count * 17]


def test_command_setup_is_charged_once_per_run():
    # The control's 3 cycles between accepting the command and the first slot: once for one
    # instance or for the two above (one command), as a stall and in the fixed part.
    for count, slots in ((1, 12 + 17 + 2), (2, 12 + 17 + 17 + 2)):
        cost = one_block(4, 8, 16, tiny_hw(command_cycles=3), count=count)
        assert cost.cycles == 3 + slots
        assert cost.stall_cycles == cost.cycles - count * 17
    costs = one_block_shapes(4, 8, 16, tiny_hw(command_cycles=3), count=2)
    assert costs.fixed_cycles.tolist() == [3 + 14]


def test_slot_cycles_are_charged_once_per_slot():
    # The case above with 2 control cycles per slot: one instance has 3 slots (L, C, W), two
    # back to back 4 (the second load hides under the first compute): the fill and the drain
    # are in the fixed part, one slot per instance in the per-instance part.
    for count, slots in ((1, 3), (2, 4)):
        cost = one_block(4, 8, 16, tiny_hw(slot_cycles=2), count=count)
        assert cost.cycles == one_block(4, 8, 16, tiny_hw(), count=count).cycles + 2 * slots
        assert cost.stall_cycles == cost.cycles - count * 17
    costs = one_block_shapes(4, 8, 16, tiny_hw(slot_cycles=2), count=2)
    assert costs.fixed_cycles.tolist() == [14 + 2 * 2]
    assert costs.instance_cycles.tolist() == [17 + 2]


@settings(max_examples=80, deadline=None, derandomize=True)
@given(blocks=st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50)),
                       min_size=1, max_size=6),
       count=st.integers(1, 5), slot=st.integers(0, 3))
def test_repeated_pipeline_equals_concatenated_sequence(blocks, count, slot):
    c, load, w = (np.array(x, dtype=np.int64) for x in zip(*blocks, strict=True))
    explicit = pipeline_cycles(np.tile(c, count), np.tile(load, count), np.tile(w, count),
                               slot)
    assert repeated_pipeline_cycles(c, load, w, count, slot) == explicit.sum()


def test_bitmod_block_counts_dequantization():
    pe = {"kind": "bitmod", "lanes": 4, "energy_pj_per_cycle": 1.0, "area_um2": 1,
          "scale_bits": 8, "dequant_pj_per_cycle": 0.5}
    hw = tiny_hw(pe=pe, array={"rows": 2, "cols": 2})
    w = OperandWidths(16, 3, terms=2, grouped=True)
    cost = simulate_gemm(2, 2, 16, hw, w, 16, 3.25, 16, group_size=8)
    # Two groups of 8: A = 2 steps x 2 terms = 4 < D = 8: 4 + max(4, 8) + 8 = 20, +1 IO.
    assert cost.compute_cycles == 21
    # 4 outputs x 2 groups x 8 dequant cycles x 0.5 pJ.
    assert cost.energy_pj["dequant"] == pytest.approx(4 * 2 * 8 * 0.5)
    assert cost.energy_pj["pe"] == pytest.approx(4 * 20 * 1.0)
    # k=200 in groups of 128 (the least-traffic blocking: one block of the whole k): the last
    # group is partial (72 weights) but is still dequantized: 2 groups, not 200 // 128 = 1.
    # A = ceil(128 / 4) x 2 = 64, A_last = ceil(72 / 4) x 2 = 36: 64 + max(36, 8) + 8 = 108.
    mp = map_gemm(2, 2, 200, 16, 3.25, 16, hw, group_size=128)
    cost = simulate_gemm(2, 2, 200, hw, w, 16, 3.25, 16, group_size=128, mapping=mp)
    assert cost.mapping.blocks == (1, 1, 1)
    assert cost.compute_cycles == 108 + pc.ARRAY_IO_LATENCY
    # 4 outputs x 2 groups x 8 dequant cycles x 0.5 pJ.
    assert cost.energy_pj["dequant"] == pytest.approx(4 * 2 * 8 * 0.5)
    assert cost.energy_pj["pe"] == pytest.approx(4 * 108 * 1.0)


def test_energy_overhead_scales_pe_and_dequantization_energy_only():
    # The wiring/clock factor (1.5 in most presets; the cases above use 1.0) multiplies the
    # PE and dequantizer energies; buffers and DRAM have energies of their own per bit.
    plain = one_block(4, 8, 16, tiny_hw())
    cost = one_block(4, 8, 16, tiny_hw(energy_overhead=1.5))
    # 32 outputs x 16 active cycles x 1 pJ x 1.5.
    assert cost.energy_pj["pe"] == pytest.approx(32 * 16 * 1.0 * 1.5)
    for part in ("sram_weight", "sram_activation", "sram_output", "dram"):
        assert cost.energy_pj[part] == plain.energy_pj[part]
    # `test_bitmod_block_counts_dequantization`'s case: 4 outputs x 20 active cycles x 1 pJ
    # x 1.5; 4 outputs x 2 groups x 8 dequant cycles x 0.5 pJ x 1.5.
    pe = {"kind": "bitmod", "lanes": 4, "energy_pj_per_cycle": 1.0, "area_um2": 1,
          "scale_bits": 8, "dequant_pj_per_cycle": 0.5}
    hw = tiny_hw(pe=pe, array={"rows": 2, "cols": 2}, energy_overhead=1.5)
    cost = simulate_gemm(2, 2, 16, hw, OperandWidths(16, 3, terms=2, grouped=True), 16, 3.25,
                         16, group_size=8)
    assert cost.energy_pj["pe"] == pytest.approx(4 * 20 * 1.0 * 1.5)
    assert cost.energy_pj["dequant"] == pytest.approx(4 * 2 * 8 * 0.5 * 1.5)


def test_a_shared_dequantizer_stall_costs_cycles_not_utilization():
    # 4 outputs on one row of 4 PEs (m=4, n=1 on 2 x 4), k=32 in two groups of 16 on 4 lanes
    # with 2 terms: A = 4 steps x 2 = 8 cycles a group; P PEs share a dequantizer of
    # D = P x 8 cycles a group: A + max(A, D) + D cycles per PE, +1 IO.
    w = OperandWidths(16, 3, terms=2, grouped=True)
    alone = 8 + 8 + 8
    by_pes = {}
    for pes, per_pe in ((1, alone), (2, 8 + 16 + 16), (4, 8 + 32 + 32)):
        pe = {"kind": "bitmod", "lanes": 4, "energy_pj_per_cycle": 1.0, "area_um2": 1,
              "scale_bits": 8, "dequantizer_pes": pes}
        cost = simulate_gemm(4, 1, 32, tiny_hw(pe=pe, array={"rows": 2, "cols": 4}), w,
                             16, 3.25, 16, group_size=16)
        assert cost.mapping.blocks == (1, 1, 1)
        assert cost.compute_cycles == per_pe + pc.ARRAY_IO_LATENCY
        # The 4 PEs work `alone` cycles each however long they wait for the dequantizer.
        assert cost.active_pe_cycles == 4 * alone
        assert cost.energy_pj["pe"] == pytest.approx(4 * alone * 1.0)
        by_pes[pes] = cost
    cycles = [by_pes[p].cycles for p in (1, 2, 4)]
    utilization = [by_pes[p].utilization for p in (1, 2, 4)]
    assert cycles[0] < cycles[1] < cycles[2]
    assert utilization[0] > utilization[1] > utilization[2]


def _op(m, n, k, b_format="int4", group=128, stage="prefill", b_kind="weight", count=1):
    arr = lambda x: np.asarray(x, dtype=np.int64).reshape(-1)  # noqa: E731
    m, n, k = np.broadcast_arrays(arr(m), arr(n), arr(k))
    return Op(name="g", op_class="gemm", stage=stage, layer="gemm", kind="gemm", m=m, n=n,
              k=k, count=count, a_bits=16.0, b_bits=4.0625 if b_format else 16.0,
              out_bits=16.0, b_kind=b_kind, b_format=get_format(b_format) if b_format else None,
              group_size=group if b_format else None, step=np.arange(len(m)))


def test_decode_steps_follow_their_kv_length():
    hw = load_hardware("bitmod")
    kv = np.array([300, 301, 900])
    costs = simulate_op(_op(1, kv, 128, None, stage="decode", b_kind="kv"), hw)
    assert len(costs) == 3
    assert costs[0].cycles <= costs[1].cycles < costs[2].cycles
    assert costs[0].mapping.rows == 64  # the decode array shape


@pytest.mark.parametrize(
    ("preset", "over", "match"),
    [
        ("bitmod", {}, r"bitmod PE \(pe.kind\) cannot run weights format 'nf4': it runs"),
        ("dint", {}, r"activations are 16-bit but pe.act_bits is 8"),
    ],
)
def test_precision_the_pe_cannot_run(preset, over, match):
    hw = with_overrides(load_hardware(preset), over)
    with pytest.raises(HwsimError, match=match):
        simulate_op(_op(16, 64, 128, "nf4"), hw)


def test_a_bitmod_build_runs_only_its_weight_formats():
    # An RTL build states its formats (an FPGA design point does): int8 weights on an fp4-only
    # build are refused with the set named; its own formats run.
    hw = with_overrides(load_hardware("bitmod"), {"pe.weight_formats": ["fp4_e2m1", "bitmod4"]})
    with pytest.raises(HwsimError, match=r"cannot run weights format 'int8': its build runs "
                                         r"fp4_e2m1, bitmod4 \(pe.weight_formats\)"):
        simulate_op(_op(16, 64, 128, "int8"), hw)
    assert simulate_op(_op(16, 64, 128, "bitmod4"), hw)[0].cycles > 0


@pytest.mark.parametrize(("b_format", "b_kind", "described", "advice"), [
    # Attention's FP16 KV cache (a 16-bit width) and FP16 weights: no path in the build's
    # decoder, though the cycle model knows Booth digits of a bit pattern.
    (None, "kv", "kv_cache 16-bit width", "set kv_cache.format to one of them: attention's "
     "matmuls run on the PE array with the KV cache as their second operand, and no workload "
     "key runs them elsewhere"),
    ("fp16", "weight", "weights format 'fp16'",
     "set weights.format (or weights.overrides of this layer) to one of them"),
])
def test_a_bitmod_build_refuses_operands_outside_its_formats(b_format, b_kind, described,
                                                             advice):
    op = dataclasses.replace(_op(1, 300, 128, b_format, stage="decode", b_kind=b_kind),
                             name="attn_qk", group_size=None)
    free = load_hardware("bitmod")
    # Without a stated set the cycle model runs it (Booth digits of 16 bits: 8 terms).
    assert operand_widths(op, free).terms == 8
    built = with_overrides(free, {"pe.weight_formats": ["bitmod4", "int8"]})
    with pytest.raises(HwsimError) as err:
        simulate_op(op, built)
    assert str(err.value) == (f"{built.source}: decode op 'attn_qk': the bitmod PE (pe.kind) "
                              f"cannot run {described}: its build runs bitmod4, int8 "
                              f"(pe.weight_formats); {advice}")
    # A KV cache quantized to a format of the set runs.
    kv8 = dataclasses.replace(op, b_format=get_format("int8"), b_bits=8.25, group_size=64)
    assert simulate_op(kv8, built)[0].cycles > 0


def test_the_rtl_cores_yaml_runs_only_its_builds_formats():
    # The hardware YAML `hwsim fpga accel_core` writes states the build's formats (fp4 here):
    # attention's FP16 KV cache is refused, a KV cache in bitmod4 runs.
    from hwsim.hw.rtl.core_config import CoreConfig
    from hwsim.hw.rtl.core_layout import core_hardware

    c = CoreConfig(rows=2, cols=2, lanes=2, group_size=8, k_max=64, a_lines=16, b_lines=16,
                   o_lines=16, bus_bytes=2)
    hw = hardware_from_dict(core_hardware(c), source="core.yaml")
    op = dataclasses.replace(_op(1, 40, 16, None, stage="decode", b_kind="kv"),
                             name="attn_qk")
    with pytest.raises(HwsimError, match=r"^core.yaml: decode op 'attn_qk': the bitmod PE "
                                         r"\(pe.kind\) cannot run kv_cache 16-bit width: its "
                                         r"build runs fp4_e2m1, fp4_ea_neg, fp4_ea_pos, "
                                         r"fp4_er_neg, fp4_er_pos, bitmod4 \(pe.weight_formats\); "
                                         r"set kv_cache.format to one of them"):
        simulate_op(op, hw)
    kv4 = dataclasses.replace(op, b_format=get_format("bitmod4"), b_bits=5.0, group_size=8)
    assert simulate_op(kv4, hw)[0].cycles > 0


def test_buffer_smaller_than_one_tile_names_the_field():
    hw = with_overrides(load_hardware("bitmod"), {"buffers.activation.kib": 1})
    with pytest.raises(HwsimError, match=r"buffers.activation.kib: 1 KiB cannot hold one"):
        simulate_op(_op(64, 64, 256), hw)


HW_KINDS = [
    {"kind": "mac", "lanes": 2, "energy_pj_per_cycle": 0.7, "area_um2": 1},
    {"kind": "bitmod", "lanes": 4, "energy_pj_per_cycle": 0.5, "area_um2": 1,
     "dequant_pj_per_cycle": 0.1},
    {"kind": "systolic", "dataflow": "ws", "energy_pj_per_cycle": 0.5, "area_um2": 1},
    {"kind": "systolic", "dataflow": "os", "energy_pj_per_cycle": 0.5, "area_um2": 1},
    {"kind": "systolic", "dataflow": "is", "energy_pj_per_cycle": 0.5, "area_um2": 1},
    {"kind": "bipolar", "lanes": 16, "act_bits": 16, "energy_pj_per_cycle": 0.2,
     "area_um2": 1},
]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    pe=st.sampled_from(HW_KINDS),
    m=st.integers(1, 200), n=st.integers(1, 200), k=st.integers(1, 600),
    rows=st.integers(1, 16), cols=st.integers(1, 16),
    bw=st.floats(0.25, 64), latency=st.integers(0, 50), kib=st.sampled_from([4, 16, 256]),
)
def test_invariants(pe, m, n, k, rows, cols, bw, latency, kib):
    hw = tiny_hw(pe=pe, array={"rows": rows, "cols": cols},
                 dram={"bytes_per_cycle": bw, "energy_pj_per_bit": 1.0,
                       "latency_cycles": latency},
                 buffers={b: {"kib": kib, "read_pj": 1.0, "write_pj": 2.0}
                          for b in ("weight", "activation", "output")})
    grouped = pe["kind"] == "bitmod"
    w = OperandWidths(16, 4, terms=2 if grouped else 0, grouped=grouped)
    try:
        cost = simulate_gemm(m, n, k, hw, w, 16, 4.25, 16, group_size=8 if grouped else None)
    except HwsimError:
        return  # a tile does not fit these buffers: reported, nothing to check
    # Never faster than the compute-bound or the memory-bound limit.
    assert cost.cycles >= cost.compute_cycles
    assert cost.cycles >= cost.dram_cycles
    assert cost.cycles >= math.ceil((cost.dram_read_bytes + cost.dram_write_bytes) / bw - 1e-9)
    assert all(v >= 0 for v in cost.energy_pj.values())
    assert set(cost.energy_pj) == set(ENERGY_COMPONENTS)
    assert 0 < cost.utilization <= 1
    # The fastest blocking: never slower than the mapper's least-traffic one.
    gs = 8 if grouped else None
    least = map_gemm(m, n, k, 16, 4.25, 16, hw, group_size=gs)
    assert cost.cycles <= simulate_gemm(m, n, k, hw, w, 16, 4.25, 16, group_size=gs,
                                        mapping=least).cycles
    # More bandwidth never slows the layer down: not in the same blocking (same compute),
    # nor in the fastest one for it (which may be another).
    wide = with_overrides(hw, {"dram.bytes_per_cycle": bw * 2})
    same = simulate_gemm(m, n, k, wide, w, 16, 4.25, 16, group_size=gs, mapping=cost.mapping)
    assert same.cycles <= cost.cycles
    assert same.compute_cycles == cost.compute_cycles
    faster = simulate_gemm(m, n, k, wide, w, 16, 4.25, 16, group_size=gs)
    assert faster.cycles <= same.cycles


def test_int8_activation_format_runs_on_8_bit_pes():
    # W4A8 with activations {format: int8}: 8.125 effective bits (FP16 scale per 128), 8-bit
    # codes. The dint preset's PE takes 8-bit activations, so the op runs at widths 8 x 4.
    op = dataclasses.replace(_op(16, 64, 128, "int4"), a_bits=8.125,
                             a_format=get_format("int8"))
    assert operand_widths(op, load_hardware("dint")) == OperandWidths(8, 4)
    # A width-only 8.125 is still rounded up and refused.
    with pytest.raises(HwsimError, match=r"activations are 9-bit but pe.act_bits is 8"):
        operand_widths(dataclasses.replace(op, a_format=None), load_hardware("dint"))


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    pe=st.sampled_from(HW_KINDS),
    shapes=st.lists(st.tuples(st.integers(1, 90), st.integers(1, 90), st.integers(1, 300)),
                    min_size=1, max_size=6),
    count=st.integers(1, 3), kib=st.sampled_from([1, 4, 64]),
)
def test_many_shapes_at_once_equal_each_alone(pe, shapes, count, kib):
    # The decode steps of an op are costed in one vectorized pass over their concatenated
    # block schedules; every shape must get exactly what it gets alone.
    hw = tiny_hw(pe=pe, buffers={b: {"kib": kib, "read_pj": 1.0, "write_pj": 2.0}
                                 for b in ("weight", "activation", "output")})
    grouped = pe["kind"] == "bitmod"
    w = OperandWidths(16, 4, terms=2 if grouped else 0, grouped=grouped)
    group = 8 if grouped else None
    m, n, k = (np.array(x, dtype=np.int64) for x in zip(*shapes, strict=True))
    try:
        together = simulate_gemms(m, n, k, hw, w, 16, 4.25, 16, group_size=group, count=count)
    except HwsimError:
        return  # a tile does not fit these buffers: reported, nothing to check
    for i, (mi, ni, ki) in enumerate(shapes):
        alone = simulate_gemm(mi, ni, ki, hw, w, 16, 4.25, 16, group_size=group, count=count)
        assert together.cost(i) == alone


@pytest.mark.parametrize(("change", "message"), [
    ({"count": -1}, r"count: expected an integer >= 1, got -1"),  # -3,287 cycles
    ({"count": 2.5}, r"count: expected an integer >= 1, got 2.5"),
    ({"count": True}, r"count: expected an integer >= 1, got True"),
    ({"stage": "Decode"}, r"stage: 'Decode'; allowed: prefill, decode"),  # ran as prefill
    ({"m": 16.5}, r"m: expected an integer, got 16.5"),  # truncated to 16
    ({"m": 0}, r"m: sizes must be >= 1, got 0"),  # an IndexError
    ({"group_size": 0}, r"group_size: expected None or an integer >= 1, got 0"),
    ({"a_bits": -16}, r"a_bits: expected a finite number > 0, got -16"),  # negative bytes
    ({"b_bits": float("nan")}, r"b_bits: expected a finite number > 0, got nan"),
    ({"shares": (2.0, -1.0, 1.0)}, r"shares: expected three numbers in \[0, 1\]"),
])
def test_bad_arguments_of_the_public_gemm_entry_point_are_refused(change, message):
    args = {"m": 16, "n": 256, "k": 256, "hw": load_hardware("bitmod"),
            "widths": OperandWidths(16, 4, 4), "a_bits": 16, "b_bits": 4.125,
            "out_bits": 16, "group_size": 128} | change
    with pytest.raises(HwsimError, match=r"^gemm: " + message):
        simulate_gemm(**args)


def test_numpy_scalars_are_arguments_like_python_numbers():
    hw, widths = load_hardware("bitmod"), OperandWidths(16, 4, 4)
    plain = simulate_gemm(16, 256, 256, hw, widths, 16, 4.125, 16, group_size=128,
                          shares=(1.0, 0.5, 1.0))
    numpy = simulate_gemm(np.int64(16), np.int32(256), 256, hw, widths, np.float32(16),
                          4.125, np.int64(16), group_size=np.int64(128), count=np.int64(1),
                          shares=(np.float32(1.0), np.float32(0.5), np.int64(1)))
    assert numpy.cycles == plain.cycles and numpy.energy_pj == plain.energy_pj


def test_bad_arguments_of_the_public_pipeline_functions_are_refused():
    one = np.array([1, 1])
    with pytest.raises(HwsimError, match=r"count: expected an integer >= 1, got -1"):
        repeated_pipeline_cycles(np.array([3, 4]), one, one, -1)  # returned -5
    with pytest.raises(HwsimError, match=r"one value per block each.*got lengths 3, 1, 3"):
        pipeline_cycles(np.array([1, 2, 3]), np.array([5]), np.array([1, 2, 3]))  # broadcast
    with pytest.raises(HwsimError, match=r"at least one block"):
        repeated_pipeline_cycles(np.array([], np.int64), np.array([], np.int64),
                                 np.array([], np.int64), 1)  # an IndexError


def test_an_rtl_energy_per_format_charges_each_operator_its_weights_format():
    # bitmod-rtl's PE energy is the RTL block's per weight format (`RtlSource.energies`):
    # bitmod3's activity charged to int8 weights read a format sweep's int8 energy 8% high.
    from hwsim.hw._schema import RtlSource
    from hwsim.sim import simulate_workload
    from hwsim.workloads import workload_from_dict

    base = load_hardware("bitmod")
    rtl = RtlSource("bitmod_pe", energy_format="bitmod3",
                    energies={"bitmod3": base.pe.energy_pj_per_cycle, "int8": 0.25})
    priced = dataclasses.replace(base, pe=dataclasses.replace(base.pe, rtl=rtl))

    def run(hw, fmt):
        wl = workload_from_dict({"gemms": [{"name": "g", "m": 16, "n": 64, "k": 256}],
                                 "activations": {"bits": 16},
                                 "weights": {"format": fmt, "group_size": 128}})
        return simulate_workload(wl, hw).layers.iloc[0]

    plain, own = run(base, "int8"), run(priced, "int8")
    assert own["cycles"] == plain["cycles"]
    assert own["energy_pe_uj"] == pytest.approx(
        plain["energy_pe_uj"] * 0.25 / base.pe.energy_pj_per_cycle, rel=1e-12)
    others = [c for c in plain.index if c.startswith("energy_") and c not in
              ("energy_pe_uj", "energy_uj", "energy_leakage_uj")]
    assert own[others].tolist() == plain[others].tolist()
    # A format the block has no energy for (int4 here) keeps pe.energy_pj_per_cycle.
    assert run(priced, "int4")["energy_pe_uj"] == run(base, "int4")["energy_pe_uj"]
