"""One wording for schema errors, whatever the file: workload, hardware, machine, sweep."""

from __future__ import annotations

import pytest

from hwsim.config import yaml_path
from hwsim.errors import HwsimError
from hwsim.hw import hardware_from_dict
from hwsim.reports.roofline_machine import machine_from_dict
from hwsim.workloads import workload_from_dict


def _message(load, data) -> str:
    with pytest.raises(HwsimError) as info:
        load(data, "f.yaml")
    return str(info.value)


@pytest.mark.parametrize("load", [workload_from_dict, hardware_from_dict, machine_from_dict])
def test_an_unknown_key_reads_the_same_in_every_schema(load):
    msg = _message(load, {"name": "x", "bogus": 1})
    assert msg.startswith("f.yaml: ")
    assert "bogus: unknown key (allowed: name, " in msg


@pytest.mark.parametrize("load", [workload_from_dict, hardware_from_dict, machine_from_dict])
def test_every_problem_is_named_once_in_one_line(load):
    msg = _message(load, {"name": "x", "bogus": 1, "other": 2})
    assert msg.count("f.yaml") == 1 and "\n" not in msg
    assert "bogus: unknown key" in msg and "other: unknown key" in msg


def test_nested_paths_index_lists_and_drop_union_tags():
    assert yaml_path(("compute", 0, "tflops")) == "compute[0].tflops"
    assert yaml_path(()) == "(top level)"
    data = {"name": "t", "clock_mhz": 1, "array": {"rows": 1, "cols": 1},
            "pe": {"kind": "dint", "energy_pj_per_cycle": 1, "area_um2": 1, "lanez": 2},
            "buffers": {b: {"kib": 1} for b in ("weight", "activation", "output")},
            "dram": {"bytes_per_cycle": 1}}
    msg = _message(hardware_from_dict, data)
    assert msg == ("f.yaml: pe.lanez: unknown key (allowed: energy_pj_per_cycle, area_um2, "
                   "rtl, kind, lanes, act_bits, pipeline)")
