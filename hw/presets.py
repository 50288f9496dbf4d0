"""Embedded hardware presets (the YAML files in ``hw/presets/`` and the measured FPGA design
points in ``hw/fpga/presets/``) and `load_hardware`."""

from __future__ import annotations

from pathlib import Path

from hwsim.files import preset_file, preset_names, resolve_reference
from hwsim.hw.spec import HardwareSpec, load_hardware_file

__all__ = ["FPGA_PRESET_DIR", "PRESET_DIR", "list_presets", "load_hardware"]

PRESET_DIR = Path(__file__).resolve().parent / "presets"
# Measured FPGA builds kept as data (`hwsim fpga-scale` writes them).
FPGA_PRESET_DIR = Path(__file__).resolve().parent / "fpga" / "presets"
_PRESET_DIRS = (PRESET_DIR, FPGA_PRESET_DIR)


def list_presets() -> list[str]:
    """Names of the embedded presets (accelerators and FPGA design points), sorted."""
    return preset_names(_PRESET_DIRS)


def load_hardware(ref: str | Path, folder: Path | None = None) -> HardwareSpec:
    """A validated hardware description from a preset name or a YAML file.

    ``ref`` follows `hwsim.files.resolve_reference`: a `Path`, or a text ending in
    ``.yaml``/``.yml`` or holding a ``/``, is a file (relative to ``folder``, else the current
    directory); anything else is a preset name (case-insensitive).

    Raises:
        HwsimError: unknown preset (the message lists the presets and the closest names),
            unreadable or invalid file.
    """
    resolved = resolve_reference(ref, folder)
    if isinstance(resolved, str):
        resolved = preset_file(resolved, _PRESET_DIRS, "hardware")
    return load_hardware_file(resolved)
