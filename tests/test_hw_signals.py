"""The learning-signal pass alone against its golden twins: ``p = e`` for the output layer,
``hidden_signal`` with ``feedback_table`` for a hidden layer, read back from the signal
memory it writes. The neuron memory is a plain synchronous RAM holding the counts."""

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from hypothesis import given, settings, strategies as st

from spikefab.golden.learning import feedback_table, hidden_signal
from spikefab.hw.ports import Shapes
from spikefab.hw.signals import LearningSignals
from spikefab.layout import Layout

from conftest import random_configs
from hw_support import neuron_words, simulate


class Bench(wiring.Component):
    """The pass with its two memories: the neurons' counts and the signals it writes."""

    def __init__(self, config, counts):
        self.layout = layout = Layout(config)
        self.shapes = shapes = Shapes(config, layout)
        words = neuron_words(layout, counts)
        self.neurons = Memory(shape=shapes.neuron_word, depth=len(words), init=words)
        self.signal_memory = Memory(shape=shapes.signal_word, depth=layout.max_layer_words,
                                    init=[])
        self.block = LearningSignals(config, layout, shapes)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.block = block = self.block
        m.submodules.neurons = self.neurons
        m.submodules.signal_memory = self.signal_memory
        read = self.neurons.read_port()
        m.d.comb += [read.addr.eq(block.n_raddr), block.n_rdata.eq(read.data)]
        wiring.connect(m, block.signals, self.signal_memory.write_port())
        return m


def signals_rtl(config, counts, error, layer):
    """The signals the pass writes for ``layer`` (None: the output layer)."""
    bench = Bench(config, counts)
    block, layout = bench.block, bench.layout
    size = config.n_out if layer is None else config.hidden[layer]
    got = {}

    async def testbench(ctx):
        ctx.set(block.error, [int(e) for e in error])
        ctx.set(block.layer, 0 if layer is None else layer)
        ctx.set(block.output, layer is None)
        ctx.set(block.start, 1)
        await ctx.tick()
        ctx.set(block.start, 0)
        ctx.set(block.output, 0)
        for cycle in range(4 * (size * config.k_fb + 10)):
            done = ctx.get(block.done)
            await ctx.tick()
            if done:
                break
        else:
            raise AssertionError("LearningSignals never signalled done")
        words = [ctx.get(bench.signal_memory.data[k]) for k in range(layout.max_layer_words)]
        got["p"] = [int(words[j // layout.lanes][j % layout.lanes]) for j in range(size)]
        got["cycles"] = cycle + 1

    simulate(bench, testbench)
    return got


@st.composite
def cases(draw):
    # From 4 lanes on (wide configs) each error's negative is registered.
    config = draw(random_configs()).replace(
        lanes=draw(st.integers(1, 4) | st.sampled_from([8, 16])))
    T = config.timesteps
    counts = [draw(st.lists(st.integers(0, T), min_size=n, max_size=n))
              for n in config.layer_sizes[1:]]
    clip = config.error_clip or T
    error = draw(st.lists(st.integers(-clip, clip), min_size=config.n_out,
                          max_size=config.n_out))
    layer = draw(st.sampled_from([None, *range(len(config.hidden))]))
    return config, counts, np.array(error), layer


@settings(max_examples=50, deadline=None)
@given(cases())
def test_signal_pass_matches_golden(case):
    config, counts, error, layer = case
    rtl = signals_rtl(config, counts, error, layer)
    if layer is None:
        expected = error
    else:
        table = feedback_table(config)[layer]
        expected = hidden_signal(config, table, error, np.array(counts[layer]))
    assert rtl["p"] == [int(p) for p in expected], \
        f"LearningSignals differs from golden for layer {layer}, error={list(error)}, " \
        f"counts={counts} ({config.to_dict()})"
