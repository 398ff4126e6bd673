"""The cost model against the chip: every sample's busy cycles lie between the
memory-port bound and the worst case that sizes the per-sample counters, and the worst
case holds for the densest sample (every input at full intensity, every update made); and
the cycle model of :func:`spikefab.cost.cycle_model` brackets each sample's cycles, row by
row and with the rows overlapped."""

import numpy as np
import pytest

from spikefab.config import preset
from spikefab.cost import (cycle_model, max_sample_cycles, max_sample_sops,
                           max_sample_writes, memory_port_bound, sample_counter_bits)
from spikefab.golden.encoders import encode
from spikefab.golden.network import GoldenNet
from spikefab.layout import Layout
from spikefab.protocol import pixel_payload

from conftest import small_config
from hw_support import LearningCore, run_sample, set_registers, simulate


@pytest.mark.parametrize("latency", [2, 3])
@pytest.mark.parametrize("overrides", [
    dict(n_in=10, hidden=(7,), n_out=3, timesteps=6),
    dict(n_in=9, hidden=(7, 5), n_out=4, timesteps=5, lanes=3, k_fb=2, threshold=1),
], ids=["one-hidden", "two-hidden-dense"])
def test_cycles_lie_between_the_bounds(overrides, latency):
    config = small_config(**overrides, margin=0, lr_shift_out=0, lr_shift_hidden=0)
    core = LearningCore(config, weight_latency=latency)
    rng = np.random.default_rng(5)
    images = [np.full(config.n_in, config.pixel_max)] + \
        [rng.integers(0, config.pixel_max + 1, config.n_in) for _ in range(4)]
    seen = []

    async def testbench(ctx):
        golden = GoldenNet(config)
        await set_registers(ctx, core, golden.lr_shifts, golden.margin)
        for n, image in enumerate(images):
            hw = await run_sample(ctx, core, pixel_payload(image, config), label=n % 3)
            seen.append(hw)

    simulate(core, testbench)
    worst = max_sample_cycles(config, latency)
    for n, hw in enumerate(seen):
        assert hw["sops"] <= max_sample_sops(config) and hw["writes"] <= max_sample_writes(config)
        assert memory_port_bound(config, hw["sops"], hw["writes"]) <= hw["cycles"] <= worst, \
            f"sample {n}: {hw['cycles']} cycles outside [port bound, {worst}]"
        assert hw["cycles"] < 1 << sample_counter_bits(config, latency)["cycles"]
    assert seen[0]["writes"] > 0, "the dense sample made no update: the test proves little"


def model_of(config, latency, before, result):
    """:func:`cycle_model` of one golden training sample: spikes per layer, the rows
    updated and the weight words written (a word with any weight changed)."""
    layout = Layout(config)
    spikes = [int(c.sum()) for c in result.counts[:-1]]
    if result.skipped:
        return cycle_model(config, latency, spikes=spikes)
    words = 0
    for old, new, per_row in zip(before, result.weights, layout.words_per_row):
        fan_in, fan_out = old.shape
        changed = np.zeros((fan_in, per_row * config.lanes), bool)
        changed[:, :fan_out] = old != new
        words += int(changed.reshape(fan_in, per_row, config.lanes).any(axis=2).sum())
    return cycle_model(config, latency, spikes=spikes,
                       rows_updated=[int((c > 0).sum()) for c in result.counts[:-1]],
                       words_written=words)


#: Cycles the model leaves out: the hand-overs between phases, per layer and timestep,
#: and per sample (start, readout, finish).
HANDOVER_PER_PHASE = 4
HANDOVER_PER_SAMPLE = 40


@pytest.mark.parametrize("latency", [2, 3])
@pytest.mark.parametrize("lanes", [2, 4, 8, 16])
def test_cycle_model_brackets_measured_cycles(lanes, latency):
    # Row by row (2 lanes) and overlapped (4 on), 1, 2 and 4 pixels a cycle: every
    # training sample's cycles lie between the model's ``least`` and its ``total``
    # plus the hand-overs it leaves out.
    config = small_config(n_in=40, hidden=(24,), n_out=4, timesteps=5, lanes=lanes,
                          threshold=20, v_bits=16, margin=0, lr_shift_out=2,
                          lr_shift_hidden=3, rounding="stochastic")
    core = LearningCore(config, weight_latency=latency)
    rng = np.random.default_rng(3)
    images = rng.integers(0, config.pixel_max + 1, (4, config.n_in))
    images[1, :20] = 0                      # a long stretch without spikes
    seen = []

    async def testbench(ctx):
        golden = GoldenNet(config)
        await set_registers(ctx, core, golden.lr_shifts, golden.margin)
        for n, (image, raster) in enumerate(zip(images, encode(images, config))):
            hw = await run_sample(ctx, core, pixel_payload(image, config), label=n % 4)
            before = [w.copy() for w in golden.weights]
            result = golden.train(raster, n % 4)
            result.weights = golden.weights
            seen.append((hw["cycles"], model_of(config, latency, before, result)))

    simulate(core, testbench)
    phases = config.timesteps * 2 * len(config.weight_shapes)
    slack = HANDOVER_PER_PHASE * phases + HANDOVER_PER_SAMPLE
    for n, (cycles, model) in enumerate(seen):
        assert model["least"] <= cycles <= model["total"] + slack, \
            f"sample {n}: {cycles} cycles outside the model's [{model['least']}, " \
            f"{model['total']} + {slack}] ({model})"


# -- the bounds by hand (no simulation) ------------------------------------------------------

@pytest.mark.parametrize("lanes, sops, writes, bound", [
    (2, 10, 3, 8.0),        # (10 + 2·3) / 2: a write is a read and a write of the port
    (1, 0, 5, 10.0),        # writes alone: two port cycles each
    (4, 6, 1, 2.0),         # (6 + 2) / 4
    (3, 7, 0, 7 / 3),       # no update: the reads alone
])
def test_memory_port_bound_hand_computed(lanes, sops, writes, bound):
    assert memory_port_bound(small_config(lanes=lanes), sops, writes) == bound


def worst_case_model(config, latency):
    """:func:`cycle_model` of the worst case :func:`max_sample_cycles` documents: every
    presynaptic neuron spiking every timestep and its row updated, every word written."""
    layout = Layout(config)
    fan_ins = [fan_in for fan_in, _ in config.weight_shapes]
    return cycle_model(config, latency, spikes=[config.timesteps * n for n in fan_ins],
                       rows_updated=fan_ins, words_written=layout.weight_depth)


@pytest.mark.parametrize("latency", [2, 3])
@pytest.mark.parametrize("config", [
    small_config(),
    small_config(n_in=40, hidden=(24,), n_out=4, timesteps=5, lanes=16, threshold=20,
                 v_bits=16),
    small_config(n_in=9, hidden=(7, 5), n_out=4, timesteps=5, lanes=3, k_fb=2),
    "digits", "mnist",
], ids=["tiny", "wide-16-lanes", "two-hidden", "digits", "mnist"])
def test_max_sample_cycles_is_at_least_twice_the_worst_case(config, latency):
    # The docstring's bound: the worst case's total, doubled for the hand-overs between
    # phases that the model leaves out (and a little more: the inputs cleared first).
    # Written against cycle_model, so it holds whatever the phases cost.
    config = preset(config) if isinstance(config, str) else config
    total = worst_case_model(config, latency)["total"]
    bound = max_sample_cycles(config, latency)
    assert bound >= 2 * total, (bound, total)
    bits = sample_counter_bits(config, latency)["cycles"]
    assert bits == min(32, bound.bit_length())
    assert 1 << bits > 2 * total


@pytest.mark.parametrize("latency", [2, 3])
@pytest.mark.parametrize("name, bits", [
    ("digits", {"cycles": 18, "sops": 18, "writes": 14}),
    ("mnist", {"cycles": 21, "sops": 21, "writes": 17}),
])
def test_preset_counter_widths(name, bits, latency):
    """The chip's per-sample counter widths of the presets, derived by hand from the
    module docstring's cycle model as spikefab/cost.py stands on main at 438f09b (last
    changed in 64e84f7). Both presets: hidden 128, n_out 10, T = 16, 2 lanes (row by
    row, 1 pixel a cycle), words per row (64, 5), neuron words (64, 5). Should the model
    of narrow configs change, derive them again; the check that follows the formula
    whatever it becomes is test_max_sample_cycles_is_at_least_twice_the_worst_case.

    digits (n_in 64, k_fb 1), weight words 64·64 + 128·5 = 4736:
      synapse = rows 1024·64 + 2048·5 = 75776, drain 16·2·(L+2) = 128 | 160,
                scan 16·64 = 1024                    → 76928 | 76960
      neuron  = 16·((64 + 5) + (5 + 5))              = 1264
      update  = 192·4 + 4736 read + 4736 written + 192·(L+4) = 1152 | 1344,
                signals 64·1 + 5·2 + 10 = 84         → 11476 | 11668
      bound   = 2·(total + n_in + max layer words) = 2·(89668 + 64 + 64) = 179592
                | 2·(89892 + 64 + 64) = 180040: 18 bits (2^17 = 131072 ≤ it < 2^18)
      sops    = 16·(64·128 + 128·10) = 151552: 18 bits; writes 9472: 14 bits
    mnist (n_in 784, k_fb 3), weight words 784·64 + 128·5 = 50816:
      synapse = 12544·64 + 2048·5 = 813056, + 128 | 160, + 16·784 = 12544
                                                     → 825728 | 825760
      neuron  = 1264
      update  = 912·4 + 50816 + 50816 + 912·(L+4) = 5472 | 6384, + 64·3 + 10 + 10
                                                     → 110964 | 111876
      bound   = 2·(937956 + 784 + 64) = 1877608 | 2·(938900 + 784 + 64) = 1879496:
                21 bits (2^20 = 1048576 ≤ it < 2^21)
      sops    = 16·(784·128 + 1280) = 1626112: 21 bits; writes 101632: 17 bits
    Without the factor 2 the cycle counters would be a bit narrower (17 and 20)."""
    assert sample_counter_bits(preset(name), latency) == bits
