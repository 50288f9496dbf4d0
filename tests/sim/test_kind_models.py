"""Completeness of every registered PE kind's cycle model, over every registered format.

A half-added kind (a schema without a cycle model, a cycle model that cannot say whether it
runs a format, a preset of the kind that does not simulate) fails here.
"""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.dtypes import get_format, list_formats
from hwsim.errors import HwsimError
from hwsim.hw import hardware_from_dict, list_presets, load_hardware
from hwsim.hw.pe_kinds import PE_KINDS
from hwsim.mapping import block_schedule, map_gemm
from hwsim.mapping.tiling import mappings_of
from hwsim.sim import simulate_op
from hwsim.sim.kind_models import CYCLE_MODELS, OperandWidths, cycle_model
from hwsim.workloads import Op


def _pe(name: str):
    data = {"name": "t", "clock_mhz": 100, "array": {"rows": 2, "cols": 2},
            "pe": {"kind": name, "energy_pj_per_cycle": 1, "area_um2": 1},
            "buffers": {b: {"kib": 64} for b in ("weight", "activation", "output")},
            "dram": {"bytes_per_cycle": 8}}
    return hardware_from_dict(data).pe


def test_the_cycle_models_are_keyed_like_the_kinds():
    assert list(CYCLE_MODELS) == list(PE_KINDS)
    with pytest.raises(HwsimError, match="no cycle model for PE kind 'nope'; known: bitmod"):
        cycle_model("nope")


@pytest.mark.parametrize("name", list(PE_KINDS))
def test_every_kind_costs_a_plain_width(name):
    pe = _pe(name)
    model = cycle_model(name)
    w = model.widths(pe, 4, None, 4, False)
    assert isinstance(w, OperandWidths) and (w.a_bits, w.b_bits) == (4, 4)
    k = np.array([1, 64, 1000])
    cycles = model.pe_cycles(k, pe, w, None)
    assert cycles.dtype == np.int64 and np.all(cycles >= 1)
    assert np.all(np.diff(cycles) >= 0)  # a longer reduction never takes fewer cycles
    assert model.lane_mac_cycles(pe, get_format("int4"), None) > 0


@pytest.mark.parametrize("fmt_name", list_formats())
def test_every_kind_either_runs_a_format_or_says_why_not(fmt_name):
    fmt = get_format(fmt_name)
    for name in PE_KINDS:
        pe = _pe(name)
        w = cycle_model(name).widths(pe, 4, fmt, int(fmt.bits), fmt.group_size is not None)
        if isinstance(w, str):
            assert w  # a reason for the message
        else:
            assert w.b_bits == fmt.bits


@pytest.mark.parametrize("fmt_name", list_formats())
def test_two_term_formats_are_sums_of_two_powers_of_two(fmt_name):
    # BitMoD's unified representation: one fraction bit, at most two 1-bits per magnitude.
    fmt = get_format(fmt_name)
    if not fmt.two_term:
        return
    units = np.abs(fmt.values) * 2
    assert np.all(units == np.round(units))
    ones = [bin(int(u)).count("1") for u in units]
    assert max(ones) <= 2


def _presets() -> list[str]:
    return list_presets()  # the accelerators and the measured FPGA design points


@pytest.mark.parametrize("preset", _presets())
def test_every_preset_runs_an_int4_gemm(preset, rtl_figures_stood_in):
    # `rtl` PE figures are stood in for (tests/conftest.py): cycles do not depend on them.
    # INT4 weights with 8-bit activations: a precision every registered kind runs.
    hw = load_hardware(preset)
    assert hw.pe.kind in PE_KINDS
    op = Op(name="gemm", op_class="gemm", stage="prefill", layer="gemm", kind="gemm",
            m=np.array([4]), n=np.array([64]), k=np.array([256]), count=1, a_bits=8.0,
            b_bits=4.125, out_bits=16.0, b_format=get_format("int4"), group_size=128)
    cost = simulate_op(op, hw)[0]
    assert cost.cycles >= cost.compute_cycles > 0 and cost.macs == 4 * 64 * 256


def test_every_kind_is_used_by_a_preset_or_has_no_rtl(rtl_figures_stood_in):
    used = {load_hardware(p).pe.kind for p in _presets()}
    for name, kind in PE_KINDS.items():
        assert name in used or not kind.rtl_blocks


def test_array_tile_passes_read_each_operand_once_by_hand():
    # A broadcast array of 8 rows (output channels, n) x 4 columns (tokens, m), non-square so
    # the two extents cannot stand in for each other. m=8, n=12, k=16 in one block: the array
    # takes ceil(12 / 8) = 2 tile rows x ceil(8 / 4) = 2 tile columns. Each pass reads its
    # rows' weights and its columns' activations once.
    hw = hardware_from_dict({
        "name": "t", "clock_mhz": 100, "array": {"rows": 8, "cols": 4},
        "pe": {"kind": "mac", "lanes": 1, "energy_pj_per_cycle": 1, "area_um2": 1},
        "buffers": {b: {"kib": 64} for b in ("weight", "activation", "output")},
        "dram": {"bytes_per_cycle": 8}})
    mp = map_gemm(8, 12, 16, 16, 16, 16, hw)
    assert mp.blocks == (1, 1, 1)
    s = block_schedule(mp, 16, 16, 16)
    a_reads, b_reads, psum_tiles = cycle_model("mac").operand_reads(s, mappings_of(mp), hw.pe)
    # Weights (12 x 16) once per tile column: ceil(m 8 / cols 4) = 2 x 12 x 16.
    assert b_reads.tolist() == [2 * 12 * 16]
    # Activations (8 x 16) once per tile row: ceil(n 12 / rows 8) = 2 x 8 x 16.
    assert a_reads.tolist() == [2 * 8 * 16]
    assert psum_tiles.tolist() == [8 * 12]
