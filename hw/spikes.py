"""The spike list between layers, read back as a spike stream."""

from amaranth.hdl import Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from spikefab.hw.ports import spike_layout


__all__ = ["SpikeListReader"]


class SpikeListReader(wiring.Component):
    """Expands the spike list of the previous layer into presynaptic indices.

    Each list entry is a word index and a bitmap of its ``P`` lanes (written by
    :class:`~hw.lif.LIFArray`). ``start`` walks the first ``length`` entries and emits,
    lowest lane first, index ``word · P + lane`` for every set bit, in increasing order;
    then an ``end`` marker.
    """

    def __init__(self, config, layout, shapes):
        self._config = config
        self._layout = layout
        super().__init__({
            "start": In(1),
            "length": In(range(layout.max_layer_words + 1)),
            "spikes": Out(stream.Signature(spike_layout(config))),
            "list_raddr": Out(shapes.acc_addr),
            "list_rdata": In(shapes.spike_list_entry),
        })

    def elaborate(self, platform):
        m = Module()
        lanes = self._layout.lanes
        entry = Signal.like(self.length)
        bits = Signal(lanes)
        word = Signal.like(self.list_rdata.word)

        lowest = Signal(range(lanes))
        for lane in reversed(range(lanes)):
            with m.If(bits[lane]):
                m.d.comb += lowest.eq(lane)

        m.d.comb += self.list_raddr.eq(entry)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += entry.eq(0)
                    m.next = "FETCH"
            with m.State("FETCH"):
                with m.If(entry == self.length):
                    m.d.comb += [self.spikes.valid.eq(1), self.spikes.p.end.eq(1)]
                    with m.If(self.spikes.ready):
                        m.next = "IDLE"
                with m.Else():
                    m.next = "LOAD"
            with m.State("LOAD"):
                m.d.sync += [
                    bits.eq(self.list_rdata.bits),
                    word.eq(self.list_rdata.word),
                    entry.eq(entry + 1),
                ]
                m.next = "EMIT"
            with m.State("EMIT"):
                m.d.comb += [
                    self.spikes.valid.eq(1),
                    self.spikes.p.index.eq(word * lanes + lowest),
                ]
                with m.If(self.spikes.ready):
                    remaining = bits & ~(Const(1, lanes) << lowest)
                    m.d.sync += bits.eq(remaining)
                    with m.If(remaining == 0):
                        m.next = "FETCH"
        return m
