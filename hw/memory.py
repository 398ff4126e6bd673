"""The weight memory: one single-port RAM of ``P``-lane words.

Single-ported on purpose: the iCE40 UP5K's SPRAM (``SB_SPRAM256KA``) has one port, and
every block of the core is scheduled so that one read *or* one write happens per cycle.
Reads are synchronous (data the cycle after the address); a write cycle returns no data.
"""

from amaranth.hdl import MemoryData, Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out


__all__ = ["WeightMemory"]


class WeightMemory(wiring.Component):
    """Parameters
    ----------
    shapes : :class:`~hw.ports.Shapes`
    depth : int
        Words.
    init : list of list of int
        Initial words (lane values), e.g. :meth:`Layout.pack_weights` of golden's init.
    """

    def __init__(self, shapes, depth, init):
        self._shapes = shapes
        #: The contents, readable by simulator testbenches (``ctx.get(data[addr])``).
        self.data = MemoryData(shape=shapes.weight_word, depth=depth, init=init)
        super().__init__({
            "addr": In(shapes.weight_addr),
            "en": In(1),
            "rdata": Out(shapes.weight_word),
            "wdata": In(shapes.weight_word),
            "we": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.ram = ram = Memory(data=self.data)
        read = ram.read_port()
        write = ram.write_port()
        m.d.comb += [
            read.addr.eq(self.addr),
            read.en.eq(self.en & ~self.we),
            write.addr.eq(self.addr),
            write.data.eq(self.wdata),
            write.en.eq(self.we),
            self.rdata.eq(read.data),
        ]
        return m
