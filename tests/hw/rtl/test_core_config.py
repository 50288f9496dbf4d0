"""The core's descriptor check in Python (`descriptor_error`, the rules the mapper follows:
`hwsim.hw.core_rules`) against the RTL's, and the GEMM the mapper once blocked wrongly run
through the core."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from core_bench import run_commands
from core_cases import BAD, GOOD, LINE_BEAT, SMALL, make_case

from hwsim.errors import HwsimError
from hwsim.hw.rtl.accel_core import AccelCore
from hwsim.hw.rtl.core_config import (
    CoreConfig,
    CoreError,
    descriptor_error,
    mode_code,
    pack_descriptor,
)
from hwsim.hw.rtl.core_dram import DramModel
from hwsim.hw.rtl.core_layout import read_outputs


def test_the_listed_bad_descriptors_get_the_rtls_reasons():
    # The reasons test_accel_core's RTL run returns for these (and none for the good one).
    assert descriptor_error(SMALL, **GOOD) == CoreError.NONE
    for bad, code in BAD:
        assert descriptor_error(SMALL, **{**GOOD, **bad}) == code, bad


# Buffer halves of 8 lines (4 scale lines, 16 output lines): small GEMMs reach every limit,
# so the commands the core accepts stay short.
TINY = dataclasses.replace(SMALL, group_size=4, k_max=32, a_lines=8, b_lines=8, o_lines=16)
N_RANDOM = 60
# (m, n, k, block_m, block_n, block_k), each at a limit of TINY or one past it.
EDGES = [
    ((2, 2, 32, 2, 2, 4), CoreError.NONE),        # k = k_max
    ((2, 2, 33, 2, 2, 4), CoreError.TOO_BIG),     # k_max + 1
    ((2, 2, 16, 2, 2, 16), CoreError.NONE),       # 8 activation and weight lines
    ((4, 2, 8, 4, 2, 8), CoreError.NONE),         # 2 x 4 activation lines
    ((4, 2, 9, 4, 2, 9), CoreError.TOO_BIG),      # 2 x 5: a ragged beat is a line
    ((2, 8, 2, 2, 8, 2), CoreError.NONE),         # 4 scale lines
    ((2, 10, 2, 2, 10, 2), CoreError.TOO_BIG),    # 5: a group below g is a line
    ((3, 7, 4, 3, 7, 4), CoreError.NONE),         # 2 x 4 output tiles of 2 lines
    ((5, 7, 4, 5, 7, 4), CoreError.TOO_BIG),      # 3 x 4: a ragged column is a tile
    ((6, 4, 8, 5, 4, 8), CoreError.BAD_BLOCK),    # ragged inside the extent
]


def _near_the_limits(c, rng: np.random.Generator) -> dict:
    """A random descriptor around a small core's edges: blocks up to about one buffer half
    (whole tiles inside a larger extent, or the whole, maybe ragged, extent), k up to just
    past k_max; now and then a zero, a ragged block inside the extent, the wrong mode or
    group."""

    def dim(tile: int, most: int, extent_most: int) -> tuple[int, int]:
        block = int(rng.integers(1, most + 1))
        if rng.random() < 0.5:
            return block, block
        block = tile * max(1, block // tile)
        return block, int(rng.integers(block, extent_most + 1))

    (bm, m), (bn, n) = dim(c.cols, 8, 12), dim(c.rows, 8, 12)
    bk, k = dim(c.group_size, 2 * c.a_lines * c.lanes // c.cols, c.k_max + 1)
    fields = {"m": m, "n": n, "k": k, "block_m": bm, "block_n": bn, "block_k": bk,
              "m_outer": int(rng.integers(0, 2)), "mode": mode_code("fp4"),
              "group_size": c.group_size}
    odd = rng.integers(0, 20)
    if odd == 0:
        fields[str(rng.choice(list(fields)[:6]))] = 0
    elif odd == 1:
        fields["block_m"] = max(1, min(fields["m"] - 1, fields["block_m"] + 1))
    elif odd == 2:
        fields["mode"] = mode_code("int4")
    elif odd == 3:
        fields["group_size"] = 2 * c.group_size
    return fields


def test_descriptor_error_is_the_rtls_check_at_the_edges_and_at_random():
    rng = np.random.default_rng(5)
    edges = [dict(zip(("m", "n", "k", "block_m", "block_n", "block_k"), shape, strict=True),
                  mode=mode_code("fp4"), group_size=TINY.group_size) for shape, _ in EDGES]
    fields = edges + [_near_the_limits(TINY, rng) for _ in range(N_RANDOM)]
    want = [descriptor_error(TINY, **f) for f in fields]
    assert want[:len(EDGES)] == [code for _, code in EDGES]
    # Every reason occurs.
    assert set(want) == set(CoreError)
    runs = run_commands(AccelCore(TINY), DramModel({}, 1),
                        [pack_descriptor(**f) for f in fields])
    got = [CoreError(r.status["reason"]) for r in runs]
    assert got == want
    assert all(r.status["done"] == (code == CoreError.NONE) for r, code in zip(runs, want,
                                                                              strict=True))


def test_the_formerly_refused_mapping_runs_bit_exact_and_line_exact():
    # 6 x 10 x 40 on 8 x 2 PEs of 4 lanes: the mapper chose block_n = 10 (20 weight lines of
    # 16) before it knew the lines; now 8, which the core runs.
    case = make_case(LINE_BEAT, 6, 10, 40, 2, seed=14)
    assert (case.mapping.block_m, case.mapping.block_n, case.mapping.block_k) == (2, 8, 40)
    old = dataclasses.replace(case.mapping, block_m=2, block_n=10, block_k=40)
    old_desc = make_case(LINE_BEAT, 6, 10, 40, 2, seed=14, mapping=old).descriptor
    dram = DramModel(case.image.beats, 2)
    refused, run = run_commands(AccelCore(LINE_BEAT), dram, [old_desc, case.descriptor])
    assert refused.status["reason"] == CoreError.TOO_BIG
    assert run.status == {"busy": 0, "done": 1, "error": 0, "nonfinite": 0, "reason": 0}
    assert (read_outputs(LINE_BEAT, case.image, dram.mem) == case.expected).all()
    # n = 10 is ragged on 8 rows: the core moves the padding of its lines, which the
    # simulator charges (hw/rtl/README.md, "Cycles").
    assert run.cycles == case.line_cycles == case.model_cycles


def test_a_build_whose_full_halves_overflow_the_beat_counters_is_refused():
    # 2^16 activation lines of 16 x 16 FP16 values on a one-byte bus (512 beats each) and the
    # default 64 weight lines of 8 x 16 4-bit codes (64 beats each) and 64 scale lines of 8 x 16
    # bits (16 each): 2^25 + 4096 + 1024 beats in one load.
    with pytest.raises(HwsimError, match=r"^a load of full buffer halves \(33559552 bus beats\) "
                                         r"overflows the DMA's 24-bit beat counters"):
        CoreConfig(rows=8, cols=16, lanes=16, group_size=16, k_max=4096, a_lines=1 << 16,
                   bus_bytes=1)
    # Half the lines on a two-byte bus: 2^23 beats, built.
    CoreConfig(rows=8, cols=16, lanes=16, group_size=16, k_max=4096, a_lines=1 << 15,
               bus_bytes=2)


def test_a_weight_line_of_half_a_byte_names_the_fix_that_exists():
    # One 4-bit code a line: the message said "lower bus_bytes" on the one-byte bus too.
    with pytest.raises(HwsimError, match=r"^a weight line \(4 bits\) is not a whole number "
                                         r"of 8-bit bus beats: it holds rows x lanes 4-bit "
                                         r"codes, so make rows x lanes even or run weights "
                                         r"with 8-bit codes"):
        CoreConfig(rows=1, cols=1, lanes=1, group_size=1)
    # A whole number of bytes on a wider bus: a narrower bus is the fix.
    with pytest.raises(HwsimError, match=r"^a weight line \(8 bits\) is not a whole number "
                                         r"of 16-bit bus beats: lower bus_bytes"):
        CoreConfig(rows=2, cols=1, lanes=1, group_size=1, bus_bytes=2)


def test_a_build_whose_output_half_holds_no_tile_is_refused():
    # An output tile is rows lines: 4 rows on 2 output lines per half ran no command at all
    # (the descriptor check refused every one as TOO_BIG, the mapper every GEMM).
    with pytest.raises(HwsimError, match=r"^parameter o_lines \(2\) must be at least rows "
                                         r"\(4\): a buffer half holds whole output tiles"):
        CoreConfig(rows=4, o_lines=2)
    CoreConfig(rows=4, o_lines=4)


def test_group_scales_wider_than_the_builds_scale_bits_are_refused():
    # The dequantizer takes scale_bits bits of a scale field: int8 scales (up to 255) on a
    # scale_bits=6 build lost their high bits in the RTL while the golden model used them.
    from hwsim.hw.rtl.core_layout import core_image, gemm_model

    c = dataclasses.replace(SMALL, scale_bits=6)
    a = np.ones((2, 8), np.float16)
    codes = np.zeros((2, 8), np.int64)
    neg = np.zeros((2, 1), np.int64)
    for fn in (core_image, gemm_model):
        fn(c, a, codes, np.full((2, 1), 63), neg)
        with pytest.raises(HwsimError, match=r"^scale: group scale magnitudes on this core are "
                                             r"0..63 \(scale_bits = 6\), not 64$"):
            fn(c, a, codes, np.array([[3], [64]]), neg)
        with pytest.raises(HwsimError, match=r"not -1$"):
            fn(c, a, codes, np.array([[-1], [3]]), neg)


def test_operands_wider_than_their_fields_are_refused():
    # The image ORed scale_neg = 2 into the selector's low bit (the scale stayed positive),
    # dropped wtype 8's and a code 16's high bits, and read float32 70000.0 as the pattern
    # 0x1170, while the golden model used the values themselves.

    a = np.ones((2, 8), np.float16)
    codes = np.zeros((2, 8), np.int64)
    one = np.ones((2, 1), np.int64)
    _each_refuses({"a": a, "codes": codes, "scale": one, "scale_neg": one * 0, "wtype": one * 7}, [
        ({"scale_neg": one * 2}, r"^scale_neg: values of its 1-bit field are 0..1, not 2$"),
        ({"wtype": one * 8}, r"^wtype: values of its 3-bit field are 0..7, not 8$"),
        ({"codes": codes - 1}, r"^codes: values of its 4-bit field are 0..15, not -1$"),
        ({"a": a.astype(np.float32)}, r"^a: FP16 activations as float16 values or uint16 "
                                      r"bit patterns, not float32"),
        ({"a": np.full((2, 8), 65536)}, r"not 65536$")])


def _each_refuses(operands: dict, cases: list[tuple[dict, str]]) -> None:
    """`core_image` and `gemm_model` take `operands` on SMALL and refuse each case's change to
    them with its message: the image and the golden model check their inputs alike."""
    from hwsim.hw.rtl.core_layout import core_image, gemm_model

    for fn in (core_image, gemm_model):
        fn(SMALL, **operands)
        for kwargs, message in cases:
            with pytest.raises(HwsimError, match=message):
                fn(SMALL, **(operands | kwargs))


def test_a_build_whose_lines_hold_less_than_a_group_is_refused():
    # A k block beyond one buffer half is whole groups: 1 line of 2 lanes per half against
    # groups of 8 refused every GEMM of k > 2 (descriptor TOO_BIG, mapper "cannot hold").
    for name in ("a_lines", "b_lines"):
        with pytest.raises(HwsimError, match=rf"^parameter {name} \(2\) must be at least "
                                             r"group_size / lanes = 4: a block of k holds whole "
                                             r"groups, so no GEMM of k > 4 would run$"):
            dataclasses.replace(SMALL, **{name: 2})
    dataclasses.replace(SMALL, a_lines=4, b_lines=4)


def test_operands_of_disagreeing_shapes_are_refused():
    # k = 16 is two groups of 8: a scale table of one group laid out a region a group short,
    # and the core read the second group's scales from the output region; codes of another
    # k were laid out as given; the golden model failed with NumPy's IndexError.

    a = np.ones((4, 16), np.float16)
    codes = np.zeros((3, 16), np.int64)
    two = np.ones((3, 2), np.int64)
    _each_refuses({"a": a, "codes": codes, "scale": two, "scale_neg": two * 0, "wtype": two * 7}, [
        ({"scale": two[:, :1]}, r"^scale: expected shape \[n, ceil\(k / group_size\)\] "
                                r"= \[3, 2\], got \(3, 1\)$"),
        ({"scale_neg": two[:2]}, r"^scale_neg: expected shape .* = \[3, 2\], got \(2, 2\)$"),
        ({"wtype": two[:, :1]}, r"^wtype: expected shape .* got \(3, 1\)$"),
        ({"codes": np.zeros((3, 20), np.int64)},
         r"^codes: expected shape \[n, k\] = \[3, 16\] \(k of a\), got \(3, 20\)$"),
        ({"a": a[0]}, r"^a and codes: expected 2-D \[m, k\] and \[n, k\], got shapes "
                      r"\(16,\) and \(3, 16\)$")])


def test_an_image_beyond_the_cores_addresses_is_refused(monkeypatch):
    # The core's 32-bit beat addresses wrap without a word (the RTL checks no range): an
    # image past them read weights and scales as activations. With 2**7-beat addresses,
    # SMALL's 2 x 2 x 16 GEMM (2 bytes a beat): activation lines of 2 x 2 lanes x 16 bits
    # are 4 beats, 8 of them; weight lines 1 beat (2 x 2 x 4 bits), 8; scale lines 2 beats,
    # 2; one output tile of 2 lines of 2 words (`word_bits` / 16 beats each).
    import hwsim.hw.rtl.core_layout as core_layout

    a = np.ones((2, 16), np.float16)
    codes = np.zeros((2, 16), np.int64)
    two = np.ones((2, 2), np.int64)
    word_beats = 2 * SMALL.word_bits // 16
    beats = 8 * 4 + 8 * 1 + 2 * 2 + 2 * word_beats
    assert SMALL.rules.image_beats(2, 2, 16, SMALL.bus_bytes) == beats
    monkeypatch.setattr(core_layout, "ADDRESS_BITS", (beats - 1).bit_length() - 1)
    with pytest.raises(HwsimError, match=rf"^the core's \d+-bit DRAM addresses: the GEMM's "
                                         rf"operands and outputs take {beats} bus beats of 2 "
                                         r"bytes, above the 2\*\*\d+ they reach$"):
        core_layout.core_image(SMALL, a, codes, two, two * 0)
    monkeypatch.setattr(core_layout, "ADDRESS_BITS", beats.bit_length())
    core_layout.core_image(SMALL, a, codes, two, two * 0)


@pytest.mark.parametrize("loop", ["normalized", "unnormalized", "decoded"])
def test_the_pes_accumulator_loop_reaches_the_cores_array(loop):
    # Every loop of the bitmod accumulator has the same golden model, so the core's
    # bit-exact runs (test_accel_core's loop=unnormalized and loop=decoded cores) pass on an
    # array built with the default loop too: the array's parameters (`CoreConfig.array`, the
    # core's `BitModArray`) must carry this loop.
    c = dataclasses.replace(SMALL, accumulator="bitmod", loop=loop)
    assert (c.array.accumulator, c.array.loop) == ("bitmod", loop)
