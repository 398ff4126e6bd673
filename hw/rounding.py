"""The rounding generator: the stochastic-rounding dither source of the update unit.

Twin of :class:`spikefab.golden.learning.RoundingGenerator`: an xorshift32 state
(:data:`~spikefab.golden.rng.XORSHIFT32_SHIFTS`), ``rounding_seed`` at reset and on
``reseed``. A ``draw`` advances it once; ``row_dither`` is the high half of the state it
advances to (golden's :func:`~spikefab.golden.learning.draw_row_dither`), valid in the
cycle of the draw so the caller registers it with the step.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spikefab.golden.rng import XORSHIFT32_SHIFTS


__all__ = ["RoundingGenerator", "xorshift32"]


def xorshift32(state):
    """The xorshift32 step as an expression of a 32-bit value (golden's ``xorshift32``)."""
    left_a, right, left_b = XORSHIFT32_SHIFTS
    x = state ^ (state << left_a)[:32]
    x = x ^ (x >> right)
    return x ^ (x << left_b)[:32]


class RoundingGenerator(wiring.Component):
    """Parameters
    ----------
    seed : int
        ``rounding_seed`` (non-zero): the state at reset and after ``reseed``.

    Members
    -------
    draw : In(1)
        Advance the state this cycle.
    reseed : In(1)
        Reload ``seed`` (wins over ``draw``).
    row_dither : Out(16)
        High half of ``xorshift32(state)``: the dither of the row a draw is made for.
    """

    def __init__(self, seed):
        # 0 is xorshift32's fixed point: the generator would never move.
        if not isinstance(seed, int) or not 0 < seed < 1 << 32:
            self._MustUse__silence = True
            raise ValueError(f"seed must be a non-zero unsigned 32-bit integer, not {seed!r}")
        self._seed = seed
        super().__init__({
            "draw": In(1),
            "reseed": In(1),
            "row_dither": Out(16),
        })

    def elaborate(self, platform):
        m = Module()
        state = Signal(32, init=self._seed)
        advanced = Signal(32)
        m.d.comb += [advanced.eq(xorshift32(state)), self.row_dither.eq(advanced[16:])]
        with m.If(self.reseed):
            m.d.sync += state.eq(self._seed)
        with m.Elif(self.draw):
            m.d.sync += state.eq(advanced)
        return m
