"""Co-design consistency: the RTL takes exactly the cycles of `hwsim.sim.pe_cycles`.

Measured in Amaranth's simulator at full rate: cycles from the edge that accepts an output's
first beat to the edge that loads its result, and the period between results.
"""

from __future__ import annotations

import numpy as np
import pytest
import rtl_stimuli as st
from rtl_stream import run_stream

from hwsim.dtypes import get_format
from hwsim.hw.pe_kinds import pe_for_block
from hwsim.hw.rtl.bipolar import BipolarPE
from hwsim.hw.rtl.bitmod import (
    ACCUMULATORS,
    PIPELINE_CUTS,
    BitModArray,
    BitModConfig,
    BitModPE,
)
from hwsim.hw.rtl.dequant import BitSerialDequant
from hwsim.hw.rtl.fp16_mac import FP16IntMAC
from hwsim.hw.rtl.mac import DIntMAC, IntMAC
from hwsim.hw.spec import hardware_from_dict
from hwsim.mapping import Mapping
from hwsim.sim import pe_cycles
from hwsim.sim.engine import simulate_gemm
from hwsim.sim.precision import operand_widths
from hwsim.workloads.ops import Op


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


@pytest.mark.parametrize("accumulator", ACCUMULATORS)
@pytest.mark.parametrize("pipeline", range(len(PIPELINE_CUTS)))
def test_every_pipeline_depth_adds_its_fill_and_nothing_else(pipeline, accumulator):
    c = BitModConfig(weights="fp4+int6", k=24, group_size=8, lanes=4, pipeline=pipeline,
                     accumulator=accumulator)
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
    # Streamed back to back (which no sequencer does yet, see `array_tiles_cycles`), the
    # operand register and the pipeline of the next tile overlap the current one.
    assert periods == {pe}
    run = run_stream(BitModArray(c), case.beats, 3, case.out_ports)
    assert run.load_edges[-1] - run.accept_edges[0] == 3 * pe + pe_cycles.ARRAY_IO_LATENCY + fill


# (rows, cols, k, group_size, lanes, scale_bits, format, PE cycles with a dequantizer per PE,
# with one per row), by `bitmod_pe_cycles`' rule: A_0 + sum max(A_i, D) + D, D = P x scale_bits.
ROW_SHARED = [
    # Two groups of A = 16 beats x 2 terms = 32; 4 x 4 = 16 <= 32: no stall, only the
    # drain grows: 32 + 32 + 4 = 68 per PE, 32 + 32 + 16 = 80 shared.
    (1, 4, 128, 64, 4, 4, "fp4_e2m1", 68, 80),
    # Groups 8, 8, 4 on 2 lanes: A = 8, 8, 4; per PE D = 8: 8 + 8 + 8 + 8 = 32; shared
    # D = 3 x 8 = 24 > A: the front stalls 16 cycles a group: 8 + 24 + 24 + 24 = 80.
    (2, 3, 20, 8, 2, 8, "fp4_e2m1", 32, 80),
    # int8 (4 Booth digits), groups 16, 16, 8 on 2 lanes: A = 32, 32, 16; D = 2 x 4 = 8
    # fits: 32 + 32 + 16 + 4 = 84 per PE, 32 + 32 + 16 + 8 = 88 shared.
    (2, 2, 40, 16, 2, 4, "int8", 84, 88),
    # Three groups of 4 on one lane, int4 (2 digits): A = 8 < D = 4 x 3 = 12: 8 + 12 + 12
    # + 12 = 44 shared; 8 + 8 + 8 + 3 = 27 per PE.
    (3, 4, 12, 4, 1, 3, "int4", 27, 44),
]


@pytest.mark.parametrize(("rows", "cols", "k", "group_size", "lanes", "scale_bits", "fmt",
                          "per_pe", "shared"), ROW_SHARED)
def test_row_shared_dequantizer_cycles(rows, cols, k, group_size, lanes, scale_bits, fmt,
                                       per_pe, shared):
    family = "fp4" if fmt.startswith("fp4") else fmt
    c = BitModConfig(rows=rows, cols=cols, weights=family, k=k, group_size=group_size,
                     lanes=lanes, scale_bits=scale_bits, dequantizer="row")
    assert pe_cycles.bitmod_pe_cycles(k, lanes, fmt, group_size, scale_bits) == per_pe
    pe = int(pe_cycles.bitmod_pe_cycles(k, lanes, fmt, group_size, scale_bits, cols))
    assert pe == shared
    latency, periods = _measure(BitModArray(c), st.bitmod_random(c, n=3, seed=rows + cols))
    assert latency == pe_cycles.array_tile_cycles(pe, pe_cycles.pipeline_fill_cycles(c.pipeline))
    assert periods == {pe}


# The cheapest PE (one lane, one Booth digit per weight, one scale bit) keeps 64-PE rows and
# columns cheap to simulate; the array's control is shared by all its PEs.
TINY = {"lanes": 1, "weights": "int2", "k": 4, "group_size": 4, "scale_bits": 1,
        "align_bits": 0}


def _tile_latencies(rows: int, cols: int, pipeline: int, dequantizer: str = "per_pe") -> list[int]:
    """Cycles from each tile's first beat to its result on the RTL array, tiles issued as the
    previous result is loaded (`run_stream(one_at_a_time=True)`), bit-exact outputs."""
    c = BitModConfig(rows=rows, cols=cols, pipeline=pipeline, dequantizer=dequantizer, **TINY)
    case = st.bitmod_random(c, n=3, seed=rows + cols + pipeline)
    run = run_stream(BitModArray(c), case.beats, 3, case.out_ports, one_at_a_time=True)
    assert run.outputs == case.expected
    firsts = run.accept_edges[::c.beats]
    return [load - first for first, load in zip(firsts, run.load_edges, strict=True)]


def _block_compute_cycles(rows: int, cols: int, pipeline: int, m: int, n: int,
                          dequantizer: str = "per_pe") -> int:
    """The simulator's compute cycles of a one-block int2 GEMM (k = 4, groups of 4) on a rows x
    cols array of TINY PEs with ``pipeline`` stages, buffers wide enough never to limit it; the
    PE as the registry describes the ``pe_array`` build (its ``dequantizer_pes``)."""
    buf = {"kib": 4096, "banks": 64, "port_bits": 4096}
    params = {"rows": rows, "cols": cols, "pipeline": pipeline, "dequantizer": dequantizer,
              **TINY}
    pe, _, _ = pe_for_block("pe_array", params)
    hw = hardware_from_dict({
        "name": "tiny", "clock_mhz": 100,
        "pe": pe,
        "array": {"rows": rows, "cols": cols},
        "buffers": {"weight": buf, "activation": buf, "output": buf},
        "dram": {"bytes_per_cycle": 64}})
    k = TINY["k"]
    op = Op(name="gemm", op_class="gemm", stage="prefill", layer="gemm", kind="gemm",
            m=np.array([m]), n=np.array([n]), k=np.array([k]), count=1, a_bits=16.0,
            b_bits=2 + 16 / k, out_bits=32.0, a_format=get_format("fp16"),
            b_format=get_format("int2"), group_size=k)
    one_block = Mapping(m, n, k, rows, cols, "n_outer", m, n, k, 1, 1, 0.0, 0.0)
    cost = simulate_gemm(m, n, k, hw, operand_widths(op, hw), op.a_bits, op.b_bits,
                         op.out_bits, group_size=k, mapping=one_block)
    return int(cost.compute_cycles)


@pytest.mark.parametrize("pipeline", range(len(PIPELINE_CUTS)))
def test_the_simulator_charges_each_tile_the_rtl_tile_latency(pipeline):
    """The one tile rule at every pipeline depth: the RTL array takes `array_tile_cycles` per
    tile (a 64-PE row and a 64-PE column included, at depths 0, 3 and 5, so the latency does
    not depend on the array's shape), and the simulator's compute cycles of a block on arrays
    up to 64 x 64 (ragged edges included) are its tiles times that latency."""
    shapes = [(2, 3)] + ([(64, 1), (1, 64)] if pipeline in (0, 3, 5) else [])
    latencies = {lat for shape in shapes for lat in _tile_latencies(*shape, pipeline)}
    pe = int(pe_cycles.bitmod_pe_cycles(TINY["k"], 1, "int2", TINY["group_size"], 1))
    assert latencies == {pe_cycles.array_tile_cycles(pe, pipeline)}
    (tile,) = latencies
    for rows, cols in [(64, 64), (32, 32), (64, 16), (2, 3)]:
        m, n = 3 * cols - 1, 2 * rows + 1
        tiles = -(-m // cols) * -(-n // rows)
        assert _block_compute_cycles(rows, cols, pipeline, m, n) == tiles * tile


@pytest.mark.parametrize(("rows", "cols", "pipeline"), [(2, 3, 0), (1, 8, 3), (3, 2, 6)])
def test_the_simulator_charges_a_row_shared_dequantizer_the_rtl_tile_latency(rows, cols,
                                                                            pipeline):
    """With one dequantizer per row (``dequantizer_pes`` = cols in the simulator's PE, from the
    registry) the one tile rule holds as well: a TINY output is one group, accumulated in 4
    cycles, then dequantized for each of the row's PEs in turn, cols x 1 cycles."""
    latencies = set(_tile_latencies(rows, cols, pipeline, "row"))
    pe = int(pe_cycles.bitmod_pe_cycles(TINY["k"], 1, "int2", TINY["group_size"], 1, cols))
    assert pe == 4 + cols  # one group: A + D, D = cols x 1 scale bit
    assert latencies == {pe_cycles.array_tile_cycles(pe, pipeline)}
    (tile,) = latencies
    m, n = 2 * cols + 1, 2 * rows - 1
    tiles = -(-m // cols) * -(-n // rows)
    assert _block_compute_cycles(rows, cols, pipeline, m, n, "row") == tiles * tile


@pytest.mark.parametrize(("lanes", "k", "pipeline"),
                         [(1, 16, 0), (4, 30, 1), (2, 12, 2), (5, 23, 3), (3, 11, 4)])
def test_mac_cycles(lanes, k, pipeline):
    fill = pe_cycles.pipeline_fill_cycles(pipeline)
    if pipeline <= IntMAC.RANGES["pipeline"][1]:
        latency, periods = _measure(DIntMAC(lanes, k, pipeline=pipeline),
                                    st.dint_mac_cases(lanes, k, pipeline=pipeline)[0])
        model = pe_cycles.dint_mac_cycles(k, lanes)
        assert latency == model + fill and periods == {model}
        model = pe_cycles.mac_pe_cycles(k, lanes)
        latency, periods = _measure(IntMAC(lanes, k, pipeline=pipeline),
                                    st.int_mac_cases(lanes, k, pipeline=pipeline)[0])
        assert latency == model + fill and periods == {model}
    model = pe_cycles.mac_pe_cycles(k, lanes)
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
