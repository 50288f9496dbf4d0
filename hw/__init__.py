"""What computes it: hardware descriptions, presets, Amaranth components and Verilog.

Public entry points of the descriptions (used by the simulator, the CLI and sweeps):

- `load_hardware` (preset name or YAML path) and `hardware_from_dict` -> `HardwareSpec`;
- `with_overrides` (dotted paths such as ``array.rows``), `hardware_fields` (the valid paths);
- `area_mm2` / `area_breakdown_mm2`, `list_presets`;
- the frozen description types (`HardwareSpec` and its parts, one class per PE kind).
"""

from hwsim.hw.area import area_breakdown_mm2, area_mm2
from hwsim.hw.presets import list_presets, load_hardware
from hwsim.hw.spec import (
    ArraySpec,
    BipolarPE,
    BitmodPE,
    BitSerialPE,
    BufferSpec,
    BuffersSpec,
    DintPE,
    DramSpec,
    HardwareSpec,
    MacPE,
    SystolicPE,
    WeightStorage,
    distinct_names,
    hardware_fields,
    hardware_from_dict,
    hardware_to_dict,
    same_design,
    with_overrides,
)

__all__ = [
    "ArraySpec",
    "BipolarPE",
    "BitSerialPE",
    "BitmodPE",
    "BufferSpec",
    "BuffersSpec",
    "DintPE",
    "DramSpec",
    "HardwareSpec",
    "MacPE",
    "SystolicPE",
    "WeightStorage",
    "area_breakdown_mm2",
    "area_mm2",
    "distinct_names",
    "hardware_fields",
    "hardware_from_dict",
    "hardware_to_dict",
    "list_presets",
    "load_hardware",
    "same_design",
    "with_overrides",
]
