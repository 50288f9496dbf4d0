"""Embedded hardware presets (the YAML files in ``hw/presets/``) and `load_hardware`."""

from __future__ import annotations

import difflib
from pathlib import Path

from hwsim.errors import HwsimError
from hwsim.hw.spec import HardwareSpec, load_hardware_file

__all__ = ["PRESET_DIR", "list_presets", "load_hardware"]

PRESET_DIR = Path(__file__).resolve().parent / "presets"


def list_presets() -> list[str]:
    """Names of the embedded presets, sorted."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_hardware(preset_or_path: str | Path) -> HardwareSpec:
    """A validated hardware description from a preset name or a YAML file path.

    A value ending in ``.yaml``/``.yml`` or naming an existing file is read as a file;
    otherwise it is a preset name (case-insensitive).

    Raises:
        HwsimError: unknown preset (the message lists the presets and the closest names),
            unreadable or invalid file.
    """
    text = str(preset_or_path)
    path = Path(text).expanduser()
    if text.endswith((".yaml", ".yml")) or path.is_file():
        return load_hardware_file(path)
    name = text.strip().lower()
    presets = list_presets()
    if name not in presets:
        close = difflib.get_close_matches(name, presets, n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise HwsimError(f"unknown hardware preset {text!r}{hint}; presets: "
                         f"{', '.join(presets)}; or give a path to a hardware YAML file")
    return load_hardware_file(PRESET_DIR / f"{name}.yaml")
