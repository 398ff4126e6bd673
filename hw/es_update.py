"""The ES update of one weight word, ``P`` lanes side by side (rules 7 and 8 of
:mod:`spikefab.golden.es`).

Twin of :func:`spikefab.golden.es.accumulate_update` and ``apply_es_update`` for one word
of row ``i``: lane ``l`` (neuron ``j``) sums, over the generation's pairs ``k``, ::

    Z[j] = Σ_k d_k · (r - 2 · popcount(a_k[j] XOR b_k[i]))

one pair per ``accumulate`` (``d_k`` and the pair's factor bits: each lane's ``a_k[j]``
and the row's ``b_k[i]``); ``clear`` starts a word. Then, from ``Z``, the word's stored
``weights`` and the layer's ``shift`` ``s``: the step ``m = min((|Z| + ρ) >> s,
es_max_step)`` toward ``sign(Z)``, the saturated weight ``w' = clamp(w + sign(Z)·m)`` on
``new_weights`` and ``changed`` where ``w' ≠ w`` (only those are written). The rounded
magnitude, its shift and the step are registered in turn (:data:`STEP_LATENCY`: a 100 MHz path on
the ECP5), so ``new_weights`` and ``changed`` hold ``STEP_LATENCY`` cycles after ``Z`` and
``ACCUMULATE_LATENCY + STEP_LATENCY`` after ``shift`` and ``dither`` last changed (the
rounding offset is registered first, beside the last pair's sum); a pair's rank sums are registered before they are
added, so ``Z`` holds a pair :data:`ACCUMULATE_LATENCY` cycle after its ``accumulate``
(``clear`` drops a pair still on its way). The rounding offset ``ρ`` is ``2**(s-1)`` (0 for ``s = 0``), or with
stochastic rounding the top ``s`` bits of lane ``l``'s dither ``(D + l·0x9E37) mod
2**16``, ``D`` the word's dither (the row's dither plus ``word·P·0x9E37``, as
:class:`~spikefab.hw.update_lanes.UpdateLanes` steps it).
"""

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from spikefab.golden.es import ES_SIGNAL_MAX
from spikefab.golden.learning import DITHER_STEP
from spikefab.hw.es_perturb import rank_sum
from spikefab.hw.ports import SHIFT_BITS


__all__ = ["ESUpdateLanes", "update_sum_bits", "STEP_LATENCY", "ACCUMULATE_LATENCY"]

#: Cycles from ``Z`` (and ``shift``, ``dither``) to ``new_weights`` and ``changed``.
STEP_LATENCY = 3
#: Cycles from the last ``accumulate`` to its pair in ``Z``.
ACCUMULATE_LATENCY = 1


def update_sum_bits(config):
    """Bits of ``|Z| ≤ ES_SIGNAL_MAX · K · r`` (``K`` pairs)."""
    return (ES_SIGNAL_MAX * (config.es_population // 2) * config.es_rank).bit_length()


class ESUpdateLanes(wiring.Component):
    """Parameters
    ----------
    config : :class:`~spikefab.config.Config`
    lanes : int

    Members
    -------
    clear, accumulate : In(1)
        Start a word (``Z = 0``); add pair ``d``'s rank sums (``clear`` wins).
    d : In(signed(3)); a : In(lanes × unsigned(r)); b : In(unsigned(r))
    weights : In(lanes × signed(w_bits)); shift : In(SHIFT_BITS); dither : In(16)
    new_weights : Out(lanes × signed(w_bits)); changed : Out(lanes)
    """

    def __init__(self, config, lanes):
        self._config = config
        self._lanes = lanes
        weight = signed(config.w_bits)
        rank = unsigned(config.es_rank)
        super().__init__({
            "clear": In(1),
            "accumulate": In(1),
            "d": In(signed(ES_SIGNAL_MAX.bit_length() + 1)),
            "a": In(data.ArrayLayout(rank, lanes)),
            "b": In(rank),
            "weights": In(data.ArrayLayout(weight, lanes)),
            "shift": In(SHIFT_BITS),
            "dither": In(16),
            "new_weights": Out(data.ArrayLayout(weight, lanes)),
            "changed": Out(lanes),
        })

    def elaborate(self, platform):
        m = Module()
        config = self._config
        sum_bits = update_sum_bits(config)
        # A pair's rank sums and signal are registered, then added (ACCUMULATE_LATENCY).
        taken = Signal()
        d = Signal.like(self.d)
        m.d.sync += [taken.eq(self.accumulate & ~self.clear), d.eq(self.d)]
        for lane in range(self._lanes):
            z = Signal(signed(sum_bits + 1), name=f"z{lane}")
            sums = Signal(signed(config.es_rank.bit_length() + 1), name=f"rank_sums{lane}")
            m.d.sync += sums.eq(rank_sum(self.a[lane], self.b, config.es_rank))
            with m.If(self.clear):
                m.d.sync += z.eq(0)
            with m.Elif(taken):
                m.d.sync += z.eq(z + d * sums)
            self._step(m, lane, z)
        return m

    def _offset(self, m, lane):
        """The lane's rounding offset ``ρ``."""
        if self._config.rounding != "stochastic":
            return (Const(1, 33) << self.shift)[1:33]       # 2**(s-1), 0 for s = 0
        keep = Signal(range(17), name=f"dither_shift{lane}")  # leaves the top s bits
        m.d.comb += keep.eq(16 - self.shift)
        return (self.dither + lane * DITHER_STEP)[:16] >> keep

    def _step(self, m, lane, z):
        """``new_weights[lane]`` and ``changed[lane]`` from ``Z`` and the stored weight."""
        config = self._config
        magnitude = Signal(len(z), name=f"magnitude{lane}")
        rounded = Signal(len(z) + 17, name=f"rounded{lane}")
        size = Signal(len(z) + 17, name=f"size{lane}")
        step = Signal(range(config.es_max_step + 1), name=f"step{lane}")
        # The offset (the dither's add and shift) is registered beside the last pair's sum.
        offset = Signal(17, name=f"offset{lane}")
        m.d.sync += offset.eq(self._offset(m, lane))
        m.d.comb += magnitude.eq(Mux(z < 0, -z, z))
        m.d.sync += [
            rounded.eq(magnitude + offset),
            size.eq(rounded >> self.shift),
            step.eq(Mux(size > config.es_max_step, config.es_max_step, size)),
        ]
        w = self.weights[lane]
        moved = Signal(signed(config.w_bits + 2), name=f"moved{lane}")
        m.d.comb += moved.eq(Mux(z < 0, w - step, w + step))
        new = Mux(moved > config.w_max, config.w_max,
                  Mux(moved < config.w_min, config.w_min, moved))
        # w' ≠ w exactly when a step is taken from a weight not at the rail it moves to
        # (a test that needs neither the sum nor the clamp).
        rail = Mux(z < 0, w != config.w_min, w != config.w_max)
        m.d.comb += [self.new_weights[lane].eq(new),
                     self.changed[lane].eq((step != 0) & rail)]
