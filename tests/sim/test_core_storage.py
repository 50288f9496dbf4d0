"""On the RTL core's description (a ``core`` section) a workload's GEMMs are costed in the
core's storage widths (`hwsim.hw.core_rules.core_stored_op`), the ones `core_op` states: the
cycles the core's tests hold the RTL to, and the bytes it moves (`core_block_beats`)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from hwsim.errors import HwsimError
from hwsim.hw import hardware_from_dict
from hwsim.hw.core_rules import output_word_bits
from hwsim.hw.fpga.design_point import write_hardware_yaml
from hwsim.hw.rtl.core_config import CORE_SLOT_CYCLES, CORE_TRANSFER_CYCLES, CoreConfig
from hwsim.hw.rtl.core_layout import core_block_beats, core_hardware, core_op, line_exact
from hwsim.hw.rtl.registry import resolve_params
from hwsim.mapping import block_schedule, map_gemm
from hwsim.mapping.tiling import mappings_of
from hwsim.sim import pipeline_cycles, simulate_gemm, simulate_op, simulate_workload
from hwsim.sim.kind_models import cycle_model
from hwsim.sim.precision import operand_widths
from hwsim.sim.run import apply_weight_storage
from hwsim.workloads import operators, workload_from_dict

# The small core of the RTL tests (2x2 PEs of 2 lanes, groups of 8, 2-byte beats, fp4).
SMALL = CoreConfig(rows=2, cols=2, lanes=2, group_size=8, k_max=64, a_lines=16, b_lines=16,
                   o_lines=16, bus_bytes=2)
# The 8x8 core `hwsim fpga accel_core -p rows=8 -p cols=8 -p weights=bitmod` builds: 8-bit
# code slots, 128-bit output words, 16-byte beats, groups of 128.
CORE = CoreConfig(**resolve_params("accel_core", {"rows": 8, "cols": 8, "weights": "bitmod"}))
GEMM = {"name": "gemm", "m": 64, "n": 256, "k": 512}


@pytest.fixture(scope="module")
def hw():
    return hardware_from_dict(core_hardware(CORE), source="core.yaml")


@pytest.fixture(scope="module")
def workload():
    # The workload states bitmod4 (4 + 8 / 128 bits and a row factor per weight), FP16 outputs.
    return workload_from_dict({"gemms": [GEMM], "activations": {"bits": 16},
                               "weights": {"format": "bitmod4", "group_size": 128}})


def test_a_workload_gemm_costs_what_the_core_moves(hw, workload):
    assert (CORE.code_bits, CORE.word_bits, CORE.bus_bytes) == (8, 128, 16)
    (wl_op,) = operators(workload)
    assert wl_op.b_bits < 5 and wl_op.out_bits == 16   # the workload's widths differ
    run = simulate_workload(workload, hw)
    row = run.layers.iloc[0]
    rtl = simulate_op(core_op(CORE, GEMM["m"], GEMM["n"], GEMM["k"], family="fp4"), hw)[0]
    # Cycle-equal to the GEMM in the core's widths (which the RTL tests hold the core to).
    assert row["cycles"] == rtl.cycles == run.total_cycles
    # The bytes are the whole lines the core moves for the blocks chosen.
    (stored,) = apply_weight_storage([wl_op], hw)
    s = block_schedule(rtl.mapping, stored.a_bits, stored.b_bits, stored.out_bits)
    load, wb = core_block_beats(CORE, s)
    assert row["dram_read_bytes"] == rtl.dram_read_bytes == load.sum() * CORE.bus_bytes
    assert row["dram_write_bytes"] == rtl.dram_write_bytes == wb.sum() * CORE.bus_bytes
    # Activations: 64 x 512 FP16 in blocks; outputs: 64 x 256 words of 128 bits, written once.
    assert row["dram_write_bytes"] == GEMM["m"] * GEMM["n"] * 128 / 8


def test_the_split_counts_slots_as_their_tensor_and_only_scale_fields_as_scales(hw, workload):
    row = simulate_workload(workload, hw).layers.iloc[0]
    # A weight is an 8-bit slot plus a 16-bit field per group of 128: 8 / 8.125 of the weight
    # traffic is weights (the slot's unused high bits included), 0.125 / 8.125 scales.
    b = row["dram_weights_bytes"] + row["dram_scales_bytes"]
    assert row["dram_scales_bytes"] == pytest.approx(b * (16 / 128) / (8 + 16 / 128))
    assert row["dram_outputs_bytes"] == row["dram_write_bytes"]
    summary = simulate_workload(workload, hw).summary()
    assert summary["hardware"]["weights"] == (
        "as the workload; stored as the core does: 8-bit code slots and a 16-bit scale per "
        "group of 128, FP16 activations, 128-bit output words")



@pytest.mark.parametrize(("m", "n", "k"), [(4, 4, 16), (5, 7, 40), (1, 6, 64), (9, 3, 24)])
def test_shapes_the_rtl_tests_run_cost_as_core_op_states_them(m, n, k):
    # Several blocks, ragged edges, k not a multiple of a beat's lanes x 2, decode m = 1: the
    # workload's bitmod4 GEMM costs on the core exactly what its `core_op` does.
    hw = hardware_from_dict(core_hardware(SMALL))
    wl = workload_from_dict({"gemms": [{"name": "g", "m": m, "n": n, "k": k}],
                             "activations": {"bits": 16},
                             "weights": {"format": "bitmod4", "group_size": 8}})
    row = simulate_workload(wl, hw).layers.iloc[0]
    rtl = simulate_op(core_op(SMALL, m, n, k), hw)[0]
    assert (row["cycles"], row["dram_read_bytes"], row["dram_write_bytes"]) == \
        (rtl.cycles, rtl.dram_read_bytes, rtl.dram_write_bytes)
    assert row["energy_dram_uj"] * 1e6 == pytest.approx(rtl.energy_pj["dram"], rel=1e-12)


@pytest.mark.parametrize(("core", "m", "n", "k"), [
    (SMALL, 9, 5, 52), (SMALL, 1, 12, 64), (SMALL, 4, 6, 20), (SMALL, 8, 8, 64),
    (CORE, 7, 300, 1000)])
def test_ragged_shapes_cost_the_padded_lines_the_core_moves(core, m, n, k):
    # The core moves whole lines, the zero padding of ragged edges included
    # (`core_block_beats`): the simulator charges those bytes, and so the whole-line cycles
    # (`line_exact`, which the RTL tests hold the core to) are its own.
    hw = hardware_from_dict(core_hardware(core))
    op = core_op(core, m, n, k, family="fp4")
    cost = simulate_op(op, hw)[0]
    s = block_schedule(cost.mapping, op.a_bits, op.b_bits, op.out_bits)
    load, wb = core_block_beats(core, s)
    assert (cost.dram_read_bytes, cost.dram_write_bytes) == \
        (load.sum() * core.bus_bytes, wb.sum() * core.bus_bytes)
    compute = cycle_model("bitmod").block_compute(s, mappings_of(cost.mapping), hw.pe,
                                                   operand_widths(op, hw), core.group_size)[0]
    cycles, beats = line_exact(core, s, compute, hw.dram.latency_cycles, hw.command_cycles,
                               pipeline_cycles)
    assert cost.cycles == cycles
    # Each transfer: its beats, the DRAM's latency and the core's registered end.
    assert hw.transfer_cycles == CORE_TRANSFER_CYCLES == 1
    assert cost.dram_cycles == beats + (hw.dram.latency_cycles + 1) * np.count_nonzero(
        np.concatenate([load, wb]))
    # Each of the B + 2 slots: the later of its parts and the core's registered slot end.
    assert hw.slot_cycles == CORE_SLOT_CYCLES == 1
    without = line_exact(core, s, compute, hw.dram.latency_cycles, hw.command_cycles,
                         lambda c, ld, w, _slot: pipeline_cycles(c, ld, w))[0]
    assert cycles - without == CORE_SLOT_CYCLES * (len(compute) + 2)


def test_a_non_square_core_moves_bytes_by_hand():
    # 4 rows x 2 cols, 2 lanes, groups of 8, 4-bit code slots, 64-bit output words (acc 63
    # bits); m, n, k = 4, 8, 16 with every operand read once (whichever blocks split m, in
    # whole column tiles): 4/2 = 2 column tiles, 8/4 = 2 row tiles, 16/2 = 8 lane steps.
    # Lines x bits per line:
    #   activations 2 x 8 lines of cols x lanes x 16 = 64 bits -> 128 B,
    #   weights     2 x 8 lines of rows x lanes x 4  = 32 bits -> 64 B,
    #   scales      2 x 16/8 lines of rows x 16      = 64 bits -> 32 B,
    #   outputs     2 x 2 x 4 lines of cols x 64     = 128 bits -> 256 B.
    core = CoreConfig(rows=4, cols=2, lanes=2, group_size=8, k_max=64, a_lines=16,
                      b_lines=16, o_lines=16, bus_bytes=2)
    assert (core.code_bits, core.word_bits) == (4, 64)
    hw = hardware_from_dict(core_hardware(core))
    cost = simulate_op(core_op(core, 4, 8, 16, family="fp4"), hw)[0]
    assert (cost.mapping.a_fetches, cost.mapping.b_fetches) == (1, 1)
    assert (cost.dram_read_bytes, cost.dram_write_bytes) == (128 + 64 + 32, 256)


def test_partial_sums_of_16_bits_go_out_as_32_bit_words():
    # The output word is the smallest power of two holding a partial sum, and at least 32
    # bits: a 16-bit accumulator still writes 32-bit words, a 33-bit one 64-bit words.
    assert (output_word_bits(16), output_word_bits(32), output_word_bits(33)) == (32, 32, 64)
    data = core_hardware(SMALL)
    # SMALL with 16-bit partial sums: its output line is cols x 16 = 32 bits in the buffer,
    # 2 x 32 = 64 bits of words in DRAM (two halves of 16 lines of 32 bits = 1/8 KiB).
    data["acc_bits"] = 16
    data["buffers"]["output"].update(port_bits=2 * 16, kib=2 * 16 * 32 / 8192)
    data["core"]["word_bits"] = 32
    hw = hardware_from_dict(data, source="core16.yaml")
    assert hw.core.word_bits == 32


def test_a_decode_gemv_on_the_8x8_core_moves_eight_tokens_of_lines():
    # m = 1 on 8 columns: each activation line and output line holds one token and seven
    # zero ones. 4096 x 4096 bitmod4 weights: 8.125 bits each, 17,039,360 bytes; activations
    # 8 x 4096 x 2 bytes per n block; outputs 8 x 4096 words of 16 bytes.
    # In the mapper's least-traffic blocking (1x128x128; the simulator runs a faster one,
    # `test_mapping_choice`).
    hw = hardware_from_dict(core_hardware(CORE))
    op = core_op(CORE, 1, 4096, 4096, family="fp4")
    least = map_gemm(1, 4096, 4096, op.a_bits, op.b_bits, op.out_bits, hw,
                     group_size=CORE.group_size)
    cost = simulate_gemm(1, 4096, 4096, hw, operand_widths(op, hw), op.a_bits, op.b_bits,
                         op.out_bits, group_size=CORE.group_size, mapping=least)
    # Unpadded (the bytes charged before): 17,301,504 read, 65,536 written.
    assert (cost.dram_read_bytes, cost.dram_write_bytes) == (19_136_512, 524_288)


def _run(run_gemm, tmp_path, data: dict) -> tuple[int, str, str]:
    """``hwsim run`` of `GEMM` (bitmod4) on the core described by ``data``: (exit code,
    stdout with its whitespace runs made single spaces, stderr)."""
    hw_path = write_hardware_yaml(data, tmp_path / "core.yaml")
    code, out, err = run_gemm(hw_path, "bitmod4", GEMM["m"], GEMM["n"], GEMM["k"])
    return code, " ".join(out.split()), err


def test_hwsim_run_on_the_cores_yaml_reports_the_cores_cycles_and_bytes(run_gemm, tmp_path, hw):
    code, out, err = _run(run_gemm, tmp_path, core_hardware(CORE))
    assert code == 0, err
    rtl = simulate_op(core_op(CORE, GEMM["m"], GEMM["n"], GEMM["k"], family="fp4"), hw)[0]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    layers = pd.read_csv(tmp_path / "out" / "layers.csv")
    assert summary["total_cycles"] == rtl.cycles
    assert (layers["dram_read_bytes"].sum(), layers["dram_write_bytes"].sum()) == \
        (rtl.dram_read_bytes, rtl.dram_write_bytes)
    # The bits per weight shown beside the workload's format are the core's, and say so.
    storage = ("8-bit code slots and a 16-bit scale per group of 128, FP16 activations, "
               "128-bit output words")
    assert summary["weights_run"]["bits_per_weight"] == 8 + 16 / 128
    assert summary["weights_run"]["source"] == f"the workload's, stored as the core does " \
        f"({storage})"
    assert f"accel_core: bytes and bits/w as the RTL core stores them: {storage}" in out


def test_a_core_yaml_without_the_widths_is_refused_in_one_line(run_gemm, tmp_path):
    data = core_hardware(CORE)
    del data["core"]["code_bits"]
    code, _, err = _run(run_gemm, tmp_path, data)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "core.code_bits: missing (allowed: 4, 8)" in err


@pytest.mark.parametrize(("path", "value", "message"), [
    # What the build takes and the YAML could state otherwise without a word before.
    ("buffers.activation.banks", 4, r"buffers.activation.banks: the core's buffers are one "
                                    r"memory each \(allowed: 1\)"),
    ("buffers.activation.port_bits", 128, r"buffers.activation.port_bits: 128, but a core's "
     r"activation line is array.cols x pe.lanes x 16 \(FP16\) = 256 bits"),
    ("buffers.output.port_bits", 64, r"buffers.output.port_bits: 64, but a core's output line "
     r"is array.cols x acc_bits = 600 bits"),
    ("core.group_size", 100, r"core.group_size: 100 is not a power of two"),
    ("core.k_max", 70000, r"core.k_max: 70000 is above 65535, the largest k of a command's "
                          r"16-bit size field"),
    ("pe.weight_formats", ["bitmod4", "nope"], r"pe.weight_formats\[1\]: unknown format 'nope'"),
    ("pe.weight_formats", ["int4", "int4"], r"pe.weight_formats\[1\]: int4 given twice"),
    ("pe.weight_formats", [], r"pe.weight_formats: empty list"),
    # Accepted as an alias, then refused when a workload's int4 met the build's "INT4".
    ("pe.weight_formats", ["bitmod4", "INT4"],
     r"pe.weight_formats\[1\]: write int4, the format's name, not INT4"),
])
def test_a_core_yaml_that_is_not_the_build_is_refused(path, value, message):
    data = core_hardware(CORE)
    node = data
    *parents, leaf = path.split(".")
    for key in parents:
        node = node[key]
    node[leaf] = value
    with pytest.raises(HwsimError, match=rf"^core.yaml: {message}"):
        hardware_from_dict(data, source="core.yaml")


@pytest.mark.parametrize(("core", "m", "n", "k"), [(SMALL, 4, 4, 16), (SMALL, 9, 5, 52),
                                                  (CORE, 1, 4096, 128)])
def test_repeated_instances_on_a_core_are_commands_of_their_own(core, m, n, k):
    # The core runs one GEMM per descriptor (no command queue; `core_bench.run_commands` holds
    # every command of a sequence to one instance's `simulate_op` cycles): c instances of an op
    # (layers, heads) take c times one, the command, fill and drain included, where the
    # simulator's own pipeline overlapped them (4x4x16 four times on SMALL: 682 against 4 x 198
    # then; 4 x 205 today: hw/rtl/README.md quotes it).
    hw = hardware_from_dict(core_hardware(core))
    op = core_op(core, m, n, k, family="fp4")
    one = simulate_op(op, hw)[0]
    four = simulate_op(dataclasses.replace(op, count=4), hw)[0]
    if (core, m, n, k) == (SMALL, 4, 4, 16):
        assert four.cycles == 820
    assert four.cycles == 4 * one.cycles
    assert (four.dram_read_bytes, four.dram_write_bytes) == \
        (4 * one.dram_read_bytes, 4 * one.dram_write_bytes)
    # Without the core section the same op's instances share one pipeline: fewer cycles.
    plain = hardware_from_dict({k: v for k, v in core_hardware(core).items() if k != "core"})
    shared = simulate_op(dataclasses.replace(op, count=4), plain)[0]
    assert shared.cycles < 4 * simulate_op(op, plain)[0].cycles
