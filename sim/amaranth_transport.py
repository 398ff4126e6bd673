"""A :class:`~spikefab.driver.Chip` transport into Amaranth's simulator.

Drives the top component's ``rx`` stream and collects its ``tx`` stream from inside an
async testbench. Like a UART it is full duplex: whatever the design sends while bytes go
in (or while the transport idles) is kept for the next ``recv``; ``flush`` drops it.
Optional random idle cycles on ``rx`` and back-pressure on ``tx`` while receiving check
that the gateware obeys the stream handshake.
"""

__all__ = ["AmaranthTransport", "HangError"]


class HangError(AssertionError, TimeoutError):
    """The design took no byte or sent none within the cycle limit."""


class AmaranthTransport:
    #: Cycles without a byte from the design after which ``flush`` stops taking them.
    QUIET = 16

    def __init__(self, ctx, top, *, limit=2_000_000, rng=None, stall=0.0):
        self.ctx = ctx
        self.top = top
        self.limit = limit
        self.rng = rng
        self.stall = stall
        self.cycles = 0
        self.flush_cycles = 0
        self._inbox = bytearray()

    def _stalled(self):
        return self.rng is not None and self.rng.random() < self.stall

    async def _tick(self):
        """One clock with ``tx.ready`` high: a byte the design offers is kept."""
        ctx, tx = self.ctx, self.top.tx
        ctx.set(tx.ready, 1)
        _, _, valid, payload = await ctx.tick().sample(tx.valid, tx.payload)
        ctx.set(tx.ready, 0)
        self.cycles += 1
        if valid:
            self._inbox.append(payload)
        return valid

    async def idle(self, cycles):
        """Let the design run ``cycles`` clocks with nothing sent (what it sends is kept)."""
        for _ in range(cycles):
            await self._tick()

    async def drain(self, cycles):
        """Take whatever the design sends during ``cycles`` clocks (and what was kept)."""
        await self.idle(cycles)
        out, self._inbox = bytes(self._inbox), bytearray()
        return out

    async def flush(self):
        """Drop what the design has sent and is still sending (until it is quiet for
        :attr:`QUIET` cycles)."""
        quiet, start = 0, self.cycles
        while quiet < self.QUIET:
            quiet = 0 if await self._tick() else quiet + 1
        self._inbox.clear()
        self.flush_cycles += self.cycles - start

    async def send(self, data):
        ctx, rx, tx = self.ctx, self.top.rx, self.top.tx
        for byte in data:
            while self._stalled():
                await self._tick()
            ctx.set(rx.payload, byte)
            ctx.set(rx.valid, 1)
            ctx.set(tx.ready, 1)
            for waited in range(self.limit):
                _, _, ready, valid, payload = await ctx.tick().sample(rx.ready, tx.valid,
                                                                      tx.payload)
                if valid:
                    self._inbox.append(payload)
                if ready:
                    break
            else:
                raise HangError(f"the design took no byte for {self.limit} cycles")
            self.cycles += waited + 1
            ctx.set(rx.valid, 0)
            ctx.set(tx.ready, 0)

    async def recv(self, n):
        ctx, tx = self.ctx, self.top.tx
        out = bytearray(self._inbox[:n])
        del self._inbox[:n]
        waited = 0
        while len(out) < n:
            ready = not self._stalled()
            ctx.set(tx.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(tx.valid, tx.payload)
            self.cycles += 1
            if ready and valid:
                out.append(payload)
                waited = 0
            else:
                waited += 1
                if waited > self.limit:
                    ctx.set(tx.ready, 0)
                    raise HangError(f"the design sent no byte for {self.limit} cycles")
        ctx.set(tx.ready, 0)
        return bytes(out)
