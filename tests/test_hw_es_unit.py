"""The ES unit alone (:class:`hw.es_unit.ESUnit`: factor writer, factor memories, ES
updater) against golden's rules 2, 3, 7 and 8, with nothing of the core around it: a
buffer memory holds the request's bytes, a weight memory the weights, a rounding
generator the dither. Hypothesis draws the config (layers, lanes, rank, pairs, rounding,
weight width, max step), the initial weights (rails included), the pair seeds, the
signals and the lr shift; every weight and the write count must equal
``apply_es_update``'s, and each failure names the ES updater or the factor writer."""

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from hypothesis import HealthCheck, given, settings, strategies as st

from spikefab.golden.es import ES_SIGNAL_MAX, accumulate_update, apply_es_update, \
    pair_factors, rank_sums
from spikefab.golden.learning import RoundingGenerator as GoldenRounding
from spikefab.hw.es_unit import ESUnit
from spikefab.hw.memory import WeightMemory
from spikefab.hw.ports import Shapes
from spikefab.hw.rounding import RoundingGenerator
from spikefab.layout import Layout

from conftest import small_config
from hw_support import simulate


class ESUnitBench(wiring.Component):
    """An :class:`ESUnit` wired to a buffer holding ``payload``, a weight memory holding
    ``weights`` and the chip's rounding generator."""

    def __init__(self, config, weights, payload, *, weight_latency):
        self.config = config
        self.layout = layout = Layout(config)
        shapes = Shapes(config, layout)
        self.unit = ESUnit(config, layout, shapes, buffer_depth=max(len(payload), 2),
                           weight_latency=weight_latency)
        words = [[int(v) for v in word] for word in layout.pack_weights(weights)]
        self.weight_memory = WeightMemory(shapes, layout.weight_depth, words,
                                          read_latency=weight_latency)
        self.payload = payload
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        unit = self.unit
        m.submodules.unit = unit
        m.submodules.weights = self.weight_memory
        m.submodules.buffer = buffer = Memory(shape=8, depth=max(len(self.payload), 2),
                                              init=list(self.payload))
        m.submodules.rounding = rounding = RoundingGenerator(self.config.rounding_seed)
        read = buffer.read_port()
        wiring.connect(m, unit.weights, self.weight_memory)
        m.d.comb += [read.addr.eq(unit.buf_raddr), unit.buf_rdata.eq(read.data),
                     rounding.draw.eq(unit.draw), unit.row_dither.eq(rounding.row_dither)]
        return m


@st.composite
def es_cases(draw):
    n_hidden = draw(st.integers(1, 2))
    w_bits = draw(st.integers(3, 8))
    config = small_config(
        n_in=draw(st.integers(1, 9)),
        hidden=tuple(draw(st.integers(1, 7)) for _ in range(n_hidden)),
        n_out=draw(st.integers(2, 4)), w_bits=w_bits, lanes=draw(st.integers(1, 5)),
        es_on_chip=True, es_rank=draw(st.integers(1, 6)),
        es_population=2 * draw(st.integers(1, 4)),
        es_max_step=draw(st.integers(1, 1 << (w_bits - 2))),
        rounding=draw(st.sampled_from(["nearest", "stochastic"])),
        rounding_seed=draw(st.integers(1, (1 << 32) - 1)),
        init_range=((1 << (w_bits - 1)) - 1,) * (n_hidden + 1))
    pairs = config.es_population // 2
    seeds = draw(st.lists(st.integers(0, (1 << 32) - 1), min_size=pairs, max_size=pairs))
    signals = draw(st.lists(st.integers(-ES_SIGNAL_MAX, ES_SIGNAL_MAX),
                            min_size=pairs, max_size=pairs))
    shift = draw(st.integers(0, 6 if config.rounding == "stochastic" else 8))
    rng = np.random.default_rng(draw(st.integers(0, 1 << 16)))
    # Half the weights on a rail, so saturating steps are common.
    weights = []
    for fan_in, fan_out in config.weight_shapes:
        w = rng.integers(config.w_min, config.w_max + 1, (fan_in, fan_out))
        rails = rng.random(w.shape) < 0.5
        w[rails] = rng.choice([config.w_min, config.w_max], rails.sum())
        weights.append(w.astype(np.int16))
    return config, seeds, signals, shift, weights, draw(st.sampled_from([2, 3, 4]))


def run_unit(config, seeds, signals, shift, weights, weight_latency):
    """Factors from ``seeds``, then the update of ``signals``; the weights, the writes
    and whether it was refused."""
    seed_bytes = b"".join(int(s).to_bytes(4, "little") for s in seeds)
    signal_bytes = bytes(int(d) & 0xFF for d in signals)
    bench = ESUnitBench(config, weights, seed_bytes + signal_bytes,
                        weight_latency=weight_latency)
    unit, layout = bench.unit, bench.layout
    seen = {}

    async def pulse_until_done(ctx, start, offset):
        ctx.set(unit.data_offset, offset)
        ctx.set(start, 1)
        await ctx.tick()
        ctx.set(start, 0)
        writes = 0
        for _ in range(1_000_000):
            if ctx.get(unit.weights.we):
                writes += ctx.get(unit.writes)
            if ctx.get(unit.done):
                break
            await ctx.tick()
        else:
            raise AssertionError("ES unit: no done")
        refused = ctx.get(unit.refused)
        # The weight memory registers a write request before its RAM: let the last land.
        for _ in range(4):
            await ctx.tick()
        return writes, refused

    async def testbench(ctx):
        ctx.set(unit.lr_shift, [shift] * len(config.weight_shapes))
        _, refused = await pulse_until_done(ctx, unit.factors_start, 0)
        assert not refused, "factor writer: refused"
        seen["writes"], seen["refused"] = await pulse_until_done(ctx, unit.update_start,
                                                                  len(seed_bytes))
        data = bench.weight_memory.data
        words = np.array([[ctx.get(data[i])[q] for q in range(layout.lanes)]
                          for i in range(layout.weight_depth)])
        seen["weights"] = layout.unpack_weights(words)

    simulate(bench, testbench)
    return seen


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(es_cases())
def test_es_unit_alone_equals_golden_update(case):
    config, seeds, signals, shift, weights, latency = case
    want = [w.copy() for w in weights]
    sums = [rank_sums(config, pair_factors(config, s)) for s in seeds]
    Z = accumulate_update(config, sums, signals)
    rounding = GoldenRounding(config) if config.rounding == "stochastic" else None
    writes = apply_es_update(config, want, Z, [shift] * len(weights), rounding)
    seen = run_unit(config, seeds, signals, shift, weights, latency)
    assert not seen["refused"], "ES updater: refused signals within ±3"
    for layer, (got, ref) in enumerate(zip(seen["weights"], want)):
        assert np.array_equal(got, ref), (
            f"ES updater: weight layer {layer} differs from golden at "
            f"{np.argwhere(got != ref)[:4].tolist()} (config {config.weight_shapes}, "
            f"lanes {config.lanes}, rank {config.es_rank}, shift {shift}, "
            f"{config.rounding}, signals {signals})")
    assert seen["writes"] == writes, \
        f"ES updater: {seen['writes']} weight writes, golden {writes}"


def test_es_unit_alone_refuses_a_signal_out_of_range():
    config = small_config(n_in=4, hidden=(3,), n_out=2, es_on_chip=True, es_population=4,
                          es_rank=2)
    weights = [np.zeros(shape, dtype=np.int16) for shape in config.weight_shapes]
    seen = run_unit(config, [5, 6], [1, ES_SIGNAL_MAX + 1], 0, weights, 2)
    assert seen["refused"], "ES updater: a signal of 4 was not refused"
    assert seen["writes"] == 0 and all(not w.any() for w in seen["weights"]), \
        "ES updater: a refused update wrote"
