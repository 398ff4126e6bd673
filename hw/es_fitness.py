"""The fitness of an ES member on its mini-batch (rule 5 of :mod:`spikefab.golden.es`).

Twin of :func:`spikefab.golden.es.fitness`: from each sample's output error ``e``
(the readout's, :func:`~spikefab.golden.learning.output_error`), its label and the
run-time margin, ::

    f = -Σ_samples Σ_k (max(|e[k]| - margin, 0)² << (ES_LABEL_SHIFT if k = label else 0))

``clear`` starts a member (``f = 0``). ``add`` takes a sample's errors and label; the
block then works through the outputs one a cycle (``busy`` meanwhile, ``n_out + 2``
cycles: the excess, its square and the sum are registered in turn), squaring the excess
with one multiplier, and ``fitness`` holds the running sum.
The sum is kept as the positive ``Σ`` (the error energy) and negated on the way out.
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from spikefab.golden.es import ES_LABEL_SHIFT


__all__ = ["FitnessAccumulator", "fitness_bits"]


def fitness_bits(config):
    """Bits of the error energy of a full mini-batch: each sample's at most ``T²`` per
    output, the label's ``2**ES_LABEL_SHIFT`` times."""
    per_sample = (config.n_out - 1 + (1 << ES_LABEL_SHIFT)) * config.timesteps ** 2
    return (config.es_batch * per_sample).bit_length()


class FitnessAccumulator(wiring.Component):
    """Parameters
    ----------
    config : :class:`~spikefab.config.Config`
    error_shape : shape-like
        A readout error's shape (:attr:`spikefab.hw.ports.Shapes.error`).

    Members
    -------
    clear, add : In(1)
        Start a member; take ``error`` and ``label`` of a sample (only while not ``busy``).
    error : In(n_out × error_shape); label : In(range(n_out)); margin : In(range(T + 1))
    busy : Out(1)
    fitness : Out(signed)
        ``f`` of the samples added since ``clear``, settled when not ``busy``.
    """

    def __init__(self, config, error_shape):
        self._config = config
        n_out = config.n_out
        self._energy_bits = fitness_bits(config)
        super().__init__({
            "clear": In(1),
            "add": In(1),
            "error": In(data.ArrayLayout(error_shape, n_out)),
            "label": In(range(n_out)),
            "margin": In(range(config.timesteps + 1)),
            "busy": Out(1),
            "fitness": Out(signed(self._energy_bits + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        config = self._config
        n_out = config.n_out
        # The sample's errors in a shift register: the output worked on is always the
        # first (no select in front of the arithmetic).
        errors = [Signal.like(self.error[k], name=f"error{k}") for k in range(n_out)]
        label = Signal.like(self.label)
        output = Signal(range(n_out))
        walking = Signal()
        energy = Signal(unsigned(self._energy_bits))
        m.d.comb += self.fitness.eq(-energy)

        # Three registered stages (a 100 MHz path on the ECP5): the output's excess over
        # the margin, its square (the label's shifted), the sum.
        current = errors[0]
        # |e| ≤ T (a count, or a count minus the target), but no narrower than e itself.
        magnitude = Signal(len(current), name="magnitude")
        m.d.comb += magnitude.eq(Mux(current < 0, -current, current))
        excess = Signal(len(current), name="excess")
        excess_valid, excess_label = Signal(), Signal()
        term = Signal(2 * len(current) + ES_LABEL_SHIFT, name="term")
        term_valid = Signal()
        m.d.sync += [
            excess.eq(Mux(magnitude > self.margin, magnitude - self.margin, 0)),
            excess_valid.eq(walking), excess_label.eq(output == label),
            term.eq(Mux(excess_label, (excess * excess) << ES_LABEL_SHIFT, excess * excess)),
            term_valid.eq(excess_valid),
        ]
        m.d.comb += self.busy.eq(walking | excess_valid | term_valid)

        with m.If(self.clear):
            m.d.sync += energy.eq(0)
        with m.Elif(term_valid):
            m.d.sync += energy.eq(energy + term)
        with m.If(walking):
            m.d.sync += output.eq(output + 1)
            m.d.sync += [errors[k].eq(errors[k + 1]) for k in range(n_out - 1)]
            with m.If(output == n_out - 1):
                m.d.sync += [walking.eq(0), output.eq(0)]
        with m.Elif(self.add & ~self.busy):
            m.d.sync += [walking.eq(1), label.eq(self.label), output.eq(0)]
            m.d.sync += [errors[k].eq(self.error[k]) for k in range(n_out)]
        return m
