# amaranth: UnusedElaboratable=no
"""The RTL registry: each integer parameter's range is the one its block's constructor enforces."""

from __future__ import annotations

import pytest

from hwsim.errors import HwsimError
from hwsim.hw.rtl.bitmod import DEQUANTIZERS, BitModConfig
from hwsim.hw.rtl.registry import BLOCKS, get_block, resolve_params

_RANGED = [(b.name, p.name) for b in BLOCKS.values() for p in b.params if p.choices is None]


def test_every_block_lists_integer_ranges():
    assert {block for block, _ in _RANGED} == set(BLOCKS)


@pytest.mark.parametrize(("block", "name"), _RANGED)
def test_the_constructor_refuses_just_outside_the_listed_range(block, name):
    # The factory directly, past the registry's own check: the constructor is the validator.
    b = get_block(block)
    p = b.param(name)
    defaults = resolve_params(block)
    for value in (p.lo - 1, p.hi + 1):
        with pytest.raises(HwsimError, match=rf"^parameter {name} must be an integer in "
                           rf"\[{p.lo}, {p.hi}\], not {value}$"):
            b.factory(**{**defaults, name: value})


@pytest.mark.parametrize(("block", "name"), _RANGED)
def test_the_registry_refuses_the_same_values(block, name):
    p = get_block(block).param(name)
    for value in (p.lo - 1, p.hi + 1):
        with pytest.raises(HwsimError, match=rf"parameter {name} = {value} is not allowed; "
                           rf"allowed: integers {p.lo}\.\.{p.hi}"):
            resolve_params(block, {name: value})
    assert resolve_params(block, {name: p.lo})[name] == p.lo


def test_pe_array_takes_a_row_shared_dequantizer_by_name():
    # The registry's parameters are the array configuration's fields (its factory's input).
    assert get_block("pe_array").param("dequantizer").choices == DEQUANTIZERS
    config = BitModConfig(**resolve_params("pe_array", {"dequantizer": "ROW"}))
    assert config.dequantizer == "row" and config.pes_per_dequantizer == config.cols == 2
