"""Per-tile cycle model of every PE kind: the one place cycle counts come from.

The simulator (`hwsim.sim`) and the RTL tests (`tests/hw/rtl`) both call these functions, so a
PE built in Amaranth must take exactly the cycles stated here. Every function is pure, accepts
Python ints or NumPy int arrays (broadcast elementwise) and returns int64 cycles.

What one "cycle count" means
----------------------------
``*_pe_cycles(k, ...)`` is the number of clock cycles one PE is *occupied* computing one output
element over a reduction of length ``k``: counted from the cycle it accepts the first operands
to the cycle after which it can accept the operands of the next output (its result is then in
the output register). A PE consumes ``lanes`` reduction elements per step; a partial last step
(``k`` not a multiple of ``lanes``) costs a whole step with the idle lanes fed zeros.

An array tile (`array_tile_cycles`) is one pass of rows x cols PEs over the same reduction
extent: rows map output channels (n), columns map tokens (m), lanes map the reduction (k).
Operands are broadcast (weights along a row, activations down a column) through one register
stage, so every PE starts in the same cycle and a tile costs the PE cycles plus
`ARRAY_IO_LATENCY`. A pipelined PE adds its fill (`pipeline_fill_cycles`) to its first output.
The one tile rule (`array_tiles_cycles`, used by `hwsim.sim` and held against the RTL by
``tests/hw/rtl/test_codesign.py``): a tile's first operands enter the operand register as the
previous tile's result is loaded, as the accelerator core's sequencer issues them, so n tiles
cost n x (pe + latency + fill).

The `systolic_*` functions are the exception: they reproduce SCALE-Sim 3.0's compute cycles for
a whole GEMM on an output-, weight- or input-stationary systolic array (fill, skew and drain
per fold included), see `systolic_fold_cycles`.
"""

from __future__ import annotations

import numpy as np

from hwsim.dtypes import Format, get_format, list_formats
from hwsim.errors import HwsimError

__all__ = [
    "ARRAY_IO_LATENCY",
    "SCALESIM_TOTAL_OFFSET",
    "array_tile_cycles",
    "array_tiles_cycles",
    "bipolar_pe_cycles",
    "bit_serial_pe_cycles",
    "bitmod_pe_cycles",
    "bitmod_pe_group_cycles",
    "bitmod_pe_terms_cycles",
    "bitmod_pe_ungrouped_cycles",
    "bitmod_terms_for_width",
    "bitmod_terms_per_weight",
    "dequant_cycles",
    "dint_mac_cycles",
    "lane_steps",
    "mac_pe_cycles",
    "pipeline_fill_cycles",
    "systolic_fold_cycles",
    "systolic_folds",
    "systolic_gemm_cycles",
]

# Cycles an array tile spends beyond its PEs' own cycles: the input register stage that
# broadcasts operands to the PEs. Should the generated array need another stage, change it
# here: the simulator picks it up from this one constant.
ARRAY_IO_LATENCY = 1

def _i64(x: int | np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def _ceil_div(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    return -(-_i64(a) // _i64(b))


def lane_steps(k: int | np.ndarray, lanes: int | np.ndarray) -> np.ndarray:
    """Steps a PE with ``lanes`` lanes needs for a reduction of ``k``: ceil(k / lanes)."""
    return _ceil_div(k, lanes)


def bitmod_terms_per_weight(weight_format: Format | str) -> int:
    """Cycles (bit-serial terms) the BitMoD PE spends per weight of ``weight_format``.

    Two-term formats (`Format.two_term`: FP3/FP4 incl. ER/EA, E2M1, ``bitmod3``/``bitmod4``):
    2 terms. Signed ``intB``: radix-4 Booth digits in {0, ±1, ±2}, one per cycle,
    ceil(B / 2). Unsigned ``intB_asym`` codes need one more bit to be Booth-encoded as
    two's complement: ceil((B + 1) / 2).

    Raises:
        HwsimError: the BitMoD PE cannot run ``weight_format``.
    """
    fmt = get_format(weight_format)
    if fmt.two_term:
        return 2
    if fmt.is_integer and 2 <= fmt.bits <= 8:
        bits = fmt.bits + (1 if fmt.has_zero_point else 0)
        return -(-bits // 2)
    two_term = sorted(n for n in list_formats() if get_format(n).two_term)
    raise HwsimError(
        f"the bitmod PE cannot run weight format {fmt.name!r}; it runs "
        f"{', '.join(two_term)}, int2..int8 and int2_asym..int8_asym"
    )


def bitmod_terms_for_width(bits: int) -> int:
    """Terms per element of an operand given only as a width (e.g. a 16-bit KV cache).

    Assumption: the bit-serial path Booth-encodes it as a ``bits``-wide integer (an FP16
    operand as its 16-bit pattern), ceil(bits / 2) radix-4 digits.
    """
    return -(-int(bits) // 2)


def bitmod_pe_ungrouped_cycles(
    k: int | np.ndarray, lanes: int | np.ndarray, terms: int | np.ndarray
) -> np.ndarray:
    """BitMoD PE over an operand without group scales (KV cache, FP16): no dequantization.

    cycles = ceil(k / lanes) x terms.
    """
    return lane_steps(k, lanes) * _i64(terms)


def dequant_cycles(
    scale_bits: int | np.ndarray, pes_per_dequantizer: int | np.ndarray = 1
) -> np.ndarray:
    """Cycles a group keeps its dequantizer busy: bit-serial by the integer scale.

    One scale bit per cycle, so ``scale_bits`` cycles per partial sum; a dequantizer shared by
    ``pes_per_dequantizer`` PEs (a PE row's, `hwsim.hw.rtl.bitmod.BitModConfig.dequantizer`)
    dequantizes each of their partial sums of the group in turn: ``pes x scale_bits``.
    """
    return _i64(scale_bits) * _i64(pes_per_dequantizer)


def bitmod_pe_group_cycles(
    group_size: int | np.ndarray,
    lanes: int | np.ndarray,
    weight_format: Format | str,
    scale_bits: int | np.ndarray = 8,
    pes_per_dequantizer: int | np.ndarray = 1,
) -> np.ndarray:
    """Steady-state cycles per quantization group of one BitMoD PE output.

    Group accumulation takes ceil(group_size / lanes) x terms cycles; the dequantizer is its own
    pipeline stage working on the previous group meanwhile, so a group costs
    ``max(accumulate, dequant_cycles(scale_bits, pes_per_dequantizer))``: a shared dequantizer
    stalls the PEs by ``pes x scale_bits - accumulate`` cycles per group when positive. See
    `bitmod_pe_cycles` for a whole output.
    """
    terms = bitmod_terms_per_weight(weight_format)
    acc = lane_steps(group_size, lanes) * terms
    return np.maximum(acc, dequant_cycles(scale_bits, pes_per_dequantizer))


def bitmod_pe_cycles(
    k: int | np.ndarray,
    lanes: int | np.ndarray,
    weight_format: Format | str,
    group_size: int | np.ndarray,
    scale_bits: int | np.ndarray = 8,
    pes_per_dequantizer: int | np.ndarray = 1,
) -> np.ndarray:
    """Cycles of one BitMoD PE for one output over a reduction of ``k`` weights.

    Model: the reduction is cut into G = ceil(k / group_size) groups (the last one holds the
    remainder r = k - (G - 1) x group_size). Group i accumulates for
    A_i = ceil(g_i / lanes) x terms cycles (`bitmod_terms_per_weight`). Its partial sum is then
    handed to the dequantizer, which is busy D = `dequant_cycles` (scale_bits,
    pes_per_dequantizer) cycles with it, while the accumulator starts on group i + 1; the
    hand-off of group i + 1 waits for the dequantizer to be free. The PE is free after the last
    group is dequantized:

        cycles = A_0 + sum_{i >= 1} max(A_i, D) + D

    A dequantizer shared by a row of ``pes_per_dequantizer`` = P PEs (which hand off their
    groups together and wait in hand-off registers for their turns) makes D = P x scale_bits:
    no stall while P x scale_bits <= A_i, a stall of P x scale_bits - A_i cycles per group
    beyond, and P x scale_bits cycles of drain after the last group either way.

    Args:
        k: reduction length (weights per output), >= 1.
        lanes: weights (and FP16 activations) consumed per term cycle.
        weight_format: the weight format (or its `hwsim.dtypes` name).
        group_size: weights per quantization group (one integer scale each).
        scale_bits: bits of the integer group scale.
        pes_per_dequantizer: PEs sharing one dequantizer (1: a dequantizer per PE; a PE
            row's columns with a row-shared one).
    """
    terms = bitmod_terms_per_weight(weight_format)
    return bitmod_pe_terms_cycles(k, lanes, terms, group_size, scale_bits, pes_per_dequantizer)


def bitmod_pe_terms_cycles(
    k: int | np.ndarray,
    lanes: int | np.ndarray,
    terms: int | np.ndarray,
    group_size: int | np.ndarray,
    scale_bits: int | np.ndarray = 8,
    pes_per_dequantizer: int | np.ndarray = 1,
) -> np.ndarray:
    """`bitmod_pe_cycles` with the terms per weight given directly (same model)."""
    k = _i64(k)
    group_size = _i64(group_size)
    d = dequant_cycles(scale_bits, pes_per_dequantizer)
    groups = _ceil_div(k, group_size)
    last = k - (groups - 1) * group_size
    a_full = lane_steps(group_size, lanes) * _i64(terms)
    a_last = lane_steps(last, lanes) * _i64(terms)
    # G == 1: A_last + D.  G >= 2: A_full + (G - 2) max(A_full, D) + max(A_last, D) + D.
    many = a_full + (groups - 2) * np.maximum(a_full, d) + np.maximum(a_last, d) + d
    return np.where(groups == 1, a_last + d, many).astype(np.int64)


def mac_pe_cycles(
    k: int | np.ndarray, lanes: int | np.ndarray, passes: int | np.ndarray = 1
) -> np.ndarray:
    """Bit-parallel MAC PE (FP16, FP16 x INTk, INT8): one ``lanes``-wide MAC step per cycle.

    cycles = ceil(k / lanes) x passes, where ``passes`` > 1 when a weight operand wider than
    the multiplier is processed in multiplier-wide slices.
    """
    return lane_steps(k, lanes) * _i64(passes)


def dint_mac_cycles(k: int | np.ndarray, lanes: int | np.ndarray) -> np.ndarray:
    """INT8 x dINT4 MAC PE: like `mac_pe_cycles`, one ``lanes``-wide step per cycle.

    dINT's sub-LSB code is handled with one extra accumulator fraction bit, not extra cycles.
    """
    return lane_steps(k, lanes)


def bit_serial_pe_cycles(
    k: int | np.ndarray, lanes: int | np.ndarray, weight_bits: int | np.ndarray
) -> np.ndarray:
    """Stripes-like bit-serial PE: one weight bit per cycle, ``lanes`` weights in parallel.

    cycles = ceil(k / lanes) x weight_bits.
    """
    return lane_steps(k, lanes) * _i64(weight_bits)


def bipolar_pe_cycles(
    k: int | np.ndarray,
    lanes: int | np.ndarray,
    weight_bits: int | np.ndarray,
    act_bits: int | np.ndarray,
) -> np.ndarray:
    """Bipolar-INT bit-plane PE: one (activation plane, weight plane) pair per cycle.

    Each cycle computes one ±1 dot product of ``lanes`` elements (K - 2 popcount(a XOR w)) and
    adds it shifted by 2^(i + j) into the accumulator, so
    cycles = ceil(k / lanes) x weight_bits x act_bits.
    """
    return lane_steps(k, lanes) * _i64(weight_bits) * _i64(act_bits)


def pipeline_fill_cycles(stages: int | np.ndarray) -> np.ndarray:
    """Extra latency of a PE whose datapath has ``stages`` register stages between its operand
    register and its accumulator: each delays the result by one cycle, throughput unchanged.

    A pipelined PE's first output takes ``*_pe_cycles + fill``; back to back, the next output's
    operands are accepted while the previous ones drain, so later outputs follow every
    ``*_pe_cycles``.
    """
    return _i64(stages)


def array_tile_cycles(pe_cycles: int | np.ndarray, fill: int | np.ndarray = 0) -> np.ndarray:
    """Cycles of a lone array tile whose PEs each take ``pe_cycles``:
    pe_cycles + ARRAY_IO_LATENCY + fill (`pipeline_fill_cycles` of the PE).

    All PEs of a broadcast array start together, so the tile costs its slowest PE (they all
    have the same reduction extent) plus the operand register stage. Idle PEs of an edge tile
    (fewer output channels or tokens than rows or columns) do not shorten it.
    """
    return _i64(pe_cycles) + ARRAY_IO_LATENCY + _i64(fill)


def array_tiles_cycles(
    tiles: int | np.ndarray, pe_cycles: int | np.ndarray, fill: int | np.ndarray = 0
) -> np.ndarray:
    """Cycles of ``tiles`` array tiles of one block: the one tile rule.

    Each tile is issued as the previous one's result is loaded (the accelerator core's
    sequencer, `hwsim.hw.rtl.accel_core`), so every tile pays the operand register and the
    PE's pipeline fill: tiles x `array_tile_cycles` (0 tiles: 0). (The array RTL can also take
    the next tile while the previous one drains, n x pe + latency + fill; a sequencer that
    streams tiles so would change this rule, and only here.)
    """
    return _i64(tiles) * array_tile_cycles(pe_cycles, fill)


def systolic_folds(
    m: int | np.ndarray,
    n: int | np.ndarray,
    k: int | np.ndarray,
    rows: int | np.ndarray,
    cols: int | np.ndarray,
    dataflow: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Folds (row_folds, col_folds) of a GEMM out[m, n] = a[m, k] b[k, n] on a systolic array.

    SCALE-Sim's mapping (``Sr``/``Sc``/``T`` of its compute modules): ``ws`` pins k x n
    (weights) on rows x cols and streams m; ``os`` pins m x n (outputs) and streams k; ``is``
    pins k x m (inputs) and streams n.
    """
    spatial_rows, spatial_cols, _ = _systolic_dims(m, n, k, dataflow)
    return _ceil_div(spatial_rows, rows), _ceil_div(spatial_cols, cols)


def systolic_fold_cycles(
    m: int | np.ndarray,
    n: int | np.ndarray,
    k: int | np.ndarray,
    rows: int | np.ndarray,
    cols: int | np.ndarray,
    dataflow: str,
) -> np.ndarray:
    """Cycles of one fold on a rows x cols systolic array, as SCALE-Sim 3.0 counts them.

    A fold streams ``t`` operand vectors through the array (t = m for ``ws``, k for ``os``,
    n for ``is``), skewed by ``rows - 1`` cycles on the way in and drained over ``cols - 1``
    cycles on the way out: rows + cols + t - 2. ``ws`` and ``is`` first load the stationary
    operand into the array, ``rows`` more cycles per fold: 2 x rows + cols + t - 2.
    """
    _, _, t = _systolic_dims(m, n, k, dataflow)
    base = _i64(rows) + _i64(cols) + t - 2
    return base + (0 if dataflow == "os" else _i64(rows))


# SCALE-Sim reports the index of the last busy cycle (counted from 0), one less than the
# sum of the fold cycles; kept separate so the fold model itself stays a plain count.
SCALESIM_TOTAL_OFFSET = -1


def systolic_gemm_cycles(
    m: int | np.ndarray,
    n: int | np.ndarray,
    k: int | np.ndarray,
    rows: int | np.ndarray,
    cols: int | np.ndarray,
    dataflow: str,
) -> np.ndarray:
    """Compute cycles of a whole GEMM on a systolic array, SCALE-Sim 3.0's "Total Cycles".

    folds x `systolic_fold_cycles` + `SCALESIM_TOTAL_OFFSET`, with folds from
    `systolic_folds`; equal to SCALE-Sim's count when its memory never stalls the array
    (its ``CALC`` bandwidth mode).
    """
    row_folds, col_folds = systolic_folds(m, n, k, rows, cols, dataflow)
    folds = row_folds * col_folds
    return folds * systolic_fold_cycles(m, n, k, rows, cols, dataflow) + SCALESIM_TOTAL_OFFSET


def _systolic_dims(
    m: int | np.ndarray, n: int | np.ndarray, k: int | np.ndarray, dataflow: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(extent on rows, extent on columns, streamed extent) for a dataflow."""
    m, n, k = _i64(m), _i64(n), _i64(k)
    if dataflow == "ws":
        return k, n, m
    if dataflow == "os":
        return m, n, k
    if dataflow == "is":
        return k, m, n
    raise HwsimError(f"unknown systolic dataflow {dataflow!r}; allowed: ws, os, is")
