"""Pieces of the scaling study that need no FPGA tools: extrapolation, shapes, MAC rates."""

from __future__ import annotations

import dataclasses
import json

import pytest

from hwsim.errors import HwsimError
from hwsim.hw.fpga.flow import Implementation, ResourceUse
from hwsim.hw.fpga.scaling import (
    ScalingPoint,
    balanced_shape,
    peak_macs_per_s,
    predict_max_pes,
)
from hwsim.hw.fpga.wrapper import WrapperCost


def test_extrapolation_finds_the_binding_resource():
    # LUTs: 100 at 1 PE, 370 at 4 -> 90 per PE on a base of 10: (1000 - 10) // 90 = 11.
    # DSPs: 1 per PE, no base: 28. IO does not grow and is ignored.
    one = {"LUT": (100, 1000), "DSP": (1, 28), "IO": (5, 197)}
    four = {"LUT": (370, 1000), "DSP": (4, 28), "IO": (5, 197)}
    assert predict_max_pes(one, 1, four, 4) == (11, "LUT")
    # With 5 DSPs per PE instead: 28 // 5 = 5 PEs, the DSPs bind.
    assert predict_max_pes({**one, "DSP": (5, 28)}, 1, {**four, "DSP": (20, 28)}, 4) == (5, "DSP")


def test_extrapolation_ignores_bels_outside_the_resource_list():
    # Global buffers grow by one per PE (8 on a UP5K) but are no limit: nextpnr only promotes
    # nets to them while any is free.
    one = {"ICESTORM_LC": (323, 5280), "SB_GB": (3, 8)}
    four = {"ICESTORM_LC": (1184, 5280), "SB_GB": (6, 8)}
    assert predict_max_pes(one, 1, four, 4)[1] == "SB_GB"
    # LCs: 287 per PE on a base of 36: (5280 - 36) // 287 = 18.
    assert predict_max_pes(one, 1, four, 4, {"ICESTORM_LC"}) == (18, "ICESTORM_LC")


def test_extrapolation_needs_a_growing_resource():
    with pytest.raises(HwsimError, match="no resource grows"):
        predict_max_pes({"IO": (5, 197)}, 1, {"IO": (5, 197)}, 4)


@pytest.mark.parametrize(("pes", "shape"), [
    # The most PEs first (7 = 7x1 beats 3x2), then the squarest (14 = 7x2, 16 = 4x4).
    (1, (1, 1)), (3, (3, 1)), (4, (2, 2)), (7, (7, 1)), (14, (7, 2)), (16, (4, 4)),
    (60, (15, 4)), (64, (8, 8)), (1000, (16, 16)),
])
def test_balanced_shape_never_exceeds_the_count_or_the_side(pes, shape):
    assert balanced_shape(pes, 16) == shape
    rows, cols = shape
    assert rows * cols <= pes and cols <= rows <= 16


def test_peak_rate_is_pes_lanes_clock_over_cycles():
    impl = Implementation(
        block="int_mac", params={}, device="ecp5-25k", freq_mhz=50.0, dsp=True, seeds=(1,),
        resources=(ResourceUse("logic", "TRELLIS_COMB", 1, 2),), fmax_mhz={"clk": 80.0},
        fmax_by_seed_mhz={"clk": (80.0,)}, critical_path=None, cells={},
        wrapper=WrapperCost(1, 1, 1, 2, 1, 5))
    point = ScalingPoint("int8_mac", "ecp5-25k", rows=3, cols=2, lanes=4, implementation=impl)
    # 6 PEs x 4 lanes x 80 MHz / 2 cycles per MAC
    assert peak_macs_per_s(point, 2.0) == 6 * 4 * 80e6 / 2
    with pytest.raises(HwsimError, match="above 0"):
        peak_macs_per_s(point, 0.0)


def _point(kind, device, dsp, fmax=50.0, speed=None):
    params = {"lanes": 4, "k": 256, "weight_bits": 8, "act_bits": 8, "group_size": 128,
              "scale_bits": 8}
    impl = Implementation(
        block="int_mac", params=params, device=device, freq_mhz=50.0, dsp=dsp, seeds=(1,),
        resources=(ResourceUse("logic", "LUT", 10, 100), ResourceUse("dsp", "DSP", 4 * dsp, 8)),
        fmax_mhz={"clk": fmax}, fmax_by_seed_mhz={"clk": (fmax,)}, critical_path=None,
        cells={}, wrapper=WrapperCost(1, 1, 1, 2, 1, 5), speed_grade=speed)
    return ScalingPoint(kind, device, rows=2, cols=1, lanes=4, implementation=impl)


def test_scaling_table_groups_by_device_then_kind_whatever_the_point_order():
    from hwsim.reports.fpga_scaling import scaling_table

    points = [_point("bitmod", "ice40-up5k", True), _point("int8_mac", "ecp5-25k", False),
              _point("fp16_int_mac", "ecp5-25k", True), _point("int8_mac", "ecp5-25k", True)]
    table = scaling_table(points)
    order = table.drop_duplicates(["device", "kind", "dsp"])[["device", "kind", "dsp"]]
    assert order.values.tolist() == [["ecp5-25k", "int8_mac", True],
                                     ["ecp5-25k", "int8_mac", False],
                                     ["ecp5-25k", "fp16_int_mac", True],
                                     ["ice40-up5k", "bitmod", True]]
    assert table.equals(scaling_table(points[::-1]))
    # The ceiling a search ran with is in every row, so studies with different ones differ.
    assert set(table.max_logic_pct) == {100.0}
    capped = dataclasses.replace(points[0], max_logic=0.9)
    assert set(scaling_table([capped]).max_logic_pct) == {90.0}
    # 2 PEs x 4 lanes x 50 MHz at 1 cycle per MAC (both FP16 MAC formats take one pass).
    fp16 = table[table.kind == "fp16_int_mac"]
    assert fp16.weight_format.tolist() == ["int8", "int4"]
    assert fp16.peak_gmac_s.tolist() == [0.4, 0.4]


def test_scaling_outputs_are_a_markdown_table_a_plot_and_one_design_point_per_build(tmp_path):
    from hwsim.hw import load_hardware
    from hwsim.reports.fpga_scaling import scaling_table, write_scaling_outputs

    points = [_point("int8_mac", "ecp5-25k", True), _point("int8_mac", "ecp5-25k", False)]
    paths = write_scaling_outputs(points, scaling_table(points), tmp_path)
    md = (tmp_path / "scaling.md").read_text().splitlines()
    assert md[0].startswith("| kind | device | dsp | array |") and md[1].startswith("|---|")
    assert len(md) == 2 + 4  # two builds x (int8, int4)
    assert (tmp_path / "scaling.png").read_bytes().startswith(b"\x89PNG")
    names = sorted(p.name for p in paths if p.suffix == ".yaml")
    assert names == ["fpga-int8_mac-ecp5-25k-lut.yaml", "fpga-int8_mac-ecp5-25k.yaml"]
    assert load_hardware(str(tmp_path / names[0])).clock_mhz == 50.0


def test_a_rerun_removes_the_design_points_it_no_longer_writes(tmp_path):
    """A study of int8_mac (DSP and LUT builds) rerun with dint_mac only left both int8_mac
    YAMLs beside a scaling.json that no longer listed them (a design point to run that the
    record disowns). A YAML edited since is the user's, and stays; so do the tools' shape
    folders (their logs) and any other file."""
    from hwsim.reports.fpga_scaling import scaling_table, write_scaling_outputs

    first = [_point("int8_mac", "ecp5-25k", True), _point("int8_mac", "ecp5-25k", False)]
    write_scaling_outputs(first, scaling_table(first), tmp_path)
    saved = json.loads((tmp_path / "scaling.json").read_text())
    assert sorted(saved["files"]) == ["fpga-int8_mac-ecp5-25k-lut.yaml",
                                      "fpga-int8_mac-ecp5-25k.yaml", "scaling.md", "scaling.png"]
    edited = tmp_path / "fpga-int8_mac-ecp5-25k-lut.yaml"
    edited.write_text(edited.read_text() + "# mine\n")
    (tmp_path / "int8_mac_2x1").mkdir()
    (tmp_path / "fpga-mine.yaml").write_text("name: mine\n")
    second = [_point("dint_mac", "ecp5-25k", True)]
    write_scaling_outputs(second, scaling_table(second), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fpga-dint_mac-ecp5-25k.yaml", "fpga-int8_mac-ecp5-25k-lut.yaml", "fpga-mine.yaml",
        "int8_mac_2x1", "scaling.json", "scaling.md", "scaling.png"]


def test_a_kind_whose_search_failed_keeps_its_earlier_design_point(tmp_path):
    """A rerun whose int8_mac search failed (a timeout) removed int8_mac's design point of
    the earlier run as stale: a failure destroyed a result. It stays, still recorded, so a
    later successful run replaces it."""
    from hwsim.reports.fpga_scaling import scaling_table, write_scaling_outputs

    first = [_point("int8_mac", "ecp5-25k", True), _point("dint_mac", "ecp5-25k", True)]
    write_scaling_outputs(first, scaling_table(first), tmp_path)
    second = [_point("dint_mac", "ecp5-25k", True)]
    write_scaling_outputs(second, scaling_table(second), tmp_path, failed=["int8_mac"])
    assert (tmp_path / "fpga-int8_mac-ecp5-25k.yaml").exists()
    files = json.loads((tmp_path / "scaling.json").read_text())["files"]
    assert "fpga-int8_mac-ecp5-25k.yaml" in files
    write_scaling_outputs(second, scaling_table(second), tmp_path)  # not failed: stale now
    assert not (tmp_path / "fpga-int8_mac-ecp5-25k.yaml").exists()


def test_a_capped_build_is_named_apart_and_its_record_says_how_it_was_asked(tmp_path):
    """--max-logic 30 made a 1x1 int8_mac named fpga-int8_mac-ice40-up5k-lut, the name of
    the stored preset of its 5x1 uncapped build; scaling.json did not say which clock was
    asked of nextpnr, nor on which seeds."""
    from hwsim.hw import load_hardware
    from hwsim.reports.fpga_scaling import scaling_table, write_scaling_outputs

    capped = dataclasses.replace(_point("int8_mac", "ice40-up5k", False), max_logic=0.3)
    paths = write_scaling_outputs([capped], scaling_table([capped]), tmp_path)
    yaml_path = next(p for p in paths if p.suffix == ".yaml")
    assert yaml_path.name == "fpga-int8_mac-ice40-up5k-lut-logic30.yaml"
    assert load_hardware(str(yaml_path)).name == "fpga-int8_mac-ice40-up5k-lut-logic30"
    assert "within 30% of the device's logic" in yaml_path.read_text().split("name:")[0]
    saved = json.loads((tmp_path / "scaling.json").read_text())["points"][0]
    assert (saved["freq_mhz"], saved["seeds"], saved["dsp"], saved["max_logic"]) == (
        50.0, [1], False, 0.3)


def test_a_study_over_grades_and_families_names_each_part_and_writes_strict_json(tmp_path):
    # An iCE40 row has no grade: the table says the part as text (a grade column of ints and
    # Nones became floats and NaN, which scaling.json then held as a bare NaN).
    from hwsim.reports.fpga_scaling import scaling_table, write_scaling_outputs

    points = [_point("int8_mac", "ecp5-25k", True), _point("int8_mac", "ecp5-25k", True, speed=8),
              _point("int8_mac", "ice40-up5k", True)]
    table = scaling_table(points)
    assert table.drop_duplicates("part").part.tolist() == ["LFE5U-25F-6", "LFE5U-25F-8",
                                                          "iCE40UP5K"]
    paths = write_scaling_outputs(points, table, tmp_path)

    def no_constant(name: str) -> None:
        raise AssertionError(f"scaling.json holds {name}")

    saved = json.loads((tmp_path / "scaling.json").read_text(), parse_constant=no_constant)
    assert [p["speed_grade"] for p in saved["points"]] == [6, 8, None]
    assert "nan" not in (tmp_path / "scaling.md").read_text().lower()
    # A grade other than the device's default is in the design point's name: no overwrite.
    assert sorted(p.name for p in paths if p.suffix == ".yaml") == [
        "fpga-int8_mac-ecp5-25k-speed8.yaml", "fpga-int8_mac-ecp5-25k.yaml",
        "fpga-int8_mac-ice40-up5k.yaml"]


# The tools replaced by a model of an ECP5-25k-like device with 10000 LUTs: a PE costs 100 LUTs
# on a base of 50 up to 4 PEs, ``big_per_pe`` beyond (packing is not quite linear), and routing
# fails above 90 PEs.
_LUT, _PER_PE, _BASE, _ROUTE_LIMIT = 10_000, 100, 50, 90


def _model_tools(monkeypatch, big_per_pe: int = _PER_PE) -> list:
    from hwsim.hw.fpga import scaling
    from hwsim.hw.fpga.flow import FitCheck
    from hwsim.hw.fpga.reports import Shortfall

    routed = []

    def check_fit(block, device, out_dir, *, dsp, timeout_s):
        rows, cols = block
        n = rows * cols
        used = _BASE + (_PER_PE if n <= 4 else big_per_pe) * n
        short = (Shortfall("TRELLIS_COMB", used, _LUT),) if used > _LUT else ()
        return FitCheck(short, {"TRELLIS_COMB": (used, _LUT), "MULT18X18D": (0, 28)})

    def implement(block, device, out_dir, *, name, params, freq_mhz, dsp, seeds, timeout_s,
                  placer, speed, jobs, progress):
        rows, cols = block
        if progress is not None:  # the search hands the flow's stage reports through
            progress(f"{rows}x{cols}: seed 1: routing (jobs {jobs})")
        routed.append((rows, cols, timeout_s, freq_mhz) + (() if placer == "heap" else (placer,))
                      + (() if speed is None else (speed,)))
        if rows * cols > _ROUTE_LIMIT:
            raise HwsimError("nextpnr-ecp5 ran longer than 60 s")
        return _point("bipolar", device, dsp).implementation

    monkeypatch.setattr(scaling, "build_array", lambda study, rows, cols: (rows, cols))
    monkeypatch.setattr(scaling, "check_fit", check_fit)
    monkeypatch.setattr(scaling, "implement", implement)
    return routed


def test_search_packs_extrapolates_and_after_a_failed_route_tries_10_percent_smaller(
    monkeypatch, tmp_path
):
    """99 PEs fit the 10000 LUTs: the prediction is shaped 49x2 (98 PEs), packs, fails to
    route; the next try is 98 x 0.9 = 88 PEs, which routes. (A 5% step would have spent a
    failed routing each on 93 and 88.) The request is the study's clock."""
    from hwsim.hw.fpga import scaling

    routed = _model_tools(monkeypatch)
    lines = []
    point = scaling.largest_array("bipolar", "ecp5-25k", tmp_path, timeout_s=60.0,
                                  log=lines.append)
    assert (point.rows, point.cols) == (11, 8)
    assert routed == [(49, 2, 60.0, 50.0), (11, 8, 60.0, 50.0)]
    assert [t[:3] for t in point.tried] == [(1, 1, True), (2, 2, True), (49, 2, True)]
    assert "linear extrapolation predicts 99 PEs (TRELLIS_COMB runs out)" in " ".join(lines)
    assert point.max_logic == 1.0 and point.to_dict()["max_logic"] == 1.0
    # The placer it is given places every shape it routes.
    routed.clear()
    scaling.largest_array("bipolar", "ecp5-25k", tmp_path, timeout_s=60.0, placer="static")
    assert routed == [(49, 2, 60.0, 50.0, "static"), (11, 8, 60.0, 50.0, "static")]
    with pytest.raises(HwsimError, match="unknown placer 'sa'; allowed: heap, static"):
        scaling.largest_array("bipolar", "ecp5-25k", tmp_path, placer="sa")
    # And the speed grade; a grade the device lacks is refused before any tool runs.
    routed.clear()
    scaling.largest_array("bipolar", "ecp5-25k", tmp_path, timeout_s=60.0, speed=8)
    assert routed == [(49, 2, 60.0, 50.0, 8), (11, 8, 60.0, 50.0, 8)]
    routed.clear()
    with pytest.raises(HwsimError, match="speed grade 9 is not offered for ecp5-25k"):
        scaling.largest_array("bipolar", "ecp5-25k", tmp_path, speed=9)
    assert routed == []
    # So are the seeds placed at once, and the flow's stage reports reach the caller.
    stages = []
    scaling.largest_array("bipolar", "ecp5-25k", tmp_path, jobs=1, progress=stages.append)
    assert stages == ["49x2: seed 1: routing (jobs 1)", "11x8: seed 1: routing (jobs 1)"]
    with pytest.raises(HwsimError, match="jobs must be a positive integer"):
        scaling.largest_array("bipolar", "ecp5-25k", tmp_path, jobs=0)


def test_a_device_named_in_any_case_is_studied_under_its_own_name(monkeypatch, tmp_path):
    """get_device takes any case; the point kept the name as typed, and the table refused
    "ICE40-UP5K" (ValueError, no outputs) after the whole search and place-and-route."""
    from hwsim.hw.fpga import scaling
    from hwsim.reports.fpga_scaling import scaling_table

    _model_tools(monkeypatch)
    devices = []
    check_fit = scaling.check_fit

    def seen(block, device, out_dir, **kw):
        devices.append(device)
        return check_fit(block, device, out_dir, **kw)

    monkeypatch.setattr(scaling, "check_fit", seen)
    point = scaling.largest_array("bipolar", " ECP5-25K ", tmp_path, timeout_s=60.0)
    assert point.device == "ecp5-25k" and set(devices) == {"ecp5-25k"}
    assert scaling_table([point])["device"].tolist() == ["ecp5-25k"]


def test_a_logic_ceiling_shrinks_the_prediction_and_refuses_shapes_that_pack_above_it(
    monkeypatch, tmp_path
):
    """With a 90% ceiling the extrapolation fills 9000 LUTs: (9000 - 50) // 100 = 89 PEs, shaped
    11x8 (88). Packed at 102 LUTs per PE that is 9026 LUTs, above the ceiling though it fits the
    device: refused. The next shape, 89 x 0.95 = 84 PEs (21x4, 8618 LUTs), is within it and
    routes at the first try: no failed routing is spent."""
    from hwsim.hw.fpga import scaling

    routed = _model_tools(monkeypatch, big_per_pe=102)
    lines = []
    point = scaling.largest_array("bipolar", "ecp5-25k", tmp_path, timeout_s=60.0,
                                  max_logic=0.9, log=lines.append)
    assert (point.rows, point.cols) == (21, 4) and point.max_logic == 0.9
    assert [r[:2] for r in routed] == [(21, 4)]
    assert point.tried == (
        (1, 1, True, ""), (2, 2, True, ""),
        (11, 8, False, "TRELLIS_COMB: uses 9026 of 10000, above the 90% ceiling"),
        (21, 4, True, ""))
    assert "predicts 89 PEs (TRELLIS_COMB runs out of its 90% ceiling)" in " ".join(lines)
    # Without it the same tools predict 99 PEs: 49x2 does not pack (50 + 102 x 98 = 10046),
    # 99 x 0.95 = 94 does (47x2, 9638 LUTs, 96%) and fails to route before 21x4 routes.
    routed.clear()
    point = scaling.largest_array("bipolar", "ecp5-25k", tmp_path)
    assert [r[:2] for r in routed] == [(47, 2), (21, 4)] and point.pes == 84


@pytest.mark.parametrize("ceiling", [0.0, -0.5, 1.01, float("nan")])
def test_a_logic_ceiling_outside_0_to_1_is_refused(tmp_path, ceiling):
    from hwsim.hw.fpga import scaling

    with pytest.raises(HwsimError, match=r"logic ceiling must be in \(0, 1\]"):
        scaling.largest_array("bipolar", "ecp5-25k", tmp_path, max_logic=ceiling)


def test_study_parameters_override_the_studys_own_and_are_checked():
    from hwsim.hw.fpga.scaling import study_with
    from hwsim.hw.pe_kinds import FPGA_STUDIES

    own = FPGA_STUDIES["bitmod"]
    assert study_with("bitmod") is own and study_with("bitmod", {}) is own
    eight = study_with("bitmod", {"lanes": 8, "dequantizer": "row"})
    assert eight.params == {**own.params, "lanes": 8, "dequantizer": "row"}
    assert eight.block == own.block and FPGA_STUDIES["bitmod"].params["lanes"] == 4
    with pytest.raises(HwsimError, match="lanes = 99 is not allowed"):
        study_with("bitmod", {"lanes": 99})
    with pytest.raises(HwsimError, match="block int_mac has no parameter 'dequantizer'"):
        study_with("int8_mac", {"dequantizer": "row"})
    with pytest.raises(HwsimError, match="bitmod: cols, rows: set by the search"):
        study_with("bitmod", {"rows": 2, "cols": 2})
    with pytest.raises(HwsimError, match="unknown PE kind 'nope'"):
        study_with("nope", {"lanes": 2})
    # One weight family: the study's table (bitmod3/4, int4, int8) and benchmark (bitmod3
    # weights, int8 KV cache) would ask the build for formats it does not run, after hours of
    # place and route.
    with pytest.raises(HwsimError, match=r"bitmod: weights=fp4: the build runs fp4_e2m1, "
                                         r".*bitmod4, not the study's bitmod3, int4, int8$"):
        study_with("bitmod", {"weights": "fp4"})
    # The benchmark costs its workload in groups of 128: a build of 64 would not be what ran.
    with pytest.raises(HwsimError, match=r"bitmod: group_size=64: the study's benchmark "
                                         r"quantizes in groups of 128; allowed: that group size$"):
        study_with("bitmod", {"group_size": 64})
    assert study_with("bitmod", {"group_size": 128}).params["group_size"] == 128


def test_search_builds_and_records_the_pe_parameters_it_is_given(monkeypatch, tmp_path):
    """``params`` reach every build of the search (the packs and the routed winner), the
    design point records them, and the point's lanes are the build's."""
    from hwsim.hw.fpga import scaling

    built, recorded = [], []
    _model_tools(monkeypatch)

    def build_array(study, rows, cols):
        built.append(study.params["lanes"])
        return rows, cols

    def implement(block, device, out_dir, *, name, params, **_kw):
        recorded.append((name, params))
        return _point("bitmod", device, False).implementation

    monkeypatch.setattr(scaling, "build_array", build_array)
    monkeypatch.setattr(scaling, "implement", implement)
    point = scaling.largest_array("bitmod", "ecp5-25k", tmp_path, params={"lanes": 8})
    assert set(built) == {8} and len(built) >= 3 and point.lanes == 8
    (name, params), = recorded
    assert name == "pe_array" and params["lanes"] == 8 and params["accumulator"] == "exact"
    assert (params["rows"], params["cols"]) == (point.rows, point.cols)
    assert params["dequantizer"] == "per_pe"  # the array block's defaults are recorded too


def test_a_fractional_ceiling_is_written_as_given(monkeypatch, tmp_path):
    """--max-logic 0.5 read "above the 0% ceiling" (and 6.5 "6%"): rounded to whole
    percent."""
    from hwsim.hw.fpga import scaling

    _model_tools(monkeypatch)
    with pytest.raises(HwsimError, match=r"^not even one bipolar PE fits ecp5-25k: TRELLIS_COMB: "
                                         r"uses 150 of 10000, above the 0\.5% ceiling$"):
        scaling.largest_array("bipolar", "ecp5-25k", tmp_path, max_logic=0.005)
