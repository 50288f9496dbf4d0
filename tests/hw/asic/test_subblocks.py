"""Sub-block attribution of real netlists: the registers each sub-block is said to hold."""

from __future__ import annotations

import re

import pytest

from hwsim.hw.asic.calibration import RATIOS
from hwsim.hw.asic.library import load_library
from hwsim.hw.asic.netlist import parse_netlist
from hwsim.hw.asic.subblocks import subblocks_of
from hwsim.hw.asic.synth import synthesize_gates
from hwsim.hw.rtl.registry import build, resolve_params
from hwsim.hw.rtl.verilog import to_verilog

# The ratio's blocks are the calibration's: their netlists come from the run's shared cache.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("asic")]

_RATIO_BLOCKS = [b for _, num, den, _, _ in RATIOS for b in (num, den)]


@pytest.mark.parametrize(("name", "params"), _RATIO_BLOCKS)
def test_the_mac_multiplier_holds_its_input_and_product_registers(name, params, calibrated):
    # The ratio's multiplier view is the `multiply` sub-block: every register of the lanes'
    # multipliers (registered_product's input registers prod_N_a / prod_N_b and product
    # register prod_N_r) must be in it, and no other register.
    sub = subblocks_of(name)
    component = build(name, **resolve_params(name, dict(params)))
    data, _, _ = synthesize_gates(to_verilog(component, name), name, calibrated, keep=sub.keep)
    netlist = parse_netlist(data, name, load_library())
    owners = netlist.attribute(sub.rules, sub.default)
    gates = netlist.all_gates()
    first_flop = len(netlist.gates)
    flops = [(netlist.names.get(g.output, ()), owners[i])
             for i, g in enumerate(gates) if i >= first_flop]
    multiplier = re.compile(r"prod_\d+_[abr]")
    in_multiply = [names for names, owner in flops if owner == "multiply"]
    of_multiplier = [names for names, _ in flops
                     if any(multiplier.fullmatch(n) for n in names)]
    # Each lane's input (activation, weight) and product registers are there...
    found = {n for names in of_multiplier for n in names if multiplier.fullmatch(n)}
    assert found == {f"prod_{i}_{r}" for i in range(dict(params)["lanes"]) for r in "abr"}
    # ... all in `multiply`, which holds no other register.
    assert sorted(in_multiply) == sorted(of_multiplier)
