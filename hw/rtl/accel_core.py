"""The accelerator core: a BitMoD PE array with ping-pong buffers, a tile sequencer and DMA.

One command (a descriptor, `hwsim.hw.rtl.core_config`) runs one GEMM
``out[m, n] = sum_k a[m, k] w[n, k]`` with the blocking and loop order `hwsim.mapping`
chose. The core follows the simulator's pipeline (`hwsim.sim.engine`) slot for slot: in
slot s it loads block s from DRAM (activations and/or weights, whichever changed), computes
block s - 1 on the array and writes back block s - 2's outputs (on its last k block), and a
slot ends when its compute and its DRAM transfers (load, then write-back, on the one DRAM
port) are both done. Whatever must start a slot is issued in the slot's last cycle (the next
block's records are computed a slot ahead). The control costs a cycle per DRAM transfer (the
DMA ends each at a register: the DMA is done a cycle after its last beat, the write-back after
a load starts a cycle after the load's), the simulator's ``transfer_cycles``, and one per
slot (the slot's end is a register loaded from the parts' done registers, so a slot ends the
cycle after both are done), the simulator's ``slot_cycles``.

Per block the array runs ceil(bn / rows) x ceil(bm / cols) tiles, each `array_tile_cycles`:
the activation, weight and scale buffers' read registers are the array's operand register,
and a tile's first beat enters the array the cycle after the previous tile's result is
loaded. That result is drained into the output buffer one row (``cols`` words) per cycle
while the next tile computes, added to the row's partial sum unless it is the block's first
k block.

DRAM streams (valid/ready; a transfer happens at a rising edge where both are high):
- read requests ``rd_req_*`` (beat address, beat count) and read data ``rd_*`` (the core is
  always ready); write requests ``wr_req_*`` and write data ``wr_*`` (one bus beat each).
  Requests of one direction are served in order; data follow their requests.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import ClassVar, NamedTuple

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.lib.wiring import In, Out

from hwsim.hw.rtl.bitmod import BitModArray
from hwsim.hw.rtl.core_config import (
    BEATS_BITS,
    SCALE_FIELD_BITS,
    SCALE_SIGN_BIT,
    SCALE_WTYPE_LSB,
    CoreConfig,
    CoreError,
    descriptor_layout,
    mode_code,
)
from hwsim.hw.rtl.primitives import registered_product

__all__ = ["AccelCore"]

ADDR_BITS = 32
STATUS_BITS = 8
# The buffers' read ports the tile sequencer drives: activations, weights, scales.
READ_PORTS = ("a", "b", "s")


def _log2(x: int) -> int:
    return x.bit_length() - 1


def _ceil_shift(x, shift: int):
    """ceil(x / 2**shift) of an unsigned value."""
    return (x + ((1 << shift) - 1)) >> shift if shift else x


class _ArrayAdapter:
    """The one place the core meets the PE array's ports: operand lines in, output rows out.

    The array is `BitModArray` with run-time reduction lengths and, for several families, its
    mode port.
    """

    def __init__(self, m: Module, c: CoreConfig) -> None:
        self.c = c
        # The array takes the stream's valid a cycle ahead (``valid_ahead``): its beat
        # registers' enables are then registers beside them, apart from its front's accept.
        # A build of one weight family decodes the weight terms in each PE (``decode_copies``:
        # a few LUTs per lane), so the route along a row starts at its beat register; a build
        # of several families decodes once per row (its decoder is several times larger).
        self.array = arr = BitModArray(c.array, input_stage=False, runtime_k=True,
                                       valid_ahead=True, decode_copies=c.array.modes == 1,
                                       k_ahead=True)
        m.submodules.array = arr
        # The readiness the core acts on comes from a second copy of the array's front control:
        # a one-PE array (a row's, with a row-shared dequantizer, whose cycles count its PEs)
        # fed the same stream, mode and run-time k, its operands and outputs unconnected, so
        # synthesis keeps its control only (its datapath drives nothing). Its ``in_ready``
        # equals the array's in every cycle (the front's control reads no operand, nor the
        # output while the output is always taken; the core tests' bench checks it cycle by
        # cycle), but it is another register, placed with the sequencer: the array's own
        # enables the beat register across the array, this one picks the next beat's read
        # addresses and steps the sequencer's counters (one ready register for both, on the
        # 8x8 core, crossed the die and back on the critical path). Its state feeds back on
        # itself, so Yosys' register merging cannot fold it into the array's.
        # The copy takes the stream's valid a cycle ahead too (``valid_ahead``), so its own
        # accept is a gate of its own registers and its readiness's next value a choice among
        # candidates computed apart: fed the sequencer's register of the valid, its accept was
        # the same gate as the sequencer's (read by the buffers' address logic), which synthesis
        # may share, and its ready looped through a LUT placed with the sequencer (the 8x8 of
        # ab8ae90, seed 1: ``ready_if_run`` -> 5.34 ns -> a LUT of the compute record's half
        # and the ready -> 5.57 ns -> the copy's next state, 14.52 ns). Its beat registers'
        # enable pairs (``keep``: two registers per column) drive operands nothing reads.
        # Each buffer's read port picks its address with an accept of its own, the copy's
        # (``accept_copies``: a register pair each, loaded with the valid's and the
        # readiness's next values): on the 8x8 of 34345fb (seed 1, 72.05 MHz) the critical
        # path was the copy's ``ready_if_run`` -> 3.95 ns -> the sequencer's accept -> 3.36 ns
        # -> the activation port's address -> its read-through test, 13.88 ns.
        front = replace(c.array, rows=1, cols=c.cols if c.array.dequantizer == "row" else 1)
        self.front = front_copy = BitModArray(front, input_stage=False, runtime_k=True,
                                              valid_ahead=True, k_ahead=True,
                                              accept_copies=READ_PORTS)
        self.port_accepts = front_copy.accept_copies
        m.submodules.array_front = front_copy
        self.in_ready = front_copy.in_ready
        m.d.comb += [arr.out_ready.eq(1), front_copy.out_ready.eq(1)]

    def feed(self, m: Module, a_line, b_line, s_line, mode) -> None:
        """Drive the operands from the buffers' read data (one beat) and the mode (an index
        into ``config.families``)."""
        c, arr = self.c, self.array
        width = c.array.code_bits
        codes = [b_line[i * c.code_bits:i * c.code_bits + width]
                 for i in range(c.rows * c.lanes)]
        fields = [s_line[r * SCALE_FIELD_BITS:(r + 1) * SCALE_FIELD_BITS] for r in range(c.rows)]
        m.d.comb += [
            arr.a.eq(a_line),
            arr.w.eq(Cat(*codes)),
            arr.scale.eq(Cat(*[f[:c.scale_bits] for f in fields])),
            arr.scale_neg.eq(Cat(*[f[SCALE_SIGN_BIT] for f in fields])),
        ]
        if c.array.modes > 1:
            m.d.comb += [arr.mode.eq(mode), self.front.mode.eq(mode)]
        if c.array.has_fp:
            m.d.comb += arr.wtype.eq(Cat(*[f[SCALE_WTYPE_LSB:SCALE_WTYPE_LSB + 3]
                                           for f in fields]))

    def row(self, r: int) -> list:
        """Output row r of the tile: ``cols`` signed values."""
        c, ow = self.c, self.c.array.out_width
        return [self.array.out[(r * c.cols + col) * ow:(r * c.cols + col + 1) * ow].as_signed()
                for col in range(c.cols)]


class _Count(NamedTuple):
    """A request count's tests, registered with the block's record (computed from the block's
    size in parallel with the count itself), so that no comparator or subtractor sits between
    a record and a request generator's next state: count != 0, != 1, != 2, count - 1, - 2."""

    nz: Value
    n1: Value
    n2: Value
    m1: Value
    m2: Value

    @staticmethod
    def of_size(size, lg_per: int) -> dict:
        """The tests of ``ceil(size / 2**lg_per)`` from ``size`` (one adder deep each; the
        differences are exact wherever they are used: m1 for a count >= 1, m2 for >= 2)."""
        per = 1 << lg_per
        return {"nz": size != 0, "n1": size > per, "n2": size > 2 * per,
                "m1": (size - 1)[:16] >> lg_per, "m2": (size - (per + 1))[:16] >> lg_per}


class _Record:
    """A block's registered parameters (one per pipeline stage: next, load, compute, wb)."""

    FIELDS: ClassVar[dict[str, int]] = {
        "valid": 1, "m0": 16, "n0": 16, "k0": 16, "ct_m": 16, "ct_n": 16, "nkb": 16, "ng": 16,
        "last_beats": 16, "load_a": 1, "load_b": 1, "ha": 1, "hb": 1, "ho": 1,
        "first_k": 1, "last_k": 1,
        "bs_beats": BEATS_BITS,  # b_beats + s_beats: one weight tile's load
        "a_addr": ADDR_BITS, "a_stride": ADDR_BITS, "a_beats": BEATS_BITS,
        "b_addr": ADDR_BITS, "b_stride": ADDR_BITS, "b_beats": BEATS_BITS,
        "s_addr": ADDR_BITS, "s_stride": ADDR_BITS, "s_beats": BEATS_BITS,
        "o_addr": ADDR_BITS, "o_stride": ADDR_BITS, "o_beats": BEATS_BITS,
        # Products, set as the record enters the load stage (`_BEAT_COUNTS`).
        "na": BEATS_BITS,        # the load's activation beats (ct_m x a_beats if load_a)
        "nb": BEATS_BITS,        # its weight beats (ct_n x b_beats if load_b)
        "ld_total": BEATS_BITS,  # all its beats (with the scales': ct_n x bs_beats)
        "o_total": BEATS_BITS,   # write-back beats (ct_n x o_beats)
        # Their tests the beat counters' last-beat registers load (`_Records.enter`), so an
        # equality of a counter, not an adder and a comparator, decides them.
        "o_one": 1,              # o_total == 1
        "o_m2": BEATS_BITS,      # o_total - 2
        "ld_m2": BEATS_BITS,     # ld_total - 2
        # The request generators' tests of ct_m and ct_n (`_Count`), registered beside them.
        **{f"{c}_{t}": (16 if t in ("m1", "m2") else 1)
           for c in ("cm", "cn") for t in ("nz", "n1", "n2", "m1", "m2")},
    }

    def __init__(self, name: str, halves: int = 0, reset_less: bool = False) -> None:
        for f, w in self.FIELDS.items():
            init = halves if f in ("ha", "hb", "ho") else 0
            setattr(self, f, Signal(w, name=f"{name}_{f}", init=init, reset_less=reset_less))

    def eq(self, other: _Record) -> list:
        return [getattr(self, f).eq(getattr(other, f)) for f in self.FIELDS]

    def load_is_one_beat(self):
        """The load moves one beat, without its products: a weight load is at least two beats (a
        weight line and a scale line), so only a single one-beat activation line is."""
        return self.load_a & ~self.load_b & (self.ct_m == 1) & (self.a_beats == 1)

    def count(self, c: str) -> _Count:
        """The registered tests of ``ct_m`` (``c`` = "cm") or ``ct_n`` ("cn")."""
        return _Count(*(getattr(self, f"{c}_{t}") for t in ("nz", "n1", "n2", "m1", "m2")))

    def phases(self):
        """Read request phases: (enabled, first address, stride, beats per request, count)."""
        cm, cn = self.count("cm"), self.count("cn")
        return [(self.load_a, self.a_addr, self.a_stride, self.a_beats, cm),
                (self.load_b, self.b_addr, self.b_stride, self.b_beats, cn),
                (self.load_b, self.s_addr, self.s_stride, self.s_beats, cn)]

    def wb_phases(self):
        return [(self.last_k, self.o_addr, self.o_stride, self.o_beats, self.count("cn"))]


class _RecordView(_Record):
    """A block record as its readers see it while the records' shift is pending (``shift``
    high: the stage before it, ``prev``, or for the fields of ``enter`` the values the record
    takes from there), else the record itself."""

    def __init__(self, rec: _Record, prev: _Record, shift, enter: dict | None = None) -> None:
        enter = enter or {}
        for f in self.FIELDS:
            setattr(self, f, Mux(shift, enter.get(f, getattr(prev, f)), getattr(rec, f)))


def _record_copy(m: Module, name: str, fields, load, source: _Record,
                 view: _Record) -> tuple[_Record, list]:
    """Registers of their own (record ``name``) of ``source``'s ``fields``, loaded when
    ``load`` is high, and (view, copy) pairs for the core tests' bench, which checks each copy
    equal to the record's view it stands for in every cycle (`AccelCore.request_copies`)."""
    copy = _Record(name)
    with m.If(load):
        m.d.sync += [getattr(copy, f).eq(getattr(source, f)) for f in fields]
    pairs = []
    for f in fields:
        ref = Signal.like(getattr(copy, f), name=f"{name}_{f}_ref")  # the view, driving nothing
        m.d.comb += ref.eq(getattr(view, f))
        pairs.append((ref, getattr(copy, f)))
    return copy, pairs


class _RequestGen:
    """Issues the requests of a list of phases, one per cycle, each phase a strided run.

    A phase is (enabled, first address, stride, beats per request, requests). ``starts`` is a
    list of (condition, phases): in a cycle where a condition is high (the first one wins),
    the first request of its phases is presented; the following ones come from registers and
    ``rest``'s phases (the same block's record, registered by then). A start's phases must
    hold over the edge before its condition rises: its next states are registers, loaded a
    cycle ahead with the first start whose ``picks`` condition is high (by default
    ``ahead``'s conditions; a pick must be high in the cycle before its start and low in the
    cycle before any later start; the last start's is never read). The running request's
    next states are computed from registers alone, and the conditions only choose among them
    at the end: a start decided late in its cycle drives a few multiplexers, not the phase
    search and the address adder. The bus's ``ready`` comes last of all: it picks between the
    next states computed for either outcome of the handshake.

    The request presented (``valid``, ``addr``, ``beats``) is a register too, loaded with
    what next cycle presents: the next state (either candidate: the ready picks last) or a
    start, from ``ahead``: the starts as they are next cycle (their conditions' next values,
    their phases as they are then). The running request's beats are part of the state
    (chosen with its phase), so the presentation reads no phase table after the state's
    next value. ``refs`` is (valid, [(reference, register)]): the presentation from this
    cycle's state and starts as the phases give it (driving nothing), which the core tests'
    bench checks equal to the registers (the valid in every cycle, the address and beats
    while valid).
    """

    def __init__(self, m: Module, name: str, starts: list, rest: list, ready,
                 ahead: list, picks: list | None = None) -> None:
        n = len(rest)
        self.valid = Signal(name=f"{name}_valid")
        self.addr = Signal(ADDR_BITS, name=f"{name}_addr")
        self.beats = Signal(BEATS_BITS, name=f"{name}_beats")
        active = Signal(name=f"{name}_active")
        phase = Signal(range(n + 1), name=f"{name}_phase")
        # The phase's requests left after the presented one, and whether there are any: a
        # down-counter and its flag, so that no comparison decides the step.
        left = Signal(16, name=f"{name}_left")
        more = Signal(name=f"{name}_more")
        addr = Signal(ADDR_BITS, name=f"{name}_areg")
        beats = Signal(BEATS_BITS, name=f"{name}_breg")

        def first_enabled(table: list, from_phase: int):
            """(requests left, more, phase, address, beats) of the first non-empty phase at or
            after ``from_phase``."""
            p, a = Const(n, range(n + 1)), Const(0, ADDR_BITS)
            lf, mo, b = Const(0, 16), Const(0), Const(0, BEATS_BITS)
            for i in reversed(range(from_phase, n)):
                count = table[i][4]
                en = table[i][0] & count.nz
                p, a, b = Mux(en, i, p), Mux(en, table[i][1], a), Mux(en, table[i][3], b)
                lf, mo = Mux(en, count.m1, lf), Mux(en, count.n1, mo)
            return lf, mo, p, a, b

        def after(table: list, state: tuple, start: bool = False) -> tuple:
            """The state after a transfer from ``state`` (left, more, address, phase, active,
            beats) over ``table``'s phases. At a ``start`` the presented request is its
            phase's first, so the state after it is read from that phase's own fields (its
            count less 2, its first address plus its stride: registers through one adder),
            not from the phase search's outputs."""
            v_left, v_more, v_addr, v_phase = state[:4]
            out = (Const(0, 16), Const(0), Const(0, ADDR_BITS), Const(n, range(n + 1)),
                   Const(0), Const(0, BEATS_BITS))
            for i in reversed(range(n)):
                nxt_left, nxt_more, nxt_phase, nxt_addr, nxt_beats = first_enabled(table, i + 1)
                if start:
                    count = table[i][4]
                    more, left, addr = count.n1, count.m2, table[i][1]
                    step = (Mux(more, left, nxt_left), Mux(more, count.n2, nxt_more))
                else:
                    more, addr = v_more, v_addr
                    step = (Mux(more, v_left - 1, nxt_left), Mux(more, v_left != 1, nxt_more))
                here = (*step, Mux(more, addr + table[i][2], nxt_addr),
                        Mux(more, i, nxt_phase), more | (nxt_phase != n),
                        Mux(more, table[i][3], nxt_beats))
                out = tuple(Mux(v_phase == i, h, x) for h, x in zip(here, out, strict=True))
            return out

        def start_state(table: list) -> tuple:
            f_left, f_more, f_phase, f_addr, f_beats = first_enabled(table, 0)
            return (f_left, f_more, f_addr, f_phase, f_phase != n, f_beats)

        def presented(starts: list, state: tuple) -> tuple:
            """(valid, address, beats) presented from ``state``, or a start's first request."""
            out = (state[4], state[2], state[5])
            for cond, table in reversed(starts):
                init = start_state(table)
                out = tuple(Mux(cond, x, y) for x, y in zip((init[4], init[2], init[5]), out,
                                                            strict=True))
            return out

        # The next state if the request presented is taken, and if not: the running
        # request's, and a start's (a start without a transfer this cycle leaves its first
        # request presented).
        held = (left, more, addr, phase, active, beats)
        running = {"taken": tuple(Mux(active, x, y) for x, y in
                                  zip(after(rest, held), held, strict=True)),
                   "idle": held}
        # A start's phases hold over the edge before its condition rises (the callers'
        # promise), so its next states are registers (``<gen>_<field>_start_<w>``), loaded in
        # every cycle with those of the start whose condition rises next cycle (the first
        # whose ``picks`` condition is high): at a start they hold the states its phases
        # give then, and the phase search, the compares and the address adders leave the
        # start's cycle, with all but one of the starts' selects. ``start_regs`` is (any
        # start, [(state, register)]) for the core tests' bench, which checks each register
        # equal to the state it stands for while a start's condition is high.
        def starts_state(conds: list, w: str) -> tuple:
            """The next state ``w`` of the first start whose condition is high (the last's
            if none is: the registers are then unused)."""
            value = None
            for cond, (_, table) in reversed(list(zip(conds, starts, strict=True))):
                init = start_state(table)
                state = init if w == "idle" else tuple(
                    Mux(init[4], x, y)
                    for x, y in zip(after(table, init, start=True), init, strict=True))
                value = state if value is None else tuple(
                    Mux(cond, x, y) for x, y in zip(state, value, strict=True))
            return value

        any_start = Signal(name=f"{name}_any_start")
        m.d.comb += any_start.eq(Cat(*(cond for cond, _ in starts)).any())
        pairs, start = [], {}
        for w in ("idle", "taken"):
            now = starts_state([cond for cond, _ in starts], w)
            coming = starts_state(picks or [cond for cond, _ in ahead], w)
            start[w] = []
            for reg, ref_value, value in zip(held, now, coming, strict=True):
                ref = Signal.like(reg, name=f"{reg.name}_start_{w}_ref")
                sreg = Signal.like(reg, name=f"{reg.name}_start_{w}")
                m.d.comb += ref.eq(ref_value)
                m.d.sync += sreg.eq(value)
                pairs.append((ref, sreg))
                start[w].append(sreg)
        self.start_regs = (any_start, pairs)
        # The running request's next states are computed apart (``keep``), and the late
        # conditions pick right before the registers: a start (the slot's end, fanned out to
        # hundreds of registers) and, last, the bus's ready (from outside the core). Left to
        # the mapper, they went in first, before the phases' multiplexers: on the 8x8 of
        # 8c59cc3 (seed 2, 78.69 MHz) ``rd_req_ready`` -> 6.58 ns of route -> six LUTs ->
        # ``rreq_left``, 12.71 ns; in e4be9d9's netlist, ``slot_end_wb`` -> the start's select
        # -> five LUTs of the phase step -> ``wr_req_valid``, its deepest cone.
        for w, values in running.items():
            kept = []
            for reg, value in zip(held, values, strict=True):
                cand = Signal.like(reg, name=f"{reg.name}_if_{w}", attrs={"keep": 1})
                m.d.comb += cand.eq(value)
                kept.append(cand)
            running[w] = tuple(kept)

        def next_state(k: int):
            """Register ``k`` of the state (`held`) next cycle."""
            return Mux(any_start, Mux(ready, start["taken"][k], start["idle"][k]),
                       Mux(ready, running["taken"][k], running["idle"][k]))

        for k, reg in enumerate(held):
            m.d.sync += reg.eq(next_state(k))
        # Presented from the state and this cycle's starts, the late slot end drove the
        # request out of the core: on the 8x8 of eb31f37 (seed 1) the critical path was
        # ``slot_end_wb`` -> 5.58 ns of route -> the start's select -> 5.61 ns -> the write
        # request's address -> the harness, 14.84 ns. With the beats chosen from the phase
        # table after the next state (819afe5), the read requests' next phase led seed 3
        # (``slot_end_ld`` -> the table's next view -> ``rreq_phase_if_taken`` -> the beats'
        # select -> ``rreq_beats``, 15.06 ns). The starts' next conditions are late too (the
        # write-back's start after a load is the read stream's valid at the load's last beat):
        # each start's first request is computed apart (``keep``), and the conditions pick
        # last. With the candidates presented from the starts (cfd1036), the 8x8's seed 1 ran
        # ``rd_valid`` -> 7.42 ns of route -> the start's test -> the write-back record's view
        # -> the beats' candidates -> ``wreq_beats``, 16.45 ns.
        regs = (self.valid, self.addr, self.beats)
        firsts = []
        for j, (_, table) in enumerate(ahead):
            init = start_state(table)
            first = [Signal.like(reg, name=f"{reg.name}_if_ahead{j}", attrs={"keep": 1})
                     for reg in regs]
            m.d.comb += [f.eq(x) for f, x in zip(first, (init[4], init[2], init[5]),
                                                  strict=True)]
            firsts.append(first)
        # Without a start next cycle, the presentation is the next state's.
        for k, reg in enumerate(regs):
            value = next_state((4, 2, 5)[k])
            for (cond, _), first in reversed(list(zip(ahead, firsts, strict=True))):
                value = Mux(cond, first[k], value)
            m.d.sync += reg.eq(value)
        # The references: this cycle's presentation, the running request's beats read from
        # its phase in ``rest``.
        table_beats = Const(0, BEATS_BITS)
        for i in reversed(range(n)):
            table_beats = Mux(phase == i, rest[i][3], table_beats)
        now = presented(starts, (*held[:5], table_beats))
        refs = [Signal.like(reg, name=f"{reg.name}_ref") for reg in regs]
        m.d.comb += [ref.eq(x) for ref, x in zip(refs, now, strict=True)]
        self.refs = (refs[0], list(zip(refs, regs, strict=True)))


class AccelCore(wiring.Component):
    """The accelerator core (see the module docstring and ``hw/rtl/README.md``).

    Ports:
        cmd_valid, cmd_ready, desc: command stream; ``desc`` is `descriptor_layout`.
        status: busy (bit 0), done (bit 1), error (bit 2), nonfinite (bit 3: an Inf or NaN
            activation reached the array during the command; the PEs count it as 0), reason
            `CoreError` (bits 4..7).
        rd_req_valid, rd_req_ready, rd_req_addr, rd_req_beats: DRAM read requests.
        rd_valid, rd_ready, rd_data: DRAM read data (``8 x bus_bytes`` bits a beat).
        wr_req_valid, wr_req_ready, wr_req_addr, wr_req_beats: DRAM write requests.
        wr_valid, wr_ready, wr_data: DRAM write data.
    """

    def __init__(self, config: CoreConfig) -> None:
        self.config = c = config
        bus = 8 * c.bus_bytes
        super().__init__({
            "cmd_valid": In(1), "cmd_ready": Out(1), "desc": In(descriptor_layout()),
            "status": Out(STATUS_BITS),
            "rd_req_valid": Out(1), "rd_req_ready": In(1), "rd_req_addr": Out(ADDR_BITS),
            "rd_req_beats": Out(BEATS_BITS),
            "rd_valid": In(1), "rd_ready": Out(1), "rd_data": In(bus),
            "wr_req_valid": Out(1), "wr_req_ready": In(1), "wr_req_addr": Out(ADDR_BITS),
            "wr_req_beats": Out(BEATS_BITS),
            "wr_valid": Out(1), "wr_ready": In(1), "wr_data": Out(bus),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.config
        buf = _Buffers(m, c)
        cmd = _Command(m, c, self, buf, platform)
        itr = _BlockIterator(m, c, cmd)
        # The slot's end decides the cycle after it; so that it reaches a few registers, not
        # the hundreds of the block records and the iterator, these shift an edge later, on a
        # register of the slot's end (one copy per group, kept apart from Yosys' register
        # merging: each drives one group's enables and views). In the cycle after the slot's
        # end, every reader sees them as shifted through a view that picks the previous
        # stage (the records' next stage holds the block it held: the next block's record is
        # recomputed from the shifted ones only then), so the core runs the cycles it ran
        # when they shifted at the slot's end.
        # "it" steps the iterator; "nf" and "nx" are the next block's record's own copies
        # (`_Records`), so the iterator's enables and the record's views are not one register's
        # load spread over the die; "lw" is the load's beat counter's and its view's (`_Load`).
        shift = {g: Signal(name=f"shift_{g}", attrs={"keep": 1})
                 for g in ("it", "nf", "nx", "ld", "cp", "wb", "lw")}
        itr.shift_on(shift["it"])
        rec = _Records(m, c, cmd, itr, shift, platform)
        slot = _SlotControl(m, self, cmd, itr, rec, shift)
        load = _Load(m, c, self, buf, rec, slot, shift["lw"])
        seq = _TileSequencer(m, c, buf, cmd, rec, slot)
        drain = _Drain(m, c, buf, cmd, rec, slot, seq)
        wb = _WriteBack(m, c, self, rec, slot, load)
        fifo = _LineFifo(m, c, self, buf, cmd, rec, seq, drain, wb)
        slot.close(seq)
        # The buffers, for testbenches that inspect their contents.
        # The array's ready and the copy the core acts on (`_ArrayAdapter`), the slot's end
        # and its reference test (`_SlotControl`), the arrays' valid test and its register
        # (`_TileSequencer`; each array's own, with its accept copies, is ``pe_array``'s and
        # ``front_array``'s), and the run-time k's view and each array's registers of it, and
        # the drained row's reference select and the one the adder reads (`_Drain`), the read
        # requests' copies of the load record (`_Load`), and the write stream's reference
        # beat and its port (registers, `_LineFifo`), for testbenches.
        self.readies = (cmd.arr.array.in_ready, cmd.arr.in_ready)
        self.slot_ends = (slot.slot_end_ref, [slot.end_of(g) for g in slot.ends])
        self.valids = seq.valids
        self.tile_nexts = seq.tile_nexts
        self.blk_copies = seq.blk_copies
        self.read_tests = cmd.read_tests
        self.iter_derived = (cmd.running, itr.derived)
        self.result_copies = drain.result_copies
        self.request_copies = [*load.request_copies, *wb.request_copies]
        self.request_outs = [*load.request_outs, *wb.request_outs]
        self.request_starts = [*load.request_starts, *wb.request_starts]
        self.k_regs = seq.k_regs
        self.drain_rows = drain.rows
        self.wr_datas = fifo.data
        self.cp_regs = drain.cp_refs
        self.wr_sels = fifo.sel_regs
        self.wb_regs = wb.regs
        self.wb_rd_lines = fifo.rd_lines
        self.wb_aheads = fifo.ahead_refs
        self.pe_array = cmd.arr.array
        self.front_array = cmd.arr.front
        self.buffers = {"activation": buf.a_mem, "weight": buf.b_mem, "scale": buf.s_mem,
                        "output": buf.o_mem, "output_copy": buf.o_copy}
        return m


class _Buffers:
    """The core's buffers and their ports: two halves each, the half is the address MSB."""

    def __init__(self, m: Module, c: CoreConfig) -> None:
        self.bus = bus = 8 * c.bus_bytes
        # Block RAM (ECP5 EBR), even where a shallow buffer would fit in LUTs: one write and
        # one read port each, as block RAM has.
        def buffer(name, lines, line_bits):
            mem = Memory(shape=line_bits, depth=2 * lines, init=[],
                         attrs={"ram_style": "block"})
            m.submodules[name] = mem
            return mem

        self.a_mem = a_mem = buffer("a_buf", c.a_lines, c.a_line_bits)
        self.b_mem = b_mem = buffer("b_buf", c.b_lines, c.b_line_bits)
        self.s_mem = s_mem = buffer("s_buf", c.s_lines, c.s_line_bits)
        # Outputs are kept in the array's width (`out_width` holds any sum over k <= k_max)
        # and sign-extended to `word_bits` on the way to DRAM; two copies written alike, one
        # read by the drain (partial sums), one by the write-back.
        ow = c.array.out_width
        self.o_mem = o_mem = buffer("o_buf", c.o_lines, c.cols * ow)
        self.o_copy = o_copy = buffer("o_buf_wb", c.o_lines, c.cols * ow)
        self.a_wr, self.b_wr, self.s_wr = (mem.write_port(granularity=bus)
                                           for mem in (a_mem, b_mem, s_mem))
        # Plain read ports, each the block RAM's own read register, made transparent in the
        # fabric (`_read_through`). As Amaranth transparent ports (a registered address before
        # an asynchronous read) Yosys merged the array's beat register into the block RAM as
        # its read register, so the RAM's slow clock-to-output led straight into the PEs'
        # term and FP16 decoders; now the beat register stays a fabric flip-flop behind it.
        self.a_rd, self.b_rd, self.s_rd = (mem.read_port() for mem in (a_mem, b_mem, s_mem))
        # What `_read_through` compares a cycle ahead: each read port's two candidate
        # addresses and the accept that picks one (the tile sequencer drives them), and each
        # write port's next address and lane enables (the load drives them).
        self.rd_pick = {n: SimpleNamespace(nxt=Signal.like(rd.addr, name=f"{n}_rd_nxt"),
                                           now=Signal.like(rd.addr, name=f"{n}_rd_now"),
                                           take=Signal(name=f"{n}_rd_take"))
                        for n, rd in (("a", self.a_rd), ("b", self.b_rd), ("s", self.s_rd))}
        self.wr_next = {n: SimpleNamespace(addr=Signal.like(wr.addr, name=f"{n}_wr_addr_next"),
                                           en=Signal.like(wr.en, name=f"{n}_wr_en_next"))
                        for n, wr in (("a", self.a_wr), ("b", self.b_wr), ("s", self.s_wr))}
        o_wr, o_wr_copy = o_mem.write_port(), o_copy.write_port()
        self.o_old = o_mem.read_port()                            # drain: the partial sums
        self.o_out = o_copy.read_port()                           # write-back
        m.d.comb += [o_wr_copy.addr.eq(o_wr.addr), o_wr_copy.data.eq(o_wr.data),
                     o_wr_copy.en.eq(o_wr.en)]
        self.o_wr = o_wr


class _Command:
    """The command port: the registered descriptor, its check, the status and the command's
    products; it also builds the PE array, fed from the buffers in the descriptor's mode."""

    def __init__(self, m: Module, c: CoreConfig, core: AccelCore, buf: _Buffers,
                 platform: object = None) -> None:
        lg_rows, lg_cols, lg_lanes = _log2(c.rows), _log2(c.cols), _log2(c.lanes)
        lg_g = _log2(c.group_size)
        bus = buf.bus
        # Registers loaded before they are read have no reset (``reset_less``), so the reset reaches
        # the control only: the descriptor, its refusal tests, the k units and the check's
        # products' test (loaded in every idle cycle, or every cycle), the iterator's step and
        # the next block's record and beat counts (every cycle), the write-back's bypass (every
        # cycle) and line FIFO entries (read only while held). (The multiplier blocks' own
        # registers, `registered_product`, keep the domain's reset.)
        d = Signal(descriptor_layout(), reset_less=True)
        # The descriptor's mode (a WEIGHT_FAMILIES index) -> the array's mode; not one of the
        # array's families: refused.
        array_mode = Signal(range(max(len(c.families), 2)))
        for i, fam in enumerate(c.families):
            with m.If(d.mode == mode_code(fam.name)):
                m.d.comb += array_mode.eq(i)
        arr = _ArrayAdapter(m, c)
        reads, self.read_tests = [], []
        for rd, wr, name in ((buf.a_rd, buf.a_wr, "a"), (buf.b_rd, buf.b_wr, "b"),
                             (buf.s_rd, buf.s_wr, "s")):
            data, tests = _read_through(m, rd, wr, buf.rd_pick[name], buf.wr_next[name], bus,
                                        name)
            reads.append(data)
            self.read_tests += tests
        arr.feed(m, *reads, array_mode)

        busy, done, error = (Signal(name=n) for n in ("busy", "done", "error"))
        nonfinite = Signal(name="nonfinite")   # set by the drain (`_Drain`), sticky per command
        reason = Signal(4)
        checking, running = Signal(name="checking"), Signal(name="running")
        m.d.comb += [core.cmd_ready.eq(~busy),
                     core.status.eq(Cat(busy, done, error, nonfinite, reason))]
        accept_cmd = core.cmd_valid & core.cmd_ready

        # The check's products' factors are registered as the command is accepted (from the
        # port), the address steps' too (below): no multiplier follows the port, and the block
        # iterator's steps have none on a one-cycle path. Line units: ``lg_alb`` etc. are log2
        # of the bus beats per line.
        lg_alb, lg_blb, lg_slb, lg_olb = (_log2(c.beats_per_line(bits)) for bits in
                                          (c.a_line_bits, c.b_line_bits, c.s_line_bits,
                                           c.o_line_bits))
        desc = core.desc
        ct_m_cmd = _ceil_shift(desc.block_m, lg_cols)
        ct_n_cmd = _ceil_shift(desc.block_n, lg_rows)
        kb_cmd = _ceil_shift(desc.block_k, lg_lanes)
        # The check's products of the block's tile counts and the buffers they must fit, a
        # registered product each (`registered_product`: the multiplier block's own input
        # registers, loaded in every idle cycle, so the edge accepting a command loads the
        # descriptor's factors). The check cycle multiplies and compares them to the buffers'
        # sizes into a register (``cmd_too_big``), which confirms the check a cycle later
        # (`_SlotControl`): a block too big for the buffers is refused then, before slot 0
        # ends (so an accepted command's cycles are unchanged). Multiplied from the port in
        # the accept cycle, the port -> the factors' adders -> a multiplier -> ``cmd_o_tiles``
        # took 14.81 ns on the 8x8 of 819afe5 (seed 2, 8.26 ns of it route).
        sizes = {"a_lines": (ct_m_cmd, kb_cmd, c.a_lines),
                 "b_lines": (ct_n_cmd, kb_cmd, c.b_lines),
                 "s_lines": (ct_n_cmd, _ceil_shift(desc.block_k, lg_g), c.s_lines),
                 "o_tiles": (ct_m_cmd, ct_n_cmd, c.o_lines >> lg_rows)}
        prod = {}
        too_big = Signal(name="cmd_too_big", reset_less=True)
        for name, (a, b, _) in sizes.items():
            p = registered_product(m, Cat(a, Const(0, 1)).as_signed(),
                                   Cat(b, Const(0, 1)).as_signed(), load=~busy,
                                   advance=Const(1, 1), out_reg=False, platform=platform,
                                   name=f"cmd_{name}")
            prod[name] = p.as_unsigned()[:len(a) + len(b)]
        m.d.sync += too_big.eq(Cat(*(prod[name] > size for name, (_, _, size) in sizes.items()))
                               .any())
        # The DRAM beats the iterator steps by when m or n advance by a block (blocks that are
        # not the whole extent are whole tiles, so these are exact): (factor, factor, shift).
        # These are registered products (`registered_product`: on an ECP5 with DSPs the multiplier
        # block's own input and output registers, with the domain's reset): the factors loaded in
        # every idle cycle, the product in the check's cycle too, so it holds the accepted
        # descriptor's steps from the cycle after the check. The iterator's ``adv`` first reads them
        # then, and its first step (an edge after slot 0's end) takes the ``adv`` loaded a cycle
        # later: one cycle to spare. Up to lead31 they were multiplied from the port in one cycle
        # like the check's: on the 8x8's seed 2 the port -> the multiplier -> ``cmd_step_bn`` took
        # 12.60 ns (5.73 of logic).
        steps = {
            "step_am": (desc.block_m >> lg_cols, _ceil_shift(desc.k, lg_lanes), lg_alb),
            "step_bn": (desc.block_n >> lg_rows, _ceil_shift(desc.k, lg_lanes), lg_blb),
            "step_sn": (desc.block_n >> lg_rows, _ceil_shift(desc.k, lg_g), lg_slb),
            "step_on": (desc.block_n >> lg_rows, _ceil_shift(desc.m, lg_cols),
                        lg_rows + lg_olb),
        }
        for name, (a, b, shift) in steps.items():
            p = registered_product(m, Cat(a, Const(0, 1)).as_signed(),
                                   Cat(b, Const(0, 1)).as_signed(), load=~busy,
                                   advance=~busy | checking, out_reg=True, platform=platform,
                                   name=f"cmd_{name}")
            prod[name] = (p.as_unsigned()[:len(a) + len(b)] << shift)[:ADDR_BITS]

        def not_tile_multiple(block, extent, lg):
            return (block[:lg] != 0) & (block != extent) if lg else Const(0)

        # The descriptor's own tests are registered from the port in every idle cycle, as the
        # products' factors are, so the check cycle starts from their flags (the products'
        # compares with the buffers' sizes confirm it a cycle later, ``cmd_too_big``): up to
        # lead31 the comparators of the registered descriptor
        # came first (on the 8x8's seed 2, 20 cells from ``d`` to ``running``, 12.36 ns).
        def mode_ok_of(mode) -> Value:
            ok = Const(0)
            for fam in c.families:
                ok = ok | (mode == mode_code(fam.name))
            return ok

        tests = {
            CoreError.ZERO_SIZE:
                (desc.m == 0) | (desc.n == 0) | (desc.k == 0) | (desc.block_m == 0)
                | (desc.block_n == 0) | (desc.block_k == 0),
            CoreError.BAD_MODE: ~mode_ok_of(desc.mode),
            CoreError.BAD_GROUP: desc.group_size != c.group_size,
            CoreError.BAD_BLOCK:
                (desc.block_m > desc.m) | (desc.block_n > desc.n) | (desc.block_k > desc.k)
                | not_tile_multiple(desc.block_m, desc.m, lg_cols)
                | not_tile_multiple(desc.block_n, desc.n, lg_rows)
                | not_tile_multiple(desc.block_k, desc.k, lg_g),
            CoreError.TOO_BIG: desc.k > c.k_max,
        }
        flags = {code: Signal(name=f"cmd_refuse_{code.name.lower()}", reset_less=True)
                 for code in tests}
        with m.If(~busy):
            m.d.sync += [flags[code].eq(test) for code, test in tests.items()]
        checks = [
            *((code, flags[code]) for code in (CoreError.ZERO_SIZE, CoreError.BAD_MODE,
                                               CoreError.BAD_GROUP, CoreError.BAD_BLOCK)),
            (CoreError.TOO_BIG, flags[CoreError.TOO_BIG]),
        ]
        err_code = Const(0, 4)
        for code, cond in reversed(checks):
            err_code = Mux(cond, int(code), err_code)
        self.d, self.desc, self.arr, self.prod, self.err_code = d, desc, arr, prod, err_code
        self.busy, self.done, self.error, self.reason = busy, done, error, reason
        self.nonfinite = nonfinite
        self.checking, self.running, self.accept_cmd = checking, running, accept_cmd
        self.too_big = too_big
        self.lg_alb, self.lg_blb, self.lg_slb, self.lg_olb = lg_alb, lg_blb, lg_slb, lg_olb


class _BlockIterator:
    """Element offsets of the block after the one being loaded.

    ``it``: the iterator; ``adv``: the iterator after its next step, registered every cycle
    from ``it`` (the step is taken an edge after the slot's end, from ``adv``: see the slot
    control). The block's DRAM addresses are kept as sums of parts that step by per-command
    constants (a: m part + k part, b and s: n part + k part, o: n part + m part). bm, bn, bk:
    the block's extents (the block size, or what is left of the GEMM), kept with its offsets
    so that the next block's record starts from registers (its shift copies pick between
    the stepped and the held ones), not from subtractions and comparisons after it (bk only
    for the bench's check of the k units below: the record reads those). m_rem, n_rem,
    k_rem: what is left of the GEMM from the offsets on; m_more, n_more, k_more: whether the
    next block along that dimension exists (``offset + block < size``), kept a step ahead so
    that the step's choice is made from flip-flops and each new value is one adder or
    comparison of registers.

    The block's k extent is kept in the units its readers count in too: ``nkb`` lane beats,
    ``ng`` groups and ``bsb`` weight-and-scale DRAM beats (the factor of the load's beat
    count), with the rest of k from the offset on in the same units (``kl``, ``kg``,
    ``kbs``). A k block is the command's block (per-command constants) or, last, what is
    left, so each is a register stepped by a subtraction, not ceilings and a sum of ``bk``
    (on the 8x8 of eb31f37, seed 3: ``adv_bk`` -> 5.72 ns of route -> a carry chain ->
    the load count's multiplier input ``mul_bs``, 13.51 ns). A block after the first along
    k is a whole number of groups (the check's `CoreError.BAD_BLOCK`), so the rest's
    ceilings step exactly. ``derived`` pairs each with its value from ``bk`` (or ``k_rem``):
    the core tests' bench checks them equal in every cycle of a run.
    """

    FIELDS: ClassVar[dict[str, int]] = {
        "valid": 1, "m0": 16, "n0": 16, "k0": 16, "bm": 16, "bn": 16, "bk": 16,
        "m_rem": 16, "n_rem": 16, "k_rem": 16, "m_more": 1, "n_more": 1, "k_more": 1,
        **dict.fromkeys(("nkb", "ng", "bsb", "kl", "kg", "kbs"), BEATS_BITS),
        **dict.fromkeys(("a_m", "a_k", "b_n", "b_k", "s_n", "s_k", "o_n", "o_m"), ADDR_BITS)}

    def __init__(self, m: Module, c: CoreConfig, cmd: _Command) -> None:
        self.m, self.c, self.cmd = m, c, cmd
        self.it = {f: Signal(w, name=f"it_{f}") for f, w in self.FIELDS.items()}
        self.adv = {f: Signal(w, name=f"adv_{f}", reset_less=True) for f, w in self.FIELDS.items()}
        # The k extents' per-command units (of k and of the block), registered from the port
        # in every idle cycle as the descriptor is: the iterator's ``adv`` reads them.
        self.k_units = {f: Signal(w, name=f"cmd_k_{f}", reset_less=True)
                        for f, w in (("k_lt_b", 1), *((f, BEATS_BITS) for f in
                                     ("k_l", "k_g", "k_bs", "b_l", "b_g", "b_bs")))}
        with m.If(~cmd.busy):
            m.d.sync += [self.k_units[f].eq(v) for f, v in self.units(cmd.desc).items()]
        self.advance(self.adv, self.it)
        self.derived = [pair for it in (self.it, self.adv) for pair in
                        ((self._units_of(it["bk"]), [it[f] for f in ("nkb", "ng", "bsb")]),
                         (self._units_of(it["k_rem"]), [it[f] for f in ("kl", "kg", "kbs")]))]

    def _units_of(self, extent) -> list:
        """A k extent in lane beats, groups and weight-and-scale DRAM beats."""
        c, cmd = self.c, self.cmd
        lanes = _ceil_shift(extent, _log2(c.lanes))
        groups = _ceil_shift(extent, _log2(c.group_size))
        return [lanes, groups, (lanes << cmd.lg_blb) + (groups << cmd.lg_slb)]

    def units(self, dd) -> dict:
        """The per-command units of descriptor ``dd``'s k and block_k."""
        k_l, k_g, k_bs = self._units_of(dd.k)
        b_l, b_g, b_bs = self._units_of(dd.block_k)
        return {"k_lt_b": dd.k < dd.block_k, "k_l": k_l, "k_g": k_g, "k_bs": k_bs,
                "b_l": b_l, "b_g": b_g, "b_bs": b_bs}

    def _first(self, dst, dim: str, size, block) -> list:
        """The first block along ``dim`` of a dimension of ``size`` in blocks of ``block``."""
        return [dst[f"{dim}0"].eq(0), dst[f"b{dim}"].eq(Mux(size < block, size, block)),
                dst[f"{dim}_rem"].eq(size), dst[f"{dim}_more"].eq(block < size)]

    def _next(self, dst, src, dim: str, block) -> list:
        """The next block along ``dim`` (it exists: ``src``'s ``{dim}_more``)."""
        rem, twice = src[f"{dim}_rem"], block << 1
        return [dst[f"{dim}0"].eq(src[f"{dim}0"] + block),
                dst[f"b{dim}"].eq(Mux(rem < twice, rem - block, block)),
                dst[f"{dim}_rem"].eq(rem - block), dst[f"{dim}_more"].eq(rem > twice)]

    def k_reset(self, dst, dd, units: dict) -> None:
        """The first k block of descriptor ``dd``, whose k units are ``units``."""
        u = units
        self.m.d.sync += [dst["a_k"].eq(0), dst["b_k"].eq(0), dst["s_k"].eq(0),
                          *self._first(dst, "k", dd.k, dd.block_k),
                          *(dst[f].eq(Mux(u["k_lt_b"], u[f"k_{x}"], u[f"b_{x}"]))
                            for f, x in (("nkb", "l"), ("ng", "g"), ("bsb", "bs"))),
                          *(dst[f].eq(u[f"k_{x}"]) for f, x in (("kl", "l"), ("kg", "g"),
                                                                ("kbs", "bs")))]

    def _k_next(self, dst, src) -> list:
        """The k units of the next block along k (a whole number of groups before it)."""
        u, last = self.k_units, src["k_rem"] < (self.cmd.d.block_k << 1)
        return [*(dst[f].eq(Mux(last, src[r] - u[b], u[b]))
                  for f, r, b in (("nkb", "kl", "b_l"), ("ng", "kg", "b_g"),
                                  ("bsb", "kbs", "b_bs"))),
                *(dst[r].eq(src[r] - u[b]) for r, b in (("kl", "b_l"), ("kg", "b_g"),
                                                         ("kbs", "b_bs")))]

    def m_reset(self, dst, dd) -> None:
        self.m.d.sync += [dst["a_m"].eq(dd.a_addr), dst["o_m"].eq(0),
                          *self._first(dst, "m", dd.m, dd.block_m)]

    def n_reset(self, dst, dd) -> None:
        self.m.d.sync += [dst["b_n"].eq(dd.b_addr), dst["s_n"].eq(dd.s_addr),
                          dst["o_n"].eq(dd.o_addr), *self._first(dst, "n", dd.n, dd.block_n)]

    def reset(self, dd) -> None:
        """The iterator at the first block of descriptor ``dd``."""
        self.k_reset(self.it, dd, self.units(dd))
        self.m_reset(self.it, dd)
        self.n_reset(self.it, dd)

    def advance(self, dst, src) -> None:
        """``dst`` := ``src`` after one step (``dst`` holds ``src`` where it is unset)."""
        m, d, prod = self.m, self.cmd.d, self.cmd.prod
        c, cmd = self.c, self.cmd
        lg_rows, lg_cols, lg_lanes = _log2(c.rows), _log2(c.cols), _log2(c.lanes)
        lg_g = _log2(c.group_size)
        m.d.sync += [dst[f].eq(src[f]) for f in self.FIELDS]

        def m_step():
            m.d.sync += [*self._next(dst, src, "m", d.block_m),
                         dst["a_m"].eq(src["a_m"] + prod["step_am"]),
                         dst["o_m"].eq(src["o_m"] + ((d.block_m >> lg_cols)
                                                     << (lg_rows + cmd.lg_olb)))]

        def n_step():
            m.d.sync += [*self._next(dst, src, "n", d.block_n),
                         dst["b_n"].eq(src["b_n"] + prod["step_bn"]),
                         dst["s_n"].eq(src["s_n"] + prod["step_sn"]),
                         dst["o_n"].eq(src["o_n"] + prod["step_on"])]

        with m.If(src["k_more"]):
            m.d.sync += [
                *self._next(dst, src, "k", d.block_k), *self._k_next(dst, src),
                dst["a_k"].eq(src["a_k"] + ((d.block_k >> lg_lanes) << cmd.lg_alb)),
                dst["b_k"].eq(src["b_k"] + ((d.block_k >> lg_lanes) << cmd.lg_blb)),
                dst["s_k"].eq(src["s_k"] + ((d.block_k >> lg_g) << cmd.lg_slb))]
        with m.Else():
            self.k_reset(dst, d, self.k_units)
            inner_m = ~d.m_outer  # n_outer: m is the middle loop
            with m.If(inner_m):
                with m.If(src["m_more"]):
                    m_step()
                with m.Elif(src["n_more"]):
                    self.m_reset(dst, d)
                    n_step()
                with m.Else():
                    m.d.sync += dst["valid"].eq(0)
            with m.Else():
                with m.If(src["n_more"]):
                    n_step()
                with m.Elif(src["m_more"]):
                    self.n_reset(dst, d)
                    m_step()
                with m.Else():
                    m.d.sync += dst["valid"].eq(0)

    def shift_on(self, shift_it) -> None:
        """Step the iterator an edge after ``shift_it``."""
        with self.m.If(shift_it):
            self.m.d.sync += [self.it[f].eq(self.adv[f]) for f in self.FIELDS]

    def view_on(self, shift, fields=None) -> dict:
        """``fields`` of the iterator as its readers see them (stepped in the cycle ``shift``,
        a copy of the iterator's shift, is high)."""
        return {f: Mux(shift, self.adv[f], self.it[f]) for f in fields or self.FIELDS}


class _Records:
    """The block records: next (registered from the iterator every cycle), load,
    compute, write-back (shifted an edge after a slot's end), their views, and the next
    block's beat counts."""

    def __init__(self, m: Module, c: CoreConfig, cmd: _Command, itr: _BlockIterator,
                 shift: dict, platform: object = None) -> None:
        lg_rows, lg_cols, lg_lanes = _log2(c.rows), _log2(c.cols), _log2(c.lanes)
        lg_g, lg_bpg = _log2(c.group_size), _log2(c.group_size // c.lanes)
        lg_alb, lg_blb, lg_slb, lg_olb = cmd.lg_alb, cmd.lg_blb, cmd.lg_slb, cmd.lg_olb
        d = cmd.d
        # The next block's record is computed every cycle (no reset); the others shift.
        r_nxt = _Record("nxt", halves=1, reset_less=True)
        r_ld, r_cp, r_wb = (_Record(n, halves=1) for n in ("ld", "cp", "wb"))
        # The next block's beat counts (products), which it takes as it enters the load stage.
        nxt_beats = {f: Signal(BEATS_BITS, name=f"next_beats_{f}", reset_less=True)
                     for f in ("na", "nb", "ld_total", "o_total")}
        # The records as every reader sees them (shifted in the cycle after the slot's end).
        # What the record takes as it enters the load stage besides the next record: the
        # products and their tests (from registers, through one adder).
        enter = {**nxt_beats, "o_one": nxt_beats["o_total"] == 1,
                 "o_m2": (nxt_beats["o_total"] - 2)[:BEATS_BITS],
                 "ld_m2": (nxt_beats["ld_total"] - 2)[:BEATS_BITS]}
        v_ld = _RecordView(r_ld, r_nxt, shift["ld"], enter=enter)
        v_cp = _RecordView(r_cp, r_ld, shift["cp"])
        v_wb = _RecordView(r_wb, r_cp, shift["wb"])
        # The next block's record reads the iterator and the load record as they are in the
        # cycle after a slot's end: its fields are computed twice, from the stepped iterator
        # and the next record (as if the records shifted now) and from the iterator and the load
        # record as they are, and a shift copy of its own picks one right before each register
        # ("nf" for the block's position and the load and half flags, "nx" for its sizes and
        # the products' factors; the addresses, off every failing list, read a view). Up to
        # 4196edb one copy selected first, ahead of the compares and the size adders: its
        # route across the die led the 8x8's seed 1 (`shift_it` -> `nxt_ho`, 14.06 ns); with
        # copies of their own but the view first (5e28dc5) `shift_nf` -> `nxt_load_b` (13.34
        # ns) and `shift_nx` -> the product's factor (13.18 ns) led seed 2.
        nf = ("valid", "m0", "n0", "k0", "load_a", "load_b", "ha", "hb", "ho", "first_k",
              "last_k")
        kb_total = _ceil_shift(d.k, lg_lanes)
        g_total = _ceil_shift(d.k, lg_g)
        mt_total = _ceil_shift(d.m, lg_cols)

        def fields(itv: dict, ld) -> dict:
            """The next record's fields (and the products' factors) from an iterator state and
            the load record (unused ones emit no logic)."""
            bm, bn = itv["bm"], itv["bn"]
            ct_m, ct_n = _ceil_shift(bm, lg_cols), _ceil_shift(bn, lg_rows)
            nkb, ng = itv["nkb"], itv["ng"]
            first = ~ld.valid
            load_a = first | (itv["m0"] != ld.m0) | (itv["k0"] != ld.k0)
            load_b = first | (itv["n0"] != ld.n0) | (itv["k0"] != ld.k0)
            first_k = itv["k0"] == 0
            return {
                "valid": itv["valid"], "m0": itv["m0"], "n0": itv["n0"], "k0": itv["k0"],
                "ct_m": ct_m, "ct_n": ct_n, "nkb": nkb, "ng": ng,
                "last_beats": nkb - ((ng - 1) << lg_bpg),
                "load_a": load_a, "load_b": load_b,
                "ha": ld.ha ^ load_a, "hb": ld.hb ^ load_b, "ho": ld.ho ^ first_k,
                "first_k": first_k, "last_k": ~itv["k_more"],
                "a_addr": itv["a_m"] + itv["a_k"], "a_beats": nkb << lg_alb,
                "b_addr": itv["b_n"] + itv["b_k"], "b_beats": nkb << lg_blb,
                "s_addr": itv["s_n"] + itv["s_k"], "s_beats": ng << lg_slb,
                "bs_beats": itv["bsb"],
                "o_addr": itv["o_n"] + itv["o_m"], "o_beats": ct_m << (lg_rows + lg_olb),
                **{f"cm_{t}": v for t, v in _Count.of_size(bm, lg_cols).items()},
                **{f"cn_{t}": v for t, v in _Count.of_size(bn, lg_rows).items()},
            }

        shifted = fields(itr.adv, r_nxt)
        held = fields(itr.it, r_ld)
        addresses = ("a_addr", "b_addr", "s_addr", "o_addr")
        viewed = fields(itr.view_on(shift["nx"]), _RecordView(r_ld, r_nxt, shift["nx"]))
        nxt = {f: (viewed[f] if f in addresses else
                   Mux(shift["nf" if f in nf else "nx"], shifted[f], held[f]))
               for f in shifted}
        ct_m, ct_n, nkb = nxt["ct_m"], nxt["ct_n"], nxt["nkb"]
        load_a, load_b = nxt["load_a"], nxt["load_b"]
        nxt_fresh = Signal()
        m.d.sync += [
            *[getattr(r_nxt, f).eq(v) for f, v in nxt.items()],
            r_nxt.a_stride.eq(kb_total << lg_alb), r_nxt.b_stride.eq(kb_total << lg_blb),
            r_nxt.s_stride.eq(g_total << lg_slb),
            r_nxt.o_stride.eq(mt_total << (lg_rows + lg_olb)),
            nxt_fresh.eq(1),
        ]
        # The products the load and the write-back count their beats to, registered from the
        # next block's record every cycle: the record takes them as it enters the load stage,
        # an edge after the slot's end, when they are a cycle older than the record, so no
        # multiplier sits before that edge (nor in the slot's last cycle). Each factor is cut
        # to the bits its buffer allows (an accepted descriptor's block fits a buffer half,
        # so every factor and product is at most that half's lines, or its beats): one
        # multiplier block each. Every multiplier reads registers of its own, loaded with the
        # record's fields every cycle; built for an ECP5 with DSPs they are the multiplier
        # block's own input registers (`registered_product`). As fabric registers (``keep``,
        # up to 77b9576) the placer left them with the record's other readers: on the 8x8
        # their route to the block (5.16 ns) and its array (3.93 ns) before the count's adder
        # led seeds 1 and 3 (``mul_a_ct_m`` -> ``next_beats_ld_total``, 13.35-14.56 ns) and
        # failed on all three. The operand flags select after the multipliers, so four
        # products serve the four counts.
        def factor(value, bound: int) -> Value:
            # Cut to the bound's bits, one zero bit above (the product is signed).
            op = Signal(max(1, bound.bit_length()))
            m.d.comb += op.eq(value)
            return Cat(op, Const(0, 1)).as_signed()

        def product(name: str, a: Value, b: Value) -> Value:
            prod = registered_product(m, a, b, load=Const(1, 1), advance=Const(1, 1),
                                      out_reg=False, platform=platform, name=f"mul_{name}")
            return prod.as_unsigned()[:len(a) + len(b) - 2]

        ctm_max = min(c.a_lines, max(1, c.o_lines >> lg_rows))
        ctn_max = min(c.b_lines, c.s_lines, max(1, c.o_lines >> lg_rows))
        b_max, s_max = c.b_lines << lg_blb, c.s_lines << lg_slb
        p_a = product("a", factor(ct_m, ctm_max), factor(nkb << lg_alb, c.a_lines << lg_alb))
        p_b = product("b", factor(ct_n, ctn_max), factor(nkb << lg_blb, b_max))
        # The sum's factor is the iterator's own register of it (`_BlockIterator`): as an
        # adder after the shift copy's select, `adv_bk` -> `mul_bs` took 13.99 ns (seed 3 of
        # an earlier round); as ceilings and a sum of ``bk`` before it, 13.51 ns (eb31f37).
        p_bs = product("bs", factor(ct_n, ctn_max), factor(nxt["bs_beats"], b_max + s_max))
        p_o = product("o", factor(ct_n, ctn_max),
                      factor(ct_m << (lg_rows + lg_olb), c.o_lines << lg_olb))

        def factor_flag(name: str, value) -> Signal:
            sig = Signal(name=f"mul_{name}", reset_less=True, attrs={"keep": 1})
            m.d.sync += sig.eq(value)
            return sig

        with_a, with_b = factor_flag("load_a", load_a), factor_flag("load_b", load_b)
        # The record's own registers of those fields are kept too: Yosys merges a register
        # into a kept one of the same input (one copy each was folded into the record's).
        for f in ("ct_m", "ct_n", "a_beats", "b_beats", "bs_beats", "o_beats", "load_a",
                  "load_b"):
            getattr(r_nxt, f).attrs["keep"] = 1
        na = Mux(with_a, p_a, 0)
        m.d.sync += [
            nxt_beats["na"].eq(na),
            nxt_beats["nb"].eq(Mux(with_b, p_b, 0)),
            nxt_beats["ld_total"].eq(na + Mux(with_b, p_bs, 0)),
            nxt_beats["o_total"].eq(p_o),
        ]
        self.r_nxt, self.r_ld, self.r_cp, self.r_wb = r_nxt, r_ld, r_cp, r_wb
        self.nxt_valid_next = nxt["valid"]      # what ``r_nxt.valid`` holds next cycle
        self.v_ld, self.v_cp, self.v_wb = v_ld, v_cp, v_wb
        self.nxt_beats, self.nxt_fresh, self.enter = nxt_beats, nxt_fresh, enter


class _SlotControl:
    """The pipeline's slots: a slot ends when its compute and its DRAM transfers are done;
    the records shift an edge later. Also the command's run: idle loading, check, done."""

    def __init__(self, m: Module, core: AccelCore, cmd: _Command, itr: _BlockIterator,
                 rec: _Records, shift: dict) -> None:
        busy, done, error, reason = cmd.busy, cmd.done, cmd.error, cmd.reason
        checking, running = cmd.checking, cmd.running
        r_nxt, r_ld, r_cp, r_wb = rec.r_nxt, rec.r_ld, rec.r_cp, rec.r_wb
        nxt_fresh, it = rec.nxt_fresh, itr.it
        comp_pending, dma_pending = Signal(name="comp_pending"), Signal(name="dma_pending")
        comp_ending, dma_ending = Signal(name="comp_ending"), Signal(name="dma_ending")
        # The slot's end is a register, one copy per group of its readers (``keep``: each is
        # placed beside its readers, not one beside the control and routed across the die to
        # all: the 8x8's worst paths at ce54420), loaded (`close`) from registers only: the
        # run (``running``), the slot's parts (``comp_done``: the compute done or ending,
        # itself a register with PE stages; ``dma_pending``) and its own copy (no slot ends
        # in the cycle after one). So a slot ends a cycle after its parts are done, the
        # simulator's `slot_cycles`: loaded with the parts' next states, the copies were the
        # ends of the cycle's late handshakes (`wr_ready`, the array's ready), the 8x8's
        # worst paths in all five runs of README (34). The first (empty) slot ends two cycles
        # after the check's (the third cycle of `CORE_SETUP_CYCLES`): ``running`` is set by
        # a passed check (a refused command never sets it, but for one whose block is too
        # big for the buffers: refused a cycle later, its ``cmd_too_big`` holds the slot's
        # end). ``slot_end_ref`` is the rule as the state defines it (the cycle after one
        # that ran with the next block's record fresh, the compute done or ending and the DMA
        # done, unless a slot ended in it); it drives nothing (synthesis drops it): the core
        # tests' bench checks every copy equal to it in every cycle.
        self.ends = {g: Signal(name=f"slot_end_{g}", attrs={"keep": 1})
                     for g in ("ctl", "ld", "k", "kf", "seq", "drain", "pf", "wb")}
        self.ends_next = {g: Signal(name=f"slot_end_{g}_next") for g in self.ends}
        slot_end = self.end_of("ctl")
        self.slot_end_ref = Signal()
        m.d.sync += self.slot_end_ref.eq(~self.slot_end_ref & running & ~cmd.too_big & nxt_fresh
                                         & (~comp_pending | comp_ending) & ~dma_pending)
        # No slot ends in the cycle after a slot's end (the next block's record is not fresh
        # then), so what a slot's end decides reads the records themselves, not their views:
        # no shift register's multiplexers on the late slot end's paths.
        next_load = r_nxt.valid
        next_comp = r_ld.valid
        next_wb = r_cp.valid & r_cp.last_k

        m.d.sync += [g.eq(slot_end) for g in shift.values()]
        with m.If(shift["ld"]):
            m.d.sync += [*r_ld.eq(r_nxt), *[getattr(r_ld, f).eq(v) for f, v in rec.enter.items()]]
        with m.If(shift["cp"]):
            m.d.sync += r_cp.eq(r_ld)
        with m.If(shift["wb"]):
            m.d.sync += r_wb.eq(r_cp)

        # While the core is idle (nothing runs then: a command is done when its last transfer
        # is), its descriptor, iterator, records and counters are loaded from the command port
        # in every cycle, so the edge accepting a command loads them as before, and the
        # acceptance itself (the external ``cmd_valid``) reaches only the status and the
        # check. Accepting a command starts the iterator too: the first block's record is
        # ready the cycle the descriptor check passes; slot 0 starts a cycle later (the slot
        # end's registers are loaded from ``running``, set by the passed check).
        with m.If(cmd.accept_cmd):
            m.d.sync += [busy.eq(1), done.eq(0), error.eq(0), reason.eq(0), checking.eq(1),
                         cmd.nonfinite.eq(0)]
        with m.If(~busy):
            m.d.sync += [cmd.d.eq(core.desc), it["valid"].eq(1),
                         comp_pending.eq(0), dma_pending.eq(0), nxt_fresh.eq(0)]
            itr.reset(cmd.desc)
            for r in (r_ld, r_cp, r_wb):
                m.d.sync += [r.valid.eq(0), r.ha.eq(1), r.hb.eq(1), r.ho.eq(1)]
        # The check's products' test (``too_big``, a register) confirms a passed check a
        # cycle later: slot 0's end (two cycles after the check) waits for it, and a block
        # too big for the buffers is refused then, before any transfer.
        confirming = Signal(name="confirming")
        with m.If(checking):
            m.d.sync += checking.eq(0)
            with m.If(cmd.err_code != 0):
                m.d.sync += [busy.eq(0), error.eq(1), reason.eq(cmd.err_code), it["valid"].eq(0)]
            with m.Else():
                m.d.sync += [running.eq(1), confirming.eq(1)]
        with m.If(confirming):
            m.d.sync += confirming.eq(0)
            with m.If(cmd.too_big):
                m.d.sync += [busy.eq(0), error.eq(1), reason.eq(CoreError.TOO_BIG),
                             it["valid"].eq(0), running.eq(0)]
        with m.If(comp_ending):
            m.d.sync += comp_pending.eq(0)
        with m.If(dma_ending):
            m.d.sync += dma_pending.eq(0)
        with m.If(slot_end):
            m.d.sync += [nxt_fresh.eq(0), comp_pending.eq(next_comp),
                         dma_pending.eq(next_load | next_wb)]
            with m.If(~next_load & ~next_comp & ~next_wb):
                m.d.sync += [running.eq(0), busy.eq(0), done.eq(1)]
        self.comp_pending, self.comp_ending, self.dma_ending = comp_pending, comp_ending, dma_ending
        self.slot_end, self.next_load, self.next_comp, self.next_wb = (
            slot_end, next_load, next_comp, next_wb)
        self.m, self.cmd, self.shift = m, cmd, shift
        self.dma_pending, self.nxt_fresh = dma_pending, nxt_fresh

    def end_of(self, group: str) -> Value:
        """The slot's end as ``group``'s copy gives it."""
        return self.ends[group]

    def next_end_of(self, group: str) -> Value:
        """What ``group``'s copy of the slot's end holds next cycle (from registers)."""
        return self.ends_next[group]

    def close(self, seq: _TileSequencer) -> None:
        """Load the slot end's registers from the run's and the parts' registers.

        Built with PE stages, the compute's part is a register too (``comp_done``: the
        compute done, or its result due, in this cycle), loaded with that test for the next
        cycle (the tile's result due next cycle is known a cycle ahead); without, the result
        is due in the cycle the array's front frees (its ready), so its test stays in the
        copies' cone. At a slot's end ``comp_done`` takes the next block's (nothing to
        compute, or not done: no compute ends in its slot's first cycle)."""
        m, cmd = self.m, self.cmd
        if seq.result_next is not None:
            comp_done = Signal(name="comp_done")
            comp_pending_next = ~(self.comp_ending | ~cmd.busy) & self.comp_pending
            m.d.sync += comp_done.eq(Mux(self.slot_end, ~self.next_comp,
                                         ~comp_pending_next
                                         | (seq.result_next & seq.busy_last_next)))
        else:
            comp_done = ~self.comp_pending | self.comp_ending
        # Each copy reads itself, not the control's copy: no copy fans out across the die.
        for g, e in self.ends.items():
            m.d.comb += self.ends_next[g].eq(~e & cmd.running & ~cmd.too_big & comp_done
                                             & ~self.dma_pending)
            m.d.sync += e.eq(self.ends_next[g])


class _Load:
    """The load: read requests for the next block and the beats they return, written into
    the activation, weight and scale buffers."""

    def __init__(self, m: Module, c: CoreConfig, core: AccelCore, buf: _Buffers,
                 rec: _Records, slot: _SlotControl, shift_lw) -> None:
        alb, blb = c.beats_per_line(c.a_line_bits), c.beats_per_line(c.b_line_bits)
        slb = c.beats_per_line(c.s_line_bits)
        r_nxt, slot_end, next_load = rec.r_nxt, slot.end_of("ld"), slot.next_load
        # The load's beats read the load record through a view on a shift copy of their own
        # (``shift_lw``), not the records' (``shift_ld``, which enables the load record's
        # hundreds of registers): on the 8x8 of 6ccedfc, seed 1, the records' ``shift_ld``
        # -> 7.50 ns of route -> the view's ``nb`` -> the weight beats' test -> a buffer's
        # write enable led, 14.77 ns.
        v_ld = _RecordView(rec.r_ld, r_nxt, shift_lw, enter=rec.enter)
        rd_start = slot_end & next_load
        # The requests after a load's first read the load record's fields from registers of
        # their own, loaded from the next block's record at the slot's end, as the
        # load record is an edge later (the next record holds the block over both edges: no
        # slot ends in the cycle after one), so they equal the load record's view from the
        # cycle after the slot's end on, without its shift's multiplexer in front of the
        # generator's phase search (on the 8x8 of ab8ae90, seed 2: ``nxt_cn_nz`` -> the
        # view's ``load_b`` -> the counts' tests -> ``rreq_phase``, 13.61 ns). The core
        # tests' bench checks each equal to the view in every cycle (`AccelCore.request_copies`).
        phase_fields = sorted({f for f in _Record.FIELDS if f.startswith(("cm_", "cn_"))}
                              | {f"{x}_{y}" for x in "abs" for y in ("addr", "stride", "beats")}
                              | {"load_a", "load_b"})
        rq, self.request_copies = _record_copy(m, "rq_ld", phase_fields, slot_end, r_nxt, v_ld)
        # Next cycle, a start is the slot end's next value with the next record's valid and
        # phases as they are now (no slot ends in the cycle after the next block's record
        # changes: it is not fresh then).
        rgen = _RequestGen(m, "rreq", [(rd_start, r_nxt.phases())], rq.phases(),
                           core.rd_req_ready,
                           ahead=[(slot.next_end_of("ld") & r_nxt.valid, r_nxt.phases())])
        self.request_outs, self.request_starts = [rgen.refs], [rgen.start_regs]
        m.d.comb += [core.rd_req_valid.eq(rgen.valid), core.rd_req_addr.eq(rgen.addr),
                     core.rd_req_beats.eq(rgen.beats), core.rd_ready.eq(1)]
        ld_active = Signal()
        ld_count = Signal(BEATS_BITS)
        # The count restarts with the load's block: 0 in the cycle after the slot's end (the
        # register restarts from there too, like the records).
        ld_n = Mux(shift_lw, 0, ld_count)
        na, nb = v_ld.na, v_ld.nb
        rd_fire = core.rd_valid & core.rd_ready
        # ``ld_at_last``: the next beat is the load's last (registered, so the end of a slot
        # does not wait for a counter comparison).
        ld_at_last = Signal()
        ld_last = ld_active & rd_fire & ld_at_last
        m.d.sync += ld_count.eq(ld_n + (rd_fire & ld_active))
        with m.If(slot_end):
            m.d.sync += [ld_active.eq(next_load), ld_at_last.eq(r_nxt.load_is_one_beat())]
        with m.Elif(rd_fire & ld_active):
            m.d.sync += ld_at_last.eq(ld_n == v_ld.ld_m2)
            with m.If(ld_last):
                m.d.sync += ld_active.eq(0)
        # Beat i of the load: activations, then weight codes, then scales, lines in order.
        in_b = ld_n - na
        in_s = ld_n - na - nb
        targets = [("a", ld_n, alb, c.a_lines, v_ld.ha, ld_n < na),
                   ("b", in_b, blb, c.b_lines, v_ld.hb, (ld_n >= na) & (in_b < nb)),
                   ("s", in_s, slb, c.s_lines, v_ld.hb, ld_n >= na + nb)]
        # Each beat is written an edge after it arrives, from registers (address, beat,
        # lane enables): the read data's valid and the beat counter's arithmetic end at those
        # registers, not at the block RAMs' write ports; `_read_through` shows a reader the
        # beat from the edge it arrives at.
        for name, idx, lb, lines, half, sel in targets:
            lg_lb = _log2(lb)
            port, nx = getattr(buf, f"{name}_wr"), buf.wr_next[name]
            m.d.comb += [nx.addr.eq(Cat((idx >> lg_lb)[:_log2(lines)], half)),
                         nx.en.eq(Mux(ld_active & rd_fire & sel,
                                      1 << (idx[:lg_lb] if lg_lb else 0), 0))]
            m.d.sync += [port.addr.eq(nx.addr), port.data.eq(core.rd_data.replicate(lb)),
                         port.en.eq(nx.en)]
        self.ld_last = ld_last


def _tile_widths(c: CoreConfig) -> dict[str, int]:
    """The tile sequencer's counters' widths: each holds at most a block's count less 1, and
    the descriptor check (`CoreError.TOO_BIG`) passes a block only if its tiles' lines fit the
    buffers' halves (ct_m x nkb <= a_lines, ct_n x nkb <= b_lines, ct_n x ng <= s_lines) and
    its output tiles the output buffer's (ct_m x ct_n x rows <= o_lines)."""
    def bits(count: int) -> int:      # holds 0 .. count - 1
        return max(1, (count - 1).bit_length())

    out_tiles = c.o_lines // c.rows
    return {"kb": bits(min(c.a_lines, c.b_lines)), "gb": bits(c.group_size // c.lanes),
            "mt": bits(min(c.a_lines, out_tiles)),
            "nt": bits(min(c.b_lines, c.s_lines, out_tiles)), "a_tb": bits(c.a_lines),
            "b_tb": bits(c.b_lines), "s_tb": bits(c.s_lines), "o_tile": bits(c.o_lines),
            "a_ln": bits(c.a_lines), "b_ln": bits(c.b_lines), "s_ln": bits(c.s_lines)}


class _TileSequencer:
    """The compute: walks the tiles of the block, feeding the array from the buffers, and
    tells when each tile's result comes out of the array."""

    def __init__(self, m: Module, c: CoreConfig, buf: _Buffers, cmd: _Command, rec: _Records,
                 slot: _SlotControl) -> None:
        arr, busy, v_ld, v_cp = cmd.arr, cmd.busy, rec.v_ld, rec.v_cp
        comp_pending, slot_end, next_comp = slot.comp_pending, slot.end_of("seq"), slot.next_comp
        a_rd, b_rd, s_rd = buf.a_rd, buf.b_rd, buf.s_rd
        # a_ln, b_ln, s_ln: the buffer lines of the beat (a_tb + kb, b_tb + kb, s_tb + its
        # group), counted beside the rest so that no adder sits between the array's
        # ``in_ready`` and the buffers' read addresses.
        # Each counter is as wide as the largest value a block the descriptor check passes
        # gives it (`_tile_widths`), not 16 bits: narrower adders and equalities between the
        # tile counters and the buffers' read addresses.
        widths = _tile_widths(c)
        cur = {name: Signal(w, name=f"cur_{name}") for name, w in widths.items()}
        # ``keep``: each read port has copies of it and of ``tile_next_blk`` (below); left
        # unkept, Yosys merges them into one of the copies, which then serves every reader.
        cur_next_blk = Signal(init=1, name="cur_next_blk", attrs={"keep": 1})
        tile_busy, busy_last, tile_front_done = (
            Signal(name=n) for n in ("tile_busy", "busy_last", "tile_front_done"))
        busy_oline = Signal(widths["o_tile"])
        first_beat = Signal(init=1)    # cur["kb"] == 0, registered
        in_valid = comp_pending & ~cur_next_blk & ~(first_beat & tile_busy)
        # ``in_valid`` reaches its readers as registers loaded with its next value (below):
        # the sequencer's own (``keep``), and each array's, from ``in_valid_next``, as are the
        # array's beat registers' enables: on the 8x8 core of 9e7d193, 57.65 MHz, the critical
        # path was this gate of the sequencer's registers -> the array's accept -> its front's
        # ready, 15.40 of 17.34 ns routing. ``in_valid``, the same test of the current state,
        # drives nothing: the core tests' bench checks the registers equal to it in every
        # cycle.
        valid_seq = Signal(name="in_valid_seq", attrs={"keep": 1})
        accept = valid_seq & arr.in_ready
        # The run-time k (the compute record's groups and last group's beats) reaches each
        # array's front from registers of its own (``keep``; the arrays' ``k_ahead``: they
        # take it a cycle ahead and register it, with their tests of it), loaded with the
        # record's view next cycle (the record after a pending shift; the load record's view
        # if the slot ends now, as the compute record shifts from it an edge later), so no
        # shift's multiplexer sits between them and the fronts' group-end tests (on the 4x4 of
        # a16e76d, 70.49 MHz, the critical path was ``shift_cp`` -> the view -> the front
        # copy's group-end tests -> its ready). ``k_ref`` is the view itself, driving nothing:
        # the core tests' bench checks every register equal to it in every cycle.
        k_ref = {f: Signal.like(getattr(arr.array, p + "_next"), name=f"{p}_ref")
                 for f, p in (("ng", "k_groups"), ("last_beats", "k_last_beats"))}
        m.d.comb += [k_ref[f].eq(getattr(v_cp, f)) for f in k_ref]
        k_regs = []
        for block, slot_k in ((arr.array, slot.end_of("k")), (arr.front, slot.end_of("kf"))):
            for i, (f, p) in enumerate((("ng", "k_groups"), ("last_beats", "k_last_beats"))):
                m.d.comb += getattr(block, p + "_next").eq(
                    Mux(slot_k, getattr(v_ld, f), getattr(v_cp, f)))
                k_regs.append((k_ref[f], block.k_regs[i]))
        self.k_regs = k_regs

        # The next tile's start (which tile, where its lines start; all 0 and the next block
        # after the block's last tile) is computed a cycle ahead into registers, from the
        # tile counters and from the block the beats then belong to (the one being loaded
        # while the beats are the next block's: it becomes the compute record at the slot's
        # end, when they stop being so). The tile counters change only a cycle after a tile's
        # last beat (below), so at every tile's last beat these registers hold its successor:
        # no comparison or adder between the tile counters and the buffers' read addresses.
        tile_keys = ("mt", "nt", "a_tb", "b_tb", "s_tb", "o_tile")
        tile_step = Signal()
        tile_next = {k: Signal(widths[k], name=f"tile_next_{k}") for k in tile_keys}
        tile_next_blk = Signal(name="tile_next_blk", attrs={"keep": 1})
        # ``blk``: the block's fields the successor reads, registers of that choice (a cycle
        # late; they change with the tile counters, below), so that neither the choice nor
        # the records' views (their shift's multiplexers) sit before the step's equalities
        # (the 8x8's seed-3 path at 432d392: ``cur_next_blk`` -> the views -> the
        # equalities -> the tile registers, 14.87 ns). The choice changes a cycle after a
        # block's last tile's last beat (``cur_next_blk``), so its register changes two
        # cycles after, with the tile counters; elsewhere it holds one block's fields (a
        # slot's end turns the load record's view into the compute record's view of the
        # same block). The core tests' bench checks the successor registers against the
        # successor of the live choice at every tile's last beat (`AccelCore.tile_nexts`).
        # Each field as wide as what it is compared with or added to: the check bounds the
        # counts less 1 by the counters' ranges, and nkb and ng by the lines of a half (up to
        # 2**width, so one bit more).
        blk_widths = {"cm_m1": widths["mt"], "cn_m1": widths["nt"],
                      "nkb": max(widths["a_tb"], widths["b_tb"]) + 1, "ng": widths["s_tb"] + 1}
        blk_full = {f: Mux(cur_next_blk, getattr(v_ld, f), getattr(v_cp, f)) for f in blk_widths}
        blk_live = {f: blk_full[f][:w] for f, w in blk_widths.items()}
        blk = {f: Signal(w, name=f"tile_blk_{f}") for f, w in blk_widths.items()}
        m.d.sync += [blk[f].eq(blk_live[f]) for f in blk]

        def steps(base: dict, blk: dict) -> tuple:
            """Whether the tile after ``base`` steps the m / the n counter. A tile counter runs
            from 0 to its count less 1 (the record's ``m1``), so an equality decides the
            step: no adder before a comparator."""
            return base["mt"] != blk["cm_m1"], base["nt"] != blk["cn_m1"]

        def successor(base: dict, step_m: Value, step_n: Value, blk: dict = blk) -> tuple:
            """The tile after ``base`` (its counters and line bases) and whether it is the next
            block's first (then all 0)."""
            nxt = {"mt": Mux(step_m, base["mt"] + 1, 0),
                   "a_tb": Mux(step_m, base["a_tb"] + blk["nkb"], 0),
                   "nt": Mux(step_m, base["nt"], Mux(step_n, base["nt"] + 1, 0)),
                   "b_tb": Mux(step_m, base["b_tb"], Mux(step_n, base["b_tb"] + blk["nkb"], 0)),
                   "s_tb": Mux(step_m, base["s_tb"], Mux(step_n, base["s_tb"] + blk["ng"], 0)),
                   "o_tile": Mux(step_m | step_n, base["o_tile"] + c.rows, 0)}
            return nxt, ~step_m & ~step_n

        # Computed from the tile counters themselves, not from what they are next cycle: they
        # step in the cycle after a tile's last beat (``tile_step``), when these registers
        # still hold the tile they step to, so from then on they hold its successor a cycle
        # later. Nothing reads them in between: they are read at a tile's last beat, and the
        # next tile's first beat waits for this tile's result (a tile lasts at least 3 cycles:
        # a term, a dequantizer cycle and the operand register; `test_core_fast_tiles`' one-beat
        # tiles in 3 cycles). So no multiplexer sits before their adders and comparisons.
        # With PE stages a tile lasts a cycle more per stage (its first beat waits for the
        # previous tile's result to leave them), so the step tests are registers of their
        # own, a cycle ahead of the adders and multiplexers they steer, and the registers hold
        # the successor two cycles after the counters step, in time: on the 8x8 of 6ccedfc
        # (seed 2, 80.07 MHz) the critical path was ``cur_mt`` -> the step's equalities ->
        # 4.92 + 3.16 ns of route -> ``tile_next_o_tile``, 12.49 ns.
        live_steps = steps(cur, blk)
        if c.pipeline:
            tile_steps = (Signal(name="tile_next_step_m"), Signal(name="tile_next_step_n"))
            m.d.sync += [r.eq(v) for r, v in zip(tile_steps, live_steps, strict=True)]
        else:
            tile_steps = live_steps
        nxt_tile, nxt_blk = successor(cur, *tile_steps)
        m.d.sync += [*[tile_next[k].eq(nxt_tile[k]) for k in tile_keys],
                     tile_next_blk.eq(nxt_blk)]
        # The reference reads the fields whole: a field too narrow for its block fails it.
        ref_tile, ref_blk = successor(cur, *steps(cur, blk_full), blk_full)
        tile_refs = [(tile_next[k], ref_tile[k]) for k in tile_keys]
        tile_refs.append((tile_next_blk, ref_blk))
        # Successor of the presented beat.
        succ = {k: Signal.like(v, name=f"succ_{k}") for k, v in cur.items()}
        succ_next_blk = Signal()
        # Whether the presented beat is its tile's last and its group's last: registers,
        # computed with the beat counters from the beat presented next cycle and the block
        # it belongs to (as for the tile's successor above).
        last_of_tile, group_end = Signal(name="last_of_tile"), Signal(name="group_end")
        m.d.comb += [succ[k].eq(v) for k, v in cur.items()]
        m.d.comb += succ_next_blk.eq(0)
        with m.If(~last_of_tile):
            m.d.comb += [succ["kb"].eq(cur["kb"] + 1), succ["a_ln"].eq(cur["a_ln"] + 1),
                         succ["b_ln"].eq(cur["b_ln"] + 1)]
            with m.If(group_end):
                m.d.comb += [succ["gb"].eq(0),
                             succ["s_ln"].eq(cur["s_ln"] + 1)]
            with m.Else():
                m.d.comb += succ["gb"].eq(cur["gb"] + 1)
        with m.Else():
            m.d.comb += [succ["kb"].eq(0), succ["gb"].eq(0),
                         *[succ[k].eq(tile_next[k]) for k in tile_keys],
                         succ["a_ln"].eq(tile_next["a_tb"]), succ["b_ln"].eq(tile_next["b_tb"]),
                         succ["s_ln"].eq(tile_next["s_tb"]), succ_next_blk.eq(tile_next_blk)]
        # Read this cycle what is presented next cycle (re-read while held: writes landing in
        # the buffer meanwhile are seen, the reads being transparent).
        sel = {k: Mux(accept, succ[k], cur[k]) for k in cur}
        sel_next_blk = Mux(accept, succ_next_blk, cur_next_blk)

        def ends(beat, next_blk) -> tuple:
            """(tile end, group end) of ``beat`` of the block ``next_blk`` tells."""
            # nkb <= the buffers' lines <= 2**width: one bit wider than the counter.
            nkb = Mux(next_blk, v_ld.nkb, v_cp.nkb)[:widths["kb"] + 1]
            return (beat["kb"] + 1 == nkb,
                    beat["gb"] + 1 == c.group_size // c.lanes)

        # Both outcomes' tests are computed from registers (the successor and the presented
        # beat); the array's ready (late, from the array's front) only picks one.
        ends_succ, ends_cur = ends(succ, succ_next_blk), ends(cur, cur_next_blk)
        m.d.sync += [last_of_tile.eq(Mux(accept, ends_succ[0], ends_cur[0])),
                     group_end.eq(Mux(accept, ends_succ[1], ends_cur[1]))]

        # Both candidate addresses come from registers; the accept (late: the PEs' control)
        # only picks one, right before the block RAMs' address registers, each port's from
        # registers of its own (`_ArrayAdapter.port_accepts`, equal to ``accept``). A
        # beat of the next block reads that block's half (it is being loaded now). Each read
        # port tells the two beats' blocks from copies of its own of ``tile_next_blk`` and
        # ``cur_next_blk`` (``keep``, loaded with their next values; the successor's is
        # ``tile_next_blk`` at a tile's last beat, else 0): on the 8x8 of 7e56d4b (seed 1,
        # 72.53 MHz) the critical path was the one ``tile_next_blk`` -> 3.91 ns of route
        # across the die -> the weight buffer's address, 13.79 ns. ``blk_copies`` pairs each
        # copy with its original: the core tests' bench checks them equal in every cycle.
        # The two blocks' halves are registers of each port's own too (``keep``), loaded with
        # the records' views next cycle (the compute record's: the load record's view at a
        # slot's end; the load record's: the next record's there; both 1 while idle, as the
        # records'), so no shift's multiplexer sits before the address: on the 8x8 of
        # 85fbb55 all three seeds failed on ``shift_ld`` -> the load record's view of ``hb``
        # -> 4.5-6.3 ns of route -> a read port's half -> the buffer's read-through test
        # (13.90-15.31 ns). They join ``blk_copies``, with the views (``*_ref``).
        half_next = {"cp": lambda h: Mux(slot_end, getattr(v_ld, h), getattr(v_cp, h)),
                     "ld": lambda h: Mux(slot_end, getattr(rec.r_nxt, h), getattr(v_ld, h))}
        cur_next_blk_load = Mux(~busy, 1, Mux(slot_end & next_comp, 0, sel_next_blk))
        self.blk_copies = []
        for name, port, ln, lines, half in (("a", a_rd, "a_ln", c.a_lines, "ha"),
                                            ("b", b_rd, "b_ln", c.b_lines, "hb"),
                                            ("s", s_rd, "s_ln", c.s_lines, "hb")):
            tnb = Signal(name=f"tile_next_blk_{name}", attrs={"keep": 1})
            cnb = Signal(init=1, name=f"cur_next_blk_{name}", attrs={"keep": 1})
            m.d.sync += [tnb.eq(nxt_blk), cnb.eq(cur_next_blk_load)]
            self.blk_copies += [(tile_next_blk, tnb), (cur_next_blk, cnb)]
            views = []
            for who, view in (("cp", v_cp), ("ld", v_ld)):
                reg = Signal(init=1, name=f"rd_{name}_{who}_{half}", attrs={"keep": 1})
                ref = Signal(name=f"rd_{name}_{who}_{half}_ref")
                m.d.comb += ref.eq(getattr(view, half))
                m.d.sync += reg.eq(Mux(~busy, 1, half_next[who](half)))
                self.blk_copies.append((ref, reg))
                views.append(reg)
            nxt = Cat(succ[ln][:_log2(lines)], Mux(last_of_tile & tnb, views[1], views[0]))
            now = Cat(cur[ln][:_log2(lines)], Mux(cnb, views[1], views[0]))
            pick = buf.rd_pick[name]
            m.d.comb += [pick.nxt.eq(nxt), pick.now.eq(now), pick.take.eq(arr.port_accepts[name]),
                         port.addr.eq(Mux(pick.take, pick.nxt, pick.now))]
        # The tile counters (which tile, where its lines start) step a cycle after the tile's
        # last beat is taken, to its successor's registers: the array's ``in_ready`` enables
        # only the beat counters. Nothing reads the tile counters in that cycle: the next
        # tile's first beat waits for this tile's result, at least two cycles away (a term, a
        # dequantizer cycle).
        m.d.sync += tile_step.eq(accept & last_of_tile)
        # For testbenches: where the successor registers are read, and each with its test.
        self.tile_nexts = (accept & last_of_tile, tile_refs)
        with m.If(tile_step):
            m.d.sync += [cur[k].eq(tile_next[k]) for k in tile_keys]
        m.d.sync += [cur[k].eq(sel[k]) for k in cur if k not in tile_keys]
        m.d.sync += cur_next_blk.eq(sel_next_blk)
        with m.If(accept):
            m.d.sync += first_beat.eq(last_of_tile)
        with m.If(slot_end & next_comp):
            # The beat of the next block now belongs to the block being computed.
            m.d.sync += cur_next_blk.eq(0)
        with m.If(~busy):
            m.d.sync += [cur[k].eq(0) for k in cur]
            m.d.sync += [cur_next_blk.eq(1), first_beat.eq(1), tile_busy.eq(0),
                         tile_front_done.eq(0)]

        # The array's front is free again in the dequantizer's last cycle (``in_ready``); the
        # PE pipeline's back end loads the result `pipeline` cycles later, with nothing to
        # wait for (the output is always taken), so the result is loaded in the cycle
        # ``pipeline`` cycles after the front's.
        front_done = tile_busy & ~tile_front_done & arr.in_ready
        result_now = Signal()
        if c.pipeline:
            delay = Signal(c.pipeline, name="result_delay")
            m.d.sync += delay.eq(Cat(front_done, delay[:-1]))
            m.d.comb += result_now.eq(delay[-1])
        else:
            m.d.comb += result_now.eq(front_done)
        m.d.comb += slot.comp_ending.eq(result_now & busy_last)
        # Next cycle's (the slot's end is registered from them; without PE stages the result
        # is due in the cycle the front frees, known only then).
        self.result_next = (None if not c.pipeline else
                            front_done if c.pipeline == 1 else delay[-2])
        self.busy_last_next = Mux(accept & last_of_tile, succ_next_blk, busy_last)
        # ``in_valid`` next cycle: each register's next value, in the order of its assignments,
        # for either outcome of this cycle's handshake (``keep``: computed apart), so the
        # array's late ready only picks one right before the valid registers. Left to the
        # mapper, the ready went in first: on the 8x8 of ce54420 (seed 3, 71.72 MHz) the
        # front's readiness copy -> the accept -> the first-beat and tile-busy logic -> an
        # array's valid copy led, 13.94 ns with 12.48 of route.
        comp_pending_next = Mux(slot_end, next_comp,
                                Mux(slot.comp_ending | ~busy, 0, comp_pending))
        valid_if = []
        for taken in (0, 1):
            cur_next_blk_next = Mux(~busy, 1, Mux(slot_end & next_comp, 0,
                                                  succ_next_blk if taken else cur_next_blk))
            first_beat_next = Mux(~busy, 1, last_of_tile if taken else first_beat)
            tile_busy_next = Mux(last_of_tile if taken else 0, 1,
                                 Mux(result_now, 0, Mux(~busy, 0, tile_busy)))
            v = Signal(name=f"in_valid_if{taken}", attrs={"keep": 1})
            m.d.comb += v.eq(comp_pending_next & ~cur_next_blk_next
                             & ~(first_beat_next & tile_busy_next))
            valid_if.append(v)
        valid_next = Mux(accept, valid_if[1], valid_if[0])
        m.d.sync += valid_seq.eq(valid_next)
        m.d.comb += [arr.array.in_valid_next.eq(valid_next), arr.front.in_valid_next.eq(valid_next)]
        self.valids = (in_valid, valid_seq)
        with m.If(accept & last_of_tile):
            m.d.sync += [tile_busy.eq(1), busy_last.eq(succ_next_blk),
                         busy_oline.eq(cur["o_tile"])]
        with m.Elif(result_now):
            m.d.sync += [tile_busy.eq(0), tile_front_done.eq(0)]
        with m.Elif(front_done):
            m.d.sync += tile_front_done.eq(1)
        self.result_now, self.busy_oline = result_now, busy_oline


class _Drain:
    """Result rows into the output buffer, one per cycle, added to their partial sums.

    Row r of a tile's result is added to its partial sum in the cycle after the drain
    reaches it and the sum is registered (``o_wr``'s address, data and enable), so the line
    is written one edge later: the row select and the adder end at a register, not at the
    block RAM's write port. The next read of the same line (the next k block's tile) comes at
    least one tile period (>= 3 cycles: a term, a dequantizer cycle and the operand register)
    after the previous one's, so it reads the written sum.

    The partial sums are read a cycle ahead into a register (``drain_old``), so the adder
    starts from a flip-flop, not from the block RAM's slow clock-to-output: the read address
    is that of the row the drain adds two cycles on, and a line written at the reading edge
    (a tile period of 3) comes from a register of the written sum. A tile's result may come
    as the previous drain reaches its last row (rows up to a one-beat tile's period), so the
    tile's first line is read while that drain is at its last but one row.
    """

    def __init__(self, m: Module, c: CoreConfig, buf: _Buffers, cmd: _Command, rec: _Records,
                 slot: _SlotControl, seq: _TileSequencer) -> None:
        arr, busy_oline = cmd.arr, seq.busy_oline
        # The drain reads ``result_now`` from registers of its own (``keep``, loaded with its next
        # value), one for the row select ahead of the adder (with more than one row and a single
        # PE stage; with more, each column has a one-hot of its own, below) and one for the
        # line state, the old sum's read address and its written-line test, and what the drain tells
        # the line FIFO (``nx_active``, ``nx_half``, ``ahead``): on the 8x8 of 5e28dc5 the shared
        # register sat across the die from both (seed 1: ``result_now`` -> the read address ->
        # ``drain_written_hit``, 14.57 ns with 6.27 of one route; seed 2: ``drain_ahead``).
        # ``result_copies`` pairs each with what it copies: the core tests' bench checks them
        # equal in every cycle. Without PE stages the result is known only in its cycle.
        self.result_copies = []

        def result_copy(name: str) -> Value:
            if seq.result_next is None:
                return seq.result_now
            reg = Signal(name=f"drain_result_now_{name}", attrs={"keep": 1})
            m.d.sync += reg.eq(seq.result_next)
            self.result_copies.append((seq.result_now, reg))
            return reg

        result_now = result_copy("line")
        # Each column's one-hot is loaded a cycle before a result from ``result_next``, which
        # is a register from two PE stages on (with one, the front's ready decides it).
        column_sels = c.rows > 1 and c.pipeline >= 2
        result_rows = result_copy("rows") if c.rows > 1 and not column_sels else None
        # The compute record's fields the drain and the write-back's prefetcher read come from
        # registers of their own (``keep``), loaded with the record's view next cycle (the
        # load record's view if the slot ends now, as the compute record shifts from it an edge
        # later; its half reset while idle, as the record's is), so no shift's multiplexer
        # sits before the drain's and the prefetcher's tests (on the 4x4 of bd4dcec, 78.20
        # MHz, the critical path was ``shift_cp`` -> the view's ``last_k`` -> the drain's next
        # ``final`` -> the prefetcher's last-line test -> its counts). ``cp_refs`` pairs each
        # with the view (``drain_cp_*_ref``, driving nothing): the core tests' bench checks
        # them equal in every cycle.
        # The drain and the prefetcher each have their own (the two sit apart: on the 8x8 of
        # ce54420, seed 2, one shared ``last_k`` reached the prefetcher's line counts through
        # 6.29 ns of route, 12.96 ns in all).
        v_cp, v_pf = SimpleNamespace(), SimpleNamespace()
        self.cp_refs = []
        cp_next = {}        # (who, field): the copy's value next cycle
        for f in ("first_k", "last_k", "ho", "o_total"):
            view = getattr(rec.v_cp, f)
            ref = Signal.like(getattr(rec.r_cp, f), name=f"drain_cp_{f}_ref", attrs={})
            m.d.comb += ref.eq(view)
            for who, ns in (("drain", v_cp), ("pf", v_pf)):
                if f == ("o_total" if who == "drain" else "first_k"):
                    continue      # not read there
                nxt = Mux(slot.end_of(who), getattr(rec.v_ld, f), view)
                reg = Signal.like(ref, name=f"{who}_cp_{f}", attrs={"keep": 1})
                cp_next[who, f] = Mux(~cmd.busy, 1, nxt) if f == "ho" else nxt
                m.d.sync += reg.eq(cp_next[who, f])
                self.cp_refs.append((ref, reg))
                setattr(ns, f, reg)
        self.cp, self.cp_pf = v_cp, v_pf
        o_old, o_wr, ow = buf.o_old, buf.o_wr, c.array.out_width
        dr_active, dr_first, dr_half = (Signal(name=n)
                                        for n in ("dr_active", "dr_first", "dr_half"))
        dr_last = Signal()         # the drained block is its output block's last k block
        dr_sel = Signal(c.rows)    # one-hot: the result row drained this cycle
        dr_line = Signal(16)       # the output line drained this cycle
        lg_ol = _log2(c.o_lines)
        with m.If(result_now):
            m.d.sync += [dr_active.eq(1), dr_sel.eq(1), dr_line.eq(busy_oline),
                         dr_first.eq(v_cp.first_k), dr_last.eq(v_cp.last_k),
                         dr_half.eq(v_cp.ho)]
        with m.Elif(dr_active):
            m.d.sync += [dr_sel.eq(dr_sel << 1), dr_line.eq(dr_line + 1)]
            with m.If(dr_sel[-1]):
                m.d.sync += dr_active.eq(0)
        # Next cycle's drain state, and the line whose old sum is read now (the row drained
        # two cycles on): a drain's row after next while it has one, else a tile's first
        # line. That is read the cycle before the tile's result is loaded, where
        # ``busy_oline`` and the compute record hold it already (the result comes at least two
        # cycles after the tile's last beat, and the slot cannot end while a tile of its block
        # is in the PEs), possibly while the previous drain is at its last but one row.
        nx_active = result_now | (dr_active & ~dr_sel[-1])
        nx_half = Mux(result_now, v_cp.ho, dr_half)
        dr_more = dr_active & ~dr_sel[-1] & (~dr_sel[-2] if c.rows > 1 else 1)
        old_lines = (Cat((busy_oline + 1)[:lg_ol], v_cp.ho),
                     Cat((dr_line + 2)[:lg_ol], dr_half), Cat(busy_oline[:lg_ol], v_cp.ho))

        def pick(new_tile, more, idle):
            return Mux(result_now, new_tile, Mux(dr_more, more, idle))

        m.d.comb += o_old.addr.eq(pick(*old_lines))
        # A line written at the reading edge: its sum from a register of the write port's data.
        # The write address is compared with each candidate read line, and the result picks a
        # test, so the late ``result_now`` meets one multiplexer, not the compare.
        written = Signal(c.cols * ow, name="drain_written", reset_less=True)
        written_hit = Signal(name="drain_written_hit")
        old_q = Signal(c.cols * ow, name="drain_old", reset_less=True)
        m.d.sync += [written.eq(o_wr.data),
                     written_hit.eq(o_wr.en & pick(*(o_wr.addr == line for line in old_lines))),
                     old_q.eq(Mux(written_hit, written, o_old.data))]
        # The drained row: row 0 from the array, the others selected a cycle ahead into a
        # register (``drain_ahead``, with next cycle's one-hot), so only a 2:1 choice sits
        # between the array's output registers and the adder (at 8x8 the AND-OR of 8 rows, fed
        # from PEs across the die, was on that path). A result stays in the PEs' output
        # registers until its drain's last row (the next one is loaded at that row's edge at
        # the earliest), so rows 1.. read a cycle early are the rows drained. ``drain_row_ref``
        # is the AND-OR of the current one-hot, driving nothing: the core tests' bench checks
        # the two equal in every cycle.
        row_ref = Signal(c.cols * ow, name="drain_row_ref")
        m.d.comb += row_ref.eq(Cat(*[_row_select(arr, dr_sel, col) for col in range(c.cols)]))
        row = Signal(c.cols * ow, name="drain_row")
        if c.rows > 1:
            ahead = Signal(c.cols * ow, name="drain_ahead")
            if not column_sels:
                sel_next = Mux(result_rows, 1, Mux(dr_active, dr_sel << 1, dr_sel))[:c.rows]
                selects = [sel_next] * c.cols
            else:
                # Each column selects its row from a one-hot of its own (``keep``): next
                # cycle's, a shift register loaded with 1 a cycle before a result
                # (``result_next``) and shifted otherwise (the drain's one-hot is 0 while it is
                # idle, so it shifts out), so the select of each column's rows is computed
                # beside them: the shared one-hot and its next value crossed the die
                # twice (the 8x8 of ab8ae90, seed 3: ``dr_sel`` -> 4.79 ns -> its next value
                # -> 4.78 ns -> ``drain_ahead``, 13.55 ns). ``result_copies`` pairs each with
                # the drain's next one-hot (``drain_sel_next_ref``, driving nothing).
                sel_ref = Signal(c.rows, name="drain_sel_next_ref")
                m.d.comb += sel_ref.eq(
                    Mux(result_now, 1, Mux(dr_active, dr_sel << 1, dr_sel))[:c.rows])
                selects = []
                for col in range(c.cols):
                    sel = Signal(c.rows, name=f"drain_sel_next_{col}", attrs={"keep": 1})
                    m.d.sync += sel.eq(Mux(seq.result_next, 1, sel << 1)[:c.rows])
                    self.result_copies.append((sel_ref, sel))
                    selects.append(sel)
            m.d.sync += ahead.eq(Cat(*[_row_select(arr, selects[col], col, first=1)
                                       for col in range(c.cols)]))
            m.d.comb += row.eq(Mux(dr_sel[0], Cat(*[arr.row(0)[col] for col in range(c.cols)]),
                                   ahead))
        else:
            m.d.comb += row.eq(row_ref)
        self.rows = (row_ref, row)
        # Inf/NaN (status bit 3): the PEs' flags of a result (sticky over its groups, loaded
        # with it, held until its drain's last row like the result) are ORed per row into
        # registers in the drain's first cycle, and those into the command's sticky bit a
        # cycle later, while the write-back still has the drained lines to write: the OR
        # across the array shares no path with the drain's selects.
        nf = arr.array.nonfinite
        nf_rows = Signal(c.rows, name="drain_nf_rows")
        nf_taken = Signal(name="drain_nf_taken")   # nf_rows hold a result's flags
        m.d.sync += [nf_rows.eq(Cat(*[nf[r * c.cols:(r + 1) * c.cols].any()
                                      for r in range(c.rows)])),
                     nf_taken.eq(dr_active & dr_sel[0])]
        with m.If(nf_taken & nf_rows.any()):
            m.d.sync += cmd.nonfinite.eq(1)
        sums = []
        for col in range(c.cols):
            old = old_q[col * ow:(col + 1) * ow].as_signed()
            new = Signal(ow, name=f"drain_sum{col}")
            m.d.comb += new.eq(Mux(dr_first, 0, old) + row[col * ow:(col + 1) * ow].as_signed())
            sums.append(new)
        wr_line = Signal(lg_ol + 1)
        m.d.sync += [o_wr.data.eq(Cat(*sums)), o_wr.en.eq(dr_active),
                     wr_line.eq(Cat(dr_line[:lg_ol], dr_half))]
        m.d.comb += o_wr.addr.eq(wr_line)
        self.sums = Cat(*sums)     # the write port's data next cycle
        self.active, self.sel, self.line, self.half, self.last = (
            dr_active, dr_sel, dr_line, dr_half, dr_last)
        self.nx_active, self.nx_half, self.written = nx_active, nx_half, written
        # Next cycle's drain state (for the prefetcher's registers of what it finishes then,
        # `_LineFifo`), where the result's time is known a cycle ahead (PE stages).
        self.ahead = None
        if seq.result_next is not None:
            rn = seq.result_next
            sel_last = Mux(result_now, 1, Mux(dr_active, dr_sel << 1, dr_sel))[:c.rows][-1]
            active = rn | (nx_active & ~sel_last)
            last = Mux(result_now, v_cp.last_k, dr_last)
            self.ahead = SimpleNamespace(
                final=active & Mux(rn, cp_next["pf", "last_k"], last),
                half=Mux(rn, cp_next["pf", "ho"], nx_half),
                starts=rn & cp_next["pf", "last_k"], start_half=cp_next["pf", "ho"])


class _WriteBack:
    """The write-back: write requests and their beat count (a block's write-back starts with
    its slot, or after the slot's load); its end, or the load's, ends the slot's DRAM part."""

    def __init__(self, m: Module, c: CoreConfig, core: AccelCore, rec: _Records,
                 slot: _SlotControl, load: _Load) -> None:
        olb = c.beats_per_line(c.o_line_bits)
        r_cp, v_wb, ld_last = rec.r_cp, rec.v_wb, load.ld_last
        busy = slot.cmd.busy
        slot_end = slot.end_of("wb")
        # ``wb_go``: a write-back starts with the slot if the slot ends (a write-back due, no
        # load): a register (``keep``, beside the write requests) loaded with the test's next
        # value, the compute record's as the write-back's shift copy makes it and the next
        # record's valid as its own register takes it, so the slot's end meets one gate before
        # the request generator. As a test on the records (up to lead32) the records' route
        # from beside the array led the 8x8's seed 3 (`cp_last_k` -> `wreq_left`, 14.24 ns,
        # 86 of its 145 endpoints over 12.5 ns). ``wb_go_ref`` is the test, driving nothing:
        # the core tests' bench checks the two equal in every cycle.
        wb_go = Signal(name="wb_go", attrs={"keep": 1})
        go_ref = Signal(name="wb_go_ref")
        m.d.comb += go_ref.eq(slot.next_wb & ~slot.next_load)
        r_ld, shift_wb = rec.r_ld, slot.shift["wb"]
        wb_go_next = Signal(name="wb_go_next")
        m.d.comb += wb_go_next.eq(busy & ~rec.nxt_valid_next
                                  & Mux(shift_wb, r_ld.valid & r_ld.last_k,
                                        r_cp.valid & r_cp.last_k))
        m.d.sync += wb_go.eq(wb_go_next)
        wb_start_slot = slot_end & wb_go
        # ``wb_due``: the write-back record (as its view shows it) has a write-back to send; a
        # register loaded with its next value (the compute record's after a slot's end: the
        # records shift an edge later), so the load's last beat meets a register, not the
        # view's multiplexers on ``shift_wb``. ``wb_due_ref`` is the view's test, driving
        # nothing: the core tests' bench checks the two equal in every cycle.
        wb_due, due_ref = Signal(name="wb_due"), Signal(name="wb_due_ref")
        m.d.comb += due_ref.eq(busy & v_wb.valid & v_wb.last_k)
        m.d.sync += wb_due.eq(busy & Mux(slot_end, r_cp.valid & r_cp.last_k,
                                         v_wb.valid & v_wb.last_k))
        self.regs = [(wb_due, due_ref), (wb_go, go_ref)]
        # After the load, the write-back starts a cycle after its last beat, from a register
        # (the simulator charges the cycle as the core's `transfer_cycles`, with the DMA done
        # a cycle after its last beat). Its next value (the read stream's valid at the load's
        # last beat) picks the write request generator's presentation a cycle ahead, about 60
        # multiplexers (`_RequestGen`); the request port itself is a register.
        wb_start_load = Signal(name="wb_start_load")
        start_load_next = ld_last & wb_due
        m.d.sync += wb_start_load.eq(start_load_next)
        wb_start = wb_start_slot | wb_start_load
        # Started with the slot, the block is still the compute record (no view: see the slot
        # control); after the load, the write-back record. The requests after a start read
        # the write-back record's fields from registers of their own (``wq_wb``), loaded from
        # the compute record at the slot's end, which the write-back record is an edge later
        # (the compute record holds the block over both edges), so they equal the write-back
        # record's view in every cycle without its shift's multiplexer in front of the
        # generator's next state (on the 8x8 of 6fbd093, the view's ``cn`` tests -> the phase
        # step -> the beats' candidates -> ``wreq_beats``: the netlist's deepest cone). The
        # core tests' bench checks each equal to the view in every cycle
        # (`AccelCore.request_copies`).
        wq_fields = ("last_k", "o_addr", "o_stride", "o_beats",
                     *(f"cn_{t}" for t in ("nz", "n1", "n2", "m1", "m2")))
        wq, self.request_copies = _record_copy(m, "wq_wb", wq_fields, slot_end, r_cp, v_wb)
        # Next cycle, the compute record is its view now; a start after the load presents the
        # copies as they are now (no slot ends at a load's last beat: the load's DMA is
        # pending in the cycle before). Both starts' phases hold over the edge before them
        # (`_RequestGen`): the compute record shifts an edge after a slot's end and no slot
        # ends in the cycle after that (the next block's record is not fresh then), and the
        # copies change only at a slot's end. Computed in the start's cycle (437f425), the
        # slot start's address adder was shared with the running request's by Yosys
        # (`opt_share`: one adder behind multiplexers on the start), putting ``slot_end_wb``
        # in front of the adder: that netlist's deepest cone. The start registers are picked
        # by the slot end's next value alone (a slot start follows it, a start after the load
        # never does): with the start's full next condition (``wb_go_next``, from the
        # iterator's next valid), b5964dc's netlist ran five LUTs to that pick, fanned out to
        # the 140 start registers.
        wgen = _RequestGen(m, "wreq", [(wb_start_slot, r_cp.wb_phases()),
                                       (wb_start_load, wq.wb_phases())],
                           wq.wb_phases(), core.wr_req_ready,
                           ahead=[(slot.next_end_of("wb") & wb_go_next, rec.v_cp.wb_phases()),
                                  (start_load_next, wq.wb_phases())],
                           picks=[slot.next_end_of("wb"), Const(1)])
        self.request_outs, self.request_starts = [wgen.refs], [wgen.start_regs]
        m.d.comb += [core.wr_req_valid.eq(wgen.valid), core.wr_req_addr.eq(wgen.addr),
                     core.wr_req_beats.eq(wgen.beats)]
        wb_active = Signal()
        wb_count = Signal(BEATS_BITS)
        ws = Signal(range(max(olb, 2)))
        wr_fire = core.wr_valid & core.wr_ready
        wb_at_last = Signal()      # the next beat is the write-back's last
        wb_last = wb_active & wr_fire & wb_at_last
        m.d.comb += slot.dma_ending.eq(wb_last | (ld_last & ~wb_due))
        with m.If(wb_start):
            m.d.sync += [wb_active.eq(1), wb_count.eq(0),
                         wb_at_last.eq(Mux(wb_start_slot, r_cp.o_one, v_wb.o_one))]
        with m.Elif(wr_fire):
            m.d.sync += [wb_count.eq(wb_count + 1), wb_at_last.eq(wb_count == v_wb.o_m2)]
            with m.If(wb_last):
                m.d.sync += wb_active.eq(0)
        # The beat counter of a line. A write-back starts with it at a line's start (the one
        # before ended on a line's last beat, which may leave in the start's cycle: the
        # counter wraps to 0 then), so the start does not reset it: that would put the slot's
        # end (the read stream's late valid) in front of it and of the write stream's
        # registered beat selects, which load its next value (the 4x4's critical path with
        # the start in that, 65.20 MHz; the 8x8's ``rd_valid`` -> ``ws``, 12.95 ns at
        # 432d392). The core tests' bench checks the selects in every cycle.
        self.ws_next = Mux(wr_fire, Mux(ws == olb - 1, 0, ws + 1), ws)
        m.d.sync += ws.eq(self.ws_next)
        self.active, self.ws = wb_active, ws
        # The write-back's state next cycle for either outcome of this cycle's handshake (a
        # beat held, a beat leaving), for the write stream's registered valid.
        self.active_next_if = (wb_start | wb_active, wb_start | (wb_active & ~wb_at_last))
        self.pop = wr_fire & (ws == olb - 1)      # a line's last beat leaves


class _LineFifo:
    """The write-back's lines, read ahead into a FIFO of whole lines.

    The write stream is fed from a FIFO of whole lines (fabric registers), so its data and
    valid are registers and its (external, late) ready only counts beats and lines: it
    reaches no block RAM address. The write-back copy's read address is a register, loaded a
    cycle ahead by a prefetcher that walks the lines of each write-back in order, as soon as
    their sums are final; the RAM's read data goes through the transparency muxes into a
    FIFO entry. Output blocks alternate halves and each has one write-back, so the
    prefetcher's half simply toggles after a write-back's last line, and it may read the
    next write-back's first lines while this one is still sending. A line is final once the
    drain computed it in the block's last k block: the drain writes a block's lines once
    each, in line order, so a count per half says which.
    """

    def __init__(self, m: Module, c: CoreConfig, core: AccelCore, buf: _Buffers,
                 cmd: _Command, rec: _Records, seq: _TileSequencer, drain: _Drain,
                 wb: _WriteBack) -> None:
        olb = c.beats_per_line(c.o_line_bits)
        lg_olb, lg_ol, ow, bus = _log2(olb), _log2(c.o_lines), c.array.out_width, buf.bus
        v_cp, result_now, pop, busy = drain.cp_pf, seq.result_now, wb.pop, cmd.busy
        o_wr, o_out = buf.o_wr, buf.o_out
        dr_active, dr_line = drain.active, drain.line
        dr_half, dr_last = drain.half, drain.last
        # Enough to send a line every olb cycles with the next line in an entry (a register)
        # whenever a line leaves: a line read from the RAM arrives two cycles after its read
        # is issued, as the line before it leaves at the earliest (see ``late`` below).
        depth = {1: 4, 2: 3}.get(olb, 2)
        lines = range(c.o_lines + 1)
        nx_dr_active, nx_dr_half = drain.nx_active, drain.nx_half
        nx_final = nx_dr_active & Mux(result_now, v_cp.last_k, dr_last)
        # Per half: the drain computes a final line of it next cycle (``fin``), a write-back's
        # drain starts now (``starts``). With PE stages, registers loaded a cycle ahead from
        # the drain's next state (`_Drain.ahead`, ``keep``): ``result_now`` and the drain's
        # state sit beside the array, the prefetcher beside the write stream, and on the 8x8
        # of 6b5d92a (seeds 2 and 3) their route across the die (5.89 ns) -> these tests -> the
        # read's issue and the job's end -> the line counts led, 14.30 ns. ``ahead_refs``
        # pairs each register with the test it stands for: the core tests' bench checks them
        # equal in every cycle.
        drain_starts = result_now & v_cp.last_k
        fin_ref = [nx_final & (nx_dr_half == h) for h in range(2)]
        starts_ref = [drain_starts & (v_cp.ho == h) for h in range(2)]
        self.ahead_refs = []
        if drain.ahead is None:
            fin, starts = fin_ref, starts_ref
        else:
            a = drain.ahead
            fin = [Signal(name=f"wb_fin{h}", attrs={"keep": 1}) for h in range(2)]
            starts = [Signal(name=f"wb_starts{h}", attrs={"keep": 1}) for h in range(2)]
            for h in range(2):
                m.d.sync += [fin[h].eq(a.final & (a.half == h)),
                             starts[h].eq(a.starts & (a.start_half == h))]
                self.ahead_refs += [(fin[h], fin_ref[h]), (starts[h], starts_ref[h])]
        # final[h]: lines of half h whose final sum the drain computes by this cycle (counted
        # a cycle ahead); wb_lines[h]: lines of half h's write-back, set as its drain starts.
        final = [Signal(lines, name=f"wb_final{h}") for h in range(2)]
        total = [Signal(lines, name=f"wb_lines{h}") for h in range(2)]
        block_lines = (v_cp.o_total >> lg_olb)[:len(total[0])]
        for h in range(2):
            with m.If(starts[h]):
                m.d.sync += total[h].eq(block_lines)
        pf_half, pf_line = Signal(name="pf_half"), Signal(lines, name="pf_line")
        rd_addr = Signal(lg_ol + 1)
        # A line read this cycle, its data now.
        rd_issue, rd_arrive = Signal(name="rd_issue"), Signal(name="rd_arrive")
        fifo_n = Signal(range(depth + 1))
        # The read issued next cycle: the next line is final by then (the drain computes it
        # next cycle at the latest: the transparency muxes catch it) and the FIFO has room
        # for it when it arrives (entries held, the read in flight, this cycle's pop).
        pf_final = Mux(pf_half, final[1], final[0])
        pf_total = Mux(Mux(pf_half, starts[1], starts[0]), block_lines,
                       Mux(pf_half, total[1], total[0]))
        in_use = fifo_n + rd_arrive + rd_issue
        # A line's last beat leaving (``pop``, the external ready's handshake) frees its entry
        # for a read issued in the same cycle only where lines are one or two beats: from
        # four beats on, the read issued a cycle later (in the cycle after the pop) still
        # arrives (three cycles after the pop) before the line ahead of it, the head since
        # the pop, leaves on its fourth beat at the earliest, so no line is ``late`` for it
        # and no cycle changes; and the stream's handshake stays off the prefetcher's state
        # (the 8x8's ``wr_valid`` -> ``pop`` -> ``room`` -> the read's issue -> the line
        # counts, routes of 4.6 and 3.4 ns at 432d392, 14.3 ns). Lines are a power of two
        # beats (the bus and the lines are powers of two).
        room = Mux(pop, in_use <= depth, in_use < depth) if olb <= 2 else in_use < depth
        issue = ((pf_line != pf_final) | Mux(pf_half, fin[1], fin[0])) & room
        job_done = issue & (pf_line + 1 == pf_total)
        fifo_n_next = Signal.like(fifo_n)
        m.d.comb += fifo_n_next.eq(fifo_n + rd_arrive - pop)
        m.d.sync += [rd_issue.eq(issue), rd_arrive.eq(rd_issue), fifo_n.eq(fifo_n_next)]
        # ``rd_line``: a kept copy of the read address for the transparency tests below (the
        # address register sits at the block RAM's address inputs; at 8x8 its route from
        # there to the tests, 4.5 ns, led the write stream's valid, 14.2 ns at 432d392).
        rd_line = Signal.like(rd_addr, name="wb_rd_line", attrs={"keep": 1})
        with m.If(issue):
            line = Cat(pf_line[:lg_ol], pf_half)
            m.d.sync += [rd_addr.eq(line), rd_line.eq(line), pf_line.eq(pf_line + 1)]
            with m.If(job_done):
                m.d.sync += [pf_line.eq(0), pf_half.eq(~pf_half)]
        # A job is done when its last line is issued, even one the drain computes next
        # cycle (counted by nx_final in this cycle): nothing of that half is left to count.
        for h in range(2):
            m.d.sync += final[h].eq(Mux(job_done & (pf_half == h), 0,
                                        final[h] + fin[h]))
        m.d.comb += o_out.addr.eq(rd_addr)
        # Transparency by hand: block RAM read ports are not transparent to the other port,
        # so a line written at the edge that reads it is taken from a bypass register, and a
        # line whose sum the drain computes in the reading cycle from the write port's data
        # register (written an edge later).
        bypass = drain.written
        bypass_hit, pending_hit = Signal(name="bypass_hit"), Signal(name="pending_hit")
        pending_now = dr_active & (Cat(dr_line[:lg_ol], dr_half) == rd_line)
        m.d.sync += [bypass_hit.eq(o_wr.en & (o_wr.addr == rd_line)), pending_hit.eq(pending_now)]
        self.rd_lines = (rd_addr, rd_line)
        # The write stream's valid is a register, loaded with what it is next cycle (the
        # write-back active, and a line in the FIFO or falling through; nothing while idle):
        # through the stream's last beat it decides the DMA's end, and the FIFO's count and
        # hit also select among the lines' hundreds of bits, nets spread over the FIFO.
        # Next cycle's head must be in registers this cycle (the write stream's data are a
        # register loaded with its beat, below): a line arriving from the RAM's read data (not
        # falling through from the write port's or the bypass register) that is the head next
        # cycle (the FIFO otherwise empty by then) shows next cycle without a valid (``late``:
        # a cycle later than a combinational head would send it). With the FIFO's depth above
        # the prefetcher reads each line early enough: in a random search (40 GEMMs on the
        # two-beat and the one-beat-a-line test cores, DRAM latency 0-3, with and without
        # stalls) ``late`` was never set, so the term is defensive and no test kills its
        # removal; with one entry less (a line a beat) it was set 85 times and cost 15 cycles
        # on one GEMM, which `test_write_back_fifo_keeps_the_cycles_exact` now runs.
        # Its next value for either outcome of this cycle's handshake, the ready picking at
        # the register (as for the selects below).
        wr_valid = Signal(name="wr_valid_q")
        fire = wr_valid & core.wr_ready
        # For a beat held (0) / leaving (1): whether a line's last beat leaves, and the FIFO's
        # count next cycle (the selects below take them too).
        ws_last = wb.ws == olb - 1
        outcome = {fired: (popped, (fifo_n + rd_arrive - popped)[:len(fifo_n)])
                   for fired, popped in ((0, Const(0)), (1, ws_last))}
        valid_if = []
        for fired in (0, 1):
            popped, n_f = outcome[fired]
            late_f = (rd_arrive & ~pending_hit & ~bypass_hit
                      & Mux(popped, fifo_n == 1, fifo_n == 0))
            v = Signal(name=f"wr_valid_if{fired}", attrs={"keep": 1})
            m.d.comb += v.eq(wb.active_next_if[fired] & busy & ~late_f
                             & ((n_f != 0) | (rd_issue & pending_now)))
            valid_if.append(v)
        m.d.sync += wr_valid.eq(Mux(fire, valid_if[1], valid_if[0]))
        read_line = Mux(pending_hit, o_wr.data, Mux(bypass_hit, bypass, o_out.data))
        # Entries are read only while the FIFO holds them (its count is reset): no reset.
        fifo = [Signal(c.cols * ow, name=f"wb_fifo{i}", reset_less=True) for i in range(depth)]
        wp, rp = Signal(range(depth), name="wb_fifo_wp"), Signal(range(depth), name="wb_fifo_rp")
        with m.If(rd_arrive):
            m.d.sync += wp.eq(Mux(wp == depth - 1, 0, wp + 1))
            for i, entry in enumerate(fifo):
                with m.If(wp == i):
                    m.d.sync += entry.eq(read_line)
        with m.If(pop):
            m.d.sync += rp.eq(Mux(rp == depth - 1, 0, rp + 1))
        with m.If(~busy):
            m.d.sync += [pf_half.eq(0), pf_line.eq(0), rd_issue.eq(0), rd_arrive.eq(0),
                         fifo_n.eq(0), wp.eq(0), rp.eq(0), *[f.eq(0) for f in final]]
        # Empty, the FIFO lets a line read in the cycle the drain computed it fall through
        # from the write port's data register: the drain's last lines are sent as early as
        # a direct read would send them (a line read from the RAM waits in an entry).
        # ``wr_data_ref`` is that head's beat, driving nothing (the core tests' bench checks
        # it equal to the port in every cycle).
        head = o_wr.data
        for i in range(depth):
            head = Mux((fifo_n != 0) & (rp == i), fifo[i], head)
        m.d.comb += core.wr_valid.eq(wr_valid)

        def words(line, name: str) -> Value:
            """An output line as it leaves for DRAM: each result a sign-extended word."""
            out = [Signal(signed(c.word_bits), name=f"{name}{col}") for col in range(c.cols)]
            m.d.comb += [w.eq(line[col * ow:(col + 1) * ow].as_signed())
                         for col, w in enumerate(out)]
            return Cat(*out)

        def beat(line: Value, idx) -> Value:
            if olb == 1:
                return line
            return line[:bus] if isinstance(idx, int) else line.word_select(idx, bus)

        ref = Signal(bus, name="wr_data_ref")
        m.d.comb += ref.eq(beat(words(head, "wb_word"), wb.ws))
        # The port is a register (``wr_data_q``), loaded with the beat that head shows next
        # cycle, so the stream's data leave the core from flip-flops (at 8x8 the head's
        # multiplexers and the beat select sat between the FIFO's count and the I/O across
        # the die). Next cycle's head is this cycle's FIFO entry at the (next) read pointer,
        # the line arriving into it from the write port's or the bypass register (from the
        # RAM it is ``late``), or the drain's sum falling through (the FIFO empty), chosen by
        # registers, so the RAM's slow read data stay off this register's inputs; the
        # (external, late) ready only picks at the end between a beat taken (the next beat of
        # this line, or the next line's first) and one held.
        # The drain's sum does not enter ``wr_data_q`` (on 966a7aa's 4x4 its adder's carry
        # chain, the head multiplexers and the beat select before that register were the
        # critical path): a line falling through is shown from the write port's data register
        # it is in by then, through one 2:1 choice on a register at the port (``wb_fall``).
        # A head falling through is sent from its first beat: the FIFO is empty and no line
        # arrives, so none is valid this cycle (a valid head with the FIFO empty is a line
        # arriving), nothing moved the beat counter off the line's start, and ``wb_fall``
        # shows that first beat for one cycle only (next cycle the line is arriving: its
        # ``fast_line``, a register). Where ``wb_fall`` is set, ``wr_data_q`` holds a
        # don't-care (the fast line).
        # The selects are registers too (at 8x8, sixteen beats a line, the FIFO's count and
        # the beat counter fanned out to the head multiplexers and the beat select across a
        # line's ~1,000 bits led the critical path): one-hot, one bit per (source line, beat)
        # pair, for the beat held and the beat taken, loaded with what they are next cycle
        # (from the FIFO's, the read pointer's, the pending hit's and the beat counter's next
        # values). Each bit then enables one beat's bits of one line, and the beat is an AND-OR
        # of the registers' lines (the FIFO's entries, the write port's data, the bypass).
        ws = wb.ws
        srcs = [*fifo, o_wr.data, bypass]
        src_words = [words(line, f"wb_src{i}_word") for i, line in enumerate(srcs)]

        def selects(n, ptr, hit, beat_no) -> tuple[list[Value], list[Value]]:
            """One-hot (line, beat) selects of the beat held and the beat taken, with the
            FIFO at count ``n`` and read pointer ``ptr``, the pending hit ``hit`` (the FIFO
            empty: the write port's data register, else the bypass) and beat ``beat_no``."""
            ptr1 = Mux(ptr == depth - 1, 0, ptr + 1)
            held_src = [(n != 0) & (ptr == i) for i in range(depth)] + [(n == 0) & hit,
                                                                         (n == 0) & ~hit]
            popped_src = [(n >= 2) & (ptr1 == i) for i in range(depth)] + [(n < 2) & hit,
                                                                            (n < 2) & ~hit]
            last = beat_no == olb - 1
            held_sel = [h & (beat_no == w) for h in held_src for w in range(olb)]
            taken_sel = [Mux(last, p if w == 0 else Const(0), h & (beat_no + 1 == w))
                         for h, p in zip(held_src, popped_src, strict=True) for w in range(olb)]
            return held_sel, taken_sel

        n_pairs = len(srcs) * olb
        # Reset state: the FIFO empty, no pending hit, beat 0: the bypass's beat 0 held, its
        # beat 1 taken (its beat 0, a line's last, at one beat a line).
        bypass_at = (len(srcs) - 1) * olb
        sel_held = Signal(n_pairs, name="wb_sel_held", init=1 << bypass_at)
        sel_taken = Signal(n_pairs, name="wb_sel_taken",
                           init=1 << (bypass_at + (1 if olb > 1 else 0)))
        # Next cycle's selects for either outcome of this cycle's handshake, each from
        # registers (``keep``: computed apart), so the (external, late) ready only picks one
        # right before the registers. Left to the mapper, the ready went in first: on the
        # 8x8 of ce54420 (seed 2, 70.10 MHz) ``wr_ready`` -> the beat counter's next value
        # -> the FIFO count's carry chain -> the selects led, 14.27 ns with 4.35 of route
        # from the harness register, and 166 endpoints behind it failed 12.5 ns.
        cand = {}
        for fired in (0, 1):
            popped, n_f = outcome[fired]
            n_f = Mux(busy, n_f, 0)
            ptr_f = Mux(busy, Mux(popped, Mux(rp == depth - 1, 0, rp + 1), rp), 0)
            ws_f = Mux(ws_last, 0, ws + 1) if fired else ws
            held_f, taken_f = selects(n_f, ptr_f, pending_now, ws_f)
            cand[fired] = [Signal(n_pairs, name=f"wb_sel_{what}_if{fired}", attrs={"keep": 1})
                           for what in ("held", "taken")]
            m.d.comb += [cand[fired][0].eq(Cat(*held_f)), cand[fired][1].eq(Cat(*taken_f))]
        m.d.sync += [sel_held.eq(Mux(fire, cand[1][0], cand[0][0])),
                     sel_taken.eq(Mux(fire, cand[1][1], cand[0][1]))]
        held_ref, taken_ref = selects(fifo_n, rp, pending_hit, ws)
        # For testbenches: each select register with its test on this cycle's state.
        self.sel_regs = [(sel_held, Cat(*held_ref)), (sel_taken, Cat(*taken_ref))]

        def pick(sel: Value) -> Value:
            terms = [Mux(sel[s * olb + w], src_words[s][w * bus:(w + 1) * bus], 0)
                     for s in range(len(srcs)) for w in range(olb)]
            while len(terms) > 1:
                terms = [terms[i] | terms[i + 1] if i + 1 < len(terms) else terms[i]
                         for i in range(0, len(terms), 2)]
            return terms[0]

        # The two beats as wires of their own (``keep``): the ready picks between them at the
        # register, not inside their AND-OR trees (the mapper merged it in on ce54420).
        held = Signal(bus, name="wb_beat_held", attrs={"keep": 1})
        taken = Signal(bus, name="wb_beat_taken", attrs={"keep": 1})
        m.d.comb += [held.eq(pick(sel_held)), taken.eq(pick(sel_taken))]
        # Next cycle's head is the drain's sum: held, the FIFO empty and no line arriving;
        # popped (a line's last beat leaving), at most that line in the FIFO and none arriving
        # behind it.
        fall_held = (fifo_n == 0) & ~rd_arrive
        fall_popped = ((fifo_n == 0) | ((fifo_n == 1) & ~rd_arrive)) & (ws == olb - 1)
        fall = Signal(name="wb_fall")
        data = Signal(bus, name="wr_data_q")
        m.d.sync += [data.eq(Mux(fire, taken, held)),
                     fall.eq(Mux(fire, fall_popped, fall_held))]
        port = Signal(bus, name="wr_data_port")
        m.d.comb += [port.eq(Mux(fall, beat(words(o_wr.data, "wb_fall_word"), 0), data)),
                     core.wr_data.eq(port)]
        self.data = (ref, port)


def _read_through(m: Module, rd: ReadPort, wr: WritePort, pick, wr_next, bus: int,
                  name: str) -> tuple[Value, list]:
    """The data of read port ``rd`` as a transparent read of write port ``wr``, whose
    address, data and enables are registers holding a beat that arrived a cycle before it is
    written: the lanes written at the edge that read them come from a register of that beat
    (``hit``), and the lanes of the beat that arrived in the reading cycle (written an edge
    later) from the write port's own registers (``pending``). Every lane of a write carries
    the same ``bus``-bit beat (a DRAM beat replicated).

    Both tests are registers, loaded a cycle ahead for each of the read address's two
    candidates (``pick``'s ``nxt`` and ``now``: the late accept ``take`` picks the address
    right before the block RAM's own address register, and a register of it picks the test
    after the edge), from the write port's address and enables (``hit``) and their next
    values (``wr_next``, ``pending``). As compares of the registered read and write
    addresses after the edge, they led the 8x8 of eb31f37's seed 2: ``a_rd_addr`` -> five
    LUTs -> 6.31 ns of route -> a read data bit's multiplexer -> a PE's decoder, 13.32 ns.
    Returns the data and (reference, test) pairs: the compares after the edge, driving
    nothing, which the core tests' bench checks equal to the registers in every cycle."""
    lanes = len(wr.en)
    beat = Signal(bus, name=f"{name}_wr_beat")
    take = Signal(name=f"{name}_rd_take_q")
    m.d.sync += [beat.eq(wr.data[:bus]), take.eq(pick.take)]
    tests, refs = {}, {}
    for test, w_addr, w_en in (("hit", wr.addr, wr.en), ("pending", wr_next.addr, wr_next.en)):
        both = [Signal(lanes, name=f"{name}_{test}_if_{cand}") for cand in ("now", "nxt")]
        m.d.sync += [reg.eq(Mux(w_addr == getattr(pick, cand), w_en, 0))
                     for reg, cand in zip(both, ("now", "nxt"), strict=True)]
        tests[test] = Mux(take, both[1], both[0])
    # The references: the registered addresses and enables, compared after the edge.
    w_addr = Signal.like(wr.addr, name=f"{name}_wr_addr")
    r_addr = Signal.like(rd.addr, name=f"{name}_rd_addr")
    w_en = Signal.like(wr.en, name=f"{name}_wr_en")
    m.d.sync += [w_addr.eq(wr.addr), r_addr.eq(rd.addr), w_en.eq(wr.en)]
    refs["hit"] = Mux(w_addr == r_addr, w_en, 0)
    refs["pending"] = Mux(wr.addr == r_addr, wr.en, 0)
    hit, pending = tests["hit"], tests["pending"]
    data = Cat(*[Mux(pending[i], wr.data[:bus], Mux(hit[i], beat, rd.data[i * bus:(i + 1) * bus]))
                 for i in range(lanes)])
    pairs = []
    for test in ("hit", "pending"):
        ref = Signal(lanes, name=f"{name}_{test}_ref")
        reg = Signal(lanes, name=f"{name}_{test}")
        m.d.comb += [ref.eq(refs[test]), reg.eq(tests[test])]
        pairs.append((ref, reg))
    return data, pairs


def _row_select(arr: _ArrayAdapter, onehot, col: int, first: int = 0):
    """Output ``(row, col)`` of the array's result for a one-hot row ``onehot`` (an AND-OR
    tree: no row-index decoding on the path from the array to the partial-sum adder), among
    the rows from ``first`` on (0 if the row is before)."""
    rows = arr.c.rows
    terms = [Mux(onehot[r], arr.row(r)[col], 0) for r in range(first, rows)]
    while len(terms) > 1:
        terms = [terms[i] | terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0].as_signed()
