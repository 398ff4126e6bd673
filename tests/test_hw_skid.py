"""The stream register stage: every item once, in order, under random stalls on both sides,
and one item per cycle when nothing stalls."""

import numpy as np
import pytest

from spikefab.hw.skid import SkidBuffer

from hw_support import simulate


def run(items, send_p, take_p, seed):
    dut = SkidBuffer(8)
    rng = np.random.default_rng(seed)
    received, cycles = [], [0]

    async def testbench(ctx):
        pending = list(items)
        while len(received) < len(items):
            cycles[0] += 1
            assert cycles[0] < 20 * len(items) + 20, "the stage hung"
            offer = bool(pending) and rng.random() < send_p
            take = rng.random() < take_p
            ctx.set(dut.i.valid, offer)
            ctx.set(dut.i.payload, pending[0] if pending else 0)
            ctx.set(dut.o.ready, take)
            # Both handshakes are decided before the clock edge.
            accepted = offer and ctx.get(dut.i.ready)
            if take and ctx.get(dut.o.valid):
                received.append(ctx.get(dut.o.payload))
            if accepted:
                pending.pop(0)
            await ctx.tick()

    simulate(dut, testbench)
    return received, cycles[0]


@pytest.mark.parametrize("send_p, take_p", [(1.0, 0.3), (0.3, 1.0), (0.6, 0.6)])
def test_items_pass_once_in_order_under_stalls(send_p, take_p):
    items = list(range(1, 200))
    received, _ = run(items, send_p, take_p, seed=int(send_p * 10 + take_p * 100))
    assert received == items


def test_full_throughput_without_stalls():
    items = list(range(1, 101))
    received, cycles = run(items, 1.0, 1.0, seed=0)
    assert received == items
    assert cycles == len(items) + 1          # one cycle of latency
