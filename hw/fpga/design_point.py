"""A measured FPGA build as a hardware description the simulator runs (`hwsim run --hardware`).

What comes from the build and what is assumed:

- ``clock_mhz``: the measured fmax (the slowest clock, median over placer seeds), rounded down
  to 0.1 MHz; the description says which seeds, which placer (`flow.PLACERS`) and which
  speed grade (a grade other than the device's default is in the default name too,
  `Implementation.speed_suffix`);
- ``pe`` kind, lanes and operand widths, and ``array``: from the block and its parameters;
- ``buffers``: the device's block RAM (which the measured build leaves unused), split half for
  weights and a quarter each for activations and outputs, one bank per RAM block with its
  16-bit port (ECP5 DP16KD: 2 KiB of data each; iCE40: 0.5 KiB RAM40, plus the UP5K's four
  32 KiB SPRAMs);
- ``dram``: a board memory by name (`BOARD_MEMORIES`) or a bandwidth in GB/s;
- energies and areas are 0 (also the buffers' SRAM area): an FPGA build's power is not
  modelled, so energy and area columns of the simulator's report say nothing for these
  presets (latency does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from hwsim.dtypes import list_formats
from hwsim.errors import HwsimError
from hwsim.files import preset_file, preset_names
from hwsim.hw.fpga.devices import get_device
from hwsim.hw.fpga.flow import Implementation
from hwsim.hw.pe_kinds import core_blocks, pe_for_block
from hwsim.hw.presets import FPGA_PRESET_DIR
from hwsim.hw.rtl.core_config import CoreConfig
from hwsim.hw.rtl.core_layout import core_hardware
from hwsim.hw.spec import HardwareSpec, hardware_from_dict
from hwsim.limits import MAX_BANDWIDTH_GB_S, MIN_BANDWIDTH_GB_S

__all__ = [
    "BOARD_MEMORIES",
    "INTEGER_MACS",
    "PRESET_DIR",
    "BoardMemory",
    "board_memory",
    "device_buffers",
    "fpga_hardware",
    "fpga_preset_path",
    "hardware_yaml_header",
    "integer_formats",
    "list_fpga_presets",
    "pe_for_block",
    "write_hardware_yaml",
]


# Measured design points kept as data: presets of `hwsim.hw.load_hardware` by name.
PRESET_DIR = FPGA_PRESET_DIR


def list_fpga_presets() -> list[str]:
    """Names of the stored FPGA design points, sorted (each a `load_hardware` preset)."""
    return preset_names([PRESET_DIR])


def fpga_preset_path(name: str) -> Path:
    """The YAML file of a stored FPGA design point.

    Raises:
        HwsimError: unknown name; the message lists the stored ones.
    """
    return preset_file(str(name).strip().lower(), [PRESET_DIR], "FPGA design point")


@dataclass(frozen=True)
class BoardMemory:
    """A board's external memory interface: peak bandwidth of its data bus."""

    name: str
    description: str
    gb_per_s: float


# Peak bandwidth = bus bytes x transfers per second (no refresh or turnaround losses).
BOARD_MEMORIES = {
    m.name: m
    for m in (
        # 16-bit SDR SDRAM at 100 MHz (e.g. ULX3S, iCEBreaker-class add-ons): 2 B x 100 MT/s.
        BoardMemory("sdram16", "16-bit SDR SDRAM at 100 MHz", 0.2),
        # 16-bit DDR3-800 (e.g. ECP5 Versa, OrangeCrab at 400 MHz): 2 B x 800 MT/s.
        BoardMemory("ddr3-16", "16-bit DDR3-800", 1.6),
        # 32-bit DDR3-800: 4 B x 800 MT/s.
        BoardMemory("ddr3-32", "32-bit DDR3-800", 3.2),
        # Quad-SPI PSRAM at 66 MHz, 4 bits per clock: 0.5 B x 66 MT/s.
        BoardMemory("qspi-psram", "quad-SPI PSRAM at 66 MHz", 0.033),
    )
}

# Block RAM per device family: (KiB of data per block, port bits used per bank).
_BRAM_KIB = {"ecp5": 2.0, "ice40": 0.5}
_SPRAM_KIB = {"ice40-up5k": (4, 32.0)}  # four 256 kbit single-port RAMs


def device_buffers(device: str) -> dict:
    """The ``buffers`` mapping of a design point: the device's block RAM split 1/2, 1/4, 1/4."""
    dev = get_device(device)
    blocks = dev.available["bram"]
    kib = blocks * _BRAM_KIB[dev.family]
    spram_blocks, spram_kib = _SPRAM_KIB.get(dev.name, (0, 0.0))
    blocks, kib = blocks + spram_blocks, kib + spram_blocks * spram_kib
    out = {}
    for name, share in (("weight", 0.5), ("activation", 0.25), ("output", 0.25)):
        banks = max(1, math.floor(blocks * share))
        out[name] = {"kib": kib * share, "banks": banks, "port_bits": 16 * banks}
    return out


def board_memory(memory: str | float) -> tuple[float, str]:
    """``(GB/s, description)`` of a board memory name or a bandwidth in GB/s.

    Raises:
        HwsimError: unknown name (lists them) or a bandwidth not above 0.
    """
    if isinstance(memory, str):
        key = memory.strip().lower()
        if key in BOARD_MEMORIES:
            return BOARD_MEMORIES[key].gb_per_s, BOARD_MEMORIES[key].description
        try:
            memory = float(key)
        except ValueError:
            raise HwsimError(
                f"unknown board memory {memory!r}; allowed: {', '.join(BOARD_MEMORIES)} "
                "or a bandwidth in GB/s"
            ) from None
    # The bounds of a hardware description's `dram.gb_per_s`, checked before any tool runs
    # (a bandwidth beyond them was refused only when the design point was written).
    if not (isinstance(memory, int | float)
            and MIN_BANDWIDTH_GB_S <= memory <= MAX_BANDWIDTH_GB_S):
        raise HwsimError(f"board memory bandwidth must be from {MIN_BANDWIDTH_GB_S:g} GB/s "
                         f"(1 kB/s) to {MAX_BANDWIDTH_GB_S:,.0f} GB/s (1 PB/s), not {memory!r}")
    return float(memory), f"{memory:g} GB/s"


def fpga_hardware(
    impl: Implementation,
    memory: str | float = "sdram16",
    *,
    name: str | None = None,
    rows: int | None = None,
    cols: int | None = None,
) -> tuple[HardwareSpec, dict]:
    """The hardware description of a measured build, validated, and its YAML mapping.

    Args:
        impl: the placed and routed build (`flow.implement` / `blocks.fpga_block`).
        memory: a board memory name (`BOARD_MEMORIES`) or a DRAM bandwidth in GB/s.
        name: the description's name (default ``<block>-<device>``).
        rows, cols: the array shape when ``impl.params`` does not hold it (a `PeGrid` build).

    Raises:
        HwsimError: unknown memory, or a block the simulator does not model.
    """
    params = dict(impl.params)
    if rows is not None:
        params["rows"] = rows
    if cols is not None:
        params["cols"] = cols
    # Round down: the clock must be one the build meets.
    clock_mhz = math.floor(impl.min_fmax_mhz * 10) / 10
    gb_per_s, mem_text = board_memory(memory)
    if impl.block in core_blocks():
        return _core_hardware(impl, params, clock_mhz, name, gb_per_s, mem_text)
    pe, r, c = pe_for_block(impl.block, params)
    if impl.block in INTEGER_MACS:
        pe["weight_formats"] = integer_formats(pe["weight_bits"])
    data = {
        "name": name or f"{impl.block}-{impl.device}{impl.speed_suffix}",
        "description": (
            f"{impl.block} {r}x{c}{'' if impl.dsp else ' (multiplies in LUTs)'} on "
            f"{impl.device} at the measured fmax "
            f"{impl.min_fmax_mhz:g} MHz ({_how_placed(impl)}), {mem_text}"
        ),
        "clock_mhz": clock_mhz,
        "pe": pe,
        "array": {"rows": r, "cols": c},
        "buffers": device_buffers(impl.device),
        "dram": {"gb_per_s": gb_per_s},
        # Block RAM is already on the die: no SRAM area to add.
        "sram_mm2_per_kib": 0.0,
    }
    return hardware_from_dict(data, source=f"FPGA build of {impl.block} on {impl.device}"), data


# The MACs whose multiplier takes signed integer weights only (the simulator's `mac` kind
# describes widths, not number types): their design points state the integers they take.
INTEGER_MACS = ("int_mac", "fp16_int_mac")


def integer_formats(bits: int) -> list[str]:
    """The symmetric INT formats of at most ``bits`` bits (narrower ones are sign-extended on
    the way into the multiplier), widest first."""
    names = set(list_formats())
    return [f"int{b}" for b in range(bits, 1, -1) if f"int{b}" in names]


def _how_placed(impl: Implementation) -> str:
    """The seeds, placer and speed grade behind a measured fmax, and the seeds that did not
    route."""
    unrouted = "".join(f", seed {s} unrouted ({why})" for s, why in sorted(impl.unrouted.items()))
    grade = "" if impl.speed_grade is None else f", speed grade -{impl.speed_grade}"
    return f"median of seeds {list(impl.seeds)}{unrouted}, placer {impl.placer}{grade}"


def _core_hardware(impl: Implementation, params: dict, clock_mhz: float,
                   name: str | None, gb_per_s: float,
                   mem_text: str) -> tuple[HardwareSpec, dict]:
    """The accelerator core describes itself: its array, its buffer memories (in block RAM)
    and its DRAM port (`hwsim.hw.rtl.core_layout.core_hardware`), at the measured clock.

    The port moves a bus beat a cycle when the memory keeps up (as the RTL tests' memory
    does); a board memory slower than that (`gb_per_s`) sets the bandwidth instead, since the
    core's reads would wait on it (`--memory` was ignored for the core, so a 16-byte bus at
    83 MHz was costed at 1.3 GB/s on a 0.2 GB/s SDRAM)."""

    config = CoreConfig(**params)
    data = core_hardware(config, clock_mhz=clock_mhz,
                         name=name or f"{impl.block}-{impl.device}{impl.speed_suffix}")
    port_gb_per_s = config.bus_bytes * clock_mhz / 1e3
    if gb_per_s < port_gb_per_s:
        data["dram"] = {"gb_per_s": gb_per_s,
                        "latency_cycles": data["dram"]["latency_cycles"]}
        bound = (f"{mem_text}, slower than the core's {config.bus_bytes}-byte port at this "
                 f"clock ({port_gb_per_s:.3g} GB/s): the memory's bandwidth")
    else:
        bound = (f"{mem_text}, at least the core's {config.bus_bytes}-byte port at this "
                 f"clock ({port_gb_per_s:.3g} GB/s): the port's")
    data["description"] += (f" on {impl.device} at the measured fmax {impl.min_fmax_mhz:g} MHz"
                            f" ({_how_placed(impl)}), {bound}")
    data["sram_mm2_per_kib"] = 0.0
    return hardware_from_dict(data, source=f"FPGA build of {impl.block} on {impl.device}"), data


def hardware_yaml_header(impl: Implementation, data: dict) -> str:
    """The leading comments of a measured build's hardware YAML: what was measured, and the
    RTL block with every parameter it was built with (e.g. a BitMoD PE's accumulator, which
    the simulator's ``pe`` mapping does not describe)."""
    params = " ".join(f"{k}={v}" for k, v in sorted(impl.params.items()))
    return (f"Measured FPGA build: {data['description']}.\n"
            f"RTL: {impl.block} {params}.\n"
            "Energies and areas are 0: FPGA power is not modelled.")


def write_hardware_yaml(data: dict, path: Path | str, header: str = "") -> Path:
    """Write a hardware mapping as YAML (key order kept) with ``header`` as leading comments."""
    path = Path(path)
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    path.write_text(comment + yaml.safe_dump(data, sort_keys=False, default_flow_style=None))
    return path
