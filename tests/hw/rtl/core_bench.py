"""Drive the accelerator core in Amaranth's simulator: one command against `DramModel`."""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

from hwsim.hw.rtl.accel_core import AccelCore
from hwsim.hw.rtl.core_config import status_fields
from hwsim.hw.rtl.core_dram import CoreOutputs, DramModel, InputWrites


@dataclass
class CoreRun:
    cycles: int          # edges from the command's acceptance to the edge raising done/error
    status: dict
    dram: DramModel


def run_commands(core: AccelCore, dram: DramModel, descriptors: list[int],
                 max_cycles: int = 200_000, inspect=None,
                 interrupt: tuple[int, int] | None = None) -> list[CoreRun]:
    """Run the descriptors one after the other; ``inspect(ctx)`` (async) runs between them.

    With ``interrupt = (descriptor, cycles)``, that descriptor is started first and the core
    is reset ``cycles`` later (its synchronous reset, one cycle; the DRAM model drops the
    requests in flight), then the descriptors run."""
    runs: list[CoreRun] = []
    top = core
    if interrupt is not None:
        top = Module()
        top.domains.sync = domain = ClockDomain("sync")
        top.submodules.core = core
    sim = Simulator(top)
    sim.add_clock(1e-8)
    # Every copy the core's timing adds equals what it copies, in every cycle: the array's ready
    # and its front's copy, which the core acts on (`AccelCore.readies`: else the core's beats and
    # the array's differ), the slot's end from its registers and its reference test
    # (`AccelCore.slot_ends`: every copy), the arrays' registered in_valid and the test they hold
    # (`AccelCore.valids`, and each array's own register), each array's accept (its front's) and
    # its beat registers' enables (`BitModArray.accepts`), the registers of in_valid and of the
    # front's ready beside them and their originals (`BitModArray.copies`), the compute record's
    # run-time k and each array's registers of it (`AccelCore.k_regs`) and its registered tests of
    # it (`BitModArray.k_tests`), the tile successor's registers and the successor of the live
    # block's fields at every tile's last beat (`AccelCore.tile_nexts`), each read port's copies
    # of the beats' block registers (`AccelCore.blk_copies`), the drain's copies of ``result_now``
    # and each column's one-hot row of next cycle (`AccelCore.result_copies`), each buffer read's
    # hit and pending tests, registered a cycle ahead, and their compares after the edge
    # (`AccelCore.read_tests`), the iterator's k units and their values from the block's k extent
    # while a command runs (`AccelCore.iter_derived`), the read requests' copies of the load
    # record's fields and the write requests' of the write-back record's, and the records' views
    # (`AccelCore.request_copies`), the request generators' presented requests (registers) and
    # their presentation from the cycle's state and starts (the valid in every cycle, the address
    # and beats while valid: `AccelCore.request_outs`), the generators' start registers and the
    # next states of the start they stand for (whenever a start's condition is high:
    # `AccelCore.request_starts`), and the drained
    # row (its register of rows 1.. read a cycle ahead) and its reference select
    # (`AccelCore.drain_rows`), the write stream's registered data and the beat of the FIFO's head
    # they are loaded a cycle ahead with, on every valid beat (`AccelCore.wr_datas`), and the
    # drain's registers of the compute record's fields and its view (`AccelCore.cp_regs`), and
    # each array's end tests of its front's next states (`BitModArray.ends_regs`, while the front
    # holds a beat or is past an output's start), and the write stream's one-hot line and beat
    # selects and their tests on the cycle's state (`AccelCore.wr_sels`), and the write-back's due
    # and start registers and their tests on the records (`AccelCore.wb_regs`), and the
    # prefetcher's read address and its copy (`AccelCore.wb_rd_lines`), and its registers of what
    # the drain finishes and starts and their tests (`AccelCore.wb_aheads`).
    readies, slot_ends = core.readies, core.slot_ends
    valids = (*core.valids, core.pe_array.in_valid_reg, core.front_array.in_valid_reg)

    def copies_agree(ctx) -> None:
        array, copy = (ctx.get(r) for r in readies)
        assert array == copy, f"the array's in_ready {array} != its front copy's {copy}"
        ref, ends = slot_ends
        ends = [ctx.get(e) for e in ends]
        assert ends == [ctx.get(ref)] * len(ends), (
            f"the slot's end's copies {ends} != its reference test {ctx.get(ref)}")
        valid, *copies = (ctx.get(v) for v in valids)
        assert copies == [valid] * len(copies), (
            f"the arrays' in_valid {copies} != the test's {valid}")
        for array in (core.pe_array, core.front_array):
            accept, *copies = (ctx.get(a) for a in array.accepts)
            assert copies == [accept] * len(copies), (
                f"the beat registers' enables {copies} != the array's accept {accept}")
        for orig, copy in (*core.pe_array.copies, *core.front_array.copies, *core.blk_copies,
                           *core.result_copies, *core.request_copies, *core.read_tests):
            assert ctx.get(copy) == ctx.get(orig), (
                f"{copy.name} {ctx.get(copy)} != {orig.name} {ctx.get(orig)}")
        for array in (core.pe_array, core.front_array):
            if ctx.get(array.ends_live):
                for reg, ref in array.ends_regs:
                    assert ctx.get(reg) == ctx.get(ref), (
                        f"{reg.name} {ctx.get(reg)} != the test it stands for {ctx.get(ref)}")
        for ref, reg in core.k_regs:
            assert ctx.get(reg) == ctx.get(ref), (
                f"{reg.name} {ctx.get(reg)} != the compute record's {ctx.get(ref)}")
        running, derived = core.iter_derived
        if ctx.get(running):
            for refs, regs in derived:
                for ref, reg in zip(refs, regs, strict=True):
                    assert ctx.get(reg) == ctx.get(ref), (
                        f"{reg.name} {ctx.get(reg)} != its value from the block's k extent "
                        f"{ctx.get(ref)}")
        for valid, pairs in core.request_outs:
            for ref, reg in pairs if ctx.get(valid) else pairs[:1]:
                assert ctx.get(reg) == ctx.get(ref), (
                    f"{reg.name} {ctx.get(reg)} != {ref.name} {ctx.get(ref)}")
        for started, pairs in core.request_starts:
            if ctx.get(started):
                for ref, reg in pairs:
                    assert ctx.get(reg) == ctx.get(ref), (
                        f"{reg.name} {ctx.get(reg)} != {ref.name} {ctx.get(ref)}")
        read, refs = core.tile_nexts
        if ctx.get(read):
            for reg, ref in refs:
                assert ctx.get(reg) == ctx.get(ref), (
                    f"{reg.name} {ctx.get(reg)} != the live successor {ctx.get(ref)}")
        for array in (core.pe_array, core.front_array):
            for reg, ref in array.k_tests:
                assert ctx.get(reg) == ctx.get(ref), (
                    f"{reg.name} {ctx.get(reg)} != its test of the registered k {ctx.get(ref)}")
        ref, row = (ctx.get(r) for r in core.drain_rows)
        assert row == ref, f"the drained row {row:#x} != its reference select {ref:#x}"
        for ref, reg in core.cp_regs:
            assert ctx.get(reg) == ctx.get(ref), (
                f"{reg.name} {ctx.get(reg)} != the compute record's {ctx.get(ref)}")
        for reg, ref in core.wr_sels:
            assert ctx.get(reg) == ctx.get(ref), (
                f"{reg.name} {ctx.get(reg):#x} != its test on this cycle's state {ctx.get(ref):#x}")
        for reg, ref in core.wb_regs:
            assert ctx.get(reg) == ctx.get(ref), (
                f"{reg.name} {ctx.get(reg)} != the records' test it stands for {ctx.get(ref)}")
        for reg, ref in core.wb_aheads:
            assert ctx.get(reg) == ctx.get(ref), (
                f"{reg.name} {ctx.get(reg)} != the drain's test it stands for {ctx.get(ref)}")
        addr, line = (ctx.get(r) for r in core.wb_rd_lines)
        assert line == addr, f"the prefetcher's read line copy {line} != its address {addr}"
        ref, data = (ctx.get(d) for d in core.wr_datas)
        assert data == ref or not ctx.get(core.wr_valid), (
            f"the write stream's data {data:#x} != the FIFO head's {ref:#x}")

    async def bench(ctx):
        # Each write makes the simulator settle the design: write only what changed.
        inputs = InputWrites(lambda name, value: ctx.set(getattr(core, name), value))
        outputs = CoreOutputs(lambda name: ctx.get(getattr(core, name)))
        if interrupt is not None:
            ctx.set(core.desc.as_value(), interrupt[0])
            ctx.set(core.cmd_valid, 1)
            for i in range(interrupt[1] + 1):
                inputs.drive(dram.drive())
                copies_agree(ctx)
                if i:
                    dram.step(outputs.sample())
                await ctx.tick()
                ctx.set(core.cmd_valid, 0)
            ctx.set(domain.rst, 1)
            await ctx.tick()
            ctx.set(domain.rst, 0)
            dram.reads.clear()
            dram.writes.clear()
        for desc in descriptors:
            if inspect is not None:
                await inspect(ctx)
            ctx.set(core.desc.as_value(), desc)
            ctx.set(core.cmd_valid, 1)
            inputs.drive(dram.drive())
            await ctx.tick()
            # Accepted: the port's descriptor may change (the core loads it while idle only).
            ctx.set(core.cmd_valid, 0)
            ctx.set(core.desc.as_value(), ~desc & ((1 << len(core.desc.as_value())) - 1))
            cycles = 0
            while True:
                inputs.drive(dram.drive())
                status = status_fields(ctx.get(core.status))
                copies_agree(ctx)
                if not status["busy"]:
                    break
                dram.step(outputs.sample())
                await ctx.tick()
                cycles += 1
                assert cycles < max_cycles, "the core did not finish"
            runs.append(CoreRun(cycles, status, dram))
        if inspect is not None:
            await inspect(ctx)

    sim.add_testbench(bench)
    sim.run()
    return runs
