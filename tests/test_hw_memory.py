"""The weight memory's bit-sliced form (what the ECP5 build maps) against the word-wide one."""

import numpy as np
from amaranth.hdl import Module
from amaranth.sim import Simulator

from spikefab.hw.memory import WeightMemory
from spikefab.hw.ports import Shapes
from spikefab.layout import Layout

from conftest import small_config


def test_bit_sliced_weight_memory_reads_and_writes_like_the_word_wide_one():
    config = small_config(n_in=9, hidden=(7,), n_out=3, lanes=2, w_bits=6)
    layout = Layout(config)
    shapes = Shapes(config, layout)
    rng = np.random.default_rng(3)
    depth = 40
    init = [[int(v) for v in rng.integers(config.w_min, config.w_max + 1, layout.lanes)]
            for _ in range(depth)]
    m = Module()
    m.submodules.wide = wide = WeightMemory(shapes, depth, init, bit_sliced=False)
    m.submodules.sliced = sliced = WeightMemory(shapes, depth, init, bit_sliced=True)
    compared = []

    async def testbench(ctx):
        for cycle in range(400):
            op = int(rng.integers(0, 3))   # 0: idle, 1: read, 2: write
            addr = int(rng.integers(0, depth))
            word = [int(v) for v in rng.integers(config.w_min, config.w_max + 1, layout.lanes)]
            for mem in (wide, sliced):
                ctx.set(mem.addr, addr)
                ctx.set(mem.en, op == 1)
                ctx.set(mem.we, op == 2)
                ctx.set(mem.wdata, word)
            await ctx.tick()
            a, b = ctx.get(wide.rdata), ctx.get(sliced.rdata)
            assert list(a) == list(b), f"cycle {cycle}: {list(a)} != {list(b)}"
            compared.append(op)
        assert compared.count(1) > 50 and compared.count(2) > 50

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
