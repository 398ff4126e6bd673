"""Twin test of :class:`~hw.synapse.SynapseEngine` alone in Amaranth's simulator against
golden's synaptic input: the input of a timestep is the sum of the weight rows of the
spiking presynaptic neurons (``golden.lif``, step 1), added to what the accumulators
hold, and a presynaptic spike costs ``fan_out`` synaptic operations
(``golden.lif.run_layer``'s ``sops``).

The engine sits in a bench with its memories wired as ``hw/core.py`` wires them in the
synapse phase: a :class:`~hw.memory.WeightMemory` holding golden's weights (its port
``connect``\\ ed to the engine's), the accumulators and the input counts. Its ``spikes``
stream is driven directly, as a source sends it: each timestep's indices strictly
increasing, then an ``end`` marker; ``valid`` is dropped at random between items (an
offered item stays offered, unchanged, until taken), the payload is junk while
``valid`` is low and the end marker's index is junk. At every ``done`` the whole
accumulator memory must equal its contents before the timestep (random, rewritten by the
testbench at each ``done`` as the neuron phase would) plus golden's input (padding lanes
and words of wider layers unchanged); ``sops`` must be ``fan_out`` in the cycle a spike
is taken and 0 otherwise; with ``count_inputs`` (layer 0) every input spike adds 1 to its
input count, and without it the counts stay. No memory may be read at the address it is
written in the same cycle (:data:`~hw.memory.COLLISION_FREE`), the weight memory is
only read, each word of a spike's row once (``spikefab.cost``'s port bound), and without
stalls a timestep takes the cycles ``spikefab.cost`` counts: the reads without a bubble,
``words_per_row`` per spike, then ``done`` ``L + 2`` cycles after the last.

Rows of one and two words fed back to back exercise the forwarding paths: a word read
while the add one or two ahead of it writes the same accumulator word.
"""

from collections import deque

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from hypothesis import HealthCheck, event, given, reject, settings, strategies as st

from spikefab.config import ConfigError
from spikefab.golden.lif import LIFParams, run_layer
from spikefab.golden.network import init_weights
from spikefab.hw.memory import WeightMemory
from spikefab.hw.ports import Shapes
from spikefab.hw.synapse import SynapseEngine
from spikefab.layout import Layout

from conftest import random_configs
from hw_support import simulate, twin_message


TWIN = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Bench(wiring.Component):
    """The engine with the weight memory, the accumulators and the input counts (reads
    enabled by the engine, as in the core's synapse phase)."""

    def __init__(self, config, weights, latency):
        self.layout = layout = Layout(config)
        shapes = Shapes(config, layout)
        init = [[int(v) for v in word] for word in layout.pack_weights(weights)]
        self.weights = WeightMemory(shapes, layout.weight_depth, init, read_latency=latency)
        self.acc = Memory(shape=shapes.acc_word, depth=layout.max_layer_words, init=[])
        self.counts = Memory(shape=shapes.count, depth=config.n_in, init=[])
        self.engine = SynapseEngine(config, layout, shapes, weight_latency=latency)
        self._ports = []
        super().__init__({})

    @property
    def memory_ports(self):
        """``(name, read port, write port)`` of every memory, for the collision watch."""
        return self._ports + self.weights.memory_ports

    def elaborate(self, platform):
        m = Module()
        engine = m.submodules.engine = self.engine
        m.submodules.weights = self.weights
        m.submodules.acc, m.submodules.counts = self.acc, self.counts
        wiring.connect(m, engine.weights, self.weights)
        acc_r, acc_w = self.acc.read_port(), self.acc.write_port()
        cnt_r, cnt_w = self.counts.read_port(), self.counts.write_port()
        self._ports = [("acc", acc_r, acc_w), ("input_counts", cnt_r, cnt_w)]
        m.d.comb += [
            acc_r.addr.eq(engine.acc_raddr), acc_r.en.eq(engine.acc_ren),
            engine.acc_rdata.eq(acc_r.data),
            acc_w.addr.eq(engine.acc_waddr), acc_w.data.eq(engine.acc_wdata),
            acc_w.en.eq(engine.acc_we),
            cnt_r.addr.eq(engine.cnt_raddr), cnt_r.en.eq(engine.cnt_ren),
            engine.cnt_rdata.eq(cnt_r.data),
            cnt_w.addr.eq(engine.cnt_waddr), cnt_w.data.eq(engine.cnt_wdata),
            cnt_w.en.eq(engine.cnt_we),
        ]
        return m


def lane_words(values, words, lanes):
    """A flat list of lane values → ``words`` words of ``lanes`` lanes (0-padded)."""
    padded = list(values) + [0] * (words * lanes - len(values))
    return [padded[k * lanes:(k + 1) * lanes] for k in range(words)]


def engine_rtl(config, case):
    """Run the timesteps of ``case`` through the engine; per ``done``, the accumulator
    words before and after and the input counts after, and the timestep's timing (the
    cycles of its weight reads, of its end marker's transfer and of ``done``); the
    ``sops`` of every spike taken."""
    layer, weights, latency = case["layer"], case["weights"], case["latency"]
    bench = Bench(config, weights, latency)
    engine, layout, lanes = bench.engine, bench.layout, config.lanes
    depth = layout.max_layer_words
    rng = np.random.default_rng(case["seed"])
    valid_p = case["valid_p"]
    index_bits = len(engine.spikes.p.index)
    name = f"SynapseEngine ({describe(config, case)})"
    # The items of every timestep: (end, index).
    queue = deque()
    for spikes in case["timesteps"]:
        queue.extend((0, i) for i in spikes)
        queue.append((1, int(rng.integers(0, 1 << index_bits))))
    got = {"before": [], "after": [], "counts": [], "sops": [], "stray_sops": [],
           "timing": [], "weights_after": None}

    def acc_words(ctx):
        return [[ctx.get(bench.acc.data[k])[q] for q in range(lanes)] for k in range(depth)]

    def fresh_acc(ctx):
        # What the neuron phase leaves: zeros, or (stronger) any membrane-sized values.
        if rng.random() < 0.25:
            words = [[0] * lanes for _ in range(depth)]
        else:
            words = [[int(v) for v in rng.integers(config.v_min, config.v_max + 1, lanes)]
                     for _ in range(depth)]
        for k, word in enumerate(words):
            ctx.set(bench.acc.data[k], word)
        return words

    async def testbench(ctx):
        ctx.set(engine.layer, layer)
        ctx.set(engine.count_inputs, case["count_inputs"])
        for i, c in enumerate(case["counts"]):
            ctx.set(bench.counts.data[i], c)
        got["before"].append(fresh_acc(ctx))
        offered = None
        ends_taken = 0
        reads, end_cycle = [], None  # the timestep's weight-read cycles, its end's
        cycle = 0
        limit = 200 + sum(len(s) + 1 for s in case["timesteps"]) * (
            layout.words_per_row[layer] + latency + 4) * (1 + int(2 / valid_p))
        while len(got["after"]) < len(case["timesteps"]):
            assert cycle < limit, f"{name}: {len(got['after'])} done(s) after {cycle} cycles"
            if offered is None and queue and (valid_p == 1 or rng.random() < valid_p):
                offered = queue.popleft()
            if offered is not None:
                ctx.set(engine.spikes.valid, 1)
                ctx.set(engine.spikes.p.end, offered[0])
                ctx.set(engine.spikes.p.index, offered[1])
            else:
                ctx.set(engine.spikes.valid, 0)
                ctx.set(engine.spikes.p.end, int(rng.integers(0, 2)))
                ctx.set(engine.spikes.p.index, int(rng.integers(0, 1 << index_bits)))
            taken = offered is not None and ctx.get(engine.spikes.ready)
            sops, done = ctx.get(engine.sops), ctx.get(engine.done)
            if taken and not offered[0]:
                got["sops"].append(sops)
            elif sops:
                got["stray_sops"].append((cycle, offered, sops))
            if taken and offered[0]:
                end_cycle = cycle
            if done:
                assert len(got["after"]) < ends_taken, \
                    f"{name}: done at cycle {cycle} with no end marker pending " \
                    f"({ends_taken} taken, {len(got['after'])} done before)"
                got["after"].append(acc_words(ctx))
                got["counts"].append([ctx.get(bench.counts.data[i])
                                      for i in range(config.n_in)])
                got["timing"].append((reads, end_cycle, cycle))
                reads = []
                got["before"].append(fresh_acc(ctx))
            if ctx.get(engine.weights.en):
                reads.append(cycle)
            if taken:
                ends_taken += offered[0]
                offered = None
            await ctx.tick()
            cycle += 1
        # Nothing more after the last done.
        ctx.set(engine.spikes.valid, 0)
        for _ in range(latency + 4):
            assert not ctx.get(engine.done), f"{name}: a done after the last timestep's"
            await ctx.tick()
        got["weights_after"] = [[ctx.get(bench.weights.data[i])[q] for q in range(lanes)]
                                for i in range(layout.weight_depth)]

    simulate(bench, testbench, watch_collisions=True)
    return got


def engine_ref(config, case, before):
    """Golden's side: per timestep, the accumulators ``before`` plus the synaptic input
    ``Σ_i s[i]·W[i, :]`` (lanes past ``fan_out`` and words past the layer's stay), the
    input counts after it, and ``fan_out`` SOPs per spike (``run_layer``)."""
    layer, weights = case["layer"], case["weights"]
    fan_in, fan_out = config.weight_shapes[layer]
    lanes, words = config.lanes, Layout(config).words_per_row[layer]
    raster = np.zeros((len(case["timesteps"]), fan_in), dtype=np.uint8)
    for t, spikes in enumerate(case["timesteps"]):
        raster[t, spikes] = 1
    after, counts = [], []
    count = np.array(case["counts"], dtype=np.int64)
    for t, row in enumerate(raster):
        current = row.astype(np.int64) @ weights[layer].astype(np.int64)
        added = lane_words([int(c) for c in current], words, lanes)
        after.append([[a + (added[k][q] if k < words else 0) for q, a in enumerate(word)]
                      for k, word in enumerate(before[t])])
        if case["count_inputs"]:
            count = count + row
        counts.append([int(c) for c in count])
    _, _, sops = run_layer(LIFParams(config), raster, weights[layer])
    return after, counts, sops


def describe(config, case):
    return (f"sizes={config.layer_sizes} lanes={config.lanes} w_bits={config.w_bits} "
            f"v_bits={config.v_bits} layer={case['layer']} L={case['latency']} "
            f"count_inputs={case['count_inputs']} valid_p={case['valid_p']} "
            f"seed={case['seed']} spikes={case['timesteps']}")


def layer_case(draw, config, layer):
    """Weights, spikes, stalls and the memories' start for ``layer`` of ``config``."""
    fan_in, _ = config.weight_shapes[layer]
    if draw(st.booleans()):
        weights, source = init_weights(config), "init_weights"
    else:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        weights = [rng.integers(config.w_min, config.w_max + 1, shape)
                   for shape in config.weight_shapes]
        # Now and then the extreme weights of the range, every row alike.
        if draw(st.booleans()):
            weights[layer][:] = draw(st.sampled_from([config.w_min, config.w_max]))
        source = "random"
    subsets = st.sets(st.integers(0, fan_in - 1), max_size=fan_in).map(sorted)
    everyone = st.just(list(range(fan_in)))
    # At most the config's timesteps: an input count holds 0 … timesteps.
    timesteps = draw(st.lists(everyone | subsets, min_size=1,
                              max_size=min(3, config.timesteps)))
    count_inputs = layer == 0 and draw(st.booleans())
    # Input counts in range, with room for the timesteps run here.
    top = (1 << config.count_bits) - 1 - len(timesteps)
    counts = draw(st.lists(st.integers(0, top), min_size=config.n_in, max_size=config.n_in))
    event(f"weights: {source}; count_inputs={count_inputs}")
    return {"layer": layer, "weights": weights, "timesteps": timesteps,
            "count_inputs": int(count_inputs), "counts": counts,
            "latency": draw(st.sampled_from([2, 3])),
            "valid_p": draw(st.sampled_from([1.0, 0.7, 0.3])),
            "seed": draw(st.integers(0, 2**16))}


@st.composite
def cases(draw):
    # 4 lanes on: wide (each layer's row address worked out, then chosen).
    config = draw(random_configs()).replace(lanes=draw(st.integers(1, 6)))
    # Layer 0 twice as often: only there are the input spikes counted.
    layer = draw(st.sampled_from([0, *range(len(config.weight_shapes))]))
    return config, layer_case(draw, config, layer)


@st.composite
def short_row_cases(draw):
    """A layer whose rows are one or two words (``fan_out ≤ 2·lanes``), spikes mostly
    back to back: each row's words are read while the adds of the row before write
    the same accumulator words."""
    config = draw(random_configs())
    lanes, words = draw(st.integers(1, 4)), draw(st.sampled_from([1, 2]))
    n_layers = len(config.weight_shapes)
    layer = draw(st.integers(0, n_layers - 1))
    last = layer == n_layers - 1
    low = max((words - 1) * lanes + 1, 2 if last else 1)
    if low > words * lanes:
        reject()
    fan_out = draw(st.integers(low, words * lanes))
    try:
        if last:
            config = config.replace(lanes=lanes, n_out=fan_out,
                                    k_fb=min(config.k_fb, fan_out))
        else:
            hidden = list(config.hidden)
            hidden[layer] = fan_out
            config = config.replace(lanes=lanes, hidden=tuple(hidden))
    except ConfigError:
        reject()
    case = layer_case(draw, config, layer)
    case["valid_p"] = draw(st.sampled_from([1.0, 1.0, 0.7]))
    return config, case


def check_engine(config, case):
    rtl = engine_rtl(config, case)
    after, counts, sops = engine_ref(config, case, rtl["before"])
    name = describe(config, case)
    fan_out = config.weight_shapes[case["layer"]][1]
    layout = Layout(config)
    assert rtl["after"] == after, twin_message(
        "SynapseEngine accumulators (per done)", name, rtl["after"], after,
        inputs=[f"spikes {s}, accumulators before {b}"
                for s, b in zip(case["timesteps"], rtl["before"])])
    assert rtl["counts"] == counts, twin_message(
        "SynapseEngine input counts (per done)", name, rtl["counts"], counts,
        inputs=case["timesteps"])
    spikes = [i for t in case["timesteps"] for i in t]
    assert rtl["sops"] == [fan_out] * len(spikes), twin_message(
        f"SynapseEngine sops per spike taken (fan_out={fan_out})", name, rtl["sops"],
        [fan_out] * len(spikes), inputs=spikes)
    assert sum(rtl["sops"]) == sops, \
        f"SynapseEngine {name}: {sum(rtl['sops'])} sops, golden run_layer counts {sops}"
    assert not rtl["stray_sops"], \
        f"SynapseEngine {name}: sops outside a spike's transfer " \
        f"(cycle, offered, sops): {rtl['stray_sops'][:5]}"
    packed = [[int(v) for v in word] for word in layout.pack_weights(case["weights"])]
    assert rtl["weights_after"] == packed, f"SynapseEngine {name}: wrote the weight memory"
    words = layout.words_per_row[case["layer"]]
    for t, (spikes, (reads, end, done)) in enumerate(zip(case["timesteps"], rtl["timing"])):
        at = f"SynapseEngine {name}: timestep {t}"
        # Each word of each spike's row is read once: the port bound of spikefab.cost.
        assert len(reads) == len(spikes) * words, \
            f"{at}: {len(reads)} weight reads, not spikes × words_per_row = " \
            f"{len(spikes) * words} (at cycles {reads})"
        if case["valid_p"] == 1 and spikes:
            # No stall: rows follow each other without a bubble, and done comes
            # L + 2 cycles after the last read (spikefab.cost.cycle_model's drain).
            assert reads == list(range(reads[0], reads[0] + len(reads))), \
                f"{at}: a bubble between the weight reads, at cycles {reads}"
            assert done - reads[-1] == case["latency"] + 2, \
                f"{at}: done {done - reads[-1]} cycles after the last weight read, " \
                f"not L + 2 = {case['latency'] + 2}"
        elif not spikes and case["valid_p"] == 1:
            assert 1 <= done - end <= case["latency"] + 2, \
                f"{at}: no spike, yet done {done - end} cycles after the end marker " \
                f"(at most L + 2 = {case['latency'] + 2})"


@TWIN
@given(case=cases())
def test_synapse_engine_adds_golden_rows(case):
    config, case = case
    check_engine(config, case)


@TWIN
@given(case=short_row_cases())
def test_synapse_engine_forwards_short_rows(case):
    config, case = case
    event(f"words_per_row={Layout(config).words_per_row[case['layer']]}")
    check_engine(config, case)
