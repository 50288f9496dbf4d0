# amaranth: UnusedElaboratable=no
"""The I/O harness and the PE grid, simulated with Amaranth's simulator (no FPGA tools)."""

# No "from __future__ import annotations": Amaranth reads the port annotations as objects.
# Some tests build components only to read their ports or cost, never elaborating them: the
# first line of this file tells Amaranth that is intended.


import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hwsim.hw.fpga.grid import PeGrid
from hwsim.hw.fpga.wrapper import IoHarness, port_bits


class Adder(wiring.Component):
    """y = a + b, combinational: what the harness feeds in is what comes out."""

    a: In(3)
    b: In(2)
    y: Out(4)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.y.eq(self.a + self.b)
        return m


class GatedSum(wiring.Component):
    """A stand-in PE: out = (a + w) if en else 0."""

    a: In(4)
    w: In(4)
    en: In(1)
    out: Out(5)

    def elaborate(self, platform):
        m = Module()
        with m.If(self.en):
            m.d.comb += self.out.eq(self.a + self.w)
        return m


def test_port_bits_counts_each_direction():
    assert port_bits(Adder()) == (3 + 2, 4)


@pytest.mark.parametrize(("io_width", "in_reg", "out_reg"), [(1, 5, 4), (2, 6, 4), (4, 8, 4)])
def test_harness_cost(io_width, in_reg, out_reg):
    # Registers are padded to whole io_width words: 5 input bits -> 5, 6 or 8.
    cost = IoHarness(Adder(), io_width=io_width).cost
    assert cost.ff == in_reg + out_reg
    assert cost.pins == 2 * io_width + 3  # din, dout, load + clk, rst
    assert (cost.in_bits, cost.out_bits) == (5, 4)


def test_harness_rejects_a_bad_width():
    with pytest.raises(ValueError, match="io_width must be a positive integer, not 0"):
        IoHarness(Adder(), io_width=0)


@pytest.mark.parametrize("io_width", [1, 2])
def test_harness_shifts_operands_in_and_results_out(io_width):
    top = IoHarness(Adder(), io_width=io_width)
    a, b = 6, 3
    word_in = a | (b << 3)  # ports in signature order, first port in the LSBs
    words = -(-5 // io_width)
    mask = (1 << io_width) - 1
    seen = []

    async def bench(ctx):
        for i in range(words):  # LSB word first: it ends up at the bottom
            ctx.set(top.din, (word_in >> (i * io_width)) & mask)
            await ctx.tick()
        assert ctx.get(top.block.a) == a and ctx.get(top.block.b) == b
        ctx.set(top.load, 1)
        await ctx.tick()
        ctx.set(top.load, 0)
        for _ in range(-(-4 // io_width)):
            seen.append(ctx.get(top.dout))
            await ctx.tick()

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    result = sum(word << (i * io_width) for i, word in enumerate(seen))
    assert result == a + b


def test_grid_ports_broadcast_weights_along_rows_and_activations_down_columns():
    grid = PeGrid(GatedSum, rows=2, cols=3)
    names = set(grid.signature.members)
    assert {"w_r0", "w_r1", "a_c0", "a_c1", "a_c2", "en"} <= names
    assert {f"out_{i}_{j}" for i in range(2) for j in range(3)} <= names
    assert len(names) == 2 + 3 + 1 + 6
    w, a = [3, 9], [1, 4, 6]

    async def bench(ctx):
        for i in range(2):
            ctx.set(getattr(grid, f"w_r{i}"), w[i])
        for j in range(3):
            ctx.set(getattr(grid, f"a_c{j}"), a[j])
        ctx.set(grid.en, 1)
        await ctx.delay(1e-9)
        for i in range(2):
            for j in range(3):
                assert ctx.get(getattr(grid, f"out_{i}_{j}")) == w[i] + a[j]
        ctx.set(grid.en, 0)  # the shared port reaches every PE
        await ctx.delay(1e-9)
        assert all(ctx.get(getattr(grid, f"out_{i}_{j}")) == 0
                   for i in range(2) for j in range(3))

    sim = Simulator(grid)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize(("rows", "cols"), [(0, 1), (2, True)])
def test_grid_rejects_a_bad_shape(rows, cols):
    with pytest.raises(ValueError, match="must be a positive integer"):
        PeGrid(GatedSum, rows=rows, cols=cols)
