"""Co-design consistency: the RTL takes exactly the cycles of `hwsim.sim.pe_cycles`.

Measured in Amaranth's simulator at full rate: cycles from the edge that accepts an output's
first beat to the edge that loads its result, and the period between results.
"""

from __future__ import annotations

import numpy as np
import pytest
import rtl_stimuli as st
from rtl_stream import run_stream

from hwsim.hw.rtl.bipolar import BipolarPE
from hwsim.hw.rtl.bitmod import PIPELINE_CUTS, BitModArray, BitModConfig, BitModPE
from hwsim.hw.rtl.dequant import BitSerialDequant
from hwsim.hw.rtl.fp16_mac import FP16IntMAC
from hwsim.hw.rtl.mac import DIntMAC, IntMAC
from hwsim.sim import pe_cycles


def _measure(dut, case):
    run = run_stream(dut, case.beats, len(case.expected), case.out_ports)
    assert run.outputs == case.expected
    latency = run.load_edges[0] - run.accept_edges[0]
    periods = set(np.diff(run.load_edges).tolist())
    return latency, periods


# (k, group_size, lanes, dtypes format): 1 group, several groups, partial groups and lanes,
# accumulation shorter than dequantization (int2: 1 term) and longer (fp4, 32 beats).
PE_SHAPES = [
    (16, 16, 4, "fp4_ea_pos"),
    (40, 16, 4, "fp3_er_neg"),
    (128, 128, 4, "fp4_e2m1"),
    (24, 8, 2, "int8"),
    (20, 16, 4, "int3"),
    (13, 4, 4, "int2"),
    (30, 12, 3, "int5"),
]


@pytest.mark.parametrize(("k", "group_size", "lanes", "fmt"), PE_SHAPES)
def test_bitmod_pe_cycles(k, group_size, lanes, fmt):
    family = "fp3" if fmt.startswith("fp3") else "fp4" if fmt.startswith("fp4") else fmt
    c = BitModConfig(weights=family, k=k, group_size=group_size, lanes=lanes)
    latency, periods = _measure(BitModPE(c), st.bitmod_random(c, n=3))
    model = int(pe_cycles.bitmod_pe_cycles(k, lanes, fmt, group_size, scale_bits=8))
    assert latency == model + pe_cycles.pipeline_fill_cycles(c.pipeline)
    assert periods == {model}


@pytest.mark.parametrize("pipeline", range(len(PIPELINE_CUTS)))
def test_every_pipeline_depth_adds_its_fill_and_nothing_else(pipeline):
    c = BitModConfig(weights="fp4+int6", k=24, group_size=8, lanes=4, pipeline=pipeline)
    for mode, fmt in enumerate(["fp4_e2m1", "int6"]):
        latency, periods = _measure(BitModPE(c), st.bitmod_random(c, n=3, mode=mode))
        model = int(pe_cycles.bitmod_pe_cycles(24, 4, fmt, 8, 8))
        assert latency == model + pipeline
        assert periods == {model}


@pytest.mark.parametrize("fmt", ["fp3_ea_neg", "int6", "int2"])
def test_one_more_group_costs_the_group_cycles(fmt):
    # bitmod_pe_group_cycles is the steady-state cost of a group: adding one full group to an
    # output must add exactly that many cycles in the hardware.
    family = "fp3" if fmt.startswith("fp3") else fmt
    measured = []
    for k in (16, 24):
        c = BitModConfig(weights=family, k=k, group_size=8, lanes=4)
        measured.append(_measure(BitModPE(c), st.bitmod_random(c, n=1))[0])
    assert measured[1] - measured[0] == pe_cycles.bitmod_pe_group_cycles(8, 4, fmt, 8)


@pytest.mark.parametrize(("rows", "cols", "k", "group_size", "lanes", "fmt"),
                         [(2, 2, 20, 8, 2, "fp4_er_pos"), (1, 3, 16, 16, 4, "int4"),
                          (3, 1, 12, 4, 4, "fp3")])
def test_array_tile_cycles(rows, cols, k, group_size, lanes, fmt):
    family = "fp3" if fmt.startswith("fp3") else "fp4" if fmt.startswith("fp4") else fmt
    c = BitModConfig(rows=rows, cols=cols, weights=family, k=k, group_size=group_size,
                     lanes=lanes)
    case = st.bitmod_random(c, n=3)
    latency, periods = _measure(BitModArray(c), case)
    pe = int(pe_cycles.bitmod_pe_cycles(k, lanes, fmt, group_size, 8))
    fill = pe_cycles.pipeline_fill_cycles(c.pipeline)
    assert latency == pe_cycles.array_tile_cycles(pe, fill)
    # Back to back, the operand register and the pipeline of the next tile overlap the
    # current one: n tiles take exactly what the simulator's one tile rule charges.
    assert periods == {pe}
    run = run_stream(BitModArray(c), case.beats, 3, case.out_ports)
    assert run.load_edges[-1] - run.accept_edges[0] == pe_cycles.array_tiles_cycles(3, pe, fill)


@pytest.mark.parametrize(("lanes", "k", "pipeline"), [(1, 16, 0), (4, 30, 1), (2, 12, 2)])
def test_mac_cycles(lanes, k, pipeline):
    fill = pe_cycles.pipeline_fill_cycles(pipeline)
    latency, periods = _measure(DIntMAC(lanes, k, pipeline=pipeline),
                                st.dint_mac_cases(lanes, k, pipeline=pipeline)[0])
    model = pe_cycles.dint_mac_cycles(k, lanes)
    assert latency == model + fill and periods == {model}
    model = pe_cycles.mac_pe_cycles(k, lanes)
    latency, periods = _measure(IntMAC(lanes, k, pipeline=pipeline),
                                st.int_mac_cases(lanes, k, pipeline=pipeline)[0])
    assert latency == model + fill and periods == {model}
    latency, periods = _measure(FP16IntMAC(lanes, k, pipeline=pipeline),
                                st.fp16_int_mac_cases(lanes, k, pipeline=pipeline)[0])
    assert latency == model + fill and periods == {model}


@pytest.mark.parametrize(("lanes", "wbits", "abits", "k"), [(8, 2, 4, 16), (4, 3, 5, 10)])
def test_bipolar_cycles(lanes, wbits, abits, k):
    case = st.bipolar_cases(lanes, wbits, abits, k)[0]
    latency, periods = _measure(BipolarPE(lanes, wbits, abits, k), case)
    assert latency == pe_cycles.bipolar_pe_cycles(k, lanes, wbits, abits)
    assert periods == {latency}


@pytest.mark.parametrize("scale_bits", [8, 3])
def test_dequant_cycles(scale_bits):
    latency, periods = _measure(BitSerialDequant(40, scale_bits),
                                st.dequant_cases(40, scale_bits, n=4)[0])
    assert latency == pe_cycles.dequant_cycles(scale_bits) and periods == {latency}
