"""Formal properties of :class:`~spikefab.hw.skid.SkidBuffer`: under any producer and any
consumer, every item comes out once, unchanged and in order, and ``o`` keeps the stream
rules.

Items are counted in and out (modulo 2**3). Two facts are visible at the ports and hold
in every state, so k-induction proves them for runs of any length:

- the buffer holds ``in - out`` items, which is ``o.valid + ~i.ready`` (the output register
  and the skid register): an item dropped or duplicated breaks the count;
- ``o`` holds a stalled item: ``o.valid`` stays up and ``o.payload`` stays put until taken.

Contents and order: one item, the ``n``-th in for an ``n`` the solver picks (any-const),
is remembered as it goes in and must be the ``n``-th out. The skid register is not
visible at the ports and an item can wait there for as long as the consumer stalls, so
this part is not k-inductive without looking inside; it is checked by BMC over every run
of 20 cycles from reset (2.5 times around the item counters).
"""

from amaranth.asserts import AnyConst, AnySeq
from amaranth.hdl import Assert, Elaboratable, Module, Signal

from spikefab.hw.skid import SkidBuffer

from formal_support import prove


class SkidSpec(Elaboratable):
    def __init__(self, *, contents):
        self.contents = contents

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = SkidBuffer(4)
        m.d.comb += [dut.i.valid.eq(AnySeq(1)), dut.i.payload.eq(AnySeq(4)),
                     dut.o.ready.eq(AnySeq(1))]
        pushed = dut.i.valid & dut.i.ready
        popped = dut.o.valid & dut.o.ready
        n_in, n_out = Signal(3), Signal(3)
        m.d.sync += [n_in.eq(n_in + pushed), n_out.eq(n_out + popped)]
        m.d.comb += Assert((n_in - n_out)[:3] == dut.o.valid + ~dut.i.ready)

        stalled, held = Signal(), Signal(4)
        m.d.sync += [stalled.eq(dut.o.valid & ~dut.o.ready), held.eq(dut.o.payload)]
        with m.If(stalled):
            m.d.comb += Assert(dut.o.valid & (dut.o.payload == held))

        if self.contents:
            n, item = AnyConst(3), Signal(4)
            with m.If(pushed & (n_in == n)):
                m.d.sync += item.eq(dut.i.payload)
            with m.If(popped & (n_out == n)):
                m.d.comb += Assert(dut.o.payload == item)
        return m


def test_skid_counts_and_stream_rules_hold_forever(tmp_path):
    prove(SkidSpec(contents=False), tmp_path, mode="prove", depth=4)


def test_skid_items_come_out_unchanged_in_order(tmp_path):
    prove(SkidSpec(contents=True), tmp_path, mode="bmc", depth=20)
