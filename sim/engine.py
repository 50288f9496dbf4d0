"""Cost of one GEMM operator: the tile pipeline, traffic and energy, vectorized over blocks.

Pipeline model (cycle-exact for what it states). The blocks of one GEMM instance
(`hwsim.mapping.block_schedule`) run through three lockstep stages, double-buffered:
DRAM -> buffers (load of block t+1), compute of block t on the array, write-back of block t-1's
outputs to DRAM. Loads and write-backs share the DRAM port, so in slot s

    slot_s = max(compute_{s-1}, dram(load_s) + dram(writeback_{s-2})) + slot_cycles

with ``dram(bytes) = ceil(bytes / dram_bytes_per_cycle) + dram.latency_cycles +
transfer_cycles`` for a non-empty transfer (``transfer_cycles``: what the control adds to each,
1 on the RTL core, whose DMA ends each transfer at a register; ``slot_cycles``: what it adds
to each slot, 1 on the RTL core, whose slot end is loaded from its parts' done registers).
Slot 0 is the fill (first load), the last two slots drain (last compute, last write-back);
every slot holds a transfer or a compute, so each is charged ``slot_cycles``. Total =
``hw.command_cycles`` (the control's cost to accept a command and start its first slot: the
RTL core checks the descriptor and decodes its first block) + sum of slots; stall = total -
sum of compute. The
``count`` identical instances of an op (layers, heads) run back to back through the same
pipeline: their block sequences are concatenated, so only the first load, the last write-back
and one command's setup are exposed (`repeated_pipeline_cycles` sums the slots in closed form).
That is a command queue the RTL core (`hwsim.hw.rtl.accel_core`) does not have: it runs one
GEMM per descriptor, so on a core's description (a ``core`` section) each instance also pays
``command_cycles`` and its own fill and drain: ``count`` times one instance's cycles.

Vectorized over shapes: the distinct step shapes of one op (a decode stage's KV lengths) are
mapped (the fastest of each shape's `hwsim.mapping.gemm_candidates`: `fastest_mappings`) and
costed (`simulate_gemms`) in one pass over their representative blocks; each shape gets
exactly the figures it gets alone.

Compute of a block (`hwsim.sim.pe_cycles`): non-systolic arrays process
ceil(bn / rows) x ceil(bm / cols) array tiles back to back, each `array_tile_cycles` of the PE
kind's cycles over bk, and no faster than the weight and activation buffers deliver the bits
the tiles read (banks x port_bits per cycle each; on the RTL core's description the weight
port carries the code slots only, the group scales having a port of their own, so a tile of
the core is never feed-limited); systolic arrays take SCALE-Sim's folds
(`systolic_fold_cycles` per fold, with SCALE-Sim's -1 applied once per instance).

Energy (pJ): PE = active PE-cycles x pe.energy_pj_per_cycle x energy_overhead (active = the
PEs holding an output, for the cycles they compute, not those they wait for a row-shared
dequantizer; systolic: one per MAC; an RTL-derived energy is the op's weight operand format's
where the block has one per format: `priced_for`); dequantization
= group dequantizations x dequant cycles x pe.dequant_pj_per_cycle x energy_overhead; SRAM
= bits read and written per buffer x its energy per bit; DRAM = bits moved x
dram.energy_pj_per_bit. Leakage is added per run from the latency (`hwsim.sim.run`).

On the RTL core's description (a ``core`` section) a block's DRAM bytes are the whole lines the
core moves (`hwsim.hw.core_rules.CoreRules.block_bytes`: the zero padding of ragged edges
included), not the tensors' bytes: the cycles are then the core's for ragged shapes too.

Accesses (`hwsim.workloads.traffic.word_accesses`): whole words per transfer of the schedule
above, at DRAM its beat (``dram.bytes_per_cycle`` bytes: a block's load, A, B and split-K
outputs in one burst, and its write-back, each rounded up exactly as their DRAM cycles), at a
buffer its port (``port_bits``: per block the DRAM load written into it, the tile passes'
reads, and in the output buffer the partial sums written and read, the write-back read out
and split-K outputs written in). Per operand part (an operand's code, or its scales, stored
apart) each part of a transfer is whole words of its own, as Timeloop counts each tensor, so
the parts of a transfer can take one word more each than the transfer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from hwsim.errors import HwsimError
from hwsim.hw.core_rules import core_stored_op, fused_problem
from hwsim.hw.spec import BufferSpec, HardwareSpec
from hwsim.limits import MAX_BLOCKS, check_count, check_counter
from hwsim.mapping import Mapping, Mappings
from hwsim.mapping.attention import fused_attention_schedule
from hwsim.mapping.tiling import (
    CHOSEN_BY_CYCLES,
    BlockSchedule,
    Candidates,
    gemm_candidates,
    mappings_of,
    representative_blocks,
)
from hwsim.sim.kind_models import cycle_model
from hwsim.sim.precision import OperandWidths, operand_widths
from hwsim.workloads.ops import Op
from hwsim.workloads.traffic import operand_data_shares, whole_words, word_accesses

__all__ = [
    "ACCESS_LEVELS",
    "ACCESS_PARTS",
    "CYCLES_FIX",
    "ENERGY_COMPONENTS",
    "GemmCost",
    "GemmCosts",
    "op_shapes_key",
    "pipeline_cycles",
    "priced_for",
    "repeated_pipeline_cycles",
    "simulate_gemm",
    "simulate_gemms",
    "simulate_op",
    "simulate_op_shapes",
    "simulate_op_shapes_shared",
    "stored_op",
]

ENERGY_COMPONENTS = ("pe", "dequant", "sram_weight", "sram_activation", "sram_output", "dram")
# Where accesses are counted (`GemmCosts.accesses`), and the operand parts they split into.
ACCESS_LEVELS = ("dram", "weight", "activation", "output")
ACCESS_PARTS = ("a", "b", "out", "scales")


@dataclass(frozen=True)
class GemmCost:
    """Cost of ``count`` identical GEMM instances run back to back.

    Attributes:
        mapping: the chosen mapping (of one instance).
        count: instances.
        cycles: total cycles (pipeline fill and drain included).
        compute_cycles: cycles the array computes (sum over blocks).
        stall_cycles: cycles - compute_cycles (waiting for DRAM, fill, drain).
        dram_cycles: cycles the DRAM port is busy (the memory-bound limit).
        active_pe_cycles: PE-cycles doing useful work.
        macs: multiply-accumulates.
        dram_read_bytes, dram_write_bytes: DRAM traffic.
        sram_read_bytes, sram_write_bytes: on-chip buffer traffic (all three buffers).
        energy_pj: energy per component (`ENERGY_COMPONENTS`), leakage excluded.
    """

    mapping: Mapping
    count: int
    cycles: int
    compute_cycles: int
    stall_cycles: int
    dram_cycles: int
    active_pe_cycles: float
    macs: int
    dram_read_bytes: float
    dram_write_bytes: float
    sram_read_bytes: float
    sram_write_bytes: float
    energy_pj: dict[str, float]

    @property
    def utilization(self) -> float:
        """Active PE-cycles / (cycles x PEs of the array used): the mapping's efficiency.
        `simulate_workload`'s layers divide by the silicon's PEs instead
        (`HardwareSpec.pe_count`), which a smaller decode shape leaves partly idle."""
        pes = self.mapping.rows * self.mapping.cols
        return self.active_pe_cycles / (self.cycles * pes) if self.cycles else 0.0


# What to change when cycles pass the counters: they come from the workload's size or from
# the hardware's own cycle counts (a latency of 10**18 cycles).
CYCLES_FIX = ("make the workload smaller, or the hardware's cycle counts "
              "(dram.latency_cycles, command_cycles, transfer_cycles, slot_cycles)")


def _check_operator_cycles(compute: np.ndarray, load: np.ndarray, wb: np.ndarray,
                           weight: np.ndarray, count: int, hw: HardwareSpec) -> None:
    """Refuse an operator whose cycles would pass the 64-bit counters: its slots (each block's
    compute, load and write-back and its slot's ``slot_cycles``, ``weight`` blocks alike),
    the fill and drain slots' ``slot_cycles`` and the command's ``command_cycles`` (paid once
    per run, or per instance on the RTL core: counted per instance here), ``count``
    instances."""
    slots = float(((compute + load + wb + hw.slot_cycles) * weight.astype(np.float64)).sum())
    check_counter(count * (slots + 2.0 * hw.slot_cycles + hw.command_cycles),
                  "cycles of one operator", CYCLES_FIX)


def _dram_beats(bits: np.ndarray, hw: HardwareSpec) -> np.ndarray:
    """DRAM beats (``dram.bytes_per_cycle`` bytes each) of transfers of ``bits`` each."""
    return word_accesses(bits, 8 * hw.dram_bytes_per_cycle)


def _dram_cycles(nbytes: np.ndarray, hw: HardwareSpec,
                 weight: np.ndarray | None = None) -> np.ndarray:
    """Cycles of DRAM transfers of ``nbytes`` each (``weight``: how many transfers each
    stands for, for the check that their sum stays an int64; 0: no check, for floors)."""
    if weight is None or weight.size:
        blocks = nbytes.size if weight is None else float(weight.sum())
        if blocks:
            # The fixed cycles of each transfer too: a latency near 2**63 wrapped the sum.
            fixed = hw.dram.latency_cycles + hw.transfer_cycles
            check_counter((float(np.ceil(nbytes.max(initial=0.0) / hw.dram_bytes_per_cycle))
                           + fixed) * blocks, "DRAM cycles of one GEMM",
                          CYCLES_FIX if fixed else "make the workload smaller")
    return np.where(nbytes > 0, _dram_beats(nbytes * 8, hw) + hw.dram.latency_cycles
                    + hw.transfer_cycles, 0)


def _check_blocks(compute: np.ndarray, load: np.ndarray, writeback: np.ndarray) -> None:
    """Per-block cycles of the public pipeline functions: one each, for >= 1 block."""
    arrays = {"compute": compute, "load": load, "writeback": writeback}
    for label, a in arrays.items():
        if not (isinstance(a, np.ndarray) and a.ndim == 1 and np.issubdtype(a.dtype, np.integer)):
            raise HwsimError(f"{label}: expected a 1-D integer array of per-block cycles")
        if (a < 0).any():
            raise HwsimError(f"{label}: cycles must be >= 0, got {int(a.min())}")
    if len({a.size for a in arrays.values()}) != 1 or not compute.size:
        raise HwsimError("compute, load and writeback: one value per block each, for at "
                         "least one block (got lengths "
                         f"{', '.join(str(a.size) for a in arrays.values())})")


def pipeline_cycles(compute: np.ndarray, load: np.ndarray,
                    writeback: np.ndarray, slot_cycles: int = 0) -> np.ndarray:
    """Slot durations of the three-stage lockstep pipeline (see the module docstring).

    Args:
        compute, load, writeback: per-block cycles, in execution order (int arrays of length B).
        slot_cycles: the control's cycles per slot (`HardwareSpec.slot_cycles`).

    Returns:
        The B + 2 slot durations; their sum is the instance's cycles.
    """
    _check_blocks(compute, load, writeback)
    nblocks = compute.shape[0]
    comp = np.zeros(nblocks + 2, dtype=np.int64)
    dram = np.zeros(nblocks + 2, dtype=np.int64)
    comp[1:nblocks + 1] = compute
    dram[:nblocks] += load
    dram[2:] += writeback
    return np.maximum(comp, dram) + slot_cycles


def repeated_pipeline_cycles(compute: np.ndarray, load: np.ndarray, writeback: np.ndarray,
                             count: int, slot_cycles: int = 0) -> int:
    """Total cycles of ``count`` copies of a block sequence run back to back.

    Equal to ``pipeline_cycles(np.tile(compute, count), ...).sum()`` without building the
    tiles: every copy's slot i is max(C_i, L_{i+1} + W_{i-1}) with the neighbours taken
    from the adjacent copies (the first copy has no W before it, the last no L after it),
    plus the first load and the last write-back (each slot plus ``slot_cycles``).
    """
    _check_blocks(compute, load, writeback)
    if not _is_int(count) or count < 1:
        raise HwsimError(f"count: expected an integer >= 1, got {count!r}")
    offsets = np.array([0, compute.shape[0]], dtype=np.int64)
    parts = _segment_pipeline_parts(compute, load, writeback, offsets, slot_cycles=slot_cycles)
    return int(_copies_cycles(parts, offsets, count)[0])


def _segment_pipeline_parts(compute: np.ndarray, load: np.ndarray, writeback: np.ndarray,
                            offsets: np.ndarray, weight: np.ndarray | None = None,
                            slot_cycles: int = 0
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cycles of ``count`` copies of several block sequences, as (fixed, per copy, single).

    Sequence i is ``offsets[i]:offsets[i + 1]`` of the concatenated per-block arrays. Its
    ``count`` copies take ``fixed[i] + count * per_copy[i]`` cycles, except a one-block
    sequence run once, which takes ``single[i]`` (load, compute, write-back in turn).
    ``weight``: how many blocks each one stands for (`hwsim.mapping.representative_blocks`;
    the first and last of a sequence stand for themselves). Every slot adds ``slot_cycles``.
    """
    starts, ends = offsets[:-1], offsets[1:] - 1
    idx = np.arange(compute.shape[0])
    # Neighbours wrap around within a sequence: L_{i+1} of the last block is the next copy's
    # first load, W_{i-1} of the first block the previous copy's last write-back.
    nxt_idx = idx + 1
    nxt_idx[ends] = starts
    prev_idx = idx - 1
    prev_idx[starts] = ends
    nxt, prev = load[nxt_idx], writeback[prev_idx]
    middle = np.maximum(compute, nxt + prev) + slot_cycles
    per_copy = np.add.reduceat(middle if weight is None else middle * weight, starts)
    # The very first block has no write-back before it, the very last no load after it; the
    # fill and the drain are a slot each.
    fixed = (load[starts] + writeback[ends] + 2 * slot_cycles
             + np.maximum(compute[starts], nxt[starts]) + slot_cycles - middle[starts]
             + np.maximum(compute[ends], prev[ends]) + slot_cycles - middle[ends])
    single = load[starts] + compute[starts] + writeback[starts] + 3 * slot_cycles
    return fixed, per_copy, single


def _copies_cycles(parts: tuple[np.ndarray, np.ndarray, np.ndarray], offsets: np.ndarray,
                   count: int, nblocks: np.ndarray | None = None) -> np.ndarray:
    """Cycles of ``count`` copies of each sequence from its `_segment_pipeline_parts`
    (``nblocks``: the blocks each stands for, if not its own)."""
    fixed, per_copy, single = parts
    if nblocks is None:
        nblocks = offsets[1:] - offsets[:-1]
    return np.where(nblocks * count == 1, single, fixed + count * per_copy)


def _sram_bits(s: BlockSchedule, mp: Mapping | Mappings, hw: HardwareSpec, a_bits: float,
               b_bits: float) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]],
                                       tuple[np.ndarray, np.ndarray]]:
    """(read bits, write bits) per buffer, per block; and the output buffer's part of them
    that is partial sums (at ``acc_bits``; the rest is outputs at their stored width)."""
    acc = hw.acc_bits
    out_tiles = s.bm * s.bn
    a_reads, b_reads, psum_writes = cycle_model(hw.pe.kind).operand_reads(s, mp, hw.pe)
    psum_reads = psum_writes - out_tiles * s.first_k
    psum = ((psum_reads * acc).astype(np.float64), (psum_writes * acc).astype(np.float64))
    out_read = psum[0] + s.writeback_bytes * 8
    out_write = psum[1] + s.load_out_bytes * 8
    return {
        "weight": (b_reads * b_bits, s.load_b_bytes * 8),
        "activation": (a_reads * a_bits, s.load_a_bytes * 8),
        "output": (out_read, out_write),
    }, psum


def _core_lines(s: BlockSchedule, hw: HardwareSpec) -> BlockSchedule:
    """``s`` with the DRAM bytes the RTL core moves: whole lines, the zero padding of ragged
    edges (m, n not multiples of cols, rows; k not of lanes or the group) included
    (`hwsim.hw.core_rules.CoreRules.block_bytes`), for the operands the schedule moves."""
    rules = hw.core_rules()
    assert rules is not None
    a, b, out = rules.block_bytes(s.bm, s.bn, s.bk)
    return dataclasses.replace(
        s, load_a_bytes=np.where(s.load_a_bytes > 0, a, 0.0),
        load_b_bytes=np.where(s.load_b_bytes > 0, b, 0.0),
        writeback_bytes=np.where(s.writeback_bytes > 0, out, 0.0))


def _feed_cycles(bits: np.ndarray, buf: BufferSpec) -> np.ndarray:
    """Cycles a buffer needs to deliver ``bits`` through all its banks' ports."""
    return word_accesses(bits, buf.banks * buf.port_bits)


# A transfer: the (bits per block, operand, code share of its stored width) it moves together.
_Transfer = list[tuple[np.ndarray, str, float]]


def _shape_accesses(s: BlockSchedule, sram: dict[str, tuple[np.ndarray, np.ndarray]],
                    psum: tuple[np.ndarray, np.ndarray], hw: HardwareSpec,
                    shares: tuple[float, float, float], starts: np.ndarray, count: int,
                    weight: np.ndarray, b_in_share: np.ndarray | float
                    ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]],
                               dict[str, dict[str, np.ndarray]]]:
    """Per shape (sequences from ``starts``, ``count`` instances), each level's (read, write)
    accesses, and its accesses (read + write) per operand part (`ACCESS_PARTS`), transfer by
    transfer (see the module docstring)."""
    sa, sb, so = shares
    a_in, b_in = (s.load_a_bytes * 8, "a", sa), (s.load_b_bytes * 8, "b", b_in_share)
    out_in, out_back = (s.load_out_bytes * 8, "out", so), (s.writeback_bytes * 8, "out", so)
    split_k = bool(s.load_out_bytes.any())
    buf = hw.buffers
    levels: dict[str, tuple[float, list[_Transfer], list[_Transfer]]] = {
        "dram": (8 * hw.dram_bytes_per_cycle, [[a_in, b_in, out_in] if split_k else [a_in, b_in]],
                 [[out_back]]),
        "weight": (buf.weight.port_bits, [[(sram["weight"][0], "b", sb)]], [[b_in]]),
        "activation": (buf.activation.port_bits, [[(sram["activation"][0], "a", sa)]],
                       [[a_in]]),
        # Partial sums are all the output's code (no scales).
        "output": (buf.output.port_bits, [[(psum[0], "out", 1.0)], [out_back]],
                   [[(psum[1], "out", 1.0)]] + ([[out_in]] if split_k else [])),
    }
    # One row of bits per (transfer or part of one) and level, each row adding its words to
    # the figures it names: ("read" | "write", level) or (part, level).
    rows: list[list[tuple[np.ndarray, float]]] = []  # a row: the sum of bits x factor
    words: list[float] = []
    targets: list[list[tuple[str, str]]] = []
    for level, (word, reads, writes) in levels.items():
        for direction, transfers in (("read", reads), ("write", writes)):
            for transfer in transfers:
                whole = [(direction, level)]
                if len(transfer) > 1 or np.any(transfer[0][2] < 1.0):
                    rows.append([(bits, 1.0) for bits, _, _ in transfer])
                    words.append(word)
                    targets.append(whole)
                    whole = []
                for bits, operand, share in transfer:
                    rows.append([(bits, share)])
                    words.append(word)
                    targets.append([*whole, (operand, level)])
                    if np.any(share < 1.0):
                        rows.append([(bits, 1.0 - share)])
                        words.append(word)
                        targets.append([("scales", level)])
    # Filled in place: these arrays are as long as all the op's blocks.
    counted = np.empty((len(rows), s.bm.shape[0]))
    for row, terms in zip(counted, rows, strict=True):
        (first, factor), *rest = terms
        np.multiply(first, factor, out=row)
        for bits, factor in rest:
            row += bits * factor
    whole_words(counted, np.array(words)[:, None], out=counted)
    counted *= weight
    per_shape = count * np.rint(np.add.reduceat(counted, starts, axis=1)).astype(np.int64)
    zero = np.zeros(starts.shape[0], dtype=np.int64)
    sums = {(name, level): zero for level in ACCESS_LEVELS
            for name in ("read", "write", *ACCESS_PARTS)}
    for row, names in zip(per_shape, targets, strict=True):
        for key in names:
            sums[key] = sums[key] + row
    return ({level: (sums["read", level], sums["write", level]) for level in ACCESS_LEVELS},
            {level: {p: sums[p, level] for p in ACCESS_PARTS} for level in ACCESS_LEVELS})


@dataclass(frozen=True)
class GemmCosts:
    """`GemmCost` of S shapes of one operator, as arrays (one entry per shape).

    Beyond `GemmCost`: ``dram_a_bytes`` / ``dram_b_bytes`` / ``dram_out_read_bytes`` (outputs
    read back: split-K partial results) split the DRAM reads by operand (they sum to
    ``dram_read_bytes``); ``sram_bytes`` gives each buffer's (read, write)
    bytes (they sum to ``sram_read_bytes`` / ``sram_write_bytes``), ``sram_psum_bytes`` the
    part of the output buffer's (read, write) bytes that is partial sums (at ``acc_bits``).
    ``accesses``: per level (`ACCESS_LEVELS`) its (read, write) accesses, whole words per
    transfer (the DRAM ones are the beats the DRAM cycles charge); ``part_accesses``: per
    level, the accesses (read + write) of each operand part (`ACCESS_PARTS`), each part of a
    transfer in whole words of its own.
    ``fixed_cycles`` and ``instance_cycles``: ``c`` instances of a shape take
    ``fixed_cycles + c * instance_cycles`` cycles whenever they are more than one block in all
    (pipeline fill and drain are paid once; on a core's description ``fixed_cycles`` is 0: each
    instance is a command of its own); every other figure is ``c`` times one instance's.
    ``dram_b_scales_bytes``: on the RTL core's description, the part of ``dram_b_bytes``
    that is scale lines (the core's own DRAM region); None elsewhere, where the stored
    widths' share is exact.
    """

    mappings: Mappings
    count: int
    cycles: np.ndarray
    compute_cycles: np.ndarray
    stall_cycles: np.ndarray
    dram_cycles: np.ndarray
    active_pe_cycles: np.ndarray
    macs: np.ndarray
    dram_read_bytes: np.ndarray
    dram_write_bytes: np.ndarray
    sram_read_bytes: np.ndarray
    sram_write_bytes: np.ndarray
    energy_pj: dict[str, np.ndarray]
    dram_a_bytes: np.ndarray
    dram_b_bytes: np.ndarray
    dram_out_read_bytes: np.ndarray
    sram_bytes: dict[str, tuple[np.ndarray, np.ndarray]]
    sram_psum_bytes: tuple[np.ndarray, np.ndarray]
    accesses: dict[str, tuple[np.ndarray, np.ndarray]]
    part_accesses: dict[str, dict[str, np.ndarray]]
    fixed_cycles: np.ndarray
    instance_cycles: np.ndarray
    dram_b_scales_bytes: np.ndarray | None = None

    def cost(self, i: int) -> GemmCost:
        """Shape ``i`` as a `GemmCost`."""
        return GemmCost(
            mapping=self.mappings.mapping(i), count=self.count, cycles=int(self.cycles[i]),
            compute_cycles=int(self.compute_cycles[i]),
            stall_cycles=int(self.stall_cycles[i]), dram_cycles=int(self.dram_cycles[i]),
            active_pe_cycles=float(self.active_pe_cycles[i]), macs=int(self.macs[i]),
            dram_read_bytes=float(self.dram_read_bytes[i]),
            dram_write_bytes=float(self.dram_write_bytes[i]),
            sram_read_bytes=float(self.sram_read_bytes[i]),
            sram_write_bytes=float(self.sram_write_bytes[i]),
            energy_pj={c: float(v[i]) for c, v in self.energy_pj.items()})


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _check_gemm_args(name: str, m: np.ndarray, n: np.ndarray, k: np.ndarray, a_bits: float,
                     b_bits: float, out_bits: float, stage: str, group_size: int | None,
                     count: int, shares: tuple[float, float, float]) -> None:
    """The public entry points' arguments (the workload's ops are checked when built): a
    negative count or a misspelt stage gave a negative or another array's cycle count."""
    for label, dims in (("m", m), ("n", n), ("k", k)):
        if not (isinstance(dims, np.ndarray) and dims.ndim == 1
                and np.issubdtype(dims.dtype, np.integer)):
            raise HwsimError(f"{name}: {label}: expected a 1-D integer array (one size per "
                             "shape)")
        if dims.shape != m.shape or not dims.size:
            raise HwsimError(f"{name}: m, n and k: one size per shape each (got lengths "
                             f"{m.size}, {n.size}, {k.size})")
        if (dims < 1).any():
            raise HwsimError(f"{name}: {label}: sizes must be >= 1, got {int(dims.min())}")
    if stage not in ("prefill", "decode"):
        raise HwsimError(f"{name}: stage: {stage!r}; allowed: prefill, decode")
    if not _is_int(count) or count < 1:
        raise HwsimError(f"{name}: count: expected an integer >= 1, got {count!r}")
    if group_size is not None and (not _is_int(group_size) or group_size < 1):
        raise HwsimError(f"{name}: group_size: expected None or an integer >= 1, got "
                         f"{group_size!r}")
    for label, bits in (("a_bits", a_bits), ("b_bits", b_bits), ("out_bits", out_bits)):
        if (not isinstance(bits, int | float | np.integer | np.floating)
                or isinstance(bits, bool) or not 0 < bits < float("inf")):
            raise HwsimError(f"{name}: {label}: expected a finite number > 0, got {bits!r}")
    if (len(shares) != 3 or any(isinstance(v, bool | np.bool_)
                                or not isinstance(v, int | float | np.integer | np.floating)
                                or not 0 <= v <= 1 for v in shares)):
        raise HwsimError(f"{name}: shares: expected three numbers in [0, 1] (a, b, output), "
                         f"got {shares!r}")


def simulate_gemms(m: np.ndarray, n: np.ndarray, k: np.ndarray, hw: HardwareSpec,
                   widths: OperandWidths, a_bits: float, b_bits: float, out_bits: float,
                   stage: str = "prefill", group_size: int | None = None, name: str = "gemm",
                   count: int = 1, shares: tuple[float, float, float] = (1.0, 1.0, 1.0),
                   mappings: Mappings | None = None) -> GemmCosts:
    """`simulate_gemm` for many shapes of one operator at once (int64 arrays).

    The blocks of all shapes are costed in one pass over their concatenated schedules; each
    shape's figures equal those `simulate_gemm` gives it alone. ``mappings``: cost these
    (one per shape) instead of the fastest.

    Raises:
        HwsimError: an argument out of its range (sizes, count and group >= 1, a known
            stage, finite positive widths, shares in [0, 1]), or a GEMM the hardware cannot
            map.
    """
    _check_gemm_args(name, m, n, k, a_bits, b_bits, out_bits, stage, group_size, count, shares)
    # Exact or refused: the counters below are int64, so their sizes are checked first (in
    # float64, which does not wrap).
    check_counter(count * float((m.astype(np.float64) * n * k).max()),
                  f"{name}: MACs (count x m x n x k)")
    if mappings is None:
        cands = gemm_candidates(m, n, k, a_bits, b_bits, out_bits, hw, stage, group_size, name)
        mps = fastest_mappings(cands, hw, widths, a_bits, b_bits, out_bits, group_size, count,
                               name)
    else:
        mps = mappings
    return _cost_mappings(mps, hw, widths, a_bits, b_bits, out_bits, group_size, count, shares)


def _cost_mappings(mps: Mappings, hw: HardwareSpec, widths: OperandWidths, a_bits: float,
                   b_bits: float, out_bits: float, group_size: int | None, count: int,
                   shares: tuple[float, float, float]) -> GemmCosts:
    """`_cost_blocks` of the mappings' representative blocks (at most 64 per mapping)."""
    s, offsets, weight = representative_blocks(mps, a_bits, b_bits, out_bits)
    nblocks = ((-(-mps.m // mps.block_m)) * (-(-mps.n // mps.block_n))
               * (-(-mps.k // mps.block_k)))
    return _cost_blocks(mps, s, offsets, hw, widths, a_bits, b_bits, group_size, count, shares,
                        weight, nblocks)


def _compute_cycles(s: BlockSchedule, mps: Mapping | Mappings, hw: HardwareSpec,
                    widths: OperandWidths, a_bits: float, b_bits: float,
                    group_size: int | None, cycles_only: bool = False
                    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Per block: compute cycles (feed limits included), active PE-cycles, dequantization
    cycles (None, None with ``cycles_only``)."""
    model = cycle_model(hw.pe.kind)
    if cycles_only:
        compute, active, dequant = model.block_cycles(s, mps, hw.pe, widths, group_size), None, None
    else:
        compute, active, dequant = model.block_compute(s, mps, hw.pe, widths, group_size)
    if model.feed_limited:
        # The array cannot run faster than its buffers deliver the operands (all banks'
        # ports each cycle). Systolic arrays keep SCALE-Sim's stall-free compute model.
        a_reads, b_reads, _ = model.operand_reads(s, mps, hw.pe)
        # The RTL core's weight port delivers the code slots only: each row's group scale
        # comes from the scale buffer's own port (`hwsim.hw.core_rules`), one line per group
        # and tile. Charged to the weight port, the scale fields made tiles of one Booth term
        # a beat (int2) or of small scale_bits feed-limited, which the core's are not.
        b_feed = b_reads * (b_bits if hw.core is None else hw.core.code_bits)
        compute = np.maximum.reduce([
            compute, _feed_cycles(b_feed, hw.buffers.weight),
            _feed_cycles(a_reads * a_bits, hw.buffers.activation)])
    return compute, active, dequant


def _run_cycles(compute: np.ndarray, load: np.ndarray, wb: np.ndarray, offsets: np.ndarray,
                hw: HardwareSpec, count: int, weight: np.ndarray | None = None,
                nblocks: np.ndarray | None = None
                ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """The (fixed, per copy, single) parts and the cycles of ``count`` instances of each
    block sequence (``offsets``), the command's setup included; ``weight`` and ``nblocks``
    for representative blocks (`_segment_pipeline_parts`, `_copies_cycles`)."""
    fixed, per_copy, single = _segment_pipeline_parts(compute, load, wb, offsets, weight,
                                                      hw.slot_cycles)
    # The command's setup is paid once per run, before the first slot.
    parts = (fixed + hw.command_cycles, per_copy, single + hw.command_cycles)
    if hw.core is not None:
        # The RTL core runs one GEMM per descriptor, with no command queue: every instance
        # pays the command and its own fill and drain, ``count`` times one instance.
        one = _copies_cycles(parts, offsets, 1, nblocks)
        parts = (np.zeros_like(one), one, one)
    return parts, _copies_cycles(parts, offsets, count, nblocks)


def _exact_cycles(mps: Mappings, hw: HardwareSpec, widths: OperandWidths, a_bits: float,
                  b_bits: float, out_bits: float, group_size: int | None,
                  count: int) -> np.ndarray:
    """Cycles of ``count`` instances of each mapping of ``mps``: the figure `_cost_blocks`
    gives it block by block, from its representative blocks (at most 64 each,
    `hwsim.mapping.representative_blocks`): every slot of the pipeline depends on one block
    and its two neighbours."""
    s, offsets, weight = representative_blocks(mps, a_bits, b_bits, out_bits)
    if hw.core is not None:
        s = _core_lines(s, hw)
    compute = _compute_cycles(s, mps, hw, widths, a_bits, b_bits, group_size, True)[0]
    load = _dram_cycles(s.load_bytes, hw, weight)
    wb = _dram_cycles(s.writeback_bytes, hw, weight)
    _check_operator_cycles(compute, load, wb, weight, count, hw)
    nblocks = ((-(-mps.m // mps.block_m)) * (-(-mps.n // mps.block_n))
               * (-(-mps.k // mps.block_k)))
    return _run_cycles(compute, load, wb, offsets, hw, count, weight, nblocks)[1]


def cycles_floor(mps: Mappings, hw: HardwareSpec, widths: OperandWidths, a_bits: float,
                 b_bits: float, out_bits: float, group_size: int | None,
                 count: int) -> np.ndarray:
    """A lower bound of each mapping's cycles (``count`` instances), without its blocks.

    A GEMM's blocks are of at most 8 kinds (each dimension's full blocks and its edge
    block), so the sums over its blocks of the compute cycles (C), the load cycles and the
    write-back cycles (D: DRAM) are exact from 8 blocks and their counts (which operands a
    block loads follows `hwsim.mapping.block_schedules`). Every slot of the pipeline is at
    least its compute and the slots hold every transfer, so one instance takes at least
    ``max(first load + sum C + last write-back, sum D)`` (the module docstring's slot rule),
    plus the command and the control's cycles of its B + 2 slots (B blocks).
    """
    m, n, k = mps.m, mps.n, mps.k
    bm, bn, bk = mps.block_m, mps.block_n, mps.block_k
    nm, nn, nk = -(-m // bm), -(-n // bn), -(-k // bk)
    # Kind t of a block: bit 2 = m edge, bit 1 = n edge, bit 0 = k edge; shape (8, N).
    t = np.arange(8)[:, None]
    tm, tn, tk = (t >> 2) & 1, (t >> 1) & 1, t & 1
    xm = np.where(tm, m - bm * (nm - 1), bm)
    xn = np.where(tn, n - bn * (nn - 1), bn)
    xk = np.where(tk, k - bk * (nk - 1), bk)
    mult_m, mult_n, mult_k = (np.where(e, 1, nb - 1) for e, nb in ((tm, nm), (tn, nn), (tk, nk)))
    size = xm.size
    s = BlockSchedule(
        bm=xm.ravel(), bn=xn.ravel(), bk=xk.ravel(),
        load_a_bytes=(xm * xk * a_bits / 8).ravel(), load_b_bytes=(xk * xn * b_bits / 8).ravel(),
        writeback_bytes=(xm * xn * out_bits / 8).ravel(), load_out_bytes=np.zeros(size),
        first_k=np.ones(size, dtype=bool),
        last_block=np.broadcast_to(t == 7, xm.shape).ravel())
    if hw.core is not None:
        s = _core_lines(s, hw)
    compute = _compute_cycles(s, mps, hw, widths, a_bits, b_bits, group_size, True)[0]
    shape = xm.shape
    # In float64: a floor never wraps (floors of blockings far slower than the best so far
    # may pass 2**63; none of them is costed).
    compute = compute.reshape(shape).astype(np.float64)
    nocheck = np.zeros(0)
    lab = _dram_cycles(s.load_a_bytes + s.load_b_bytes, hw, nocheck).reshape(shape) * 1.0
    mult = mult_m * mult_n * mult_k
    # The last k block of each output block writes it back (kinds 1, 3, 5, 7: k edge).
    wb = _dram_cycles(s.writeback_bytes.reshape(shape)[1::2], hw, nocheck) * 1.0
    sum_c = (mult * compute).sum(axis=0)
    sum_d = (mult[1::2] * wb).sum(axis=0)
    # Which operands a block loads. k split: both, every block.
    split = nk > 1
    sum_d += np.where(split, (mult * lab).sum(axis=0), 0)
    # k whole (one k block, kinds 1, 3, 5, 7): both on the first block of each outer index,
    # the middle loop's operand on the others; when the middle loop has one block, both on
    # the very first block only, the outer loop's operand after.
    w = np.flatnonzero(~split)
    if w.size:
        tm4, tn4 = tm[1::2], tn[1::2]
        la, lb = (_dram_cycles(x.reshape(shape)[1::2, w], hw, nocheck) * 1.0
                  for x in (s.load_a_bytes, s.load_b_bytes))
        n_outer = mps.n_outer[w]
        t_mid, t_out = np.where(n_outer, tm4, tn4), np.where(n_outer, tn4, tm4)
        nb_mid, nb_out = np.where(n_outer, nm[w], nn[w]), np.where(n_outer, nn[w], nm[w])
        mult_out = np.where(n_outer, mult_n[1::2, w], mult_m[1::2, w])
        many = nb_mid > 1
        both = np.where(many, (t_mid == 0) * mult_out, (t_mid == 1) * (t_out == (nb_out == 1)))
        mid_only = np.where(many, np.where(t_mid == 0, mult_out * (nb_mid - 2), mult_out), 0)
        out_only = np.where(many, 0, (t_mid == 1)
                            * np.where(nb_out > 1, np.where(t_out == 0, nb_out - 2, 1), 0))
        a_only = np.where(n_outer, mid_only, out_only)
        b_only = np.where(n_outer, out_only, mid_only)
        sum_d[w] += (both * lab[1::2, w] + a_only * la + b_only * lb).sum(axis=0)
    first = ((nm == 1) << 2) | ((nn == 1) << 1) | (nk == 1)
    cols = np.arange(len(m))
    ends = lab[first, cols] + wb[3]
    slots = hw.slot_cycles * (nm * nn * nk).astype(np.float64)
    if hw.core is not None:
        floor = count * (hw.command_cycles + np.maximum(ends + sum_c, sum_d)
                         + slots + 2 * hw.slot_cycles)
    else:
        floor = (hw.command_cycles + np.maximum(ends + count * sum_c, count * sum_d)
                 + count * slots + 2 * hw.slot_cycles)
    return _below(floor)


def _below(x: np.ndarray) -> np.ndarray:
    """``x`` (float64 sums of whole cycles), made no larger than the exact integer sums where
    float64 rounds (above 2**53)."""
    return np.where(x < 2.0**53, x, x * (1 - 1e-12))


def dram_floor(mps: Mappings, hw: HardwareSpec, count: int) -> np.ndarray:
    """A lower bound of each mapping's cycles (``count`` instances) from its DRAM traffic
    alone: the mapper's bytes (the core's whole lines are no fewer) at the DRAM's rate, and
    the latency (and the control's ``transfer_cycles``) of one load per block (every block
    loads an operand whose index moved) and one write-back per output block, and the
    control's ``slot_cycles`` of the B + 2 slots."""
    nm, nn = -(-mps.m // mps.block_m), -(-mps.n // mps.block_n)
    nk = -(-mps.k // mps.block_k)
    nbytes = mps.dram_read_bytes + mps.dram_write_bytes
    if hw.core is not None:
        # The core moves its own widths, whatever the mapper was given: the tensors in them
        # (`core_stored_op`), which its whole lines only pad.
        a, b, out = hw.core.stored_bits()
        nbytes = (mps.a_fetches * mps.m * mps.k * a + mps.b_fetches * mps.k * mps.n * b
                  + mps.m * mps.n * out) / 8
    dram = (nbytes / hw.dram_bytes_per_cycle
            + (hw.dram.latency_cycles + hw.transfer_cycles) * (nm * nn * nk + nm * nn))
    # Whole cycles: a transfer's cycles are whole, so their sum is at least the ceiling.
    dram = np.ceil(dram - 1e-9)
    slots = hw.slot_cycles * (nm * nn * nk).astype(np.float64)
    if hw.core is not None:
        return _below(count * (hw.command_cycles + dram + slots + 2 * hw.slot_cycles))
    return _below(hw.command_cycles + count * (dram + slots) + 2 * hw.slot_cycles)


def fastest_mappings(cands: Candidates, hw: HardwareSpec, widths: OperandWidths,
                     a_bits: float, b_bits: float, out_bits: float,
                     group_size: int | None, count: int, name: str = "gemm") -> Mappings:
    """Per shape, the candidate (`hwsim.mapping.gemm_candidates`) that takes the fewest
    cycles for ``count`` instances; among equally fast ones the mapper's first (least DRAM
    traffic, ...). Deterministic.

    Branch and bound: the mapper's first is costed, then the candidates whose floor
    (`dram_floor`, then `cycles_floor`) is below the fastest so far (or equal with an
    earlier place in the mapper's order), in rounds, the lowest floors first; a candidate
    of more than ``MAX_BLOCKS`` blocks is not considered. The result is what costing every
    candidate would give (`tests/sim/test_mapping_choice.py`).

    Raises:
        HwsimError: the mapper's first of some shape has too many blocks to simulate.
    """
    mps, offsets = cands.mappings, cands.offsets
    shape, rank = cands.shape, cands.rank
    best = offsets[:-1].copy()
    blocks = ((-(-mps.m // mps.block_m)) * (-(-mps.n // mps.block_n))
              * (-(-mps.k // mps.block_k)))
    check_count(int(blocks[best].sum()), MAX_BLOCKS,
                f"{name} on {hw.source}: blocks of all its step shapes",
                "make the GEMM smaller or the buffers larger")
    best_cyc = _exact_cycles(mps.take(best), hw, widths, a_bits, b_bits, out_bits,
                             group_size, count)
    if len(rank) == len(best):
        return mps.take(best, CHOSEN_BY_CYCLES)

    def beats(floor: np.ndarray) -> np.ndarray:
        # Could be faster than the best so far, or as fast and earlier in the mapper's order.
        bc, br = best_cyc[shape], (best - offsets[:-1])[shape]
        return (floor < bc) | ((floor == bc) & (rank < br))

    def least(open_: np.ndarray, key: np.ndarray, batch: int) -> np.ndarray:
        # Per shape, the ``batch`` open candidates of least key (then the mapper's order).
        idx = np.flatnonzero(open_)
        idx = idx[np.lexsort((rank[idx], key[idx], shape[idx]))]
        first_of_shape = np.searchsorted(shape[idx], shape[idx])
        return idx[np.arange(len(idx)) - first_of_shape < batch]

    def cost(idx: np.ndarray) -> None:
        # The fastest per shape among the best so far and these, then the mapper's order.
        nonlocal best, best_cyc
        cyc = _exact_cycles(mps.take(idx), hw, widths, a_bits, b_bits, out_bits, group_size,
                            count)
        pool = np.concatenate([best, idx])
        pool_cyc = np.concatenate([best_cyc, cyc])
        sel = np.lexsort((rank[pool], pool_cyc, shape[pool]))
        pool, pool_cyc = pool[sel], pool_cyc[sel]
        head = np.unique(shape[pool], return_index=True)[1]
        best, best_cyc = pool[head], pool_cyc[head]

    # A first cut on the DRAM alone (cheap); the least DRAM floor of each shape costed (on a
    # memory-bound GEMM often the fastest, which tightens the cut); then the floor of what is
    # left, costed in rounds, least floor first.
    open_ = blocks <= MAX_BLOCKS
    open_[best] = False
    dram = dram_floor(mps, hw, count)
    open_ &= beats(dram)
    idx = least(open_, dram, 1)
    open_[idx] = False
    cost(idx)
    open_ &= beats(dram)
    floor = np.full(len(rank), np.inf)
    left = np.flatnonzero(open_)
    floor[left] = cycles_floor(mps.take(left), hw, widths, a_bits, b_bits, out_bits, group_size,
                               count)
    batch = 1
    while True:
        open_ &= beats(floor)
        if not open_.any():
            return mps.take(best, CHOSEN_BY_CYCLES)
        idx = least(open_, floor, batch)
        open_[idx] = False
        cost(idx)
        batch *= 2


def _cost_blocks(mps: Mappings, s: BlockSchedule, offsets: np.ndarray, hw: HardwareSpec,
                 widths: OperandWidths, a_bits: float, b_bits: float,
                 group_size: int | None, count: int,
                 shares: tuple[float, float, float], weight: np.ndarray | None = None,
                 nblocks: np.ndarray | None = None) -> GemmCosts:
    """Cycles, traffic and energy of block sequences (sequence i: ``offsets[i]:[i + 1]``).

    ``weight``, ``nblocks``: the blocks are representative ones (`hwsim.mapping.
    representative_blocks`), each standing for ``weight`` blocks, sequence i for
    ``nblocks[i]``: every figure is a sum over blocks of what a block and its neighbours
    move and take, so the weighted sums are the figures of all the blocks.
    """
    if weight is None:
        weight = np.ones(len(s.bm), dtype=np.int64)
    if hw.core is not None:
        s = _core_lines(s, hw)
    starts = offsets[:-1]
    compute, active, dequant = _compute_cycles(s, mps, hw, widths, a_bits, b_bits, group_size)
    sram, psum = _sram_bits(s, mps, hw, a_bits, b_bits)
    load = _dram_cycles(s.load_bytes, hw, weight)
    wb = _dram_cycles(s.writeback_bytes, hw, weight)
    _check_operator_cycles(compute, load, wb, weight, count, hw)

    def per_shape(x: np.ndarray) -> np.ndarray:
        return np.add.reduceat(x * weight, starts)

    parts, cycles = _run_cycles(compute, load, wb, offsets, hw, count, weight, nblocks)
    compute_total = count * per_shape(compute)
    sums = {buf: (per_shape(r).astype(np.float64), per_shape(w).astype(np.float64))
            for buf, (r, w) in sram.items()}
    buf = hw.buffers
    pe = hw.pe
    dram_r = count * per_shape(s.load_bytes)
    dram_w = count * per_shape(s.writeback_bytes)
    active_total = count * per_shape(active).astype(np.float64)
    # The weight load's scales: on the core its scale lines (a region of their own, padded
    # to whole groups as the code lines are to whole beats: not the stored widths' ratio
    # unless k is whole groups); elsewhere the stored widths' share.
    b_scales = None
    b_in_share: np.ndarray | float = shares[1]
    if hw.core is not None:
        rules = hw.core_rules()
        assert rules is not None
        b_scales = np.where(s.load_b_bytes > 0,
                            rules.buffer_bytes(s.bm, s.bn, s.bk)["scale"], 0.0)
        b_in_share = np.where(s.load_b_bytes > 0,
                              1.0 - b_scales / np.where(s.load_b_bytes > 0, s.load_b_bytes, 1),
                              shares[1])
    accesses, part_accesses = _shape_accesses(s, sram, psum, hw, shares, starts, count,
                                              weight, b_in_share)
    energy = {
        "pe": active_total * pe.energy_pj_per_cycle * hw.energy_overhead,
        "dequant": count * per_shape(dequant).astype(np.float64)
        * getattr(pe, "dequant_pj_per_cycle", 0.0) * hw.energy_overhead,
        "sram_weight": count * sums["weight"][0] * buf.weight.read_energy_pj_per_bit
        + count * sums["weight"][1] * buf.weight.write_energy_pj_per_bit,
        "sram_activation": count * sums["activation"][0] * buf.activation.read_energy_pj_per_bit
        + count * sums["activation"][1] * buf.activation.write_energy_pj_per_bit,
        "sram_output": count * sums["output"][0] * buf.output.read_energy_pj_per_bit
        + count * sums["output"][1] * buf.output.write_energy_pj_per_bit,
        "dram": (dram_r + dram_w) * 8 * hw.dram.energy_pj_per_bit,
    }
    return GemmCosts(
        mappings=mps, count=count, cycles=cycles, compute_cycles=compute_total,
        stall_cycles=cycles - compute_total,
        dram_cycles=count * per_shape(load + wb),
        active_pe_cycles=active_total, macs=count * per_shape(s.bm * s.bn * s.bk),
        dram_read_bytes=dram_r, dram_write_bytes=dram_w,
        sram_read_bytes=count * sum(v[0] for v in sums.values()) / 8,
        sram_write_bytes=count * sum(v[1] for v in sums.values()) / 8,
        energy_pj=energy,
        dram_a_bytes=count * per_shape(s.load_a_bytes),
        dram_b_bytes=count * per_shape(s.load_b_bytes),
        dram_b_scales_bytes=None if b_scales is None else count * per_shape(b_scales),
        dram_out_read_bytes=count * per_shape(s.load_out_bytes),
        sram_bytes={b: (count * r / 8, count * w / 8) for b, (r, w) in sums.items()},
        sram_psum_bytes=(count * per_shape(psum[0]) / 8, count * per_shape(psum[1]) / 8),
        accesses=accesses, part_accesses=part_accesses,
        fixed_cycles=parts[0], instance_cycles=parts[1],
    )


def simulate_gemm(m: int, n: int, k: int, hw: HardwareSpec, widths: OperandWidths,
                  a_bits: float, b_bits: float, out_bits: float, stage: str = "prefill",
                  group_size: int | None = None, name: str = "gemm",
                  count: int = 1, mapping: Mapping | None = None,
                  shares: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> GemmCost:
    """Map and cost ``count`` back-to-back instances of ``out[m, n] = a[m, k] b[k, n]``.

    Args:
        m, n, k: GEMM shape.
        hw: the hardware.
        widths: element widths the PE runs (`hwsim.sim.precision.operand_widths`).
        a_bits, b_bits, out_bits: stored bits per element (with scale overhead) for traffic.
        stage: ``"prefill"`` or ``"decode"`` (selects the array shape).
        group_size: quantization group of ``b`` along k (BitMoD dequantization), if any.
        name: op name for error messages.
        count: identical instances run back to back.
        mapping: cost this blocking instead of the fastest (`fastest_mappings`; the RTL core's
            tests cost a GEMM padded to whole buffer lines with the unpadded GEMM's blocks).
        shares: the share of each stored operand (``a``, ``b``, output) that is code, the
            rest scales (`hwsim.workloads.traffic.operand_data_shares`); for the accesses
            per operand part only.
    """
    for label, size in (("m", m), ("n", n), ("k", k)):
        if not _is_int(size):  # an array would broadcast, 16.5 truncate, True count as 1
            raise HwsimError(f"{name}: {label}: expected an integer, got {size!r}")
    dims = [np.array([size], dtype=np.int64) for size in (m, n, k)]
    if mapping is not None:
        _check_gemm_args(name, *dims, a_bits, b_bits, out_bits, stage, group_size, count,
                         shares)
        return _cost_mappings(mappings_of(mapping), hw, widths, a_bits, b_bits, out_bits,
                              group_size, count, shares).cost(0)
    return simulate_gemms(*dims, hw, widths, a_bits, b_bits, out_bits, stage, group_size,
                          name, count, shares).cost(0)


def stored_op(op: Op, hw: HardwareSpec) -> Op:
    """``op`` in the widths ``hw`` stores its operands in: on the RTL core's description (a
    ``core`` section) a GEMM's are the core's (`hwsim.hw.core_rules.core_stored_op`), every
    byte, DRAM cycle and access costed being one the core moves; elsewhere the op's own.

    Raises:
        HwsimError: the PE cannot run the op as the workload states it (checked before the
            widths are restated, so the refusal names the workload's precision), the core
            cannot store its weights (groups of another size than the core's: the core's
            widths would charge the core's scale fields, not the op's), or the op is a fused
            attention kernel, which the core does not run (the roofline and the simulator
            refuse it alike, here).
    """
    if hw.core is not None and op.fused is not None:
        raise HwsimError(f"{hw.source}: {fused_problem(op.name)}")
    if hw.core is not None and op.kind == "gemm":
        operand_widths(op, hw)
        rules = hw.core_rules()
        assert rules is not None
        problem = rules.group_problem(op.group_size)
        if problem is not None:   # the mapper's refusal, for the callers that do not map
            raise HwsimError(f"{hw.source}: {problem} ({op.name})")
        return core_stored_op(op, hw.core)
    return op


def priced_for(op: Op, hw: HardwareSpec) -> HardwareSpec:
    """``hw`` with the PE energy per cycle of ``op``'s weight operand format, where the PE's
    energy is the RTL block's per format (`hwsim.hw.spec.RtlSource.energies`: bitmod-rtl's
    int8 weights switch less per cycle than its bitmod3 ones); ``hw`` itself otherwise (a
    format the block has no operand model for, FP16 or a plain width, keeps
    ``pe.energy_pj_per_cycle``: the native format's)."""
    rtl = getattr(hw.pe, "rtl", None)
    if rtl is None or not rtl.energies or op.b_format is None:
        return hw
    energy = rtl.energies.get(op.b_format.name, hw.pe.energy_pj_per_cycle)
    if energy == hw.pe.energy_pj_per_cycle:
        return hw
    return dataclasses.replace(hw, pe=dataclasses.replace(hw.pe, energy_pj_per_cycle=energy))


def simulate_op_shapes(op: Op, hw: HardwareSpec) -> tuple[GemmCosts, np.ndarray]:
    """Costs of a GEMM op's distinct step shapes, and each step's index into them, in the
    widths ``hw`` stores them in (`stored_op`).

    Raises:
        HwsimError: the PE cannot run the op's precision, or no tile fits a buffer.
    """
    op = stored_op(op, hw)
    widths = operand_widths(op, hw)
    shares = operand_data_shares(op)
    hw = priced_for(op, hw)
    if op.fused is not None:
        # A fused attention kernel: its own tiles, one block sequence per step.
        mps, s, offsets = fused_attention_schedule(op, hw)
        costs = _cost_blocks(mps, s, offsets, hw, widths, op.a_bits, op.b_bits,
                             op.group_size, op.count, shares)
        return costs, np.arange(op.steps)
    shapes = np.stack([op.m, op.n, op.k], axis=1)
    uniq, inverse = np.unique(shapes, axis=0, return_inverse=True)
    costs = simulate_gemms(uniq[:, 0], uniq[:, 1], uniq[:, 2], hw, widths, op.a_bits,
                           op.b_bits, op.out_bits, op.stage, op.group_size, op.name, op.count,
                           shares)
    return costs, np.ravel(inverse)


def op_shapes_key(op: Op) -> tuple:
    """What `simulate_op_shapes` reads of an unfused op (and `operand_widths` through it),
    except the name, which only labels its errors: ops with equal keys cost the same."""
    return (op.m.tobytes(), op.n.tobytes(), op.k.tobytes(), op.count, op.stage, op.a_bits,
            op.b_bits, op.out_bits, op.a_format, op.b_format, op.out_format, op.b_kind,
            op.group_size, op.stored_code_bits)


def simulate_op_shapes_shared(op: Op, hw: HardwareSpec,
                              cache: dict[tuple, tuple[GemmCosts, np.ndarray]]
                              ) -> tuple[GemmCosts, np.ndarray]:
    """`simulate_op_shapes`, taking the costs of an earlier op with an equal `op_shapes_key`
    from ``cache`` (q_proj and o_proj, gate and up) and adding new ones to it. A fused
    attention kernel's tiles are its own: never shared."""
    key = op_shapes_key(op) if op.fused is None else None
    got = cache.get(key) if key is not None else None
    if got is None:
        got = simulate_op_shapes(op, hw)
        if key is not None:
            cache[key] = got
    return got


def simulate_op(op: Op, hw: HardwareSpec) -> list[GemmCost]:
    """Cost of a GEMM op (all ``op.count`` instances) at every step.

    Returns:
        One `GemmCost` per step, in step order (steps of equal shape share one object).

    Raises:
        HwsimError: the PE cannot run the op's precision, or no tile fits a buffer.
    """
    costs, inverse = simulate_op_shapes(op, hw)
    each = [costs.cost(i) for i in range(costs.cycles.shape[0])]
    return [each[i] for i in inverse]
