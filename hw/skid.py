"""A registered stage for a :mod:`amaranth.lib.stream`: cuts every combinational path
through it, keeps full throughput."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out


__all__ = ["SkidBuffer"]


class SkidBuffer(wiring.Component):
    """Passes ``i`` to ``o`` one cycle later, one item per cycle.

    ``o.valid`` and ``o.payload`` come from registers, and ``i.ready`` depends only on a
    register, so neither side's logic reaches the other's. When ``o`` stalls while an
    item is accepted, the item waits in a second (skid) register; ``i`` is held off
    until it has moved on. Order and contents of the items are unchanged.

    Parameters
    ----------
    shape : shape-like
        The payload shape.
    """

    def __init__(self, shape):
        super().__init__({
            "i": In(stream.Signature(shape)),
            "o": Out(stream.Signature(shape)),
        })

    def elaborate(self, platform):
        m = Module()
        skid = Signal.like(self.i.payload)
        skid_valid = Signal()
        m.d.comb += self.i.ready.eq(~skid_valid)
        with m.If(self.o.ready | ~self.o.valid):
            # The output register is free (or frees this cycle): the oldest item moves in.
            with m.If(skid_valid):
                m.d.sync += [self.o.payload.eq(skid), self.o.valid.eq(1), skid_valid.eq(0)]
            with m.Else():
                m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(self.i.valid)]
        with m.Elif(self.i.valid & self.i.ready):
            m.d.sync += [skid.eq(self.i.payload), skid_valid.eq(1)]
        return m
