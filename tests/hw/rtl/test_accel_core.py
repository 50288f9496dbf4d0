"""The accelerator core in Amaranth's simulator: whole GEMMs bit-exact against the golden model,
command-to-done cycles against `hwsim.sim` for the same hardware and mapping, bad descriptors.

Cycle rule (hw/rtl/README.md): the core's cycles are the simulator's pipeline over the whole
lines the core moves (`core_layout.line_exact`; the hardware YAML charges the command's setup
cycles), exactly, which is `simulate_op` itself: on the core's description the simulator
charges those lines, the zero padding of ragged edges included.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from core_bench import run_commands
from core_cases import BAD, GOOD, LINE_BEAT, MULTI, SMALL, make_case, refusal_cycles

from hwsim.errors import HwsimError
from hwsim.hw.rtl.accel_core import AccelCore
from hwsim.hw.rtl.core_config import CoreConfig, pack_descriptor
from hwsim.hw.rtl.core_dram import DramModel
from hwsim.hw.rtl.core_layout import read_outputs


def _run(c, case, latency, stall=0.0, seed=0):
    dram = DramModel(case.image.beats, latency, stall, seed)
    run = run_commands(AccelCore(c), dram, [case.descriptor])[0]
    return run, read_outputs(c, case.image, dram.mem), dram


@pytest.mark.parametrize(("m", "n", "k", "latency"), [
    (4, 6, 20, 2),     # one block; k = 2.5 groups
    (6, 10, 40, 1),    # blocks along m, n and k
    (8, 8, 64, 5),     # 8 k blocks, weights re-fetched per m block
    (9, 5, 52, 3),     # ragged m and n, k not a multiple of the group size
    (1, 12, 64, 2),    # decode-like m = 1
])
def test_gemm_bit_exact_and_cycle_exact(m, n, k, latency):
    case = make_case(SMALL, m, n, k, latency, seed=m * 100 + n)
    assert np.prod(case.mapping.blocks) > 1 or (m, n, k) == (4, 6, 20)
    run, got, dram = _run(SMALL, case, latency)
    assert run.status == {"busy": 0, "done": 1, "error": 0, "nonfinite": 0, "reason": 0}
    assert (got == case.expected).all()
    assert dram.read_beats + dram.write_beats == case.line_beats
    # Ragged shapes too: the simulator charges the zero padding of the lines the core moves.
    assert run.cycles == case.line_cycles == case.model_cycles


@pytest.mark.parametrize("pipeline", [1, 6])
def test_pipelined_pes_add_their_fill_to_every_tile(pipeline):
    # The core waits for each tile's result to leave the PE pipeline; the simulator's tile
    # rule charges the PE spec's pipeline as that fill, so the cycles stay exact.
    c = dataclasses.replace(SMALL, pipeline=pipeline)
    case = make_case(c, 6, 10, 40, 2, seed=11)
    run, got, _ = _run(c, case, 2)
    assert (got == case.expected).all()
    assert run.cycles == case.model_cycles
    assert run.cycles > make_case(SMALL, 6, 10, 40, 2, seed=11).model_cycles


def test_the_fpga_pe_options_reach_the_array():
    # The FPGA PE build's options (BitMoD's floating accumulator, the unnormalized loop, 7
    # stages): the outputs are that accumulator's golden model (not the exact one's), the
    # cycles the simulator's (the accumulator changes no cycle).
    c = dataclasses.replace(SMALL, pipeline=7, accumulator="bitmod", loop="unnormalized")
    case = make_case(c, 6, 10, 40, 2, seed=17)
    assert (case.expected != make_case(SMALL, 6, 10, 40, 2, seed=17).expected).any()
    run, got, _ = _run(c, case, 2)
    assert (got == case.expected).all()
    assert run.cycles == case.model_cycles


def test_a_core_of_decoded_loop_pes_is_bit_exact_and_cycle_exact():
    # loop=decoded (BitMoD's accumulator, its large shift amounts decoded a cycle ahead) in
    # the core's array, 2 stages: two k blocks of 2 x 2 tiles back to back, three groups per
    # output. The outputs are the bitmod accumulator's golden model (every one differs from
    # the exact accumulator's here), the cycles the simulator's.
    c = dataclasses.replace(SMALL, pipeline=2, accumulator="bitmod", loop="decoded")
    base = make_case(c, 4, 4, 24, 2, seed=17)
    # The blocking is given (the simulator's fastest is another).
    case = make_case(c, 4, 4, 24, 2, seed=17, mapping=dataclasses.replace(
        base.mapping, loop_order="n_outer", block_m=4, block_n=4, block_k=16))
    assert case.mapping.blocks == (1, 1, 2)
    assert (case.expected != make_case(SMALL, 4, 4, 24, 2, seed=17).expected).all()
    run, got, _ = _run(c, case, 2)
    assert run.status == {"busy": 0, "done": 1, "error": 0, "nonfinite": 0, "reason": 0}
    assert (got == case.expected).all()
    assert run.cycles == case.model_cycles


def test_a_row_shared_dequantizer_keeps_the_cycles_exact():
    # SMALL's fp4 groups accumulate in 4 beats x 2 terms = 8 cycles, fewer than the 2 columns
    # x 8 scale bits a group keeps the row's dequantizer: every group stalls the front. The
    # simulator's PE (dequantizer_pes = cols, by the registry's rule) charges exactly that.
    c = dataclasses.replace(SMALL, dequantizer="row")
    case = make_case(c, 6, 10, 40, 2, seed=13)
    run, got, _ = _run(c, case, 2)
    assert (got == case.expected).all()
    assert run.cycles == case.model_cycles
    assert run.cycles > make_case(SMALL, 6, 10, 40, 2, seed=13).model_cycles


def test_m_outer_loop_order_follows_the_mapping():
    base = make_case(SMALL, 6, 10, 40, 2, seed=3)
    mp = dataclasses.replace(base.mapping, loop_order="m_outer")
    case = make_case(SMALL, 6, 10, 40, 2, seed=3, mapping=mp)
    n_outer = make_case(SMALL, 6, 10, 40, 2, seed=3,
                        mapping=dataclasses.replace(mp, loop_order="n_outer"))
    run, got, _ = _run(SMALL, case, 2)
    assert (got == case.expected).all()
    assert run.cycles == case.model_cycles != n_outer.model_cycles


@pytest.mark.parametrize(("params", "message"), [
    ({"accumulator": "x"}, "parameter accumulator = 'x' is not allowed; allowed: exact, bitmod"),
    ({"loop": "x"}, "parameter loop = 'x' is not allowed; allowed: normalized, unnormalized, "
                "decoded"),
    ({"loop": "unnormalized"}, "parameter loop = 'unnormalized' needs accumulator = 'bitmod' "
                               "(accumulator = 'exact' has no loop)"),
])
def test_config_refuses_a_bad_accumulator_or_loop(params, message):
    with pytest.raises(HwsimError, match=re.escape(message)):
        CoreConfig(**params)


def test_bad_descriptors_are_refused_and_leave_the_buffers_intact():
    case = make_case(SMALL, 4, 4, 16, 2, seed=9)
    core = AccelCore(SMALL)
    snapshots = []

    async def snapshot(ctx):
        snapshots.append({name: [ctx.get(mem.data[i]) for i in range(mem.depth)]
                          for name, mem in core.buffers.items()})

    descs = [case.descriptor] + [pack_descriptor(**{**GOOD, **bad}) for bad, _ in BAD]
    descs.append(case.descriptor)  # the core still runs after refusals
    dram = DramModel(case.image.beats, 2)
    runs = run_commands(core, dram, descs, inspect=snapshot)
    assert runs[0].status["done"] == 1
    for run, (bad, code) in zip(runs[1:-1], BAD, strict=True):
        assert run.status == {"busy": 0, "done": 0, "error": 1, "nonfinite": 0,
                              "reason": int(code)}, bad
        assert run.cycles == refusal_cycles(bad, code, SMALL), bad
    # Refused commands write nothing: the buffers are as the first GEMM left them.
    assert all(s == snapshots[1] for s in snapshots[2:len(BAD) + 2])
    assert any(v for v in snapshots[1]["output"])
    assert runs[-1].status["done"] == 1
    assert (read_outputs(SMALL, case.image, dram.mem) == case.expected).all()


def _side_by_side(cases, latency: int = 2, stride: int = 4096):
    """One DRAM (``latency``) holding every case's image, ``stride`` beats apart, and each
    case's descriptor and image moved there."""
    dram, descs, images = DramModel({}, latency), [], []
    for i, case in enumerate(cases):
        offset = i * stride
        dram.mem.update({offset + a: v for a, v in case.image.beats.items()})
        images.append(dataclasses.replace(case.image, a_addr=case.image.a_addr + offset,
                                          b_addr=case.image.b_addr + offset,
                                          s_addr=case.image.s_addr + offset,
                                          o_addr=case.image.o_addr + offset))
        descs.append(_relocated(case.descriptor, offset))
    return dram, descs, images


def test_one_core_runs_every_mode():
    modes = ["fp3", "fp4", "int4", "int8"]
    cases = [make_case(MULTI, 6, 10, 40, 2, seed=i, family=f) for i, f in enumerate(modes)]
    # All four GEMMs' images side by side in one DRAM, run back to back on one instance.
    dram, descs, images = _side_by_side(cases)
    runs = run_commands(AccelCore(MULTI), dram, descs)
    for case, image, run in zip(cases, images, runs, strict=True):
        assert run.status["done"] == 1
        assert (read_outputs(MULTI, image, dram.mem) == case.expected).all()
        assert run.cycles == case.model_cycles
    # fp3, fp4 and int4 take 2 terms per weight, int8 4 (Booth digits).
    assert runs[0].cycles == runs[1].cycles == runs[2].cycles < runs[3].cycles


@pytest.mark.parametrize("config", [
    SMALL,
    # One PE row with its row's shared dequantizer, 3 PE stages: each result drains in one
    # cycle and the next may load at that edge.
    dataclasses.replace(SMALL, rows=1, dequantizer="row", pipeline=3, bus_bytes=1),
], ids=["2x2", "1x2-row-dequantizer"])
def test_an_inf_or_nan_activation_sets_the_status_bit_of_its_own_command(config):
    # The PEs count an Inf/NaN activation as 0 (the golden model's decode) and flag the
    # output; the core ORs the flags of every result it drains into status bit 3, cleared when
    # a command is accepted. Back to back on one core: a +Inf in the last tile drained only
    # (one row tile, n = rows; last m, last k, blocks along m and k), so the bit must be set
    # between that tile's drain and done; finite activations; a NaN and a -Inf in the first
    # tiles of a GEMM of several row tiles; a refused command.
    n = config.rows
    shapes = [(6, n, 40, ((5, 39, np.inf),)), (6, n, 40, ()),
              (6, 10, 40, ((0, 0, np.nan), (1, 3, -np.inf)))]
    cases = [make_case(config, m, nn, k, 2, seed=31, specials=sp) for m, nn, k, sp in shapes]
    assert [c.nonfinite for c in cases] == [True, False, True]
    assert np.prod(cases[0].mapping.blocks) > 1
    dram, descs, images = _side_by_side(cases)
    descs.append(pack_descriptor(**{**GOOD, "m": 0}))
    runs = run_commands(AccelCore(config), dram, descs)
    for case, image, run in zip(cases, images, runs[:-1], strict=True):
        assert run.status == {"busy": 0, "done": 1, "error": 0,
                              "nonfinite": int(case.nonfinite), "reason": 0}
        assert (read_outputs(config, image, dram.mem) == case.expected).all()
        assert run.cycles == case.model_cycles
    # Inf/NaN count as 0: the first GEMM's outputs are those of a 0 in the Inf's place.
    zeroed = make_case(config, 6, n, 40, 2, seed=31, specials=((5, 39, 0.0),))
    assert (cases[0].expected == zeroed.expected).all() and not zeroed.nonfinite
    assert runs[-1].status["error"] == 1 and runs[-1].status["nonfinite"] == 0


def test_a_command_right_after_another_starts_from_the_idle_core():
    # The second command is accepted in the first idle cycle after the first is done; the
    # first leaves its output half at 0 in the compute record (6x10x40: three output blocks),
    # which the idle core resets to 1 before the second's first block; the drain's register
    # of it follows (the bench checks it against the record's view in every cycle).
    case = make_case(SMALL, 6, 10, 40, 2, seed=7)
    dram = DramModel(case.image.beats, 2)
    runs = run_commands(AccelCore(SMALL), dram, [case.descriptor, case.descriptor])
    assert [r.cycles for r in runs] == [case.model_cycles] * 2
    assert (read_outputs(SMALL, case.image, dram.mem) == case.expected).all()


def _relocated(desc: int, offset: int) -> int:
    from hwsim.hw.rtl.core_config import DESCRIPTOR_FIELDS

    fields, at = {}, 0
    for name, bits in DESCRIPTOR_FIELDS:
        fields[name] = (desc >> at) & ((1 << bits) - 1)
        at += bits
    for name in ("a_addr", "b_addr", "s_addr", "o_addr"):
        fields[name] += offset
    return pack_descriptor(**fields)


@pytest.mark.parametrize(("m", "n", "k"), [(2, 2, 64), (6, 10, 40)])
def test_zero_dram_latency_waits_for_the_drain(m, n, k):
    # With latency 0 the last write-back may start before the last tile's rows are in the
    # output buffer: it waits for them (at most `rows` cycles), and stays bit-exact.
    case = make_case(SMALL, m, n, k, 0, seed=5)
    run, got, _ = _run(SMALL, case, 0)
    assert (got == case.expected).all()
    assert 0 <= run.cycles - case.line_cycles <= SMALL.rows


@pytest.mark.parametrize(("c", "m", "n", "k", "latency"), [
    (LINE_BEAT, 4, 16, 64, 2),     # four blocks
    (LINE_BEAT, 2, 8, 16, 1),      # one tile: the write-back waits for the drain's rows
    (SMALL, 2, 2, 16, 1),          # one tile, eight beats a line
    # Blocks of one k block, a line a beat: the stream sends a line every cycle, so the
    # next line must be in an entry as one leaves (the FIFO's fourth entry; with three, a
    # line read from the RAM would be the next head as it arrives, 15 cycles later here).
    (LINE_BEAT, 6, 17, 8, 3),
])
def test_write_back_fifo_keeps_the_cycles_exact(c, m, n, k, latency):
    assert c.beats_per_line(c.o_line_bits) == (1 if c is LINE_BEAT else 8)
    case = make_case(c, m, n, k, latency, seed=m + n)
    run, got, _ = _run(c, case, latency)
    assert (got == case.expected).all()
    assert run.cycles == case.line_cycles == case.model_cycles


@pytest.mark.parametrize(("c", "m", "n", "k", "seed"), [
    (SMALL, 6, 10, 40, 1),
    (SMALL, 9, 5, 52, 2),
    (LINE_BEAT, 4, 16, 64, 3),
    (dataclasses.replace(SMALL, pipeline=3), 4, 6, 20, 4),
])
def test_random_dram_stalls_lose_and_repeat_nothing(c, m, n, k, seed):
    # The DRAM withholds read data and write readiness in random cycles (a third of them):
    # every beat still lands once at its address, so the outputs are the golden model's.
    case = make_case(c, m, n, k, 2, seed=seed)
    run, got, dram = _run(c, case, 2, stall=0.35, seed=seed)
    assert run.status == {"busy": 0, "done": 1, "error": 0, "nonfinite": 0, "reason": 0}
    assert (got == case.expected).all()
    assert dram.read_beats + dram.write_beats == case.line_beats
    assert run.cycles > case.line_cycles


@pytest.mark.parametrize("pipeline", [0, 1])
def test_one_beat_tiles_keep_the_cycles_exact(pipeline):
    # Groups of one beat and blocks one group deep: every beat is a tile's last, so the next
    # tile's start (registered a cycle ahead; with PE stages its step tests a cycle before
    # that) is needed at every beat, across blocks.
    c = dataclasses.replace(SMALL, group_size=2, pipeline=pipeline)
    base = make_case(c, 6, 10, 8, 2, seed=7)
    case = make_case(c, 6, 10, 8, 2, seed=7, mapping=dataclasses.replace(
        base.mapping, loop_order="n_outer", block_m=6, block_n=4, block_k=2))
    assert c.group_size == c.lanes and np.prod(case.mapping.blocks) == 12
    run, got, _ = _run(c, case, 2)
    assert (got == case.expected).all()
    assert run.cycles == case.model_cycles


def test_write_back_fifo_of_two_beat_lines_keeps_the_cycles_exact():
    # Two bus beats a line (one column, 7 scale bits, 32-bit bus): the FIFO's third entry
    # (966a7aa). With two, a line read from the RAM is the head as it arrives and is sent a
    # cycle late (`late`): 84 cycles here against the simulator's 83. No other test core has
    # two beats a line (LINE_BEAT 1, FAST 4, SMALL 8, MULTI and ROW1 16).
    from core_cases import case_from, quantized_weights

    c = CoreConfig(rows=2, cols=1, lanes=2, weights="fp4+int8", group_size=4, scale_bits=7,
                   k_max=16, pipeline=4, a_lines=8, b_lines=8, o_lines=4, bus_bytes=4)
    assert c.beats_per_line(c.o_line_bits) == 2
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (2, 5)).astype(np.float16)
    codes, scale, wtype, _ = quantized_weights(c, rng.normal(0, 0.05, (1, 5)), "fp4")
    scale = np.minimum(scale, (1 << c.scale_bits) - 1)   # the build's scale bits
    neg = np.zeros_like(scale)
    base = case_from(c, a, codes, scale, neg, wtype, 3, None, "fp4")
    blocks = dataclasses.replace(base.mapping, block_m=2, block_n=1, block_k=4,
                                 loop_order="m_outer")
    case = case_from(c, a, codes, scale, neg, wtype, 3, blocks, "fp4")
    run, got, _ = _run(c, case, 3)
    assert (got == case.expected).all()
    assert run.cycles == case.line_cycles == case.model_cycles


# One PE row: a line per output block, the write-back's smallest job.
ROW1 = dataclasses.replace(SMALL, rows=1, bus_bytes=1)


@pytest.mark.parametrize(("c", "m", "n", "k", "block_k", "stall"), [
    (SMALL, 2, 6, 16, 16, 0.0),     # three output blocks of two lines
    (SMALL, 2, 6, 32, 16, 0.0),     # two k blocks per output block
    (SMALL, 2, 6, 1, 1, 0.0),       # k = 1, less than a beat of lanes
    (SMALL, 2, 8, 16, 16, 0.35),    # DRAM stalls: the FIFO is still full at the last line
    (ROW1, 2, 3, 16, 16, 0.0),      # rows = 1: one line per block
])
def test_one_tile_output_blocks_send_every_block(c, m, n, k, block_k, stall):
    # One tile per output block, three or more blocks, so the write-back prefetcher comes back
    # to each output half after a write-back whose last line it may read in the cycle the drain
    # computes it (through the empty FIFO): it must then wait for the new block's lines, not
    # send the lines the half held two blocks before.
    base = make_case(c, m, n, k, 1, seed=3)
    case = make_case(c, m, n, k, 1, seed=3, mapping=dataclasses.replace(
        base.mapping, block_m=c.cols, block_n=c.rows, block_k=block_k))
    assert case.mapping.blocks[0] * case.mapping.blocks[1] >= 3
    run, got, dram = _run(c, case, 1, stall=stall, seed=3)
    assert (got == case.expected).all()
    assert dram.read_beats + dram.write_beats == case.line_beats
    if stall:
        assert run.cycles > case.line_cycles
    else:
        assert run.cycles == case.line_cycles == case.model_cycles


@pytest.mark.parametrize(("m", "n", "k", "block_m", "block_n", "block_k"), [
    (8, 6, 32, 4, 4, 16),   # activation, weight and scale halves full (16, 16, 4 lines)
    (4, 8, 16, 4, 8, 8),    # output half full (2 x 4 tiles of 2 rows: 16 lines)
])
def test_blocks_filling_the_buffer_halves_keep_their_beat_counts(m, n, k, block_m, block_n,
                                                                 block_k):
    # The load's and the write-back's beat counts are products registered ahead of the slot's
    # end, each factor cut to the bits its buffer half allows: a block filling a half is their
    # largest value (a bit too few would wrap it to a wrong count and a hung or short load).
    base = make_case(SMALL, m, n, k, 1, seed=m + n)
    case = make_case(SMALL, m, n, k, 1, seed=m + n, mapping=dataclasses.replace(
        base.mapping, block_m=block_m, block_n=block_n, block_k=block_k))
    run, got, dram = _run(SMALL, case, 1)
    assert run.status == {"busy": 0, "done": 1, "error": 0, "nonfinite": 0, "reason": 0}
    assert (got == case.expected).all()
    assert dram.read_beats + dram.write_beats == case.line_beats
    assert run.cycles == case.line_cycles == case.model_cycles


@pytest.mark.parametrize(("c", "k", "m_outer", "latency"), [
    (SMALL, 16, False, 1),  # one k block: the last two output blocks differ (2 vs 1 a-tiles)
    (SMALL, 18, False, 1),  # k blocks of 16 and 2 (a one-beat tile)
    (SMALL, 18, True, 2),
    (SMALL, 18, False, 0),
    (dataclasses.replace(SMALL, weights="int2"), 18, False, 1),   # one term: a beat a cycle
    # k blocks of 8 and 2 beats: the block's first beat is taken in the cycle after the
    # slot's end, where the second beat's last-of-tile test must count to the compute
    # record's view (the entering block's beats).
    (dataclasses.replace(SMALL, weights="int2"), 20, False, 1),
], ids=["k16", "k18", "k18-m_outer", "k18-latency0", "k18-int2", "k20-int2"])
def test_blocks_of_every_size_back_to_back(c, k, m_outer, latency):
    # The block records shift an edge after a slot's end and are read through views in the
    # cycle between: blocks ragged in m (4 + 2 rows) and k make a block's tiles, k and
    # write-back differ from its neighbour's there. With n outer and one k block, the last
    # write-back (2 weight tiles of 1 activation tile; its predecessor's 2 x 2) starts at a
    # slot's end and presents its second request in that cycle: a view showing the previous
    # write-back's block there gives it the wrong beats.
    base = make_case(c, 6, 8, k, latency, seed=11)
    mapping = dataclasses.replace(base.mapping, block_m=4, block_n=4, block_k=16,
                                  loop_order="m_outer" if m_outer else "n_outer")
    case = make_case(c, 6, 8, k, latency, seed=11, mapping=mapping)
    run, got, dram = _run(c, case, latency)
    assert run.status == {"busy": 0, "done": 1, "error": 0, "nonfinite": 0, "reason": 0}
    assert (got == case.expected).all()
    assert dram.read_beats + dram.write_beats == case.line_beats
    if latency:
        assert run.cycles == case.line_cycles == case.model_cycles
    else:   # the last write-back may wait for the drain (test_zero_dram_latency_...)
        assert 0 <= run.cycles - case.line_cycles <= c.rows


@pytest.mark.parametrize(("m", "n", "k", "block_m", "block_n", "block_k"), [
    (5, 13, 1, 2, 8, 1),    # one-beat activation loads
    (8, 8, 4, 4, 8, 4),     # two-beat activation loads
])
def test_short_loads_at_zero_latency_read_the_records_through_the_views(m, n, k, block_m,
                                                                         block_n, block_k):
    # Lines of one beat, k below a beat, DRAM latency 0: an activation-only load's first beat
    # arrives in the cycle after the slot's end, while the records' shift is pending. A
    # one-beat load also ends there: whether it starts the write-back must be read from the
    # write-back record's view (the block entering write-back), else a write-back is skipped
    # or sent from the wrong block. A two-beat load's last-beat test at beat 0 must count to
    # the load record's view (the block entering the load), else the last beat is missed and
    # the core hangs (hence the bounded max_cycles).
    c = LINE_BEAT
    base = make_case(c, m, n, k, 0, seed=m + n)
    case = make_case(c, m, n, k, 0, seed=m + n, mapping=dataclasses.replace(
        base.mapping, block_m=block_m, block_n=block_n, block_k=block_k,
        loop_order="n_outer"))
    dram = DramModel(case.image.beats, 0)
    run = run_commands(AccelCore(c), dram, [case.descriptor],
                       max_cycles=10 * case.line_cycles + 1000)[0]
    assert run.status == {"busy": 0, "done": 1, "error": 0, "nonfinite": 0, "reason": 0}
    assert (read_outputs(c, case.image, dram.mem) == case.expected).all()
    assert dram.read_beats + dram.write_beats == case.line_beats
    assert 0 <= run.cycles - case.line_cycles <= c.rows


@pytest.mark.parametrize(("fraction", "pipeline"), [(0.5, 0), (0.85, 0), (0.6, 2)])
def test_a_reset_mid_command_leaves_nothing_behind(fraction, pipeline):
    # The descriptor, the command's products, the iterator's step, the beat counts, the
    # write-back's bypass and its line FIFO entries have no reset (each is loaded before it is
    # read): a command reset with its loads, compute and write-backs in flight must leave
    # nothing another command sees (bit-exact and cycle-exact after it). With two PE stages
    # the drain's per-column row selects and the tile successor's step registers are in play.
    c = dataclasses.replace(SMALL, pipeline=pipeline)
    case = make_case(c, 6, 10, 40, 1, seed=21)
    cut = make_case(c, 8, 8, 64, 1, seed=22)
    offset = 1 << 12
    dram = DramModel(case.image.beats, 1)
    dram.mem.update({offset + a: v for a, v in cut.image.beats.items()})
    run = run_commands(AccelCore(c), dram, [case.descriptor],
                       interrupt=(_relocated(cut.descriptor, offset),
                                  int(cut.line_cycles * fraction)))[0]
    assert run.status == {"busy": 0, "done": 1, "error": 0, "nonfinite": 0, "reason": 0}
    assert (read_outputs(c, case.image, dram.mem) == case.expected).all()
    assert run.cycles == case.line_cycles


@pytest.mark.parametrize("pipeline", [0, 5])
def test_partial_sums_are_read_a_row_ahead_on_tall_arrays(pipeline):
    # The drain reads each row's partial sum a cycle before it drains the row into a
    # register: a tile's first line as its result leaves the PEs, the second as it does, the
    # others two lines ahead of the row draining. Only arrays of more than two rows read that
    # third kind, and only blocks past the first k block add the sums: 8 rows, k in 3 blocks.
    c = dataclasses.replace(LINE_BEAT, pipeline=pipeline)
    base = make_case(c, 4, 8, 24, 1, seed=5)
    case = make_case(c, 4, 8, 24, 1, seed=5, mapping=dataclasses.replace(
        base.mapping, block_m=2, block_n=8, block_k=8))
    run, got, dram = _run(c, case, 1)
    assert run.status == {"busy": 0, "done": 1, "error": 0, "nonfinite": 0, "reason": 0}
    assert (got == case.expected).all()
    assert dram.read_beats + dram.write_beats == case.line_beats
    assert run.cycles == case.line_cycles == case.model_cycles
