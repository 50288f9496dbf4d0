"""The device table against its sources: the data sheets' bonded I/O per package and the
fabric's carry cells, and what a misspelt name is told."""

from __future__ import annotations

import pytest

from hwsim.errors import HwsimError
from hwsim.hw.fpga.devices import get_device, list_devices


@pytest.mark.parametrize(("name", "package", "pins"), [
    # Lattice data sheets: ECP5 caBGA381 197 / 203 / 205 user I/O; iCE40 UP5K SG48 39,
    # HX8K CT256 206 (nextpnr counts the die's sites, so these are not read from its logs).
    ("ecp5-25k", "CABGA381", 197), ("ecp5-45k", "CABGA381", 203),
    ("ecp5-85k", "CABGA381", 205), ("ice40-up5k", "SG48", 39), ("ice40-hx8k", "CT256", 206),
])
def test_io_is_the_packages_bonded_user_io(name, package, pins):
    dev = get_device(name)
    assert (dev.package, dev.available["io"]) == (package, pins)


def test_an_ice40_has_one_carry_per_logic_cell():
    for name in list_devices():
        dev = get_device(name)
        if dev.family == "ice40":
            assert dev.available["carry"] == dev.available["logic"]


def test_a_misspelt_device_gets_the_nearest_names():
    with pytest.raises(HwsimError, match=r"unknown device 'ecp5-25' \(did you mean ecp5-25k"
                                         r"( or [\w-]+)?\?\); allowed: ecp5-25k, "):
        get_device("ecp5-25")
