"""A measured build as a simulator hardware description (no FPGA tools: the build is given)."""

from __future__ import annotations

import dataclasses

import pytest

from hwsim.errors import HwsimError
from hwsim.hw import load_hardware
from hwsim.hw.fpga.design_point import (
    BOARD_MEMORIES,
    device_buffers,
    fpga_hardware,
    hardware_yaml_header,
    pe_for_block,
    write_hardware_yaml,
)
from hwsim.hw.fpga.devices import get_device
from hwsim.hw.fpga.flow import Implementation, ResourceUse
from hwsim.hw.fpga.wrapper import WrapperCost


def _build(block="int_mac", device="ecp5-25k", fmax=(75.17, 72.71), params=None,
           placer="heap", speed=None):
    return Implementation(
        block=block,
        params=params or {"lanes": 4, "k": 256, "act_bits": 8, "weight_bits": 8},
        device=device,
        freq_mhz=100.0,
        dsp=True,
        seeds=(1,),
        resources=(ResourceUse("logic", "TRELLIS_COMB", 194, 24288),),
        fmax_mhz={"clk": fmax[0], "other": fmax[1]},
        fmax_by_seed_mhz={"clk": (fmax[0],), "other": (fmax[1],)},
        critical_path=None,
        cells={},
        wrapper=WrapperCost(66, 25, 1, 91, 25, 5),
        placer=placer,
        speed_grade=get_device(device).check_speed(speed),
    )


def test_clock_is_the_slowest_measured_fmax_rounded_down():
    spec, data = fpga_hardware(_build(fmax=(75.17, 72.71)), "ddr3-16")
    assert spec.clock_mhz == 72.7  # min(75.17, 72.71), floored to 0.1 MHz
    assert data["dram"] == {"gb_per_s": 1.6}  # 2 bytes x 800 MT/s
    assert spec.pe.kind == "mac" and spec.pe.lanes == 4 and spec.pe.act_bits == 8
    assert (spec.array.rows, spec.array.cols) == (1, 1)


def test_array_shape_of_a_grid_build():
    spec, _ = fpga_hardware(_build(), 0.5, rows=4, cols=2)
    assert (spec.array.rows, spec.array.cols) == (4, 2)
    assert spec.dram.gb_per_s == 0.5


def test_buffers_are_the_device_block_ram():
    # ECP5-25k: 56 DP16KD of 2 KiB data each = 112 KiB, split 1/2, 1/4, 1/4.
    buf = device_buffers("ecp5-25k")
    assert buf["weight"] == {"kib": 56.0, "banks": 28, "port_bits": 28 * 16}
    assert buf["activation"]["kib"] == buf["output"]["kib"] == 28.0
    # UP5K: 30 RAM40 of 0.5 KiB + 4 SPRAM of 32 KiB = 143 KiB.
    up5k = device_buffers("ice40-up5k")
    assert sum(b["kib"] for b in up5k.values()) == pytest.approx(30 * 0.5 + 4 * 32)
    # Banks: 30 + 4 = 34 blocks; weight 34 / 2 = 17, activation and output 34 / 4 = 8.5 round
    # down to 8 (rounding up would take 17 + 9 + 9 = 35 blocks, one more than the device has).
    assert [(b["banks"], b["port_bits"]) for b in up5k.values()] == [(17, 272), (8, 128),
                                                                     (8, 128)]
    assert sum(b["banks"] for b in up5k.values()) <= 34


@pytest.mark.parametrize(("block", "params", "kind"), [
    ("pe_array", {"lanes": 4, "scale_bits": 8, "rows": 2, "cols": 3, "weights": "fp3"},
     "bitmod"),
    ("dint_mac", {"lanes": 4}, "dint"),
    ("fp16_int_mac", {"lanes": 4, "weight_bits": 8}, "mac"),
    ("bipolar_pe", {"lanes": 8, "act_bits": 8, "weight_bits": 4}, "bipolar"),
])
def test_each_pe_block_maps_to_a_simulator_pe(block, params, kind):
    pe, rows, cols = pe_for_block(block, params)
    assert pe["kind"] == kind and pe["lanes"] == params["lanes"]
    if block == "fp16_int_mac":  # FP16 activations, the multiplier's weight width
        assert (pe["act_bits"], pe["weight_bits"]) == (16, 8)
    assert (rows, cols) == (params.get("rows", 1), params.get("cols", 1))


def test_a_bitmod_design_point_states_the_formats_of_its_build():
    pe, _, _ = pe_for_block("bitmod_pe", {"lanes": 4, "scale_bits": 8, "weights": "fp4+int8"})
    assert pe["weight_formats"] == ["fp4_e2m1", "fp4_ea_neg", "fp4_ea_pos", "fp4_er_neg",
                                    "fp4_er_pos", "bitmod4", "int8"]
    pe, _, _ = pe_for_block("bitmod_pe", {"lanes": 4, "scale_bits": 8, "weights": "bitmod"})
    assert {"bitmod3", "bitmod4", "int4", "int6", "int8"} <= set(pe["weight_formats"])
    assert "int5" not in pe["weight_formats"] and "int4_asym" not in pe["weight_formats"]


def test_the_yaml_header_states_every_build_parameter():
    # The simulator's bitmod PE has no accumulator field: the header is where a preset says
    # which accumulator (and loop, pipeline, ...) its RTL was built with.
    params = {"lanes": 4, "scale_bits": 8, "weights": "bitmod", "accumulator": "exact",
              "pipeline": 7, "rows": 5, "cols": 4}
    impl = _build(block="pe_array", params=params)
    _spec, data = fpga_hardware(impl)
    header = hardware_yaml_header(impl, data).splitlines()
    assert header[0] == f"Measured FPGA build: {data['description']}."
    assert header[1] == ("RTL: pe_array accumulator=exact cols=4 lanes=4 pipeline=7 rows=5 "
                         "scale_bits=8 weights=bitmod.")


def test_a_block_that_is_no_pe_is_refused():
    with pytest.raises(HwsimError, match="'dequant' is not a PE the simulator models"):
        pe_for_block("dequant", {"in_width": 56, "scale_bits": 8})


@pytest.mark.parametrize(("memory", "match"), [
    ("hbm3", r"unknown board memory 'hbm3'; allowed: sdram16, ddr3-16"),
    (0.0, r"from 1e-06 GB/s \(1 kB/s\) to 1,000,000 GB/s \(1 PB/s\), not 0.0"),
    ("-1", "from 1e-06 GB/s"),
    (2e6, "to 1,000,000 GB/s"),
])
def test_bad_memory(memory, match):
    with pytest.raises(HwsimError, match=match):
        fpga_hardware(_build(), memory)


def test_every_board_memory_is_bus_bytes_times_rate():
    # (bus bits / 8) x mega-transfers per second / 1000 = GB/s
    expected = {"sdram16": 2 * 100, "ddr3-16": 2 * 800, "ddr3-32": 4 * 800, "qspi-psram": 0.5 * 66}
    assert {k: m.gb_per_s for k, m in BOARD_MEMORIES.items()} == {
        k: v / 1000 for k, v in expected.items()}


def test_yaml_round_trips_through_the_simulator_loader(tmp_path):
    spec, data = fpga_hardware(_build(), "sdram16", name="my-fpga")
    path = write_hardware_yaml(data, tmp_path / "hw.yaml", header="measured\nby hand")
    text = path.read_text()
    assert text.startswith("# measured\n# by hand\nname: my-fpga\n")
    loaded = load_hardware(path)
    assert loaded.clock_mhz == spec.clock_mhz and loaded.pe == spec.pe
    assert loaded.buffers == spec.buffers and loaded.dram == spec.dram


def test_a_saved_build_reads_back_equal(tmp_path):
    import json

    from hwsim.hw.fpga.flow import load_implementation

    path = tmp_path / "fpga.json"
    unrouted = dataclasses.replace(
        _build(), seeds=(1, 2, 3), unrouted={2: "placement did not finish in 60 s"},
        fmax_by_seed_mhz={"clk": (75.17, None, 74.0), "other": (72.71, None, 70.0)})
    for build in (_build(), _build(placer="static"), _build(speed=8), _build(device="ice40-up5k"),
                  unrouted):
        path.write_text(json.dumps(build.to_dict()))
        assert load_implementation(path) == build
    # One from before the flow had speed grades was timed at nextpnr's default (ECP5: -6).
    for device, grade in (("ecp5-85k", 6), ("ice40-hx8k", None)):
        old = _build(device=device).to_dict()
        del old["speed_grade"]
        path.write_text(json.dumps(old))
        assert load_implementation(path).speed_grade == grade
    # A null grade is written for a device without grades only.
    ecp5 = _build(device="ecp5-85k").to_dict() | {"speed_grade": None}
    path.write_text(json.dumps(ecp5))
    with pytest.raises(HwsimError, match=rf"^{path}: speed_grade is null, but ecp5-85k is timed "
                                         r"at a grade \(6, 7, 8\)"):
        load_implementation(path)
    old["speed_grade"] = 8  # the iCE40's
    path.write_text(json.dumps(old))
    with pytest.raises(HwsimError, match=rf"^{path}: ice40-hx8k has no speed grades") as err:
        load_implementation(path)
    assert str(path) not in str(err.value)[len(str(path)):]  # said once, not wrapped again
    # An fpga.json from before the flow had placers was placed by nextpnr's default.
    old = build.to_dict()
    del old["placer"]
    path.write_text(json.dumps(old))
    assert load_implementation(path).placer == "heap"
    old["placer"] = "annealing"
    path.write_text(json.dumps(old))
    with pytest.raises(HwsimError, match=r"unknown placer 'annealing'; allowed: heap, "):
        load_implementation(path)
    path.write_text("{}")
    with pytest.raises(HwsimError, match=r"not an fpga\.json"):
        load_implementation(path)
    # The cone rank: absent before the ranking, [rank, endpoints] on an ECP5, null elsewhere.
    ranked = dataclasses.replace(_build(), critical_cone_rank=(4, 432))
    path.write_text(json.dumps(ranked.to_dict()))
    assert load_implementation(path) == ranked
    for bad in ([3], [5, 5], [-1, 4], [1.0, 4], [True, 4], "x", [1, 2, 3]):
        path.write_text(json.dumps(ranked.to_dict() | {"critical_cone_rank": bad}))
        with pytest.raises(HwsimError, match=rf"^{path}: critical_cone_rank is .*expected"):
            load_implementation(path)
    ice40 = _build(device="ice40-up5k").to_dict() | {"critical_cone_rank": [1, 9]}
    path.write_text(json.dumps(ice40))
    with pytest.raises(HwsimError, match=r"ice40-up5k is not an ECP5: the ranking is ECP5's"):
        load_implementation(path)


def test_a_build_states_a_grade_its_device_has():
    # None is the device's default (ECP5: nextpnr's -6), a grade the device lacks is refused.
    assert _build(device="ecp5-85k").speed_grade == 6
    assert _build(device="ice40-up5k").speed_grade is None
    with pytest.raises(HwsimError, match="ice40-up5k has no speed grades"):
        dataclasses.replace(_build(device="ice40-up5k"), speed_grade=8)
    with pytest.raises(HwsimError, match="speed grade 5 is not offered for ecp5-25k"):
        dataclasses.replace(_build(), speed_grade=5)
    # A non-default grade is in the design point's default name (two grades, two files).
    assert fpga_hardware(_build(speed=8))[1]["name"] == "int_mac-ecp5-25k-speed8"
    assert fpga_hardware(_build(speed=6))[1]["name"] == "int_mac-ecp5-25k"


def test_a_design_point_says_how_it_was_placed():
    for placer in ("heap", "static"):
        _spec, data = fpga_hardware(_build(placer=placer))
        assert f"(median of seeds [1], placer {placer}, speed grade -6)" in data["description"]
        assert data["description"] in hardware_yaml_header(_build(placer=placer), data)
    _spec, data = fpga_hardware(_build(speed=8))
    assert "(median of seeds [1], placer heap, speed grade -8)" in data["description"]
    _spec, data = fpga_hardware(_build(device="ice40-up5k"))  # no grades: none named
    assert "(median of seeds [1], placer heap)" in data["description"]
    # A seed that did not route is named with the median it was counted in.
    build = dataclasses.replace(
        _build(), seeds=(1, 2, 3), unrouted={3: "routing did not finish in 3600 s"},
        fmax_by_seed_mhz={"clk": (75.17, 76.0, None), "other": (72.71, 73.0, None)})
    _spec, data = fpga_hardware(build)
    assert ("(median of seeds [1, 2, 3], seed 3 unrouted (routing did not finish in 3600 s), "
            "placer heap, speed grade -6)") in data["description"]


def test_stored_presets_are_valid_hardware_that_load_hardware_names():
    from hwsim.hw import list_presets
    from hwsim.hw.fpga.design_point import fpga_preset_path, list_fpga_presets

    assert set(list_fpga_presets()) <= set(list_presets())
    for name in list_fpga_presets():
        hw = load_hardware(name)
        assert hw == load_hardware(fpga_preset_path(name))
        assert hw.clock_mhz > 0 and hw.dram.gb_per_s > 0
    with pytest.raises(HwsimError, match="unknown FPGA design point preset 'nope'"):
        fpga_preset_path("nope")


def test_a_core_build_describes_the_pe_it_was_built_of_and_runs(tmp_path, run_gemm):
    from dataclasses import asdict

    from hwsim.hw.rtl.core_config import (
        CORE_SETUP_CYCLES,
        CORE_SLOT_CYCLES,
        CORE_TRANSFER_CYCLES,
        CoreConfig,
    )

    core = CoreConfig(rows=8, cols=8, lanes=4, weights="fp4", group_size=128, bus_bytes=16)
    params = asdict(core)
    # A memory that keeps up with the port: the port's bandwidth (as in the RTL's tests).
    spec, data = fpga_hardware(_build("accel_core", "ecp5-85k", (83.47, 91.2), params),
                               "ddr3-32")
    # The same PE and array the registry states for the block it was built from.
    pe, rows, cols = pe_for_block("accel_core", params)
    assert data["pe"] == pe and data["array"] == {"rows": rows, "cols": cols} == \
        {"rows": 8, "cols": 8}
    assert spec.pe.kind == "bitmod" and spec.pe.lanes == 4 and spec.pe.scale_bits == 8
    assert "bitmod4" in spec.pe.weight_formats and "int8" not in spec.pe.weight_formats
    # Its real memories, DRAM beat, control setup and the slowest clock measured.
    assert spec.clock_mhz == 83.4 and spec.command_cycles == CORE_SETUP_CYCLES
    assert spec.transfer_cycles == CORE_TRANSFER_CYCLES == 1
    assert spec.slot_cycles == CORE_SLOT_CYCLES == 1
    assert {b: getattr(spec.buffers, b).kib * 1024 for b in ("activation", "weight", "output")} \
        == core.buffer_bytes()
    # Partial sums at the width the output buffer stores them, not the DRAM word.
    assert spec.dram.bytes_per_cycle == 16 and spec.acc_bits == core.array.out_width < 128
    assert data["description"].endswith("32-bit DDR3-800, at least the core's 16-byte port at this "
                                        "clock (1.33 GB/s): the port's")
    # The default board memory (a 16-bit SDRAM, 0.2 GB/s) is slower than the port: it was
    # ignored for the core, which was then costed at the port's 1.3 GB/s.
    slow, slow_data = fpga_hardware(_build("accel_core", "ecp5-85k", (83.47, 91.2), params))
    assert slow.dram.gb_per_s == 0.2 and slow.dram.bytes_per_cycle is None
    assert slow.dram_bytes_per_cycle == pytest.approx(0.2e3 / 83.4)
    assert slow.dram.latency_cycles == spec.dram.latency_cycles
    assert "slower than the core's 16-byte port" in slow_data["description"]
    path = write_hardware_yaml(data, tmp_path / "hardware.yaml")
    assert load_hardware(path) == spec
    code, _, err = run_gemm(path, "bitmod4", 16, 384, 256, "proj", "out-bitmod4")
    assert code == 0, err
    assert (tmp_path / "out-bitmod4" / "summary.json").is_file()
    # A format the build's array does not run is refused, not simulated.
    code, _, err = run_gemm(path, "int8", 16, 384, 256, "proj", "out-int8")
    assert code == 2 and "int8" in err and len(err.strip().splitlines()) == 1
    # A reduction beyond the build's k_max (256) is one no descriptor holds: refused too.
    code, _, err = run_gemm(path, "bitmod4", 16, 384, 384, "proj", "out-bitmod4")
    assert code == 2 and "core.k_max: k = 384" in err and len(err.strip().splitlines()) == 1


def test_an_integer_mac_design_point_refuses_what_its_multiplier_cannot_take():
    # The `mac` kind describes widths: an FP16 KV cache ran on the INT8 MAC in two "passes",
    # FP4 weights on the FP16 x INT8 MAC.
    from hwsim.hw.fpga.design_point import integer_formats
    from hwsim.sim import simulate_workload
    from hwsim.workloads import workload_from_dict

    assert integer_formats(8) == ["int8", "int7", "int6", "int5", "int4", "int3", "int2"]
    for name in ("fpga-int8_mac-ecp5-25k", "fpga-fp16_int_mac-ice40-up5k-lut"):
        hw = load_hardware(name)
        assert hw.pe.weight_formats == tuple(integer_formats(8))
        act = 8 if "int8" in name else 16

        def run(hw=hw, act=act, **precision):
            return simulate_workload(workload_from_dict(
                {"model": "opt-1.3b", "prompt_tokens": 8, "generate_tokens": 2,
                 "activations": {"bits": act}, **precision}), hw)

        assert run(weights={"format": "int4", "group_size": 128},
                   kv_cache={"bits": 8}).latency_ms > 0
        assert run(weights={"format": "int8"}, kv_cache={"format": "int8", "group_size": 64}
                   ).latency_ms > 0
        with pytest.raises(HwsimError, match=r"cannot run kv_cache 16-bit width: its build "
                                             r"runs int8, .* or a plain width of at most 8"):
            run(weights={"format": "int8"}, kv_cache={"bits": 16})
        with pytest.raises(HwsimError, match=r"cannot run weights format 'fp4_e2m1'"):
            run(weights={"format": "fp4_e2m1"}, kv_cache={"bits": 8})
