"""A :class:`~spikefab.driver.Chip` transport into Amaranth's simulator.

Drives the top component's ``rx`` stream and collects its ``tx`` stream from inside an
async testbench. Optional random idle cycles on ``rx`` and back-pressure on ``tx`` check
that the gateware obeys the stream handshake.
"""

__all__ = ["AmaranthTransport", "HangError"]


class HangError(AssertionError):
    """The design took no byte or sent none within the cycle limit."""


class AmaranthTransport:
    def __init__(self, ctx, top, *, limit=2_000_000, rng=None, stall=0.0):
        self.ctx = ctx
        self.top = top
        self.limit = limit
        self.rng = rng
        self.stall = stall
        self.cycles = 0

    def _stalled(self):
        return self.rng is not None and self.rng.random() < self.stall

    async def idle(self, cycles):
        """Let the design run ``cycles`` clocks with nothing on either stream."""
        for _ in range(cycles):
            await self.ctx.tick()
        self.cycles += cycles

    async def drain(self, cycles):
        """Take whatever the design sends during ``cycles`` clocks."""
        ctx, tx = self.ctx, self.top.tx
        out = bytearray()
        ctx.set(tx.ready, 1)
        for _ in range(cycles):
            _, _, valid, payload = await ctx.tick().sample(tx.valid, tx.payload)
            if valid:
                out.append(payload)
        ctx.set(tx.ready, 0)
        self.cycles += cycles
        return bytes(out)

    async def send(self, data):
        ctx, rx = self.ctx, self.top.rx
        for byte in data:
            while self._stalled():
                await ctx.tick()
            ctx.set(rx.payload, byte)
            ctx.set(rx.valid, 1)
            for waited in range(self.limit):
                _, _, ready = await ctx.tick().sample(rx.ready)
                if ready:
                    break
            else:
                raise HangError(f"the design took no byte for {self.limit} cycles")
            self.cycles += waited + 1
            ctx.set(rx.valid, 0)

    async def recv(self, n):
        ctx, tx = self.ctx, self.top.tx
        out = bytearray()
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
                    raise HangError(f"the design sent no byte for {self.limit} cycles")
        ctx.set(tx.ready, 0)
        return bytes(out)
