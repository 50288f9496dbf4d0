"""Synthesis to sky130 gates and activity of real blocks (small parameters: Yosys ~1-5 s)."""

from __future__ import annotations

import dataclasses

import pytest

from hwsim.errors import HwsimError
from hwsim.hw.asic import cost as cost_mod
from hwsim.hw.asic.cost import block_cost
from hwsim.hw.asic.library import load_library
from hwsim.hw.asic.synth import synthesize_gates

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("asic")]


def test_constant_gates_left_by_abc_become_constants(tmp_path):
    # ABC maps a net that logic optimisation reduces to a constant onto the genlib's ZERO /
    # ONE gate (this small array has such nets); the flow turns them back into constants,
    # which the cell table has no cell for.
    cost = block_cost("pe_array", {"rows": 1, "cols": 1, "lanes": 1, "k": 8, "group_size": 4},
                      tmp_path)
    assert cost.area_um2 > 0 and set(cost.cells) <= set(load_library().cells)


def test_int_mac_area_energy_formats_and_cache(tmp_path, monkeypatch):
    cache = tmp_path / "netlists"
    cost = block_cost("int_mac", {"k": 8}, cache)
    lib = load_library()
    assert cost.area_um2 == pytest.approx(
        sum(lib.cell(t).area_um2 * n for t, n in cost.cells.items()))
    assert cost.nand2_eq == pytest.approx(cost.area_um2 / lib.reference_area_um2)
    assert sum(cost.subblock_area_um2.values()) == pytest.approx(cost.area_um2)
    # 8 + 8 operand register bits, a 4-bit beat counter... at least the operand registers.
    assert cost.flops >= 16
    assert set(cost.subblock_area_um2) >= {"multiply", "accumulate"}
    # The INT8 datapath runs INT8 and (sign-extended) INT4 weights; the gates matched the
    # golden model on both (block_cost raises otherwise), and their activity differs.
    fmts = [a.weight_format for a in cost.activity]
    assert fmts == ["int8", "int4"]
    e8, e4 = (a.switching.data for a in cost.activity)
    assert e8 != e4
    assert cost.activity[0].switching.clock == cost.activity[1].switching.clock
    assert len(list(cache.glob("netlist-*.json"))) == len(list(cache.glob("cost-*.json"))) == 1
    # A second process (memos cleared) reads the whole cost from the folder cache: no Yosys,
    # no gate simulation (both would fail here).
    from hwsim.hw.asic import synth
    monkeypatch.setattr(cost_mod, "_MEMO", {})
    monkeypatch.setattr(synth, "_MEMO", {})

    def no_run(*args, **kwargs):
        raise AssertionError("recomputed a cached cost")

    with monkeypatch.context() as m:
        m.setattr(cost_mod, "synthesize_gates", no_run)
        m.setattr(cost_mod, "run_stream", no_run)
        again = block_cost("int_mac", {"k": 8}, cache)
    assert again.cached and again == dataclasses.replace(cost, cached=True)
    # A corrupt cost entry is recomputed (netlist from the cache), and rewritten.
    entry = next(cache.glob("cost-*.json"))
    entry.write_text(entry.read_text().replace('"flops": ', '"flops": 1'))
    monkeypatch.setattr(cost_mod, "_MEMO", {})
    fresh = block_cost("int_mac", {"k": 8}, cache)
    assert fresh == dataclasses.replace(cost, cached=True)  # netlist came from the cache
    monkeypatch.setattr(cost_mod, "_MEMO", {})
    assert block_cost("int_mac", {"k": 8}, cache).flops == cost.flops


def test_a_single_family_pe_costs_its_formats(tmp_path):
    # Sub-blocks and formats do not depend on the PE's size: two lanes, short outputs.
    cost = block_cost("bitmod_pe", {"lanes": 2, "k": 32, "group_size": 16, "weights": "fp3"},
                      tmp_path)
    assert {"exponent match", "bit-serial multiply", "group accumulate",
            "dequantize"} <= set(cost.subblock_area_um2)
    assert all(v > 0 for v in cost.subblock_area_um2.values())
    assert [a.weight_format for a in cost.activity] == ["bitmod3", "fp3"]
    for act in cost.activity:
        assert act.switching.toggle_rate > 0
        assert act.weights == 32 * 2  # k weights x 2 outputs per stream


def test_failed_synthesis_is_one_line(tmp_path):
    with pytest.raises(HwsimError, match="synthesis of broken failed"):
        synthesize_gates("module broken(input a; endmodule", "broken", tmp_path)


def test_one_pe_running_every_mode_costs_each_format(asic_cache):
    # The mode-port PE runs bitmod3, bitmod4 and INT weights on the same gates: the activity
    # (hence energy) differs per format, and INT8's four Booth terms per weight cost more per
    # weight than the two terms of an FP3/FP4 weight. The calibrated PE is such a PE (computed
    # once per run by the `asic_cache` fixture).
    cost = block_cost("bitmod_pe", {"weights": "bitmod", "accumulator": "bitmod"}, asic_cache)
    # The weight-term decoder and the FP16 field split keep their names through synthesis
    # (the whole block counts them; the calibration's published scope does not).
    assert {"exponent match", "bit-serial multiply", "group accumulate", "dequantize",
            "operand decode"} <= set(cost.subblock_area_um2)
    assert all(v > 0 for v in cost.subblock_area_um2.values())
    acts = {a.weight_format: a for a in cost.activity}
    assert list(acts) == ["bitmod3", "bitmod4", "int4", "int6", "int8"]
    per_cycle = [a.switching.data for a in acts.values()]
    assert len(set(per_cycle)) == len(per_cycle)
    assert acts["int8"].cycles > acts["int4"].cycles == acts["bitmod4"].cycles
    assert acts["int8"].units_per_weight > acts["bitmod4"].units_per_weight
