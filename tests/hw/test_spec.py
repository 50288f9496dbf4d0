"""Hardware descriptions: presets, validation errors with YAML paths, overrides, area."""

from pathlib import Path

import pytest

from hwsim.errors import HwsimError
from hwsim.hw import (
    area_breakdown_mm2,
    area_mm2,
    hardware_fields,
    hardware_from_dict,
    hardware_to_dict,
    list_presets,
    load_hardware,
    with_overrides,
)

REQUIRED_PRESETS = {"fp16", "ant", "olive", "bitmod", "int8-systolic", "scalesim-ws",
                    "scalesim-os", "scalesim-is"}


def base():
    return {
        "name": "t", "clock_mhz": 500,
        "pe": {"kind": "bitmod", "lanes": 4, "energy_pj_per_cycle": 0.5, "area_um2": 1000},
        "array": {"rows": 4, "cols": 2},
        "buffers": {b: {"kib": 64} for b in ("weight", "activation", "output")},
        "dram": {"gb_per_s": 16},
    }


def test_presets_load_and_round_trip(rtl_figures_stood_in):
    # `rtl` PE figures are stood in for (see tests/conftest.py): nothing is synthesized here.
    stood_in = rtl_figures_stood_in
    assert set(list_presets()) >= REQUIRED_PRESETS
    rtl = []
    for name in list_presets():
        hw = load_hardware(name)
        assert hw.name == name
        if hw.pe.rtl is not None:
            rtl.append(name)
            assert hw.pe.rtl.derived and {getattr(hw.pe, f) for f in hw.pe.rtl.derived} == {1.0}
        again = hardware_from_dict(hardware_to_dict(hw), source="again")
        assert again == hw
    assert {"bitmod-rtl", "ant-rtl", "fp16-rtl"} <= set(rtl)
    assert len(stood_in) == 2 * len(rtl)  # loaded and round-tripped: nothing synthesized


def test_bitmod_preset_is_the_published_point():
    hw = load_hardware("BitMoD")  # case-insensitive
    assert (hw.array.rows, hw.array.cols) == (32, 32)
    assert (hw.array_for("decode").rows, hw.array_for("decode").cols) == (64, 16)
    assert hw.pe.lanes == 4 and hw.energy_overhead == 1.5
    assert hw.dram_bytes_per_cycle == 32  # 256 bits per cycle


def test_bandwidth_in_gb_per_s_becomes_bytes_per_cycle():
    # 16 GB/s at 500 MHz = 16e9 / 500e6 = 32 bytes per cycle.
    assert hardware_from_dict(base()).dram_bytes_per_cycle == pytest.approx(32.0)


def test_area_by_hand():
    # 8 PEs x 1000 um^2 = 0.008 mm^2; three 64 KiB buffers at 0.238 mm^2 each (CACTI bank).
    hw = hardware_from_dict(base())
    parts = area_breakdown_mm2(hw)
    assert parts["pe_array"] == pytest.approx(0.008)
    assert parts["weight_buffer"] == pytest.approx(0.238)
    assert area_mm2(hw) == pytest.approx(0.008 + 3 * 0.238)
    # The larger of prefill and decode shapes counts (iso-area points are equal).
    bigger = with_overrides(hw, {"decode_array.rows": 8})
    assert area_breakdown_mm2(bigger)["pe_array"] == pytest.approx(0.016)
    # A buffer's own area replaces the per-KiB estimate (only for that buffer):
    # 0.008 + 0.5 + 2 x 0.238 = 0.984 mm^2.
    own = with_overrides(hw, {"buffers.weight.area_mm2": 0.5})
    assert area_breakdown_mm2(own)["weight_buffer"] == pytest.approx(0.5)
    assert area_breakdown_mm2(own)["activation_buffer"] == pytest.approx(0.238)
    assert area_mm2(own) == pytest.approx(0.984)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"array": {"rows": 0, "cols": 2}}, r"t: array.rows: Input should be greater than 0"),
        ({"dram": {"bytes_per_cycle": 0}}, r"dram.bytes_per_cycle: Input should be greater"),
        ({"dram": {}}, r"dram: give exactly one of 'bytes_per_cycle' or 'gb_per_s'"),
        ({"pe": {"kind": "tpu"}},
         r"pe.kind: unknown value 'tpu' \(allowed: bitmod, mac, dint, bipolar, bit_serial"),
        ({"pe": {"lanes": 4}}, r"pe: missing 'kind'"),
        ({"pe": {"kind": "mac", "lanez": 1, "energy_pj_per_cycle": 1, "area_um2": 1}},
         r"pe.lanez: unknown key \(allowed: energy_pj_per_cycle, area_um2, rtl, kind, lanes"),
        ({"pe": {"kind": "systolic", "dataflow": "rs", "energy_pj_per_cycle": 1,
                 "area_um2": 1}}, r"pe.dataflow: Input should be 'ws', 'os' or 'is'"),
        ({"clock": 1}, r"clock: unknown key \(allowed: name, clock_mhz"),
        ({"buffers": {"weight": {"kib": 1}}}, r"buffers.activation: Field required"),
        ({"weights": {}}, r"weights: give exactly one of 'format'"),
        ({"weights": {"format": "int4", "bits": 4}}, r"weights: give exactly one of 'format'"),
        ({"weights": {"format": "fp5x"}}, r"weights.format: .*fp5x"),
        ({"weights": {"bits": 4, "group_size": 8}}, r"weights.group_size: needs 'format'"),
        # A shared dequantizer serves PEs of one row: whole groups of the array's columns.
        ({"pe": {"kind": "bitmod", "dequantizer_pes": 4, "energy_pj_per_cycle": 0.5,
                 "area_um2": 1000}},
         r"pe.dequantizer_pes: 4 PEs of a row share a dequantizer, so it must divide "
         r"array.cols \(2\)"),
        ({"decode_array": {"rows": 2, "cols": 3},
          "pe": {"kind": "bitmod", "dequantizer_pes": 2, "energy_pj_per_cycle": 0.5,
                 "area_um2": 1000}}, r"must divide decode_array.cols \(3\)"),
        # The workload's rules: a cast has no groups, OliVe's pair up (was silently ignored).
        ({"weights": {"format": "fp16", "group_size": 128}},
         r"weights.group_size: fp16 is a plain cast without scales or groups"),
        ({"weights": {"format": "olive4", "group_size": 63}},
         r"weights.group_size: 63 is odd; olive4 pairs"),
        # Lax pydantic took true for 1 (a 1 MHz clock) and "1000" for 1000.
        ({"clock_mhz": True}, r"clock_mhz: Input should be a valid number, not true"),
        ({"name": ""}, r"t: name: String should have at least 1 character"),
        ({"clock_mhz": "1000"}, r"clock_mhz: Input should be a valid number, not the text "
                                r"'1000' \(write a number unquoted\)"),
        ({"energy_overhead": True}, r"energy_overhead: Input should be a valid number"),
        ({"dram": {"bytes_per_cycle": True}}, r"dram.bytes_per_cycle: Input should be a valid"),
        ({"pe": {"kind": "bitmod", "energy_pj_per_cycle": "rtl", "area_um2": "rtl",
                 "rtl": {"block": "bitmod_pe", "params": {"k": True}}}},
         r"pe.rtl.params.k: expected an integer or a name, got True"),
    ],
)
def test_bad_hardware_names_the_yaml_path(patch, message):
    data = base() | patch
    with pytest.raises(HwsimError, match=message):
        hardware_from_dict(data, source="t")


def test_unknown_preset_lists_presets_and_closest():
    with pytest.raises(HwsimError, match=r"unknown hardware preset 'bitmd' \(did you mean "
                                         r"bitmod, bitmod-rtl\?\); presets: ant, ant-rtl, "
                                         r"bitmod"):
        load_hardware("bitmd")


def test_overrides_by_dotted_path():
    hw = load_hardware("bitmod")
    new = with_overrides(hw, {"array.rows": 64, "pe.lanes": 8, "buffers.weight.kib": 256,
                              "dram.bytes_per_cycle": 64})
    assert (new.array.rows, new.pe.lanes, new.buffers.weight.kib) == (64, 8, 256)
    assert new.dram_bytes_per_cycle == 64
    assert hw.array.rows == 32  # the original is untouched (frozen)
    # Setting one bandwidth field clears the other one.
    assert with_overrides(new, {"dram.gb_per_s": 16}).dram_bytes_per_cycle == 16
    # A near miss names the closest fields; anything else lists them all.
    with pytest.raises(HwsimError, match=r"unknown hardware field 'pe.lanez' \(did you mean "
                                         r"pe.lanes\?\)$"):
        with_overrides(hw, {"pe.lanez": 8})
    with pytest.raises(HwsimError, match=r"unknown hardware field 'color' \(valid fields: "
                                         r"acc_bits, array.cols, array.rows"):
        with_overrides(hw, {"color": 8})
    with pytest.raises(HwsimError, match=r"array.rows: Input should be greater than 0"):
        with_overrides(hw, {"array.rows": 0})
    assert "pe.scale_bits" in hardware_fields(hw)
    assert "pe.dataflow" in hardware_fields(load_hardware("scalesim-os"))


def test_fpga_style_point_clock_and_bandwidth():
    # An FPGA design point: 145 MHz fmax, 4x4 array, board DRAM given in GB/s.
    data = base() | {"clock_mhz": 145, "array": {"rows": 4, "cols": 4},
                     "pe": {"kind": "dint", "lanes": 4, "energy_pj_per_cycle": 0,
                            "area_um2": 0},
                     "dram": {"gb_per_s": 2.9}}
    hw = hardware_from_dict(data)
    assert hw.dram_bytes_per_cycle == pytest.approx(2.9e9 / 145e6)


def test_a_reference_is_a_file_by_its_form_never_by_what_exists(tmp_path, monkeypatch):
    # One rule (hwsim.files.resolve_reference): a name ending in .yaml or holding a "/" is a
    # file, relative to the folder given; anything else is a preset, even if a file of that
    # name sits in the current directory.
    from hwsim.files import resolve_reference

    (tmp_path / "bitmod").write_text("not: hardware\n")
    monkeypatch.chdir(tmp_path)
    assert load_hardware("bitmod").name == "bitmod"
    assert resolve_reference(" BitMoD ") == "bitmod"
    assert resolve_reference("hw.yaml", tmp_path) == tmp_path / "hw.yaml"
    assert resolve_reference("sub/hw", tmp_path) == tmp_path / "sub" / "hw"
    assert resolve_reference("/abs/hw.yml", tmp_path) == Path("/abs/hw.yml")
    # Any case: myhw.YAML was taken for a preset named "myhw.yaml".
    assert resolve_reference("myhw.YAML", tmp_path) == tmp_path / "myhw.YAML"
    assert resolve_reference(Path("bitmod")) == Path("bitmod")
    with pytest.raises(HwsimError, match=r"tmp.*/nope\.yaml: cannot read hardware description"):
        load_hardware("nope.yaml", tmp_path)


def test_overrides_of_another_kind_are_named():
    with pytest.raises(HwsimError, match=r"overrides: expected a mapping of dotted field "
                       r"paths to values, not list$"):
        with_overrides(load_hardware("bitmod"), [("array.rows", 4)])


def test_numpy_scalars_override_as_their_python_numbers():
    import numpy as np

    hw = load_hardware("bitmod")
    # np.int64 was refused ("Input should be a valid integer") where np.float32 passed.
    given = with_overrides(hw, {"array.rows": np.int64(64), "clock_mhz": np.float32(500)})
    assert given == with_overrides(hw, {"array.rows": 64, "clock_mhz": 500.0})


def test_a_designs_weight_width_is_at_least_one_bit_as_a_workloads():
    data = base() | {"weights": {"bits": 0.5}}  # 0.5-bit weights ran
    with pytest.raises(HwsimError, match=r"weights.bits: Input should be greater than or "
                                         r"equal to 1"):
        hardware_from_dict(data, "t")


def test_distinct_names_number_repeats_past_names_already_taken():
    from dataclasses import replace

    from hwsim.hw import distinct_names

    hw = load_hardware("bitmod")
    designs = [hw, replace(hw, name="bitmod#2"), hw, hw]
    assert [d.name for d in distinct_names(designs)] == ["bitmod", "bitmod#2", "bitmod#3",
                                                         "bitmod#4"]
    assert [d.name for d in distinct_names([hw, hw])] == ["bitmod", "bitmod#2"]


def test_a_negative_zero_is_read_as_zero():
    # -0.0 passes ">= 0" and was written as "-0" (layers.csv's energy_leakage_uj).
    import math

    hw = hardware_from_dict(base() | {"leakage_mw": -0.0, "other_area_mm2": -0.0}, "t")
    assert math.copysign(1.0, hw.leakage_mw) == 1.0
    assert math.copysign(1.0, hw.other_area_mm2) == 1.0
