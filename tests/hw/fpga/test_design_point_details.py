"""Design-point details the stored presets do not reach: board memory names and bounds, how
a build's description reads, the core at exactly its port's bandwidth, the YAML header."""

from __future__ import annotations

import dataclasses

import pytest

from hwsim.hw.fpga.design_point import board_memory, fpga_hardware, write_hardware_yaml
from hwsim.hw.fpga.devices import get_device
from hwsim.hw.fpga.flow import Implementation, ResourceUse
from hwsim.hw.fpga.wrapper import WrapperCost


def _build(block: str = "int_mac", device: str = "ecp5-25k", fmax: float = 75.17,
           params: dict | None = None, dsp: bool = True) -> Implementation:
    return Implementation(
        block=block, params=params or {"lanes": 4, "k": 256, "act_bits": 8, "weight_bits": 8},
        device=device, freq_mhz=100.0, dsp=dsp, seeds=(1,),
        resources=(ResourceUse("logic", "TRELLIS_COMB", 194, 24288),),
        fmax_mhz={"clk": fmax}, fmax_by_seed_mhz={"clk": (fmax,)}, critical_path=None,
        cells={}, wrapper=WrapperCost(66, 25, 1, 91, 25, 5),
        speed_grade=get_device(device).check_speed(None))


def test_board_memory_names_ignore_case_and_the_bounds_are_inclusive():
    assert board_memory(" DDR3-16 ") == (1.6, "16-bit DDR3-800")
    # 1 kB/s is the smallest bandwidth a description takes: allowed, as the message says.
    assert board_memory(1e-6) == (1e-6, "1e-06 GB/s")
    assert board_memory("1e6")[0] == 1e6


def test_a_lut_only_build_says_so():
    assert "int_mac 1x1 (multiplies in LUTs) on ecp5-25k" in \
        fpga_hardware(_build(dsp=False))[1]["description"]
    assert "int_mac 1x1 on ecp5-25k" in fpga_hardware(_build())[1]["description"]


def test_unrouted_seeds_are_named_in_seed_order():
    build = dataclasses.replace(
        _build(), seeds=(1, 2, 3, 4, 5),
        unrouted={5: "routing did not finish in 60 s", 2: "placement did not finish in 60 s"},
        fmax_by_seed_mhz={"clk": (75.17, None, 74.0, 76.0, None)})
    assert ("seeds [1, 2, 3, 4, 5], seed 2 unrouted (placement did not finish in 60 s), "
            "seed 5 unrouted (routing did not finish in 60 s), placer heap"
            ) in fpga_hardware(build)[1]["description"]


def test_a_core_at_exactly_its_ports_bandwidth_keeps_the_port():
    """A 16-byte port at 100.0 MHz moves 1.6 GB/s, what a 16-bit DDR3-800 gives: the memory
    keeps up, so the port's beat a cycle stands (the memory's bandwidth only when slower)."""
    from dataclasses import asdict

    from hwsim.hw.rtl.core_config import CoreConfig

    core = CoreConfig(rows=8, cols=8, lanes=4, weights="fp4", group_size=128, bus_bytes=16)
    spec, data = fpga_hardware(_build("accel_core", "ecp5-85k", 100.0, asdict(core)), "ddr3-16")
    assert spec.clock_mhz == 100.0
    assert spec.dram.bytes_per_cycle == 16
    assert data["description"].endswith("16-bit DDR3-800, at least the core's 16-byte port at "
                                        "this clock (1.6 GB/s): the port's")


def test_an_empty_header_line_is_a_bare_hash(tmp_path):
    path = write_hardware_yaml({"name": "x"}, tmp_path / "hw.yaml", header="one\n\ntwo")
    assert path.read_text().splitlines()[:3] == ["# one", "#", "# two"]


@pytest.mark.parametrize("memory", ["SDRAM16", "Qspi-Psram"])
def test_every_board_memory_name_is_found_in_any_case(memory):
    assert board_memory(memory)[0] == {"sdram16": 0.2, "qspi-psram": 0.033}[memory.lower()]
