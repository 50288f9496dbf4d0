# amaranth: UnusedElaboratable=no
"""Dequantizer, the dINT, INT, FP16 x INT and FP16 MACs and the bipolar PE in Amaranth against
models.

The linter comment above: some tests build components only to read widths or to see a
constructor reject a parameter; Amaranth would warn that they are never elaborated.
"""

from __future__ import annotations

import pytest
import rtl_stimuli as st
from rtl_stream import run_stream

from hwsim.errors import HwsimError
from hwsim.hw.rtl.bipolar import BipolarPE
from hwsim.hw.rtl.dequant import BitSerialDequant
from hwsim.hw.rtl.fp16_dual_mac import FP16DualMAC
from hwsim.hw.rtl.fp16_mac import FP16MAC, FP16IntMAC
from hwsim.hw.rtl.mac import DIntMAC, IntMAC


def _check(dut, cases, seed=None):
    for case in cases:
        run = run_stream(dut, case.beats, len(case.expected), case.out_ports, seed=seed)
        assert run.outputs == case.expected, case.name


@pytest.mark.parametrize(("in_width", "scale_bits"), [(56, 8), (20, 3)])
def test_dequant(in_width, scale_bits):
    dut = BitSerialDequant(in_width, scale_bits)
    _check(dut, st.dequant_cases(in_width, scale_bits, n=12))
    _check(dut, st.dequant_cases(in_width, scale_bits, n=12, seed=9), seed=3)


@pytest.mark.parametrize(("lanes", "k", "special", "pipe"),
                         [(1, 20, 1, 0), (4, 30, -3, 2), (3, 14, 7, 3)])
def test_dint_mac(lanes, k, special, pipe):
    dut = DIntMAC(lanes, k, special, pipeline=pipe)
    _check(dut, st.dint_mac_cases(lanes, k, special, pipeline=pipe))
    _check(dut, st.dint_mac_cases(lanes, k, special, seed=1, pipeline=pipe), seed=4)


@pytest.mark.parametrize(("lanes", "k", "abits", "wbits", "pipe"),
                         [(1, 16, 8, 8, 1), (3, 10, 6, 4, 2), (2, 8, 8, 8, 0),
                          (5, 23, 8, 8, 3)])
def test_int_mac(lanes, k, abits, wbits, pipe):
    dut = IntMAC(lanes, k, abits, wbits, pipeline=pipe)
    _check(dut, st.int_mac_cases(lanes, k, abits, wbits, pipeline=pipe))
    _check(dut, st.int_mac_cases(lanes, k, abits, wbits, seed=2, pipeline=pipe), seed=5)


@pytest.mark.parametrize("pipe", [0, 3])
def test_mac_beat_survives_back_pressure(pipe):
    # One beat per output: its step waits whenever the previous output is not taken, so the
    # beat registers must hold it (unpipelined) or freeze with the pipeline; many stall seeds.
    dut = IntMAC(3, 3, pipeline=pipe)
    case = st.int_mac_cases(3, 3, pipeline=pipe)[0]
    for seed in range(16):
        _check(dut, [case], seed=seed)


@pytest.mark.parametrize(("lanes", "k", "wbits", "align", "pipe"),
                         [(1, 12, 8, 3, 0), (4, 30, 4, 0, 1), (3, 17, 2, 8, 2),
                          (4, 21, 8, 3, 3), (5, 26, 6, 2, 4)])
def test_fp16_int_mac(lanes, k, wbits, align, pipe):
    dut = FP16IntMAC(lanes, k, wbits, align, pipeline=pipe)
    _check(dut, st.fp16_int_mac_cases(lanes, k, wbits, align, pipeline=pipe))
    _check(dut, st.fp16_int_mac_cases(lanes, k, wbits, align, seed=2, pipeline=pipe), seed=7)


@pytest.mark.parametrize(("k", "wbits", "pipe"), [(16, 8, 1), (9, 4, 0)])
def test_fp16_int_mac_with_an_fp16_accumulator(k, wbits, pipe):
    dut = FP16IntMAC(1, k, wbits, pipeline=pipe, accumulator="fp16")
    cases = st.fp16_int_mac_cases(1, k, wbits, pipeline=pipe, accumulator="fp16")
    outs = {c["out"] for c in cases[0].expected}
    assert {0x7C00, 0xFC00, 0x7E00} & outs and any(v & 0x7FFF < 0x7C00 for v in outs)
    _check(dut, cases)
    _check(dut, st.fp16_int_mac_cases(1, k, wbits, seed=4, pipeline=pipe, accumulator="fp16"),
           seed=9)
    with pytest.raises(HwsimError, match="needs lanes = 1"):
        FP16IntMAC(2, k, accumulator="fp16")


@pytest.mark.parametrize(("k", "pipe"), [(16, 1), (9, 0)])
def test_fp16_mac(k, pipe):
    dut = FP16MAC(k=k, pipeline=pipe)
    cases = st.fp16_mac_cases(k, pipeline=pipe)
    # The stimulus reaches what it is for: Inf, NaN, subnormal and zero results.
    outs = {c["out"] for c in cases[0].expected}
    assert {0x7C00, 0x7E00} & outs and any(0 < v & 0x7FFF < 0x400 for v in outs)
    _check(dut, cases)
    _check(dut, st.fp16_mac_cases(k, seed=3, pipeline=pipe), seed=8)


@pytest.mark.parametrize(("k", "pipe"), [(16, 1), (11, 0)])
def test_fp16_dual_mac(k, pipe):
    dut = FP16DualMAC(k=k, pipeline=pipe)
    case = st.fp16_dual_mac_cases(k, pipeline=pipe)[0]
    # The stimulus reaches what it is for: Inf of both signs and NaN in both accumulators,
    # subnormal and -0 results, finite sums in both.
    for port in ("out", "out_hi"):
        outs = {e[port] for e in case.expected}
        assert {0x7C00, 0xFC00, 0x7E00} <= outs, port
        assert any(0 < v & 0x7FFF < 0x400 for v in outs) and 0x8000 in outs, port
    _check(dut, [case])
    _check(dut, st.fp16_dual_mac_cases(k, seed=5, pipeline=pipe), seed=3)


@pytest.mark.parametrize(("lanes", "wbits", "abits", "k"), [(8, 2, 4, 16), (5, 3, 3, 12)])
def test_bipolar_pe(lanes, wbits, abits, k):
    dut = BipolarPE(lanes, wbits, abits, k)
    _check(dut, st.bipolar_cases(lanes, wbits, abits, k))
    _check(dut, st.bipolar_cases(lanes, wbits, abits, k, seed=3), seed=6)


def test_mac_widths_hold_the_worst_case():
    # INT8 x INT8: (-128)(-128) = 16384 per product, 128 products = 2**21 -> 22 bits + sign.
    assert IntMAC(k=128).out_width == 23
    # dINT: |a| <= 128, |w| <= 7 -> 14 half LSBs; 128 * 14 * 128 = 229376 < 2**18 -> 19 bits.
    assert DIntMAC(k=128).out_width == 19
    # Bipolar 4-bit x INT8, 64 elements: partial sums <= 64 * 255 * 15 = 244800 < 2**18.
    assert BipolarPE(8, 4, 8, 64).out_width == 19
    # FP16 x INT8, 128 products: 2047 * 128 << (30 + 3) per product, 128 of them: 2**58 > bound
    # >= 2**57 -> 58 bits + sign.
    assert FP16IntMAC(k=128).out_width == 59


def test_constructors_name_the_bad_parameter():
    with pytest.raises(HwsimError, match=r"special_half_lsb must be an integer in \[-15, 15\]"):
        DIntMAC(special_half_lsb=16)
    with pytest.raises(HwsimError, match="parameter weight_bits"):
        BipolarPE(weight_bits=9)
    with pytest.raises(HwsimError, match=r"parameter weight_bits must be an integer in \[2, 8\]"):
        FP16IntMAC(weight_bits=9)
