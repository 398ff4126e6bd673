"""Formal properties of :class:`~spikefab.hw.es_factors.FactorStream`, under any seed,
any ``start`` and any consumer:

- the stream rules: a row offered and not taken is offered again, unchanged, the next
  cycle (``valid`` stays up, the payload stays put);
- a run is whole: from ``start`` the stream gives exactly as many rows as the network's
  factor matrices have (``Σ fan_in + fan_out``), marks the last of them and no other with
  ``last``, and ``busy`` falls right after it; a ``start`` while busy changes nothing.

Checked by BMC over every run of 24 cycles from reset on a 2-3-2 network (10 rows), long
enough for two runs back to back with stalls between rows.
"""

from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Elaboratable, Module, Signal

from spikefab.hw.es_factors import FactorStream

from conftest import small_config
from formal_support import prove


class FactorStreamSpec(Elaboratable):
    def __init__(self, config):
        self.config = config

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = FactorStream(self.config)
        m.d.comb += [dut.seed.eq(AnySeq(32)), dut.start.eq(AnySeq(1)),
                     dut.rows.ready.eq(AnySeq(1))]
        rows = sum(fan_in + fan_out for fan_in, fan_out in self.config.weight_shapes)

        stalled = Signal()
        held = Signal.like(dut.rows.payload)
        m.d.sync += [stalled.eq(dut.rows.valid & ~dut.rows.ready),
                     held.eq(dut.rows.payload)]
        with m.If(stalled):
            m.d.comb += Assert(dut.rows.valid & (dut.rows.payload.as_value() ==
                                                 held.as_value()))

        taken = dut.rows.valid & dut.rows.ready
        count = Signal(range(rows + 2))
        with m.If(dut.start & ~dut.busy):
            m.d.sync += count.eq(0)
        with m.Elif(taken):
            m.d.sync += count.eq(count + 1)
        with m.If(taken):
            m.d.comb += Assert(dut.rows.payload.last == (count == rows - 1))
        was_last = Signal()
        m.d.sync += was_last.eq(taken & dut.rows.payload.last)
        with m.If(was_last):
            m.d.comb += Assert(~dut.busy)
        m.d.comb += Assert(count <= rows)
        return m


def test_factor_stream_keeps_the_stream_rules_and_runs_whole(tmp_path):
    config = small_config(n_in=2, hidden=(3,), n_out=2, es_rank=3)
    prove(FactorStreamSpec(config), tmp_path, mode="bmc", depth=24)
