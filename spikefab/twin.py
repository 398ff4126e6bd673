"""A golden twin of one chip: golden's answer for every sample the chip runs, compared in
order.

Used by the host (``spikefab board``, :func:`spikefab.onchip.train_on_chip`) and by the
simulation's scoreboard (:class:`spikefab.sim.scoreboard.Scoreboard`, which adds the
testbench's weight signature). The chip's reply to a sample (output counts, prediction,
synaptic operations, weight writes) must equal golden's; a difference raises
:class:`Mismatch` naming the sample and the first differing value; for weights it names
the layer, presynaptic row and neuron.
"""

import numpy as np

from spikefab.golden.encoders import encode
from spikefab.golden.network import GoldenNet


__all__ = ["Mismatch", "GoldenTwin"]


class Mismatch(AssertionError):
    """The chip and golden disagree."""


class GoldenTwin:
    """Golden's twin of one chip, starting from the same weights.

    Parameters
    ----------
    config : :class:`~spikefab.config.Config`
    weights : list of arrays, optional
        The chip's initial weights (golden's initialisation by default).
    """

    def __init__(self, config, weights=None):
        self.config = config
        self.golden = GoldenNet(config, weights)
        self.samples = 0

    def raster(self, sample, events):
        """Golden's input raster for what the chip is sent (pixels are encoded per sample)."""
        if events:
            return np.asarray(sample, dtype=np.uint8)
        return encode(np.asarray(sample)[None], self.config)[0]

    def expect(self, sample, label=None, *, events=False):
        """Golden's result for the sample: a training step when ``label`` is given."""
        raster = self.raster(sample, events)
        if label is None:
            return self.golden.forward(raster)
        return self.golden.train(raster, int(label))

    def compare(self, what, hw, golden):
        """Raise :class:`Mismatch` unless the chip's reply equals golden's result."""
        expect_counts = [int(c) for c in golden.output_counts]
        for neuron, (got, want) in enumerate(zip(hw.counts, expect_counts)):
            if got != want:
                raise Mismatch(f"{what}: output neuron {neuron} fired {got} times on the "
                               f"chip, {want} in golden")
        pairs = [("prediction", hw.prediction, golden.prediction),
                 ("synaptic operations", hw.sops, golden.sops),
                 ("weight writes", hw.weight_writes, getattr(golden, "weight_writes", 0))]
        for name, got, want in pairs:
            if got != want:
                raise Mismatch(f"{what}: {name} {got} on the chip, {want} in golden")
        self.samples += 1

    def compare_weights(self, what, weights):
        """Raise :class:`Mismatch` at the first weight that differs from golden's."""
        for layer, (got, want) in enumerate(zip(weights, self.golden.weights)):
            differ = np.argwhere(np.asarray(got) != want)
            if len(differ):
                pre, post = (int(i) for i in differ[0])
                raise Mismatch(
                    f"{what}: layer {layer} weight from input {pre} to neuron {post} is "
                    f"{int(got[pre, post])} on the chip, {int(want[pre, post])} in golden "
                    f"({len(differ)} weights of this layer differ)")
