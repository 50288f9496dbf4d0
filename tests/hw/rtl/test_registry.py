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
    # The lowest value passes its range (with the defaults, a combination may still be
    # refused: the core's k_max = 1 below its group of 128).
    assert p.check(p.lo) == p.lo


def test_pe_array_takes_a_row_shared_dequantizer_by_name():
    # The registry's parameters are the array configuration's fields (its factory's input).
    assert get_block("pe_array").param("dequantizer").choices == DEQUANTIZERS
    config = BitModConfig(**resolve_params("pe_array", {"dequantizer": "ROW"}))
    assert config.dequantizer == "row" and config.pes_per_dequantizer == config.cols == 2


@pytest.mark.parametrize(("text", "value"), [("4", 4), ("0x4", 4), ("+4", 4)])
def test_command_line_integers_parse_as_python_literals(text, value):
    assert get_block("int_mac").param("lanes").parse(text) == value


@pytest.mark.parametrize(("text", "hint"), [
    # int(text, 0) refuses them (decimal 8 or C's octal?): the message said only "an integer".
    ("08", True), ("010", True), ("4.0", False), ("four", False),
    ("²", False)])  # a digit to str.isdigit, not a leading zero
def test_a_non_integer_says_why(text, hint):
    with pytest.raises(HwsimError) as info:
        get_block("int_mac").param("lanes").parse(text)
    message = str(info.value)
    assert message.startswith(f"parameter lanes must be an integer (integers 1..64), not "
                              f"{text!r}")
    assert ("leading zeros are ambiguous" in message) == hint


def test_an_array_whose_out_port_amaranth_cannot_emit_is_refused_up_front():
    # 32 x 32 PEs of 65-bit results: 66,560 bits on one port, an OverflowError traceback after
    # 90 s of elaboration (`hwsim verilog pe_array -p rows=32 -p cols=32`).
    with pytest.raises(HwsimError, match=r"^parameters rows x cols = 1,024 PEs of 65-bit "
                                         r"results \(k 256, group_size 128, scale_bits 8\) make "
                                         r"a 66,560-bit out port, above the 65,536 bits"):
        BitModConfig(**resolve_params("pe_array", {"rows": 32, "cols": 32}))
    BitModConfig(**resolve_params("pe_array", {"rows": 32, "cols": 31}))  # 64,480 bits


def test_a_wire_too_wide_for_amaranth_is_an_error_not_a_traceback(monkeypatch):
    from amaranth.back import verilog as amaranth_verilog

    from hwsim.hw.rtl import verilog

    def too_wide(*args, **kwargs):
        raise OverflowError("Wire created at x is 70000 bits wide, which is unlikely to "
                            "synthesize correctly")

    monkeypatch.setattr(amaranth_verilog, "convert", too_wide)
    with pytest.raises(HwsimError, match=r"^int_mac: Wire created at x is 70000 bits wide, .* "
                                         r"\(Amaranth emits at most 65,536 bits in one wire\)"):
        verilog.to_verilog(None, "int_mac")
