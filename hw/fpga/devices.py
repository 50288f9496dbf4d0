"""The FPGA devices hwsim places and routes for, with the resources each one offers.

Resource counts other than I/O are what nextpnr 0.11.1 reports as available for the device
(its "Device utilisation" table; the stored logs in ``tests/hw/fpga/data`` hold them and a test
compares). nextpnr-ecp5 counts the I/O sites of the whole die (245 on the 45k, 365 on the 85k)
whatever the package, so the I/O figure here is the package's bonded user I/O from the Lattice
data sheets (ECP5 caBGA381: 197 / 203 / 205; iCE40 UP5K SG48: 39, HX8K CT256: 206).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from hwsim.errors import HwsimError

__all__ = ["DEVICES", "RESOURCES", "Device", "Family", "get_device", "list_devices"]

Family = Literal["ecp5", "ice40"]

# Generic resource names used in every report, in display order.
RESOURCES = ("logic", "ff", "carry", "dsp", "bram", "io")


@dataclass(frozen=True)
class Device:
    """One FPGA in one package.

    Attributes:
        name: hwsim's name, e.g. ``"ecp5-25k"``.
        family: ``"ecp5"`` or ``"ice40"`` (selects Yosys ``synth_<family>`` and nextpnr).
        part: the vendor's part name.
        nextpnr_args: device and package options for nextpnr.
        package: the package the I/O count refers to.
        bels: nextpnr bel type for each generic resource that has one (``carry`` and, on
            iCE40, ``ff`` are counted from Yosys cells: they share a logic cell).
        available: units of each generic resource on the device; ``logic`` is LUT4s (ECP5)
            or logic cells (iCE40), ``carry`` is carry cells (two LUT4s each on ECP5, one per
            logic cell on iCE40), ``dsp`` is 18x18 (ECP5) or 16x16 (iCE40) multipliers,
            ``bram`` is 18 kbit (ECP5 DP16KD) or 4 kbit (iCE40 RAM40) blocks.
        speed_grades: the speed grades nextpnr has timing for (ECP5: 6, 7, 8, the Lattice
            part's -6/-7/-8; empty: nextpnr-ice40 has one timing model per device).
        default_speed: the grade used when none is asked for (nextpnr's own default, -6 on
            ECP5: the slowest and cheapest part), or None without grades.
    """

    name: str
    family: Family
    part: str
    nextpnr_args: tuple[str, ...]
    package: str
    bels: MappingProxyType = field(repr=False)
    available: MappingProxyType = field(repr=False)
    speed_grades: tuple[int, ...] = ()
    default_speed: int | None = None

    def check_speed(self, speed: int | None) -> int | None:
        """The grade to build for: ``speed``, or the default when it is None.

        Raises:
            HwsimError: a grade the device does not offer (names the allowed ones), or any
                grade on a device without them.
        """
        if speed is None:
            return self.default_speed
        if not self.speed_grades:
            raise HwsimError(f"{self.name} has no speed grades (nextpnr-{self.family} has one "
                             "timing model per device): leave the speed grade out")
        if type(speed) is not int or speed not in self.speed_grades:  # not True, not 8.0
            raise HwsimError(f"speed grade {speed!r} is not offered for {self.name}; allowed: "
                             f"{', '.join(map(str, self.speed_grades))}")
        return speed

    def part_name(self, speed: int | None) -> str:
        """The vendor's part name with its speed grade, e.g. ``LFE5U-85F-6``."""
        return self.part if speed is None else f"{self.part}-{speed}"

    @property
    def has_dsp(self) -> bool:
        """Whether the device has hard multipliers (the iCE40 HX parts do not)."""
        return self.available["dsp"] > 0


def _ecp5(name: str, size: str, luts: int, mults: int, ebr: int, io: int) -> Device:
    return Device(
        name=name,
        family="ecp5",
        part=f"LFE5U-{size.removesuffix('k')}F",  # e.g. LFE5U-85F
        nextpnr_args=(f"--{size}", "--package", "CABGA381"),
        package="CABGA381",
        bels=MappingProxyType(
            {
                "logic": "TRELLIS_COMB",
                "ff": "TRELLIS_FF",
                "dsp": "MULT18X18D",
                "bram": "DP16KD",
                "io": "TRELLIS_IO",
            }
        ),
        available=MappingProxyType(
            {"logic": luts, "ff": luts, "carry": luts // 2, "dsp": mults, "bram": ebr, "io": io}
        ),
        speed_grades=(6, 7, 8),
        default_speed=6,
    )


def _ice40(name: str, size: str, package: str, lcs: int, dsp: int, ram: int, io: int) -> Device:
    return Device(
        name=name,
        family="ice40",
        part=f"iCE40{size.upper()}",
        nextpnr_args=(f"--{size}", "--package", package),
        package=package.upper(),
        bels=MappingProxyType(
            {"logic": "ICESTORM_LC", "dsp": "ICESTORM_DSP", "bram": "ICESTORM_RAM", "io": "SB_IO"}
        ),
        available=MappingProxyType(
            {"logic": lcs, "ff": lcs, "carry": lcs, "dsp": dsp, "bram": ram, "io": io}
        ),
    )


DEVICES: MappingProxyType = MappingProxyType(
    {
        d.name: d
        for d in (
            _ecp5("ecp5-25k", "25k", luts=24288, mults=28, ebr=56, io=197),
            _ecp5("ecp5-45k", "45k", luts=43848, mults=72, ebr=108, io=203),
            _ecp5("ecp5-85k", "85k", luts=83640, mults=156, ebr=208, io=205),
            _ice40("ice40-up5k", "up5k", "sg48", lcs=5280, dsp=8, ram=30, io=39),
            _ice40("ice40-hx8k", "hx8k", "ct256", lcs=7680, dsp=0, ram=32, io=206),
        )
    }
)


def list_devices() -> list[str]:
    """Names of the supported devices."""
    return list(DEVICES)


def get_device(name: str) -> Device:
    """The device called ``name`` (case-insensitive).

    Raises:
        HwsimError: unknown name; the message lists the supported devices.
    """
    key = str(name).strip().lower()
    if key in DEVICES:
        return DEVICES[key]
    close = difflib.get_close_matches(key, list(DEVICES), n=2)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    raise HwsimError(
        f"unknown device {name!r}{hint}; allowed: {', '.join(DEVICES)}"
    )
