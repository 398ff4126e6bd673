"""The core's counters: what the host reads to measure the chip.

Totals since ``clear``: busy cycles, synaptic operations, weight writes and samples
finished without error; and the same three figures of the last sample, from its
``sample_start`` on. Each increment is registered before it is added, so that no
counter's carry chain hangs behind the logic that produces it: a count is complete two
cycles after its event, before any reply can carry it.

The per-sample counters are as wide as :func:`spikefab.cost.sample_counter_bits` says a
sample can need, so they never wrap; the totals are
:data:`~spikefab.hw.ports.COUNTER_BITS` (the sample count
:data:`~spikefab.hw.ports.SAMPLE_COUNT_BITS`) wide and wrap.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spikefab.cost import sample_counter_bits
from spikefab.hw.ports import COUNTER_BITS, SAMPLE_COUNT_BITS


__all__ = ["Counters"]


class Counters(wiring.Component):
    """Parameters
    ----------
    config : :class:`~spikefab.config.Config`
    weight_latency : int
        The weight memory's read latency (it sets the worst case of a sample's cycles).

    Members
    -------
    busy : In(1)
        A busy cycle.
    sops : In(range(max layer size + 1)); writes : In(range(lanes + 1))
        Synaptic operations and weight writes this cycle.
    sample_done : In(1)
        A sample finished without error.
    clear : In(1)
        Zero the totals.
    sample_start : In(1)
        Zero the per-sample figures: a sample starts.
    cycles, sops_total, writes_total, samples : Out
    sample_cycles, sample_sops, sample_writes : Out
    """

    def __init__(self, config, weight_latency):
        widths = sample_counter_bits(config, weight_latency)
        super().__init__({
            "busy": In(1),
            "sops": In(range(max(config.layer_sizes) + 1)),
            "writes": In(range(config.lanes + 1)),
            "sample_done": In(1),
            "clear": In(1),
            "sample_start": In(1),
            "cycles": Out(COUNTER_BITS),
            "sops_total": Out(COUNTER_BITS),
            "writes_total": Out(COUNTER_BITS),
            "samples": Out(SAMPLE_COUNT_BITS),
            **{f"sample_{name}": Out(bits) for name, bits in widths.items()},
        })

    def elaborate(self, platform):
        m = Module()
        steps = {}
        for name in ("busy", "sops", "writes", "sample_done"):
            step = getattr(self, name)
            steps[name] = Signal.like(step, name=f"{name}_step")
            m.d.sync += steps[name].eq(step)
        totals = [(self.cycles, steps["busy"]), (self.sops_total, steps["sops"]),
                  (self.writes_total, steps["writes"]), (self.samples, steps["sample_done"])]
        per_sample = [(self.sample_cycles, steps["busy"]), (self.sample_sops, steps["sops"]),
                      (self.sample_writes, steps["writes"])]
        with m.If(self.clear):
            m.d.sync += [counter.eq(0) for counter, _ in totals]
        with m.Else():
            m.d.sync += [counter.eq(counter + step) for counter, step in totals]
        with m.If(self.sample_start):
            m.d.sync += [counter.eq(0) for counter, _ in per_sample]
        with m.Else():
            m.d.sync += [counter.eq(counter + step) for counter, step in per_sample]
        return m
