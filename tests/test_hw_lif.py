"""Twin tests of the LIF blocks alone in Amaranth's simulator against :mod:`golden.lif`.

:class:`~hw.lif.LIFLane` is one neuron's timestep, ``(v, current) → (spike, v_next)``, the
signature of ``golden.lif.lif_step``; :class:`~hw.lif.LIFArray` is the pass of one layer
over its neuron memory, driven here with small memories of its own, wired as
``hw/core.py`` wires it in the neuron phase.
"""

import numpy as np
from amaranth.hdl import Elaboratable, Module
from amaranth.lib.memory import Memory
from hypothesis import HealthCheck, given, settings, strategies as st

from spikefab.config import Config
from spikefab.golden.lif import LIFParams, lif_step
from spikefab.hw.lif import LIFArray, LIFLane
from spikefab.hw.ports import Shapes
from spikefab.layout import Layout

from hw_support import simulate, twin_message


TWIN = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def lif_config(*, v_bits, threshold, leak_shift, reset, n_in=1, hidden=(1,), n_out=2,
               timesteps=4, lanes=1):
    """A valid config around the LIF fields (2-bit weights keep small ``v_bits`` legal)."""
    return Config(n_in=n_in, hidden=hidden, n_out=n_out, timesteps=timesteps,
                  v_bits=v_bits, w_bits=2, threshold=threshold, leak_shift=leak_shift,
                  reset=reset, init_range=(1,) * (len(hidden) + 1), target_count=0,
                  gate_hi=timesteps, lr_shift_out=0, lr_shift_hidden=0, lanes=lanes)


def describe(config):
    return (f"(v_bits={config.v_bits}, threshold={config.threshold}, "
            f"leak_shift={config.leak_shift}, reset={config.reset})")


@st.composite
def lif_fields(draw, min_v_bits=4, max_v_bits=32):
    v_bits = draw(st.integers(min_v_bits, max_v_bits))
    v_max = (1 << (v_bits - 1)) - 1
    return dict(
        v_bits=v_bits,
        threshold=draw(st.sampled_from([1, v_max]) | st.integers(1, v_max)),
        leak_shift=draw(st.sampled_from([1, v_bits - 1]) | st.integers(1, v_bits - 1)),
        reset=draw(st.sampled_from(["subtract", "zero"])),
    )


def golden_lane(config, v, current):
    """``golden.lif.lif_step`` for one neuron, as the lane's ``(spike, v_next)``."""
    spike, v_next = lif_step(LIFParams(config), v, current)
    return int(spike), int(v_next)


# -- LIFLane -------------------------------------------------------------------------------

def lane_rtl(config, pairs, registered_tests=False):
    """``(spike, v_next)`` of every ``(v, current)``, one pair a cycle (the lane's outputs
    answer the inputs of the cycle before; with ``registered_tests``, of two cycles
    before: the outputs are read a cycle later)."""
    dut = LIFLane(config, registered_tests=registered_tests)
    out = []
    lag = 2 if registered_tests else 1

    async def testbench(ctx):
        for n, (v, current) in enumerate(pairs + [pairs[-1]] * (lag - 1)):
            ctx.set(dut.v, v)
            ctx.set(dut.current, current)
            await ctx.tick()
            if n >= lag - 1:
                out.append((ctx.get(dut.spike), ctx.get(dut.v_next)))

    simulate(dut, testbench)
    return out


def lane_ref(config, pairs):
    return [golden_lane(config, v, current) for v, current in pairs]


def corner_pairs(config):
    """Membranes at and around the rails and the threshold, with the extreme currents the
    lane's port takes (``v_bits + 1`` bits) and those ``Config`` bounds ``|I|`` by."""
    vb, th = config.v_bits, config.threshold
    vs = {config.v_min, config.v_min + 1, -1, 0, 1, th - 1, th, config.v_max - 1, config.v_max}
    cs = {-(1 << vb), -(1 << (vb - 1)), -th, -1, 0, 1, th, (1 << (vb - 1)), (1 << vb) - 1}
    vs = sorted(v for v in vs if config.v_min <= v <= config.v_max)
    return [(v, c) for v in vs for c in sorted(cs)]


@TWIN
@given(fields=lif_fields(), data=st.data(), registered_tests=st.booleans())
def test_lif_lane_is_lif_step(fields, data, registered_tests):
    # registered_tests: the wide configs' lane, its compares a stage of their own.
    config = lif_config(**fields)
    vb = config.v_bits
    pairs = data.draw(st.lists(st.tuples(st.integers(config.v_min, config.v_max),
                                         st.integers(-(1 << vb), (1 << vb) - 1)),
                               max_size=40), label="pairs")
    pairs += corner_pairs(config)
    rtl, ref = lane_rtl(config, pairs, registered_tests), lane_ref(config, pairs)
    assert rtl == ref, twin_message(f"LIFLane(registered_tests={registered_tests})",
                                    describe(config), rtl, ref, inputs=pairs)


def trajectory_rtl(config, currents, registered_tests=False):
    """One neuron over a sample: the membrane fed back from ``v_next``, starting at 0."""
    dut = LIFLane(config, registered_tests=registered_tests)
    out = []

    async def testbench(ctx):
        v = 0
        for current in currents:
            ctx.set(dut.v, v)
            ctx.set(dut.current, current)
            await ctx.tick()
            if registered_tests:
                await ctx.tick()
            spike, v = ctx.get(dut.spike), ctx.get(dut.v_next)
            out.append((spike, v))

    simulate(dut, testbench)
    return out


def trajectory_ref(config, currents):
    out, v = [], 0
    for current in currents:
        spike, v = golden_lane(config, v, current)
        out.append((spike, v))
    return out


@TWIN
@given(fields=lif_fields(), data=st.data(), registered_tests=st.booleans())
def test_lif_lane_membrane_over_a_sample(fields, data, registered_tests):
    config = lif_config(**fields)
    bound = 1 << (config.v_bits - 1)          # Config's bound on |I|
    currents = data.draw(st.lists(st.integers(-bound, bound), min_size=1, max_size=40),
                         label="currents")
    rtl, ref = trajectory_rtl(config, currents, registered_tests), \
        trajectory_ref(config, currents)
    assert rtl == ref, twin_message("LIFLane", f"{describe(config)} from v=0", rtl, ref,
                                    inputs=currents)


# -- LIFArray ------------------------------------------------------------------------------

class ArrayBench(Elaboratable):
    """:class:`LIFArray` with its accumulator, neuron and spike-list memories, wired as the
    core's neuron phase wires them (synchronous reads enabled by ``ren``)."""

    def __init__(self, config):
        self.layout = layout = Layout(config)
        self.shapes = shapes = Shapes(config, layout)
        self.dut = LIFArray(config, layout, shapes)
        self.acc = Memory(shape=shapes.acc_word, depth=layout.max_layer_words, init=[])
        self.neurons = Memory(shape=shapes.neuron_word, depth=layout.neuron_depth, init=[])
        self.spike_list = Memory(shape=shapes.spike_list_entry,
                                 depth=layout.max_layer_words, init=[])

    def elaborate(self, platform):
        m = Module()
        lif = m.submodules.lif = self.dut
        m.submodules.acc, m.submodules.neurons = self.acc, self.neurons
        m.submodules.spike_list = self.spike_list
        acc_r, acc_w = self.acc.read_port(), self.acc.write_port()
        n_r, n_w = self.neurons.read_port(), self.neurons.write_port()
        list_w = self.spike_list.write_port()
        m.d.comb += [
            acc_r.addr.eq(lif.acc_raddr), acc_r.en.eq(lif.ren), lif.acc_rdata.eq(acc_r.data),
            n_r.addr.eq(lif.n_raddr), n_r.en.eq(lif.ren), lif.n_rdata.eq(n_r.data),
            acc_w.addr.eq(lif.acc_waddr), acc_w.data.eq(lif.acc_wdata), acc_w.en.eq(lif.acc_we),
            n_w.addr.eq(lif.n_waddr), n_w.data.eq(lif.n_wdata), n_w.en.eq(lif.n_we),
            list_w.addr.eq(lif.list_waddr), list_w.data.eq(lif.list_wdata),
            list_w.en.eq(lif.list_we),
        ]
        return m


@st.composite
def array_cases(draw):
    hidden = tuple(draw(st.lists(st.integers(1, 9), min_size=1, max_size=2)))
    n_in, n_out = draw(st.integers(1, 9)), draw(st.integers(2, 9))
    fan_in = max(n_in, *hidden)
    min_v_bits = max(4, (fan_in << 1).bit_length() + 1)     # Config: fan_in·2 ≤ 2**(v_bits-1)
    fields = draw(lif_fields(min_v_bits, min_v_bits + 8))
    config = lif_config(**fields, n_in=n_in, hidden=hidden, n_out=n_out,
                        timesteps=draw(st.integers(1, 5)),
                        # 4 lanes on: the wide array (its lanes register their tests).
                        lanes=draw(st.integers(1, 6)))
    layer = draw(st.integers(0, len(hidden)))
    size, lanes = config.layer_sizes[layer + 1], config.lanes
    words = -(-size // lanes)
    bound = 1 << (config.v_bits - 1)                         # Config's bound on |I|
    passes = draw(st.integers(1, config.timesteps))          # timesteps run here
    # Every lane of every word, padding lanes too: those must never spike.
    currents = draw(st.lists(st.lists(st.integers(-bound, bound), min_size=words * lanes,
                                      max_size=words * lanes),
                             min_size=passes, max_size=passes))
    # The state the memory holds before the first pass: ignored when that pass is a
    # sample's first timestep (``first``: any bits at all), else the membranes and counts
    # it continues from (counts that the passes left cannot take past ``timesteps``).
    from_stored = draw(st.booleans())
    top = config.timesteps - passes if from_stored else (1 << config.count_bits) - 1
    stored = [(draw(st.integers(config.v_min, config.v_max)), draw(st.integers(0, top)))
              for _ in range(Layout(config).neuron_depth * lanes)]
    emit = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    return config, layer, currents, stored, from_stored, emit, seed


def array_rtl(config, layer, currents, stored, from_stored, emit, seed):
    """Per pass (timestep): the spike-list entries written, the layer's membranes and
    counts (real neurons) afterwards, and its accumulator words (cleared); at the end,
    the neuron words of the other layers (untouched)."""
    bench = ArrayBench(config)
    layout, dut, lanes = bench.layout, bench.dut, config.lanes
    size = config.layer_sizes[layer + 1]
    words, base = layout.neuron_words[layer], layout.neuron_base[layer]
    rng = np.random.default_rng(seed)
    passes, cycles = [], []
    other = []

    def neuron_word(k):
        return [{"v": stored[k * lanes + q][0], "count": stored[k * lanes + q][1]}
                for q in range(lanes)]

    async def testbench(ctx):
        for k in range(layout.neuron_depth):
            ctx.set(bench.neurons.data[k], neuron_word(k))
        for t, current in enumerate(currents):
            for k in range(words):
                ctx.set(bench.acc.data[k], current[k * lanes:(k + 1) * lanes])
            ctx.set(dut.layer, layer)
            ctx.set(dut.first, t == 0 and not from_stored)
            ctx.set(dut.emit, emit)
            for _ in range(int(rng.integers(0, 3))):            # idle cycles between passes
                await ctx.tick()
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            n = 2                       # cycles from start to done, both counted
            while not ctx.get(dut.done):
                await ctx.tick()
                n += 1
                assert n < 10 * words + 50, f"LIFArray: no done after {n} cycles"
            cycles.append(n)
            await ctx.tick()
            length = ctx.get(dut.list_length)
            entries = []
            for e in range(length):
                entry = ctx.get(bench.spike_list.data[e])
                entries.append((entry.word, entry.bits))
            state = [ctx.get(bench.neurons.data[base + j // lanes])[j % lanes]
                     for j in range(size)]
            acc = [[ctx.get(bench.acc.data[k])[q] for q in range(lanes)]
                   for k in range(words)]
            passes.append((entries, [s.v for s in state], [s.count for s in state], acc))
        for k in range(layout.neuron_depth):
            if not base <= k < base + words:
                word = ctx.get(bench.neurons.data[k])
                other.append([(word[q].v, word[q].count) for q in range(lanes)])

    simulate(bench, testbench)
    return passes, other, cycles


def array_ref(config, layer, currents, stored, from_stored, emit, seed):
    """:func:`lif_step` on the layer's neurons per timestep; the spike list holds each word
    with a spike (``(word, lane bitmap)``) when ``emit`` is set."""
    layout, lanes = Layout(config), config.lanes
    size = config.layer_sizes[layer + 1]
    words, base = layout.neuron_words[layer], layout.neuron_base[layer]
    first = [stored[base * lanes + j] for j in range(size)]
    v = np.array([s[0] for s in first] if from_stored else [0] * size)
    counts = np.array([s[1] for s in first] if from_stored else [0] * size)
    passes = []
    for current in currents:
        spikes, v = lif_step(LIFParams(config), v, current[:size])
        counts = counts + spikes
        padded = np.zeros(words * lanes, dtype=int)
        padded[:size] = spikes
        entries = []
        for k in range(words):
            bits = sum(int(b) << q for q, b in enumerate(padded[k * lanes:(k + 1) * lanes]))
            if bits and emit:
                entries.append((k, bits))
        passes.append((entries, [int(x) for x in v], [int(c) for c in counts],
                       [[0] * lanes for _ in range(words)]))
    other = [[stored[k * lanes + q] for q in range(lanes)]
             for k in range(layout.neuron_depth) if not base <= k < base + words]
    return passes, other


@TWIN
@given(case=array_cases())
def test_lif_array_pass_is_lif_step_per_timestep(case):
    config, layer, currents, stored, from_stored, emit, seed = case
    rtl_passes, rtl_other, cycles = array_rtl(*case)
    ref_passes, ref_other = array_ref(*case)
    name = (f"{describe(config)} sizes={config.layer_sizes} lanes={config.lanes} "
            f"layer={layer} emit={emit} from_stored={from_stored} currents={currents}")
    assert rtl_passes == ref_passes, \
        twin_message("LIFArray", name, rtl_passes, ref_passes, inputs=currents)
    assert rtl_other == ref_other, \
        f"LIFArray {name}: wrote neuron words of other layers: {rtl_other} != {ref_other}"
    words = Layout(config).neuron_words[layer]
    expected = words + 5 + Layout(config).wide      # the wide lanes' stage
    assert cycles == [expected] * len(currents), \
        f"LIFArray {name}: a pass took {cycles} cycles, not {expected}"
