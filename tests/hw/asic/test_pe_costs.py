"""``pe: {area_um2: rtl, energy_pj_per_cycle: rtl}``: hardware descriptions whose PE figures
come from the gate-level flow, the RTL-derived presets, and their errors."""

from __future__ import annotations

import dataclasses
import re

import pytest

from hwsim.errors import HwsimError
from hwsim.hw._schema import RtlSource
from hwsim.hw.asic import pe_costs
from hwsim.hw.asic.calibration import calibrate
from hwsim.hw.asic.cost import block_cost
from hwsim.hw.asic.pe_costs import PE_BLOCKS
from hwsim.hw.pe_kinds import pe_for_block
from hwsim.hw.presets import load_hardware
from hwsim.hw.rtl.registry import resolve_params
from hwsim.hw.spec import hardware_from_dict, hardware_to_dict, with_overrides

# `calibrated`: the calibration blocks come from the run's shared cache (tests/hw/asic/conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("asic"),
              pytest.mark.usefixtures("calibrated")]
_ANT_PARAMS = {"accumulator": "fp16", "pipeline": 1}  # ant-rtl's block: the published MAC
# The same block described from the ant preset (pipeline 0 there): the calibration's MAC.
_ANT_RTL = {"pipeline": 1, "rtl": {"block": "fp16_int_mac", "params": {"accumulator": "fp16"}}}


def _mac(**pe) -> dict:
    data = hardware_to_dict(load_hardware("ant"))
    data["pe"].update(pe)
    return data


def test_rtl_preset_figures_are_the_calibrated_block_cost():
    hw = load_hardware("ant-rtl")
    cost = block_cost("fp16_int_mac", {"lanes": 1, "weight_bits": 8, **_ANT_PARAMS})
    cal = calibrate("28nm", ratios=False)
    assert hw.pe.area_um2 == pytest.approx(cal.area_um2(cost), abs=1e-3)
    assert hw.pe.energy_pj_per_cycle == pytest.approx(cal.energy_pj(cost.switching.total),
                                                      abs=1e-6)
    assert hw.pe.rtl.derived == ("area_um2", "energy_pj_per_cycle")
    # The YAML form keeps `rtl`, so an edit re-derives the figures.
    assert hardware_to_dict(hw)["pe"]["area_um2"] == "rtl"
    assert "derived" not in hardware_to_dict(hw)["pe"]["rtl"]
    # The format whose activity the energy is (the block's native one), set by hwsim.
    assert hw.pe.rtl.energy_format == cost.activity[0].weight_format == "int8"
    assert "energy_format" not in hardware_to_dict(hw)["pe"]["rtl"]
    # Every modelled format's energy, for the simulator to charge each operator its own.
    assert hw.pe.rtl.energies == {
        a.weight_format: pytest.approx(cal.energy_pj(a.switching.total), abs=1e-6)
        for a in cost.activity}
    assert list(hw.pe.rtl.energies) == ["int8", "int4"]
    assert "energies" not in hardware_to_dict(hw)["pe"]["rtl"]
    assert with_overrides(hw, {"pe.energy_pj_per_cycle": 0.5}).pe.rtl.energies == {}
    assert with_overrides(hw, {"pe.energy_pj_per_cycle": 0.5}).pe.rtl.energy_format is None
    # pe.rtl.format: that format's activity for every operator.
    pinned = with_overrides(hw, {"pe.rtl.format": "int4"}).pe
    assert pinned.rtl.energies == {}
    assert pinned.energy_pj_per_cycle == pytest.approx(hw.pe.rtl.energies["int4"], abs=1e-6)


def test_the_readme_calibration_table_is_the_codes():
    """hw/asic/README.md's calibration section is `calibration_markdown` of the calibration
    the code computes (regenerate it: benchmarks/bench_area.py --write-docs)."""
    from pathlib import Path

    from hwsim.hw.asic.report import calibration_markdown

    readme = (Path(__file__).resolve().parents[3] / "hw" / "asic" / "README.md").read_text()
    start, end = "<!-- bench_area:calibration -->\n", "<!-- /bench_area:calibration -->"
    section = readme[readme.index(start) + len(start):readme.index(end)]
    assert section == calibration_markdown(calibrate("28nm"))


def test_every_rtl_preset_loads_and_round_trips():
    from hwsim.hw.presets import list_presets

    rtl = [n for n in list_presets() if load_hardware(n).pe.rtl is not None]
    assert {"bitmod-rtl", "ant-rtl", "fp16-rtl"} <= set(rtl)
    for name in rtl:
        hw = load_hardware(name)
        assert hw.name == name and hw.pe.rtl.derived
        assert all(isinstance(getattr(hw.pe, f), float) and getattr(hw.pe, f) > 0
                   for f in hw.pe.rtl.derived)
        assert hardware_from_dict(hardware_to_dict(hw), source="again") == hw


def test_a_pe_field_override_resynthesizes_the_block():
    hw = load_hardware("ant-rtl")
    narrow = with_overrides(hw, {"pe.weight_bits": 4})
    cost = block_cost("fp16_int_mac", {"lanes": 1, "weight_bits": 4, **_ANT_PARAMS})
    assert narrow.pe.area_um2 == pytest.approx(
        calibrate("28nm", ratios=False).area_um2(cost), abs=1e-3)
    assert narrow.pe.area_um2 < hw.pe.area_um2  # a 11 x 4 multiplier is smaller than 11 x 8


def test_only_energy_from_rtl_and_a_chosen_format():
    rtl = _ANT_RTL["rtl"] | {"format": "int4"}
    hw = hardware_from_dict(_mac(**_ANT_RTL | {"energy_pj_per_cycle": "rtl", "rtl": rtl}), "t")
    assert hw.pe.area_um2 == 1318.6  # the number given stays
    act = {a.weight_format: a for a in block_cost(
        "fp16_int_mac", {"lanes": 1, "weight_bits": 8, **_ANT_PARAMS}).activity}
    cal = calibrate("28nm", ratios=False)
    assert hw.pe.energy_pj_per_cycle == pytest.approx(
        cal.energy_pj(act["int4"].switching.total), abs=1e-6)


@pytest.mark.parametrize(("pe", "message"), [
    ({"area_um2": "rtl"}, "pe.area_um2: 'rtl' needs pe.rtl"),
    ({"rtl": {"block": "fp16_int_mac"}}, "neither pe.area_um2 nor"),
    ({"area_um2": "rtl", "rtl": {"block": "bitmod_pe"}}, "cannot stand for a mac PE"),
    ({"area_um2": "rtl", "rtl": {"block": "fp16_int_mac", "params": {"weight_bits": 4}}},
     "pe.rtl.params.weight_bits = 4 disagrees with pe.weight_bits = 8"),
    ({"area_um2": "rtl", "rtl": {"block": "fp16_int_mac", "params": {"weight_bits": "8"}}},
     "pe.rtl.params.weight_bits: '8' is text where pe.weight_bits is the number 8; write it "
     "without quotes"),
    # The PE's pipeline (what the simulator charges) is the block's (what is synthesized).
    ({"area_um2": "rtl", "rtl": {"block": "fp16_int_mac", "params": {"pipeline": 2}}},
     "pe.rtl.params.pipeline = 2 disagrees with pe.pipeline = 0"),
    ({"area_um2": "rtl", "rtl": {"block": "fp16_int_mac", "node": "7nm"}},
     "pe.rtl.node: '7nm' has no calibration; calibrated nodes: 28nm"),
    # It picks the operands of the RTL energy: with a number given, it went unchecked.
    ({"area_um2": "rtl", "rtl": {"block": "fp16_int_mac", "format": "no_such"}},
     "pe.rtl.format: unknown format 'no_such'"),
    ({"area_um2": "rtl", "rtl": {"block": "fp16_int_mac", "formats": ["int8"]}},
     "pe.rtl.formats: set by hwsim"),
    ({"area_um2": "rtl", "rtl": {"block": "fp16_int_mac", "params": {"k": 0}}},
     "pe.rtl: parameter k = 0 is not allowed"),
    (_ANT_RTL | {"energy_pj_per_cycle": "rtl", "rtl": _ANT_RTL["rtl"] | {"format": "bitmod4"}},
     "pe.rtl.format: 'bitmod4' is not run by fp16_int_mac as built (pe.rtl.params); its "
     "formats: int8, int4"),
    # With a number for the energy, a block that states no formats let any name through.
    (_ANT_RTL | {"area_um2": "rtl", "energy_pj_per_cycle": 0.5,
                 "rtl": _ANT_RTL["rtl"] | {"format": "fp4_e2m1"}},
     "pe.rtl.format: 'fp4_e2m1' is not run by fp16_int_mac as built (pe.rtl.params); its "
     "formats: int8, int4"),
    ({"area_um2": "rtl", "rtl": {"block": "fp16_int_mac", "derived": ["area_um2"]}},
     "pe.rtl.derived: set by hwsim"),
    ({"area_um2": "rtl", "rtl": {"block": "fp16_int_mac", "energy_format": "int8"}},
     "pe.rtl.energy_format: set by hwsim"),
    ({"area_um2": "big"}, "pe.area_um2: expected a number >= 0 or 'rtl', got 'big'"),
    ({"area_um2": -1}, "pe.area_um2: expected a number >= 0 or 'rtl', got -1"),
])
def test_bad_rtl_descriptions_are_one_line(pe, message):
    with pytest.raises(HwsimError, match="^t: .*" + re.escape(message)):
        hardware_from_dict(_mac(**pe), "t")


def test_block_parameters_are_hardware_fields():
    from hwsim.hw.spec import hardware_fields

    hw = load_hardware("ant-rtl")
    fields = hardware_fields(hw)
    assert {"pe.rtl.params.align_bits", "pe.rtl.params.k", "pe.rtl"} <= set(fields)
    assert "pe.rtl.derived" not in fields
    exact = with_overrides(hw, {"pe.rtl.params.accumulator": "exact"})
    fewer = with_overrides(exact, {"pe.rtl.params.align_bits": 0})
    cost = block_cost("fp16_int_mac", {"lanes": 1, "weight_bits": 8, "pipeline": 1,
                                       "accumulator": "exact", "align_bits": 0})
    assert fewer.pe.area_um2 == pytest.approx(
        calibrate("28nm", ratios=False).area_um2(cost), abs=1e-3)
    assert fewer.pe.area_um2 < exact.pe.area_um2  # no guard bits: narrower lanes and accumulator
    with pytest.raises(HwsimError, match="align_bits"):  # no alignment in an FP16 accumulator
        with_overrides(hw, {"pe.rtl.params.align_bits": 0})
    with pytest.raises(HwsimError, match=r"unknown hardware field 'pe\.rtl\.params\.colour'"):
        with_overrides(hw, {"pe.rtl.params.colour": 1})


def test_a_pe_field_the_block_fixes_must_match():
    data = hardware_to_dict(load_hardware("dint"))
    data["pe"].update(act_bits=16, area_um2="rtl", rtl={"block": "dint_mac"})
    with pytest.raises(HwsimError, match=r"^t: pe.act_bits = 16 disagrees with dint_mac, which "
                       r"is built with act_bits = 8$"):
        hardware_from_dict(data, "t")


def test_an_rtl_pe_runs_the_formats_of_its_build_only():
    # An fp4-only build's figures were taken for bitmod3 (FP3) weights, which it cannot run.
    from hwsim.sim import simulate_workload
    from hwsim.workloads import workload_from_dict

    hw = load_hardware("bitmod-rtl")  # weights=bitmod: fp3, fp4, int4, int6, int8
    assert {"bitmod3", "bitmod4", "int4", "int6", "int8"} <= set(hw.pe.rtl.formats)
    assert "int5" not in hw.pe.rtl.formats
    assert "formats" not in hardware_to_dict(hw)["pe"]["rtl"]

    def run(fmt: str, **more):
        return simulate_workload(workload_from_dict(
            {"model": "llama-2-7b", "prompt_tokens": 8, "generate_tokens": 2,
             "weights": {"format": fmt, "group_size": 128}, **more}), hw)

    assert run("bitmod3").latency_ms > 0  # its FP16 KV cache runs as without RTL
    with pytest.raises(HwsimError, match=r"weights format 'int5' is not run by pe.rtl.block "
                       r"bitmod_pe as built \(pe.rtl.params\), whose area and energy the PE "
                       r"takes; its formats: .*bitmod3"):
        run("int5")
    with pytest.raises(HwsimError, match=r"kv_cache format 'int5' is not run by pe.rtl.block"):
        run("int4", kv_cache={"format": "int5", "group_size": 128})
    # Its energy overridden by a number (`--set`, a sweep axis): the format stays, unused.
    given = with_overrides(hw, {"pe.energy_pj_per_cycle": 0.56})
    assert given.pe.energy_pj_per_cycle == 0.56 and given.pe.area_um2 == hw.pe.area_um2
    # A stated set must be the build's (refused before any synthesis).
    data = hardware_to_dict(hw)
    data["pe"]["weight_formats"] = ["int4", "int5"]
    with pytest.raises(HwsimError, match=r"^t: pe.weight_formats: int5 not run by bitmod_pe as "
                       r"built \(pe.rtl.params\), whose figures the PE takes; its formats: "):
        hardware_from_dict(data, "t")


def test_a_shared_dequantizer_is_refused_with_rtl_figures():
    # bitmod_pe has its own dequantizer: sharing would cost cycles and never save area.
    data = hardware_to_dict(load_hardware("bitmod"))
    data["pe"].update(dequantizer_pes=2, area_um2="rtl", rtl={"block": "bitmod_pe"})
    with pytest.raises(HwsimError, match=r"^t: pe.dequantizer_pes: 2 PEs sharing a "
                       r"dequantizer, but pe.rtl.block bitmod_pe is one PE with its own, .*; "
                       r"allowed with pe.rtl: 1$"):
        hardware_from_dict(data, "t")
    with pytest.raises(HwsimError, match=r"pe.dequantizer_pes: 32 PEs sharing"):
        with_overrides(load_hardware("bitmod-rtl"), {"decode_array.cols": 32,
                                                     "pe.dequantizer_pes": 32})


@pytest.mark.parametrize(("kind", "block"), [(k, b) for k, blocks in PE_BLOCKS.items()
                                             for b in blocks])
def test_block_parameters_survive_the_round_trip_through_the_pe(kind, block):
    # The registry forward (block parameters -> pe fields), then backwards (the pe fields ->
    # the parameters they set): the same build again, fixed fields included.
    params = resolve_params(block)
    pe, rows, cols = pe_for_block(block, params)
    assert (pe["kind"], rows, cols) == (kind, 1, 1)
    data = {"name": "t", "clock_mhz": 100, "pe": pe, "array": {"rows": 2, "cols": 2},
            "buffers": {b: {"kib": 64} for b in ("weight", "activation", "output")},
            "dram": {"bytes_per_cycle": 8}}
    described = hardware_from_dict(data, "t").pe
    back = pe_costs._block_params(dataclasses.replace(described, rtl=RtlSource(block)), block)
    assert back and back == {name: params[name] for name in back}


def _pe_energy(run_cli, tmp_path, fmt: str, out: str, *options: str) -> float:
    wl = tmp_path / f"{out}.yaml"
    wl.write_text("gemms: [{name: g, m: 16, n: 64, k: 128}]\n"
                  f"weights: {{format: {fmt}, group_size: 128}}\n")
    assert run_cli("run", str(wl), "-H", "bitmod-rtl", *options, "--out",
                   str(tmp_path / out)) == 0
    import pandas as pd

    layers = pd.read_csv(tmp_path / out / "layers.csv")
    return float(layers["energy_pe_uj"].sum())


def test_each_operator_is_charged_its_weight_formats_rtl_energy(run_cli, capsys, tmp_path):
    # bitmod-rtl charged bitmod3's activity per cycle to every format: a sweep over
    # weights.format read int8's PE energy 8% high (1.529 against its own 1.414 pJ/cycle).
    hw = load_hardware("bitmod-rtl")
    energies = hw.pe.rtl.energies
    assert set(energies) == {"bitmod3", "bitmod4", "int4", "int6", "int8"}
    assert hw.pe.energy_pj_per_cycle == energies["bitmod3"]  # the native format's
    int8 = _pe_energy(run_cli, tmp_path, "int8", "int8")
    out = capsys.readouterr().out
    assert "PE energy per cycle from the RTL" not in out
    # The same cycles at bitmod3's energy: the ratio is the two formats' energies.
    pinned = _pe_energy(run_cli, tmp_path, "int8", "pinned", "--set", "pe.rtl.format=bitmod3")
    assert int8 / pinned == pytest.approx(energies["int8"] / energies["bitmod3"], rel=1e-9)
    out = " ".join(capsys.readouterr().out.split())
    assert ("PE energy per cycle from the RTL at bitmod3 weights (pe.rtl.format), not these "
            "int8 ones (`hwsim area bitmod_pe` gives each format's)") in out
