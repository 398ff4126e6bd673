"""UART loopback and framing in Amaranth's simulator."""

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from spikefab.hw.uart import UARTReceiver, UARTTransmitter

from hw_support import simulate


def test_uart_loopback_carries_every_byte_value():
    m = Module()
    m.submodules.tx = tx = UARTTransmitter(divisor=8)
    m.submodules.rx = rx = UARTReceiver(divisor=8)
    m.d.comb += rx.rx.eq(tx.tx)
    sent = list(range(256))
    received = []

    async def sender(ctx):
        for byte in sent:
            ctx.set(tx.bytes.payload, byte)
            ctx.set(tx.bytes.valid, 1)
            await ctx.tick().until(tx.bytes.ready)
        ctx.set(tx.bytes.valid, 0)

    async def receiver(ctx):
        ctx.set(rx.bytes.ready, 1)
        while len(received) < len(sent):
            payload, = await ctx.tick().sample(rx.bytes.payload).until(rx.bytes.valid)
            received.append(payload)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(sender)
    sim.add_testbench(receiver)
    sim.run()
    assert received == sent


def test_uart_receiver_drops_a_frame_with_a_low_stop_bit():
    rx = UARTReceiver(divisor=8)
    got = []

    async def testbench(ctx):
        ctx.set(rx.bytes.ready, 1)
        for level in [0] + [1, 0, 1, 0, 1, 0, 1, 0] + [0] + [1] * 3:   # stop bit low
            ctx.set(rx.rx, level)
            for _ in range(8):
                await ctx.tick()
                if ctx.get(rx.bytes.valid):
                    got.append(ctx.get(rx.bytes.payload))
        for level in [0] + [0, 1, 0, 1, 0, 1, 0, 1] + [1] * 3:          # 0xAA, good
            ctx.set(rx.rx, level)
            for _ in range(8):
                await ctx.tick()
                if ctx.get(rx.bytes.valid):
                    got.append(ctx.get(rx.bytes.payload))

    simulate(rx, testbench)
    assert got == [0xAA]


@pytest.mark.parametrize("cls", [UARTReceiver, UARTTransmitter])
def test_init_wrong_divisor(cls):
    with pytest.raises(ValueError, match="divisor must be an integer of at least 4"):
        cls(divisor=2)
