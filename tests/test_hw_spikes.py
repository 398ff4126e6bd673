"""Twin test of :class:`~hw.spikes.SpikeListReader` alone in Amaranth's simulator: the
spike list of a hidden layer (golden's spikes of that layer at one timestep, a
``(word, lane bitmap)`` entry per word with a spike, as :class:`~hw.lif.LIFArray`
writes it) comes back as the layer's spiking indices, in increasing order, then an
``end`` marker, under random ``ready`` stalls; the list memory is wired as
``hw/core.py`` wires it in the synapse phase."""

import numpy as np
from amaranth.hdl import Elaboratable, Module
from amaranth.lib.memory import Memory
from hypothesis import HealthCheck, event, given, settings, strategies as st

from spikefab.golden.lif import LIFParams, run_layer
from spikefab.golden.network import init_weights
from spikefab.hw.ports import Shapes
from spikefab.hw.spikes import SpikeListReader
from spikefab.layout import Layout

from conftest import small_config
from hw_support import simulate, take_spikes, twin_message


TWIN = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class ListBench(Elaboratable):
    """The reader and the spike-list memory (read port always enabled)."""

    def __init__(self, config):
        self.layout = layout = Layout(config)
        shapes = Shapes(config, layout)
        self.dut = SpikeListReader(config, layout, shapes)
        self.spike_list = Memory(shape=shapes.spike_list_entry,
                                 depth=layout.max_layer_words, init=[])

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut, m.submodules.spike_list = self.dut, self.spike_list
        read = self.spike_list.read_port()
        m.d.comb += [read.addr.eq(self.dut.list_raddr), read.en.eq(1),
                     self.dut.list_rdata.eq(read.data)]
        return m


def spike_list(row, lanes):
    """The list entries of one timestep's spikes: ``(word, bitmap)`` of each word with a
    spike, in word order."""
    words = -(-len(row) // lanes)
    padded = np.zeros(words * lanes, dtype=np.int64)
    padded[:len(row)] = row
    entries = []
    for k in range(words):
        bits = sum(int(b) << q for q, b in enumerate(padded[k * lanes:(k + 1) * lanes]))
        if bits:
            entries.append((k, bits))
    return entries


def reader_rtl(config, rows, ready_p, seed, name):
    """The indices the reader emits for the list of each row (one ``start`` each)."""
    bench = ListBench(config)
    dut, depth = bench.dut, bench.layout.max_layer_words
    rng = np.random.default_rng(seed)
    lanes = config.lanes
    out = []

    async def testbench(ctx):
        for t, row in enumerate(rows):
            entries = spike_list(row, lanes)
            # Entries past ``length`` hold junk: the reader must not read them.
            for e in range(depth):
                word, bits = entries[e] if e < len(entries) else \
                    (int(rng.integers(0, depth)), int(rng.integers(0, 1 << lanes)))
                ctx.set(bench.spike_list.data[e], {"word": word, "bits": bits})
            ctx.set(dut.length, len(entries))
            for _ in range(int(rng.integers(0, 3))):
                await ctx.tick()
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            out.append(await take_spikes(ctx, dut.spikes, rng, ready_p,
                                         block=f"SpikeListReader {name} timestep {t}"))

    simulate(bench, testbench)
    return out


def reader_ref(rows):
    return [np.flatnonzero(row).tolist() for row in rows]


@st.composite
def layer_spikes(draw):
    """A config and the spikes of one of its hidden layers over a sample: golden's
    forward pass on a random raster, or a random raster of that layer's size."""
    hidden = tuple(draw(st.lists(st.integers(1, 13), min_size=1, max_size=2)))
    config = small_config(n_in=draw(st.integers(1, 12)), hidden=hidden,
                          n_out=draw(st.integers(2, 6)), timesteps=draw(st.integers(1, 4)),
                          lanes=draw(st.integers(1, 5)), threshold=draw(st.integers(1, 16)),
                          init_seed=draw(st.integers(0, 2**32 - 1)))
    layer = draw(st.integers(0, len(hidden) - 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    density = draw(st.sampled_from([0.5, 0.9, 0.2]))
    if not draw(st.booleans()):
        spikes = (rng.random((config.timesteps, config.n_in)) < density).astype(np.uint8)
        for weights in init_weights(config)[:layer + 1]:
            spikes, _, _ = run_layer(LIFParams(config), spikes, weights)
        source = "golden"
    else:
        spikes = (rng.random((config.timesteps, hidden[layer])) < density).astype(np.uint8)
        source = "random"
    return config, layer, spikes, source


@TWIN
@given(case=layer_spikes(), ready_p=st.sampled_from([1.0, 0.5, 0.2]),
       seed=st.integers(0, 2**16))
def test_spike_list_reader_gives_the_layers_spikes(case, ready_p, seed):
    config, layer, spikes, source = case
    rows = [row for row in spikes]
    event(f"{source} spikes: {'some' if spikes.any() else 'none'}")
    name = (f"(sizes={config.layer_sizes}, lanes={config.lanes}, hidden layer {layer}, "
            f"{source} spikes {[np.flatnonzero(r).tolist() for r in rows]}, "
            f"ready_p={ready_p}, seed={seed})")
    rtl, ref = reader_rtl(config, rows, ready_p, seed, name), reader_ref(rows)
    assert rtl == ref, twin_message("SpikeListReader", name, rtl, ref,
                                    inputs=[spike_list(r, config.lanes) for r in rows])


def test_spike_list_reader_full_and_empty_lists():
    # Directed: every neuron spiking (a full list, every lane set), none, and alternate
    # lanes, with a width that leaves padding lanes in the last word.
    config = small_config(n_in=4, hidden=(11,), n_out=2, lanes=4)
    rows = [np.ones(11, dtype=np.uint8), np.zeros(11, dtype=np.uint8),
            np.arange(11) % 2, (np.arange(11) % 4 == 3).astype(np.uint8)]
    rtl, ref = reader_rtl(config, rows, 0.5, 3, "directed"), reader_ref(rows)
    assert rtl == ref, twin_message("SpikeListReader", "full, empty, alternate lists",
                                    rtl, ref, inputs=[spike_list(r, 4) for r in rows])
