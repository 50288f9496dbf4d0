"""On a hardware description of the RTL core (`core_hardware`), every mapping the mapper chooses
is one the core runs: its descriptor passes the core's check (`descriptor_error`, which the
RTL's check mirrors: tests/hw/rtl/test_core_config.py), over random cores and GEMM shapes; a
GEMM the mapper refuses is one the core cannot run with any blocks."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.errors import HwsimError
from hwsim.hw import hardware_from_dict, hardware_to_dict, load_hardware
from hwsim.hw.core_rules import SIZE_FIELD_BITS, CoreError
from hwsim.hw.rtl.core_config import CoreConfig, descriptor_error, mode_code
from hwsim.hw.rtl.core_layout import core_hardware, core_op
from hwsim.mapping import map_gemm, map_gemms, tile_quanta


def _random_core(rng: np.random.Generator) -> CoreConfig:
    """A core the generator builds: powers of two, lines from one to 512 per half."""
    while True:
        lanes = int(2 ** rng.integers(0, 5))
        params = {
            "rows": int(2 ** rng.integers(0, 5)), "cols": int(2 ** rng.integers(0, 5)),
            "lanes": lanes, "weights": str(rng.choice(["fp4", "bitmod", "int8", "fp3+int4"])),
            "group_size": lanes * int(2 ** rng.integers(0, 6)),
            "a_lines": int(2 ** rng.integers(0, 10)), "b_lines": int(2 ** rng.integers(0, 10)),
            "o_lines": int(2 ** rng.integers(0, 10)), "bus_bytes": int(rng.choice([0, 1, 2])),
            "pipeline": int(rng.integers(0, 3)),
        }
        params["k_max"] = int(rng.integers(params["group_size"], 4096))
        try:
            return CoreConfig(**params)
        except HwsimError:
            continue  # e.g. more rows than the output drain allows: draw again


def _check_mapping(c: CoreConfig, mp, family: str) -> CoreError:
    return descriptor_error(c, m=mp.m, n=mp.n, k=mp.k, block_m=mp.block_m,
                            block_n=mp.block_n, block_k=mp.block_k,
                            m_outer=int(mp.loop_order == "m_outer"), mode=mode_code(family),
                            group_size=c.group_size)


def _runnable(c: CoreConfig, m: int, n: int, k: int) -> bool:
    """Some descriptor of this GEMM runs: the smallest blocks do (more lines never fit)."""
    return descriptor_error(c, m=m, n=n, k=k, block_m=min(m, c.cols), block_n=min(n, c.rows),
                            block_k=min(k, c.group_size), mode=mode_code(c.families[0].name),
                            group_size=c.group_size) == CoreError.NONE


def test_every_mapping_chosen_for_a_core_is_one_it_runs():
    rng = np.random.default_rng(14)
    chosen = refused = 0
    for _ in range(150):
        c = _random_core(rng)
        hw = hardware_from_dict(core_hardware(c))
        family = str(rng.choice([f.name for f in c.families]))
        shapes = [(int(rng.integers(1, 300)), int(rng.integers(1, 300)),
                   int(rng.integers(1, c.k_max + 1))) for _ in range(8)]
        for m, n, k in shapes:
            op = core_op(c, m, n, k, family=family)
            try:
                mp = map_gemm(m, n, k, op.a_bits, op.b_bits, op.out_bits, hw,
                              group_size=op.group_size)
            except HwsimError as exc:
                assert not _runnable(c, m, n, k), (c, (m, n, k), str(exc))
                refused += 1
                continue
            assert _check_mapping(c, mp, family) == CoreError.NONE, (c, mp)
            chosen += 1
    # Every build the generator accepts runs every GEMM within its size limits: a build whose
    # lines held less than a group (a_lines or b_lines x lanes < group_size) is refused itself
    # now (`CoreConfig`); before, 504 of the 1,200 GEMMs drawn this way were refused.
    assert (chosen, refused) == (1200, 0)


def test_the_formerly_refused_block_is_now_one_the_core_holds():
    # 6 x 10 x 40 on 8 x 2 PEs of 4 lanes with 16 lines per half: the mapper took the whole n
    # (block_n = 10: two padded weight tiles, 20 weight lines of 16) before it knew the lines.
    c = CoreConfig(rows=8, cols=2, lanes=4, group_size=8, k_max=64, a_lines=16, b_lines=16,
                   o_lines=16, bus_bytes=16)
    op = core_op(c, 6, 10, 40)
    mp = map_gemm(6, 10, 40, op.a_bits, op.b_bits, op.out_bits,
                  hardware_from_dict(core_hardware(c)), group_size=op.group_size)
    assert _check_mapping(c, mp, "fp4") == CoreError.NONE
    assert (mp.block_m, mp.block_n, mp.block_k) == (2, 8, 40)
    # The same blocks the description without its core section picks are refused.
    bare = {k: v for k, v in core_hardware(c).items() if k != "core"}
    old = map_gemm(6, 10, 40, op.a_bits, op.b_bits, op.out_bits, hardware_from_dict(bare),
                   group_size=op.group_size)
    assert old.block_n == 10 and _check_mapping(c, old, "fp4") == CoreError.TOO_BIG


def test_gemms_no_descriptor_holds_are_refused_naming_the_limit():
    c = CoreConfig(rows=2, cols=2, lanes=2, group_size=8, k_max=64, a_lines=16, b_lines=16,
                   o_lines=16, bus_bytes=2)
    hw = hardware_from_dict(core_hardware(c), source="core.yaml")
    op = core_op(c, 4, 4, 16)
    args = (op.a_bits, op.b_bits, op.out_bits, hw)
    with pytest.raises(HwsimError, match=r"^core.yaml: core.k_max: k = 80 is above the core's "
                                         r"limit 64 \(gemm\)$"):
        map_gemm(4, 4, 80, *args, group_size=8)
    with pytest.raises(HwsimError, match=r"core.group_size: the core runs groups of 8 weights, "
                                         r"not 16"):
        map_gemm(4, 4, 16, *args, group_size=16)
    big = 1 << SIZE_FIELD_BITS
    with pytest.raises(HwsimError, match=rf"16-bit field: m = {big} is above the core's limit "
                                         rf"{big - 1}"):
        map_gemms(np.array([4, big]), np.array([4, 4]), np.array([16, 16]), *args, group_size=8)
    # A GEMM without groups of its own (e.g. attention's) is blocked in the core's groups.
    assert tile_quanta(hw, "prefill", None) == (2, 2, 8)
    mp = map_gemm(4, 4, 40, *args, group_size=None)
    assert _check_mapping(c, mp, "fp4") == CoreError.NONE


def test_a_core_whose_lines_hold_no_tile_is_refused_naming_the_lines():
    # Groups of 32 on 2 lanes: one group is 16 activation lines, more than the 8 of a half.
    # The generator refuses to build such a core; a description edited by hand is refused by
    # the mapper.
    with pytest.raises(HwsimError, match=r"parameter a_lines \(8\) must be at least "
                                         r"group_size / lanes = 16: a block of k holds whole "
                                         r"groups, so no GEMM of k > 16 would run"):
        CoreConfig(rows=2, cols=2, lanes=2, group_size=32, k_max=64, a_lines=8)
    c = CoreConfig(rows=2, cols=2, lanes=2, group_size=32, k_max=64, a_lines=16)
    assert _runnable(c, 4, 4, 64)
    data = core_hardware(c)
    data["core"]["lines"]["activation"] = 8
    data["buffers"]["activation"]["kib"] /= 2
    op = core_op(c, 4, 4, 64)
    with pytest.raises(HwsimError, match=r"core.lines.activation: 8 lines per buffer half "
                                         r"cannot hold one tile of gemm \(2x2x32 of m x n x k "
                                         r"needs 16 lines\)"):
        map_gemm(4, 4, 64, op.a_bits, op.b_bits, op.out_bits, hardware_from_dict(data),
                 group_size=32)


def test_a_gemm_beyond_the_cores_dram_addresses_is_refused():
    # Addresses are 32-bit counts of bus beats, and the core does not check a region's end:
    # an image past 2**32 beats wraps into its own regions. On 1-byte beats, per line: 8
    # beats of activations (2 x 2 lanes x 16 bits), 2 of codes (2 x 2 x 4), 4 of scales
    # (2 x 16), 16 of outputs (2 x 64-bit words). k = 8: ceil(m/2) x 4 activation lines,
    # ceil(n/2) x 4 weight and ceil(n/2) scale lines, ceil(m/2) x ceil(n/2) x 2 output lines.
    c = CoreConfig(rows=2, cols=2, lanes=2, group_size=8, k_max=64, a_lines=16, b_lines=16,
                   o_lines=16, bus_bytes=1)

    def beats(m: int, n: int) -> int:
        mm, nn = -(-m // 2), -(-n // 2)
        return mm * 4 * 8 + nn * 4 * 2 + nn * 4 + mm * nn * 2 * 16

    assert beats(32768, 16380) < 2**32 < beats(32768, 16382)
    assert c.rules.size_problem(32768, 16380, 8, None, beat_bytes=1) is None
    # A beat from a bandwidth in GB/s (54.2 MHz, 0.1084 GB/s: 1.9999999999999998 bytes) is 2
    # bytes: ceil(16 bits / 15.999...) had counted a code line as 2 beats, not 1.
    beat = 0.1084 * 1e3 / 54.2  # as `HardwareSpec.dram_bytes_per_cycle` computes it
    assert beat != 2
    assert c.rules.image_beats(2, 2, 8, beat) == c.rules.image_beats(2, 2, 8, 2)
    hw = hardware_from_dict(core_hardware(c))
    op = core_op(c, 32768, 16382, 8)
    with pytest.raises(HwsimError, match=rf"core's 32-bit DRAM addresses: the GEMM's operands "
                                         rf"and outputs take {beats(32768, 16382):,} bus beats "
                                         rf"of 1 bytes, above the 2\*\*32 they reach \(gemm\)"):
        map_gemm(32768, 16382, 8, op.a_bits, op.b_bits, op.out_bits, hw, group_size=8)


def test_a_core_description_is_refused_when_its_buffers_are_not_its_lines():
    c = CoreConfig(rows=2, cols=2, lanes=2, group_size=8, k_max=64, a_lines=16)
    data = core_hardware(c)
    data["buffers"]["activation"]["kib"] *= 2
    with pytest.raises(HwsimError, match=r"buffers.activation.kib: 0.5 KiB, but two halves of "
                                         r"core.lines.activation = 16 lines of 64 bits "
                                         r"\(port_bits\) hold 0.25 KiB; change them together"):
        hardware_from_dict(data)
    data = core_hardware(c)
    data["decode_array"] = {"rows": 4, "cols": 1}
    with pytest.raises(HwsimError, match=r"decode_array: the RTL core \(core\) has one array"):
        hardware_from_dict(data)
    data = core_hardware(c)
    data["pe"] = {"kind": "mac", "lanes": 2, "energy_pj_per_cycle": 0, "area_um2": 0}
    with pytest.raises(HwsimError, match=r"core: the RTL core is built of bitmod PEs, not mac"):
        hardware_from_dict(data)


def test_descriptions_without_a_core_section_map_as_before():
    # The paper presets have no core section: the line rule does not apply to them.
    for name in ("bitmod", "ant", "scalesim-ws"):
        hw = load_hardware(name)
        assert hw.core is None and hw.core_rules() is None
    hw = load_hardware("bitmod")
    assert tile_quanta(hw, "prefill", None) == (hw.array.cols, hw.array.rows, hw.pe.lanes)


def test_the_core_section_round_trips_and_matches_the_build():
    c = CoreConfig(rows=4, cols=2, lanes=2, group_size=16, k_max=256, b_lines=8)
    hw = hardware_from_dict(core_hardware(c))
    assert hw.core_rules() == c.rules
    assert hw.core.lines.scale == c.s_lines == 1   # 8 lines x 2 lanes: one group
    assert hardware_from_dict(hardware_to_dict(hw)) == hw


def test_a_core_section_needs_formats_that_fit_its_code_slots():
    # Every weight is costed in a code slot of core.code_bits: an int8 on a 4-bit-slot build
    # (a hand-edited set) or no stated set (FP16 weights as Booth digits) would be costed in
    # bytes and modes the build does not have, so both are refused naming the key.
    c = CoreConfig(rows=2, cols=2, lanes=2, group_size=8, k_max=64, a_lines=16)
    data = core_hardware(c)
    assert data["core"]["code_bits"] == 4
    hardware_from_dict(data)
    data["pe"]["weight_formats"] = ["int8", *data["pe"]["weight_formats"], "int6"]
    with pytest.raises(HwsimError, match=r"^core.yaml: pe.weight_formats: int8, int6: codes "
                                         r"wider than core.code_bits = 4 \(allowed: formats of "
                                         r"at most 4 bits, or code_bits 8 "):
        hardware_from_dict(data, source="core.yaml")
    del data["pe"]["weight_formats"]
    with pytest.raises(HwsimError, match=r"^core.yaml: pe.weight_formats: missing; a core's "
                                         r"description states the formats its build runs"):
        hardware_from_dict(data, source="core.yaml")


def test_the_core_sections_storage_widths_are_checked():
    # code_bits and word_bits cost the core's traffic: missing, outside the allowed values or
    # not the build's (its weight port, its partial sums' word) is refused naming the key.
    c = CoreConfig(rows=2, cols=2, lanes=2, group_size=8, k_max=64, a_lines=16)
    assert (c.code_bits, c.word_bits) == (4, 64)
    data = core_hardware(c)
    del data["core"]["code_bits"]
    with pytest.raises(HwsimError, match=r"^core.yaml: core.code_bits: missing \(allowed: 4, 8\)"
                                         r"; .*`hwsim fpga accel_core`"):
        hardware_from_dict(data, source="core.yaml")
    data = core_hardware(c)
    del data["core"]["word_bits"]
    with pytest.raises(HwsimError, match=r"core.word_bits: missing \(allowed: 32, 64, 128\)"):
        hardware_from_dict(data)
    for key, value, allowed in (("code_bits", 6, "4 or 8"), ("word_bits", 48, "32, 64 or 128")):
        data = core_hardware(c)
        data["core"][key] = value
        with pytest.raises(HwsimError, match=rf"^core.yaml: core.{key}: Input should be "
                                             rf"{allowed}$"):
            hardware_from_dict(data, source="core.yaml")
    data = core_hardware(c)
    data["core"]["code_bits"] = 8
    with pytest.raises(HwsimError, match=r"core.code_bits: 8, but a weight line \(buffers.weight"
                                         r".port_bits = 16\) is array.rows x pe.lanes x "
                                         r"code_bits = 32 bits; change them together"):
        hardware_from_dict(data)
    data = core_hardware(c)
    data["core"]["word_bits"] = 128
    with pytest.raises(HwsimError, match=rf"core.word_bits: 128, but the core writes partial "
                                         rf"sums of acc_bits = {data['acc_bits']} as words of "
                                         r"64 bits"):
        hardware_from_dict(data)
