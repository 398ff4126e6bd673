"""Scoreboard: the simulation's golden twin of the chip.

:class:`~spikefab.twin.GoldenTwin` (shared with the host's ``spikefab board``) compares
every reply with golden's; the scoreboard adds the testbench's weight signature: after a
training sample it must equal the signature of golden's weights (:mod:`spikefab.sim.verilog`).
A difference raises :class:`Mismatch`.
"""

from spikefab.layout import Layout
from spikefab.sim.verilog import signature_delta
from spikefab.twin import GoldenTwin, Mismatch


__all__ = ["Mismatch", "Scoreboard"]


class Scoreboard(GoldenTwin):
    """Golden's twin of one simulated chip, starting from the same weights, with the
    testbench's weight signature.

    Parameters
    ----------
    config : :class:`~spikefab.config.Config`
    weights : list of arrays, optional
        The chip's initial weights (golden's initialisation by default).
    """

    def __init__(self, config, weights=None):
        super().__init__(config, weights)
        self.layout = Layout(config)
        self.initial = [w.copy() for w in self.golden.weights]

    def expected_signature(self):
        return signature_delta(self.layout, self.golden.weights, self.initial)

    def signature_matches(self, signature):
        return int(signature) == self.expected_signature()
