"""Hand-written Yosys JSON netlists for the tests that need no Yosys run."""

from __future__ import annotations


def module(ports: dict, cells: dict, names: dict | None = None) -> dict:
    netnames = {n: {"bits": p[1], "hide_name": 0} for n, p in ports.items()}
    netnames.update({n: {"bits": b, "hide_name": 0} for n, b in (names or {}).items()})
    return {"modules": {"t": {
        "ports": {n: {"direction": d, "bits": b} for n, (d, b) in ports.items()},
        "cells": {n: {"type": t, "connections": {p: [b] for p, b in c.items()}}
                  for n, (t, c) in cells.items()},
        "netnames": netnames,
    }}}


def register_stage() -> dict:
    """``out``/``out_valid`` = ``a``/``in_valid`` one cycle later; ``in_ready`` tied high."""
    return module(
        {"clk": ("input", [2]), "rst": ("input", [9]), "in_valid": ("input", [8]),
         "in_ready": ("output", ["1"]), "a": ("input", [3]), "out_ready": ("input", [11]),
         "out_valid": ("output", [10]), "out": ("output", [12])},
        {"v": ("$_DFF_P_", {"C": 2, "D": 8, "Q": 10}),
         "d": ("$_DFF_P_", {"C": 2, "D": 3, "Q": 12})},
    )


def adder_chain() -> dict:
    """a, b -> NOT -> AND (named x) -> flop acc -> NOT -> output o."""
    return module(
        {"clk": ("input", [2]), "a": ("input", [3]), "b": ("input", [4]),
         "o": ("output", [8])},
        {"g1": ("$_NOT_", {"A": 3, "Y": 5}),
         "g2": ("$_AND_", {"A": 5, "B": 4, "Y": 6}),
         "f": ("$_DFF_P_", {"C": 2, "D": 6, "Q": 7}),
         "g3": ("$_NOT_", {"A": 7, "Y": 8})},
        {"x": [6], "acc": [7]},
    )


def counter() -> dict:
    """A free-running 2-bit counter: q0 toggles every cycle (q0 -> NOT -> D), q1 ^= q0."""
    return module(
        {"clk": ("input", [2]), "o": ("output", [3, 4])},
        {"n": ("$_NOT_", {"A": 3, "Y": 5}),
         "x": ("$_XOR_", {"A": 4, "B": 3, "Y": 6}),
         "f0": ("$_DFF_P_", {"C": 2, "D": 5, "Q": 3}),
         "f1": ("$_DFF_P_", {"C": 2, "D": 6, "Q": 4})},
    )


def enabled_register() -> dict:
    """A flip-flop with enable tied low: ``o`` never changes, whatever ``a`` does."""
    return module(
        {"clk": ("input", [2]), "a": ("input", [3]), "o": ("output", [4])},
        {"f": ("$_DFFE_PP_", {"C": 2, "D": 3, "E": "0", "Q": 4})},
    )


def hold_register() -> dict:
    """A register loading ``a`` when ``e``, else holding it, as our netlists map an enable
    register: D (net 5) = NAND(NAND(a, e), NAND(Q, NOT e)), Q net 6."""
    return module(
        {"clk": ("input", [2]), "a": ("input", [3]), "e": ("input", [4]), "o": ("output", [6])},
        {"inv": ("$_NOT_", {"A": 4, "Y": 11}),
         "load": ("$_NAND_", {"A": 3, "B": 4, "Y": 12}),
         "hold": ("$_NAND_", {"A": 6, "B": 11, "Y": 13}),
         "d": ("$_NAND_", {"A": 12, "B": 13, "Y": 5}),
         "f": ("$_DFF_P_", {"C": 2, "D": 5, "Q": 6})},
    )


# Yosys' definitions of its internal gates (simcells.v): output of (A, B, C, D, S), unused pins 0.
YOSYS_GATES = {
    "$_NOT_": lambda a, b, c, d, s: 1 - a, "$_BUF_": lambda a, b, c, d, s: a,
    "$_AND_": lambda a, b, c, d, s: a & b, "$_NAND_": lambda a, b, c, d, s: 1 - (a & b),
    "$_OR_": lambda a, b, c, d, s: a | b, "$_NOR_": lambda a, b, c, d, s: 1 - (a | b),
    "$_XOR_": lambda a, b, c, d, s: a ^ b, "$_XNOR_": lambda a, b, c, d, s: 1 - (a ^ b),
    "$_ANDNOT_": lambda a, b, c, d, s: a & (1 - b),
    "$_ORNOT_": lambda a, b, c, d, s: a | (1 - b),
    "$_MUX_": lambda a, b, c, d, s: b if s else a,
    "$_NMUX_": lambda a, b, c, d, s: 1 - (b if s else a),
    "$_AOI3_": lambda a, b, c, d, s: 1 - ((a & b) | c),
    "$_OAI3_": lambda a, b, c, d, s: 1 - ((a | b) & c),
    "$_AOI4_": lambda a, b, c, d, s: 1 - ((a & b) | (c & d)),
    "$_OAI4_": lambda a, b, c, d, s: 1 - ((a | b) & (c | d)),
}
