"""The device table."""

from __future__ import annotations

import pytest

from hwsim.errors import HwsimError
from hwsim.hw.fpga.devices import RESOURCES, get_device, list_devices


def test_the_issue_devices_are_all_there():
    assert list_devices() == ["ecp5-25k", "ecp5-45k", "ecp5-85k", "ice40-up5k", "ice40-hx8k"]


def test_lookup_is_case_insensitive():
    assert get_device(" ECP5-25K ").name == "ecp5-25k"


def test_unknown_device_lists_the_allowed_ones():
    with pytest.raises(HwsimError, match=r"unknown device 'ecp5-12k'.*ecp5-25k.*ice40-hx8k"):
        get_device("ecp5-12k")


def test_every_device_states_every_resource():
    for name in list_devices():
        dev = get_device(name)
        assert set(dev.available) == set(RESOURCES)
        # ECP5 carry cells (CCU2C) take two LUT4s each.
        if dev.family == "ecp5":
            assert dev.available["carry"] * 2 == dev.available["logic"]


def test_only_the_hx8k_lacks_dsps():
    assert [d for d in list_devices() if not get_device(d).has_dsp] == ["ice40-hx8k"]
