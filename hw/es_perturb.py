"""The member weights of EGGROLL, ``P`` lanes side by side (rules 3 and 4 of
:mod:`spikefab.golden.es`).

Twin of golden's :func:`~spikefab.golden.es.rank_sums` and ``_perturb`` for one weight
word: lane ``l`` holds the weight ``w`` of the synapse from the spiking row ``i`` to its
neuron ``j`` and that neuron's factor bits ``a[j]``; with the row's factor bits ``b[i]``,
the member's sign ``s`` and ``σ = es_sigma_shift``::

    S  = r - 2 · popcount(a[j] XOR b[i])          in [-r, r]
    w̃ = clamp(w + s · (S << σ), w_min, w_max)

Without ``enable`` (DFA's samples, and ES's stored weights) the word passes unchanged.
Combinational: an ``r``-bit XOR, a popcount, a shift and a saturating add per lane; the
synapse engine registers the result with the word it reads, so no member weight is ever
stored.
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out


__all__ = ["PerturbLanes", "RankSums", "MemberWeights", "rank_sum", "perturbation_shape",
           "saturation_bounds", "bound_shape"]


def rank_sum(a, b, rank):
    """``r - 2 · popcount(a XOR b)`` of two ``rank``-bit values, as a signed expression."""
    differ = a ^ b
    popcount = sum(differ[t] for t in range(rank))
    return rank - (popcount << 1)


class RankSums(wiring.Component):
    """Rule 3, shifted and signed: ``s · (S << σ)`` of every lane, from its neuron's
    factor bits ``a``, the row's ``b`` and the member's sign (``negative``)
    (combinational; the synapse engine registers it).

    Members
    -------
    a : In(lanes × unsigned(r)); b : In(unsigned(r)); negative : In(1)
    shifted : Out(lanes × signed(w_bits + 5))
    """

    def __init__(self, config, lanes):
        self._config = config
        self._lanes = lanes
        rank = unsigned(config.es_rank)
        super().__init__({
            "a": In(data.ArrayLayout(rank, lanes)),
            "b": In(rank),
            "negative": In(1),
            "shifted": Out(data.ArrayLayout(perturbation_shape(config), lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        config = self._config
        # -S of (a, b) is S of (a, NOT b): r - 2·popcount(NOT x) = 2·popcount(x) - r. The
        # sign costs an inverter, not a negation after the sum.
        b = Signal.like(self.b)
        m.d.comb += b.eq(Mux(self.negative, ~self.b, self.b))
        for lane in range(self._lanes):
            m.d.comb += self.shifted[lane].eq(
                rank_sum(self.a[lane], b, config.es_rank) << config.es_sigma_shift)
        return m


def saturation_bounds(config, shifted):
    """``(high, low) = (w_max - shifted, w_min - shifted)``: ``w + shifted`` saturates
    exactly when ``w > high`` or ``w < low`` (compares that need not wait for the sum)."""
    return config.w_max - shifted, config.w_min - shifted


class MemberWeights(wiring.Component):
    """Rule 4 from rule 3's signed sums: ``w̃ = clamp(w + shifted)`` of every lane, or
    ``w`` without ``enable`` (combinational). The clamp compares ``w`` with the lane's
    :func:`saturation_bounds`, given beside ``shifted`` (the engine registers them), so
    they run beside the sum.

    Members
    -------
    weights : In(lanes × signed(w_bits)); shifted, high, low : In(lanes × signed(w_bits + 6))
    enable : In(1)
    member : Out(lanes × signed(w_bits))
    """

    def __init__(self, config, lanes):
        self._config = config
        self._lanes = lanes
        weight = signed(config.w_bits)
        super().__init__({
            "weights": In(data.ArrayLayout(weight, lanes)),
            "shifted": In(data.ArrayLayout(perturbation_shape(config), lanes)),
            "high": In(data.ArrayLayout(bound_shape(config), lanes)),
            "low": In(data.ArrayLayout(bound_shape(config), lanes)),
            "enable": In(1),
            "member": Out(data.ArrayLayout(weight, lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        config = self._config
        for lane in range(self._lanes):
            w = self.weights[lane]
            total = Signal(signed(config.w_bits), name=f"total{lane}")
            m.d.comb += total.eq(w + self.shifted[lane])      # its low bits, unless clamped
            clamped = Mux(w > self.high[lane], config.w_max,
                          Mux(w < self.low[lane], config.w_min, total))
            m.d.comb += self.member[lane].eq(Mux(self.enable, clamped, w))
        return m


def bound_shape(config):
    """:func:`saturation_bounds`' shape: a weight bound minus a perturbation."""
    return signed(config.w_bits + 6)


def perturbation_shape(config):
    """``|S << σ| ≤ r · 2**σ < 2**(w_bits + 3)``: a weight plus it fits ``w_bits + 5``
    bits, signed."""
    return signed(config.w_bits + 5)


class PerturbLanes(wiring.Component):
    """Parameters
    ----------
    config : :class:`~spikefab.config.Config`
        ``w_bits``, ``es_rank`` and ``es_sigma_shift``.
    lanes : int

    :class:`RankSums` into :class:`MemberWeights` in one cycle (the synapse engine
    registers between the two).

    Members
    -------
    weights : In(lanes × signed(w_bits))
        The stored word.
    a : In(lanes × unsigned(r))
        Each lane's neuron's factor bits (a row of ``A``).
    b : In(unsigned(r))
        The spiking row's factor bits (a row of ``B``).
    negative : In(1)
        The member's sign is ``-1`` (an odd member).
    enable : In(1)
        Perturb; otherwise ``member`` is ``weights``.
    member : Out(lanes × signed(w_bits))
    """

    def __init__(self, config, lanes):
        self._config = config
        self._lanes = lanes
        weight = signed(config.w_bits)
        rank = unsigned(config.es_rank)
        super().__init__({
            "weights": In(data.ArrayLayout(weight, lanes)),
            "a": In(data.ArrayLayout(rank, lanes)),
            "b": In(rank),
            "negative": In(1),
            "enable": In(1),
            "member": Out(data.ArrayLayout(weight, lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.sums = sums = RankSums(self._config, self._lanes)
        m.submodules.weights = member = MemberWeights(self._config, self._lanes)
        m.d.comb += [
            sums.a.eq(self.a), sums.b.eq(self.b), sums.negative.eq(self.negative),
            member.weights.eq(self.weights), member.shifted.eq(sums.shifted),
            member.enable.eq(self.enable),
            self.member.eq(member.member),
        ]
        for lane in range(self._lanes):
            high, low = saturation_bounds(self._config, sums.shifted[lane])
            m.d.comb += [member.high[lane].eq(high), member.low[lane].eq(low)]
        return m
