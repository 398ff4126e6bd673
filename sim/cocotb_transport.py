"""A :class:`~spikefab.driver.Chip` transport into a cocotb simulation of ``spikefab_tb``.

Inputs change on the falling clock edge and handshakes are read in the read-only phase
after it, so what the testbench sees is what the next rising edge samples, on Verilator
(which settles a whole edge in one step) as on Icarus. While the chip computes, the
transport sleeps on a value change of ``tx__valid``: no Python runs per clock cycle.
"""

import random

from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge, with_timeout
from cocotb.triggers import SimTimeoutError

from spikefab.sim.verilog import CLOCK_PERIOD_NS


__all__ = ["CocotbTransport", "HangError"]


class HangError(AssertionError, TimeoutError):
    """The chip took no byte, or sent none, within the cycle limit."""


class CocotbTransport:
    """Parameters
    ----------
    dut : cocotb handle of ``spikefab_tb``
    limit : int
        Cycles to wait for a byte before raising :class:`HangError`.
    stall : float
        Probability of an idle cycle before each byte sent and of holding ``tx__ready``
        low each cycle while receiving (stream back-pressure tests).
    seed : int
        Seed of the stall pattern.
    """

    def __init__(self, dut, *, limit=50_000_000, stall=0.0, seed=0):
        self.dut = dut
        self.limit = limit
        self.stall = stall
        self.rng = random.Random(seed)
        self.bytes_sent = 0
        self.bytes_received = 0

    async def reset(self):
        """Hold the streams idle until the testbench's reset pulse is over."""
        dut = self.dut
        dut.rx__valid.value = 0
        dut.rx__payload.value = 0
        dut.tx__ready.value = 0
        await FallingEdge(dut.rst)
        await FallingEdge(dut.clk)

    def _stalled(self):
        return self.stall and self.rng.random() < self.stall

    async def send(self, data):
        dut = self.dut
        for byte in data:
            while self._stalled():
                dut.rx__valid.value = 0
                await FallingEdge(dut.clk)
            dut.rx__payload.value = byte
            dut.rx__valid.value = 1
            for _ in range(self.limit):
                await ReadOnly()
                ready = bool(dut.rx__ready.value)
                await FallingEdge(dut.clk)
                if ready:
                    break
            else:
                raise HangError(f"the chip took no byte for {self.limit} cycles")
        dut.rx__valid.value = 0
        self.bytes_sent += len(data)

    async def take_available(self):
        """Take the bytes the chip offers back to back from now; none if it offers none."""
        dut = self.dut
        out = bytearray()
        dut.tx__ready.value = 1
        while True:
            await ReadOnly()
            if not dut.tx__valid.value:
                break
            out.append(int(dut.tx__payload.value))
            await FallingEdge(dut.clk)
        await FallingEdge(dut.clk)
        dut.tx__ready.value = 0
        self.bytes_received += len(out)
        return bytes(out)

    async def flush(self):
        """Drop what the chip is still sending: nothing when it offers no byte now, else
        bytes until it has offered none for 16 cycles in a row."""
        dut = self.dut
        await ReadOnly()
        if not dut.tx__valid.value:
            await FallingEdge(dut.clk)
            return
        await FallingEdge(dut.clk)
        quiet = 0
        dut.tx__ready.value = 1
        while quiet < 16:
            await ReadOnly()
            quiet = 0 if dut.tx__valid.value else quiet + 1
            await FallingEdge(dut.clk)
        dut.tx__ready.value = 0

    async def recv(self, n):
        dut = self.dut
        out = bytearray()
        while len(out) < n:
            ready = not self._stalled()
            dut.tx__ready.value = ready
            await ReadOnly()
            if dut.tx__valid.value:
                if ready:
                    out.append(int(dut.tx__payload.value))
                await FallingEdge(dut.clk)
                continue
            # Nothing to take: sleep until the chip raises valid (it computes meanwhile).
            try:
                await with_timeout(RisingEdge(dut.tx__valid), self.limit * CLOCK_PERIOD_NS,
                                   "ns")
            except SimTimeoutError:
                raise HangError(f"the chip sent no byte for {self.limit} cycles") from None
            await FallingEdge(dut.clk)
        dut.tx__ready.value = 0
        self.bytes_received += n
        return bytes(out)
