"""Drive a valid/ready component in Amaranth's simulator: driver, monitor, cycle stamps.

Edges are numbered from 0 (the first rising clock edge). A beat is accepted at the edge where
``in_valid & in_ready`` hold; an output is loaded at the edge before ``out_valid`` is first seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator


@dataclass
class StreamRun:
    outputs: list[dict[str, int]] = field(default_factory=list)
    accept_edges: list[int] = field(default_factory=list)
    load_edges: list[int] = field(default_factory=list)


def run_stream(dut, beats, n_out, out_ports, *, seed=None, max_cycles=200_000,
               one_at_a_time=False, interrupted=None, idle=0) -> StreamRun:
    """Feed ``beats`` and collect ``n_out`` outputs.

    With ``seed`` the driver inserts random idle cycles and the monitor random back-pressure
    (seeded); without it both run at full rate, which is how cycle counts are measured. With
    ``one_at_a_time`` an output's first beat waits until the previous output was loaded (as
    the accelerator core issues array tiles), so the PE pipeline is empty at every start.
    With ``interrupted`` (beats of an output that must not finish) those beats go first,
    then ``idle`` cycles, then one cycle of the synchronous reset, then ``beats`` as above:
    whatever the interrupted output left in registers that the reset does not clear must
    not reach the outputs. Edges are then counted from the reset's edge.
    """
    rng = np.random.default_rng(seed) if seed is not None else None
    res = StreamRun()
    per_out = len(beats) // n_out

    top = dut
    if interrupted is not None:
        top = Module()
        top.domains.sync = domain = ClockDomain("sync")
        top.submodules.dut = dut

    async def interrupt(ctx):
        for beat in interrupted:
            for name, value in beat.items():
                ctx.set(getattr(dut, name), value)
            ctx.set(dut.in_valid, 1)
            while not (await ctx.tick().sample(dut.in_ready))[2]:
                pass
        ctx.set(dut.in_valid, 0)
        if idle:  # Amaranth refuses a repeat count of 0
            await ctx.tick().repeat(idle)
        ctx.set(domain.rst, 1)
        await ctx.tick()
        ctx.set(domain.rst, 0)

    async def driver(ctx):
        edge = -1
        if interrupted is not None:
            await interrupt(ctx)
        for i, beat in enumerate(beats):
            while one_at_a_time and i and i % per_out == 0 and len(res.load_edges) < i // per_out:
                ctx.set(dut.in_valid, 0)
                await ctx.tick()
                edge += 1
            while rng is not None and rng.random() < 0.3:
                ctx.set(dut.in_valid, 0)
                await ctx.tick()
                edge += 1
            for name, value in beat.items():
                ctx.set(getattr(dut, name), value)
            ctx.set(dut.in_valid, 1)
            while True:
                _, _, ready = await ctx.tick().sample(dut.in_ready)
                edge += 1
                if ready:
                    break
            res.accept_edges.append(edge)
        ctx.set(dut.in_valid, 0)

    async def monitor(ctx):
        ports = [getattr(dut, p) for p in out_ports]
        ready, fresh, edge = 1, True, -1
        ctx.set(dut.out_ready, ready)
        waiting = interrupted is not None  # for the reset's edge
        async for _, rst, valid, *vals in ctx.tick().sample(dut.out_valid, *ports):
            if waiting:
                assert not valid, "the interrupted output came out"
                waiting = not rst
                continue
            edge += 1
            if valid and fresh:
                res.load_edges.append(edge - 1)
            fresh = not valid or bool(ready)
            if valid and ready:
                # As unsigned port bits, like the packed expectations and cocotb's reads.
                res.outputs.append({p: int(v) & ((1 << len(port)) - 1)
                                    for p, v, port in zip(out_ports, vals, ports, strict=True)})
                if len(res.outputs) == n_out:
                    return
            if edge > max_cycles:
                raise AssertionError(f"timeout after {edge} cycles")
            ready = 1 if rng is None or rng.random() < 0.7 else 0
            ctx.set(dut.out_ready, ready)

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(driver, background=True)
    sim.add_testbench(monitor)
    sim.run()
    return res
