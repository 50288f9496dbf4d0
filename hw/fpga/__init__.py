"""Open FPGA flow: Yosys synthesis, nextpnr place and route, and their reports.

Amaranth component -> Verilog -> Yosys (``synth_ecp5`` / ``synth_ice40`` / generic) ->
nextpnr-ecp5 / nextpnr-ice40, all YoWASP WebAssembly builds from PyPI (the ``[fpga]`` extra),
run offline. Public entry points:

- `synth_block` / `synthesize`: cell counts of a block (``hwsim synth``);
- `fpga_block` / `implement`: utilization, fmax and critical path on a device, the block
  inside `IoHarness` (``hwsim fpga``); `check_fit` for a quick fit check;
- `largest_array`: the scaling study (``hwsim fpga-scale``);
- `fpga_hardware`: a measured build as a simulator hardware description;
- `DEVICES` / `get_device`, and the report parsers in `hwsim.hw.fpga.reports`.

The first run of each tool on a machine compiles its WebAssembly (Yosys: about 1.5 minutes,
1.7 GB of memory), cached under ``$YOWASP_CACHE_DIR`` (default ``~/.cache/YoWASP``).
"""

from hwsim.hw.fpga.blocks import build_block, fpga_block, synth_block
from hwsim.hw.fpga.design_point import (
    BOARD_MEMORIES,
    fpga_hardware,
    hardware_yaml_header,
    write_hardware_yaml,
)
from hwsim.hw.fpga.devices import DEVICES, RESOURCES, Device, get_device, list_devices
from hwsim.hw.fpga.flow import (
    SYNTH_TARGETS,
    DoesNotFit,
    Implementation,
    ResourceUse,
    SynthResult,
    check_fit,
    implement,
    synthesize,
)
from hwsim.hw.fpga.grid import PeGrid
from hwsim.hw.fpga.scaling import SCALING_KINDS, ScalingPoint, largest_array, peak_macs_per_s
from hwsim.hw.fpga.wrapper import IoHarness, WrapperCost

__all__ = [
    "BOARD_MEMORIES",
    "DEVICES",
    "RESOURCES",
    "SCALING_KINDS",
    "SYNTH_TARGETS",
    "Device",
    "DoesNotFit",
    "Implementation",
    "IoHarness",
    "PeGrid",
    "ResourceUse",
    "ScalingPoint",
    "SynthResult",
    "WrapperCost",
    "build_block",
    "check_fit",
    "fpga_block",
    "fpga_hardware",
    "get_device",
    "hardware_yaml_header",
    "implement",
    "largest_array",
    "list_devices",
    "peak_macs_per_s",
    "synth_block",
    "synthesize",
    "write_hardware_yaml",
]
