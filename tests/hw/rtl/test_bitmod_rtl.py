# amaranth: UnusedElaboratable=no
"""BitMoD PE and array in Amaranth's simulator against the golden model, bit for bit."""

from __future__ import annotations

import re

import numpy as np
import pytest
from rtl_stimuli import (
    bitmod_cases,
    bitmod_edges,
    bitmod_exhaustive,
    bitmod_loop_boundaries,
    bitmod_pending_cancellations,
    bitmod_random,
    bitmod_specials,
)
from rtl_stream import run_stream

from hwsim.hw.rtl.bitmod import LOOPS, PIPELINE_CUTS, BitModArray, BitModConfig, BitModPE
from hwsim.hw.rtl.terms import WEIGHT_FAMILIES

# Small but complete: 3 groups per output, the last one partial (40 = 16 + 16 + 8).
SMALL = {"lanes": 4, "group_size": 16, "k": 40}


def _check(dut, case, seed=None):
    n = len(case.expected)
    run = run_stream(dut, case.beats, n, case.out_ports, seed=seed)
    assert run.outputs == case.expected, case.name
    return run


@pytest.mark.parametrize("weights", [*WEIGHT_FAMILIES, "bitmod"])
def test_pe_matches_model_every_code(weights):
    c = BitModConfig(weights=weights, **SMALL)
    dut = BitModPE(c)
    for case in bitmod_cases(c):
        _check(dut, case)


@pytest.mark.parametrize(("weights", "seed"), [("fp4", 11), ("int4", 12), ("bitmod", 13),
                                               ("bitmod", 14)])
def test_pe_under_random_stalls_and_backpressure(weights, seed):
    c = BitModConfig(weights=weights, **SMALL)
    _check(BitModPE(c), bitmod_random(c, n=6, seed=seed), seed=seed)


# The decoder's coverage comes from the exact build (every mode); the bitmod accumulator's
# arithmetic does not depend on the mode, so its build runs the fp modes and int4 (the int8
# mode alone is 3,584 beats x 4 terms, the slowest part). The exact build runs at the default
# depth (the lanes' exponent maximum as a comparator tree) and at the deepest (the "max" cut:
# all-pairs comparisons and the pick of the lane holding it, where zero lanes, subnormals'
# exponents and equal exponents decide the pick; there a lane without a product is cleared by
# its alignment shift, not by a gate on its significand). The FPGA's bitmod build (the decoded
# loop at the deepest cut) runs the same edges.
@pytest.mark.parametrize(("accumulator", "loop", "modes", "pipeline"),
                         [("exact", "normalized", range(5), 3),
                          ("exact", "normalized", range(5), len(PIPELINE_CUTS) - 1),
                          *[("bitmod", loop, range(3), 3) for loop in LOOPS],
                          ("bitmod", "decoded", range(3), len(PIPELINE_CUTS) - 1)])
def test_every_code_selector_and_fp16_edge_on_every_lane(accumulator, loop, modes, pipeline):
    """One reconfigurable build, each mode: every code x ER/EA selector x FP16 edge value
    (+-0, subnormals, max, +-Inf, NaN) on every lane position, bit-exact against the model."""
    c = BitModConfig(weights="bitmod", accumulator=accumulator, loop=loop, pipeline=pipeline,
                     **SMALL)
    dut = BitModPE(c)
    for mode in modes:
        case = bitmod_edges(c, mode)
        fam = c.families[mode]
        sels = 5 if fam.is_fp else 1
        # Every combination is driven: codes x selectors x 14 edges per lane position.
        assert len(case.beats) >= (1 << fam.bits) * sels * 14
        _check(dut, case)


# Depth 0 computes the exponent difference in the cycle, the deeper ones a cycle ahead (from the
# operand register after the lane sum, or after the "shift" cut); the last ones add "place" and
# "max". Every loop (normalized each cycle, unnormalized, decoded) at every depth.
@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize(("weights", "pipeline"), [("fp4", 3), ("int8", 0), ("fp3", 1),
                                                   ("bitmod", 4), ("bitmod", 6),
                                                   ("int4", 2), ("int6", 5), ("bitmod", 7)])
def test_bitmod_accumulator_pe_matches_model(weights, pipeline, loop):
    c = BitModConfig(weights=weights, accumulator="bitmod", pipeline=pipeline, loop=loop,
                     **SMALL)
    dut = BitModPE(c)
    for case in bitmod_cases(c):
        _check(dut, case)
    _check(dut, bitmod_random(c, n=6, seed=31), seed=32)


def test_decoded_loop_under_stalls():
    # The lagged loop (loop=decoded) changes its state in cycles without a step: it applies
    # the pending normalization shift there, and its next shift amounts then come from the
    # stored exponent, not from this cycle's operand. Random outputs under random stalls and
    # back-pressure, longer than the other loops' (deriving the next amounts from the operand's
    # exponent in a stalled cycle passes the 6-output run above, fails this one).
    c = BitModConfig(weights="bitmod", accumulator="bitmod", loop="decoded", pipeline=7,
                     **SMALL)
    _check(BitModPE(c), bitmod_random(c, n=12, seed=101), seed=1)


def test_decoded_loop_pending_shift_across_stalls():
    # A negative sum whose normalization the lagged loop still holds pending, cycles without a
    # step (stalls), then an operand 1-3 exponents above that nearly cancels it: the stalled
    # cycle applies the pending shift, and the next step's masks read the shifted low-zero
    # tests. Filling the tests shifted in above the top threshold with 1 passes every random
    # and boundary run, fails this one (stall seeds 2 and 3 place a stall there).
    c = BitModConfig(weights="int4", lanes=4, group_size=12, k=12, accumulator="bitmod",
                     loop="decoded", pipeline=7)
    dut, case = BitModPE(c), bitmod_pending_cancellations(c)
    for seed in (None, 2, 3):
        _check(dut, case, seed=seed)


# The loop's boundaries at depth 0 (the exponent difference in the cycle), 1 (a cycle ahead
# from the lane sum's register), 4 (from the "shift" cut) and 7 (every cut); the exact
# accumulator has no normalization, but the same sums through it cost little.
@pytest.mark.parametrize(("accumulator", "loop", "pipeline"),
                         [("exact", "normalized", 0), ("exact", "normalized", 5),
                          *[("bitmod", loop, p) for loop in LOOPS for p in (0, 1, 4, 7)]])
def test_stored_sums_at_the_loop_boundaries(accumulator, loop, pipeline):
    """Every normalization boundary of the floating loop's sum (-1, 0, +1, powers of two of
    either sign and their neighbours, the extremes), in every mode, bit-exact against the
    model: a normalization a step off at any of them fails (`bitmod_loop_boundaries`)."""
    c = BitModConfig(weights="bitmod", lanes=4, group_size=12, k=12, accumulator=accumulator,
                     loop=loop, pipeline=pipeline)
    _check(BitModPE(c), bitmod_loop_boundaries(c))


@pytest.mark.parametrize("pipeline", range(len(PIPELINE_CUTS)))
def test_one_instance_switches_modes_between_outputs(pipeline):
    # BitMoD's decoder: fp3/fp4 with selectors per group and INT4/6/8 per layer, one build;
    # outputs in random mode order, back to back, under stalls and back-pressure.
    c = BitModConfig(weights="bitmod", pipeline=pipeline, **SMALL)
    case = bitmod_random(c, n=8, seed=pipeline)
    assert len({b["mode"] for b in case.beats}) == c.modes
    _check(BitModPE(c), case, seed=pipeline)


def test_pe_default_parameters_full_groups():
    # The published configuration: 4 lanes, groups of 128, 8-bit scales; two outputs of k=256.
    c = BitModConfig()
    _check(BitModPE(c), bitmod_random(c, n=2))


@pytest.mark.parametrize(("rows", "cols", "weights"), [(2, 3, "fp3"), (3, 2, "int8")])
def test_array_matches_model(rows, cols, weights):
    c = BitModConfig(rows=rows, cols=cols, weights=weights, lanes=2, group_size=8, k=20)
    dut = BitModArray(c)
    for case in bitmod_cases(c)[:2]:
        _check(dut, case)
    _check(dut, bitmod_random(c, n=3, seed=9), seed=12)


@pytest.mark.parametrize(("rows", "weights", "accumulator", "loop", "pipeline"),
                         [(2, "fp4+int6", "exact", "normalized", 0),
                          (2, "fp4+int6", "exact", "normalized", 6),
                          (1, "fp3", "bitmod", "normalized", 3),
                          (1, "int6", "bitmod", "unnormalized", 7),
                          (1, "fp4", "bitmod", "decoded", 7)])
def test_array_with_row_shared_dequantizers_matches_model(rows, weights, accumulator, loop,
                                                          pipeline):
    # Three PEs per row take turns on one dequantizer (groups of 8 on 2 lanes: the front
    # stalls): the FP16 specials (sticky flags per PE) and two seeds of random codes and
    # scales under random stalls and back-pressure (every code: the exact builds).
    c = BitModConfig(rows=rows, cols=3, weights=weights, lanes=2, group_size=8, k=20,
                     pipeline=pipeline, accumulator=accumulator, loop=loop, dequantizer="row")
    dut = BitModArray(c)
    _check(dut, bitmod_specials(c))
    if accumulator == "exact":
        _check(dut, bitmod_exhaustive(c))
    for seed in (3, 4):
        _check(dut, bitmod_random(c, n=3, seed=seed), seed=seed + 10)


def test_nonfinite_flag_is_sticky_per_output_and_clears():
    c = BitModConfig(weights="fp4", **SMALL)
    case = next(cs for cs in bitmod_cases(c) if cs.name == "fp16_specials")
    flags = [o["nonfinite"] for o in case.expected]
    # The specials case puts Inf/NaN in outputs 0 and 2 (30% of 40 lanes each) but not in 1.
    assert flags == [1, 0, 1]
    _check(BitModPE(c), case)


def test_config_rejects_bad_parameters():
    from hwsim.errors import HwsimError

    with pytest.raises(HwsimError, match=r"parameter lanes must be an integer in \[1, 16\], not 0"):
        BitModConfig(lanes=0)
    with pytest.raises(HwsimError, match="unknown weight family 'fp5'; allowed: fp3, fp4"):
        BitModConfig(weights="fp5")
    with pytest.raises(HwsimError, match="align_bits"):
        BitModConfig(align_bits=True)
    with pytest.raises(HwsimError, match="parameter loop = 'fast' is not allowed; "
                                         "allowed: normalized, unnormalized, decoded"):
        BitModConfig(loop="fast")
    with pytest.raises(HwsimError, match="parameter loop = 'unnormalized' needs accumulator = "
                                         "'bitmod' \\(accumulator = 'exact' has no loop\\)"):
        BitModConfig(loop="unnormalized")  # the exact accumulator would ignore it
    with pytest.raises(HwsimError, match="parameter dequantizer = 'col' is not allowed; "
                                         "allowed: per_pe, row"):
        BitModConfig(dequantizer="col")
    with pytest.raises(HwsimError, match="a single PE has no row to share a dequantizer"):
        BitModPE(BitModConfig(dequantizer="row"))
    with pytest.raises(ValueError, match="valid_ahead needs registered_ready=True and "
                                         "input_stage=False, not registered_ready=True, "
                                         "input_stage=True"):
        BitModArray(BitModConfig(), valid_ahead=True)
    with pytest.raises(ValueError, match=r"accept_copies=\('a',\) needs valid_ahead=True"):
        BitModArray(BitModConfig(), accept_copies=["a"])
    with pytest.raises(ValueError, match=r"accept_copies must be distinct identifiers \(the "
                                         r"copies' names\), not \('a', 'a'\)"):
        BitModArray(BitModConfig(), input_stage=False, valid_ahead=True, accept_copies=["a", "a"])


def test_accumulator_widths_are_derived_from_the_worst_case():
    # fp4 EA: largest weight 16 hardware units (8 E2M1 = 0b10000: one term 2**4); FP16 max
    # = 2047 * 2**(30 - 25). One product in accumulator LSBs (2**-(25 + 3)): 2047 * 2**33 * 16.
    # A group of 128: * 2**7 -> 2047 * 2**44 < 2**55, so 55 magnitude bits + sign = 56.
    c = BitModConfig()
    assert c.weight_bound == 2047 * 16 << 33
    assert c.acc_width == 56
    # Output: 2 groups * 255 (largest 8-bit scale) * the group bound: 2047 * 2**45 * 255 < 2**64.
    assert c.out_width == 65
    worst = np.int64(2047) * 16 * 128
    assert int(worst) << 33 < 1 << (c.acc_width - 1)


@pytest.mark.parametrize("weights", ["int8", "fp4"])
def test_pe_matches_model_past_int64(weights):
    # Large groups (1024 weights, a quarter of the registry's largest; 16 lanes, 8 guard bits)
    # need an accumulator wider than int64: the golden model must stay exact there too.
    from rtl_stimuli import bitmod_worst

    c = BitModConfig(weights=weights, group_size=1024, k=1024, lanes=16, align_bits=8)
    assert c.acc_width > 62
    _check(BitModPE(c), bitmod_worst(c))


@pytest.mark.parametrize(("input_stage", "scale_bits", "dequantizer", "seed"),
                         [(True, 8, "per_pe", 21), (False, 2, "row", 22),
                          (True, 1, "per_pe", 23), (True, 4, "row", 24)])
def test_registered_ready_keeps_the_schedule_cycle_for_cycle(input_stage, scale_bits,
                                                             dequantizer, seed):
    """The array's registered ready (its front's tests computed a cycle ahead) accepts every
    beat and loads every output at the same edge as the combinational front, under random
    stalls and back-pressure, across mode switches; short scales make the dequantizer's
    hand-off wait and the output's drain overlap the next output's beats, a shared one
    stalls the front."""
    c = BitModConfig(rows=2, cols=2, weights="bitmod", lanes=2, group_size=8, k=20,
                     scale_bits=scale_bits, dequantizer=dequantizer)
    case = bitmod_random(c, n=6, seed=seed)
    runs = [_check(BitModArray(c, input_stage=input_stage, registered_ready=r), case, seed=seed)
            for r in (False, True)]
    assert runs[0].accept_edges == runs[1].accept_edges
    assert runs[0].load_edges == runs[1].load_edges
    assert runs[1].outputs == case.expected


@pytest.mark.parametrize(("weights", "pipeline", "accumulator", "seed"),
                         [("fp4", 7, "exact", 44), ("bitmod", 5, "exact", 45),
                          ("int8", 3, "exact", 46), ("int8", 5, "bitmod", 47)])
def test_decode_copies_keep_the_schedule_and_the_outputs(weights, pipeline, accumulator, seed):
    """The per-PE registers holding the decode's inputs (`decode_copies`: each PE decodes its
    own terms) accept and load at the same edges as the shared decode, with the model's
    outputs, under random stalls and back-pressure, across mode switches (``bitmod``) and
    multi-term codes (``int8``: four Booth terms a code, the term index copied too). Three
    rows: a PE's codes taken from another row change an output. The term index read without
    its copy (a cycle ahead of the codes) only reorders a beat's terms, which the exact
    accumulator's sums do not see; the bitmod accumulator rounds in term order, and its case
    fails then. The copies are ``keep`` registers: the codes, selectors (fp families), mode
    (several families) and term index per PE; no row-shared decode is left."""
    from amaranth.back import verilog

    c = BitModConfig(rows=3, cols=2, weights=weights, lanes=2, group_size=8, k=20,
                     pipeline=pipeline, accumulator=accumulator)
    case = bitmod_random(c, n=4, seed=seed)
    runs = [_check(BitModArray(c, decode_copies=d), case, seed=seed) for d in (False, True)]
    assert runs[0].accept_edges == runs[1].accept_edges
    assert runs[0].load_edges == runs[1].load_edges
    text = verilog.convert(BitModArray(c, decode_copies=True), name="array", emit_src=False)
    kept = re.findall(r"\(\* keep = 32'd1 \*\)\s+reg (?:\[\d+:0\] )?"
                      r"(wcode|wsel|wmode|wterm)_(\d+)_(\d+) ", text)
    fields = ["wcode", "wterm"] + ["wsel"] * c.has_fp + ["wmode"] * (c.modes > 1)
    assert sorted(kept) == sorted((f, str(r), str(col)) for f in fields for r in range(3)
                                  for col in range(2))
    assert not re.search(r"\bwdec_\d+_\d+_(neg|exp|nz)\b", text)
    with pytest.raises(ValueError, match="decode_copies needs term_copies"):
        BitModArray(c, term_copies=False, decode_copies=True)


@pytest.mark.parametrize(("weights", "pipeline", "seed"),
                         [("fp4", 5, 41), ("bitmod", 7, 42), ("int6", 2, 43)])
def test_term_copies_keep_the_schedule_and_the_outputs(weights, pipeline, seed):
    """The ``terms`` cut as a register per PE (`term_copies`, the default) accepts every beat
    and loads every output at the same edge as the row- and column-shared registers, with
    the model's outputs, under random stalls and back-pressure. Three rows and two columns
    with random codes, scales and activations: a PE's copy taken from another row or column,
    or left unregistered (its operand a cycle early), changes an output (pipeline 7: the raw
    activations, their ``nonzero`` field registered too). Each copy is its own ``keep``
    register in the Verilog: 3 term fields and 3 (raw: 4) activation fields per lane."""
    from amaranth.back import verilog

    c = BitModConfig(rows=3, cols=2, weights=weights, lanes=2, group_size=8, k=20,
                     pipeline=pipeline)
    case = bitmod_random(c, n=4, seed=seed)
    runs = [_check(BitModArray(c, term_copies=t), case, seed=seed) for t in (False, True)]
    assert runs[0].accept_edges == runs[1].accept_edges
    assert runs[0].load_edges == runs[1].load_edges
    text = verilog.convert(BitModArray(c), name="array", emit_src=False)
    kept = re.findall(r"\(\* keep = 32'd1 \*\)\s+reg (?:\[\d+:0\] )?"
                      r"(term|act)_(\d+)_(\d+)_(\d+)_(\d+) ", text)
    act_fields = 4 if pipeline == 7 else 3
    assert sorted(kept) == sorted(
        [("term", str(r), str(col), str(i), str(k)) for r in range(3) for col in range(2)
         for i in range(2) for k in range(3)]
        + [("act", str(r), str(col), str(i), str(k)) for r in range(3) for col in range(2)
           for i in range(2) for k in range(act_fields)])


@pytest.mark.parametrize(("accumulator", "loop", "pipeline", "dequantizer"),
                         [("exact", "normalized", 0, "per_pe"),
                          ("exact", "normalized", 5, "per_pe"),
                          ("bitmod", "unnormalized", 7, "per_pe"),
                          ("bitmod", "decoded", 7, "row"),
                          ("bitmod", "normalized", 3, "row")])
@pytest.mark.parametrize("settled", [False, True], ids=["in_flight", "settled"])
def test_a_reset_mid_output_leaves_nothing_behind(accumulator, loop, pipeline, dequantizer,
                                                  settled):
    """The array resets only its control (`lean_reset`): an output interrupted by a reset
    after one and a half groups (Inf/NaN among its activations, the first group dequantized
    into the output accumulator, the second half accumulated) leaves its values in the
    unreset registers, and the outputs after the reset must still be the model's: the
    accumulators are cleared in the first cycle after the reset, everything else is loaded
    before it is read. The control copies per PE (`control_copies`) drive every PE alike.
    The reset comes either one cycle after the last beat (terms, a hand-off and the
    dequantizer still in flight, so the control copies hold live values the reset must
    clear) or once the first group has settled in the output accumulator."""
    c = BitModConfig(rows=2, cols=2, weights="fp4+int6", lanes=2, group_size=8, k=20,
                     pipeline=pipeline, accumulator=accumulator, loop=loop,
                     dequantizer=dequantizer)
    interrupted = bitmod_specials(c)
    assert interrupted.expected[0]["nonfinite"]  # its first output reaches Inf/NaN
    case = bitmod_random(c, n=2, seed=31)
    assert not any(o["nonfinite"] for o in case.expected)
    half = c.beats_full * 3 // 2
    # Settled: the first group has reached the output accumulator, the control chains are idle.
    idle = c.dequant_cycles + pipeline + 2 if settled else 1
    run = run_stream(BitModArray(c), case.beats, len(case.expected), case.out_ports,
                     interrupted=interrupted.beats[:half], idle=idle)
    assert run.outputs == case.expected


def test_decoded_loop_low_zero_parts_test_every_bit():
    # The decoded loop's "low k bits of a + b are 0" tests (its registered exact -2**k flags:
    # the AND of the parts up to each k) against the integer sum, at sums 0 mod 2**k and
    # +-2**j (j < k) off it: a test left out fails. Bit 0's test only tells a sum of -1 mod
    # 2**k, which the loop's own stimuli never bring (dropping it passes all of them).
    from amaranth.hdl import Cat, Module, Signal, signed
    from amaranth.sim import Simulator

    from hwsim.hw.rtl.bitmod import BITMOD_MAN_BITS, _sum_low_zero_parts

    c = BitModConfig(weights="bitmod", accumulator="bitmod", loop="decoded", pipeline=7)
    # The lagged loop's sum W: one bit above the unnormalized loop's (it holds that sum
    # shifted left by the pending normalization), thresholds up to its top magnitude bit.
    width = max(c.partial_width, BITMOD_MAN_BITS) + 2
    low, high = BITMOD_MAN_BITS - 1, width - 2
    a, b = Signal(signed(width)), Signal(signed(width))
    parts = _sum_low_zero_parts(a, b, low, high)
    groups = -(-low // 4)  # the parts below ``low`` are ANDs of four tests
    flags = [parts[:groups + k - low].all() for k in range(low, high + 1)]
    rng = np.random.default_rng(5)
    bound = 1 << (width - 1)
    pairs = []
    for k in range(low, high + 1):
        for av in rng.integers(-bound, bound, 4):
            zero = int(-av + int(rng.integers(-4, 4)) * (1 << k))
            pairs += [(int(av), zero + sign * off) for sign in (1, -1)
                      for off in (0, *[1 << j for j in range(k)])]
    pairs += [tuple(int(v) for v in rng.integers(-bound, bound, 2)) for _ in range(64)]
    pairs = [(x, (y + bound) % (2 * bound) - bound) for x, y in pairs]  # b wraps to its width
    m = Module()
    out = Signal(len(flags))
    m.d.comb += out.eq(Cat(*flags))
    sim = Simulator(m)

    async def bench(ctx):
        for x, y in pairs:
            ctx.set(a, x)
            ctx.set(b, y)
            want = [int((x + y) % (1 << k) == 0) for k in range(low, high + 1)]
            assert [ctx.get(out) >> i & 1 for i in range(len(flags))] == want, (x, y)

    sim.add_testbench(bench)
    sim.run()
