"""The update unit alone against its golden twin ``GoldenNet.learn``: given the spike
counts of a forward pass (in the neuron and input-count memories) and the weights, it
must decide, skip or update exactly as golden does — every weight, every write counted,
the input counts cleared behind it — at weight-memory latencies 2 and 3, row by row and,
from ``WIDE_LANES`` lanes on, with its rows overlapped."""

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from hypothesis import given, settings, strategies as st

from spikefab.cost import cycle_model
from spikefab.golden.network import GoldenNet, decide, init_weights
from spikefab.hw.learning import UpdateUnit
from spikefab.hw.memory import WeightMemory
from spikefab.hw.ports import Shapes
from spikefab.layout import Layout

from conftest import random_configs, small_config
from hw_support import neuron_words, simulate


class Bench(wiring.Component):
    """The unit with its memories: neurons (counts of every layer), input counts, weights."""

    def __init__(self, config, counts, weights, latency):
        self.layout = layout = Layout(config)
        shapes = Shapes(config, layout)
        words = neuron_words(layout, counts[1:])
        self.neurons = Memory(shape=shapes.neuron_word, depth=len(words), init=words)
        self.inputs = Memory(shape=shapes.count, depth=config.n_in,
                             init=[int(c) for c in counts[0]])
        init = [[int(v) for v in word] for word in layout.pack_weights(weights)]
        self.weights = WeightMemory(shapes, layout.weight_depth, init, read_latency=latency)
        self.unit = UpdateUnit(config, layout, shapes, weight_latency=latency)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        unit = m.submodules.unit = self.unit
        m.submodules.neurons, m.submodules.inputs = self.neurons, self.inputs
        m.submodules.weights = self.weights
        wiring.connect(m, unit.weights, self.weights)
        n_read = self.neurons.read_port()
        c_read, c_write = self.inputs.read_port(), self.inputs.write_port()
        m.d.comb += [
            n_read.addr.eq(unit.n_raddr), unit.n_rdata.eq(n_read.data),
            c_read.addr.eq(unit.cnt_raddr), c_read.en.eq(unit.cnt_ren),
            unit.cnt_rdata.eq(c_read.data),
            c_write.addr.eq(unit.cnt_waddr), c_write.en.eq(unit.cnt_we), c_write.data.eq(0),
        ]
        return m


def learn_rtl(config, counts, label, weights, latency, train=True):
    bench = Bench(config, counts, weights, latency)
    unit, layout = bench.unit, bench.layout
    got = {}

    async def testbench(ctx):
        ctx.set(unit.lr_shift, list(config.lr_shifts))
        ctx.set(unit.margin, config.margin)
        ctx.set(unit.label, label)
        ctx.set(unit.train, train)
        ctx.set(unit.start, 1)
        await ctx.tick()
        ctx.set(unit.start, 0)
        writes = cycles = 0
        for _ in range(100_000):
            writes += ctx.get(unit.writes)
            done = ctx.get(unit.done)
            await ctx.tick()
            cycles += 1
            if done:
                break
        else:
            raise AssertionError("UpdateUnit never finished")
        words = np.array([[ctx.get(bench.weights.data[i])[q] for q in range(layout.lanes)]
                          for i in range(layout.weight_depth)])
        got.update(cycles=cycles,
                   prediction=ctx.get(unit.prediction), skipped=bool(ctx.get(unit.skipped)),
                   writes=writes, weights=layout.unpack_weights(words),
                   inputs=[ctx.get(bench.inputs.data[i]) for i in range(config.n_in)])

    simulate(bench, testbench)
    return got


@st.composite
def cases(draw):
    # 1-3 lanes update row by row, 4-6 overlap the rows (Layout.overlap_rows).
    config = draw(random_configs()).replace(lanes=draw(st.integers(1, 6)))
    T = config.timesteps
    counts = [np.array(draw(st.lists(st.integers(0, T), min_size=n, max_size=n)))
              for n in config.layer_sizes]
    return config, counts, draw(st.integers(0, config.n_out - 1)), draw(st.sampled_from([2, 3]))


@settings(max_examples=40, deadline=None)
@given(cases())
def test_update_unit_learns_as_golden(case):
    config, counts, label, latency = case
    golden = GoldenNet(config)
    start = [w.copy() for w in golden.weights]
    _, signals, writes = golden.learn(counts, label)
    rtl = learn_rtl(config, counts, label, start, latency)
    where = f"counts={[list(c) for c in counts]} label={label} L={latency} ({config.to_dict()})"
    assert rtl["prediction"] == decide(counts[-1]), f"UpdateUnit prediction, {where}"
    assert rtl["skipped"] == (signals is None), f"UpdateUnit margin decision, {where}"
    assert rtl["writes"] == writes, f"UpdateUnit write count, {where}"
    for layer, (a, b) in enumerate(zip(rtl["weights"], golden.weights)):
        assert np.array_equal(a, b), f"UpdateUnit weight layer {layer}, {where}"
    # Rows are read (and the input counts cleared) only by an update.
    cleared = [0] * config.n_in if signals is not None else [int(c) for c in counts[0]]
    assert rtl["inputs"] == cleared, f"UpdateUnit input counts, {where}"


def test_inference_reads_out_and_changes_nothing():
    config = small_config(lanes=2)
    counts = [np.arange(config.n_in) % 3, np.arange(config.hidden[0]) % 4,
              np.array([1, 4, 4])]
    weights = init_weights(config)
    rtl = learn_rtl(config, counts, 0, weights, 2, train=False)
    assert rtl["prediction"] == 1 and rtl["skipped"] and rtl["writes"] == 0
    assert all(np.array_equal(a, b) for a, b in zip(rtl["weights"], weights))


#: Cycles of the update the cost model leaves out: start, readout hand-overs, done.
UPDATE_HANDOVERS = 12


@pytest.mark.parametrize("latency", [2, 3])
@pytest.mark.parametrize("lanes", [2, 4, 8])
def test_update_cycles_are_the_cost_model_s(lanes, latency):
    # Row by row (2 lanes) and overlapped (4, 8): the update's cycles lie between the
    # cost model's update_least and update (spikefab.cost.cycle_model), a few hand-overs
    # aside, on a dense update (most rows active, many words written).
    config = small_config(n_in=30, hidden=(20,), n_out=3, timesteps=6, lanes=lanes,
                          margin=0, lr_shift_out=0, lr_shift_hidden=1,
                          rounding="stochastic")
    rng = np.random.default_rng(lanes + latency)
    counts = [rng.integers(0, 7, n) * (rng.random(n) < 0.8) for n in config.layer_sizes]
    golden = GoldenNet(config)
    start = [w.copy() for w in golden.weights]
    golden.learn(counts, 1)
    rtl = learn_rtl(config, counts, 1, start, latency)
    layout = Layout(config)
    words = 0
    for old, new, per_row in zip(start, golden.weights, layout.words_per_row):
        fan_in, fan_out = old.shape
        changed = np.zeros((fan_in, per_row * lanes), bool)
        changed[:, :fan_out] = old != new
        words += int(changed.reshape(fan_in, per_row, lanes).any(axis=2).sum())
    model = cycle_model(config, latency, spikes=[0, 0],
                        rows_updated=[int((c > 0).sum()) for c in counts[:-1]],
                        words_written=words)
    assert words > 10
    assert model["update_least"] <= rtl["cycles"] <= model["update"] + UPDATE_HANDOVERS, \
        f"{rtl['cycles']} update cycles outside the model's [{model['update_least']}, " \
        f"{model['update']} + {UPDATE_HANDOVERS}] (lanes {lanes}, L {latency})"
