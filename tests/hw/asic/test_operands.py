"""Operand streams of the energy flow (`hwsim.hw.asic.operands`)."""

from __future__ import annotations

import pytest
from amaranth.hdl import Fragment

from hwsim.hw.asic.operands import block_formats, block_stimulus
from hwsim.hw.rtl.registry import build, resolve_params


@pytest.mark.parametrize(("name", "params"), [
    ("int_mac", {"lanes": 4, "k": 5}),
    ("int_mac", {"lanes": 3, "k": 128}),
    ("dint_mac", {"lanes": 4, "k": 6}),
    ("fp16_int_mac", {"lanes": 4, "k": 7}),
])
def test_energy_per_weight_counts_real_weights_not_padded_lanes(name, params):
    """k = 5 on 4 lanes is 2 beats, 3 of whose 8 lane slots are padding: pJ/weight divided
    by 8 x outputs read 38% low (fewer weights looked cheaper per weight)."""
    values = resolve_params(name, params)
    block = build(name, **values)
    Fragment.get(block, None)  # elaborated, as the flow does (Amaranth warns of one unused)
    for fmt in block_formats(name, block):
        stim = block_stimulus(name, block, fmt, streams=2, outputs=3)
        assert stim.weights == values["k"] * 3
        assert all(len(stream) == 3 * -(-values["k"] // values["lanes"])
                   for stream in stim.beats)  # the beats still carry the padded lanes
