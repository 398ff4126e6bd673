"""The readout: output spike counts, the decision, the output error and the margin test.

Twin of :func:`spikefab.golden.network.decide` (argmax of the counts, the lowest index
wins a tie) and :func:`spikefab.golden.learning.output_error` (``e = clip(c - T·onehot)``),
with the margin test of :func:`~spikefab.golden.learning.learning_signals`
(``max |e| ≤ margin`` skips the update).

The counts arrive a neuron-memory word (``P`` outputs) per ``capture``; ``start`` then
opens the argmax, one output per ``step`` (``last`` marks the final one). The errors and
the margin test are registered in two steps from the counts, so both are settled by the
time the argmax has run its ``n_out ≥ 2`` steps.
"""

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out


__all__ = ["Readout"]


class Readout(wiring.Component):
    """Parameters
    ----------
    config : :class:`~spikefab.config.Config`
    layout : :class:`~spikefab.layout.Layout`
    shapes : :class:`~spikefab.hw.ports.Shapes`

    Members
    -------
    capture : In(1)
        Load the counts of output word ``word`` from ``neuron_word``.
    start, step : In(1)
        Open the argmax; compare the next output.
    last : Out(1)
        This ``step`` compares the last output: ``prediction`` is final after it.
    label : In(range(n_out)); margin : In(range(T + 1))
    counts : Out(n_out × count); prediction : Out(range(n_out))
    error : Out(n_out × error)
        ``e``, registered a cycle after the counts.
    within : Out(1)
        ``max |e| ≤ margin``, registered a cycle after ``error``.
    """

    def __init__(self, config, layout, shapes):
        self._config = config
        self._lanes = layout.lanes
        n_out = config.n_out
        super().__init__({
            "capture": In(1),
            "word": In(range(layout.neuron_words[-1])),
            "neuron_word": In(shapes.neuron_word),
            "start": In(1),
            "step": In(1),
            "last": Out(1),
            "label": In(range(n_out)),
            "margin": In(range(config.timesteps + 1)),
            "counts": Out(data.ArrayLayout(shapes.count, n_out)),
            "prediction": Out(range(n_out)),
            "error": Out(data.ArrayLayout(shapes.error, n_out)),
            "within": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        config, lanes = self._config, self._lanes
        n_out = config.n_out

        for j in range(n_out):
            with m.If(self.capture & (self.word == j // lanes)):
                m.d.sync += self.counts[j].eq(self.neuron_word[j % lanes].count)

        # Argmax: a strictly greater count takes over, so the lowest index wins a tie.
        j = Signal(range(n_out))
        best = Signal.like(self.counts[0])
        m.d.comb += self.last.eq(j == n_out - 1)
        with m.If(self.start):
            m.d.sync += [j.eq(0), best.eq(0), self.prediction.eq(0)]
        with m.Elif(self.step):
            count = Array(self.counts[jj] for jj in range(n_out))[j]
            with m.If(count > best):
                m.d.sync += [best.eq(count), self.prediction.eq(j)]
            m.d.sync += j.eq(j + 1)

        clip = config.error_clip
        for jj in range(n_out):
            raw = self.counts[jj] - Mux(self.label == jj, config.target_count, 0)
            if clip:
                raw = Mux(raw > clip, clip, Mux(raw < -clip, -clip, raw))
            m.d.sync += self.error[jj].eq(raw)
        # -margin is registered: the margin register changes only while the chip is idle.
        low = Signal(signed(len(self.margin) + 1))
        inside = Signal(n_out)          # |e[j]| ≤ margin, each output on its own
        m.d.sync += low.eq(-self.margin)
        m.d.sync += inside.eq(Cat(*[(e <= self.margin) & (e >= low) for e in (self.error[jj] for jj in range(n_out))]))
        m.d.comb += self.within.eq(inside.all())
        return m
